//! A waiter of a `Condition` killed while parked: how long a live waiter notified after it takes to return, and whether it is woken at all.

use super::*;

/// One dead-waiter variant's runs.
pub(super) struct DeadWaiter {
    pub(super) reap: Reap,
    /// ns from `notify` to B's return, runs where B was notified.
    pub(super) latency: Vec<f64>,
    /// Runs kept (not dropped as late).
    pub(super) runs: usize,
    /// Kept runs where B was not woken within 100 ms.
    pub(super) missed: usize,
    /// Runs dropped: the notification came too late after B's wait began.
    pub(super) late: usize,
    /// Runs where A and B were not both seen asleep before the kill.
    pub(super) not_asleep: usize,
}

pub(super) fn bench_condition(plan: &Plan, pipe: &Pipe) -> Result<Vec<DeadWaiter>> {
    let mut out: Vec<DeadWaiter> = [Reap::AtOnce, Reap::Zombie]
        .into_iter()
        .map(|reap| DeadWaiter {
            reap,
            latency: Vec::new(),
            runs: 0,
            missed: 0,
            late: 0,
            not_asleep: 0,
        })
        .collect();
    for _ in 0..plan.cond_runs {
        for d in &mut out {
            dead_waiter_once(pipe, d)?;
        }
    }
    Ok(out)
}

/// Takes a condition's lock, a dead holder or not.
pub(super) fn cond_lock(c: &Condition) -> mproc::sync::ConditionGuard<'_> {
    c.acquire().unwrap_or_else(|died| died.into_guard())
}

/// One run: A waits, B waits, A is killed, `notify(1)`.
pub(super) fn dead_waiter_once(pipe: &Pipe, into: &mut DeadWaiter) -> Result<()> {
    let cond = Shared::new(Condition::new())?;
    // B's stamps: wait begun, wait returned; then 1 + whether notified.
    let board: Shared<[AtomicU64; 3]> = Shared::zeroed()?;
    let (c, b) = (&*cond, &*board);
    let victim = Kid::start(move || {
        let g = cond_lock(c);
        pipe.signal();
        let _ = g.wait();
    })?;
    pipe.wait("waiter A")?;
    // The lock is free again once A waits: A has its ticket.
    drop(cond_lock(c));
    let live = Kid::start(move || {
        let g = cond_lock(c);
        pipe.signal();
        b[0].store(mono_ns(), Ordering::SeqCst);
        let (g, notified) = g
            .wait_timeout(LIVE_TIMEOUT)
            .unwrap_or_else(|died| died.into_guard());
        b[1].store(mono_ns(), Ordering::SeqCst);
        b[2].store(1 + u64::from(notified), Ordering::SeqCst);
        drop(g);
    })?;
    pipe.wait("waiter B")?;
    drop(cond_lock(c));
    let asleep = wait_asleep(&[victim.pid()?, live.pid()?], || true);
    victim.kill_stamped()?;
    if into.reap == Reap::AtOnce {
        victim.reap()?;
    }
    let g = cond_lock(c);
    let t0 = mono_ns();
    g.notify(1);
    drop(g);
    let code = live.reap()?;
    victim.reap()?;
    if code != 0 {
        return Err(format!("waiter B exited with {code}").into());
    }
    let [begun, returned, flag] = [0, 1, 2].map(|i| b[i].load(Ordering::SeqCst));
    if t0.saturating_sub(begun) > LATE_NOTIFY_NS {
        into.late += 1;
        return Ok(());
    }
    into.runs += 1;
    into.not_asleep += usize::from(!asleep);
    let latency = returned.saturating_sub(t0);
    let woken = flag == 2 && latency <= WAKE_LIMIT_NS;
    if flag == 2 {
        into.latency.push(latency as f64);
    }
    into.missed += usize::from(!woken);
    Ok(())
}
