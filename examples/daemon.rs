//! A pre-fork daemon steered with signals, the way an operator runs one:
//! jobs arrive on a POSIX message queue, a static pool of forked workers
//! runs them, one line per job goes to a log file, counters live in a
//! named status segment that other programs read (`examples/status.rs`),
//! and `kill` steers it as gunicorn's and nginx's masters are steered.
//! `examples/submit.rs` sends it jobs.
//!
//! ```text
//! cargo build --examples && cd target/debug/examples
//! ./daemon --pidfile /tmp/jobs.pid --log /tmp/jobs.log --queue /jobs --status /jobs-status &
//! ./submit --queue /jobs checksum /etc/hosts
//! kill -USR1 $(cat /tmp/jobs.pid); tail -n 2 /tmp/jobs.log
//! kill -TERM $(cat /tmp/jobs.pid)
//! ```
//!
//! Flags (all optional): `--pidfile PATH` (`/tmp/mproc-daemon.pid`),
//! `--log PATH` (`/tmp/mproc-daemon.log`), `--queue NAME`
//! (`/mproc-daemon-jobs`), `--status NAME` (`/mproc-daemon-status`),
//! `--workers N` (2), `--task-timeout MS` (2000; 0: none), `--grace MS`
//! (10000), `--queue-depth N` (10, the kernel's default
//! `/proc/sys/fs/mqueue/msg_max` for an unprivileged user), `--backlog N`
//! (1024), `--max-jobs N` (0: never; otherwise each worker is replaced
//! after N jobs, plus up to N/4 more drawn per worker, gunicorn's
//! `max_requests` and `max_requests_jitter`). It stays in the foreground
//! (run it under systemd, or with `&`); its output is the log file.
//!
//! # Signals
//!
//! | signal | what the daemon does | convention |
//! |---|---|---|
//! | `USR1` | reopens the log file by its path (after logrotate moved it) and writes one status line to it | gunicorn `USR1`, nginx `USR1` |
//! | `USR2` | writes one line per worker: pid, age, jobs run, resident set | (both use `USR2` for a binary upgrade, which a fork-only pool has no use for) |
//! | `HUP` | replaces every worker: each finishes its job, exits, and a fresh fork takes its place; no job is lost | gunicorn `HUP`, nginx `HUP` |
//! | `TTIN` / `TTOU` | one worker more / fewer, within `MPROC_POOL_MAX_WORKERS`, never fewer than 1 | gunicorn `TTIN`/`TTOU` |
//! | `WINCH` | stops every worker (each finishes its job); the master stays, `idle`, and keeps accepting jobs; `TTIN` brings a worker back | gunicorn and nginx `WINCH` |
//! | `TERM` | drains: takes no new jobs, finishes the accepted ones within `--grace`, then `SIGKILL`s what is left; exits 0 and removes its pidfile, status segment and queue | gunicorn `TERM`, nginx `QUIT` |
//! | `INT`, `QUIT` | stops at once: the workers are terminated (`SIGTERM`, `SIGKILL` half a second later), unfinished jobs are reported failed; exits 0 and cleans up | gunicorn `INT`/`QUIT`, nginx `TERM`/`INT` |
//! | `CHLD` | not taken: the pool watches each worker's pidfd in the same wait, reaps a worker that ends and forks its replacement | (the master's `SIGCHLD` handler in gunicorn and nginx) |
//!
//! Signals are blocked and read from a `signalfd` in the one wait of the
//! main loop ([`MainLoop::wait_pool`]), which also watches the job queue
//! and the workers: no handler runs asynchronously, and nothing is
//! polled.
//!
//! # After `kill -9`
//!
//! A daemon killed with `SIGKILL` (or by the OOM killer) cannot clean up:
//! its pidfile, status segment and job queue stay (its workers die with
//! it: the pool forks them with `PR_SET_PDEATHSIG`). Started again on the
//! same names, the daemon takes each of them over through the library's
//! reclaim paths ([`Pidfile::create`], [`SharedMemory::reclaim`],
//! [`MessageQueue::reclaim`]), which remove only what they recognise as
//! left by an `mproc` process that is gone, and writes one log line for
//! each: `took over the status segment /jobs-status of pid 4242, which is
//! gone`. Jobs that were in the dead daemon's queue are lost with it. A
//! live daemon on the pidfile is still refused (`already running`), and a
//! name held by anything else (another program's queue, a file that is not
//! a pidfile) stops the start with an error that says what was found,
//! leaving it untouched.
//!
//! # Jobs
//!
//! A job is one message of [`JOB_BYTES`] (256) bytes, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | id (`u64`), chosen by the submitter |
//! | 8..12 | kind (`u32`): 1 `checksum`, 2 `sleep`, 3 `fail`, 4 `crash`, 5 `overrun` |
//! | 12..16 | length of the path (`u32`), at most 232 |
//! | 16..24 | milliseconds (`u64`), for `sleep` |
//! | 24..256 | the path, for `checksum` (absolute: the daemon's working directory is not the submitter's) |
//!
//! - `checksum FILE`: the worker reads the file and answers its CRC-32
//!   (the one of zlib, gzip and Python's `zlib.crc32`) and its length.
//! - `sleep MS`: the worker sleeps.
//! - `fail`: the task returns an error.
//! - `crash`: the worker kills itself with `SIGKILL`.
//! - `overrun`: the worker sleeps five seconds past `--task-timeout`; the pool
//!   stops it (`SIGTERM`, then `SIGKILL`), fails the job as timed out and
//!   forks a replacement.
//!
//! Every job that was accepted gets exactly one line in the log:
//! `job <id> done <result> (pid <worker>)` or `job <id> failed <reason>`.
//!
//! # The life of a job, and the choices made
//!
//! - **Accepted** means taken from the message queue. The daemon takes
//!   messages into its own backlog (`--backlog`, allocated once at start)
//!   and hands them to the pool as slots free up: at most
//!   `MPROC_POOL_SLOTS` jobs are in the pool at once (back-pressure; a
//!   submission never waits for a slot). The backlog exists because the
//!   kernel lets an unprivileged user's queue hold only 10 messages
//!   (`msg_max`); when the backlog is full the daemon stops reading, the
//!   queue fills, and submitters wait.
//! - **A worker that dies mid-job** (`kill -9`, the OOM killer, a `crash`
//!   job) fails exactly that job, with the worker's pid and signal in the
//!   reason, and the pool forks a replacement. The job is **not retried**:
//!   a job that kills its worker would kill the next one too (a poison
//!   message); resubmitting is the submitter's decision.
//! - **`TERM`**: the jobs waiting in the message queue at that moment count
//!   as accepted (they are taken, and done); the queue's name is removed at
//!   once, so later submitters are told the daemon is gone, and anything
//!   sent after that by a submitter that had the queue open already is not
//!   accepted (the final log line counts it). If `WINCH` had stopped the
//!   workers, they are brought back for the drain. When the grace period
//!   runs out, the workers still running are sent `SIGKILL` and every
//!   unfinished job is reported failed.
//! - **Counters** in the status segment ([`Status`]): `workers`,
//!   `target_workers`, `queued` (accepted, not ended: backlog and pool),
//!   `done`, `failed`, `forks` (workers forked since the start, `Pool::forks`),
//!   `reports` (`USR1` lines written), `rss_kib` (the master's), and four
//!   of the daemon's own: `user[0]` jobs accepted, `user[1]` jobs started
//!   by a worker (the worker counts it, through the segment it inherited),
//!   `user[2]` jobs timed out, `user[3]` messages waiting in the queue.
//!   A job is counted (`done`, `failed`) after its log line is written,
//!   and a report after its status line: a reader that sees a count sees
//!   the lines.
//!

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io::Read as _;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mproc::config::{POOL_MAX_WORKERS, POOL_SLOTS};
use mproc::daemon::{LogFile, MainLoop, Pidfile, Snapshot, State, Status};
use mproc::ipc::MessageQueue;
use mproc::pool::{Pool, TaskData, TaskError};
use mproc::process::{self, Process};
use mproc::shm::SharedMemory;
use mproc::signal::{self, SigSet, Signal};
use mproc::{ErrorKind, Pid};

