//! `Pool.map` against a plain loop: the same CPU-bound function over the
//! same inputs, sequentially and with `cpu_count()` workers, both timed.
//!
//! ```python
//! import time
//! from multiprocessing import Pool, cpu_count
//!
//! def count_primes(block):            # primes in [block * 12500, (block + 1) * 12500)
//!     lo, hi = block * 12500, (block + 1) * 12500
//!     return sum(1 for n in range(lo, hi) if is_prime(n))
//!
//! if __name__ == "__main__":
//!     blocks = range(80)
//!     start = time.time()
//!     sequential = [count_primes(b) for b in blocks]
//!     print("sequential: %.3f s" % (time.time() - start))
//!     with Pool(cpu_count()) as pool:
//!         start = time.time()
//!         parallel = pool.map(count_primes, blocks)
//!         print("Pool(%d).map: %.3f s" % (cpu_count(), time.time() - start))
//!     assert parallel == sequential
//!     print("primes below 1,000,000:", sum(parallel))
//! ```
//!
//! The same shape. `map` cuts the inputs into chunks as Python does
//! (about four per worker) and copies each chunk's items and results
//! through a task slot. The times are printed, not checked: how much the
//! pool gains depends on the machine's free CPUs (on one CPU it loses a
//! little to the hand-offs). The results are checked: both ways agree,
//! and they add up to π(1,000,000) = 78,498.

use std::time::Instant;

use mproc::pool::Pool;
use mproc::process;

const BLOCK: u32 = 12_500;
const BLOCKS: u32 = 80;
/// The number of primes below `BLOCK * BLOCKS` = 1,000,000.
const PRIMES_BELOW_1M: u32 = 78_498;

fn is_prime(n: u32) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// The task: the number of primes in block `b`, by trial division.
fn count_primes(b: u32) -> u32 {
    (b * BLOCK..(b + 1) * BLOCK)
        .filter(|&n| is_prime(n))
        .count() as u32
}

/// Counts the primes below 1,000,000 block by block, in a loop and with
/// `Pool(cpu_count()).map`.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let sequential: Vec<u32> = (0..BLOCKS).map(count_primes).collect();
    println!("sequential: {:.3?}", start.elapsed());

    let cpus = process::cpu_count()?;
    let pool = Pool::new(cpus)?;
    let start = Instant::now();
    let parallel = pool.map(count_primes, 0..BLOCKS, None)?;
    println!("Pool({cpus}).map: {:.3?}", start.elapsed());

    if parallel != sequential {
        return Err(format!("map gave {parallel:?}, the loop {sequential:?}").into());
    }
    let total: u32 = parallel.iter().sum();
    println!("primes below 1,000,000: {total}");
    if total != PRIMES_BELOW_1M {
        return Err(format!("{total} primes, expected {PRIMES_BELOW_1M}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
