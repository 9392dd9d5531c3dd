//! `apply_async` with a `callback` and no `error_callback`: each success
//! reaches the callback; the one failure reaches no callback and is
//! raised by its `AsyncResult.get()`.
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def square(n):
//!     if n == 7:
//!         raise ValueError("unlucky %d" % n)
//!     return n * n
//!
//! results = []
//!
//! if __name__ == "__main__":
//!     pool = Pool(3)
//!     handles = [pool.apply_async(square, (i,), callback=results.append)
//!                for i in range(10)]
//!     pool.close()
//!     pool.join()
//!     print(sorted(results))       # the nine squares, 7 * 7 missing
//!     print([h.successful() for h in handles])
//!     try:
//!         handles[7].get()
//!     except ValueError as e:
//!         print("task 7:", e)
//! ```
//!
//! As in Python, a failure without an `error_callback` is not printed and
//! not lost: it stays with the task's [`AsyncResult`](mproc::pool::AsyncResult).
//! The callback runs in the parent while it is inside a pool call (here,
//! `join`); see the `pool_callbacks` example for both callbacks.

use std::cell::RefCell;
use std::rc::Rc;

use mproc::ErrorKind;
use mproc::pool::Pool;

/// The task: `n * n`, except that 7 fails.
fn square(n: u64) -> u64 {
    assert!(n != 7, "unlucky {n}");
    n * n
}

/// Run once in each worker before its first task: the failure's message
/// reaches `get`, so the workers need not print it.
fn quiet_panics(_: ()) {
    std::panic::set_hook(Box::new(|_| {}));
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .processes(3)
        .initializer(quiet_panics, ())
        .build()?;
    let results = Rc::new(RefCell::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..10u64 {
        let results = Rc::clone(&results);
        let append = move |r: &u64| results.borrow_mut().push(*r);
        handles.push(pool.apply_async_callback(square, i, append)?);
    }
    pool.close();
    pool.join()?;
    let mut results = results.take();
    results.sort();
    println!("{results:?}");
    let ok: Vec<_> = handles.iter().map(|h| h.successful()).collect();
    println!("{ok:?}");
    let want: Vec<u64> = (0..10).filter(|&n| n != 7).map(|n| n * n).collect();
    if results != want {
        return Err(format!("the callback saw {results:?}").into());
    }
    for (i, h) in handles.into_iter().enumerate() {
        match (i, h.get()) {
            (7, Err(e)) if e.kind() == ErrorKind::Panicked => println!("task 7: {}", e.message()),
            (7, other) => return Err(format!("task 7 gave {other:?}").into()),
            (_, Ok(_)) => {}
            (_, Err(e)) => return Err(format!("task {i} failed: {e}").into()),
        }
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