/// The size of one job message.
pub const JOB_BYTES: usize = 256;
/// The longest path a `checksum` job carries.
pub const PATH_BYTES: usize = JOB_BYTES - 24;

/// Where the daemon's things are when no flag says otherwise.
pub const DEFAULT_PIDFILE: &str = "/tmp/mproc-daemon.pid";
/// The default log file.
pub const DEFAULT_LOG: &str = "/tmp/mproc-daemon.log";
/// The default job queue.
pub const DEFAULT_QUEUE: &str = "/mproc-daemon-jobs";
/// The default status segment.
pub const DEFAULT_STATUS: &str = "/mproc-daemon-status";

/// `Status::user` index: jobs accepted (taken from the queue).
pub const ACCEPTED: usize = 0;
/// `Status::user` index: jobs a worker started.
pub const STARTED: usize = 1;
/// `Status::user` index: jobs failed for running past the task timeout.
pub const TIMEOUTS: usize = 2;
/// `Status::user` index: messages waiting in the queue, as last seen.
pub const WAITING: usize = 3;

// ------------------------------------------------------------------ jobs

/// What a job asks for.
#[derive(TaskData, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// CRC-32 and length of a file.
    Checksum,
    /// Sleep some milliseconds.
    Sleep,
    /// Return an error.
    Fail,
    /// Kill the worker with `SIGKILL`.
    Crash,
    /// Sleep past the task timeout.
    Overrun,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 5] = [
        Kind::Checksum,
        Kind::Sleep,
        Kind::Fail,
        Kind::Crash,
        Kind::Overrun,
    ];

    /// Its code in a message.
    pub fn code(self) -> u32 {
        match self {
            Kind::Checksum => 1,
            Kind::Sleep => 2,
            Kind::Fail => 3,
            Kind::Crash => 4,
            Kind::Overrun => 5,
        }
    }

    /// The kind of `code`.
    pub fn from_code(code: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Its name on the command line and in the log.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Checksum => "checksum",
            Kind::Sleep => "sleep",
            Kind::Fail => "fail",
            Kind::Crash => "crash",
            Kind::Overrun => "overrun",
        }
    }

    /// The kind named `name`.
    #[allow(dead_code)] // used by submit.rs, not by the daemon or the tour
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One job, as a message carries it and as a worker receives it.
#[derive(TaskData, Clone, Copy)]
pub struct Job {
    /// The submitter's id for it.
    pub id: u64,
    /// What to do.
    pub kind: Kind,
    /// Milliseconds to sleep (`sleep`; `overrun`: set by the daemon).
    pub ms: u64,
    path_len: u32,
    path: [u8; PATH_BYTES],
}

