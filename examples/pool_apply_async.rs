//! `Pool.apply_async`: ten tasks queued at once, then `close()` and
//! `join()`, then each result fetched with `get()`.
//!
//! ```python
//! import os
//! from multiprocessing import Pool
//!
//! def square(n):
//!     return n * n, os.getpid()
//!
//! if __name__ == "__main__":
//!     pool = Pool(3)
//!     results = [pool.apply_async(square, (i,)) for i in range(10)]  # returns at once
//!     pool.close()        # no more tasks
//!     pool.join()         # wait for the workers to finish them and exit
//!     for i, r in enumerate(results):
//!         result, pid = r.get()
//!         print("%d * %d = %d, computed by worker %d" % (i, i, result, pid))
//! ```
//!
//! The same shape. Each `AsyncResult` borrows the pool and owns one of
//! its task slots until `get` takes the result out (64 slots by default,
//! `MPROC_POOL_SLOTS`); results outlive `join`, as in Python.

use std::collections::BTreeSet;

use mproc::pool::Pool;
use mproc::process;

/// The task: `n * n`, and the pid of the process that computed it.
fn square(n: u64) -> (u64, i32) {
    (n * n, process::getpid().as_raw())
}

/// Ten `apply_async` calls on `Pool(3)`, `close`, `join`, then `get`.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(3)?;
    let workers: BTreeSet<i32> = pool.pids().iter().map(|p| p.as_raw()).collect();
    let results = (0..10u64)
        .map(|i| pool.apply_async(square, i))
        .collect::<Result<Vec<_>, _>>()?;
    println!("queued {} tasks", pool.outstanding());
    pool.close();
    pool.join()?;
    println!("closed and joined; now get() each result");
    let mut seen = BTreeSet::new();
    for (i, r) in (0u64..).zip(results) {
        let (result, pid) = r.get()?;
        println!("{i} * {i} = {result}, computed by worker {pid}");
        if result != i * i {
            return Err(format!("square({i}) gave {result}").into());
        }
        seen.insert(pid);
    }
    if !seen.is_subset(&workers) {
        return Err(format!("results came from {seen:?}, the pool is {workers:?}").into());
    }
    if pool.outstanding() != 0 {
        return Err(format!("{} slots still taken", pool.outstanding()).into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
