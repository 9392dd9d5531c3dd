//! A `Semaphore(3)`: five processes, at most three inside at a time.
//!
//! ```python
//! import multiprocessing, time
//!
//! def worker(s, i):
//!     s.acquire()
//!     print(multiprocessing.current_process().name + " acquire")
//!     time.sleep(i)
//!     print(multiprocessing.current_process().name + " release\n")
//!     s.release()
//!
//! if __name__ == "__main__":
//!     s = multiprocessing.Semaphore(3)
//!     for i in range(5):
//!         p = multiprocessing.Process(target=worker, args=(s, i*2))
//!         p.start()
//! ```
//!
//! Python's seconds are `SECOND` here, so the five sleeps take 0 to 400 ms.
//! Each worker also counts itself in and out of shared memory, and the
//! parent checks the claim: never more than three inside at once. It
//! checks that three were inside together, too: only worker 0 leaves at
//! once, so of any three that get in, two stay `2 * SECOND` at least, and
//! the third unit is taken long before that unless starting the workers
//! took longer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::shm::Shared;
use mproc::sync::Semaphore;

/// One of Python's seconds, scaled down: the example takes 0.4 s.
const SECOND: Duration = Duration::from_millis(50);
/// Python's `Semaphore(3)`.
const UNITS: u32 = 3;
const WORKERS: u32 = 5;
/// How long the parent waits for a worker before it gives up on it.
const PATIENCE: Duration = Duration::from_secs(10);

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let s = Shared::new(Semaphore::new(UNITS))?;
    // Workers between their acquire and their release, and the most seen.
    let inside = Shared::new(AtomicU32::new(0))?;
    let most = Shared::new(AtomicU32::new(0))?;

    let worker = |i: u32| {
        let held = s.acquire();
        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        let name = process::current_process().name;
        println!("{name} acquire ({now} inside)");
        std::thread::sleep(SECOND * i);
        println!("{name} release");
        inside.fetch_sub(1, Ordering::SeqCst);
        drop(held); // s.release()
    };
    let mut ps: Vec<_> = (0..WORKERS)
        .map(|i| Process::new(move || worker(i * 2)))
        .collect();
    // Python joins its children at exit; join every one that started, even
    // when a later start failed.
    let started = ps.iter_mut().try_for_each(Process::start);
    let joined: Vec<_> = ps.iter().filter(|p| p.pid().is_some()).map(join).collect();
    started?;
    let codes = joined.into_iter().collect::<Result<Vec<i32>, _>>()?;
    if codes.iter().any(|&code| code != 0) {
        return Err(format!("workers exited with {codes:?}").into());
    }

    let most = most.load(Ordering::SeqCst);
    println!("Semaphore({UNITS}), {WORKERS} workers: at most {most} inside at once");
    if most > UNITS {
        return Err(format!("{most} workers were inside a Semaphore({UNITS})").into());
    }
    if most < UNITS {
        return Err(format!(
            "never {UNITS} inside together (at most {most}): the semaphore \
             kept units free, or starting the workers took over {:?}",
            SECOND * 2
        )
        .into());
    }
    Ok(())
}

/// `p.join()`, killing `p` if it still runs after `PATIENCE`.
fn join<F>(p: &Process<F>) -> Result<i32, Box<dyn std::error::Error>> {
    match p.join_timeout(PATIENCE)? {
        Some(code) => Ok(code),
        None => {
            p.kill()?;
            p.join()?;
            Err(format!("{} still waits after {PATIENCE:?}", p.name()).into())
        }
    }
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
