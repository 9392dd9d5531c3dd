//! Process benchmarks: mproc against raw `libc` calls and against Python's
//! `multiprocessing`, in one run, reported as ratios.
//!
//! 1. **Process spawn+join**: `Process::new(|| ())`, `start`, `join` per op;
//!    against `fork` → child `_exit(0)` / parent `waitpid`; against Python's
//!    `get_context("fork").Process(target=f).start(); p.join()`.
//! 2. **Signal round trip**: the parent sends `SIGUSR1` to a child waiting in
//!    `sigwait`, which answers `SIGUSR2`, taken by the parent with `sigwait`.
//!    mproc uses [`mproc::signal::kill`] and [`SigSet::wait`]; raw uses
//!    `libc::kill` and `libc::sigwait`; Python uses `os.kill` and
//!    `signal.sigwait`.
//!
//! Each round runs every contender once, interleaved (raw, mproc, Python),
//! so drift hits all of them alike; the table shows the median µs/op over
//! the rounds. The Python contenders run in `scripts/bench_peer.py`, one
//! long-lived `python3` process driven over a pipe, which times its own
//! loops (interpreter start-up is not counted).
//!
//! Run it with `scripts/bench.sh` (or `cargo bench --bench process`).
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test;
//! `MPROC_BENCH_PYTHON` names the interpreter (default `python3`);
//! `MPROC_BENCH_CPU=<n>` pins every process to CPU `n` (default: the CPU the
//! bench starts on), `MPROC_BENCH_CPU=none` runs unpinned (see [`pin`]).
//!
//! The harness is not libtest (`harness = false`), so this process stays
//! single-threaded: nothing here starts a thread, and the bench checks that
//! before it forks.

#![allow(unsafe_code)] // The raw contenders call libc directly.

#[path = "common/mod.rs"]
#[allow(dead_code)] // Each bench uses part of it.
mod common;

use std::fmt::Write as _;

use common::*;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mproc::process::{self, Pid, Process};
use mproc::signal::{self, SigSet, Signal};

/// Sizes of one run.
struct Plan {
    /// Measured rounds (each runs every contender once).
    rounds: usize,
    /// Spawn+join ops per round, Rust contenders.
    spawn: u32,
    /// Signal round trips per round, Rust contenders.
    signal: u32,
    /// Spawn+join ops per round, Python.
    py_spawn: u32,
    /// Signal round trips per round, Python.
    py_signal: u32,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                rounds: 3,
                spawn: 30,
                signal: 200,
                py_spawn: 10,
                py_signal: 100,
            }
        } else {
            Plan {
                rounds: 15,
                spawn: 300,
                signal: 2000,
                py_spawn: 100,
                py_signal: 1000,
            }
        }
    }
}

fn main() -> ExitCode {
    exit_code("process", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let plan = Plan::from_env();
    // Before the Python peer starts, so that it inherits the affinity too.
    let pinned = pin()?;
    let python = Peer::start("process");
    let ((spawn, signal), python_version) = with_peer(python, |python| {
        Ok((bench_spawn(&plan, python)?, bench_signal(&plan, python)?))
    })?;

    let mut out = String::new();
    machine(&mut out, "process", python_version.as_deref());
    let _ = writeln!(
        out,
        "- method: {} rounds after a warm-up round; in each round raw → mproc → Python \
         run in turn; µs/op: median over the rounds; ratios: median of the per-round ratios. Ops per round: spawn {} (Python {}), \
         signal {} (Python {}). {}.{}\n",
        plan.rounds,
        plan.spawn,
        plan.py_spawn,
        plan.signal,
        plan.py_signal,
        match pinned {
            Some(cpu) => format!(
                "Every process (bench, children, Python peer) pinned to CPU {cpu} \
                 (MPROC_BENCH_CPU=none: unpinned)"
            ),
            None => "Not pinned to a CPU".to_owned(),
        },
        quick_note(),
    );
    table(&mut out, &spawn, &signal);
    print_report(out, started);
    Ok(())
}

// ------------------------------------------------------------- machinery

/// Per-round µs/op of each contender.
#[derive(Default)]
struct Samples {
    raw: Vec<f64>,
    mproc: Vec<f64>,
    python: Vec<f64>,
}

/// Refuses to go on if some thread has appeared: a fork would then copy
/// locks held by it, and `Process::start` would refuse anyway.
fn assert_single_threaded() -> Result<()> {
    let threads = process::thread_count()?;
    if threads != 1 {
        return Err(
            format!("the bench must be single-threaded, but runs {threads} threads").into(),
        );
    }
    Ok(())
}

/// Pins this process (and so every process it forks or spawns later) to
/// one CPU: `MPROC_BENCH_CPU=<n>`, or by default the CPU it runs on now;
/// `MPROC_BENCH_CPU=none` leaves the affinity alone. The CPU pinned to, if
/// any.
///
/// On one CPU a round trip or a spawn is a pair of context switches; across
/// CPUs it waits for an idle CPU to wake, which on virtual machines takes
/// anything from a few to a hundred microseconds depending on where the
/// scheduler happened to put the two processes, and that noise swamps the
/// differences being measured.
fn pin() -> Result<Option<usize>> {
    let cpu = match std::env::var("MPROC_BENCH_CPU") {
        Ok(v) if v.eq_ignore_ascii_case("none") => return Ok(None),
        Ok(v) => v
            .parse::<usize>()
            .map_err(|_| format!("MPROC_BENCH_CPU={v}: not a CPU number or \"none\""))?,
        Err(_) => {
            // SAFETY: sched_getcpu has no preconditions.
            let cpu = unsafe { libc::sched_getcpu() };
            match usize::try_from(cpu) {
                Ok(cpu) => cpu,
                Err(_) => return Ok(None),
            }
        }
    };
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays inside it
    // for cpu < CPU_SETSIZE, checked first; sched_setaffinity reads the set
    // for its size.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        cpu < libc::CPU_SETSIZE as usize && {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
        }
    };
    if !ok {
        return Err(os_error(&format!("pinning to CPU {cpu}")));
    }
    Ok(Some(cpu))
}

