//! More workers than CPUs: throughput and the scheduler's switches.

use super::*;

/// Per-round tasks/s.
#[derive(Default)]
pub(super) struct OverSamples {
    pub(super) two: Vec<f64>,
    pub(super) many: Vec<f64>,
    pub(super) py_two: Vec<f64>,
    pub(super) py_many: Vec<f64>,
    /// Where mproc's time went, per run (2 and [`MANY`] workers).
    pub(super) two_sched: Vec<SchedRates>,
    pub(super) many_sched: Vec<SchedRates>,
}

/// The [`Usage`] of the bench (first) and of the pool's workers, in
/// [`Pool::pids`] order; `None` when `/proc` does not tell (the
/// diagnostics then read n/a).
pub(super) fn pool_usage(pool: &DefaultPool) -> Option<Vec<Usage>> {
    let me = mproc::process::getpid().as_raw();
    std::iter::once(me)
        .chain(pool.pids().iter().map(|p| p.as_raw()))
        .map(Usage::of_pid)
        .collect()
}

/// One run's [`Usage`] differences as rates.
#[derive(Clone, Copy)]
pub(super) struct SchedRates {
    /// CPU time of the bench (the submitting parent) / wall time.
    pub(super) parent_busy: f64,
    /// CPU time of all the workers / wall time.
    pub(super) workers_busy: f64,
    /// CPU ns of all the processes per task.
    pub(super) cpu_per_task: f64,
    /// The parent's involuntary switches (preempted) per 1000 tasks.
    pub(super) parent_preempted: f64,
    /// The workers' voluntary switches (parked) per 1000 tasks.
    pub(super) workers_parked: f64,
}

impl SchedRates {
    pub(super) fn of(
        before: &[Usage],
        after: &[Usage],
        elapsed: Duration,
        tasks: u32,
    ) -> Option<SchedRates> {
        if before.len() != after.len() || before.is_empty() {
            return None;
        }
        let d: Vec<Usage> = before.iter().zip(after).map(|(b, a)| a.since(*b)).collect();
        let wall = elapsed.as_secs_f64() * 1e9;
        let per_k = f64::from(tasks) / 1000.0;
        let workers_ns: u64 = d[1..].iter().map(|s| s.cpu_ns).sum();
        Some(SchedRates {
            parent_busy: d[0].cpu_ns as f64 / wall,
            workers_busy: workers_ns as f64 / wall,
            cpu_per_task: (d[0].cpu_ns + workers_ns) as f64 / f64::from(tasks),
            parent_preempted: d[0].preempted as f64 / per_k,
            workers_parked: d[1..].iter().map(|s| s.parks).sum::<u64>() as f64 / per_k,
        })
    }
}

pub(super) fn bench_over(
    plan: &Plan,
    two: &DefaultPool,
    many: &DefaultPool,
    python: &mut Option<Peer>,
) -> Result<OverSamples> {
    let mut s = OverSamples::default();
    rounds_indexed(plan.rounds, |warm, i| {
        let (n, py_n) = (size(warm, plan.over), size(warm, plan.py_over));
        // Swapped every round, so neither size always runs first.
        let order = if i % 2 == 0 {
            [(WORKERS, two), (MANY, many)]
        } else {
            [(MANY, many), (WORKERS, two)]
        };
        let mut ours = [Duration::ZERO; 2];
        let mut sched = [None; 2];
        let mut py = [None; 2];
        for (k, pool) in order {
            let at = usize::from(k == MANY);
            // Read before and after the timed run, outside it.
            let before = pool_usage(pool);
            ours[at] = guarded("mproc apply_async, oversubscription", PATIENCE, || {
                mproc_tasks(pool, n)
            })?;
            let after = pool_usage(pool);
            sched[at] = before
                .zip(after)
                .and_then(|(b, a)| SchedRates::of(&b, &a, ours[at], n));
        }
        for (k, _) in order {
            let at = usize::from(k == MANY);
            py[at] = guarded("Python apply_async, oversubscription", PATIENCE, || {
                python_run(python, "async", k, py_n)
            })?;
        }
        if !warm {
            s.two.push(per_second(ours[0], n));
            s.many.push(per_second(ours[1], n));
            s.two_sched.extend(sched[0]);
            s.many_sched.extend(sched[1]);
            // Paired: only rounds where both Python runs answered.
            if let [Some(a), Some(b)] = py {
                s.py_two.push(per_second(a, py_n));
                s.py_many.push(per_second(b, py_n));
            }
        }
        Ok(())
    })?;
    Ok(s)
}
