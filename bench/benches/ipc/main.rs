//! Message-passing benchmarks: mproc's `Pipe`, `MessageQueue` and `Queue`
//! against the system calls they are built on, a shared-memory floor, two
//! Rust peers (iceoryx2 and ipc-channel) and Python's `multiprocessing`, in
//! one run, reported as ratios.
//!
//! 1. **Round trip** of a 64-byte message: the bench sends, a child forked
//!    for the run echoes it back; µs per round trip.
//!    - mproc: [`Pipe::duplex`] (`send_bytes`, `recv_bytes` into a buffer);
//!      two [`MessageQueue`]s, one per direction (`send`, `receive`); two
//!      [`Queue<[u8; 64], 64>`](Queue)s, one per direction (`put`, `get`).
//!    - Limits, raw loops of the same system calls through libc: a pipe
//!      pair (`write`/`read`); an `AF_UNIX` `SOCK_SEQPACKET` socket pair,
//!      what `Pipe` is (`send` with `MSG_NOSIGNAL`/`recv`; `recv_bytes`
//!      first peeks at the length, a second call); a POSIX message queue
//!      pair (`mq_send`/`mq_receive`); and the floor, a spin ping-pong on
//!      two atomics on separate cache lines of an anonymous `MAP_SHARED`
//!      mapping (no payload, no system call); and the same carrying the
//!      message: the 64 bytes written to a line of their own, then the
//!      flag (what any queue whose count lies apart from its slots moves
//!      per hand-off).
//!    - Peers: iceoryx2 publish-subscribe over `ipc::Service`, services
//!      "ping" and "pong" of `[u8; 64]`, in polling mode (each side loops
//!      on `Subscriber::receive` until a sample arrives, then answers with
//!      `Publisher::send_copy`); its nodes are made after the fork, in the
//!      process that uses them. ipc-channel's `bytes_channel`, a pair made
//!      before the fork.
//!    - Python: `multiprocessing.Pipe()` (`send_bytes`/`recv_bytes`) and two
//!      `multiprocessing.Queue()`s (`put`/`get` of a 64-byte `bytes`), fork
//!      context (`bench/bench_ipc_peer.py`).
//! 2. **One-way throughput**: a forked producer sends `M` 64-byte messages
//!    that the bench receives; messages per second from the go (given once
//!    the producer is set up and waiting for it) to the last one received.
//!    mproc's three, the raw socket pair and message queue, a raw
//!    shared-memory spin ring (64 slots, the floor), iceoryx2 (the
//!    subscriber's buffer holds 64, the publisher retries until delivered),
//!    ipc-channel and Python's `Queue`.
//!
//! Every message carries its sequence number and the receiving side checks
//! it: a lost, repeated, reordered or truncated message (or a wrong echo)
//! fails the bench. Each round runs every contender once, interleaved, with
//! the contenders of a ratio back to back, so drift hits them alike; the
//! tables show medians over the rounds and ratios as the median of the
//! per-round ratios. By default nothing is pinned: both sides run at once,
//! wherever the scheduler puts them (on a 2-CPU machine, one on each while
//! the spinning contenders run; a blocking pair may or may not end up
//! sharing one, which shows as rounds several times apart). Every run forks its own child and joins it;
//! message queue names are unlinked as soon as both sides hold the queue;
//! iceoryx2 keeps its files under a directory and prefix of this run's own,
//! removed at the end.
//!
//! A watchdog (`alarm`) stops the bench, naming the contender, if one run
//! takes longer than a minute; the children and the Python peer die with
//! it (`PR_SET_PDEATHSIG`).
//!
//! Run it with `scripts/bench-ipc.sh` (or `cargo bench -p mproc-bench
//! --bench ipc`). Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a
//! smoke test; `MPROC_BENCH_PYTHON` names the interpreter (default
//! `python3`; without one the Python cells read "n/a");
//! `MPROC_BENCH_IPC_PIN=A,B` pins the bench and the Python peer to CPU `A`
//! and every forked child (Python's too) to CPU `B`;
//! `MPROC_BENCH_IPC_PIN=A` pins every process to CPU `A` and leaves the
//! pure spinners out (each of their hops would wait for a preemption):
//! a hand-off then costs two context switches and no cross-CPU wake-up,
//! which on a virtual machine is by far the steadiest placement.
//! `MPROC_BENCH_IPC_LOAD=1` runs every contender beside a background load:
//! one forked process busy computing on the CPUs for the whole run (the
//! floor and the Queue under load, as on a busier machine).
//!
//! The harness is not libtest (`harness = false`), so this process stays
//! single-threaded: nothing here starts a thread, and `Process::start`
//! checks that before each fork.

