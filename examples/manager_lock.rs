//! A manager's dict and lock: a hundred processes each take one from
//! `d['count']`, under the manager's lock, and nothing is lost.
//!
//! ```python
//! from multiprocessing import Manager, Process
//!
//! def work(d, lock):
//!     with lock:
//!         d['count'] -= 1
//!
//! if __name__ == '__main__':
//!     with Manager() as m:
//!         d = m.dict({'count': 100})
//!         lock = m.Lock()
//!         ps = [Process(target=work, args=(d, lock)) for _ in range(100)]
//!         for p in ps: p.start()
//!         for p in ps: p.join()
//!         print(d['count'])                    # 0
//! ```
//!
//! `d['count'] -= 1` on a proxy is two requests, a get and a set; without
//! the lock two processes could read the same count and one decrement
//! would be lost. The dict is typed: `FixedStr<16>` keys, `i64` values,
//! at most 4 entries (a manager's objects have a fixed capacity). Each
//! child uses the proxies it inherited, which open its own connection to
//! the server on their first call, as Python's proxies reconnect after a
//! fork.

use mproc::manager::{DictProxy, LockProxy, Manager};
use mproc::process::{self, Process};
use mproc::shm::FixedStr;

/// Processes, and the count they start from.
const PROCESSES: i64 = 100;

/// `with lock: d['count'] -= 1`.
fn work(d: &DictProxy<FixedStr<16>, i64>, lock: &LockProxy) -> mproc::Result<()> {
    let key = FixedStr::try_from("count")?;
    let _held = lock.lock()?; // released when dropped, at the end of `work`
    let count = d.get(&key)?.unwrap_or(0);
    d.set(&key, &(count - 1))
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let m = Manager::start()?;
    let d = m.dict::<FixedStr<16>, i64>(4)?;
    let key = FixedStr::try_from("count")?;
    d.set(&key, &PROCESSES)?;
    let lock = m.lock()?;
    println!("d = {{'count': {}}}", d.get(&key)?.unwrap_or(0));

    let target = || {
        if let Err(e) = work(&d, &lock) {
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

    let count = d.get(&key)?.unwrap_or(i64::MIN);
    println!("{PROCESSES} processes each did `with lock: d['count'] -= 1`");
    println!("{count}");
    if count != 0 {
        return Err(format!("d['count'] is {count}, not 0: decrements were lost").into());
    }
    Ok(()) // leaving the scope shuts the manager down, as `with Manager()` does
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
