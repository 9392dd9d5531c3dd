//! `apply_async` throughput against Python's.

use super::*;

pub(super) fn bench_tasks(
    plan: &Plan,
    pool: &DefaultPool,
    python: &mut Option<Peer>,
) -> Result<Pair> {
    let mut s = Pair::default();
    rounds(plan.rounds, |warm| {
        let n = size(warm, plan.tasks);
        let ours = guarded("mproc apply_async", PATIENCE, || mproc_tasks(pool, n))?;
        let py = guarded("Python apply_async", PATIENCE, || {
            python_run(python, "async", WORKERS, n)
        })?;
        if !warm {
            s.mproc.push(ns_per_op(ours, n));
            s.python.extend(py.map(|d| ns_per_op(d, n)));
        }
        Ok(())
    })?;
    Ok(s)
}

/// `n` tasks `inc(i)` through `apply_async`, at most [`WINDOW`]
/// outstanding: once the window is full, the oldest result is taken
/// before the next submission.
pub(super) fn mproc_tasks(pool: &DefaultPool, n: u32) -> Result<Duration> {
    let mut window: VecDeque<Pending<'_>> = VecDeque::with_capacity(WINDOW);
    let (mut count, mut sum) = (0u64, 0u64);
    let start = Instant::now();
    for i in 0..u64::from(n) {
        if window.len() == WINDOW
            && let Some(r) = window.pop_front()
        {
            sum += r.get()?;
            count += 1;
        }
        window.push_back(pool.apply_async(inc, i)?);
    }
    while let Some(r) = window.pop_front() {
        sum += r.get()?;
        count += 1;
    }
    let elapsed = start.elapsed();
    check_results("mproc apply_async", count, sum, n)?;
    Ok(elapsed)
}
