//! A string held by a manager: three processes each append `", World!"`
//! to `"Hello"`, under the manager's lock.
//!
//! ```python
//! from ctypes import c_char_p
//! from multiprocessing import Manager, Process
//!
//! def greet(s, lock):
//!     with lock:
//!         s.value += ", World!"
//!
//! if __name__ == '__main__':
//!     with Manager() as m:
//!         s = m.Value(c_char_p, "Hello")       # the manager ignores the typecode
//!         lock = m.Lock()
//!         ps = [Process(target=greet, args=(s, lock)) for _ in range(3)]
//!         for p in ps: p.start()
//!         for p in ps: p.join()
//!         print(s.value)                       # Hello, World!, World!, World!
//! ```
//!
//! Unlike a shared-memory `Value(c_char_p, ...)`, whose pointer means
//! nothing in another process, a manager's value holds the text itself:
//! here a `FixedStr<64>`, whose type the server checks on every call.
//! `s.value += ...` is a get and a set, two requests, so it takes the lock
//! (without it two processes could read the same text and one greeting
//! would be lost).

use mproc::manager::{LockProxy, Manager, ValueProxy};
use mproc::process::{self, Process};
use mproc::shm::FixedStr;

/// The shared string: at most 64 bytes.
type Text = FixedStr<64>;

/// How many processes greet.
const PROCESSES: usize = 3;

/// `with lock: s.value += ", World!"`.
fn greet(s: &ValueProxy<Text>, lock: &LockProxy) -> mproc::Result<()> {
    let _held = lock.lock()?;
    let value = format!("{}, World!", s.get()?);
    s.set(&value.parse()?)
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let m = Manager::start()?;
    let s = m.value::<Text>(&"Hello".parse()?)?;
    let lock = m.lock()?;
    println!("s.value = {:?}", s.get()?.as_str());

    let target = || {
        if let Err(e) = greet(&s, &lock) {
            eprintln!("pid {}: {e}", process::getpid());
            process::exit(1);
        }
    };
    let mut ps: Vec<_> = (0..PROCESSES).map(|_| Process::new(target)).collect();
    // Join every child that started, even when a later start failed.
    let started = ps.iter_mut().try_for_each(Process::start);
    let joined: Vec<_> = ps
        .iter()
        .filter(|p| p.pid().is_some())
        .map(Process::join)
        .collect();
    started?;
    for code in joined {
        let code = code?;
        if code != 0 {
            return Err(format!("a child exited with {code}").into());
        }
    }

    let value = s.get()?;
    println!("{value}");
    if value != "Hello, World!, World!, World!" {
        return Err(format!("s.value is {value:?}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
