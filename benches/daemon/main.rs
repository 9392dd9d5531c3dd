//! Daemon benchmarks: the example daemon (`examples/daemon/`) as an
//! operator runs it, from its release binary, steered from this process
//! the way `tests/operator/` steers it; the numbers a firmware team asks
//! first.
//!
//! 1. **`USR1` → status report latency**: this process sends `SIGUSR1`
//!    ([`mproc::signal::kill`]) to an idle daemon (2 workers, default
//!    flags) and times, in one tight poll loop, until the log file has
//!    grown by the `status #n` line (`fstat` of a descriptor open on the
//!    log: its size; the line is then read back and checked) and until the
//!    status segment's `reports` counter reads `n` (the daemon stores it
//!    right after writing the line). Each poll iteration does both checks,
//!    so the resolution is one iteration (its median length is reported).
//!    The daemon is left idle for a few milliseconds before each signal, so
//!    every signal finds it parked in its one wait (`MainLoop::wait_pool`).
//!    Median, p90 (nearest rank) and min–max over the signals, in two
//!    placements: unpinned (the woken master usually takes this process's
//!    CPU at once, so the first poll, when this process runs again, finds
//!    the line already: the figure is then when the master went back to
//!    sleep, an upper bound; the output counts those signals), and apart
//!    (this process pinned to the CPU it runs on, the daemon to the others:
//!    a cross-CPU wake-up, and a poll resolution under a microsecond). Also
//!    the master's CPU time per report: its CPU clock
//!    (`clock_getcpuclockid`) read before each signal.
//! 2. **Job throughput**: `N` tiny jobs (`sleep 0`: the worker's task is a
//!    zero sleep, which makes no system call) sent by this process with
//!    [`MessageQueue::send`] straight to the daemon's queue (the job layout
//!    of `examples/daemon/`, included here as a module), timed from the
//!    first send until the status segment's `done` counter has grown by
//!    `N` (polled every 50 µs while this process is not blocked in
//!    `mq_send`). One daemon with 1 worker and one with 2, started once,
//!    measured in turn every round (the order swapped every round), default
//!    flags otherwise (queue depth 10, backlog 1024, task timeout 2 s). Every
//!    run checks that no job failed and that no worker was replaced. A second
//!    table shows where the time went: the CPU time (per job) of the master
//!    (its CPU clock, `clock_getcpuclockid`), of the workers and of this
//!    sending process over the run.
//!    Each round also measures the message queue's floor: a forked
//!    process that only waits for a queue of the daemon's depth and job
//!    size to be readable and drains it (`ipc::wait`, `try_receive` until
//!    empty), sent the same jobs the same way; its CPU per message is what
//!    the system calls a job needs cost, the kernel's wake of a sender
//!    blocked on the full queue included. The table gives the master's
//!    CPU per job over it, round by round.
//! 3. **Memory**: `Rss`, `Pss`, USS (`Private_Clean + Private_Dirty`) and
//!    `Private_Dirty` of the master and of a worker (the larger of the two
//!    by `Rss`), from
//!    `/proc/<pid>/smaps_rollup`, on a fresh daemon (2 workers) once it has
//!    started and every process sleeps, and again once it has run `M`
//!    `sleep 0` jobs and sleeps again. For the release binary and, where it
//!    builds, the static one.
//! 4. **Binary size**: the release `daemon` and `submit` binaries as built
//!    and stripped (a copy, by `strip`, or `objcopy --strip-all`), and the
//!    shared libraries they need (`readelf -d`). The static variant: built
//!    with `RUSTFLAGS=-C target-feature=+crt-static` for the host's
//!    `*-linux-gnu` triple into `target/bench-static` (its own target
//!    directory, so the ordinary release build is not invalidated); on a
//!    `*-linux-musl` host the release binary is static already; elsewhere
//!    the table says why there is none. A quick run skips that build.
//!
//! The binaries are `target/release/examples/{daemon,submit}`, built from
//! here by `cargo build --release --example daemon --example submit` (a
//! no-op when they are fresh), as `tests/operator/` does for its
//! profile. Each daemon runs on names of its own (`/mproc-bd-<pid>-<n>-q`
//! and `-s`, a scratch directory for its pidfile and log), in its own
//! process group, with `PR_SET_PDEATHSIG` = `SIGTERM` (if this bench dies,
//! its daemons drain and clean up). Each is stopped with `SIGTERM` and must
//! exit 0 and leave no pidfile, status segment, queue or process; a guard
//! kills what is left of one that misbehaves and removes its names.
//!
//! **Stalls.** A run whose daemon does no job for 250 ms while its master
//! and every worker sleep has stalled: jobs a worker finished are not
//! collected by the master until something else wakes it. The bench
//! records the daemon's counters, wakes the master with `SIGUSR1` (which
//! collects them), runs the sample again (at most 5 tries), prints every
//! stall after the tables, and then fails (exit status 1): a stall is the
//! daemon misbehaving, not noise.
//!
//! Nothing is pinned but the second `USR1` placement: the daemon needs the
//! machine's cores.
//!
//! Run it with `cargo bench --bench daemon` (or `scripts/bench.sh`).
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test of a
//! few seconds (and skips the static build).
//!
//! The harness is not libtest (`harness = false`): this process stays
//! single-threaded.

