//! The master: one loop waiting on the signals, the job queue and the
//! workers, the pool's callbacks wired to the state they write (the log
//! and the status segment: `state.rs`), systemd told how the daemon is
//! doing. What each signal does and the shut-down are in `steer.rs`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::config::POOL_SLOTS;
use mproc::daemon::{LogFile, MainLoop, Notifier, Pidfile, State, Status, Watchdog};
use mproc::ipc::MessageQueue;
use mproc::pool::{Pool, TaskError};
use mproc::process;
use mproc::shm::SharedMemory;
use mproc::signal::{self, SigSet, Signal};

use super::config::Config;
use super::jobs::*;
use super::state::Daemon;
use super::steer::{End, Steer, shut_down};

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
        ended: Cell::new((0, 0)),
        refreshed: Cell::new(Instant::now()),
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
    // Nothing pushed goes into the workers' copies of the log (they
    // never write it, but a copy is a copy).
    d.flush();
    let pool = builder.build()?;

    let mut backlog: VecDeque<Job> = VecDeque::with_capacity(cfg.backlog + cfg.queue_depth);
    let mut steer = Steer::new(cfg.workers);
    d.refresh(&pool, &mq, true);
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
    // systemd, when it runs the daemon (`Type=notify`, `WatchdogSec=`):
    // outside it the notifier does nothing and there is no watchdog.
    let notifier = Notifier::from_env()?;
    let mut watchdog = Watchdog::from_env()?;
    d.tell(notifier.ready_with_status(&d.status_text()));
    d.flush();
    let mut message = [0u8; JOB_BYTES];
    // When the board's costly figures are due again (something changed
    // since they were refreshed).
    let mut refresh_due: Option<Instant> = None;

    let end = loop {
        // Wait: on the queue while there is room for its jobs, the
        // signals, and the workers.
        let listen = steer.drain_until.is_none() && backlog.len() < cfg.backlog;
        // A task's end, a worker's exit and the task timeouts wake the
        // wait by themselves; only a drain has a deadline of its own.
        // The watchdog's next ping too.
        let deadline = match (steer.drain_until, refresh_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = Watchdog::timeout(
            watchdog.as_ref(),
            deadline.map(|until| until.saturating_duration_since(Instant::now())),
        );
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
            if let Some(sig) = steer.signal(
                info.signal,
                &d,
                &pool,
                &mut mq,
                &mut backlog,
                &mut message,
                &notifier,
                cfg,
            )? {
                quick = Some(sig);
            }
        }
        if let Some(sig) = quick {
            d.tell(notifier.stopping());
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
        refresh_due = d.refresh(&pool, &mq, false);
        // This turn's lines in one write, then their jobs counted.
        d.flush();
        // Alive only while every worker runs and no job has overrun the
        // task timeout: a wedged pool stops pinging, and systemd restarts
        // the service. (`healthy` polls the workers: only when a ping is
        // due, not at every turn of the loop.)
        if let Some(w) = watchdog.as_mut()
            && w.is_due()
        {
            d.tell(w.ping_if(&notifier, pool.healthy()).map(|_| ()));
        }

        if let Some(until) = steer.drain_until {
            if backlog.is_empty() && pool.outstanding() == 0 {
                break End::Drained;
            }
            if Instant::now() >= until {
                break End::GraceRanOut;
            }
        }
    };

    shut_down(end, &d, &pool, &mut mq, &mut backlog, cfg)?;
    // Every handle goes: the workers (reaped), the queue, the status
    // segment (with the last `Rc`), the pidfile.
    drop(pool);
    drop(mq);
    drop(forget);
    drop(d);
    drop(pidfile);
    Ok(())
}