#![allow(unsafe_code)] // The raw contenders and the shared mapping call libc directly.

#[path = "../../../benches/common/mod.rs"]
#[allow(dead_code)] // This bench uses the peer and a few helpers, not all.
mod common;
mod harness;
mod iox;
mod limits;
mod python;
mod report;
mod stream;
mod trip;

use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    Result, Stage, cell, check, machine, median, os_error, paired_ratio, ratio_cell, spread,
    watchdog,
};
use mproc::ipc::{MessageQueue, Pipe, Queue};
use mproc::process::Process;

use harness::*;
use limits::*;
use python::*;
use report::*;
use stream::*;
use trip::*;

/// The message size.
const SIZE: usize = 64;
/// One message.
type Msg = [u8; SIZE];
/// Slots of the Queue, the spin ring and iceoryx2's subscriber buffer.
const CAPACITY: usize = 64;
/// Messages a POSIX message queue holds (the default `msg_max` is 10).
const MQ_DEPTH: usize = 8;
/// How long one run may take before the watchdog stops the bench.
const PATIENCE: Duration = Duration::from_secs(60);

/// Sizes of one run.
struct Plan {
    /// Measured rounds (each runs every contender once).
    rounds: usize,
    /// Round trips per run of a contender that blocks in the kernel.
    trips: u32,
    /// Round trips per run of a spinning contender (Queue, iceoryx2, the
    /// raw spin).
    spin_trips: u32,
    /// Round trips per Python run.
    py_trips: u32,
    /// Messages per one-way run.
    messages: u32,
    /// Messages per one-way Python run.
    py_messages: u32,
    /// Whether the pure spinners run (the raw spin, iceoryx2's polling, the
    /// spin ring): not with both sides on one CPU, where each of their
    /// hops would wait for a preemption.
    spinners: bool,
}