#![allow(unsafe_code)] // The watchdog, the CPU clocks of `common` and the daemon's PR_SET_PDEATHSIG call libc directly.

#[path = "../common/mod.rs"]
#[allow(dead_code)] // This bench uses a few of the helpers, not all.
mod common;

#[allow(dead_code)]
#[path = "../../tests/common/procs.rs"]
mod procs;

#[path = "../../examples/daemon/main.rs"]
#[allow(dead_code)] // the daemon's own `main`, and what only it uses
mod daemon;

mod binaries;
mod memory;
mod report;
mod running;
mod throughput;
mod usr1;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::fd::AsFd as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use daemon::Job;
use mproc::ErrorKind;
use mproc::daemon::{State, Status};
use mproc::ipc::MessageQueue;
use mproc::process::{Pid, Process};
use mproc::shm::SharedMemory;
use mproc::signal::{self, Signal};

use binaries::*;
use memory::*;
use report::*;
use running::*;
use throughput::*;
use usr1::*;

/// Sizes of one run.
struct Plan {
    /// `USR1` signals measured.
    signals: usize,
    /// `USR1` signals sent first, not recorded.
    warm_signals: usize,
    /// Idle time before each signal.
    gap: Duration,
    /// Measured throughput rounds (each runs both daemons once).
    rounds: usize,
    /// Jobs per throughput run (a tenth in the warm-up round).
    jobs: u32,
    /// Jobs between the two memory snapshots.
    memory_jobs: u32,
    /// How long every process of a daemon must have been asleep before a
    /// memory snapshot.
    settle: Duration,
    /// Whether to build the static variant.
    static_build: bool,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                signals: 10,
                warm_signals: 2,
                gap: Duration::from_millis(5),
                rounds: 1,
                jobs: 500,
                memory_jobs: 1_000,
                settle: Duration::from_millis(20),
                static_build: false,
            }
        } else {
            Plan {
                signals: 200,
                warm_signals: 10,
                gap: Duration::from_millis(5),
                rounds: 7,
                jobs: 50_000,
                memory_jobs: 10_000,
                settle: Duration::from_millis(200),
                static_build: true,
            }
        }
    }
}

/// Worker counts of the throughput daemons.
const WORKER_COUNTS: [usize; 2] = [1, 2];
/// How long one run may take before the watchdog ends the bench.
const PATIENCE: Duration = Duration::from_secs(120);
/// How long a build of the binaries may take.
const BUILD_PATIENCE: Duration = Duration::from_secs(900);
/// The longest wait for one observable step (start-up, a report, an exit).
const STEP: Duration = Duration::from_secs(30);
/// The poll interval while waiting for the jobs of a throughput run.
const JOB_POLL: Duration = Duration::from_micros(50);
/// No job done for this long, every process of the daemon asleep: a stall.
const STALL: Duration = Duration::from_millis(250);
/// Runs tried for one throughput sample before a stalling daemon fails the
/// bench.
const TRIES: usize = 5;

