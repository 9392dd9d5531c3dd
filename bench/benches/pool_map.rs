//! `Pool.map` of 100,000 paths to `String`s: mproc's pool with serde
//! values against Python's `multiprocessing.Pool.map` of the same, and, as
//! references, rayon in one process and a plain loop.
//!
//! The task maps a path (`"/srv/data/file-00042.txt"`) to its file stem
//! (`"file-00042"`), a new `String`: trivial, so that what is timed is the
//! pool's own cost of moving strings to workers and back.
//!
//! - **mproc**: `Pool::new(2)` and `Pool::map_values(stem, paths, None)`
//!   (Python's default chunksize rule, each chunk also bounded by the slot:
//!   arguments fill at most half of one), once with the default slots
//!   (`MPROC_POOL_TASK_BYTES`, 2 KiB: about 30 paths per chunk) and once
//!   with 16 KiB slots (`build_sized::<64, 16384>`: up to 248 paths per
//!   chunk), to show the knob.
//! - **Python**: `ctx.Pool(2).map(stem, paths)` with
//!   `stem(p) = os.path.splitext(os.path.basename(p))[0]`, fork context,
//!   default chunksize (`bench/bench_pool_map_peer.py`).
//! - **rayon** (reference, threads in one process):
//!   `paths.into_par_iter().map(stem).collect()` on a two-thread pool. It
//!   runs in a child forked for each run, so that this process stays
//!   single-threaded (mproc forks only from a single-threaded process);
//!   the child times itself and sends the time back through a pipe.
//! - **loop** (reference): `paths.into_iter().map(stem).collect()` here.
//!
//! Each run gets a fresh copy of the input, made before the clock starts
//! (Python builds its list untimed too); the results are checked item by
//! item after the clock stops. Each round runs every contender once, in the
//! order above; the table shows the median and the 90th percentile over
//! the rounds, and ratios as the median of the per-round ratios. A
//! watchdog (`alarm`) stops the bench, naming the contender, if a run takes
//! more than a minute; the children and the Python peer die with it.
//!
//! Run it with `cargo bench -p mproc-bench --bench pool_map`.
//! `MPROC_BENCH_QUICK=1` shrinks it to a smoke run (10,000 paths, two
//! rounds); `MPROC_BENCH_PYTHON` names the interpreter (default `python3`;
//! without one the Python cells read "n/a").

#![allow(unsafe_code)] // The shared helpers' watchdog calls libc.

#[path = "../../benches/common/mod.rs"]
#[allow(dead_code)] // This bench uses the peer and a few helpers, not all.
mod common;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::{
    Peer, Result, ask_numbers, cell, exit_code, machine_with_load, median, paired_ratio,
    percentile, print_report, quick_note, quick_run, ratio_cell, watchdog, with_peer,
};
use mproc::ipc::Pipe;
use mproc::pool::Pool;
use mproc::process::Process;
use rayon::prelude::*;

/// Workers of the pools (and rayon's threads).
const WORKERS: usize = 2;
/// How long one run may take before the watchdog ends the bench.
const PATIENCE: Duration = Duration::from_secs(60);

/// The task: a path's file name without its extension.
fn stem(path: String) -> String {
    let name = path.rsplit('/').next().unwrap_or("");
    match name.rfind('.') {
        Some(dot) if dot > 0 => name[..dot].to_string(),
        _ => name.to_string(),
    }
}

fn paths(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("/srv/data/file-{i:05}.txt"))
        .collect()
}

/// Checks every result, after the clock stopped.
fn check(what: &str, results: &[String], n: usize) -> Result<()> {
    if results.len() != n {
        return Err(format!("{what}: {} results for {n} paths", results.len()).into());
    }
    for (i, r) in results.iter().enumerate() {
        if *r != format!("file-{i:05}") {
            return Err(format!("{what}: result {i} is {r:?}").into());
        }
    }
    Ok(())
}

/// Milliseconds of one timed run of `f` on a fresh copy of `input`.
fn timed(
    what: &'static str,
    input: &[String],
    f: impl FnOnce(Vec<String>) -> Result<Vec<String>>,
) -> Result<f64> {
    let items = input.to_vec();
    let (elapsed, results) = common::guarded(what, PATIENCE, || {
        let start = Instant::now();
        let results = f(items)?;
        Ok((start.elapsed(), results))
    })?;
    check(what, &results, input.len())?;
    Ok(elapsed.as_secs_f64() * 1e3)
}

