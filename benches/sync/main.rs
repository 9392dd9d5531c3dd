//! Synchronization benchmarks: mproc's process-shared primitives against
//! their limits (a bare atomic, a raw futex, a raw spin) and against Python's
//! `multiprocessing`, in one run, reported as ratios.
//!
//! 1. **Lock-protected counter, 2 processes**: two forked processes each do
//!    `M` increments of a [`Value<u64>`] under its lock
//!    (`*v.lock()? += 1`); ns per increment is the time from the release of
//!    both (a start barrier, so the forks are not counted) to the last one
//!    done, over `2M`. Against the limit, a bare `AtomicU64::fetch_add` on a
//!    [`Shared<AtomicU64>`], and against Python's
//!    `Value('Q', 0)` with `with v.get_lock(): v.value += 1`. Pinned to one
//!    CPU like the process benchmarks.
//! 2. **Contended lock, 8 processes vs 2**: the same counter with 2 and
//!    with 8 processes on this machine's cores, *unpinned* (pinned to one
//!    CPU the processes would simply take turns). The 8-process time per
//!    increment must not collapse against the 2-process one; `getrusage` in
//!    each child shows where the time went (context switches, CPU time), so
//!    that waiters are seen to park rather than burn the CPU.
//! 3. **Event ping-pong**: process A sets `ping` and waits for `pong`, B
//!    waits for `ping` and sets `pong` (each clears what it waited for);
//!    µs per round trip. mproc uses two [`Event`]s in one
//!    [`Shared<[Event; 2]>`]; the limits are a raw futex ping-pong (always
//!    parks, never spins) and a raw spin ping-pong (no syscalls at all);
//!    Python uses two `multiprocessing.Event`s. Run three ways: unpinned
//!    (the headline), both processes pinned to one CPU (labelled; the raw
//!    spin is left out there, each of its hops would wait for a
//!    preemption), and A and B pinned to two different CPUs (labelled).
//!    `getrusage` counts the parks (voluntary context switches) per round
//!    trip.
//!
//! Each round runs every contender of a benchmark once, interleaved, so
//! drift hits all of them alike; the tables show medians over the rounds and
//! ratios as the median of the per-round ratios. Every final count is
//! checked (`2M`, or `P·M`): a lost increment fails the bench. The Python
//! contenders run in `scripts/bench_peer.py`, one long-lived `python3`
//! process driven over a pipe, which times its own loops (interpreter and
//! process start-up are not counted).
//!
//! Run it with `scripts/bench.sh` (or `cargo bench --bench sync`).
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test;
//! `MPROC_BENCH_PYTHON` names the interpreter (default `python3`);
//! `MPROC_BENCH_CPU=<n>` pins benchmark 1 and the pinned ping-pongs to CPU
//! `n` (default: the CPU the bench starts on); `MPROC_BENCH_CPU=none` runs
//! benchmark 1 unpinned too and leaves the pinned ping-pongs out.
//! Benchmark 2 and the unpinned ping-pong always run on every CPU the bench
//! was started with.
//!
//! The harness is not libtest (`harness = false`), so this process stays
//! single-threaded: nothing here starts a thread, and `Process::start`
//! checks that before each fork.

#![allow(unsafe_code)] // The raw contenders and the measurements call libc directly.

#[path = "../common/mod.rs"]
#[allow(dead_code)] // Each bench uses part of it.
mod common;

mod contended;
mod counter;
mod machinery;
mod pingpong;
mod python;
mod report;

use std::fmt::Write as _;

use common::*;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::shm::{Shared, Value};
use mproc::sync::Event;

use contended::*;
use counter::*;
use machinery::*;
use pingpong::*;
use python::*;
use report::*;