/// Why a message is not a job: the id when it could be read.
#[derive(Debug)]
pub struct Rejected {
    /// The id in the message, if it was long enough to hold one.
    pub id: Option<u64>,
    /// What is wrong with it.
    pub why: &'static str,
}

impl Job {
    /// A job of `kind` without argument.
    pub fn new(id: u64, kind: Kind) -> Job {
        Job {
            id,
            kind,
            ms: 0,
            path_len: 0,
            path: [0; PATH_BYTES],
        }
    }

    /// A `sleep` job.
    pub fn sleep(id: u64, ms: u64) -> Job {
        Job {
            ms,
            ..Job::new(id, Kind::Sleep)
        }
    }

    /// A `checksum` job for `path`, or `None` when the path is longer than
    /// [`PATH_BYTES`].
    pub fn checksum(id: u64, path: &Path) -> Option<Job> {
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() > PATH_BYTES {
            return None;
        }
        let mut job = Job::new(id, Kind::Checksum);
        job.path[..bytes.len()].copy_from_slice(bytes);
        job.path_len = bytes.len() as u32;
        Some(job)
    }

    /// The path of a `checksum` job.
    pub fn path(&self) -> &Path {
        let len = (self.path_len as usize).min(PATH_BYTES);
        Path::new(std::ffi::OsStr::from_bytes(&self.path[..len]))
    }

    /// The message for it.
    pub fn encode(&self) -> [u8; JOB_BYTES] {
        let mut m = [0u8; JOB_BYTES];
        m[0..8].copy_from_slice(&self.id.to_le_bytes());
        m[8..12].copy_from_slice(&self.kind.code().to_le_bytes());
        m[12..16].copy_from_slice(&self.path_len.to_le_bytes());
        m[16..24].copy_from_slice(&self.ms.to_le_bytes());
        m[24..].copy_from_slice(&self.path);
        m
    }

    /// The job a message carries.
    ///
    /// # Errors
    ///
    /// [`Rejected`] for a message of the wrong size, an unknown kind or a
    /// path length past [`PATH_BYTES`].
    pub fn decode(m: &[u8]) -> Result<Job, Rejected> {
        let word = |r: core::ops::Range<usize>| {
            let mut b = [0u8; 8];
            b[..r.len()].copy_from_slice(&m[r]);
            u64::from_le_bytes(b)
        };
        if m.len() != JOB_BYTES {
            return Err(Rejected {
                id: (m.len() >= 8).then(|| word(0..8)),
                why: "not a job message (jobs are 256 bytes)",
            });
        }
        let id = word(0..8);
        let kind = Kind::from_code(word(8..12) as u32).ok_or(Rejected {
            id: Some(id),
            why: "unknown job kind",
        })?;
        let path_len = word(12..16) as u32;
        if path_len as usize > PATH_BYTES {
            return Err(Rejected {
                id: Some(id),
                why: "path length past 232 bytes",
            });
        }
        let mut path = [0u8; PATH_BYTES];
        path.copy_from_slice(&m[24..]);
        Ok(Job {
            id,
            kind,
            ms: word(16..24),
            path_len,
            path,
        })
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Checksum => write!(f, "checksum {}", self.path().display()),
            Kind::Sleep => write!(f, "sleep {}", self.ms),
            k => f.write_str(k.name()),
        }
    }
}

// --------------------------------------------------------- the worker side

/// What a worker sends back: its pid, and the text after `done` or
/// `failed` in the log.
pub type Reply = (u32, Text);
/// A line's text, inline (a task's result travels by its bytes).
pub type Text = heapless::String<320>;

fn text(args: fmt::Arguments<'_>) -> Text {
    let mut t = Text::new();
    // Cut where it stops fitting.
    let _ = fmt::Write::write_fmt(&mut t, args);
    t
}

thread_local! {
    /// The daemon's shared state. Set in the master before the pool
    /// forks, so each worker has its copy (and the status segment's
    /// mapping) from the fork: that is how a task, a plain `fn`, reaches
    /// the status segment to count the jobs it starts.
    static DAEMON: RefCell<Option<Rc<Daemon>>> = const { RefCell::new(None) };
}

