//! The master's state, shared by its loop and the pool's callbacks: the
//! log, the status board, the workers seen, and what a job's end, a report
//! and a refresh do to them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mproc::config::POOL_MAX_WORKERS;
use mproc::daemon::{LogFile, Snapshot, Status};
use mproc::ipc::MessageQueue;
use mproc::pool::{Pool, TaskError};
use mproc::shm::SharedMemory;
use mproc::{ErrorKind, Pid};

use super::jobs::*;

/// A worker as the master has seen it.
pub(super) struct Seen {
    pub(super) pid: Pid,
    pub(super) since: Instant,
    pub(super) jobs: u64,
}

/// How often, at most, the loop refreshes the board's figures that cost
/// system calls (the jobs waiting in the queue, the master's RSS); a
/// report (`USR1`, `USR2`) refreshes them at once.
pub(super) const REFRESH: Duration = Duration::from_millis(100);

/// What the master's loop and the pool's callbacks share.
pub(super) struct Daemon {
    pub(super) log: RefCell<LogFile>,
    pub(super) board: SharedMemory<Status>,
    pub(super) workers: RefCell<heapless::Vec<Seen, POOL_MAX_WORKERS>>,
    /// Why the pool is being stopped, for the jobs it fails.
    pub(super) stopping: Cell<&'static str>,
    /// Jobs ended (done, failed) whose lines are pushed, not yet written:
    /// counted on the board once they are ([`Daemon::flush`]).
    pub(super) ended: Cell<(u64, u64)>,
    /// When the board's costly figures were last refreshed.
    pub(super) refreshed: Cell<Instant>,
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
    /// One line for the log, after a timestamp: written with the others
    /// of this turn of the loop, by [`Daemon::flush`].
    pub(super) fn say(&self, args: fmt::Arguments<'_>) {
        if let Err(e) = self.log.borrow_mut().push_stamped(args) {
            eprintln!("daemon: cannot write the log: {e}");
        }
    }

    /// Writes the lines said (one `write`), then counts the jobs they end
    /// on the board: a reader that sees `done + failed` reach N finds N
    /// lines in the log.
    pub(super) fn flush(&self) {
        if let Err(e) = self.log.borrow_mut().flush() {
            eprintln!("daemon: cannot write the log: {e}");
        }
        let (done, failed) = self.ended.replace((0, 0));
        if done + failed > 0 {
            let b = &self.board;
            b.queued.fetch_sub(done + failed, Relaxed);
            b.done.fetch_add(done, Relaxed);
            b.failed.fetch_add(failed, Relaxed);
        }
    }

    pub(super) fn count(&self, pid: u32) {
        if let Some(w) = self
            .workers
            .borrow_mut()
            .iter_mut()
            .find(|w| w.pid.as_raw() as u32 == pid)
        {
            w.jobs += 1;
        }
    }

    /// Counts a job's end, after its line: on the board once the line is
    /// written ([`Daemon::flush`]).
    pub(super) fn tally(&self, ok: bool) {
        let (done, failed) = self.ended.get();
        self.ended.set(if ok {
            (done + 1, failed)
        } else {
            (done, failed + 1)
        });
    }

    /// A job's task ended: with its result or its own error.
    pub(super) fn ended(&self, id: u64, reply: &Result<Reply, Reply>) {
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
    pub(super) fn lost(&self, id: u64, e: &TaskError) {
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
    pub(super) fn abandoned(&self, id: u64, why: fmt::Arguments<'_>) {
        self.say(format_args!("job {id} failed {why}"));
        self.tally(false);
    }

    /// Takes a message as a job into the backlog, or reports it.
    pub(super) fn accept(&self, message: &[u8], backlog: &mut VecDeque<Job>, timeout_ms: u64) {
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
    /// before is a fork), the target; and, when `now` or every
    /// [`REFRESH`], the figures that cost system calls: the queue, the
    /// master's RSS. When the costly ones are next due (`None`: now done).
    pub(super) fn refresh(&self, pool: &Pool, mq: &MessageQueue, now: bool) -> Option<Instant> {
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
        let due = self.refreshed.get() + REFRESH;
        if !now && Instant::now() < due {
            return Some(due);
        }
        if let Ok(a) = mq.attributes() {
            b.user[WAITING].store(a.current as u64, Relaxed);
        }
        b.touch();
        self.refreshed.set(Instant::now());
        None
    }

    /// The status line for systemd's `STATUS=` (`systemctl status`).
    pub(super) fn status_text(&self) -> heapless::String<512> {
        let mut text = heapless::String::new();
        let _ = fmt::Write::write_fmt(
            &mut text,
            format_args!("{}", StatusLine(self.board.snapshot())),
        );
        text
    }

    /// Logs a message to systemd that did not go (the daemon goes on).
    pub(super) fn tell(&self, sent: mproc::Result<()>) {
        if let Err(e) = sent {
            self.say(format_args!("systemd: {e}"));
        }
    }

    /// `USR1`: reopen the log, then one status line in it.
    pub(super) fn report(&self, pool: &Pool, mq: &MessageQueue, backlog: usize) {
        if let Err(e) = self.log.borrow_mut().reopen() {
            self.say(format_args!(
                "USR1: cannot reopen the log, writing on to the old file: {e}"
            ));
        }
        // The jobs whose lines are out count in the status line.
        self.flush();
        let n = self.board.reports.load(Relaxed) + 1;
        self.refresh(pool, mq, true);
        let line = StatusLine(self.board.snapshot());
        self.say(format_args!("status #{n} {line} backlog={backlog}"));
        // Counted once written, as the jobs are.
        self.flush();
        self.board.reports.store(n, Relaxed);
    }

    /// `USR2`: one line per worker.
    pub(super) fn list_workers(&self, pool: &Pool, mq: &MessageQueue, n: u64) {
        self.refresh(pool, mq, true);
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
