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
//!      mapping (no payload, no system call).
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
//!
//! The harness is not libtest (`harness = false`), so this process stays
//! single-threaded: nothing here starts a thread, and `Process::start`
//! checks that before each fork.

#![allow(unsafe_code)] // The raw contenders and the shared mapping call libc directly.

#[path = "../../benches/common/mod.rs"]
#[allow(dead_code)] // This bench uses the peer and a few helpers, not all.
mod common;

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
    let placement = match pin {
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

// ---------------------------------------------------------------- harness

/// `MPROC_BENCH_IPC_PIN=A,B`: the bench (and the Python peer) on CPU `A`,
/// every forked child on CPU `B`; `MPROC_BENCH_IPC_PIN=A`: all on CPU `A`.
#[derive(Clone, Copy)]
struct Pin {
    bench: usize,
    child: usize,
}

impl Pin {
    fn from_env() -> Result<Option<Pin>> {
        let Ok(v) = std::env::var("MPROC_BENCH_IPC_PIN") else {
            return Ok(None);
        };
        let cpus: Vec<usize> = v
            .split(',')
            .map(|c| c.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .unwrap_or_default();
        let pin = match cpus[..] {
            [cpu] => Pin {
                bench: cpu,
                child: cpu,
            },
            [bench, child] => Pin { bench, child },
            _ => return Err(format!("MPROC_BENCH_IPC_PIN={v}: expected A or A,B").into()),
        };
        if pin.bench.max(pin.child) >= libc::CPU_SETSIZE as usize {
            return Err(format!("MPROC_BENCH_IPC_PIN={v}: beyond CPU_SETSIZE").into());
        }
        Ok(Some(pin))
    }
}

/// The CPU a forked child moves to first (`usize::MAX`: it stays where
/// it is).
static CHILD_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Pins this process (and what it forks later) to `cpu`.
fn set_affinity(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays inside it
    // for cpu < CPU_SETSIZE (checked by `Pin::from_env`); the kernel reads
    // the set's size.
    let ret = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set)
    };
    if ret != 0 {
        return Err(os_error("sched_setaffinity"));
    }
    Ok(())
}

/// A child forked for one run: a daemon (it dies with the bench), killed
/// and reaped if the bench leaves before joining it (an error, a panic).
struct Forked<F: FnOnce()>(Option<Process<F>>);

/// Forks a child that runs `body`; an error there is printed and the child
/// exits with 1.
fn fork(body: impl FnOnce() -> Result<()>) -> Result<Forked<impl FnOnce()>> {
    let mut p = Process::new(move || {
        let cpu = CHILD_CPU.load(Ordering::Relaxed);
        let moved = if cpu == usize::MAX {
            Ok(())
        } else {
            set_affinity(cpu)
        };
        if let Err(e) = moved.and_then(|()| body()) {
            eprintln!("bench ipc: child: {e}");
            mproc::process::exit(1);
        }
    })
    .daemon(true);
    p.start()?;
    Ok(Forked(Some(p)))
}

impl<F: FnOnce()> Forked<F> {
    /// Joins the child, which must exit with 0.
    fn join(mut self) -> Result<()> {
        let Some(p) = self.0.take() else {
            return Ok(());
        };
        match p.join_timeout(PATIENCE)? {
            Some(0) => Ok(()),
            Some(code) => Err(format!("the child exited with {code}").into()),
            None => {
                let _ = p.kill();
                let _ = p.join();
                Err(format!("the child hung for {PATIENCE:?}").into())
            }
        }
    }
}

impl<F: FnOnce()> Drop for Forked<F> {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = p.kill();
            let _ = p.join();
        }
    }
}

/// Runs `child` in a forked child and `parent` here; `parent`'s result,
/// once the child has exited with 0.
fn duel<T>(child: impl FnOnce() -> Result<()>, parent: impl FnOnce() -> Result<T>) -> Result<T> {
    let forked = fork(child)?;
    let out = parent()?;
    forked.join()?;
    Ok(out)
}

/// Round trip `0` untimed, then `1..=n` timed. The echoing side answers
/// `n + 1` messages.
fn timed_trips(n: u32, mut trip: impl FnMut(u32) -> Result<()>) -> Result<Duration> {
    trip(0)?;
    let start = Instant::now();
    for i in 1..=n {
        trip(i)?;
    }
    Ok(start.elapsed())
}

/// Gives the producer waiting for stage `go` its go and takes messages
/// `0..n` with `take`; the time from the go to the last one.
fn timed_stream(
    stage: &Stage,
    go: u32,
    n: u32,
    mut take: impl FnMut(u32) -> Result<()>,
) -> Result<Duration> {
    let start = Instant::now();
    stage.reach(go);
    for i in 0..n {
        take(i)?;
    }
    Ok(start.elapsed())
}

/// Message `i`: its sequence number, then a fixed pattern.
fn message(i: u32) -> Msg {
    let mut m: Msg = std::array::from_fn(|k| k as u8);
    m[..4].copy_from_slice(&i.to_le_bytes());
    m
}

