//! Async forms (feature `tokio`) against the blocking ones, in one run,
//! on a tokio current-thread runtime:
//!
//! 1. **A pool result**: `apply_async(square, i)` then, blocking,
//!    `.get()` (which spins up to 200 µs, then parks in `poll`), against
//!    `.await` on it inside `block_on` (the pool's watch registered with
//!    the reactor, woken by the worker's eventfd); µs per task, one task
//!    at a time, two workers.
//! 2. **A queue round trip**: a child process echoes every item from a
//!    `Queue<u64, 16>` to a second one; `put` + `get` against `put_async`
//!    + `get_async`; µs per round trip.
//!
//! Each round runs both contenders once, interleaved, so drift hits both
//! alike; the tables show the median and the 90th percentile over the
//! rounds, and the ratio as the median of the per-round ratios.
//!
//! Run it with `cargo bench --bench aio --features tokio`.
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test.

#![allow(unsafe_code)] // The watchdog and the CPU clocks of `common` call libc directly.

#[path = "common/mod.rs"]
#[allow(dead_code)] // Each bench uses part of it.
mod common;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::*;
use mproc::ipc::Queue;
use mproc::pool::Pool;
use mproc::process::Process;

/// How long one contender may take before the bench gives up on it.
const PATIENCE: Duration = Duration::from_secs(120);

struct Plan {
    rounds: usize,
    tasks: u32,
    pings: u32,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                rounds: 3,
                tasks: 500,
                pings: 1_000,
            }
        } else {
            Plan {
                rounds: 21,
                tasks: 20_000,
                pings: 50_000,
            }
        }
    }
}

#[derive(Default)]
struct Pair {
    blocking: Vec<f64>,
    awaited: Vec<f64>,
}

fn square(x: u64) -> u64 {
    x * x
}

fn main() -> ExitCode {
    exit_code("aio", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    watchdog::install("aio")?;
    let plan = Plan::from_env();
    let load = load_average();
    // Fork first (the pool, the echo child), then the runtime.
    let pool = Pool::new(2)?;
    let ping = Queue::<u64, 16>::new()?;
    let pong = Queue::<u64, 16>::new()?;
    let (pi, po) = (&*ping, &*pong);
    let mut echo = Process::new(move || {
        while let Ok(v) = pi.get() {
            if po.put(v).is_err() {
                break;
            }
        }
    })
    .daemon(true);
    echo.start()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let mut results = Pair::default();
    let mut trips = Pair::default();
    rounds(plan.rounds, |warm| {
        let n = size(warm, plan.tasks);
        let blocking = guarded("blocking get", PATIENCE, || {
            let start = Instant::now();
            for i in 0..u64::from(n) {
                if pool.apply_async(square, i)?.get()? != i * i {
                    return Err("blocking: a wrong result".into());
                }
            }
            Ok(per_op_us(start.elapsed(), n))
        })?;
        let awaited = guarded("awaited result", PATIENCE, || {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..u64::from(n) {
                    if pool.apply_async(square, i)?.await? != i * i {
                        return Err("awaited: a wrong result".into());
                    }
                }
                Ok::<_, Error>(per_op_us(start.elapsed(), n))
            })
        })?;
        let m = size(warm, plan.pings);
        let blocking_trip = guarded("blocking round trip", PATIENCE, || {
            let start = Instant::now();
            for i in 0..u64::from(m) {
                ping.put(i)?;
                if pong.get()? != i {
                    return Err("blocking: the wrong item came back".into());
                }
            }
            Ok(per_op_us(start.elapsed(), m))
        })?;
        let awaited_trip = guarded("awaited round trip", PATIENCE, || {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..u64::from(m) {
                    ping.put_async(i).await?;
                    if pong.get_async().await? != i {
                        return Err("awaited: the wrong item came back".into());
                    }
                }
                Ok::<_, Error>(per_op_us(start.elapsed(), m))
            })
        })?;
        if !warm {
            results.blocking.push(blocking);
            results.awaited.push(awaited);
            trips.blocking.push(blocking_trip);
            trips.awaited.push(awaited_trip);
        }
        Ok(())
    })?;
    ping.close();
    echo.join()?;

    let mut out = String::new();
    machine_with_load(&mut out, "aio", None, &load);
    let _ = writeln!(
        out,
        "- method: {} rounds after a warm-up round; {} pool tasks and {} queue round trips \
         per contender and round, one at a time; tokio current-thread runtime; the pool \
         (2 workers) and the echo process forked before it; unpinned.{}\n",
        plan.rounds,
        plan.tasks,
        plan.pings,
        quick_note()
    );
    table(
        &mut out,
        "1. A pool result: blocking `get` vs `.await`",
        "µs/task",
        &results,
    );
    table(
        &mut out,
        "2. A queue round trip: `put` + `get` vs `put_async` + `get_async`",
        "µs/round trip",
        &trips,
    );
    spread_table(
        &mut out,
        "Spread (min–max over the rounds)",
        [
            (
                "pool result".to_owned(),
                "blocking µs",
                results.blocking.as_slice(),
            ),
            (
                "pool result".to_owned(),
                "awaited µs",
                results.awaited.as_slice(),
            ),
            (
                "queue round trip".to_owned(),
                "blocking µs",
                trips.blocking.as_slice(),
            ),
            (
                "queue round trip".to_owned(),
                "awaited µs",
                trips.awaited.as_slice(),
            ),
        ],
    );
    print_report(out, started);
    Ok(())
}

fn table(out: &mut String, title: &str, unit: &str, p: &Pair) {
    let _ = writeln!(out, "### {title}\n");
    let _ = writeln!(out, "| contender | {unit} median | p90 |");
    let _ = writeln!(out, "|---|--:|--:|");
    for (who, s) in [("blocking", &p.blocking), ("awaited", &p.awaited)] {
        let _ = writeln!(
            out,
            "| {who} | {} | {} |",
            cell(median(s)),
            cell(percentile(s, 90.0))
        );
    }
    let _ = writeln!(
        out,
        "\nRatio awaited / blocking (median of per-round ratios): {}\n",
        ratio_cell(paired_ratio(&p.awaited, &p.blocking))
    );
}