/// rayon's run, in a forked child (rayon starts threads): milliseconds.
fn rayon_run(input: &[String]) -> Result<f64> {
    let (here, there) = Pipe::simplex()?;
    let items = input.to_vec();
    let n = input.len();
    let mut child = Process::new(move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(WORKERS)
            .build()
            .expect("rayon");
        // The threads are started before the clock, as a pool's workers are.
        pool.install(|| rayon::join(|| (), || ()));
        let start = Instant::now();
        let results: Vec<String> = pool.install(|| items.into_par_iter().map(stem).collect());
        let ns = start.elapsed().as_nanos() as u64;
        let ok = check("rayon", &results, n).is_ok();
        let _ = there.send(&if ok { ns } else { u64::MAX });
    });
    let ns = common::guarded("rayon", PATIENCE, || {
        child.start()?;
        let ns: u64 = here.recv()?;
        child.join()?;
        Ok(ns)
    })?;
    if ns == u64::MAX {
        return Err("rayon: wrong results".into());
    }
    Ok(ns as f64 / 1e6)
}

/// The samples of each contender, in milliseconds per run.
#[derive(Default)]
struct Samples {
    mproc: Vec<f64>,
    mproc_16k: Vec<f64>,
    python: Vec<f64>,
    rayon: Vec<f64>,
    serial: Vec<f64>,
}

fn benches(n: usize, rounds: usize, python: &mut Option<Peer>) -> Result<Samples> {
    let input = paths(n);
    let pool = Pool::new(WORKERS)?;
    let pool_16k = Pool::builder()
        .processes(WORKERS)
        .build_sized::<64, 16384>()?;
    if let Some(peer) = python.as_mut()
        && peer.ask(&format!("pool {WORKERS}")).ok().as_deref() != Some("ok")
    {
        common::drop_peer(python, "no pool");
    }
    let mut s = Samples::default();
    for round in 0..=rounds {
        // Round 0 warms every contender up and is not recorded.
        let (input, keep) = if round == 0 {
            (&input[..n / 10 + 1], false)
        } else {
            (&input[..], true)
        };
        let m = timed("mproc map_values", input, |items| {
            Ok(pool.map_values(stem, items, None)?)
        })?;
        let m16 = timed("mproc map_values, 16 KiB slots", input, |items| {
            Ok(pool_16k.map_values(stem, items, None)?)
        })?;
        let py = ask_numbers::<u64, 3>(python, &format!("map {}", input.len()));
        let r = rayon_run(input)?;
        let l = timed("loop", input, |items| {
            Ok(items.into_iter().map(stem).collect())
        })?;
        if keep {
            s.mproc.push(m);
            s.mproc_16k.push(m16);
            if let Some([ns, count, _]) = py
                && count as usize == n
            {
                s.python.push(ns as f64 / 1e6);
            }
            s.rayon.push(r);
            s.serial.push(l);
        }
    }
    Ok(s)
}

fn run() -> Result<()> {
    let started = Instant::now();
    watchdog::install("pool_map")?;
    let load = common::load_average();
    let (n, rounds) = if quick_run() {
        (10_000, 2)
    } else {
        (100_000, 11)
    };
    let python = Peer::start_script(
        concat!(env!("CARGO_MANIFEST_DIR"), "/bench_pool_map_peer.py"),
        "pool_map",
    );
    let (s, version) = with_peer(python, |python| benches(n, rounds, python))?;

    let mut out = String::new();
    machine_with_load(
        &mut out,
        "Pool.map of paths to strings",
        version.as_deref(),
        &load,
    );
    let _ = writeln!(
        out,
        "- method: {n} paths (\"/srv/data/file-00042.txt\") mapped to their file stems \
         (a new String each), {WORKERS} workers (rayon: {WORKERS} threads); {rounds} rounds \
         after a warm-up round, every contender once per round; ms per map, input copied \
         before the clock, every result checked after it.{}",
        quick_note()
    );
    let python_ms = (!s.python.is_empty()).then_some(&s.python);
    let rows: [(&str, &Vec<f64>); 5] = [
        ("mproc `map_values` (2 KiB slots, default)", &s.mproc),
        ("mproc `map_values` (16 KiB slots)", &s.mproc_16k),
        ("Python `Pool.map`", &s.python),
        (
            "rayon `into_par_iter().map` (threads, one process)",
            &s.rayon,
        ),
        ("plain loop (one thread)", &s.serial),
    ];
    let _ = writeln!(
        out,
        "\n| contender | median ms | p90 ms | Python ÷ this | this ÷ rayon |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (name, v) in rows {
        let vs_python = python_ms.and_then(|p| paired_ratio(p, v));
        let vs_rayon = paired_ratio(v, &s.rayon);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            cell(median(v)),
            cell(percentile(v, 90.0)),
            ratio_cell(vs_python),
            ratio_cell(vs_rayon)
        );
    }
    print_report(out, started);
    Ok(())
}

fn main() -> ExitCode {
    exit_code("pool_map", run())
}
