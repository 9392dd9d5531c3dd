//! What both benchmark programs share: the Python peer, the machine block,
//! medians and ratios, and table cells. Included with `#[path]`.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mproc::process;

/// The benches' error type.
pub type Error = Box<dyn std::error::Error>;
/// The benches' result type.
pub type Result<T> = std::result::Result<T, Error>;

/// A Python peer script (`scripts/bench_peer.py` unless started with
/// [`Peer::start_script`]), running in one `python3` process, driven one
/// line per command and one line per answer.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts the peer; `None` (after a note on stderr) when there is no
    /// Python to run it.
    pub fn start(bench: &str) -> Option<Peer> {
        Peer::start_script(
            concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_peer.py"),
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

/// Now as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
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

pub fn per_op_us(elapsed: Duration, ops: u32) -> f64 {
    elapsed.as_secs_f64() * 1e6 / f64::from(ops)
}

/// Asks the peer; `None` if there is no (working) peer. A peer that fails
/// (no answer, or one starting with "error") is dropped for the rest of
/// the run, with a note naming `bench`.
pub fn ask_or_drop(python: &mut Option<Peer>, bench: &str, line: &str) -> Option<String> {
    let peer = python.as_mut()?;
    match peer.ask(line) {
        Ok(answer) if !answer.starts_with("error") => Some(answer),
        Ok(answer) => {
            drop_peer(python, bench, &answer);
            None
        }
        Err(e) => {
            drop_peer(python, bench, &e.to_string());
            None
        }
    }
}

/// Stops and reaps the peer, saying why on stderr.
pub fn drop_peer(python: &mut Option<Peer>, bench: &str, why: &str) {
    eprintln!("bench {bench}: Python contender dropped: {why}");
    if let Some(peer) = python.take() {
        peer.kill();
    }
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