fn main() -> ExitCode {
    exit_code("daemon", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let plan = Plan::from_env();
    let load = load_average();
    watchdog::install("daemon")?;
    let bins = guarded("building the daemon binaries", BUILD_PATIENCE, || {
        binaries(&plan)
    })?;
    let m = benches(&plan, &bins)?;

    let mut out = String::new();
    machine_with_load(&mut out, "daemon", Some("not used by this bench"), &load);
    let _ = writeln!(
        out,
        "- method: the release binary `{}` (the example daemon), started from this process \
         on names of its own, default flags unless said. USR1: {} signals after {} unrecorded \
         ones, each after {} ms idle, sent with kill(2) from this process to a daemon with 2 \
         workers; the time until the log file's size grows by the `status #n` line (fstat of a \
         descriptor on the log, the line read back and checked) and until the status \
         segment's `reports` counter reads n, both in one tight poll loop; unpinned, then \
         apart (this process on its CPU, the daemon on the others). Throughput: {} \
         rounds after a warm-up round (a tenth of the size); {} `sleep 0` jobs per run sent \
         with `MessageQueue::send` (256-byte messages, queue depth 10, blocking when full), \
         timed from the first send until `done` has grown by that many (polled every {} µs); \
         a daemon with 1 worker and one with 2, in turn, the order swapped every round; \
         medians over the rounds. Memory: /proc/<pid>/smaps_rollup of a fresh 2-worker \
         daemon once every process has slept {} ms, before and after {} `sleep 0` jobs. Every \
         daemon is stopped with SIGTERM and must exit 0 leaving nothing behind. Not pinned \
         but for the USR1 placement \"apart\". A run with no job done for {} ms while every \
         process of the daemon sleeps is a stall: reported below, made again, and the bench \
         fails.{}\n",
        bins.daemon.display(),
        plan.signals,
        plan.warm_signals,
        plan.gap.as_millis(),
        plan.rounds,
        plan.jobs,
        JOB_POLL.as_micros(),
        plan.settle.as_millis(),
        plan.memory_jobs,
        STALL.as_millis(),
        quick_note(),
    );
    report(&mut out, &plan, &bins, &m);
    print_report(out, started);
    if m.stalls.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the daemon stalled {} time(s): jobs its workers had finished were not collected \
             until a signal woke its master (see \"Stalls\" above)",
            m.stalls.len()
        )
        .into())
    }
}

/// Everything [`benches`] measured.
struct Measured {
    usr1: Vec<Latency>,
    throughput: Vec<Throughput>,
    /// The bare receiver's readings, in the throughput rounds.
    floor: FloorReadings,
    /// Per binary (the release one, then the static one if any).
    memory: Vec<(&'static str, Memory)>,
    /// Every stall of the daemon the bench saw.
    stalls: Vec<String>,
}

fn benches(plan: &Plan, bins: &Binaries) -> Result<Measured> {
    let mut stalls = Vec::new();
    let usr1 = bench_usr1(plan, bins)?;
    let (throughput, floor) = bench_throughput(plan, bins, &mut stalls)?;
    let mut memory = vec![(
        "release",
        guarded("memory, release binary", PATIENCE, || {
            bench_memory(plan, "release", &bins.daemon, &mut stalls)
        })?,
    )];
    if let Ok((path, _)) = &bins.static_bins {
        memory.push((
            "static",
            guarded("memory, static binary", PATIENCE, || {
                bench_memory(plan, "static", path, &mut stalls)
            })?,
        ));
    }
    Ok(Measured {
        usr1,
        throughput,
        floor,
        memory,
        stalls,
    })
}
