//! A shared counter: ten processes each add one, fifty times, under a lock.
//!
//! ```python
//! from multiprocessing import Process, Value, Lock
//!
//! class Counter:
//!     def __init__(self, initval=0):
//!         self.val = Value('i', initval)
//!         self.lock = Lock()
//!     def increment(self):
//!         with self.lock:
//!             self.val.value += 1
//!     def value(self):
//!         with self.lock:
//!             return self.val.value
//!
//! def func(counter):
//!     for i in range(50):
//!         time.sleep(0.001)
//!         counter.increment()
//!
//! counter = Counter(0)
//! procs = [Process(target=func, args=(counter,)) for i in range(10)]
//! for p in procs: p.start()
//! for p in procs: p.join()
//! print(counter.value())                   # 500
//! ```
//!
//! A `Value` carries its own lock (Python's default `lock=True`), so the
//! counter needs no second one: `value.lock()` is `with val.get_lock():`,
//! and its guard is the value for a read-modify-write.

use std::time::Duration;

use mproc::process::Process;
use mproc::shm::Value;

struct Counter {
    val: Value<i32>,
}

impl Counter {
    fn new(initval: i32) -> mproc::Result<Counter> {
        Ok(Counter {
            val: Value::new(initval)?,
        })
    }

    fn increment(&self) {
        let mut val = self.val.lock().unwrap_or_else(|died| died.into_guard());
        *val += 1;
    }

    fn value(&self) -> i32 {
        self.val.get()
    }
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let counter = Counter::new(0)?;
    let func = || {
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(1));
            counter.increment();
        }
    };
    let mut procs: Vec<_> = (0..10).map(|_| Process::new(func)).collect();
    // Join every child that started, even when a later start failed.
    let started = procs.iter_mut().try_for_each(Process::start);
    let joined: Vec<_> = procs
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

    let total = counter.value();
    println!("10 processes x 50 increments: counter.value() = {total}");
    if total != 500 {
        return Err(format!("counter is {total}, not 500: updates were lost").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