/// A job, run in a worker.
// Both variants travel back inline in the task's slot (by their bytes, not
// boxed): their size is the point.
#[allow(clippy::result_large_err)]
fn work(job: Job) -> Result<Reply, Reply> {
    DAEMON.with(|d| {
        if let Some(d) = d.borrow().as_ref() {
            d.board.user[STARTED].fetch_add(1, Relaxed);
        }
    });
    let pid = process::getpid().as_raw() as u32;
    match job.kind {
        Kind::Checksum => match crc32_file(job.path()) {
            Ok((crc, len)) => Ok((
                pid,
                text(format_args!(
                    "crc32={crc:08x} bytes={len} {}",
                    job.path().display()
                )),
            )),
            Err(e) => Err((
                pid,
                text(format_args!("checksum {}: {e}", job.path().display())),
            )),
        },
        Kind::Sleep => {
            std::thread::sleep(Duration::from_millis(job.ms));
            Ok((pid, text(format_args!("slept {} ms", job.ms))))
        }
        Kind::Fail => Err((pid, text(format_args!("as asked (kind fail)")))),
        Kind::Crash => {
            let _ = signal::kill(process::getpid(), Signal::KILL);
            Err((pid, text(format_args!("could not kill itself"))))
        }
        Kind::Overrun => {
            std::thread::sleep(Duration::from_millis(job.ms));
            Ok((
                pid,
                text(format_args!(
                    "overran by sleeping {} ms (no timeout)",
                    job.ms
                )),
            ))
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected; zlib's `crc32`), one byte at a time
/// from a table made at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// `crc` extended by `bytes` (start from 0).
pub fn crc32(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

fn crc32_file(path: &Path) -> std::io::Result<(u32, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = [0u8; 16 * 1024];
    let (mut crc, mut len) = (0u32, 0u64);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok((crc, len)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crc = crc32(crc, &buf[..n]);
        len += n as u64;
    }
}

// --------------------------------------------------------- the master side

/// The command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// `--pidfile`.
    pub pidfile: PathBuf,
    /// `--log`.
    pub log: PathBuf,
    /// `--queue`.
    pub queue: String,
    /// `--status`.
    pub status: String,
    /// `--workers`.
    pub workers: usize,
    /// `--task-timeout`, ms (0: none).
    pub task_timeout_ms: u64,
    /// `--grace`, ms.
    pub grace_ms: u64,
    /// `--queue-depth`.
    pub queue_depth: usize,
    /// `--backlog`.
    pub backlog: usize,
    /// `--max-jobs` (0: never).
    pub max_jobs: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            pidfile: DEFAULT_PIDFILE.into(),
            log: DEFAULT_LOG.into(),
            queue: DEFAULT_QUEUE.into(),
            status: DEFAULT_STATUS.into(),
            workers: 2,
            task_timeout_ms: 2000,
            grace_ms: 10_000,
            queue_depth: 10,
            backlog: 1024,
            max_jobs: 0,
        }
    }
}

const USAGE: &str = "usage: daemon [--pidfile PATH] [--log PATH] [--queue NAME] [--status NAME] \
[--workers N] [--task-timeout MS] [--grace MS] [--queue-depth N] [--backlog N] [--max-jobs N]";

impl Config {
    /// Parses the flags (without the program name).
    ///
    /// # Errors
    ///
    /// A message naming the flag, or the usage for `--help`.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
        let mut c = Config::default();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.into());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let number = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag} takes a number, not {v:?}"))
            };
            match flag.as_str() {
                "--pidfile" => c.pidfile = value.into(),
                "--log" => c.log = value.into(),
                "--queue" => c.queue = value,
                "--status" => c.status = value,
                "--workers" => c.workers = number(&value)? as usize,
                "--task-timeout" => c.task_timeout_ms = number(&value)?,
                "--grace" => c.grace_ms = number(&value)?,
                "--queue-depth" => c.queue_depth = number(&value)? as usize,
                "--backlog" => c.backlog = number(&value)? as usize,
                "--max-jobs" => c.max_jobs = number(&value)?,
                _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
            }
        }
        if c.workers == 0 || c.workers > POOL_MAX_WORKERS {
            return Err(format!(
                "--workers is 1 to {POOL_MAX_WORKERS} (MPROC_POOL_MAX_WORKERS)"
            ));
        }
        if c.queue_depth == 0 || c.backlog == 0 {
            return Err("--queue-depth and --backlog are at least 1".into());
        }
        Ok(c)
    }
}

/// A worker as the master has seen it.
struct Seen {
    pid: Pid,
    since: Instant,
    jobs: u64,
}

/// What the master's loop and the pool's callbacks share.
struct Daemon {
    log: RefCell<LogFile>,
    board: SharedMemory<Status>,
    workers: RefCell<heapless::Vec<Seen, POOL_MAX_WORKERS>>,
    /// Why the pool is being stopped, for the jobs it fails.
    stopping: Cell<&'static str>,
}

/// The status line: the board's snapshot and the daemon's own counters.
pub struct StatusLine(pub Snapshot);

impl fmt::Display for StatusLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        write!(
            f,
            "{s} accepted={} started={} timeouts={} waiting={}",
            s.user[ACCEPTED], s.user[STARTED], s.user[TIMEOUTS], s.user[WAITING]
        )
    }
}

