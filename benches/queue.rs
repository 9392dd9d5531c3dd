//! Queue benchmarks (feature `serde`): the variable-length
//! [`RecordQueue`] and the serde [`ValueQueue`] against the fixed
//! [`Queue`], in one run.
//!
//! 1. **Throughput by message size**: a producer process puts `N`
//!    messages of 16 B to 4 KiB ([`RecordQueue::put`] of borrowed bytes)
//!    into a queue of the default 1 MiB, a consumer process gets each into
//!    a reused buffer ([`RecordQueue::get_into`]) and checks its length;
//!    timed from the release of both (a start barrier, so the forks are not
//!    counted) to the last one done. Messages/s and bytes/s per size.
//! 2. **Round trip, a 64-byte struct with a `String`**: process A puts a
//!    value, B gets it and puts it back on a second queue, A gets it; µs
//!    per round trip, timed in A after one untimed round trip. The serde
//!    [`ValueQueue<Msg>`] (postcard, encoded into the record and decoded
//!    from it; `Msg` is an id, a 24-character name and 32 bytes of data,
//!    64 bytes in memory counting the `String`'s own 24) against the fixed
//!    `Queue<[u8; 64], 16>` copying 64 bytes, in the same round. Target:
//!    serde ≤ 2× fixed.
//!
//! Each round runs every contender once, interleaved, so drift hits all of
//! them alike; the tables show the median and the 90th percentile over the
//! rounds, and ratios as the median of the per-round ratios. Unpinned: the
//! producer and consumer each want a CPU.
//!
//! Run it with `cargo bench --bench queue --features serde`.
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test.

#![allow(unsafe_code)] // The watchdog and the CPU clocks of `common` call libc directly.

#[path = "common/mod.rs"]
#[allow(dead_code)] // Each bench uses part of it.
mod common;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mproc::ipc::{Queue, RecordQueue, ValueQueue};
use mproc::process::Process;
use mproc::shm::Shared;
use serde::{Deserialize, Serialize};

/// Message sizes of benchmark 1.
const SIZES: [usize; 5] = [16, 64, 256, 1024, 4096];
/// How long a child may take before the bench gives up on it.
const PATIENCE: Duration = Duration::from_secs(60);

/// Sizes of one run.
struct Plan {
    rounds: usize,
    /// Bytes per throughput run (messages: this over the size, at most
    /// `max_msgs`).
    bytes: usize,
    max_msgs: usize,
    /// Round trips per round.
    pings: u32,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                rounds: 3,
                bytes: 4 << 20,
                max_msgs: 20_000,
                pings: 2_000,
            }
        } else {
            Plan {
                rounds: 11,
                bytes: 64 << 20,
                max_msgs: 400_000,
                pings: 20_000,
            }
        }
    }

    fn messages(&self, size: usize) -> usize {
        (self.bytes / size).min(self.max_msgs)
    }
}

/// The round-trip value: an id, a name and some data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Msg {
    id: u64,
    name: String,
    data: [u8; 32],
}

fn main() -> ExitCode {
    exit_code("queue", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    watchdog::install("queue")?;
    let plan = Plan::from_env();
    let load = load_average();
    let throughput = bench_throughput(&plan)?;
    let pings = bench_ping(&plan)?;
    let mut out = String::new();
    machine_with_load(&mut out, "queue", None, &load);
    let _ = writeln!(
        out,
        "- method: {} rounds after a warm-up round; throughput: up to {} MiB or {} messages \
         per size and round, producer and consumer processes released together, timed to \
         the last one done; round trip: {} per round, timed in A after one untimed trip; \
         unpinned.{}\n",
        plan.rounds,
        plan.bytes >> 20,
        plan.max_msgs,
        plan.pings,
        quick_note()
    );
    report(&mut out, &throughput, &pings);
    print_report(out, started);
    Ok(())
}

// ------------------------------------------------------------- throughput

/// Per size: ns per message, per round.
type Throughput = Vec<(usize, Vec<f64>)>;

fn bench_throughput(plan: &Plan) -> Result<Throughput> {
    let mut samples: Throughput = SIZES.iter().map(|&s| (s, Vec::new())).collect();
    rounds(plan.rounds, |warm| {
        for (size, s) in &mut samples {
            let n = if warm {
                plan.messages(*size) / 10 + 1
            } else {
                plan.messages(*size)
            };
            let elapsed = guarded("throughput", PATIENCE, || throughput_run(*size, n))?;
            if !warm {
                s.push(ns_per_op(elapsed, n as f64));
            }
        }
        Ok(())
    })?;
    Ok(samples)
}

/// One producer puts `n` messages of `size` bytes, one consumer gets them.
fn throughput_run(size: usize, n: usize) -> Result<Duration> {
    let q = RecordQueue::new()?;
    let msg = vec![0x5au8; size];
    // The first child to start is the producer.
    let roles = Shared::new(AtomicU32::new(0))?;
    let (q, msg, roles) = (&q, &msg, &*roles);
    let child = |lane: Lane<'_>| {
        let producer = roles.fetch_add(1, Ordering::Relaxed) == 0;
        lane.run(|| {
            if producer {
                for _ in 0..n {
                    q.put(msg)?;
                }
            } else {
                let mut buf = Vec::with_capacity(size);
                for _ in 0..n {
                    if q.get_into(&mut buf)? != size {
                        return Err("a message of the wrong length".into());
                    }
                }
            }
            Ok(())
        })
    };
    Ok(run_released("queue", 2, PATIENCE, child, || {})?.elapsed)
}

