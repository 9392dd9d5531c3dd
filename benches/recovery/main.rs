//! Recovery benchmarks: what it costs that a primitive survives a process
//! that dies in it, on the fast path and at the moment of the death.
//!
//! 1. **Semaphore, uncontended acquire + drop of the guard**, in one
//!    process, ns per pair: [`Semaphore`] and [`BoundedSemaphore`] (value
//!    1, in a [`Shared`]), whose units held by a dead process come back
//!    (one compare-exchange of a 64-bit word that moves a unit between the
//!    free count and the holder's slot), against the **previous algorithm**
//!    (commit 6dff7f1) reproduced here as `OldSemaphore`, also in a
//!    `Shared`: a `u32` value word taken with load + `compare_exchange_weak`
//!    (Acquire), given back with load + `compare_exchange_weak` (SeqCst) and
//!    a SeqCst load of the `parked` word, the guard checking its pid
//!    (`mproc::process::getpid`, cached, as the crate's own) on both sides
//!    as the old guard did. The floor is a bare `AtomicU32` `fetch_sub` +
//!    `fetch_add` pair. Target: new/old ≤ 1.2 (what unit recovery may cost
//!    a process that never dies).
//! 2. **Lock take-over after a SIGKILL**: a holder process takes a
//!    [`Lock`] (in a `Shared`) and says so through a pipe; three waiter
//!    processes park on `lock()` (the bench waits until
//!    `/proc/<pid>/stat` shows each asleep, state `S`, or 2 s at most);
//!    the bench SIGKILLs the holder. Latency: from a `CLOCK_MONOTONIC`
//!    stamp the bench takes right before `kill(2)` to the one the first
//!    waiter takes when `lock()` returns `Err(OwnerDied)` (one clock for
//!    every process). Two ways: the holder **reaped** at once (`waitpid`
//!    right after the kill: its pid is gone) and left a **zombie** until
//!    the waiters are done (its pid still exists, dead only per `/proc`).
//!    The same for an [`RLock`]; and for a `Lock` whose waiters were parked
//!    a long while before the kill (300 ms plus an offset spread evenly
//!    over 0–100 ms from kill to kill), so that their looks at the holder
//!    have backed off to the longest interval and the kill falls anywhere
//!    in it. Exactly one waiter
//!    must get `OwnerDied` per kill (counted). Target: ≤ 1 ms (median and
//!    p99 are checked).
//! 3. **Condition, dead waiter**: waiter A waits on a [`Condition`] (in a
//!    `Shared`), then waiter B (`wait_timeout` of 200 ms); when both are
//!    asleep the bench SIGKILLs A (reaped at once, or left a zombie), then
//!    takes the lock and calls `notify(1)`. Measured: from a stamp right
//!    before `notify` to B's stamp when its wait returns (the lock taken
//!    again), over the runs where B was notified, and the count of runs
//!    where B was not woken within 100 ms (a dead waiter that absorbs the
//!    notification leaves B to its timeout). A run where the notification
//!    came more than 90 ms after B began to wait (a slow machine) is
//!    dropped and counted, so that B's own timeout cannot pass for a lost
//!    notification. Target: no run without a wake-up.
//!
//! Benchmark 1 runs its five contenders in turn in each round, the
//! starting one rotated from round to round, so drift hits all of them
//! alike; the table shows medians and p90 over the rounds and ratios as the
//! median of the per-round ratios. Benchmarks 2 and 3 interleave their
//! variants kill by kill. Every process a run starts is killed and reaped
//! before the next run (also on an error); the watchdog ends the bench if a
//! part hangs.
//!
//! Run it with `scripts/bench.sh` (or `cargo bench --bench recovery`).
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test.
//!
//! The harness is not libtest (`harness = false`), so this process stays
//! single-threaded: nothing here starts a thread, and `Process::start`
//! checks that before each fork.

#![allow(unsafe_code)] // The reference semaphore, kill(2), pipes and clocks call libc directly.

#[path = "../common/mod.rs"]
#[allow(dead_code)] // Each bench uses part of it.
mod common;

