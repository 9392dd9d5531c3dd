//! What the signals do to the running daemon (the loop's steering state:
//! the workers wanted, the drain's deadline), and how it shuts down once
//! the loop ends.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mproc::config::POOL_MAX_WORKERS;
use mproc::daemon::{Notifier, State};
use mproc::ipc::MessageQueue;
use mproc::pool::Pool;
use mproc::signal::{self, Signal};

use super::config::Config;
use super::jobs::Job;
use super::state::{Daemon, StatusLine};

/// How the loop ended.
pub enum End {
    /// `TERM`, and every accepted job ended.
    Drained,
    /// `TERM`, and the grace period ran out.
    GraceRanOut,
    /// `INT` or `QUIT`.
    Quick(Signal),
}

/// What the signals have set.
pub struct Steer {
    /// The workers last asked for (`TTIN`, `TTOU`): what a drain brings
    /// back after `WINCH` stopped them all.
    wanted: usize,
    /// Draining (after `TERM`) until then.
    pub drain_until: Option<Instant>,
    /// `USR2` lists so far.
    lists: u64,
}

impl Steer {
    /// Running with `workers` workers, not draining.
    pub fn new(workers: usize) -> Steer {
        Steer {
            wanted: workers,
            drain_until: None,
            lists: 0,
        }
    }

    /// Acts on one signal; `Some(sig)` for `INT` or `QUIT`: stop now.
    #[allow(clippy::too_many_arguments)]
    pub fn signal(
        &mut self,
        sig: Signal,
        d: &Daemon,
        pool: &Pool,
        mq: &mut MessageQueue,
        backlog: &mut VecDeque<Job>,
        message: &mut [u8],
        notifier: &Notifier,
        cfg: &Config,
    ) -> mproc::Result<Option<Signal>> {
        match sig {
            Signal::USR1 => {
                d.report(pool, mq, backlog.len());
                d.tell(notifier.status(&d.status_text()));
            }
            Signal::USR2 => {
                self.lists += 1;
                d.list_workers(pool, mq, self.lists);
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
                    self.wanted = n + 1;
                    if self.drain_until.is_none() {
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
                    self.wanted = n - 1;
                    d.say(format_args!(
                        "TTOU: workers {n} -> {} (the one leaving finishes its job)",
                        n - 1
                    ));
                }
            }
            Signal::WINCH if self.drain_until.is_some() => {
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
            Signal::TERM if self.drain_until.is_some() => {
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
                    match mq.try_receive(message) {
                        Ok((n, _)) => {
                            d.accept(&message[..n], backlog, cfg.task_timeout_ms);
                            taken += 1;
                        }
                        Err(_) => break,
                    }
                }
                if pool.processes() == 0 {
                    pool.resize(self.wanted.max(1))?;
                    d.say(format_args!(
                        "TERM: bringing back {} workers (stopped by WINCH) for the drain",
                        self.wanted.max(1)
                    ));
                }
                self.drain_until = Some(Instant::now() + Duration::from_millis(cfg.grace_ms));
                d.say(format_args!(
                    "TERM: draining {} accepted jobs ({taken} just taken from the queue, now removed); grace {} ms",
                    d.board.queued.load(Relaxed),
                    cfg.grace_ms
                ));
            }
            Signal::INT | Signal::QUIT => return Ok(Some(sig)),
            _ => {}
        }
        Ok(None)
    }
}

/// After the loop: the pool closed or stopped as `end` says, what is left
/// failed and logged, the board's last state.
pub fn shut_down(
    end: End,
    d: &Daemon,
    pool: &Pool,
    mq: &mut MessageQueue,
    backlog: &mut VecDeque<Job>,
    cfg: &Config,
) -> mproc::Result<()> {
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
    Ok(())
}
