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

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
        let quick = std::env::var("MPROC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
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

type Error = Box<dyn std::error::Error>;
type Result<T> = std::result::Result<T, Error>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench process: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let started = Instant::now();
    let plan = Plan::from_env();
    // Before the Python peer starts, so that it inherits the affinity too.
    let pinned = pin()?;
    let mut python = Peer::start();
    let python_version = python.as_mut().and_then(|p| p.version().ok());
    if python.is_some() && python_version.is_none() {
        python = None;
    }

    let spawn = bench_spawn(&plan, &mut python)?;
    let signal = bench_signal(&plan, &mut python)?;
    if let Some(peer) = python {
        peer.quit();
    }

    let mut out = String::new();
    machine(&mut out, python_version.as_deref());
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
        if plan.rounds < 9 {
            " QUICK run: smoke test only."
        } else {
            ""
        },
    );
    table(&mut out, &spawn, &signal);
    let _ = writeln!(
        out,
        "\nWhole run: {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    print!("{out}");
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

fn per_op_us(elapsed: Duration, ops: u32) -> f64 {
    elapsed.as_secs_f64() * 1e6 / f64::from(ops)
}

fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        f64::midpoint(v[mid - 1], v[mid])
    })
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

/// The errno of the last failed libc call, as an error.
fn os_error(what: &str) -> Error {
    format!("{what}: {}", std::io::Error::last_os_error()).into()
}

/// Runs `round` once as a warm-up (`true`, not recorded), then once per
/// measured round (`false`).
fn rounds(plan: &Plan, mut round: impl FnMut(bool) -> Result<()>) -> Result<()> {
    round(true)?;
    for _ in 0..plan.rounds {
        round(false)?;
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
    rounds(plan, |warm| {
        let (n, py_n) = if warm {
            (plan.spawn / 10 + 1, plan.py_spawn / 10 + 1)
        } else {
            (plan.spawn, plan.py_spawn)
        };
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
    let result = rounds(plan, |warm| {
        let (n, py_n) = if warm {
            (plan.signal / 10 + 1, plan.py_signal / 10 + 1)
        } else {
            (plan.signal, plan.py_signal)
        };
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

/// `scripts/bench_peer.py`, running in one `python3` process.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts the peer; `None` (after a note on stderr) when there is no
    /// Python to run it.
    fn start() -> Option<Peer> {
        let python = std::env::var("MPROC_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_peer.py");
        let spawned = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                eprintln!("bench process: no Python contender ({python}: {e})");
                return None;
            }
        };
        let stdin = child.stdin.take()?;
        let stdout = BufReader::new(child.stdout.take()?);
        Some(Peer {
            child,
            stdin,
            stdout,
        })
    }

    fn ask(&mut self, line: &str) -> Result<String> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        let mut answer = String::new();
        if self.stdout.read_line(&mut answer)? == 0 {
            return Err("the Python peer closed its output".into());
        }
        Ok(answer.trim().to_owned())
    }

    fn version(&mut self) -> Result<String> {
        self.ask("version")
    }

    /// Runs `n` ops of `bench` in the peer: µs/op.
    fn run(&mut self, bench: &str, n: u32) -> Result<f64> {
        let answer = self.ask(&format!("{bench} {n}"))?;
        let ns: f64 = answer
            .parse()
            .map_err(|_| format!("Python peer: {answer}"))?;
        Ok(ns / 1e3 / f64::from(n))
    }

    fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// One Python measurement, or nothing if there is no (working) peer; a
/// failing peer is dropped for the rest of the run.
fn python_run(python: &mut Option<Peer>, bench: &str, n: u32) -> Option<f64> {
    let peer = python.as_mut()?;
    match peer.run(bench, n) {
        Ok(us) => Some(us),
        Err(e) => {
            eprintln!("bench process: Python contender dropped: {e}");
            if let Some(mut peer) = python.take() {
                let _ = peer.child.kill();
                let _ = peer.child.wait();
            }
            None
        }
    }
}

// ----------------------------------------------------------------- report

fn machine(out: &mut String, python: Option<&str>) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            matches!(key.trim(), "model name" | "Hardware" | "cpu model").then(|| value.trim())
        })
        .unwrap_or("unknown");
    let cores = process::cpu_count().map_or_else(|_| "?".into(), |n| n.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    let _ = writeln!(out, "## mproc process benchmarks\n");
    let _ = writeln!(out, "- CPU: {cpu}, {cores} cores online");
    let _ = writeln!(out, "- kernel: Linux {kernel}");
    let _ = writeln!(out, "- {rustc}");
    let _ = writeln!(out, "- Python: {}", python.unwrap_or("n/a"));
    let _ = writeln!(out, "- date: {}", utc_now());
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn cell(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn ratio_cell(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".into(), |r| format!("{r:.2}"))
}

/// A target `ratio ≤ limit` or `ratio ≥ limit`: its text and whether it is
/// met (`None`: cannot tell).
fn check(name: &str, r: Option<f64>, at_most: bool, limit: f64) -> (String, Option<bool>) {
    let op = if at_most { "≤" } else { "≥" };
    let met = r.map(|r| if at_most { r <= limit } else { r >= limit });
    (format!("{name} {op} {limit}"), met)
}

fn verdict(checks: &[(String, Option<bool>)]) -> String {
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
        verdict(&checks),
    );
}

/// The median over the rounds of `num[i] / den[i]`; `None` without samples
/// (a missing Python).
fn paired_ratio(num: &[f64], den: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = num.iter().zip(den).map(|(n, d)| n / d).collect();
    median(&ratios)
}

fn spread(s: &[f64]) -> String {
    let lo = s.iter().copied().reduce(f64::min);
    let hi = s.iter().copied().reduce(f64::max);
    match (lo, hi) {
        (Some(lo), Some(hi)) => format!("{}–{}", cell(Some(lo)), cell(Some(hi))),
        _ => "n/a".into(),
    }
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