mod dead_waiter;
mod machinery;
mod report;
mod semaphore;
mod takeover;

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mproc::process::{self, Process};
use mproc::shm::{Shareable, Shared};
use mproc::sync::{BoundedSemaphore, Condition, Lock, RLock, Semaphore};

use dead_waiter::*;
use machinery::*;
use report::*;
use semaphore::*;
use takeover::*;

/// Sizes of one run.
struct Plan {
    /// Measured rounds of benchmark 1.
    rounds: usize,
    /// Acquire + drop pairs per contender and round.
    pairs: u32,
    /// Kills per take-over variant (parked briefly).
    kills: usize,
    /// Kills of the long-parked take-over variant.
    long_kills: usize,
    /// Runs per dead-waiter variant.
    cond_runs: usize,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                rounds: 9,
                pairs: 50_000,
                kills: 10,
                long_kills: 3,
                cond_runs: 10,
            }
        } else {
            Plan {
                rounds: 51,
                pairs: 500_000,
                kills: 200,
                long_kills: 40,
                cond_runs: 100,
            }
        }
    }
}

/// Waiter processes of the take-over benchmark.
const WAITERS: usize = 3;
/// How long the long-parked waiters park before the kill, at least; an
/// offset spread over `LONG_SPREAD` is added.
const LONG_PARK: Duration = Duration::from_millis(300);
const LONG_SPREAD: Duration = Duration::from_millis(100);
/// B's wait in the dead-waiter benchmark.
const LIVE_TIMEOUT: Duration = Duration::from_millis(200);
/// B must be woken within this to count as woken.
const WAKE_LIMIT_NS: u64 = 100_000_000;
/// A notification later than this after B began to wait drops the run.
const LATE_NOTIFY_NS: u64 = 90_000_000;
/// How long the bench waits for a process to be seen asleep.
const PARK_PATIENCE: Duration = Duration::from_secs(2);
/// How long a child may take to get ready or to end.
const PATIENCE: Duration = Duration::from_secs(10);
/// The take-over latency target, ns.
const TAKEOVER_TARGET_NS: f64 = 1e6;
/// The semaphore cost target: new/old.
const SEM_TARGET: f64 = 1.2;

fn main() -> ExitCode {
    exit_code("recovery", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let load = load_average();
    let plan = Plan::from_env();
    watchdog::install("recovery")?;
    let sem = guarded("semaphore acquire + drop", Duration::from_secs(300), || {
        bench_semaphore(&plan)
    })?;
    let pipe = Pipe::new()?;
    let takeover = guarded("lock take-over", Duration::from_secs(900), || {
        bench_takeover(&plan, &pipe)
    })?;
    let cond = guarded("condition dead waiter", Duration::from_secs(900), || {
        bench_condition(&plan, &pipe)
    })?;

    let mut out = String::new();
    machine_with_load(&mut out, "recovery", None, &load);
    let _ = writeln!(
        out,
        "- method: semaphore: {} rounds after a warm-up round, {} acquire + drop pairs per \
         contender and round, in one process, the five contenders in turn (starting one \
         rotated per round); ns/pair: median and p90 over the rounds; ratios: median of the \
         per-round ratios. Take-over: {} kills per variant ({} for the long-parked one), \
         variants interleaved kill by kill, {WAITERS} waiters each, a fresh lock, holder and \
         waiters per kill; latency from the bench's CLOCK_MONOTONIC stamp right before \
         kill(2) to the first waiter's stamp at Err(OwnerDied). Dead waiter: {} runs per \
         variant, interleaved; B waits with a {} ms timeout.{}\n",
        plan.rounds,
        plan.pairs,
        plan.kills,
        plan.long_kills,
        plan.cond_runs,
        LIVE_TIMEOUT.as_millis(),
        quick_note(),
    );
    report_semaphore(&mut out, &sem);
    report_takeover(&mut out, &takeover);
    report_condition(&mut out, &cond);
    print_report(out, started);
    Ok(())
}
