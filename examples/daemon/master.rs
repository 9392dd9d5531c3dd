//! The master: one loop waiting on the signals, the job queue and the
//! workers, the pool's callbacks wired to the state they write (the log
//! and the status segment: `state.rs`), systemd told how the daemon is
//! doing.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::config::{POOL_MAX_WORKERS, POOL_SLOTS};
use mproc::daemon::{LogFile, MainLoop, Notifier, Pidfile, State, Status, Watchdog};
use mproc::ipc::MessageQueue;
use mproc::pool::{Pool, TaskError};
use mproc::process;
use mproc::shm::SharedMemory;
use mproc::signal::{self, SigSet, Signal};

use super::config::Config;
use super::jobs::*;
use super::state::{Daemon, StatusLine};

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
    let mut wanted = cfg.workers;
    let mut drain_until: Option<Instant> = None;
    let mut lists = 0u64;
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
        let listen = drain_until.is_none() && backlog.len() < cfg.backlog;
        // A task's end, a worker's exit and the task timeouts wake the
        // wait by themselves; only a drain has a deadline of its own.
        // The watchdog's next ping too.
        let deadline = match (drain_until, refresh_due) {
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
            let sig = info.signal;
            match sig {
                Signal::USR1 => {
                    d.report(&pool, &mq, backlog.len());
                    d.tell(notifier.status(&d.status_text()));
                }
                Signal::USR2 => {
                    lists += 1;
                    d.list_workers(&pool, &mq, lists);
                }
                Signal::HUP => {
                    d.say(format_args!(
                        "HUP: replacing {} workers (each finishes its job first)",
                        pool.pids().len()
                    ));
                    d.tell(notifier.reloading());
                    pool.replace_workers()?;
                    // The new workers are forked at once; the old ones
                    // finish their jobs on their own.
                    d.tell(notifier.ready_with_status(&d.status_text()));
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
                    d.tell(notifier.stopping());
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
    d.flush();
    d.say(format_args!("stopped: {}", StatusLine(d.board.snapshot())));
    d.flush();
    // Every handle goes: the workers (reaped), the queue, the status
    // segment (with the last `Rc`), the pidfile.
    drop(pool);
    drop(mq);
    drop(forget);
    drop(d);
    drop(pidfile);
    Ok(())
}
