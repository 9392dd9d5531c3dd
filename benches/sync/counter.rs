//! Benchmark 1, the lock-protected counter: its runs for mproc and the bare atomic.

use super::*;

/// Forks `procs` children that each run `op` `m` times once released
/// together; returns the time from the release to the last one done.
pub(super) fn counter_run(procs: usize, m: u32, op: impl Fn()) -> Result<Released> {
    let child = |lane: Lane<'_>| {
        lane.run(|| {
            for _ in 0..m {
                op();
            }
            Ok(())
        })
    };
    run_released("sync", procs, PATIENCE, child, || {})
}

/// `procs` processes, `m` locked increments each, of a fresh `Value<u64>`;
/// checks the final count.
pub(super) fn mproc_counter(procs: usize, m: u32) -> Result<Released> {
    let v = Value::new(0u64)?;
    let run = counter_run(procs, m, || {
        let mut g = v.lock().unwrap_or_else(|d| d.into_guard());
        *g += 1;
    })?;
    check_count("mproc Value<u64>", v.get(), procs, m)?;
    Ok(run)
}

/// `procs` processes, `m` bare `fetch_add`s each, of a fresh shared atomic;
/// checks the final count.
pub(super) fn atomic_counter(procs: usize, m: u32) -> Result<Released> {
    let a = Shared::new(AtomicU64::new(0))?;
    let run = counter_run(procs, m, || {
        a.fetch_add(1, Ordering::Relaxed);
    })?;
    check_count("Shared<AtomicU64>", a.load(Ordering::Relaxed), procs, m)?;
    Ok(run)
}

pub(super) fn check_count(who: &str, got: u64, procs: usize, m: u32) -> Result<()> {
    let want = procs as u64 * u64::from(m);
    if got != want {
        return Err(format!("{who}: final count {got}, expected {want} ({procs} × {m})").into());
    }
    Ok(())
}

/// Per-round ns/increment of the 2-process counter.
#[derive(Default)]
pub(super) struct CounterSamples {
    pub(super) atomic: Vec<f64>,
    pub(super) mproc: Vec<f64>,
    pub(super) python: Vec<f64>,
}

pub(super) fn bench_counter(plan: &Plan, python: &mut Option<Peer>) -> Result<CounterSamples> {
    let mut s = CounterSamples::default();
    rounds(plan.rounds, |warm| {
        let (m, py_m) = (size(warm, plan.count), size(warm, plan.py_count));
        let ops = 2.0 * f64::from(m);
        let atomic = atomic_counter(2, m)?;
        let ours = mproc_counter(2, m)?;
        let py = python_counter(python, 2, py_m)?;
        if !warm {
            s.atomic.push(ns_per_op(atomic.elapsed, ops));
            s.mproc.push(ns_per_op(ours.elapsed, ops));
            s.python.extend(py);
        }
        Ok(())
    })?;
    Ok(s)
}

/// The Python counter: ns per increment, or nothing without a (working)
/// peer. A wrong final count fails the bench.
pub(super) fn python_counter(
    python: &mut Option<Peer>,
    procs: usize,
    m: u32,
) -> Result<Option<f64>> {
    let Some([ns, count]) = ask_numbers::<u64, 2>(python, &format!("counter {procs} {m}")) else {
        return Ok(None);
    };
    check_count("Python multiprocessing.Value('Q')", count, procs, m)?;
    Ok(Some(ns as f64 / (procs as f64 * f64::from(m))))
}
