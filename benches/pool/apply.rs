//! `Pool.apply` round trips, against a raw shared-memory spin round trip and Python's `Pool.apply`.

use super::*;

/// Per-round ns per round trip.
#[derive(Default)]
pub(super) struct ApplySamples {
    pub(super) spin: Vec<f64>,
    pub(super) mproc: Vec<f64>,
    pub(super) python: Vec<f64>,
}

pub(super) fn bench_apply(
    plan: &Plan,
    pool: &DefaultPool,
    python: &mut Option<Peer>,
) -> Result<ApplySamples> {
    let mut s = ApplySamples::default();
    rounds(plan.rounds, |warm| {
        let (n, py_n) = (size(warm, plan.apply), size(warm, plan.py_apply));
        let spin = guarded("raw spin round trips", PATIENCE, || spin_round_trips(n))?;
        let ours = guarded("mproc apply", PATIENCE, || mproc_apply(pool, n))?;
        let py = guarded("Python apply", PATIENCE, || {
            python_run(python, "apply", WORKERS, py_n)
        })?;
        if !warm {
            s.spin.push(ns_per_op(spin, n));
            s.mproc.push(ns_per_op(ours, n));
            s.python.extend(py.map(|d| ns_per_op(d, py_n)));
        }
        Ok(())
    })?;
    Ok(s)
}

/// `n` round trips of `pool.apply(inc, i)`.
pub(super) fn mproc_apply(pool: &DefaultPool, n: u32) -> Result<Duration> {
    let (mut count, mut sum) = (0u64, 0u64);
    let start = Instant::now();
    for i in 0..u64::from(n) {
        sum += pool.apply(inc, i)?;
        count += 1;
    }
    let elapsed = start.elapsed();
    check_results("mproc apply", count, sum, n)?;
    Ok(elapsed)
}

/// The echo child's signal to end.
pub(super) const STOP: u64 = u64::MAX;

/// `n` raw round trips: this process stores sequence number `k` in `ping`
/// and spins until `pong` holds `k`; a child forked for the run spins
/// until `ping` changes and stores what it read in `pong`. Two
/// [`Shared<AtomicU64>`]s: two `MAP_SHARED` anonymous mappings, so the two
/// words never share a cache line. One untimed round trip first.
pub(super) fn spin_round_trips(n: u32) -> Result<Duration> {
    let ping = Shared::new(AtomicU64::new(0))?;
    let pong = Shared::new(AtomicU64::new(0))?;
    let (ping_ref, pong_ref) = (&ping, &pong);
    let mut echo = Process::new(move || {
        let mut last = 0;
        loop {
            // SYNC POINT: Acquire pairs with the bench's Release store.
            let mut seen = ping_ref.load(Ordering::Acquire);
            while seen == last {
                std::hint::spin_loop();
                seen = ping_ref.load(Ordering::Acquire);
            }
            if seen == STOP {
                return;
            }
            // SYNC POINT: Release pairs with the bench's Acquire load.
            pong_ref.store(seen, Ordering::Release);
            last = seen;
        }
    })
    .daemon(true);
    echo.start()?;
    let trip = |k: u64| {
        ping.store(k, Ordering::Release);
        while pong.load(Ordering::Acquire) != k {
            std::hint::spin_loop();
        }
    };
    trip(1);
    let start = Instant::now();
    for k in 2..=u64::from(n) + 1 {
        trip(k);
    }
    let elapsed = start.elapsed();
    ping.store(STOP, Ordering::Release);
    match echo.join_timeout(PATIENCE) {
        Ok(Some(0)) => Ok(elapsed),
        Ok(Some(code)) => Err(format!("the spin echo child exited with {code}").into()),
        Ok(None) => {
            let _ = echo.kill();
            let _ = echo.join();
            Err(format!("the spin echo child did not stop within {PATIENCE:?}").into())
        }
        Err(e) => Err(e.into()),
    }
}