/// The resident set of process `pid`, KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: Pid) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Daemon {
    /// One line in the log, after a timestamp.
    fn say(&self, args: fmt::Arguments<'_>) {
        let stamp = mproc::daemon::UtcTime::now();
        if let Err(e) = self.log.borrow_mut().line(format_args!("{stamp} {args}")) {
            eprintln!("daemon: cannot write the log: {e}");
        }
    }

    fn count(&self, pid: u32) {
        if let Some(w) = self
            .workers
            .borrow_mut()
            .iter_mut()
            .find(|w| w.pid.as_raw() as u32 == pid)
        {
            w.jobs += 1;
        }
    }

    /// Counts a job's end. Always after its log line: a reader that sees
    /// `done + failed` reach N finds N lines in the log.
    fn tally(&self, ok: bool) {
        let b = &self.board;
        b.queued.fetch_sub(1, Relaxed);
        if ok {
            b.done.fetch_add(1, Relaxed);
        } else {
            b.failed.fetch_add(1, Relaxed);
        }
    }

    /// A job's task ended: with its result or its own error.
    fn ended(&self, id: u64, reply: &Result<Reply, Reply>) {
        let ((pid, t), ok) = match reply {
            Ok(r) => (r, true),
            Err(r) => (r, false),
        };
        self.count(*pid);
        let verb = if ok { "done" } else { "failed" };
        self.say(format_args!("job {id} {verb} {t} (pid {pid})"));
        self.tally(ok);
    }

    /// A job's task gave no result: its worker died, ran out of time, or
    /// the pool was stopped.
    fn lost(&self, id: u64, e: &TaskError) {
        match e.kind() {
            ErrorKind::WorkerDied { pid, exitcode } if exitcode < 0 && exitcode != i32::MIN => {
                self.say(format_args!(
                    "job {id} failed its worker (pid {pid}) was killed by signal {} (not retried)",
                    -exitcode
                ));
            }
            ErrorKind::WorkerDied { pid, exitcode } if exitcode >= 0 => self.say(format_args!(
                "job {id} failed its worker (pid {pid}) ended with exit code {exitcode} (not retried)"
            )),
            ErrorKind::TaskTimedOut { pid, timeout_ms } => {
                self.say(format_args!(
                    "job {id} failed timed out after {timeout_ms} ms (worker pid {pid} stopped and replaced)"
                ));
                self.board.user[TIMEOUTS].fetch_add(1, Relaxed);
            }
            ErrorKind::Terminated => self.say(format_args!(
                "job {id} failed stopped unfinished: {}",
                self.stopping.get()
            )),
            ErrorKind::Panicked => {
                self.say(format_args!("job {id} failed panicked: {}", e.message()));
            }
            _ => self.say(format_args!("job {id} failed {e}")),
        }
        self.tally(false);
    }

    /// A job that is never handed to a worker.
    fn abandoned(&self, id: u64, why: fmt::Arguments<'_>) {
        self.say(format_args!("job {id} failed {why}"));
        self.tally(false);
    }

    /// Takes a message as a job into the backlog, or reports it.
    fn accept(&self, message: &[u8], backlog: &mut VecDeque<Job>, timeout_ms: u64) {
        match Job::decode(message) {
            Ok(mut job) => {
                self.board.queued.fetch_add(1, Relaxed);
                self.board.user[ACCEPTED].fetch_add(1, Relaxed);
                if job.kind == Kind::Overrun {
                    job.ms = if timeout_ms == 0 {
                        10_000
                    } else {
                        timeout_ms + 5000
                    };
                }
                backlog.push_back(job);
            }
            Err(Rejected { id: Some(id), why }) => {
                self.board.queued.fetch_add(1, Relaxed);
                self.board.user[ACCEPTED].fetch_add(1, Relaxed);
                self.abandoned(id, format_args!("rejected: {why}"));
            }
            Err(Rejected { id: None, why }) => self.say(format_args!(
                "dropped a message of {} bytes: {why}",
                message.len()
            )),
        }
    }

    /// Brings the board up to date with the pool: workers (a pid not seen
    /// before is a fork), the target, the queue, the master's RSS.
    fn refresh(&self, pool: &Pool, mq: &MessageQueue) {
        let pids = pool.pids();
        {
            let mut seen = self.workers.borrow_mut();
            seen.retain(|w| pids.contains(&w.pid));
            for &pid in &pids {
                if !seen.iter().any(|w| w.pid == pid) {
                    let _ = seen.push(Seen {
                        pid,
                        since: Instant::now(),
                        jobs: 0,
                    });
                }
            }
        }
        let b = &self.board;
        b.workers.store(pids.len() as u32, Relaxed);
        b.target_workers.store(pool.processes() as u32, Relaxed);
        b.forks.store(pool.forks(), Relaxed);
        if let Ok(a) = mq.attributes() {
            b.user[WAITING].store(a.current as u64, Relaxed);
        }
        b.touch();
    }

    /// `USR1`: reopen the log, then one status line in it.
    fn report(&self, pool: &Pool, mq: &MessageQueue, backlog: usize) {
        if let Err(e) = self.log.borrow_mut().reopen() {
            self.say(format_args!(
                "USR1: cannot reopen the log, writing on to the old file: {e}"
            ));
        }
        let n = self.board.reports.load(Relaxed) + 1;
        self.refresh(pool, mq);
        let line = StatusLine(self.board.snapshot());
        self.say(format_args!("status #{n} {line} backlog={backlog}"));
        // Counted once written, as the jobs are.
        self.board.reports.store(n, Relaxed);
    }

    /// `USR2`: one line per worker.
    fn list_workers(&self, pool: &Pool, mq: &MessageQueue, n: u64) {
        self.refresh(pool, mq);
        let seen = self.workers.borrow();
        self.say(format_args!(
            "workers #{n} live={} target={}",
            seen.len(),
            pool.processes()
        ));
        for w in seen.iter() {
            let rss = rss_kib(w.pid).unwrap_or(0);
            self.say(format_args!(
                "worker #{n} pid={} age={}s jobs={} rss={rss}KiB",
                w.pid,
                w.since.elapsed().as_secs(),
                w.jobs
            ));
        }
    }
}

