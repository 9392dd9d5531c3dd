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

#[path = "common/mod.rs"]
#[allow(dead_code)] // Each bench uses part of it.
mod common;

use std::fmt::Write as _;

use common::*;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::shm::{Shared, Value};
use mproc::sync::Event;

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

// ------------------------------------------------------------- machinery

/// The CPUs the bench may use: all it was started with, and the one it
/// pins benchmark 1 to.
struct Cpus {
    all: libc::cpu_set_t,
    pinned: Option<(usize, libc::cpu_set_t)>,
}

impl Cpus {
    /// `MPROC_BENCH_CPU=<n>`, or by default the CPU the bench runs on now;
    /// `MPROC_BENCH_CPU=none`: no pinning.
    ///
    /// On one CPU a hand-off between processes is a pair of context
    /// switches; across CPUs its cost depends on where the scheduler put
    /// them, which on virtual machines is noise larger than the differences
    /// being measured (see `benches/process.rs`).
    fn new() -> Result<Cpus> {
        let all = get_affinity()?;
        let cpu = match std::env::var("MPROC_BENCH_CPU") {
            Ok(v) if v.eq_ignore_ascii_case("none") => None,
            Ok(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| format!("MPROC_BENCH_CPU={v}: not a CPU number or \"none\""))?,
            ),
            Err(_) => {
                // SAFETY: sched_getcpu has no preconditions.
                let cpu = unsafe { libc::sched_getcpu() };
                usize::try_from(cpu).ok()
            }
        };
        let pinned = match cpu {
            None => None,
            Some(cpu) => Some((cpu, one_cpu(cpu)?)),
        };
        Ok(Cpus { all, pinned })
    }

    /// Pins this process (and what it forks later) and the Python peer to
    /// the chosen CPU, if any.
    fn pin(&self, python: &mut Option<Peer>) -> Result<()> {
        match &self.pinned {
            Some((cpu, set)) => {
                set_affinity(set).map_err(|e| format!("pinning to CPU {cpu}: {e}"))?;
                peer_affinity(python, set);
            }
            None => self.unpin(python)?,
        }
        Ok(())
    }

    /// A CPU of the bench's other than the pinned one (for B of the split
    /// ping-pong), if pinned and there is one.
    fn other(&self) -> Option<usize> {
        let (cpu, _) = self.pinned?;
        cpus_of(&self.all).into_iter().find(|&c| c != cpu)
    }

    /// Back to every CPU the bench was started with, the Python peer too.
    fn unpin(&self, python: &mut Option<Peer>) -> Result<()> {
        set_affinity(&self.all)?;
        peer_affinity(python, &self.all);
        Ok(())
    }
}

/// The set of CPU `cpu` alone.
fn one_cpu(cpu: usize) -> Result<libc::cpu_set_t> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(format!("CPU {cpu}: beyond CPU_SETSIZE").into());
    }
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays inside it
    // for cpu < CPU_SETSIZE, checked above.
    Ok(unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    })
}

fn get_affinity() -> Result<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is valid storage; sched_getaffinity writes
    // at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(os_error("sched_getaffinity"));
        }
        Ok(set)
    }
}

fn set_affinity(set: &libc::cpu_set_t) -> Result<()> {
    // SAFETY: `set` is a live cpu_set_t; the kernel reads its size.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(os_error("sched_setaffinity"));
    }
    Ok(())
}

/// The CPUs in `set`.
fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads inside the set for i < CPU_SETSIZE.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, set) })
        .collect()
}