// -------------------------------------------------------------- round trip

/// Per-round µs per round trip.
#[derive(Default)]
struct PingSamples {
    fixed: Vec<f64>,
    serde: Vec<f64>,
}

fn bench_ping(plan: &Plan) -> Result<PingSamples> {
    let mut s = PingSamples::default();
    rounds(plan.rounds, |warm| {
        let m = size(warm, plan.pings);
        let fixed = guarded("fixed round trip", PATIENCE, || ping_fixed(m))?;
        let serde = guarded("serde round trip", PATIENCE, || ping_serde(m))?;
        if !warm {
            s.fixed.push(fixed);
            s.serde.push(serde);
        }
        Ok(())
    })?;
    Ok(s)
}

/// `m` round trips of a `[u8; 64]` through two fixed queues: µs each.
fn ping_fixed(m: u32) -> Result<f64> {
    let ping = Queue::<[u8; 64], 16>::new()?;
    let pong = Queue::<[u8; 64], 16>::new()?;
    let (pi, po) = (&*ping, &*pong);
    let mut b = Process::new(move || {
        while let Ok(v) = pi.get() {
            if po.put(v).is_err() {
                break;
            }
        }
    })
    .daemon(true);
    b.start()?;
    let msg = [7u8; 64];
    ping.put(msg)?;
    pong.get()?;
    let start = Instant::now();
    for i in 0..m {
        let mut v = msg;
        v[0] = i as u8;
        ping.put(v)?;
        if pong.get()?[0] != i as u8 {
            return Err("fixed: the wrong value came back".into());
        }
    }
    let elapsed = start.elapsed();
    ping.close();
    b.join()?;
    Ok(per_op_us(elapsed, m))
}

/// `m` round trips of a [`Msg`] through two serde queues: µs each.
fn ping_serde(m: u32) -> Result<f64> {
    let ping = ValueQueue::<Msg>::with_capacity(64 * 1024)?;
    let pong = ValueQueue::<Msg>::with_capacity(64 * 1024)?;
    let (pi, po) = (&ping, &pong);
    let mut b = Process::new(move || {
        while let Ok(v) = pi.get() {
            if po.put(&v).is_err() {
                break;
            }
        }
    })
    .daemon(true);
    b.start()?;
    let mut msg = Msg {
        id: 0,
        name: "a name of 24 characters.".to_owned(),
        data: [9; 32],
    };
    ping.put(&msg)?;
    pong.get()?;
    let start = Instant::now();
    for i in 0..m {
        msg.id = u64::from(i);
        ping.put(&msg)?;
        if pong.get()?.id != u64::from(i) {
            return Err("serde: the wrong value came back".into());
        }
    }
    let elapsed = start.elapsed();
    ping.close();
    b.join()?;
    Ok(per_op_us(elapsed, m))
}

// ------------------------------------------------------------------ report

fn report(out: &mut String, throughput: &Throughput, pings: &PingSamples) {
    let _ = writeln!(
        out,
        "### 1. RecordQueue throughput, one producer and one consumer process\n"
    );
    let _ = writeln!(
        out,
        "| message | ns/msg median | ns/msg p90 | msgs/s (median) | MB/s (median) |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|");
    for (size, s) in throughput {
        let med = median(s);
        let msgs = med.map(|ns| 1e9 / ns);
        let mbs = msgs.map(|m| m * *size as f64 / 1e6);
        let _ = writeln!(
            out,
            "| {size} B | {} | {} | {} | {} |",
            cell(med),
            cell(percentile(s, 90.0)),
            msgs.map_or_else(|| "n/a".into(), |m| format!("{m:.0}")),
            cell(mbs),
        );
    }
    let _ = writeln!(
        out,
        "\n### 2. Round trip of a 64-byte struct with a String: serde ValueQueue vs fixed Queue<[u8; 64]>\n"
    );
    let _ = writeln!(out, "| contender | µs/round trip median | p90 |");
    let _ = writeln!(out, "|---|--:|--:|");
    for (who, s) in [
        ("fixed `Queue<[u8; 64], 16>`", &pings.fixed),
        ("serde `ValueQueue<Msg>`", &pings.serde),
    ] {
        let _ = writeln!(
            out,
            "| {who} | {} | {} |",
            cell(median(s)),
            cell(percentile(s, 90.0))
        );
    }
    let ratio = paired_ratio(&pings.serde, &pings.fixed);
    let target = check("serde / fixed", ratio, true, 2.0);
    let _ = writeln!(
        out,
        "\nRatio serde / fixed (median of per-round ratios): {} — target {}: {}",
        ratio_cell(ratio),
        target.0,
        verdict(&target)
    );
    spread_table(
        out,
        "Spread (min–max over the rounds)",
        throughput
            .iter()
            .map(|(size, s)| (format!("throughput {size} B"), "ns/msg", s.as_slice()))
            .chain([
                ("round trip".to_owned(), "fixed µs", pings.fixed.as_slice()),
                ("round trip".to_owned(), "serde µs", pings.serde.as_slice()),
            ]),
    );
}
