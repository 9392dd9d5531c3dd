//! What the benchmark programs share: the Python peer, the machine block,
//! rounds, medians and ratios, table cells, the watchdog, the CPU usage of
//! a process, and children started together. Included with `#[path]`.

use std::fmt::{Display, Write as _};
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::process::{self, Pid, Process};
use mproc::shm::Shared;
use mproc::sync::Event;

/// The benches' error type.
pub type Error = Box<dyn std::error::Error>;
/// The benches' result type.
pub type Result<T> = std::result::Result<T, Error>;

/// A bench's exit: on an error, says so on stderr (naming `bench`) and
/// fails.
pub fn exit_code(bench: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench {bench}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `MPROC_BENCH_QUICK` asks for a smoke run (set, and neither
/// empty nor `0`).
pub fn quick_run() -> bool {
    std::env::var("MPROC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The end of a method line: a note on a [`quick_run`], or nothing.
pub fn quick_note() -> &'static str {
    if quick_run() {
        " QUICK run: smoke test only."
    } else {
        ""
    }
}

/// Runs `round` once as a warm-up (`true`, not recorded), then `count`
/// times as a measured round (`false`).
pub fn rounds(count: usize, mut round: impl FnMut(bool) -> Result<()>) -> Result<()> {
    rounds_indexed(count, |warm, _| round(warm))
}

/// [`rounds`], with the index of each measured round (0 for the warm-up).
pub fn rounds_indexed(
    count: usize,
    mut round: impl FnMut(bool, usize) -> Result<()>,
) -> Result<()> {
    round(true, 0)?;
    for i in 0..count {
        round(false, i)?;
    }
    Ok(())
}

/// `n`, or a tenth of it for the warm-up round.
pub fn size(warm: bool, n: u32) -> u32 {
    if warm { n / 10 + 1 } else { n }
}

/// Runs `f` under the [`watchdog`], which names `what` if it takes more
/// than `patience`.
pub fn guarded<T>(
    what: &'static str,
    patience: Duration,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    watchdog::arm(what, patience);
    let r = f();
    watchdog::disarm();
    r
}

/// A Python peer script (`scripts/bench_peer.py` unless started with
/// [`Peer::start_file`] or [`Peer::start_script`]), running in one
/// `python3` process, driven one line per command and one line per answer.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The bench it serves, named in notes on stderr.
    bench: String,
}

impl Peer {
    /// Starts the peer; `None` (after a note on stderr) when there is no
    /// Python to run it.
    pub fn start(bench: &str) -> Option<Peer> {
        Peer::start_file("bench_peer.py", bench)
    }

    /// Starts the peer script `scripts/<file>` of this package, as
    /// [`Peer::start_script`] does.
    pub fn start_file(file: &str, bench: &str) -> Option<Peer> {
        Peer::start_script(
            &format!("{}/scripts/{file}", env!("CARGO_MANIFEST_DIR")),
            bench,
        )
    }

    /// Starts the peer script at `script` (`MPROC_BENCH_PYTHON` runs it,
    /// default `python3`); `None` (after a note on stderr) when there is no
    /// Python to run it.
    pub fn start_script(script: &str, bench: &str) -> Option<Peer> {
        let python = std::env::var("MPROC_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        let spawned = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                eprintln!("bench {bench}: no Python contender ({python}: {e})");
                return None;
            }
        };
        let stdin = child.stdin.take()?;
        let stdout = BufReader::new(child.stdout.take()?);
        Some(Peer {
            child,
            stdin,
            stdout,
            bench: bench.to_owned(),
        })
    }

    pub fn ask(&mut self, line: &str) -> Result<String> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        let mut answer = String::new();
        if self.stdout.read_line(&mut answer)? == 0 {
            return Err("the Python peer closed its output".into());
        }
        Ok(answer.trim().to_owned())
    }

    pub fn version(&mut self) -> Result<String> {
        self.ask("version")
    }

    /// Stops a peer that misbehaves, and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

pub fn machine(out: &mut String, title: &str, python: Option<&str>) {
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
    let _ = writeln!(out, "## mproc {title} benchmarks\n");
    let _ = writeln!(out, "- CPU: {cpu}, {cores} cores online");
    let _ = writeln!(out, "- kernel: Linux {kernel}");
    let _ = writeln!(out, "- {rustc}");
    let _ = writeln!(out, "- Python: {}", python.unwrap_or("n/a"));
    let _ = writeln!(out, "- date: {}", utc_now());
}

/// [`machine`], then the load average at the start (`load`, read by
/// [`load_average`] then) and now.
pub fn machine_with_load(out: &mut String, title: &str, python: Option<&str>, load: &str) {
    machine(out, title, python);
    let _ = writeln!(
        out,
        "- load average (1, 5, 15 min) at the start: {load}; at the end: {}",
        load_average()
    );
}

/// The first three fields of `/proc/loadavg`: other work on the machine
/// shows here (the bench itself adds about 1 by the end).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// Adds the wall time of the whole run (since `started`) to the report
/// `out`, and prints it.
pub fn print_report(mut out: String, started: Instant) {
    let _ = writeln!(
        out,
        "\nWhole run: {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    print!("{out}");
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    // `2026-11-23T12:37:05.123Z` → `2026-11-23 12:37 UTC`.
    let t = mproc::daemon::UtcTime::now().to_string();
    format!("{} {} UTC", &t[..10], &t[11..16])
}

pub fn cell(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

pub fn ratio_cell(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".into(), |r| format!("{r:.2}"))
}

/// A target `ratio ≤ limit` or `ratio ≥ limit`: its text and whether it is
/// met (`None`: cannot tell).
pub fn check(name: &str, r: Option<f64>, at_most: bool, limit: f64) -> (String, Option<bool>) {
    let op = if at_most { "≤" } else { "≥" };
    let met = r.map(|r| if at_most { r <= limit } else { r >= limit });
    (format!("{name} {op} {limit}"), met)
}

/// The result cell of one [`check`].
pub fn verdict(c: &(String, Option<bool>)) -> String {
    match c.1 {
        Some(true) => "**met**".to_owned(),
        Some(false) => "**not met**".to_owned(),
        None => "n/a".to_owned(),
    }
}

pub fn median(samples: &[f64]) -> Option<f64> {
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

/// The `p`-th percentile (0 < `p` ≤ 100) of `samples` by the nearest-rank
/// method: the smallest sample that at least `p` % of them do not exceed;
/// `None` without samples.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// The median over the rounds of `num[i] / den[i]`; `None` without samples
/// (a missing Python).
pub fn paired_ratio(num: &[f64], den: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = num.iter().zip(den).map(|(n, d)| n / d).collect();
    median(&ratios)
}

/// The errno of the last failed libc call, as an error.
pub fn os_error(what: &str) -> Error {
    format!("{what}: {}", std::io::Error::last_os_error()).into()
}

pub fn spread(s: &[f64]) -> String {
    let lo = s.iter().copied().reduce(f64::min);
    let hi = s.iter().copied().reduce(f64::max);
    match (lo, hi) {
        (Some(lo), Some(hi)) => format!("{}–{}", cell(Some(lo)), cell(Some(hi))),
        _ => "n/a".into(),
    }
}

/// The spread table under the heading `title`: per benchmark and
/// contender, the min–max of its samples.
pub fn spread_table<'a>(
    out: &mut String,
    title: &str,
    rows: impl IntoIterator<Item = (impl Display, impl Display, &'a [f64])>,
) {
    let _ = writeln!(out, "\n{title}\n");
    let _ = writeln!(out, "| benchmark | contender | min–max |");
    let _ = writeln!(out, "|---|---|--:|");
    for (bench, who, s) in rows {
        let _ = writeln!(out, "| {bench} | {who} | {} |", spread(s));
    }
}

pub fn per_op_us(elapsed: Duration, ops: u32) -> f64 {
    elapsed.as_secs_f64() * 1e6 / f64::from(ops)
}

pub fn ns_per_op(elapsed: Duration, ops: impl Into<f64>) -> f64 {
    elapsed.as_secs_f64() * 1e9 / ops.into()
}

/// Asks the peer; `None` if there is no (working) peer. A peer that fails
/// (no answer, or one starting with "error") is dropped for the rest of
/// the run, with a note naming its bench.
pub fn ask_or_drop(python: &mut Option<Peer>, line: &str) -> Option<String> {
    let peer = python.as_mut()?;
    match peer.ask(line) {
        Ok(answer) if !answer.starts_with("error") => Some(answer),
        Ok(answer) => {
            drop_peer(python, &answer);
            None
        }
        Err(e) => {
            drop_peer(python, &e.to_string());
            None
        }
    }
}

/// Asks the peer `line` and reads its answer as `N` numbers separated by
/// white space; `None` if there is no (working) peer. A peer whose answer
/// is not that is dropped, as [`ask_or_drop`] does.
pub fn ask_numbers<T: FromStr, const N: usize>(
    python: &mut Option<Peer>,
    line: &str,
) -> Option<[T; N]> {
    let answer = ask_or_drop(python, line)?;
    let numbers: Option<Vec<T>> = answer.split_whitespace().map(|w| w.parse().ok()).collect();
    let numbers = numbers.and_then(|v| <[T; N]>::try_from(v).ok());
    if numbers.is_none() {
        drop_peer(python, &format!("{line}: {answer}"));
    }
    numbers
}

/// The peer's Python version; a peer that does not answer is dropped, as
/// [`drop_peer`] does.
pub fn peer_version(python: &mut Option<Peer>) -> Option<String> {
    let version = python.as_mut()?.version().ok();
    if version.is_none() {
        drop_peer(python, "no answer to \"version\"");
    }
    version
}

/// Runs `benches` with the peer `python` (if it answers to "version"),
/// then stops and reaps the peer whatever happened to the benchmarks:
/// their measurements and the peer's Python version.
pub fn with_peer<T>(
    mut python: Option<Peer>,
    benches: impl FnOnce(&mut Option<Peer>) -> Result<T>,
) -> Result<(T, Option<String>)> {
    let version = peer_version(&mut python);
    let measured = benches(&mut python);
    if let Some(peer) = python {
        peer.quit();
    }
    Ok((measured?, version))
}

/// Stops and reaps the peer, if any, saying why on stderr.
pub fn drop_peer(python: &mut Option<Peer>, why: &str) {
    if let Some(peer) = python.take() {
        eprintln!("bench {}: Python contender dropped: {why}", peer.bench);
        peer.kill();
    }
}

/// CPU time and context switches of a process so far.
#[derive(Clone, Copy, Default)]
pub struct Usage {
    /// Voluntary context switches (parked: futex wait, poll, sleep).
    pub parks: u64,
    /// Involuntary ones (preempted, or `sched_yield` that switched).
    pub preempted: u64,
    /// User + system CPU time, ns.
    pub cpu_ns: u64,
}

impl Usage {
    /// This process's (`getrusage`).
    pub fn of_self() -> Usage {
        // SAFETY: a zeroed rusage is valid storage that getrusage fills.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut ru);
            ru
        };
        let ns = |t: libc::timeval| {
            u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000
                + u64::try_from(t.tv_usec).unwrap_or(0) * 1_000
        };
        Usage {
            parks: u64::try_from(ru.ru_nvcsw).unwrap_or(0),
            preempted: u64::try_from(ru.ru_nivcsw).unwrap_or(0),
            cpu_ns: ns(ru.ru_utime) + ns(ru.ru_stime),
        }
    }

    /// Another process's: its CPU clock (`clock_getcpuclockid`, which
    /// includes the slice it may be running right now;
    /// `/proc/<pid>/schedstat` does not) and the switches
    /// `/proc/<pid>/status` counts; `None` when they cannot be read (the
    /// diagnostics then read n/a).
    pub fn of_pid(pid: i32) -> Option<Usage> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `clock` is a live clockid_t the call writes to.
        if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
            return None;
        }
        // SAFETY: a zeroed timespec is valid storage that clock_gettime fills.
        let t = unsafe {
            let mut t: libc::timespec = std::mem::zeroed();
            if libc::clock_gettime(clock, &mut t) != 0 {
                return None;
            }
            t
        };
        let cpu_ns =
            u64::try_from(t.tv_sec).ok()? * 1_000_000_000 + u64::try_from(t.tv_nsec).ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status.lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (key.trim() == name).then(|| value.trim().parse().ok())?
            })
        };
        Some(Usage {
            parks: field("voluntary_ctxt_switches")?,
            preempted: field("nonvoluntary_ctxt_switches")?,
            cpu_ns,
        })
    }

    /// What was used from `before` to `self`.
    pub fn since(self, before: Usage) -> Usage {
        Usage {
            parks: self.parks.saturating_sub(before.parks),
            preempted: self.preempted.saturating_sub(before.preempted),
            cpu_ns: self.cpu_ns.saturating_sub(before.cpu_ns),
        }
    }
}

