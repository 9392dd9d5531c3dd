//! `JoinableQueue` with daemon consumers: the main process puts the tasks
//! and `join()`s the queue, which returns once every task was marked
//! `task_done()`; the consumers never end on their own.
//!
//! ```python
//! from multiprocessing import JoinableQueue, Process, Value
//!
//! def worker(q, total):
//!     while True:
//!         n = q.get()
//!         with total.get_lock():
//!             total.value += n * n
//!         q.task_done()
//!
//! if __name__ == "__main__":
//!     q, total = JoinableQueue(8), Value("Q", 0)
//!     for _ in range(2):
//!         Process(target=worker, args=(q, total), daemon=True).start()
//!     for n in range(1, 21):
//!         q.put(n)
//!     q.join()                        # every task done
//!     print("sum of squares:", total.value)
//!     # at exit, Python terminates the daemon workers
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use mproc::ipc::JoinableQueue;
use mproc::process::Process;
use mproc::shm::Shared;

const TASKS: u64 = 20;

/// Two daemon workers square the tasks; `join` waits for the last one.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let q = JoinableQueue::<u64, 8>::new()?;
    let total = Shared::new(AtomicU64::new(0))?;
    let (q_ref, total_ref) = (&*q, &*total);
    let mut workers: Vec<_> = (0..2)
        .map(|_| {
            Process::new(move || {
                while let Ok(n) = q_ref.get() {
                    total_ref.fetch_add(n * n, Ordering::Relaxed);
                    if q_ref.task_done().is_err() {
                        std::process::exit(1);
                    }
                }
            })
            .daemon(true)
        })
        .collect();
    for w in &mut workers {
        w.start()?;
    }
    for n in 1..=TASKS {
        q.put(n)?;
    }
    q.join();
    let sum = total.load(Ordering::Relaxed);
    println!("all {TASKS} tasks done; sum of squares: {sum}");
    // What Python does to daemon children at exit (here they would also
    // die with this process).
    for w in &mut workers {
        w.terminate()?;
        w.join()?;
    }
    if sum != TASKS * (TASKS + 1) * (2 * TASKS + 1) / 6 || q.unfinished() != 0 {
        return Err(format!("sum {sum}, {} tasks unfinished", q.unfinished()).into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
