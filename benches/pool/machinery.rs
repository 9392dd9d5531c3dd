//! The machinery: rates, result checks, and a pair of samples (mproc and Python).

use super::*;

pub(super) fn per_second(elapsed: Duration, ops: u32) -> f64 {
    f64::from(ops) / elapsed.as_secs_f64()
}

/// Checks a run's results: `count` of them summing to `1 + 2 + … + n`
/// (the results of `inc` on `0..n`).
pub(super) fn check_results(who: &str, count: u64, sum: u64, n: u32) -> Result<()> {
    let n = u64::from(n);
    let want = n * (n + 1) / 2;
    if count != n || sum != want {
        return Err(format!(
            "{who}: {count} results summing to {sum}, expected {n} summing to {want}"
        )
        .into());
    }
    Ok(())
}

/// Per-round ns/task of an mproc contender and Python's.
#[derive(Default)]
pub(super) struct Pair {
    pub(super) mproc: Vec<f64>,
    pub(super) python: Vec<f64>,
}
