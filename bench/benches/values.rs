//! Values of any serde type between two processes: one-way throughput of a
//! 64-byte struct holding a `String`, through mproc's serde channels,
//! ipc-channel's serde channel and Python's `Queue` of the same dict, in
//! one run, reported as messages per second and ratios.
//!
//! A producer forked for each run sends `M` records, each with its
//! sequence number; the bench receives and checks every one (a lost,
//! repeated, reordered or altered record fails the bench), timed from the
//! go (given once the producer is set up and waiting) to the last record.
//!
//! - mproc: `ValueQueue<Record>` made with `new()`, as Python's `Queue()`
//!   (a shared-memory ring of variable-length records, 1 MiB, each value
//!   encoded with postcard straight into its record), and a
//!   `Pipe` (`send_value`/`recv_value`, encoded into a reused buffer).
//! - ipc-channel: `ipc::channel::<Record>()` (bincode over a Unix socket),
//!   made before the fork.
//! - Python: `multiprocessing.Queue()` of the dict `{"seq", "stamp",
//!   "name", "flags", "score"}` (bench/bench_values_peer.py).
//!
//! Each round runs every contender once, interleaved; the table shows the
//! median and p90 over the rounds, ratios are medians of per-round ratios.
//! `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test;
//! `MPROC_BENCH_PYTHON` names the interpreter (default `python3`).

#![allow(unsafe_code)] // The shared bench helpers (watchdog, CPU usage) call libc directly.

#[path = "../../benches/common/mod.rs"]
#[allow(dead_code)] // This bench uses a few of the helpers, not all.
mod common;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::{
    Peer, Result, Stage, cell, check, exit_code, machine_with_load, median, paired_ratio,
    percentile, print_report, quick_note, quick_run, ratio_cell, rounds, verdict,
};
use mproc::ipc::{Pipe, ValueQueue};
use mproc::process::Process;
use serde::{Deserialize, Serialize};

/// The value carried: 64 bytes in memory, a 32-character `String` inside
/// (about 50 bytes encoded with postcard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    seq: u64,
    stamp: u64,
    name: String,
    score: f64,
    flags: u32,
    kind: u32,
    parent: u64,
}

const NAME: &str = "worker-0042/queue/values-bench..";
const _: () = assert!(std::mem::size_of::<Record>() == 64);

fn record(seq: u64) -> Record {
    Record {
        seq,
        stamp: seq * 7,
        name: NAME.to_owned(),
        score: 0.5,
        flags: 3,
        kind: 1,
        parent: 0,
    }
}

fn expect(got: &Record, seq: u64) -> Result<()> {
    if got.seq != seq || got.stamp != seq * 7 || got.name != NAME {
        return Err(format!("record {seq}: got {got:?}").into());
    }
    Ok(())
}

/// How long one run may take before it counts as hung.
const PATIENCE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    exit_code("values", run())
}

struct Samples {
    queue: Vec<f64>,
    pipe: Vec<f64>,
    ipc_channel: Vec<f64>,
    python: Vec<f64>,
}

