//! `apply_async` with `callback` and `error_callback`: each result is
//! printed as it arrives, and the one task that fails reaches the error
//! callback with its message.
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def square(n):
//!     if n == 7:
//!         raise ValueError("unlucky %d" % n)
//!     return n * n
//!
//! def print_result(result):
//!     print("result:", result)
//!
//! def print_error(e):
//!     print("error:", e)
//!
//! if __name__ == "__main__":
//!     pool = Pool(3)
//!     for i in range(10):
//!         pool.apply_async(square, (i,), callback=print_result, error_callback=print_error)
//!     pool.close()
//!     pool.join()
//! ```
//!
//! What differs, and why:
//!
//! - **When callbacks run.** Python runs them on the pool's result-handler
//!   thread, whenever results arrive. This pool has no thread: callbacks
//!   run in the parent, on its own stack, while the parent is inside a
//!   pool call (`join`, `AsyncResult::get`/`wait`, a `map`, a submission,
//!   or `Pool::poll`), never in a worker and never inside a signal
//!   handler. Here they all run during `join()`; a daemon calls
//!   `Pool::poll` when `Pool::sentinel` becomes readable in its `wait()`.
//! - **The failure** is a panic in the task (Rust's exception): the task
//!   fails with its message, the worker lives on. The initializer turns
//!   off the workers' panic printing, since the message reaches
//!   `error_callback` anyway.
//! - **Callbacks are closures** that may capture up to four words (checked
//!   at compile time); larger state is shared through an `Rc`, here one
//!   `Rc<RefCell<Vec<_>>>` that collects what each callback saw, so the
//!   run can check that exactly one callback ran, once, per task.

use std::cell::RefCell;
use std::rc::Rc;

use mproc::ErrorKind;
use mproc::pool::Pool;
use mproc::process;

const UNLUCKY: u64 = 7;

/// The task: `n * n`, except that 7 fails.
fn square(n: u64) -> u64 {
    assert!(n != UNLUCKY, "unlucky {n}");
    n * n
}

/// Run once in each worker before its first task (Python's initializer).
fn quiet_panics(_: ()) {
    std::panic::set_hook(Box::new(|_| {}));
}

/// What each callback saw: the task's input, its result or its error, and
/// the pid of the process the callback ran in.
type Log = Rc<RefCell<Vec<(u64, Result<u64, String>, i32)>>>;

/// Ten tasks with callbacks on `Pool(3)`; the callbacks run during `join`.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .processes(3)
        .initializer(quiet_panics, ())
        .build()?;
    let log: Log = Rc::default();
    for i in 0..10u64 {
        let (ok, err) = (Rc::clone(&log), Rc::clone(&log));
        let print_result = move |result: &u64| {
            println!("result: {result}");
            let pid = process::getpid().as_raw();
            ok.borrow_mut().push((i, Ok(*result), pid));
        };
        let print_error = move |e: &mproc::pool::TaskError| {
            println!("error: {e}");
            let message = match e.kind() {
                ErrorKind::Panicked => e.message().to_owned(),
                other => format!("{other:?}"),
            };
            let pid = process::getpid().as_raw();
            err.borrow_mut().push((i, Err(message), pid));
        };
        // The handle is dropped at once; the pool keeps the callbacks.
        pool.apply_async_with(square, i, print_result, print_error)?;
    }
    let before_join = log.borrow().len();
    pool.close();
    pool.join()?;
    println!(
        "{} callbacks ran during join ({before_join} before it)",
        log.borrow().len()
    );
    let mut log = log.take();
    log.sort_by_key(|(i, _, _)| *i);
    let parent = process::getpid().as_raw();
    let expected: Vec<_> = (0..10u64)
        .map(|i| match i {
            UNLUCKY => (i, Err(format!("unlucky {i}")), parent),
            _ => (i, Ok(i * i), parent),
        })
        .collect();
    if log != expected {
        return Err(format!("callbacks saw {log:?}").into());
    }
    println!("each task's callback ran exactly once: 9 results, 1 error");
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