/// How the loop ended.
enum End {
    /// `TERM`, and every accepted job ended.
    Drained,
    /// `TERM`, and the grace period ran out.
    GraceRanOut,
    /// `INT` or `QUIT`.
    Quick(Signal),
}

/// Clears the workers' copy of the shared state from this thread when the
/// master ends, so the status segment goes with the last handle.
struct ForgetDaemon;

impl Drop for ForgetDaemon {
    fn drop(&mut self) {
        DAEMON.with(|d| drop(d.borrow_mut().take()));
    }
}

/// The status segment. One left by a daemon that is gone (killed with
/// `kill -9`) is reclaimed: the pid of that daemon, to log the takeover.
/// Anything else under the name is refused, and left alone.
fn status_board(name: &str) -> mproc::Result<(SharedMemory<Status>, Option<i32>)> {
    match SharedMemory::create(name, Status::new()) {
        Err(e) => match e.kind() {
            ErrorKind::StaleSegment { owner } if SharedMemory::<Status>::reclaim(name)? => {
                Ok((SharedMemory::create(name, Status::new())?, Some(owner)))
            }
            _ => Err(e),
        },
        Ok(board) => Ok((board, None)),
    }
}

/// The job queue, and the pid of the daemon that left it (as
/// [`status_board`]). A name taken by anything but a queue of ours whose
/// daemon is gone is refused, saying what holds it.
fn job_queue(name: &str, depth: usize) -> mproc::Result<(MessageQueue, Option<i32>)> {
    match MessageQueue::create(name, depth, JOB_BYTES) {
        Err(e) => match e.kind() {
            ErrorKind::StaleSegment { owner } if MessageQueue::reclaim(name)? => {
                Ok((MessageQueue::create(name, depth, JOB_BYTES)?, Some(owner)))
            }
            // Say what holds it, if it is not ours.
            ErrorKind::AlreadyExists => Err(MessageQueue::reclaim(name).err().unwrap_or(e)),
            _ => Err(e),
        },
        Ok(queue) => Ok((queue, None)),
    }
}

