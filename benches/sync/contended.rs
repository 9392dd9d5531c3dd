//! Benchmark 2, the contended lock with 8 processes against 2, unpinned, with where the time went.

use super::*;

/// Per-round results of the contended counter.
#[derive(Default)]
pub(super) struct ContendedSamples {
    /// ns/increment with 2 and with `MANY` processes.
    pub(super) two: Vec<f64>,
    pub(super) many: Vec<f64>,
    /// Python's, with 2 processes.
    pub(super) python: Vec<f64>,
    /// The children's usage, per increment / per wall time.
    pub(super) two_use: Vec<UsageRates>,
    pub(super) many_use: Vec<UsageRates>,
}

/// A run's [`Usage`] as rates.
#[derive(Clone, Copy)]
pub(super) struct UsageRates {
    /// CPU ns per increment (all children).
    pub(super) cpu_per_op: f64,
    /// CPU time / wall time: how many CPUs were kept busy.
    pub(super) busy: f64,
    /// Voluntary / involuntary context switches in the run.
    pub(super) vcsw: f64,
    pub(super) ivcsw: f64,
}

impl UsageRates {
    pub(super) fn of(run: &Released, ops: f64) -> UsageRates {
        let u = run.usage;
        let wall = run.elapsed.as_secs_f64() * 1e9;
        UsageRates {
            cpu_per_op: u.cpu_ns as f64 / ops,
            busy: u.cpu_ns as f64 / wall,
            vcsw: u.parks as f64,
            ivcsw: u.preempted as f64,
        }
    }
}

pub(super) fn bench_contended(plan: &Plan, python: &mut Option<Peer>) -> Result<ContendedSamples> {
    let mut s = ContendedSamples::default();
    rounds(plan.rounds, |warm| {
        let total = size(warm, plan.contended);
        let (m2, m8) = (total / 2, total / MANY as u32);
        let two = mproc_counter(2, m2)?;
        let many = mproc_counter(MANY, m8)?;
        let py = python_counter(python, 2, size(warm, plan.py_count))?;
        if !warm {
            s.python.extend(py);
            let (ops2, ops8) = (2.0 * f64::from(m2), MANY as f64 * f64::from(m8));
            s.two.push(ns_per_op(two.elapsed, ops2));
            s.many.push(ns_per_op(many.elapsed, ops8));
            s.two_use.push(UsageRates::of(&two, ops2));
            s.many_use.push(UsageRates::of(&many, ops8));
        }
        Ok(())
    })?;
    Ok(s)
}
