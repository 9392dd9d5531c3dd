//! `Pool.apply`: ten squares computed one at a time by a pool of three
//! workers; every result names the worker that computed it, and only the
//! pool's three pids ever appear.
//!
//! ```python
//! import os
//! from multiprocessing import Pool
//!
//! def square(n):
//!     return n * n, os.getpid()
//!
//! if __name__ == "__main__":
//!     pool = Pool(3)      # creates three processes and uses those three from start to end
//!     for i in range(10):
//!         result, pid = pool.apply(square, (i,))   # blocks until the result is back
//!         print("%d * %d = %d, computed by worker %d" % (i, i, result, pid))
//!     pool.close()
//!     pool.join()
//! ```
//!
//! The same shape: `square` is a plain `fn`, and its argument and its
//! `(result, pid)` tuple are copied by their bytes into a task slot in
//! shared memory instead of being pickled. The workers are forked by
//! `Pool::new` and never replaced while they live, which the run checks
//! against `pool.pids()`.

use std::collections::BTreeSet;

use mproc::pool::Pool;
use mproc::process;

/// The task: `n * n`, and the pid of the process that computed it.
fn square(n: u64) -> (u64, i32) {
    (n * n, process::getpid().as_raw())
}

/// `Pool(3)`, ten `apply` calls, then `close` and `join`.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(3)?;
    let workers: BTreeSet<i32> = pool.pids().iter().map(|p| p.as_raw()).collect();
    println!("Pool(3) forked workers {workers:?}");
    let mut seen = BTreeSet::new();
    for i in 0..10 {
        let (result, pid) = pool.apply(square, i)?;
        println!("{i} * {i} = {result}, computed by worker {pid}");
        if result != i * i {
            return Err(format!("square({i}) gave {result}").into());
        }
        seen.insert(pid);
    }
    pool.close();
    pool.join()?;
    println!("pids that computed: {seen:?}");
    if !seen.is_subset(&workers) || workers.len() != 3 {
        return Err(format!("results came from {seen:?}, the pool is {workers:?}").into());
    }
    if seen.contains(&process::getpid().as_raw()) {
        return Err("a task ran in the parent".into());
    }
    println!("only the pool's 3 workers ran tasks, from start to end");
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