/// Checks that `got` is message `i`.
fn expect(got: &[u8], i: u32) -> Result<()> {
    if got == message(i) {
        return Ok(());
    }
    let seq = got
        .get(..4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    Err(format!(
        "expected message {i} ({SIZE} bytes), got {} bytes{}",
        got.len(),
        seq.map_or_else(String::new, |s| format!(" numbered {s}"))
    )
    .into())
}

// ------------------------------------------------------------- round trip

/// Per-round µs per round trip.
#[derive(Default)]
struct TripSamples {
    spin: Vec<f64>,
    queue: Vec<f64>,
    iceoryx2: Vec<f64>,
    seqpacket: Vec<f64>,
    pipe: Vec<f64>,
    raw_mq: Vec<f64>,
    mq: Vec<f64>,
    raw_pipe: Vec<f64>,
    ipc_channel: Vec<f64>,
    py_pipe: Vec<f64>,
    py_queue: Vec<f64>,
}

fn bench_trips(plan: &Plan, iox: &iox::Env, python: &mut Option<Python>) -> Result<TripSamples> {
    let mut s = TripSamples::default();
    rounds(plan, |warm, odd| {
        let (n, f, py_n) = (
            size(warm, plan.trips),
            size(warm, plan.spin_trips),
            size(warm, plan.py_trips),
        );
        let us = |d: Duration, n: u32| d.as_secs_f64() * 1e6 / f64::from(n);
        let spinner = |run: &dyn Fn() -> Result<Duration>| -> Result<Option<Duration>> {
            if plan.spinners {
                run().map(Some)
            } else {
                Ok(None)
            }
        };
        let spin = spinner(&|| watched("raw spin round trip", || spin_trip(f)))?;
        let (queue, iceoryx2) = in_turn(
            odd,
            || watched("mproc Queue round trip", || queue_trip(f)),
            || spinner(&|| watched("iceoryx2 round trip", || iceoryx2_trip(iox, f))),
        )?;
        let (seqpacket, pipe) = in_turn(
            odd,
            || watched("raw SOCK_SEQPACKET round trip", || seqpacket_trip(n)),
            || watched("mproc Pipe round trip", || pipe_trip(n)),
        )?;
        let (raw_mq, mq) = in_turn(
            odd,
            || watched("raw mq round trip", || raw_mq_trip(n)),
            || watched("mproc MessageQueue round trip", || mq_trip(n)),
        )?;
        let raw_pipe = watched("raw pipe round trip", || raw_pipe_trip(n))?;
        let ipc_channel = watched("ipc-channel round trip", || ipc_channel_trip(n))?;
        let py_pipe = watched("Python Pipe round trip", || {
            Ok(python_ns(python, &format!("pipe {py_n}")))
        })?;
        let py_queue = watched("Python Queue round trip", || {
            Ok(python_ns(python, &format!("queue {py_n}")))
        })?;
        if !warm {
            s.spin.extend(spin.map(|d| us(d, f)));
            s.queue.push(us(queue, f));
            s.iceoryx2.extend(iceoryx2.map(|d| us(d, f)));
            s.seqpacket.push(us(seqpacket, n));
            s.pipe.push(us(pipe, n));
            s.raw_mq.push(us(raw_mq, n));
            s.mq.push(us(mq, n));
            s.raw_pipe.push(us(raw_pipe, n));
            s.ipc_channel.push(us(ipc_channel, n));
            s.py_pipe
                .extend(py_pipe.map(|ns| ns / 1e3 / f64::from(py_n)));
            s.py_queue
                .extend(py_queue.map(|ns| ns / 1e3 / f64::from(py_n)));
        }
        Ok(())
    })?;
    Ok(s)
}

fn queue_trip(n: u32) -> Result<Duration> {
    let there = Queue::<Msg, CAPACITY>::new()?;
    let back = Queue::<Msg, CAPACITY>::new()?;
    let (there, back) = (&*there, &*back);
    duel(
        move || {
            for _ in 0..=n {
                back.put(there.get()?)?;
            }
            Ok(())
        },
        || {
            timed_trips(n, |i| {
                there.put(message(i))?;
                expect(&back.get()?, i)
            })
        },
    )
}

fn pipe_trip(n: u32) -> Result<Duration> {
    let (here, there) = Pipe::duplex()?;
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for _ in 0..=n {
                let len = there.recv_bytes(&mut buf)?;
                there.send_bytes(&buf[..len])?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            timed_trips(n, |i| {
                here.send_bytes(&message(i))?;
                let len = here.recv_bytes(&mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

/// A name for a message queue of this run: `/mproc-bench-<pid>-<tag>`.
fn mq_name(tag: &str) -> String {
    format!("/mproc-bench-{}-{tag}", std::process::id())
}

/// A fresh mproc message queue, its name already unlinked: the queue lives
/// while a descriptor (this one, a forked child's copy) is open.
fn anonymous_mq(tag: &str) -> Result<MessageQueue> {
    let mut q = MessageQueue::create(&mq_name(tag), MQ_DEPTH, SIZE)?;
    q.unlink()?;
    Ok(q)
}

fn mq_trip(n: u32) -> Result<Duration> {
    let (there, back) = (anonymous_mq("there")?, anonymous_mq("back")?);
    let (there, back) = (&there, &back);
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for _ in 0..=n {
                let (len, _) = there.receive(&mut buf)?;
                back.send(&buf[..len], 0)?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            timed_trips(n, |i| {
                there.send(&message(i), 0)?;
                let (len, _) = back.receive(&mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

/// The floor: A stores `i` to `ping` and spins until `pong` is `i`; B
/// spins until `ping` moves and copies it to `pong`.
fn spin_trip(n: u32) -> Result<Duration> {
    let page = RawPage::new()?;
    let (ping, pong) = (page.word(0), page.word(1));
    duel(
        move || {
            for i in 0..=u64::from(n) {
                // SYNC POINT: Acquire pairs with A's Release store to ping.
                while ping.load(Ordering::Acquire) != i + 1 {
                    std::hint::spin_loop();
                }
                // SYNC POINT: Release pairs with A's Acquire load of pong.
                pong.store(i + 1, Ordering::Release);
            }
            Ok(())
        },
        || {
            timed_trips(n, |i| {
                let i = u64::from(i) + 1;
                // SYNC POINT: Release pairs with B's Acquire load of ping.
                ping.store(i, Ordering::Release);
                // SYNC POINT: Acquire pairs with B's Release store to pong.
                while pong.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                Ok(())
            })
        },
    )
}

fn raw_pipe_trip(n: u32) -> Result<Duration> {
    let (there_r, there_w) = raw::pipe()?;
    let (back_r, back_w) = raw::pipe()?;
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for _ in 0..=n {
                let len = raw::read(there_r.as_raw_fd(), &mut buf)?;
                raw::write(back_w.as_raw_fd(), &buf[..len])?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            let (w, r) = (there_w.as_raw_fd(), back_r.as_raw_fd());
            timed_trips(n, |i| {
                raw::write(w, &message(i))?;
                let len = raw::read(r, &mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

fn seqpacket_trip(n: u32) -> Result<Duration> {
    let (here, there) = raw::seqpacket_pair()?;
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            let fd = there.as_raw_fd();
            for _ in 0..=n {
                let len = raw::recv(fd, &mut buf)?;
                raw::send(fd, &buf[..len])?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            let fd = here.as_raw_fd();
            timed_trips(n, |i| {
                raw::send(fd, &message(i))?;
                let len = raw::recv(fd, &mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

fn raw_mq_trip(n: u32) -> Result<Duration> {
    let there = raw::Mq::anonymous(&mq_name("raw-there"))?;
    let back = raw::Mq::anonymous(&mq_name("raw-back"))?;
    let (there, back) = (&there, &back);
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for _ in 0..=n {
                let len = there.receive(&mut buf)?;
                back.send(&buf[..len])?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            timed_trips(n, |i| {
                there.send(&message(i))?;
                let len = back.receive(&mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

fn iceoryx2_trip(env: &iox::Env, n: u32) -> Result<Duration> {
    let (ping, pong) = (env.service_name("ping")?, env.service_name("pong")?);
    let stage = Stage::new()?;
    let (ping, pong, stage) = (&ping, &pong, &stage);
    duel(
        move || {
            // Stages: the bench made both services and its ports; this side
            // made its ports and connected them; go.
            stage.wait(1)?;
            let mut me = env.endpoint()?;
            me.subscribe(ping, iox::Make::Open)?;
            me.publish(pong, iox::Make::Open)?;
            me.connect()?;
            stage.reach(2);
            for _ in 0..=n {
                me.send(me.receive()?)?;
            }
            Ok(())
        },
        || {
            let mut me = env.endpoint()?;
            me.publish(ping, iox::Make::Create)?;
            me.subscribe(pong, iox::Make::Create)?;
            stage.reach(1);
            stage.wait(2)?;
            me.connect()?;
            let time = timed_trips(n, |i| {
                me.send(message(i))?;
                expect(&me.receive()?, i)
            })?;
            Ok((time, me))
        },
    )
    // The bench's node goes after the child's (see `iox::Endpoint`).
    .map(|(time, _me)| time)
}

fn ipc_channel_trip(n: u32) -> Result<Duration> {
    let (to_child, child_rx) = ipc_channel::ipc::bytes_channel()?;
    let (child_tx, from_child) = ipc_channel::ipc::bytes_channel()?;
    duel(
        move || {
            for _ in 0..=n {
                child_tx.send(&child_rx.recv()?)?;
            }
            Ok(())
        },
        || {
            timed_trips(n, |i| {
                to_child.send(&message(i))?;
                expect(&from_child.recv()?, i)
            })
        },
    )
}

// ---------------------------------------------------------------- one-way

/// Per-round messages per second.
#[derive(Default)]
struct StreamSamples {
    ring: Vec<f64>,
    queue: Vec<f64>,
    iceoryx2: Vec<f64>,
    seqpacket: Vec<f64>,
    pipe: Vec<f64>,
    raw_mq: Vec<f64>,
    mq: Vec<f64>,
    ipc_channel: Vec<f64>,
    py_queue: Vec<f64>,
}

/// Stages of a one-way run: the producer is set up; go.
const READY: u32 = 1;
const GO: u32 = 2;

fn bench_streams(
    plan: &Plan,
    iox: &iox::Env,
    python: &mut Option<Python>,
) -> Result<StreamSamples> {
    let mut s = StreamSamples::default();
    rounds(plan, |warm, odd| {
        let (m, py_m) = (size(warm, plan.messages), size(warm, plan.py_messages));
        let rate = |d: Duration, m: u32| f64::from(m) / d.as_secs_f64();
        let spinner = |run: &dyn Fn() -> Result<Duration>| -> Result<Option<Duration>> {
            if plan.spinners {
                run().map(Some)
            } else {
                Ok(None)
            }
        };
        let ring = spinner(&|| watched("raw spin ring one-way", || ring_stream(m)))?;
        let (queue, iceoryx2) = in_turn(
            odd,
            || watched("mproc Queue one-way", || queue_stream(m)),
            || spinner(&|| watched("iceoryx2 one-way", || iceoryx2_stream(iox, m))),
        )?;
        let (seqpacket, pipe) = in_turn(
            odd,
            || watched("raw SOCK_SEQPACKET one-way", || seqpacket_stream(m)),
            || watched("mproc Pipe one-way", || pipe_stream(m)),
        )?;
        let (raw_mq, mq) = in_turn(
            odd,
            || watched("raw mq one-way", || raw_mq_stream(m)),
            || watched("mproc MessageQueue one-way", || mq_stream(m)),
        )?;
        let ipc_channel = watched("ipc-channel one-way", || ipc_channel_stream(m))?;
        let py_queue = watched("Python Queue one-way", || {
            Ok(python_ns(python, &format!("queue_oneway {py_m}")))
        })?;
        if !warm {
            s.ring.extend(ring.map(|d| rate(d, m)));
            s.queue.push(rate(queue, m));
            s.iceoryx2.extend(iceoryx2.map(|d| rate(d, m)));
            s.seqpacket.push(rate(seqpacket, m));
            s.pipe.push(rate(pipe, m));
            s.raw_mq.push(rate(raw_mq, m));
            s.mq.push(rate(mq, m));
            s.ipc_channel.push(rate(ipc_channel, m));
            s.py_queue
                .extend(py_queue.map(|ns| f64::from(py_m) / (ns / 1e9)));
        }
        Ok(())
    })?;
    Ok(s)
}

/// The usual one-way run: the producer, forked, waits for the go and sends
/// messages `0..n` with `send`; the bench takes them with `take`.
fn stream(
    n: u32,
    mut send: impl FnMut(u32) -> Result<()>,
    take: impl FnMut(u32) -> Result<()>,
) -> Result<Duration> {
    let stage = Stage::new()?;
    let stage = &stage;
    duel(
        move || {
            stage.reach(READY);
            stage.wait(GO)?;
            for i in 0..n {
                send(i)?;
            }
            Ok(())
        },
        || {
            stage.wait(READY)?;
            timed_stream(stage, GO, n, take)
        },
    )
}

fn queue_stream(n: u32) -> Result<Duration> {
    let q = Queue::<Msg, CAPACITY>::new()?;
    let q = &*q;
    stream(n, |i| Ok(q.put(message(i))?), |i| expect(&q.get()?, i))
}

fn pipe_stream(n: u32) -> Result<Duration> {
    let (rx, tx) = Pipe::simplex()?;
    let mut buf = [0u8; SIZE];
    stream(
        n,
        move |i| Ok(tx.send_bytes(&message(i))?),
        |i| {
            let len = rx.recv_bytes(&mut buf)?;
            expect(&buf[..len], i)
        },
    )
}

fn mq_stream(n: u32) -> Result<Duration> {
    let q = anonymous_mq("oneway")?;
    let q = &q;
    let mut buf = [0u8; SIZE];
    stream(
        n,
        |i| Ok(q.send(&message(i), 0)?),
        |i| {
            let (len, _) = q.receive(&mut buf)?;
            expect(&buf[..len], i)
        },
    )
}

fn seqpacket_stream(n: u32) -> Result<Duration> {
    let (rx, tx) = raw::seqpacket_pair()?;
    let mut buf = [0u8; SIZE];
    let (rx, tx) = (rx.as_raw_fd(), tx.as_raw_fd());
    stream(
        n,
        |i| raw::send(tx, &message(i)),
        |i| {
            let len = raw::recv(rx, &mut buf)?;
            expect(&buf[..len], i)
        },
    )
}

fn raw_mq_stream(n: u32) -> Result<Duration> {
    let q = raw::Mq::anonymous(&mq_name("raw-oneway"))?;
    let q = &q;
    let mut buf = [0u8; SIZE];
    stream(
        n,
        |i| q.send(&message(i)),
        |i| {
            let len = q.receive(&mut buf)?;
            expect(&buf[..len], i)
        },
    )
}

/// The floor: a single-producer single-consumer ring of `CAPACITY` slots in
/// an anonymous shared mapping, both sides spinning. `head` (messages
/// taken) and `tail` (messages put) are on cache lines of their own.
fn ring_stream(n: u32) -> Result<Duration> {
    let page = RawPage::new()?;
    let (head, tail) = (page.word(0), page.word(1));
    let cap = CAPACITY as u64;
    let page = &page;
    let mut buf = [0u8; SIZE];
    stream(
        n,
        |i| {
            let t = u64::from(i);
            // SYNC POINT: Acquire pairs with the consumer's Release of head:
            // the slot is free again once it has been read.
            while t - head.load(Ordering::Acquire) == cap {
                std::hint::spin_loop();
            }
            page.put(t % cap, &message(i));
            // SYNC POINT: Release pairs with the consumer's Acquire of tail.
            tail.store(t + 1, Ordering::Release);
            Ok(())
        },
        |i| {
            let h = u64::from(i);
            // SYNC POINT: Acquire pairs with the producer's Release of tail:
            // the slot's bytes are there.
            while tail.load(Ordering::Acquire) == h {
                std::hint::spin_loop();
            }
            page.take(h % cap, &mut buf);
            // SYNC POINT: Release pairs with the producer's Acquire of head.
            head.store(h + 1, Ordering::Release);
            expect(&buf, i)
        },
    )
}

fn iceoryx2_stream(env: &iox::Env, n: u32) -> Result<Duration> {
    let name = env.service_name("oneway")?;
    let stage = Stage::new()?;
    let (name, stage) = (&name, &stage);
    // Stages: the bench made the service and subscribed; the producer made
    // its publisher and connected it; go.
    duel(
        move || {
            stage.wait(1)?;
            let mut me = env.endpoint()?;
            me.publish(name, iox::Make::Open)?;
            me.connect()?;
            stage.reach(2);
            stage.wait(3)?;
            for i in 0..n {
                me.send(message(i))?;
            }
            Ok(())
        },
        || {
            let mut me = env.endpoint()?;
            me.subscribe(name, iox::Make::Create)?;
            stage.reach(1);
            stage.wait(2)?;
            me.connect()?;
            let time = timed_stream(stage, 3, n, |i| expect(&me.receive()?, i))?;
            Ok((time, me))
        },
    )
    // The bench's node goes after the child's (see `iox::Endpoint`).
    .map(|(time, _me)| time)
}

fn ipc_channel_stream(n: u32) -> Result<Duration> {
    let (tx, rx) = ipc_channel::ipc::bytes_channel()?;
    stream(
        n,
        move |i| Ok(tx.send(&message(i))?),
        |i| expect(&rx.recv()?, i),
    )
}

// -------------------------------------------------------------------- raw

/// An anonymous `MAP_SHARED` mapping of two pages: two 64-bit words on
/// cache lines of their own (128 bytes apart, past the adjacent-line
/// prefetch), then `CAPACITY` message slots.
struct RawPage(NonNull<u8>);

impl RawPage {
    const LEN: usize = 8192;
    /// Where the slots start.
    const SLOTS: usize = 256;

    fn new() -> Result<RawPage> {
        const { assert!(Self::SLOTS + CAPACITY * SIZE <= Self::LEN) };
        // SAFETY: a fresh anonymous mapping; no address hint, nothing else
        // is touched. Zero-filled by the kernel.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(os_error("mmap"));
        }
        NonNull::new(ptr.cast())
            .map(RawPage)
            .ok_or_else(|| "mmap gave null".into())
    }

    /// Word `k` (0 or 1), at byte `128 k`.
    fn word(&self, k: usize) -> &AtomicU64 {
        assert!(k < 2);
        // SAFETY: inside the mapping, 8-aligned (the mapping is page
        // aligned), zero-initialised, and only ever accessed atomically;
        // it lives as long as `self`.
        unsafe { AtomicU64::from_ptr(self.0.as_ptr().add(128 * k).cast()) }
    }

    fn slot(&self, k: u64) -> *mut u8 {
        let k = usize::try_from(k).unwrap_or(usize::MAX) % CAPACITY;
        // SAFETY: slot `k < CAPACITY` lies inside the mapping (checked in
        // `new`).
        unsafe { self.0.as_ptr().add(Self::SLOTS + k * SIZE) }
    }

    /// Writes slot `k`. The ring's protocol gives the producer sole access
    /// to the slot until it publishes it with a Release store.
    fn put(&self, k: u64, msg: &Msg) {
        // SAFETY: the slot is SIZE bytes inside the mapping; no other
        // process reads it now (see above); no reference to it exists.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), self.slot(k), SIZE) };
    }

    /// Reads slot `k`, which the consumer owns until it releases it.
    fn take(&self, k: u64, buf: &mut Msg) {
        // SAFETY: as in `put`, for the consumer.
        unsafe { std::ptr::copy_nonoverlapping(self.slot(k), buf.as_mut_ptr(), SIZE) };
    }
}

impl Drop for RawPage {
    fn drop(&mut self) {
        // SAFETY: unmaps this process's mapping made in `new`, once; every
        // reference into it borrows `self`.
        unsafe { libc::munmap(self.0.as_ptr().cast(), Self::LEN) };
    }
}

/// The raw system calls, converted from C's return conventions; nothing
/// else (no retry: nothing here is interrupted by a signal that returns).
mod raw {
    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    use super::{MQ_DEPTH, Msg, Result, SIZE, os_error};

    fn len(ret: isize, what: &str) -> Result<usize> {
        usize::try_from(ret).map_err(|_| os_error(what))
    }

    fn whole(sent: usize, msg: &[u8]) -> Result<()> {
        if sent == msg.len() {
            Ok(())
        } else {
            Err(format!("a short send: {sent} of {} bytes", msg.len()).into())
        }
    }

    /// `pipe2(O_CLOEXEC)`: (read end, write end).
    pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(os_error("pipe2"));
        }
        // SAFETY: two fresh descriptors, owned by nothing else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    /// `socketpair(AF_UNIX, SOCK_SEQPACKET)`.
    pub fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair writes.
        let ret = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if ret != 0 {
            return Err(os_error("socketpair"));
        }
        // SAFETY: two fresh descriptors, owned by nothing else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    pub fn write(fd: RawFd, msg: &[u8]) -> Result<()> {
        // SAFETY: `msg` is readable for its length during the call.
        let n = unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
        whole(len(n, "write")?, msg)
    }

    pub fn read(fd: RawFd, buf: &mut Msg) -> Result<usize> {
        // SAFETY: `buf` is writable for its length during the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), SIZE) };
        len(n, "read")
    }

    pub fn send(fd: RawFd, msg: &[u8]) -> Result<()> {
        // SAFETY: `msg` is readable for its length during the call.
        let n = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), libc::MSG_NOSIGNAL) };
        whole(len(n, "send")?, msg)
    }

    pub fn recv(fd: RawFd, buf: &mut Msg) -> Result<usize> {
        // SAFETY: `buf` is writable for its length during the call.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), SIZE, 0) };
        len(n, "recv")
    }

    /// A POSIX message queue descriptor, closed on drop.
    pub struct Mq(libc::mqd_t);

    impl Mq {
        /// Creates `name` (exclusive, `MQ_DEPTH` messages of `SIZE` bytes)
        /// and unlinks the name at once: the queue lives while a descriptor
        /// (this one, a forked child's copy) is open.
        pub fn anonymous(name: &str) -> Result<Mq> {
            let c_name = CString::new(name)?;
            // SAFETY: an all-zero mq_attr is valid; the fields used are set.
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = MQ_DEPTH as libc::c_long;
            attr.mq_msgsize = SIZE as libc::c_long;
            // SAFETY: a NUL-terminated name and an attribute block that live
            // through the call.
            let mq = unsafe {
                libc::mq_open(
                    c_name.as_ptr(),
                    libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                    0o600 as libc::mode_t,
                    &raw mut attr,
                )
            };
            if mq == -1 {
                return Err(os_error("mq_open"));
            }
            let mq = Mq(mq);
            // SAFETY: a NUL-terminated name; removes the name only.
            if unsafe { libc::mq_unlink(c_name.as_ptr()) } != 0 {
                return Err(os_error("mq_unlink"));
            }
            Ok(mq)
        }

        pub fn send(&self, msg: &[u8]) -> Result<()> {
            // SAFETY: `msg` is readable for its length during the call.
            if unsafe { libc::mq_send(self.0, msg.as_ptr().cast(), msg.len(), 0) } != 0 {
                return Err(os_error("mq_send"));
            }
            Ok(())
        }

        pub fn receive(&self, buf: &mut Msg) -> Result<usize> {
            // SAFETY: `buf` is writable for SIZE bytes, the queue's message
            // size; a null priority pointer is allowed.
            let n = unsafe {
                libc::mq_receive(self.0, buf.as_mut_ptr().cast(), SIZE, std::ptr::null_mut())
            };
            len(n, "mq_receive")
        }
    }

    impl Drop for Mq {
        fn drop(&mut self) {
            // SAFETY: closes the descriptor opened in `anonymous`, once.
            unsafe { libc::mq_close(self.0) };
        }
    }
}

// --------------------------------------------------------------- iceoryx2

/// iceoryx2's side: nodes, services and ports of `ipc::Service`, made with
/// a configuration of this run's own.
mod iox {
    use iceoryx2::port::publisher::Publisher;
    use iceoryx2::port::subscriber::Subscriber;
    use iceoryx2::port::update_connections::UpdateConnections as _;
    use iceoryx2::prelude::*;
    use iceoryx2::service::port_factory::publish_subscribe::PortFactory;

    use super::{CAPACITY, Msg, Result};

    /// Make a service, or open the one the other side made.
    #[derive(Clone, Copy)]
    pub enum Make {
        Create,
        Open,
    }

    /// The configuration of this run: iceoryx2's files under a directory
    /// and a prefix of its own, so that the bench can check and remove
    /// what is left at the end (iceoryx2 keeps a persistent node counter,
    /// `/dev/shm/<prefix><hash>_node.<version>.global_mgmt`, by design).
    pub struct Env {
        config: Config,
        root: String,
        prefix: String,
        runs: std::cell::Cell<u32>,
    }

    impl Env {
        pub fn new() -> Result<Env> {
            set_log_level_from_env_or(LogLevel::Warn);
            let pid = std::process::id();
            let root = format!("/tmp/mproc-bench-iceoryx2-{pid}/");
            let prefix = format!("mproc_bench_{pid}_");
            let mut config = Config::default();
            config.global.set_root_path(&Path::new(root.as_bytes())?);
            config.global.prefix = FileName::new(prefix.as_bytes())?;
            Ok(Env {
                config,
                root,
                prefix,
                runs: std::cell::Cell::new(0),
            })
        }

        /// A service name no earlier run used: `<tag>-<run>`.
        pub fn service_name(&self, tag: &str) -> Result<ServiceName> {
            let run = self.runs.get();
            self.runs.set(run + 1);
            Ok(ServiceName::new(&format!("{tag}-{run}"))?)
        }

        /// A node of this process (call it after the fork).
        pub fn endpoint(&self) -> Result<Endpoint> {
            let node = NodeBuilder::new()
                .config(&self.config)
                .signal_handling_mode(SignalHandlingMode::Disabled)
                .create::<ipc::Service>()?;
            Ok(Endpoint {
                publisher: None,
                subscriber: None,
                services: Vec::new(),
                node,
            })
        }

        /// Removes what iceoryx2 left of this run (call it once every node
        /// is gone); the names of the files it found other than the
        /// expected node counter.
        pub fn remove(&self) -> Vec<String> {
            let mut found = Vec::new();
            let mut look = |dir: &str, prefix: &str| {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    return;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !name.starts_with(prefix) {
                        continue;
                    }
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    if !(dir == "/dev/shm" && name.ends_with(".global_mgmt")) {
                        found.push(path.display().to_string());
                    }
                }
            };
            look("/dev/shm", &self.prefix);
            // Under the root, iceoryx2 keeps only (empty) directories once
            // its nodes and services are gone; anything in them is news.
            let mut files = Vec::new();
            collect_files(std::path::Path::new(&self.root), &mut files);
            found.extend(files);
            let _ = std::fs::remove_dir_all(&self.root);
            found
        }
    }

    fn collect_files(dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect_files(&path, out);
            } else {
                out.push(path.display().to_string());
            }
        }
    }

    /// One process's node and ports (dropped ports first, the node last).
    /// The bench drops its own only once the child has exited: when both
    /// sides let go of a service at once, both try to remove it and the
    /// loser warns that it was "already removed".
    pub struct Endpoint {
        publisher: Option<Publisher<ipc::Service, Msg, ()>>,
        subscriber: Option<Subscriber<ipc::Service, Msg, ()>>,
        services: Vec<PortFactory<ipc::Service, Msg, ()>>,
        node: Node<ipc::Service>,
    }

    impl Endpoint {
        /// A publish-subscribe service of `Msg` with one publisher and one
        /// subscriber, no history, a subscriber buffer of `CAPACITY` and no
        /// overwriting (the publisher waits for room).
        fn service(
            &self,
            name: &ServiceName,
            make: Make,
        ) -> Result<PortFactory<ipc::Service, Msg, ()>> {
            let builder = self
                .node
                .service_builder(name)
                .publish_subscribe::<Msg>()
                .max_publishers(1)
                .max_subscribers(1)
                .history_size(0)
                .subscriber_max_buffer_size(CAPACITY)
                .enable_safe_overflow(false);
            Ok(match make {
                Make::Create => builder.create()?,
                Make::Open => builder.open()?,
            })
        }

        pub fn publish(&mut self, name: &ServiceName, make: Make) -> Result<()> {
            let service = self.service(name, make)?;
            self.publisher = Some(
                service
                    .publisher_builder()
                    .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                    .create()?,
            );
            self.services.push(service);
            Ok(())
        }

        pub fn subscribe(&mut self, name: &ServiceName, make: Make) -> Result<()> {
            let service = self.service(name, make)?;
            self.subscriber = Some(service.subscriber_builder().create()?);
            self.services.push(service);
            Ok(())
        }

        /// Connects this side's ports to the other side's now, rather than
        /// on the first send or receive. Both sides do it before the first
        /// message: a subscriber connects itself on its first `receive`,
        /// and a publisher that fills the buffer of a subscriber not
        /// connected yet gives up (to avoid a deadlock) instead of waiting.
        pub fn connect(&self) -> Result<()> {
            if let Some(publisher) = &self.publisher {
                publisher.update_connections()?;
            }
            if let Some(subscriber) = &self.subscriber {
                subscriber.update_connections()?;
            }
            Ok(())
        }

        pub fn send(&self, msg: Msg) -> Result<()> {
            let publisher = self.publisher.as_ref().ok_or("no publisher")?;
            match publisher.send_copy(msg)? {
                1 => Ok(()),
                n => Err(format!("delivered to {n} subscribers, not 1").into()),
            }
        }

        /// Polls until a sample arrives (iceoryx2's polling mode).
        pub fn receive(&self) -> Result<Msg> {
            let subscriber = self.subscriber.as_ref().ok_or("no subscriber")?;
            loop {
                if let Some(sample) = subscriber.receive()? {
                    return Ok(*sample);
                }
                std::hint::spin_loop();
            }
        }
    }
}

// ----------------------------------------------------------------- Python

/// `bench/bench_ipc_peer.py` through the shared peer; an answer starting
/// with "error" is a failure.
struct Python(common::Peer);

impl Python {
    /// Starts the peer; `None` (after a note on stderr) when there is no
    /// Python to run it.
    fn start() -> Option<Python> {
        common::Peer::start_script(
            concat!(env!("CARGO_MANIFEST_DIR"), "/bench_ipc_peer.py"),
            "ipc",
        )
        .map(Python)
    }

    fn ask(&mut self, line: &str) -> Result<String> {
        let answer = self.0.ask(line)?;
        if answer.starts_with("error") {
            return Err(answer.into());
        }
        Ok(answer)
    }

    fn kill(self) {
        self.0.kill();
    }

    fn quit(self) {
        self.0.quit();
    }
}

/// Asks the peer for a timing in ns; `None` without a (working) peer. A
/// failing peer is dropped for the rest of the run.
fn python_ns(python: &mut Option<Python>, line: &str) -> Option<f64> {
    let peer = python.as_mut()?;
    let answer = peer.ask(line).and_then(|a| {
        a.parse::<f64>()
            .map_err(|_| format!("{line}: answered {a:?}").into())
    });
    match answer {
        Ok(ns) => Some(ns),
        Err(e) => {
            eprintln!("bench ipc: Python contender dropped: {e}");
            if let Some(peer) = python.take() {
                peer.kill();
            }
            None
        }
    }
}

// ----------------------------------------------------------------- report

/// A row of the targets table: mproc's samples, what they are compared
/// with, and the target on the paired ratio `num / den` (or, without
/// one, on mproc's median).
struct Target<'a> {
    bench: &'a str,
    ours: &'a [f64],
    with: Option<(&'a str, &'a [f64])>,
    ratio: Option<(&'a [f64], &'a [f64])>,
    name: &'a str,
    at_most: bool,
    limit: f64,
}

/// The smallest and largest of per-round ratios.
fn ratio_spread(s: &[f64]) -> String {
    let lo = s.iter().copied().reduce(f64::min);
    let hi = s.iter().copied().reduce(f64::max);
    match (lo, hi) {
        (Some(lo), Some(hi)) => format!("{}–{}", ratio(Some(lo)), ratio(Some(hi))),
        _ => "n/a".into(),
    }
}

/// A ratio: two decimals below 10, fewer above.
fn ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => cell(Some(r)),
        r => ratio_cell(r),
    }
}

fn verdict(c: &(String, Option<bool>)) -> &'static str {
    match c.1 {
        Some(true) => "**met**",
        Some(false) => "**not met**",
        None => "n/a",
    }
}

fn report(out: &mut String, placement: &str, t: &TripSamples, s: &StreamSamples) {
    // 1. The targets.
    let targets = [
        Target {
            bench: "Queue<[u8; 64], 64> round trip",
            ours: &t.queue,
            with: None,
            ratio: None,
            name: "µs",
            at_most: true,
            limit: 1.0,
        },
        Target {
            bench: "Queue<[u8; 64], 64> round trip",
            ours: &t.queue,
            with: Some(("iceoryx2 pub-sub, polling", &t.iceoryx2)),
            ratio: Some((&t.queue, &t.iceoryx2)),
            name: "Queue/iceoryx2",
            at_most: true,
            limit: 1.0,
        },
        Target {
            bench: "Queue<[u8; 64], 64> round trip",
            ours: &t.queue,
            with: Some(("Python Queue()", &t.py_queue)),
            ratio: Some((&t.py_queue, &t.queue)),
            name: "Python/mproc",
            at_most: false,
            limit: 100.0,
        },
        Target {
            bench: "Pipe::duplex round trip",
            ours: &t.pipe,
            with: Some(("raw SOCK_SEQPACKET pair", &t.seqpacket)),
            ratio: Some((&t.pipe, &t.seqpacket)),
            name: "mproc/raw",
            at_most: true,
            limit: 1.1,
        },
        Target {
            bench: "MessageQueue round trip",
            ours: &t.mq,
            with: Some(("raw POSIX mq pair", &t.raw_mq)),
            ratio: Some((&t.mq, &t.raw_mq)),
            name: "mproc/raw",
            at_most: true,
            limit: 1.1,
        },
    ];
    let _ = writeln!(
        out,
        "| benchmark ({SIZE} bytes, {placement}) | mproc µs | compared with | its µs | ratio | per-round ratios min–max | target | result |"
    );
    let _ = writeln!(out, "|---|--:|---|--:|--:|--:|---|---|");
    for t in targets {
        let ratios: Vec<f64> = t
            .ratio
            .map(|(num, den)| num.iter().zip(den).map(|(n, d)| n / d).collect())
            .unwrap_or_default();
        let value = match t.ratio {
            Some(_) => median(&ratios),
            None => median(t.ours),
        };
        let target = check(t.name, value, t.at_most, t.limit);
        let (with, theirs) = t.with.unwrap_or(("—", &[]));
        let dash = |s: String| if t.ratio.is_some() { s } else { "—".into() };
        let _ = writeln!(
            out,
            "| {} | {} | {with} | {} | {} | {} | {} | {} |",
            t.bench,
            cell(median(t.ours)),
            dash(cell(median(theirs))),
            dash(ratio(value)),
            dash(ratio_spread(&ratios)),
            target.0,
            verdict(&target),
        );
    }

    // 2. Every round trip.
    let _ = writeln!(
        out,
        "\n| round trip, {SIZE} bytes, {placement} | µs (median) | min–max | ÷ raw spin (floor) | ÷ mproc Queue |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|");
    let trips: [(&str, &[f64]); 11] = [
        ("raw spin ping-pong (the floor)", &t.spin),
        ("**mproc `Queue<[u8; 64], 64>`** (put/get)", &t.queue),
        ("iceoryx2 pub-sub, polling", &t.iceoryx2),
        ("raw `SOCK_SEQPACKET` pair (send/recv)", &t.seqpacket),
        ("**mproc `Pipe::duplex`** (send_bytes/recv_bytes)", &t.pipe),
        ("raw POSIX mq pair (mq_send/mq_receive)", &t.raw_mq),
        ("**mproc `MessageQueue`** pair (send/receive)", &t.mq),
        ("raw pipe pair (write/read)", &t.raw_pipe),
        ("ipc-channel `bytes_channel` pair", &t.ipc_channel),
        ("Python `Pipe()` (send_bytes/recv_bytes)", &t.py_pipe),
        ("Python `Queue()` pair (put/get)", &t.py_queue),
    ];
    for (name, v) in trips {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            cell(median(v)),
            spread(v),
            ratio(paired_ratio(v, &t.spin)),
            ratio(paired_ratio(v, &t.queue)),
        );
    }

    // 3. One-way throughput.
    let _ = writeln!(
        out,
        "\n| one-way, {SIZE} bytes, {placement} | M messages/s (median) | min–max | mproc Queue ÷ this |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|");
    let streams: [(&str, &[f64]); 9] = [
        ("raw spin ring, 64 slots (the floor)", &s.ring),
        ("**mproc `Queue<[u8; 64], 64>`**", &s.queue),
        ("iceoryx2 pub-sub, buffer 64, polling", &s.iceoryx2),
        ("raw `SOCK_SEQPACKET` pair", &s.seqpacket),
        ("**mproc `Pipe::simplex`**", &s.pipe),
        ("raw POSIX mq, depth 8", &s.raw_mq),
        ("**mproc `MessageQueue`**, depth 8", &s.mq),
        ("ipc-channel `bytes_channel`", &s.ipc_channel),
        ("Python `Queue()`", &s.py_queue),
    ];
    for (name, v) in streams {
        let m: Vec<f64> = v.iter().map(|r| r / 1e6).collect();
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            cell(median(&m)),
            spread(&m),
            ratio(paired_ratio(&s.queue, v)),
        );
    }
}