/// Runs the daemon until `TERM`, `INT` or `QUIT`.
///
/// # Errors
///
/// What stops it from starting (another instance, a name in use, a kernel
/// limit) or from waiting.
pub fn serve(cfg: &Config) -> Result<(), Box<dyn std::error::Error>> {
    // First, before anything is forked: the signals are blocked from here
    // on and read in the loop.
    let main = MainLoop::new(SigSet::from_signals(&[
        Signal::USR1,
        Signal::USR2,
        Signal::HUP,
        Signal::TTIN,
        Signal::TTOU,
        Signal::WINCH,
        Signal::TERM,
        Signal::INT,
        Signal::QUIT,
    ]))?;
    let pidfile =
        Pidfile::create(&cfg.pidfile).map_err(|e| format!("{}: {e}", cfg.pidfile.display()))?;
    let log = LogFile::open(&cfg.log).map_err(|e| format!("{}: {e}", cfg.log.display()))?;
    let (board, board_of) =
        status_board(&cfg.status).map_err(|e| format!("status segment {}: {e}", cfg.status))?;
    let d = Rc::new(Daemon {
        log: RefCell::new(log),
        board,
        workers: RefCell::new(heapless::Vec::new()),
        stopping: Cell::new("the daemon is shutting down"),
    });
    // One line per thing taken over from a daemon that is gone.
    if let Some(pid) = pidfile.replaced() {
        d.say(format_args!(
            "took over the pidfile {} of pid {pid}, which is gone",
            cfg.pidfile.display()
        ));
    }
    if let Some(pid) = board_of {
        d.say(format_args!(
            "took over the status segment {} of pid {pid}, which is gone",
            cfg.status
        ));
    }
    let (mut mq, queue_of) =
        job_queue(&cfg.queue, cfg.queue_depth).map_err(|e| format!("queue {}: {e}", cfg.queue))?;
    if let Some(pid) = queue_of {
        d.say(format_args!(
            "took over the job queue {} of pid {pid}, which is gone",
            cfg.queue
        ));
    }
    DAEMON.with(|cell| *cell.borrow_mut() = Some(Rc::clone(&d)));
    let forget = ForgetDaemon;
    let mut builder = Pool::builder().processes(cfg.workers);
    if cfg.task_timeout_ms > 0 {
        builder = builder.task_timeout(Duration::from_millis(cfg.task_timeout_ms));
    }
    if cfg.max_jobs > 0 {
        builder = builder
            .maxtasksperchild(cfg.max_jobs)
            .maxtasksperchild_jitter(cfg.max_jobs / 4);
    }
    let pool = builder.build()?;

    let mut backlog: VecDeque<Job> = VecDeque::with_capacity(cfg.backlog + cfg.queue_depth);
    let mut wanted = cfg.workers;
    let mut drain_until: Option<Instant> = None;
    let mut lists = 0u64;
    d.refresh(&pool, &mq);
    d.board.set_state(State::Running);
    d.say(format_args!(
        "started pid={} workers={} queue={} status={} pidfile={} task-timeout={}ms grace={}ms",
        process::getpid(),
        cfg.workers,
        cfg.queue,
        cfg.status,
        cfg.pidfile.display(),
        cfg.task_timeout_ms,
        cfg.grace_ms
    ));
    let mut message = [0u8; JOB_BYTES];

    let end = loop {
        // Wait: on the queue while there is room for its jobs, the
        // signals, and the workers.
        let listen = drain_until.is_none() && backlog.len() < cfg.backlog;
        // A task's end, a worker's exit and the task timeouts wake the
        // wait by themselves; only a drain has a deadline of its own.
        let timeout = drain_until.map(|until| until.saturating_duration_since(Instant::now()));
        let woke = {
            let mut sources = heapless::Vec::<BorrowedFd<'_>, 1>::new();
            if listen {
                let _ = sources.push(mq.as_fd());
            }
            main.wait_pool(&pool, &sources, timeout)?
        };
        if listen && woke.ready().contains(0) {
            while backlog.len() < cfg.backlog {
                match mq.try_receive(&mut message) {
                    Ok((n, _)) => d.accept(&message[..n], &mut backlog, cfg.task_timeout_ms),
                    Err(e) if e.kind() == ErrorKind::Empty => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }

        let mut quick = None;
        for info in woke.signals() {
            let sig = info.signal;
            match sig {
                Signal::USR1 => d.report(&pool, &mq, backlog.len()),
                Signal::USR2 => {
                    lists += 1;
                    d.list_workers(&pool, &mq, lists);
                }
                Signal::HUP => {
                    d.say(format_args!(
                        "HUP: replacing {} workers (each finishes its job first)",
                        pool.pids().len()
                    ));
                    pool.replace_workers()?;
                }
                Signal::TTIN => {
                    let n = pool.processes();
                    if n >= POOL_MAX_WORKERS {
                        d.say(format_args!(
                            "TTIN: already {n} workers, the most MPROC_POOL_MAX_WORKERS allows"
                        ));
                    } else {
                        pool.resize(n + 1)?;
                        wanted = n + 1;
                        if drain_until.is_none() {
                            d.board.set_state(State::Running);
                        }
                        d.say(format_args!("TTIN: workers {n} -> {}", n + 1));
                    }
                }
                Signal::TTOU => {
                    let n = pool.processes();
                    if n <= 1 {
                        d.say(format_args!(
                            "TTOU: {n} worker(s): never fewer than 1 (WINCH stops them all)"
                        ));
                    } else {
                        pool.resize(n - 1)?;
                        wanted = n - 1;
                        d.say(format_args!(
                            "TTOU: workers {n} -> {} (the one leaving finishes its job)",
                            n - 1
                        ));
                    }
                }
                Signal::WINCH if drain_until.is_some() => {
                    d.say(format_args!("WINCH: ignored while draining"));
                }
                Signal::WINCH => {
                    d.say(format_args!(
                        "WINCH: stopping all {} workers (each finishes its job); TTIN brings one back",
                        pool.processes()
                    ));
                    pool.resize(0)?;
                    d.board.set_state(State::Idle);
                }
                Signal::TERM if drain_until.is_some() => {
                    d.say(format_args!("TERM: already draining"));
                }
                Signal::TERM => {
                    // What waits in the queue now counts as accepted; the
                    // name goes, so that later submitters are told.
                    d.board.set_state(State::Draining);
                    let waiting = mq.attributes().map_or(0, |a| a.current);
                    let _ = mq.unlink();
                    let mut taken = 0;
                    while taken < waiting {
                        match mq.try_receive(&mut message) {
                            Ok((n, _)) => {
                                d.accept(&message[..n], &mut backlog, cfg.task_timeout_ms);
                                taken += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    if pool.processes() == 0 {
                        pool.resize(wanted.max(1))?;
                        d.say(format_args!(
                            "TERM: bringing back {} workers (stopped by WINCH) for the drain",
                            wanted.max(1)
                        ));
                    }
                    drain_until = Some(Instant::now() + Duration::from_millis(cfg.grace_ms));
                    d.say(format_args!(
                        "TERM: draining {} accepted jobs ({taken} just taken from the queue, now removed); grace {} ms",
                        d.board.queued.load(Relaxed),
                        cfg.grace_ms
                    ));
                }
                Signal::INT | Signal::QUIT => quick = Some(sig),
                _ => {}
            }
        }
        if let Some(sig) = quick {
            break End::Quick(sig);
        }

        // Feed the pool: at most its slots, so a submission never waits.
        while pool.outstanding() < POOL_SLOTS {
            let Some(job) = backlog.pop_front() else {
                break;
            };
            let (ok, lost) = (Rc::clone(&d), Rc::clone(&d));
            let id = job.id;
            if let Err(e) = pool.apply_async_with(
                work,
                job,
                move |r: &Result<Reply, Reply>| ok.ended(id, r),
                move |e: &TaskError| lost.lost(id, e),
            ) {
                d.abandoned(id, format_args!("not started: {e}"));
            }
        }
        d.refresh(&pool, &mq);

        if let Some(until) = drain_until {
            if backlog.is_empty() && pool.outstanding() == 0 {
                break End::Drained;
            }
            if Instant::now() >= until {
                break End::GraceRanOut;
            }
        }
    };

    // Shutting down.
    let left_in_queue = mq.attributes().map_or(0, |a| a.current);
    match end {
        End::Drained => {
            pool.close();
            if !pool.join_timeout(Duration::from_secs(2))? {
                pool.terminate()?;
            }
            d.say(format_args!("TERM: drained, every accepted job ended"));
        }
        End::GraceRanOut => {
            let (running, waiting) = (pool.outstanding(), backlog.len());
            d.stopping.set("the drain grace ran out");
            for pid in pool.pids() {
                let _ = signal::kill(pid, Signal::KILL);
            }
            pool.terminate()?;
            for job in backlog.drain(..) {
                d.abandoned(
                    job.id,
                    format_args!(
                        "not started: the drain grace of {} ms ran out",
                        cfg.grace_ms
                    ),
                );
            }
            d.say(format_args!(
                "TERM: the grace of {} ms ran out: workers killed; {running} jobs in the pool and {waiting} not started failed",
                cfg.grace_ms
            ));
        }
        End::Quick(sig) => {
            d.board.set_state(State::Stopped);
            let _ = mq.unlink();
            d.say(format_args!(
                "{}: stopping now; {} unfinished jobs fail",
                &sig.to_string()[3..],
                d.board.queued.load(Relaxed)
            ));
            d.stopping.set(if sig == Signal::INT {
                "the daemon was stopped at once (INT)"
            } else {
                "the daemon was stopped at once (QUIT)"
            });
            pool.terminate()?;
            for job in backlog.drain(..) {
                d.abandoned(
                    job.id,
                    format_args!("not started: the daemon stopped on {sig}"),
                );
            }
        }
    }
    if left_in_queue > 0 {
        d.say(format_args!(
            "{left_in_queue} messages sent after the queue was removed were not accepted"
        ));
    }
    // Every worker is reaped by now.
    d.board.workers.store(0, Relaxed);
    d.board.set_state(State::Stopped);
    d.say(format_args!("stopped: {}", StatusLine(d.board.snapshot())));
    // Every handle goes: the workers (reaped), the queue, the status
    // segment (with the last `Rc`), the pidfile.
    drop(pool);
    drop(mq);
    drop(forget);
    drop(d);
    drop(pidfile);
    Ok(())
}

// ------------------------------------------------------------- the tour

/// The tour's scenario: the daemon, forked rather than run from its
/// binary, on names of its own; an operator's process submits four jobs,
/// asks for a status line with `USR1` and drains it with `TERM`.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let tag = format!("mproc-tour-daemon-{}", process::getpid());
    let dir = std::env::temp_dir();
    let cfg = Config {
        pidfile: dir.join(format!("{tag}.pid")),
        log: dir.join(format!("{tag}.log")),
        queue: format!("/{tag}-jobs"),
        status: format!("/{tag}-status"),
        ..Config::default()
    };
    let file = dir.join(format!("{tag}.txt"));
    std::fs::write(&file, "123456789")?;
    let _ = std::fs::remove_file(&cfg.log);

    let served = cfg.clone();
    let mut daemon = Process::new(move || {
        if let Err(e) = serve(&served) {
            eprintln!("daemon: {e}");
            process::exit(1);
        }
    });
    daemon.start()?;
    let pid = daemon.pid().ok_or("no pid")?;
    let result = operate(&cfg, pid, &file);
    if result.is_err() {
        let _ = daemon.kill();
    }
    let code = daemon.join()?;
    let log = std::fs::read_to_string(&cfg.log).unwrap_or_default();
    for line in log.lines() {
        // Without the timestamp.
        println!("  {}", line.split_once(' ').map_or(line, |(_, l)| l));
    }
    let _ = std::fs::remove_file(&cfg.log);
    let _ = std::fs::remove_file(&file);
    result?;
    if code != 0 || cfg.pidfile.exists() {
        return Err(format!(
            "the daemon exited with {code}, pidfile left: {}",
            cfg.pidfile.exists()
        )
        .into());
    }
    if !log.contains("crc32=cbf43926 bytes=9") || !log.contains("status #1 ") {
        return Err("the log lacks the checksum or the status line".into());
    }
    Ok(())
}

/// The operator's side of the tour.
fn operate(cfg: &Config, pid: Pid, file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let until = |what: &str, cond: &dyn Fn() -> bool| -> Result<(), String> {
        while !cond() {
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    };
    let open = || SharedMemory::<Status>::open(&cfg.status).ok();
    until("the daemon to run", &|| {
        open().is_some_and(|b| b.state() == State::Running)
    })?;
    let board = open().ok_or("no status segment")?;
    let queue = MessageQueue::open(&cfg.queue)?;
    let jobs = [
        Job::checksum(1, file).ok_or("path too long")?,
        Job::sleep(2, 20),
        Job::new(3, Kind::Fail),
        Job::new(4, Kind::Crash),
    ];
    for job in &jobs {
        queue.send(&job.encode(), 0)?;
    }
    until("four jobs to end", &|| {
        board.done.load(Relaxed) + board.failed.load(Relaxed) == 4
    })?;
    signal::kill(pid, Signal::USR1)?;
    until("the status line", &|| board.reports.load(Relaxed) == 1)?;
    signal::kill(pid, Signal::TERM)?;
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() {
    let cfg = match Config::parse(std::env::args().skip(1)) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = serve(&cfg) {
        eprintln!("daemon: {e}");
        std::process::exit(1);
    }
}
