//! Pool benchmarks: mproc's static worker pool ([`Pool`]) against Python's
//! `multiprocessing.Pool` (fork context, the same worker count) and against
//! the floor of any hand-off between two processes, in one run, reported as
//! ratios.
//!
//! 1. **`apply` round trip**: `pool.apply(inc, i)` for `i` in `0..N`, one
//!    after the other, with `inc(x) = x + 1` on `u64`, on a `Pool(2)`;
//!    against Python's `Pool(2).apply(inc, (i,))`, and against a raw
//!    shared-memory spin round trip between two processes (the bench
//!    stores a sequence number in an `AtomicU64` of one `MAP_SHARED`
//!    anonymous mapping, [`Shared<AtomicU64>`]; a forked child spins on it
//!    and echoes it into a second one, on which the bench spins).
//! 2. **`apply_async` + `get`**: `N` tasks, mproc keeping a sliding window
//!    of [`WINDOW`] outstanding [`AsyncResult`]s (below the ring's
//!    `MPROC_POOL_SLOTS` = 64 slots; the `VecDeque` is allocated before the
//!    clock starts), Python in its natural shape: every `apply_async`
//!    first, then every `get`.
//! 3. **`map`**: `N` items, mproc `map_into` a preallocated buffer with
//!    the default chunksize (`None`: Python's rule, capped at what a slot
//!    holds) and with chunksize 64; Python's `pool.map(inc, range(N))`
//!    with its default chunksize.
//! 4. **Oversubscription**: the throughput of benchmark 2 with 8 workers
//!    against 2 workers, on a machine of 2 cores (the one this bench was
//!    written for): more workers than cores must not collapse it. Python's
//!    for reference. A second table shows where mproc's time went: the CPU
//!    time of the bench and of the workers, and their context switches.
//! 5. **Memory**: USS (`Private_Clean + Private_Dirty`) and PSS of one
//!    pool worker and of the pool's owner, from `/proc/<pid>/smaps_rollup`,
//!    after the same small warm-up on both pools ([`warm_up`]), before
//!    benchmarks 1–4 (whose own buffers, such as Python's million-item
//!    lists, would otherwise be counted). mproc's worker pids come from
//!    [`Pool::pids`], Python's from `pool._pool` (a private attribute; see
//!    the peer's docstring).
//!
//! Each round runs every contender of a benchmark once, interleaved, so
//! drift hits all of them alike; the tables show medians over the rounds
//! and ratios as the median of the per-round ratios. Every result is
//! checked: the count and the sum of the results of every run (and `map`'s
//! buffer item by item), so no contender can skip work. The Python
//! contenders run in `scripts/bench_pool_peer.py`, one long-lived `python3`
//! process driven over a pipe, which times its own loops (interpreter
//! start-up and pool creation are not counted; neither are mproc's).
//!
//! Nothing is pinned: a pool needs the machine's cores (`MPROC_BENCH_CPU`
//! is not read here).
//!
//! Run it with `cargo bench --bench pool` (or `scripts/bench.sh`).
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test;
//! `MPROC_BENCH_PYTHON` names the interpreter (default `python3`; without
//! one the Python cells read "n/a").
//!
//! The harness is not libtest (`harness = false`), so this process stays
//! single-threaded: nothing here starts a thread, and `Pool::new` and
//! `Process::start` check that before each fork.

#![allow(unsafe_code)] // The watchdog and the CPU clocks of `common` call libc directly.

#[path = "common/mod.rs"]
#[allow(dead_code)] // This bench uses the peer and a few helpers, not all.
mod common;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mproc::config::{POOL_SLOTS, POOL_TASK_BYTES};
use mproc::pool::{AsyncResult, Pool};
use mproc::process::Process;
use mproc::shm::Shared;

/// Sizes of one run.
struct Plan {
    /// Measured rounds (each runs every contender once).
    rounds: usize,
    /// `apply` round trips per round (and raw spin round trips).
    apply: u32,
    /// `apply` round trips per round, Python.
    py_apply: u32,
    /// `apply_async` + `get` tasks per round, both contenders.
    tasks: u32,
    /// `map` items per round, both contenders.
    items: u32,
    /// Tasks per run of the oversubscription benchmark, mproc.
    over: u32,
    /// Tasks per run of the oversubscription benchmark, Python.
    py_over: u32,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                rounds: 3,
                apply: 2_000,
                py_apply: 100,
                tasks: 10_000,
                items: 100_000,
                over: 10_000,
                py_over: 2_000,
            }
        } else {
            Plan {
                rounds: 7,
                apply: 20_000,
                py_apply: 1_000,
                tasks: 100_000,
                items: 1_000_000,
                over: 100_000,
                py_over: 20_000,
            }
        }
    }
}