fn run() -> Result<()> {
    let started = Instant::now();
    let load = common::load_average();
    let (round_count, messages, py_messages) = if quick_run() {
        (2, 2_000, 500)
    } else {
        (9, 200_000, 50_000)
    };
    let mut python = Peer::start_script(
        &format!("{}/bench_values_peer.py", env!("CARGO_MANIFEST_DIR")),
        "values",
    );
    let python_version = common::peer_version(&mut python);
    let mut s = Samples {
        queue: Vec::new(),
        pipe: Vec::new(),
        ipc_channel: Vec::new(),
        python: Vec::new(),
    };
    let result = rounds(round_count, |warm| {
        let n = common::size(warm, messages);
        let rate = |d: Duration, n: u32| f64::from(n) / d.as_secs_f64();
        let q = rate(queue_stream(n)?, n);
        let p = rate(pipe_stream(n)?, n);
        let c = rate(ipc_channel_stream(n)?, n);
        let py_n = common::size(warm, py_messages);
        let py = common::ask_or_drop(&mut python, &format!("queue_oneway {py_n}"))
            .and_then(|a| a.parse::<f64>().ok())
            .map(|ns| f64::from(py_n) / (ns / 1e9));
        if !warm {
            s.queue.push(q);
            s.pipe.push(p);
            s.ipc_channel.push(c);
            s.python.extend(py);
        }
        Ok(())
    });
    if let Some(peer) = python {
        peer.quit();
    }
    result?;

    let mut out = String::new();
    machine_with_load(&mut out, "serde values", python_version.as_deref(), &load);
    let _ = writeln!(
        out,
        "- method: {round_count} rounds after a warm-up round; each round runs every contender \
         once. One-way: {messages} records (Python {py_messages}) of a 64-byte struct with a \
         32-character String from a forked producer, timed from the go to the last one \
         received, every record checked. Figures: messages per second, median and p90 over \
         the rounds (p90: the slowest tenth); ratios: median of the per-round ratios.{}\n",
        quick_note()
    );
    let _ = writeln!(
        out,
        "| one-way, 64-byte record | msgs/s median | msgs/s p90 |"
    );
    let _ = writeln!(out, "|---|---:|---:|");
    for (name, v) in [
        ("mproc ValueQueue (shared memory)", &s.queue),
        ("mproc Pipe send_value", &s.pipe),
        ("ipc-channel channel::<Record>", &s.ipc_channel),
        ("Python Queue of the dict", &s.python),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} |",
            cell(median(v).map(|r| r / 1e3)).to_string() + " k",
            cell(percentile(v, 10.0).map(|r| r / 1e3)).to_string() + " k",
        );
    }
    let vs_channel = paired_ratio(&s.queue, &s.ipc_channel);
    let vs_python = paired_ratio(&s.queue, &s.python);
    let _ = writeln!(out, "\n| ratio | median | target |");
    let _ = writeln!(out, "|---|---:|---|");
    let target = check("ValueQueue / ipc-channel", vs_channel, false, 10.0);
    let _ = writeln!(
        out,
        "| ValueQueue / ipc-channel (throughput) | {} | ≥ 10× {} |",
        ratio_cell(vs_channel),
        verdict(&target)
    );
    let _ = writeln!(
        out,
        "| ValueQueue / Pipe send_value | {} | — |",
        ratio_cell(paired_ratio(&s.queue, &s.pipe))
    );
    let _ = writeln!(
        out,
        "| ValueQueue / Python Queue | {} | — |",
        ratio_cell(vs_python)
    );
    print_report(out, started);
    Ok(())
}

// --------------------------------------------------------------- one-way

/// Forks a producer that waits for the go, then calls `put(i)` for
/// `0..n`; the bench waits until it is ready, gives the go and calls
/// `take(i)` for `0..n`. The time from the go to the last `take`.
fn stream(
    n: u32,
    put: impl Fn(u64) -> Result<()>,
    mut take: impl FnMut(u64) -> Result<()>,
) -> Result<Duration> {
    let stage = Stage::new()?;
    let mut producer = Process::new(|| {
        let sent = stage.wait(0).and_then(|()| {
            stage.reach(1);
            stage.wait(2)?;
            (0..u64::from(n)).try_for_each(&put)
        });
        if let Err(e) = sent {
            eprintln!("bench values: producer: {e}");
            mproc::process::exit(1);
        }
    })
    .daemon(true);
    producer.start()?;
    let timed = stage.wait(1).and_then(|()| {
        let start = Instant::now();
        stage.reach(2);
        for i in 0..u64::from(n) {
            take(i)?;
        }
        Ok(start.elapsed())
    });
    if timed.is_err() {
        let _ = producer.kill();
    }
    let code = producer.join_timeout(PATIENCE)?;
    let elapsed = timed?;
    match code {
        Some(0) => Ok(elapsed),
        Some(code) => Err(format!("the producer exited with {code}").into()),
        None => {
            let _ = producer.kill();
            let _ = producer.join();
            Err("the producer hung".into())
        }
    }
}

fn queue_stream(n: u32) -> Result<Duration> {
    let q = ValueQueue::<Record>::new()?;
    stream(n, |i| Ok(q.put(&record(i))?), |i| expect(&q.get()?, i))
}

fn pipe_stream(n: u32) -> Result<Duration> {
    let (rx, tx) = Pipe::duplex()?;
    stream(
        n,
        |i| Ok(tx.send_value(&record(i))?),
        |i| expect(&rx.recv_value::<Record>()?, i),
    )
}

fn ipc_channel_stream(n: u32) -> Result<Duration> {
    let (tx, rx) = ipc_channel::ipc::channel::<Record>()?;
    stream(
        n,
        |i| Ok(tx.send(record(i))?),
        |i| expect(&rx.recv().map_err(|e| format!("{e:?}"))?, i),
    )
}