// ------------------------------------------------------------------ spawn

fn bench_spawn(plan: &Plan, python: &mut Option<Peer>) -> Result<Samples> {
    assert_single_threaded()?;
    let mut s = Samples::default();
    rounds(plan.rounds, |warm| {
        let (n, py_n) = (size(warm, plan.spawn), size(warm, plan.py_spawn));
        let raw = raw_spawn(n)?;
        let ours = mproc_spawn(n)?;
        let py = python_run(python, "spawn", py_n);
        if !warm {
            s.raw.push(per_op_us(raw, n));
            s.mproc.push(per_op_us(ours, n));
            s.python.extend(py);
        }
        Ok(())
    })?;
    Ok(s)
}

/// `n` times: `fork`, the child `_exit(0)`s, the parent `waitpid`s.
fn raw_spawn(n: u32) -> Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: the process is single-threaded (checked before the
        // benchmark), and the child only calls the async-signal-safe _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: _exit has no preconditions; it ends the child at once.
            unsafe { libc::_exit(0) };
        }
        if pid < 0 {
            return Err(os_error("fork"));
        }
        let mut status = 0;
        // SAFETY: `status` is a live c_int the kernel writes to.
        if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
            return Err(os_error("waitpid"));
        }
    }
    Ok(start.elapsed())
}

/// `n` times: `Process::new(|| ())`, `start`, `join`.
fn mproc_spawn(n: u32) -> Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        let mut p = Process::new(|| ());
        p.start()?;
        let code = p.join()?;
        if code != 0 {
            return Err(format!("a spawned child exited with {code}").into());
        }
    }
    Ok(start.elapsed())
}

// ----------------------------------------------------------------- signal

fn bench_signal(plan: &Plan, python: &mut Option<Peer>) -> Result<Samples> {
    assert_single_threaded()?;
    let parent = process::getpid();

    // Both children answer with SIGUSR2 to this process, which takes it with
    // sigwait: block SIGUSR1 and SIGUSR2 here before either fork.
    let mask = SigSet::from_signals(&[Signal::USR1, Signal::USR2]).block()?;
    let usr2 = SigSet::from(Signal::USR2);

    // Raw: the child inherits the mask from the fork.
    let raw_child = raw_echo_start()?;

    // mproc: a Process child starts with an empty mask (the crate's fork
    // contract), so it blocks SIGUSR1 itself and then says it is ready.
    let mut echo = Process::new(move || {
        let _blocked = SigSet::from(Signal::USR1)
            .block()
            .expect("block SIGUSR1 in the child");
        let usr1 = SigSet::from(Signal::USR1);
        signal::kill(parent, Signal::USR2).expect("ready signal");
        loop {
            usr1.wait().expect("sigwait in the child");
            signal::kill(parent, Signal::USR2).expect("answer");
        }
    })
    .daemon(true);
    echo.start()?;
    let ready = usr2.wait()?;
    let echo_pid = echo.pid().ok_or("no pid for a started Process")?;
    if ready.sender != Some(echo_pid) {
        return Err(format!("unexpected SIGUSR2 from {:?}", ready.sender).into());
    }

    let mut s = Samples::default();
    let result = rounds(plan.rounds, |warm| {
        let (n, py_n) = (size(warm, plan.signal), size(warm, plan.py_signal));
        let raw = raw_round_trips(raw_child, n)?;
        let ours = mproc_round_trips(echo_pid, usr2, n)?;
        let py = python_run(python, "signal", py_n);
        if !warm {
            s.raw.push(per_op_us(raw, n));
            s.mproc.push(per_op_us(ours, n));
            s.python.extend(py);
        }
        Ok(())
    });

    // Stop both children (SIGTERM is not blocked in them), then take any
    // stray SIGUSR2 before the mask is lifted.
    // SAFETY: kill and waitpid on our own child; `status` is a live c_int.
    unsafe {
        libc::kill(raw_child, libc::SIGTERM);
        let mut status = 0;
        libc::waitpid(raw_child, &mut status, 0);
    }
    echo.terminate()?;
    echo.join()?;
    while usr2.try_wait()?.is_some() {}
    drop(mask);
    result?;
    Ok(s)
}