/// Sizes of one run.
struct Plan {
    /// Measured rounds (each runs every contender once).
    rounds: usize,
    /// Increments per process, 2-process counter, Rust contenders.
    count: u32,
    /// Increments per process, 2-process counter, Python.
    py_count: u32,
    /// Increments in all, contended counter (split over the processes).
    contended: u32,
    /// Round trips per round, ping-pong, Rust contenders.
    ping: u32,
    /// Round trips per round, ping-pong, Python.
    py_ping: u32,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                rounds: 3,
                count: 20_000,
                py_count: 2_000,
                contended: 40_000,
                ping: 500,
                py_ping: 200,
            }
        } else {
            Plan {
                rounds: 15,
                count: 200_000,
                py_count: 20_000,
                contended: 400_000,
                ping: 5_000,
                py_ping: 1_000,
            }
        }
    }
}

/// Processes of the contended benchmark (at most [`MAX_RELEASED`]).
const MANY: usize = 8;
/// How long a child may take before the bench gives up on it.
const PATIENCE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    exit_code("sync", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let plan = Plan::from_env();
    let cpus = Cpus::new()?;
    // Before the Python peer starts, so that it inherits the affinity too.
    cpus.pin(&mut None)?;
    let python = Peer::start("sync");
    let ((counter, contended, pings), python_version) =
        with_peer(python, |python| benches(&plan, &cpus, python))?;

    let mut out = String::new();
    machine(&mut out, "sync", python_version.as_deref());
    let _ = writeln!(
        out,
        "- method: {} rounds after a warm-up round; in each round the contenders of a benchmark \
         run in turn (counter: atomic → mproc → Python; contended: mproc 2 → {MANY} processes \
         → Python 2 processes; ping-pong: spin → futex → mproc → Python); per-op times: \
         median over the rounds; ratios: median of the per-round ratios. Counter: {} \
         increments per process (Python {}), timed from the release of a start barrier to \
         the last process done, so the forks are not counted; every final count checked. \
         Contended: {} increments in all per run, split over the processes (Python: {} per \
         process). Ping-pong: {} round trips (Python {}), timed in A after one untimed round \
         trip; B is forked per run (Python: per command). Placement: {}; contended counter \
         and unpinned ping-pong on CPUs {} (MPROC_BENCH_CPU=none semantics: bench, children \
         and Python peer alike).{}\n",
        plan.rounds,
        plan.count,
        plan.py_count,
        plan.contended,
        plan.py_count,
        plan.ping,
        plan.py_ping,
        match cpus.pinned {
            Some((cpu, _)) => format!(
                "2-process counter and the \"both pinned\" ping-pong: every process (bench, \
                 children, Python peer) pinned to CPU {cpu} (MPROC_BENCH_CPU=none: unpinned); \
                 \"A pinned, B pinned\" ping-pong: A (the bench, the Python peer) on CPU {cpu}, \
                 B moved to the other CPU named right after its fork (Python's B moves itself)"
            ),
            None => "2-process counter not pinned to a CPU (MPROC_BENCH_CPU=none)".to_owned(),
        },
        cpu_list(&cpus.all),
        quick_note(),
    );
    report(&mut out, &counter, &contended, &pings);
    print_report(out, started);
    Ok(())
}

/// What [`benches`] measured.
type Measured = (
    CounterSamples,
    ContendedSamples,
    Vec<(Placement, PingSamples)>,
);

/// Every benchmark, in order: the pinned ones first, then the unpinned.
fn benches(plan: &Plan, cpus: &Cpus, python: &mut Option<Peer>) -> Result<Measured> {
    let counter = bench_counter(plan, python)?;
    // Ping-pong: while pinned, both on the pinned CPU, then split over it
    // and another; unpinned last.
    let mut pings = Vec::new();
    if let Some((cpu, _)) = cpus.pinned {
        let place = Placement::Shared(cpu);
        pings.push((place, bench_ping(plan, python, place)?));
        if let Some(other) = cpus.other() {
            let place = Placement::Split(cpu, other);
            pings.push((place, bench_ping(plan, python, place)?));
        }
    }
    cpus.unpin(python)?;
    let contended = bench_contended(plan, python)?;
    let place = Placement::Unpinned;
    pings.insert(0, (place, bench_ping(plan, python, place)?));
    Ok((counter, contended, pings))
}