impl Plan {
    fn from_env() -> Plan {
        let quick = std::env::var("MPROC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Plan {
                rounds: 3,
                trips: 500,
                spin_trips: 5_000,
                py_trips: 100,
                messages: 10_000,
                py_messages: 1_000,
                spinners: true,
            }
        } else {
            Plan {
                rounds: 15,
                trips: 4_000,
                spin_trips: 40_000,
                py_trips: 1_000,
                messages: 100_000,
                py_messages: 10_000,
                spinners: true,
            }
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench ipc: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let started = Instant::now();
    let mut plan = Plan::from_env();
    watchdog::install("ipc")?;
    let iox = iox::Env::new()?;
    let pin = Pin::from_env()?;
    plan.spinners = pin.is_none_or(|p| p.bench != p.child);
    if let Some(pin) = pin {
        // Before the Python peer starts, so that it inherits it.
        set_affinity(pin.bench).map_err(|e| format!("pinning to CPU {}: {e}", pin.bench))?;
        CHILD_CPU.store(pin.child, Ordering::Relaxed);
    }
    // Forked before the peer and the runs, killed when the bench ends.
    let load = if std::env::var("MPROC_BENCH_IPC_LOAD").is_ok_and(|v| !v.is_empty() && v != "0") {
        Some(fork(|| {
            let mut x = 1u64;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
        })?)
    } else {
        None
    };
    let mut python = Python::start();
    let mut python_version = python.as_mut().and_then(|p| p.ask("version").ok());
    if let (Some(pin), Some(peer)) = (pin, python.as_mut())
        && peer.ask(&format!("children_on {}", pin.child)).is_err()
    {
        python_version = None;
    }
    if python.is_some() && python_version.is_none() {
        python = None;
    }

    // The peer is stopped and reaped, and iceoryx2's files removed, whatever
    // happens to the benchmarks.
    let result = bench_trips(&plan, &iox, &mut python)
        .and_then(|trips| Ok((trips, bench_streams(&plan, &iox, &mut python)?)));
    if let Some(peer) = python {
        peer.quit();
    }
    let leftovers = iox.remove();
    let (trips, streams) = result?;

    let mut out = String::new();
    machine(&mut out, "message-passing", python_version.as_deref());
    let _ = writeln!(
        out,
        "- peers: iceoryx2 {}, ipc-channel {}",
        locked_version("iceoryx2"),
        locked_version("ipc-channel")
    );
    let _ = writeln!(
        out,
        "- method: {} rounds after a warm-up round; in each round every contender runs once, in \
         the order of the tables, except that the two of each compared pair (Queue and \
         iceoryx2, raw and mproc) swap places every other round; per-op figures: median over the rounds; ratios: median of the \
         per-round ratios. Round trip: a {SIZE}-byte message sent by the bench and echoed by a \
         child forked for the run, {} round trips per run ({} for the spinning Queue, iceoryx2 \
         and raw spin; Python {}) after one untimed; every echo checked. One-way: {} messages \
         (Python {}) from a forked producer, timed from the go (the producer set up and waiting) \
         to the last one received; every sequence number checked. {}{}\n",
        plan.rounds,
        plan.trips,
        plan.spin_trips,
        plan.py_trips,
        plan.messages,
        plan.py_messages,
        match pin {
            None => "Unpinned: both sides wherever the scheduler puts them \
                     (MPROC_BENCH_IPC_PIN pins them)."
                .to_owned(),
            Some(pin) if pin.bench == pin.child => format!(
                "Pinned (MPROC_BENCH_IPC_PIN): every process (bench, children, Python peer and \
                 its children) on CPU {}; the pure spinners (raw spin, iceoryx2 polling, spin \
                 ring) are left out, each of their hops would wait for a preemption.",
                pin.bench
            ),
            Some(pin) => format!(
                "Pinned (MPROC_BENCH_IPC_PIN): the bench and the Python peer on CPU {}, every \
                 forked child (Python's too) on CPU {}.",
                pin.bench, pin.child
            ),
        },
        if plan.rounds < 9 {
            " QUICK run: smoke test only."
        } else {
            ""
        },
    );
    if load.is_some() {
        let _ = writeln!(
            out,
            "- background load (MPROC_BENCH_IPC_LOAD): one forked process busy computing for \
             the whole run, wherever the scheduler puts it\n"
        );
    }
    let placement = match pin {
        None if load.is_some() => "unpinned, one busy process beside".to_owned(),
        None => "unpinned".to_owned(),
        Some(p) if p.bench == p.child => format!("both on CPU {}", p.bench),
        Some(p) => format!("bench on CPU {}, child on CPU {}", p.bench, p.child),
    };
    report(&mut out, &placement, &trips, &streams);
    if !leftovers.is_empty() {
        let _ = writeln!(
            out,
            "\niceoryx2 left files behind after its nodes were gone (removed now): {}.",
            leftovers.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nWhole run: {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    print!("{out}");
    Ok(())
}

/// A warm-up round (`true`), then the measured ones; each is told whether
/// it is an odd one (see [`in_turn`]).
fn rounds(plan: &Plan, mut round: impl FnMut(bool, bool) -> Result<()>) -> Result<()> {
    round(true, false)?;
    for k in 0..plan.rounds {
        round(false, k % 2 == 1)?;
    }
    Ok(())
}

/// Runs the two contenders of a ratio back to back, `b` first in odd
/// rounds, so that neither always runs right after a third one.
fn in_turn<A, B>(
    odd: bool,
    a: impl FnOnce() -> Result<A>,
    b: impl FnOnce() -> Result<B>,
) -> Result<(A, B)> {
    if odd {
        let b = b()?;
        Ok((a()?, b))
    } else {
        let a = a()?;
        Ok((a, b()?))
    }
}

/// `n`, or a tenth of it for the warm-up round.
fn size(warm: bool, n: u32) -> u32 {
    if warm { n / 10 + 1 } else { n }
}

/// Runs one contender under the watchdog.
fn watched<T>(name: &'static str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    watchdog::arm(name, PATIENCE);
    let result = run();
    watchdog::disarm();
    result.map_err(|e| format!("{name}: {e}").into())
}

/// The version of `package` in the workspace's lock file.
fn locked_version(package: &str) -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .unwrap_or_default();
    let mut lines = lock.lines();
    let name = format!("name = \"{package}\"");
    while let Some(line) = lines.next() {
        if line == name
            && let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = "))
        {
            return version.trim_matches('"').to_owned();
        }
    }
    "?".to_owned()
}