/// Child processes started together; killed and reaped if dropped before
/// joining them (an error, a panic): no child outlives a contender. They
/// are daemons too, so they die with the bench even if it is killed.
pub struct Gang<F: FnOnce()> {
    procs: Vec<Process<F>>,
}

impl<F: FnOnce()> Gang<F> {
    /// Starts `n` children, child `i` running `target(i)`.
    pub fn start(n: usize, mut target: impl FnMut(usize) -> F) -> Result<Gang<F>> {
        let mut gang = Gang {
            procs: Vec::with_capacity(n),
        };
        for i in 0..n {
            let mut p = Process::new(target(i)).daemon(true);
            p.start()?;
            gang.procs.push(p);
        }
        Ok(gang)
    }

    /// Child `i`'s pid.
    pub fn pid(&self, i: usize) -> Option<Pid> {
        self.procs.get(i)?.pid()
    }

    /// Joins every child; each must exit with 0 within `patience`.
    pub fn join(mut self, patience: Duration) -> Result<()> {
        while let Some(p) = self.procs.pop() {
            match p.join_timeout(patience) {
                Ok(Some(0)) => {}
                Ok(Some(code)) => {
                    return Err(format!("a benchmark child exited with {code}").into());
                }
                Ok(None) => {
                    let _ = p.kill();
                    let _ = p.join();
                    return Err(format!("a benchmark child hung for {patience:?}").into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl<F: FnOnce()> Drop for Gang<F> {
    fn drop(&mut self) {
        for p in &self.procs {
            let _ = p.kill();
            let _ = p.join();
        }
    }
}

/// The most children of one [`run_released`].
pub const MAX_RELEASED: usize = 8;

/// Start barrier, end stamps and usage of one [`run_released`], in shared
/// memory, each in its own segment (no false sharing with what the
/// children work on).
struct Board {
    /// Children ready and waiting for `go`.
    ready: Shared<AtomicU32>,
    /// Set by the bench to release them all at once.
    go: Shared<Event>,
    /// Per child: its end time (ns after `base`), then its [`Usage`] since
    /// the release.
    slots: Shared<[[AtomicU64; 4]; MAX_RELEASED]>,
    /// The run's base instant. Instant is CLOCK_MONOTONIC: one clock for
    /// every process.
    base: Instant,
}

/// One child's place in a [`run_released`].
pub struct Lane<'a> {
    board: &'a Board,
    i: usize,
}

impl Lane<'_> {
    /// Says this child is ready, waits for the release of all, runs `work`
    /// (the timed part), and records when it ended and what it used since
    /// the release.
    pub fn run(self, work: impl FnOnce() -> Result<()>) -> Result<()> {
        let board = self.board;
        // SYNC POINT: Release pairs with the bench's Acquire load.
        board.ready.fetch_add(1, Ordering::Release);
        board.go.wait();
        let before = Usage::of_self();
        work()?;
        let end = board.base.elapsed();
        let used = Usage::of_self().since(before);
        let end_ns = u64::try_from(end.as_nanos()).unwrap_or(u64::MAX);
        for (cell, v) in
            board.slots[self.i]
                .iter()
                .zip([end_ns, used.parks, used.preempted, used.cpu_ns])
        {
            cell.store(v, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// One [`run_released`]: wall time from the release to the last child
/// done, and the children's [`Usage`] in that time, summed.
pub struct Released {
    pub elapsed: Duration,
    pub usage: Usage,
}

/// Forks `procs` children (at most [`MAX_RELEASED`]), each running `child`
/// with its [`Lane`], through which it waits until all are ready and
/// released together and then times its work. The bench runs `at_release`
/// just before the release, and joins the children (each must end within
/// `patience`, and ready within it too). A child whose `child` fails says
/// so on stderr (naming `bench`) and exits with 1, which fails the run.
pub fn run_released(
    bench: &str,
    procs: usize,
    patience: Duration,
    child: impl Fn(Lane<'_>) -> Result<()>,
    at_release: impl FnOnce(),
) -> Result<Released> {
    assert!(procs <= MAX_RELEASED);
    let board = Board {
        ready: Shared::new(AtomicU32::new(0))?,
        go: Shared::new(Event::new())?,
        slots: Shared::zeroed()?,
        base: Instant::now(),
    };
    let (board, child) = (&board, &child);
    let gang = Gang::start(procs, |i| {
        move || {
            if let Err(e) = child(Lane { board, i }) {
                eprintln!("bench {bench}: child {i}: {e}");
                process::exit(1);
            }
        }
    })?;
    // Sleep, not spin: pinned, the children need this CPU to get ready.
    let deadline = Instant::now() + patience;
    // SYNC POINT: Acquire pairs with the children's Release increments.
    while board.ready.load(Ordering::Acquire) < procs as u32 {
        if Instant::now() > deadline {
            return Err("the children never got ready".into());
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    at_release();
    let start = board.base.elapsed();
    board.go.set();
    // Joining reaps them: their stores are visible after it.
    gang.join(patience)?;
    let mut end = Duration::ZERO;
    let mut usage = Usage::default();
    for slot in board.slots.iter().take(procs) {
        let [e, parks, preempted, cpu_ns] = [0, 1, 2, 3].map(|k| slot[k].load(Ordering::Relaxed));
        end = end.max(Duration::from_nanos(e));
        usage.parks += parks;
        usage.preempted += preempted;
        usage.cpu_ns += cpu_ns;
    }
    Ok(Released {
        elapsed: end.saturating_sub(start),
        usage,
    })
}

/// `alarm(2)` around each run: SIGALRM's handler names the bench and the
/// run on stderr and exits; children made as daemons (and peers that die
/// with their parent) go with the bench.
pub mod watchdog {
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
    use std::time::Duration;

    use super::{Result, os_error};

    /// A `&'static str` as a pointer and a length, readable from a signal
    /// handler.
    struct Text(AtomicPtr<u8>, AtomicUsize);

    impl Text {
        const fn new() -> Text {
            Text(AtomicPtr::new(std::ptr::null_mut()), AtomicUsize::new(0))
        }

        fn set(&self, text: &'static str) {
            self.0.store(text.as_ptr().cast_mut(), Ordering::SeqCst);
            self.1.store(text.len(), Ordering::SeqCst);
        }

        /// Writes the text to stderr. This is async-signal-safe.
        fn write(&self) {
            let (ptr, len) = (self.0.load(Ordering::SeqCst), self.1.load(Ordering::SeqCst));
            if !ptr.is_null() {
                // SAFETY: `ptr` and `len` describe a `&'static str` that `set` stored.
                unsafe { libc::write(2, ptr.cast_const().cast(), len) };
            }
        }
    }

    static BENCH: Text = Text::new();
    static RUN: Text = Text::new();

    /// This is async-signal-safe: atomic loads, `write(2)`, `_exit(2)`.
    extern "C" fn on_alarm(_: libc::c_int) {
        let say = |bytes: &[u8]| {
            // SAFETY: writes static bytes.
            unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        };
        say(b"bench ");
        BENCH.write();
        say(b": watchdog: no result in time from ");
        RUN.write();
        say(b"\n");
        // SAFETY: ends the process at once, as the watchdog must.
        unsafe { libc::_exit(3) };
    }

    /// Installs the SIGALRM handler for the bench named `bench`.
    pub fn install(bench: &'static str) -> Result<()> {
        BENCH.set(bench);
        // SAFETY: a zeroed sigaction is valid; the handler is set, with an
        // empty mask and no flags; `on_alarm` is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&raw mut action.sa_mask);
            if libc::sigaction(libc::SIGALRM, &raw const action, std::ptr::null_mut()) != 0 {
                return Err(os_error("sigaction(SIGALRM)"));
            }
        }
        Ok(())
    }

    /// Ends the bench if `run` has not disarmed within `patience`.
    pub fn arm(run: &'static str, patience: Duration) {
        RUN.set(run);
        // SAFETY: alarm has no preconditions.
        unsafe { libc::alarm(patience.as_secs() as libc::c_uint) };
    }

    pub fn disarm() {
        // SAFETY: alarm has no preconditions.
        unsafe { libc::alarm(0) };
    }
}

/// `Rss`, `Pss`, USS (`Private_Clean + Private_Dirty`) and
/// `Private_Dirty` of one process, KiB, from `/proc/<pid>/smaps_rollup`.
#[derive(Clone, Copy)]
pub struct Footprint {
    pub rss: f64,
    pub pss: f64,
    pub uss: f64,
    pub dirty: f64,
}

impl Footprint {
    /// `None` (said on stderr, naming `bench`) when the file cannot be
    /// read or lacks a field.
    pub fn of(bench: &str, pid: i32) -> Option<Footprint> {
        let path = format!("/proc/{pid}/smaps_rollup");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("bench {bench}: no memory figures for pid {pid} ({path}: {e})");
                return None;
            }
        };
        let field = |name: &str| -> Option<f64> {
            text.lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                if key.trim() != name {
                    return None;
                }
                value.trim().strip_suffix("kB")?.trim().parse::<f64>().ok()
            })
        };
        let usage = (|| {
            let dirty = field("Private_Dirty")?;
            Some(Footprint {
                rss: field("Rss")?,
                pss: field("Pss")?,
                uss: field("Private_Clean")? + dirty,
                dirty,
            })
        })();
        if usage.is_none() {
            eprintln!("bench {bench}: {path} lacks Rss, Pss, Private_Clean or Private_Dirty");
        }
        usage
    }
}

/// A word in shared memory that the two sides of a run step up to order
/// their set-up: each waits for the stage the other reaches (for a minute
/// at most).
pub struct Stage(Shared<AtomicU32>);

impl Stage {
    pub fn new() -> Result<Stage> {
        Ok(Stage(Shared::new(AtomicU32::new(0))?))
    }

    pub fn reach(&self, stage: u32) {
        // SYNC POINT: Release pairs with the Acquire in `wait`: the set-up
        // done before this store is seen by the side that waited for it.
        self.0.store(stage, Ordering::Release);
    }

    /// Spins (yielding) until the other side has reached `stage`.
    pub fn wait(&self, stage: u32) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        // SYNC POINT: Acquire pairs with the Release in `reach`.
        while self.0.load(Ordering::Acquire) < stage {
            if Instant::now() > deadline {
                return Err(format!("the other side never reached stage {stage}").into());
            }
            std::thread::yield_now();
        }
        Ok(())
    }
}