/// The CPUs in `set`, as `0,1`.
fn cpu_list(set: &libc::cpu_set_t) -> String {
    cpus_of(set)
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------- counter

/// Forks `procs` children that each run `op` `m` times once released
/// together; returns the time from the release to the last one done.
fn counter_run(procs: usize, m: u32, op: impl Fn()) -> Result<Released> {
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
fn mproc_counter(procs: usize, m: u32) -> Result<Released> {
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
fn atomic_counter(procs: usize, m: u32) -> Result<Released> {
    let a = Shared::new(AtomicU64::new(0))?;
    let run = counter_run(procs, m, || {
        a.fetch_add(1, Ordering::Relaxed);
    })?;
    check_count("Shared<AtomicU64>", a.load(Ordering::Relaxed), procs, m)?;
    Ok(run)
}

fn check_count(who: &str, got: u64, procs: usize, m: u32) -> Result<()> {
    let want = procs as u64 * u64::from(m);
    if got != want {
        return Err(format!("{who}: final count {got}, expected {want} ({procs} × {m})").into());
    }
    Ok(())
}

/// Per-round ns/increment of the 2-process counter.
#[derive(Default)]
struct CounterSamples {
    atomic: Vec<f64>,
    mproc: Vec<f64>,
    python: Vec<f64>,
}

fn bench_counter(plan: &Plan, python: &mut Option<Peer>) -> Result<CounterSamples> {
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
fn python_counter(python: &mut Option<Peer>, procs: usize, m: u32) -> Result<Option<f64>> {
    let Some([ns, count]) = ask_numbers::<u64, 2>(python, &format!("counter {procs} {m}")) else {
        return Ok(None);
    };
    check_count("Python multiprocessing.Value('Q')", count, procs, m)?;
    Ok(Some(ns as f64 / (procs as f64 * f64::from(m))))
}

// -------------------------------------------------------------- contended

/// Per-round results of the contended counter.
#[derive(Default)]
struct ContendedSamples {
    /// ns/increment with 2 and with `MANY` processes.
    two: Vec<f64>,
    many: Vec<f64>,
    /// Python's, with 2 processes.
    python: Vec<f64>,
    /// The children's usage, per increment / per wall time.
    two_use: Vec<UsageRates>,
    many_use: Vec<UsageRates>,
}

/// A run's [`Usage`] as rates.
#[derive(Clone, Copy)]
struct UsageRates {
    /// CPU ns per increment (all children).
    cpu_per_op: f64,
    /// CPU time / wall time: how many CPUs were kept busy.
    busy: f64,
    /// Voluntary / involuntary context switches in the run.
    vcsw: f64,
    ivcsw: f64,
}

impl UsageRates {
    fn of(run: &Released, ops: f64) -> UsageRates {
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

fn bench_contended(plan: &Plan, python: &mut Option<Peer>) -> Result<ContendedSamples> {
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

// -------------------------------------------------------------- ping-pong

/// Per-round results of one ping-pong placement.
#[derive(Default)]
struct PingSamples {
    /// µs per round trip.
    spin: Vec<f64>,
    futex: Vec<f64>,
    mproc: Vec<f64>,
    python: Vec<f64>,
    /// Voluntary context switches (parks) of A and B per round trip.
    futex_parks: Vec<f64>,
    mproc_parks: Vec<f64>,
}

/// Where the two processes of a ping-pong run.
#[derive(Clone, Copy)]
enum Placement {
    /// Wherever the scheduler puts them, on every CPU the bench may use.
    Unpinned,
    /// Both on this CPU (the raw spin is left out: each of its hops would
    /// wait for a preemption).
    Shared(usize),
    /// A on the first CPU, B on the second.
    Split(usize, usize),
}

impl Placement {
    fn label(self) -> String {
        match self {
            Placement::Unpinned => "unpinned".into(),
            Placement::Shared(cpu) => format!("both pinned to CPU {cpu}"),
            Placement::Split(a, b) => format!("A pinned to CPU {a}, B to CPU {b}"),
        }
    }
}

/// Runs the ping-pong contenders at `place`; the caller has set this
/// process's (A's) affinity and the Python peer's to match.
fn bench_ping(plan: &Plan, python: &mut Option<Peer>, place: Placement) -> Result<PingSamples> {
    let (with_spin, b_cpu) = match place {
        Placement::Unpinned => (true, None),
        Placement::Shared(_) => (false, None),
        Placement::Split(_, b) => (true, Some(b)),
    };
    let b_set = b_cpu.map(one_cpu).transpose()?;
    let b_set = b_set.as_ref();
    let py_b = b_cpu.map_or_else(String::new, |b| format!(" {b}"));
    let mut s = PingSamples::default();
    rounds(plan.rounds, |warm| {
        let (n, py_n) = (size(warm, plan.ping), size(warm, plan.py_ping));
        let spin = if with_spin {
            Some(spin_ping(n, b_set)?)
        } else {
            None
        };
        let futex = futex_ping(n, b_set)?;
        let ours = mproc_ping(n, b_set)?;
        let py = ask_numbers(python, &format!("pingpong {py_n}{py_b}"))
            .map(|[ns]: [f64; 1]| ns / 1e3 / f64::from(py_n));
        if !warm {
            s.spin.extend(spin.map(|r| per_op_us(r.elapsed, n)));
            s.futex.push(per_op_us(futex.elapsed, n));
            s.mproc.push(per_op_us(ours.elapsed, n));
            s.python.extend(py);
            s.futex_parks.push(futex.parks as f64 / f64::from(n));
            s.mproc_parks.push(ours.parks as f64 / f64::from(n));
        }
        Ok(())
    })?;
    Ok(s)
}

/// One ping-pong run.
struct PingRun {
    /// The `n` timed round trips.
    elapsed: Duration,
    /// Voluntary context switches of A in them, plus B's in all its loop.
    parks: u64,
}

/// Forks B (moved to `b_set` if given), which runs `b` `n + 1` times; runs
/// `a` once untimed, then `n` times timed. B is moved by the bench, which
/// sees a failure (and then kills B) before A starts.
fn ping_pong(
    n: u32,
    b_set: Option<&libc::cpu_set_t>,
    a: impl Fn(),
    b: impl Fn(),
) -> Result<PingRun> {
    let b_parks = Shared::new(AtomicU64::new(0))?;
    let (b, b_parks_ref) = (&b, &b_parks);
    let gang = Gang::start(1, |_| {
        move || {
            let before = Usage::of_self();
            for _ in 0..=n {
                b();
            }
            b_parks_ref.store(Usage::of_self().since(before).parks, Ordering::Relaxed);
        }
    })?;
    if let Some(set) = b_set {
        let pid = gang.pid(0).ok_or("B has no pid")?;
        // SAFETY: `set` is a live cpu_set_t; the kernel reads its size.
        if unsafe { libc::sched_setaffinity(pid.as_raw(), size_of::<libc::cpu_set_t>(), set) } != 0
        {
            return Err(os_error("moving B to its CPU"));
        }
    }
    a();
    let before = Usage::of_self();
    let start = Instant::now();
    for _ in 0..n {
        a();
    }
    let elapsed = start.elapsed();
    let a_parks = Usage::of_self().since(before).parks;
    // Joining reaps B: its store is visible after it.
    gang.join(PATIENCE)?;
    Ok(PingRun {
        elapsed,
        parks: a_parks + b_parks.load(Ordering::Relaxed),
    })
}

/// mproc: `Event`s `[ping, pong]` in one segment.
fn mproc_ping(n: u32, b_set: Option<&libc::cpu_set_t>) -> Result<PingRun> {
    let ev = Shared::new([Event::new(), Event::new()])?;
    let (ping, pong) = (&ev[0], &ev[1]);
    ping_pong(
        n,
        b_set,
        || {
            ping.set();
            pong.wait();
            pong.clear();
        },
        || {
            ping.wait();
            ping.clear();
            pong.set();
        },
    )
}

/// Raw futex: flags `[ping, pong]`; a waiter parks whenever the flag is not
/// set yet (no spinning), a setter always calls `FUTEX_WAKE`.
fn futex_ping(n: u32, b_set: Option<&libc::cpu_set_t>) -> Result<PingRun> {
    let w = Shared::new([AtomicU32::new(0), AtomicU32::new(0)])?;
    let (ping, pong) = (&w[0], &w[1]);
    ping_pong(
        n,
        b_set,
        || {
            raise(ping);
            park_until_set(pong);
            pong.store(0, Ordering::Relaxed);
        },
        || {
            park_until_set(ping);
            ping.store(0, Ordering::Relaxed);
            raise(pong);
        },
    )
}

fn raise(word: &AtomicU32) {
    // SYNC POINT: Release pairs with the Acquire in `park_until_set`.
    word.store(1, Ordering::Release);
    // SAFETY: `word` is a live, aligned u32 in shared memory; FUTEX_WAKE
    // only looks up the kernel's wait queue for it. Not FUTEX_PRIVATE: the
    // waiter is another process.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

fn park_until_set(word: &AtomicU32) {
    // SYNC POINT: Acquire pairs with the Release in `raise`.
    while word.load(Ordering::Acquire) == 0 {
        // SAFETY: `word` is a live, aligned u32 in shared memory, read by the
        // kernel only; no timeout. EAGAIN (already set) and EINTR just loop.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                0u32,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }
}

/// Raw spin: flags `[ping, pong]`, waited for with `spin_loop` only.
fn spin_ping(n: u32, b_set: Option<&libc::cpu_set_t>) -> Result<PingRun> {
    let w = Shared::new([AtomicU32::new(0), AtomicU32::new(0)])?;
    let (ping, pong) = (&w[0], &w[1]);
    let spin_until_set = |word: &AtomicU32| {
        // SYNC POINT: Acquire pairs with the Release stores below.
        while word.load(Ordering::Acquire) == 0 {
            std::hint::spin_loop();
        }
    };
    ping_pong(
        n,
        b_set,
        || {
            ping.store(1, Ordering::Release);
            spin_until_set(pong);
            pong.store(0, Ordering::Relaxed);
        },
        || {
            spin_until_set(ping);
            ping.store(0, Ordering::Relaxed);
            pong.store(1, Ordering::Release);
        },
    )
}

// ----------------------------------------------------------------- Python

/// Sets the peer's CPU affinity (its later children inherit it).
fn peer_affinity(python: &mut Option<Peer>, set: &libc::cpu_set_t) {
    if let Some(answer) = ask_or_drop(python, &format!("affinity {}", cpu_list(set)))
        && answer != "ok"
    {
        drop_peer(python, &format!("affinity: {answer}"));
    }
}

// ----------------------------------------------------------------- report

fn report(
    out: &mut String,
    c: &CounterSamples,
    k: &ContendedSamples,
    pings: &[(Placement, PingSamples)],
) {
    // 1. The 2-process counter.
    let (m, a, py) = (median(&c.mproc), median(&c.atomic), median(&c.python));
    let (ma, pm) = (
        paired_ratio(&c.mproc, &c.atomic),
        paired_ratio(&c.python, &c.mproc),
    );
    let target = check("Python/mproc", pm, false, 5.0);
    let _ = writeln!(
        out,
        "| benchmark | mproc ns/op | atomic ns/op | Python ns/op | mproc/atomic | Python/mproc | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|---|---|");
    let _ = writeln!(
        out,
        "| Lock-protected counter, 2 processes (per increment) | {} | {} | {} | {} | {} | {} | {} |",
        cell(m),
        cell(a),
        cell(py),
        ratio_cell(ma),
        ratio_cell(pm),
        target.0,
        verdict(&target),
    );

    // 2. Contended: 2 vs MANY processes, unpinned.
    let collapse = paired_ratio(&k.many, &k.two);
    let target = check(&format!("{MANY}p/2p"), collapse, true, 4.0);
    let _ = writeln!(
        out,
        "\n| benchmark (unpinned) | mproc 2 processes ns/op | mproc {MANY} processes ns/op | {MANY}p/2p | Python 2 processes ns/op | Python/mproc (2 processes) | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|---|---|");
    let _ = writeln!(
        out,
        "| Contended Value<u64> lock counter (per increment) | {} | {} | {} | {} | {} | no collapse: {} | {} |",
        cell(median(&k.two)),
        cell(median(&k.many)),
        ratio_cell(collapse),
        cell(median(&k.python)),
        ratio_cell(paired_ratio(&k.python, &k.two)),
        target.0,
        verdict(&target),
    );
    let _ = writeln!(
        out,
        "\nWhere the contended mproc time goes (getrusage in each child from the release to \
         its last increment, summed over the children; medians over the rounds; voluntary \
         switches are parks on a futex, involuntary ones preemptions and sched_yield):\n"
    );
    let _ = writeln!(
        out,
        "| processes | wall ns/incr | CPU ns/incr | CPUs busy (CPU/wall) | voluntary switches per run | involuntary switches per run |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|");
    for (procs, wall, usage) in [(2, &k.two, &k.two_use), (MANY, &k.many, &k.many_use)] {
        let pick = |f: fn(&UsageRates) -> f64| median(&usage.iter().map(f).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "| {procs} | {} | {} | {} | {} | {} |",
            cell(median(wall)),
            cell(pick(|u| u.cpu_per_op)),
            ratio_cell(pick(|u| u.busy)),
            count_cell(pick(|u| u.vcsw)),
            count_cell(pick(|u| u.ivcsw)),
        );
    }

    // 3. Ping-pong.
    let _ = writeln!(
        out,
        "\n| benchmark | mproc µs/rt | futex raw µs/rt | spin raw µs/rt | Python µs/rt | mproc/futex | mproc/spin | Python/mproc |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
    let placements: Vec<(String, &PingSamples)> =
        pings.iter().map(|(place, q)| (place.label(), q)).collect();
    for (place, q) in &placements {
        let _ = writeln!(
            out,
            "| Event ping-pong round trip, 2 processes, {place} | {} | {} | {} | {} | {} | {} | {} |",
            cell(median(&q.mproc)),
            cell(median(&q.futex)),
            if q.spin.is_empty() {
                "n/a (a preemption per hop)".to_owned()
            } else {
                cell(median(&q.spin))
            },
            cell(median(&q.python)),
            ratio_cell(paired_ratio(&q.mproc, &q.futex)),
            ratio_cell(paired_ratio(&q.mproc, &q.spin)),
            ratio_cell(paired_ratio(&q.python, &q.mproc)),
        );
    }
    let _ = writeln!(
        out,
        "\nParks per round trip (voluntary context switches of A and B, getrusage; medians): {}.",
        placements
            .iter()
            .map(|(place, q)| format!(
                "{place}: futex raw {}, mproc {}",
                ratio_cell(median(&q.futex_parks)),
                ratio_cell(median(&q.mproc_parks))
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );

    let many = format!("mproc {MANY} processes");
    let mut rows: Vec<(String, &str, &[f64])> = vec![
        ("counter, 2 processes (ns)".into(), "mproc", &c.mproc),
        ("counter, 2 processes (ns)".into(), "atomic", &c.atomic),
        ("counter, 2 processes (ns)".into(), "Python", &c.python),
        (
            "contended, unpinned (ns)".into(),
            "mproc 2 processes",
            &k.two,
        ),
        ("contended, unpinned (ns)".into(), &many, &k.many),
        (
            "contended, unpinned (ns)".into(),
            "Python 2 processes",
            &k.python,
        ),
    ];
    for (place, q) in &placements {
        let bench = format!("ping-pong, {place} (µs)");
        rows.push((bench.clone(), "mproc", &q.mproc));
        rows.push((bench.clone(), "futex raw", &q.futex));
        if !q.spin.is_empty() {
            rows.push((bench.clone(), "spin raw", &q.spin));
        }
        rows.push((bench, "Python", &q.python));
    }
    spread_table(out, "Spread over the rounds (min–max per op):", rows);
}

fn count_cell(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.0}"))
}