/// Forks the raw echo child: `sigwait(SIGUSR1)` → `kill(parent, SIGUSR2)`,
/// forever. The caller has blocked both signals.
fn raw_echo_start() -> Result<libc::pid_t> {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the process is single-threaded (checked by the caller), and
    // the child below calls only async-signal-safe functions (prctl, getppid,
    // sigemptyset, sigaddset, sigwait, kill, _exit).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(os_error("fork"));
    }
    if pid == 0 {
        // SAFETY: plain syscalls on values owned by this frame; the set is
        // initialised by sigemptyset before use; _exit ends the child.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            let mut sig = 0;
            loop {
                if libc::sigwait(&set, &mut sig) != 0 || libc::kill(parent, libc::SIGUSR2) != 0 {
                    libc::_exit(1);
                }
            }
        }
    }
    Ok(pid)
}

/// `n` round trips with the raw child: `libc::kill` + `libc::sigwait`.
fn raw_round_trips(child: libc::pid_t, n: u32) -> Result<Duration> {
    // SAFETY: a zeroed sigset_t is valid storage, set up by sigemptyset and
    // sigaddset before use.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        set
    };
    let mut sig = 0;
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: kill has no memory preconditions; `child` is our child.
        if unsafe { libc::kill(child, libc::SIGUSR1) } != 0 {
            return Err(os_error("kill"));
        }
        // SAFETY: `set` and `sig` are live locals; SIGUSR2 is blocked.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return Err(os_error("sigwait"));
        }
    }
    Ok(start.elapsed())
}

/// `n` round trips with the mproc child: `signal::kill` + `SigSet::wait`.
fn mproc_round_trips(child: Pid, usr2: SigSet, n: u32) -> Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        signal::kill(child, Signal::USR1)?;
        usr2.wait()?;
    }
    Ok(start.elapsed())
}

// ----------------------------------------------------------------- Python

/// One Python measurement, `n` ops of `bench`: µs/op, or nothing if there
/// is no (working) peer; a failing peer is dropped for the rest of the run.
fn python_run(python: &mut Option<Peer>, bench: &str, n: u32) -> Option<f64> {
    let [ns]: [f64; 1] = ask_numbers(python, &format!("{bench} {n}"))?;
    Some(ns / 1e3 / f64::from(n))
}

// ----------------------------------------------------------------- report

/// The result cell of several [`check`]s: met if all are, else which are
/// not.
fn verdicts(checks: &[(String, Option<bool>)]) -> String {
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.1 == Some(false))
        .map(|c| c.0.as_str())
        .collect();
    let unknown: Vec<&str> = checks
        .iter()
        .filter(|c| c.1.is_none())
        .map(|c| c.0.as_str())
        .collect();
    let mut v = if failed.is_empty() {
        "**met**".to_owned()
    } else {
        format!("**not met** ({})", failed.join(", "))
    };
    if !unknown.is_empty() {
        let _ = write!(v, "; n/a: {}", unknown.join(", "));
    }
    v
}

fn row(out: &mut String, name: &str, s: &Samples, python_target: bool, raw_limit: f64) {
    let (m, r, p) = (median(&s.mproc), median(&s.raw), median(&s.python));
    // Contenders of one round run back to back, so a round's ratio is free
    // of the drift between rounds: the ratio shown is the median of the
    // per-round ratios (paired), not the ratio of the medians.
    let (mr, pm) = (
        paired_ratio(&s.mproc, &s.raw),
        paired_ratio(&s.python, &s.mproc),
    );
    let mut checks = vec![check("mproc/raw", mr, true, raw_limit)];
    if python_target {
        checks.push(check("Python/mproc", pm, false, 10.0));
    }
    let target: Vec<&str> = checks.iter().map(|c| c.0.as_str()).collect();
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} |",
        cell(m),
        cell(r),
        cell(p),
        ratio_cell(mr),
        ratio_cell(pm),
        target.join(", "),
        verdicts(&checks),
    );
}

fn table(out: &mut String, spawn: &Samples, signal: &Samples) {
    let _ = writeln!(
        out,
        "| benchmark | mproc µs/op | raw µs/op | Python µs/op | mproc/raw | Python/mproc | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|---|---|");
    row(out, "Process spawn+join", spawn, true, 1.2);
    row(
        out,
        "signal round trip (kill + sigwait)",
        signal,
        false,
        1.1,
    );
    let _ = writeln!(out, "\nSpread over the rounds (min–max µs/op):\n");
    let _ = writeln!(out, "| benchmark | mproc | raw | Python |");
    let _ = writeln!(out, "|---|--:|--:|--:|");
    for (name, s) in [("Process spawn+join", spawn), ("signal round trip", signal)] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            spread(&s.mproc),
            spread(&s.raw),
            spread(&s.python)
        );
    }
}
