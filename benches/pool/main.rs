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

#[path = "../common/mod.rs"]
#[allow(dead_code)] // This bench uses the peer and a few helpers, not all.
mod common;

mod apply;
mod apply_async;
mod machinery;
mod map;
mod memory;
mod oversubscription;
mod python;
mod report;

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

use apply::*;
use apply_async::*;
use machinery::*;
use map::*;
use memory::*;
use oversubscription::*;
use python::*;
use report::*;

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