/// Workers of the pools compared (Python's too).
const WORKERS: usize = 2;
/// Workers of the oversubscribed pools.
const MANY: usize = 8;
/// Outstanding `AsyncResult`s mproc keeps: below the ring's slots.
const WINDOW: usize = {
    let w = POOL_SLOTS * 3 / 4;
    if w > 48 {
        48
    } else if w == 0 {
        1
    } else {
        w
    }
};
/// mproc `map`'s explicit chunksize row.
const CHUNK: usize = 64;
/// How long one run may take before the watchdog ends the bench.
const PATIENCE: Duration = Duration::from_secs(120);

/// The pool type of this bench (the build-time default ring).
type DefaultPool = Pool<POOL_SLOTS, POOL_TASK_BYTES>;
/// Its handle of a pending `u64` result.
type Pending<'p> = AsyncResult<'p, u64, POOL_SLOTS, POOL_TASK_BYTES>;

/// The task: trivial, so that the pool's own cost is what is timed.
fn inc(x: u64) -> u64 {
    x + 1
}

fn main() -> ExitCode {
    exit_code("pool", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let plan = Plan::from_env();
    let load = load_average();
    watchdog::install("pool")?;
    let python = Peer::start_file("bench_pool_peer.py", "pool");
    let (m, python_version) = with_peer(python, |python| benches(&plan, python))?;

    let mut out = String::new();
    machine_with_load(&mut out, "pool", python_version.as_deref(), &load);
    let _ = writeln!(
        out,
        "- method: {} rounds after a warm-up round (a tenth of the sizes); in each round the \
         contenders of a benchmark run in turn (apply: raw spin → mproc → Python; \
         apply_async: mproc → Python; map: mproc None → mproc {CHUNK} → Python; \
         oversubscription: mproc {WORKERS} and {MANY} workers, then Python {WORKERS} and \
         {MANY}, the order of the two sizes swapped every round); per-task times: median over \
         the rounds; ratios: median of the per-round ratios. Pools: mproc `Pool::new(k)` \
         (ring of {POOL_SLOTS} slots of {POOL_TASK_BYTES} bytes), Python \
         `get_context(\"fork\").Pool(k)`, made once before their first round, never timed; \
         the task is x + 1 on a u64 (Python: an int). Sizes per round: apply {} round trips \
         (Python {}), raw spin {} round trips (one untimed first; the echo child is forked \
         per run), apply_async {} tasks (mproc: a window of {WINDOW} outstanding results), \
         map {} items, oversubscription {} tasks per run (Python {}). Every run's results \
         are counted and summed and checked against 1..=N (mproc's map buffer, zeroed \
         before each run, and Python's map list item by item). Not pinned: every process \
         on every CPU.{}\n",
        plan.rounds,
        plan.apply,
        plan.py_apply,
        plan.apply,
        plan.tasks,
        plan.items,
        plan.over,
        plan.py_over,
        quick_note(),
    );
    report(&mut out, &plan, &m);
    print_report(out, started);
    Ok(())
}

/// Everything [`benches`] measured.
struct Measured {
    apply: ApplySamples,
    tasks: Pair,
    map: MapSamples,
    memory: Memory,
    over: OverSamples,
}

/// The benchmarks, in order. The memory snapshot is taken first, on the
/// pools of benchmarks 1–3 after [`warm_up`], before any other pool exists.
fn benches(plan: &Plan, python: &mut Option<Peer>) -> Result<Measured> {
    let pool = Pool::new(WORKERS)?;
    python_pool(python, WORKERS);
    guarded("the warm-up before the memory snapshot", PATIENCE, || {
        warm_up(&pool, python)
    })?;
    let memory = Memory::snapshot(&pool, python);
    let apply = bench_apply(plan, &pool, python)?;
    let tasks = bench_tasks(plan, &pool, python)?;
    let map = bench_map(plan, &pool, python)?;

    let many = Pool::new(MANY)?;
    python_pool(python, MANY);
    let over = bench_over(plan, &pool, &many, python)?;

    // A clean end: the workers finish and exit, and are reaped.
    for p in [&many, &pool] {
        p.close();
        guarded("closing the mproc pools", PATIENCE, || Ok(p.join()?))?;
    }
    for k in [MANY, WORKERS] {
        if let Some(answer) = ask_or_drop(python, &format!("close {k}"))
            && answer != "ok"
        {
            drop_peer(python, &format!("close {k}: {answer}"));
        }
    }
    Ok(Measured {
        apply,
        tasks,
        map,
        memory,
        over,
    })
}

// ------------------------------------------------------------- machinery

fn per_second(elapsed: Duration, ops: u32) -> f64 {
    f64::from(ops) / elapsed.as_secs_f64()
}

/// Checks a run's results: `count` of them summing to `1 + 2 + … + n`
/// (the results of `inc` on `0..n`).
fn check_results(who: &str, count: u64, sum: u64, n: u32) -> Result<()> {
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
struct Pair {
    mproc: Vec<f64>,
    python: Vec<f64>,
}

// ------------------------------------------------------------------ apply

/// Per-round ns per round trip.
#[derive(Default)]
struct ApplySamples {
    spin: Vec<f64>,
    mproc: Vec<f64>,
    python: Vec<f64>,
}

fn bench_apply(plan: &Plan, pool: &DefaultPool, python: &mut Option<Peer>) -> Result<ApplySamples> {
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
fn mproc_apply(pool: &DefaultPool, n: u32) -> Result<Duration> {
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
const STOP: u64 = u64::MAX;

/// `n` raw round trips: this process stores sequence number `k` in `ping`
/// and spins until `pong` holds `k`; a child forked for the run spins
/// until `ping` changes and stores what it read in `pong`. Two
/// [`Shared<AtomicU64>`]s: two `MAP_SHARED` anonymous mappings, so the two
/// words never share a cache line. One untimed round trip first.
fn spin_round_trips(n: u32) -> Result<Duration> {
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

// ------------------------------------------------------------ apply_async

fn bench_tasks(plan: &Plan, pool: &DefaultPool, python: &mut Option<Peer>) -> Result<Pair> {
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
fn mproc_tasks(pool: &DefaultPool, n: u32) -> Result<Duration> {
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

// -------------------------------------------------------------------- map

/// Per-round ns/item.
#[derive(Default)]
struct MapSamples {
    /// chunksize `None`.
    auto: Vec<f64>,
    /// chunksize [`CHUNK`].
    chunked: Vec<f64>,
    python: Vec<f64>,
}

fn bench_map(plan: &Plan, pool: &DefaultPool, python: &mut Option<Peer>) -> Result<MapSamples> {
    let mut s = MapSamples::default();
    // One buffer for every run, allocated before the first one.
    let mut out = vec![0u64; plan.items as usize];
    rounds(plan.rounds, |warm| {
        let n = size(warm, plan.items);
        let buf = &mut out[..n as usize];
        let auto = guarded("mproc map_into, chunksize None", PATIENCE, || {
            mproc_map(pool, buf, None)
        })?;
        let chunked = guarded("mproc map_into, chunksize 64", PATIENCE, || {
            mproc_map(pool, buf, Some(CHUNK))
        })?;
        let py = guarded("Python map", PATIENCE, || {
            python_run(python, "map", WORKERS, n)
        })?;
        if !warm {
            s.auto.push(ns_per_op(auto, n));
            s.chunked.push(ns_per_op(chunked, n));
            s.python.extend(py.map(|d| ns_per_op(d, n)));
        }
        Ok(())
    })?;
    Ok(s)
}

/// `map_into(inc, 0..len, out, chunksize)`; checks every item.
fn mproc_map(pool: &DefaultPool, out: &mut [u64], chunksize: Option<usize>) -> Result<Duration> {
    out.fill(0);
    let n = out.len() as u64;
    let start = Instant::now();
    let written = pool.map_into(inc, 0..n, out, chunksize)?;
    let elapsed = start.elapsed();
    if written as u64 != n {
        return Err(format!("mproc map_into: wrote {written} of {n} results").into());
    }
    if let Some(i) = (0..out.len()).find(|&i| out[i] != i as u64 + 1) {
        return Err(format!(
            "mproc map_into (chunksize {chunksize:?}): item {i} is {}, expected {}",
            out[i],
            i + 1
        )
        .into());
    }
    let sum = out.iter().sum();
    check_results("mproc map_into", n, sum, n as u32)?;
    Ok(elapsed)
}

// ------------------------------------------------------- oversubscription

/// Per-round tasks/s.
#[derive(Default)]
struct OverSamples {
    two: Vec<f64>,
    many: Vec<f64>,
    py_two: Vec<f64>,
    py_many: Vec<f64>,
    /// Where mproc's time went, per run (2 and [`MANY`] workers).
    two_sched: Vec<SchedRates>,
    many_sched: Vec<SchedRates>,
}

/// The [`Usage`] of the bench (first) and of the pool's workers, in
/// [`Pool::pids`] order; `None` when `/proc` does not tell (the
/// diagnostics then read n/a).
fn pool_usage(pool: &DefaultPool) -> Option<Vec<Usage>> {
    let me = mproc::process::getpid().as_raw();
    std::iter::once(me)
        .chain(pool.pids().iter().map(|p| p.as_raw()))
        .map(Usage::of_pid)
        .collect()
}

/// One run's [`Usage`] differences as rates.
#[derive(Clone, Copy)]
struct SchedRates {
    /// CPU time of the bench (the submitting parent) / wall time.
    parent_busy: f64,
    /// CPU time of all the workers / wall time.
    workers_busy: f64,
    /// CPU ns of all the processes per task.
    cpu_per_task: f64,
    /// The parent's involuntary switches (preempted) per 1000 tasks.
    parent_preempted: f64,
    /// The workers' voluntary switches (parked) per 1000 tasks.
    workers_parked: f64,
}

impl SchedRates {
    fn of(before: &[Usage], after: &[Usage], elapsed: Duration, tasks: u32) -> Option<SchedRates> {
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

fn bench_over(
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

// ----------------------------------------------------------------- memory

/// `apply` round trips and `apply_async` tasks of the warm-up before the
/// memory snapshot.
const WARM_TASKS: u32 = 1_000;
/// `map` items of that warm-up.
const WARM_ITEMS: u32 = 10_000;

/// The same small workload on both pools before the memory snapshot:
/// [`WARM_TASKS`] `apply`, [`WARM_TASKS`] `apply_async` + `get`, one `map`
/// of [`WARM_ITEMS`] items; every result checked, nothing timed.
fn warm_up(pool: &DefaultPool, python: &mut Option<Peer>) -> Result<()> {
    mproc_apply(pool, WARM_TASKS)?;
    mproc_tasks(pool, WARM_TASKS)?;
    mproc_map(pool, &mut vec![0; WARM_ITEMS as usize], None)?;
    python_run(python, "apply", WORKERS, WARM_TASKS)?;
    python_run(python, "async", WORKERS, WARM_TASKS)?;
    python_run(python, "map", WORKERS, WARM_ITEMS)?;
    Ok(())
}

/// The memory snapshot: one worker and the owner of each pool.
struct Memory {
    worker: Option<Footprint>,
    parent: Option<Footprint>,
    py_worker: Option<Footprint>,
    py_parent: Option<Footprint>,
    /// How many processes each side had (owner + workers).
    processes: (usize, Option<usize>),
}

impl Memory {
    fn snapshot(pool: &DefaultPool, python: &mut Option<Peer>) -> Memory {
        let pids = pool.pids();
        let worker = pids.first().and_then(|p| Footprint::of("pool", p.as_raw()));
        let parent = Footprint::of("pool", mproc::process::getpid().as_raw());
        let py_pids: Option<Vec<i32>> = ask_or_drop(python, &format!("pids {WORKERS}"))
            .and_then(|a| a.split_whitespace().map(|w| w.parse().ok()).collect());
        let (py_parent, py_worker) = match py_pids.as_deref() {
            Some([parent, first, ..]) => (
                Footprint::of("pool", *parent),
                Footprint::of("pool", *first),
            ),
            _ => (None, None),
        };
        Memory {
            worker,
            parent,
            py_worker,
            py_parent,
            processes: (pids.len() + 1, py_pids.map(|p| p.len())),
        }
    }
}

// ----------------------------------------------------------------- Python

/// Makes the peer's pool of `k` workers now, so that no timed command
/// forks it.
fn python_pool(python: &mut Option<Peer>, k: usize) {
    if let Some(answer) = ask_or_drop(python, &format!("pool {k}"))
        && answer != "ok"
    {
        drop_peer(python, &format!("pool {k}: {answer}"));
    }
}

/// Runs `cmd` (`apply`, `async`, `map`) on the peer's pool of `workers`
/// for `n` items: its time, or nothing without a (working) peer. Wrong
/// results fail the bench.
fn python_run(
    python: &mut Option<Peer>,
    cmd: &str,
    workers: usize,
    n: u32,
) -> Result<Option<Duration>> {
    let Some([ns, count, sum]) = ask_numbers(python, &format!("{cmd} {workers} {n}")) else {
        return Ok(None);
    };
    check_results(&format!("Python Pool({workers}) {cmd}"), count, sum, n)?;
    Ok(Some(Duration::from_nanos(ns)))
}

// ----------------------------------------------------------------- report

/// Python's default `map` chunksize for `n` items on `k` workers
/// (`multiprocessing.pool.Pool._map_async`).
fn python_chunksize(n: u32, k: usize) -> u32 {
    n.div_ceil(k as u32 * 4)
}

fn report(out: &mut String, plan: &Plan, m: &Measured) {
    // 1–3: per task, against Python.
    let a = &m.apply;
    let t = &m.tasks;
    let mp = &m.map;
    let _ = writeln!(
        out,
        "| benchmark (Pool({WORKERS}), task x + 1) | mproc ns/task | Python ns/task | Python/mproc | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|---|");
    let rows: [(String, &[f64], &[f64], f64); 4] = [
        (
            "`apply` round trip, one task at a time".into(),
            &a.mproc,
            &a.python,
            100.0,
        ),
        (
            format!(
                "`apply_async` + `get`, {} tasks (mproc: window of {WINDOW}; Python: all \
                 submitted, then all got)",
                plan.tasks
            ),
            &t.mproc,
            &t.python,
            60.0,
        ),
        (
            format!(
                "`map`, {} items: mproc `map_into` chunksize None; Python default \
                 chunksize ({})",
                plan.items,
                python_chunksize(plan.items, WORKERS)
            ),
            &mp.auto,
            &mp.python,
            10.0,
        ),
        (
            format!(
                "`map`, {} items: mproc `map_into` chunksize {CHUNK}; Python default \
                 chunksize ({})",
                plan.items,
                python_chunksize(plan.items, WORKERS)
            ),
            &mp.chunked,
            &mp.python,
            10.0,
        ),
    ];
    for (bench, ours, py, limit) in rows {
        let r = paired_ratio(py, ours);
        let target = check("Python/mproc", r, false, limit);
        let _ = writeln!(
            out,
            "| {bench} | {} | {} | {} | {} | {} |",
            cell(median(ours)),
            cell(median(py)),
            ratio_cell(r),
            target.0,
            verdict(&target),
        );
    }

    // 1 again: against the floor.
    let r = paired_ratio(&a.mproc, &a.spin);
    let target = check("mproc/spin", r, true, 3.0);
    let _ = writeln!(
        out,
        "\n| benchmark | mproc `apply` ns/rt | raw spin ns/rt | mproc/spin | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|---|");
    let _ = writeln!(
        out,
        "| round trip to another process: `Pool({WORKERS}).apply(inc, i)` vs a raw \
         `Shared<AtomicU64>` spin echo | {} | {} | {} | {} | {} |",
        cell(median(&a.mproc)),
        cell(median(&a.spin)),
        ratio_cell(r),
        target.0,
        verdict(&target),
    );

    // 4: oversubscription.
    let o = &m.over;
    let _ = writeln!(
        out,
        "\n| oversubscription on {} CPUs: `apply_async` + `get` | {WORKERS} workers tasks/s | \
         {MANY} workers tasks/s | {MANY}w/{WORKERS}w | target | result |",
        mproc::process::cpu_count().map_or_else(|_| "?".into(), |n| n.to_string()),
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|---|");
    let r = paired_ratio(&o.many, &o.two);
    let target = check(&format!("{MANY}w/{WORKERS}w"), r, false, 0.5);
    let _ = writeln!(
        out,
        "| mproc, {} tasks per run, window of {WINDOW} | {} | {} | {} | no collapse: {} | {} |",
        plan.over,
        cell(median(&o.two)),
        cell(median(&o.many)),
        ratio_cell(r),
        target.0,
        verdict(&target),
    );
    let _ = writeln!(
        out,
        "| Python (reference), {} tasks per run, all submitted then all got | {} | {} | {} | — | — |",
        plan.py_over,
        cell(median(&o.py_two)),
        cell(median(&o.py_many)),
        ratio_cell(paired_ratio(&o.py_many, &o.py_two)),
    );
    let _ = writeln!(
        out,
        "\nWhere mproc's time goes (per run: the CPU clocks (clock_getcpuclockid) and \
         /proc/<pid>/status context switches of the bench and the pool's workers, read \
         before and after the timed loop; medians over the rounds; CPUs busy = CPU time / \
         wall time; preempted = involuntary switches, parks = voluntary ones):\n"
    );
    let _ = writeln!(
        out,
        "| workers | tasks/s | parent CPUs busy | workers CPUs busy | CPU ns per task (all) | parent preempted per 1000 tasks | worker parks per 1000 tasks |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|");
    for (k, tps, rates) in [
        (WORKERS, &o.two, &o.two_sched),
        (MANY, &o.many, &o.many_sched),
    ] {
        let pick = |f: fn(&SchedRates) -> f64| median(&rates.iter().map(f).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "| {k} | {} | {} | {} | {} | {} | {} |",
            cell(median(tps)),
            ratio_cell(pick(|r| r.parent_busy)),
            ratio_cell(pick(|r| r.workers_busy)),
            cell(pick(|r| r.cpu_per_task)),
            cell(pick(|r| r.parent_preempted)),
            cell(pick(|r| r.workers_parked)),
        );
    }

    // 5: memory.
    let mem = &m.memory;
    let ratio = |py: Option<Footprint>, ours: Option<Footprint>, f: fn(Footprint) -> f64| match (
        py, ours,
    ) {
        (Some(p), Some(o)) => Some(f(p) / f(o)),
        _ => None,
    };
    let _ = writeln!(
        out,
        "\n| memory (KiB, /proc/<pid>/smaps_rollup) after {WARM_TASKS} `apply`, {WARM_TASKS} \
         `apply_async` + `get` and a `map` of {WARM_ITEMS} items | mproc USS | Python USS | \
         Python/mproc | mproc PSS | Python PSS | Python/mproc |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
    for (who, ours, py) in [
        ("one pool worker", mem.worker, mem.py_worker),
        ("the pool's owner (parent)", mem.parent, mem.py_parent),
    ] {
        let _ = writeln!(
            out,
            "| {who} | {} | {} | {} | {} | {} | {} |",
            cell(ours.map(|u| u.uss)),
            cell(py.map(|u| u.uss)),
            ratio_cell(ratio(py, ours, |u| u.uss)),
            cell(ours.map(|u| u.pss)),
            cell(py.map(|u| u.pss)),
            ratio_cell(ratio(py, ours, |u| u.pss)),
        );
    }
    let _ = writeln!(
        out,
        "\nUSS = Private_Clean + Private_Dirty (pages no other process maps); PSS shares \
         each page among the processes mapping it. Every worker is a fork of its owner, so \
         pages neither has written since the fork count in PSS, not in USS. Processes per \
         side: mproc {}, Python {} (the owner and its workers; the mproc owner is this \
         bench, the Python owner the peer with the pool's three handler threads).",
        mem.processes.0,
        mem.processes
            .1
            .map_or_else(|| "n/a".to_owned(), |n| n.to_string()),
    );

    // Spread.
    let over = "oversubscription (tasks/s)";
    let rows: [(&str, String, &[f64]); 12] = [
        ("apply (ns/rt)", "mproc".into(), &a.mproc),
        ("apply (ns/rt)", "raw spin".into(), &a.spin),
        ("apply (ns/rt)", "Python".into(), &a.python),
        ("apply_async + get (ns/task)", "mproc".into(), &t.mproc),
        ("apply_async + get (ns/task)", "Python".into(), &t.python),
        ("map (ns/item)", "mproc chunksize None".into(), &mp.auto),
        (
            "map (ns/item)",
            format!("mproc chunksize {CHUNK}"),
            &mp.chunked,
        ),
        ("map (ns/item)", "Python".into(), &mp.python),
        (over, format!("mproc {WORKERS} workers"), &o.two),
        (over, format!("mproc {MANY} workers"), &o.many),
        (over, format!("Python {WORKERS} workers"), &o.py_two),
        (over, format!("Python {MANY} workers"), &o.py_many),
    ];
    spread_table(out, "Spread over the rounds (min–max):", rows);
}
