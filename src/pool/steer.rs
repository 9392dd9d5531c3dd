//! Steering a running pool, as a pre-fork daemon's master does: growing
//! and shrinking it, replacing its workers, draining it, the per-task
//! timeout, and the back-off that keeps a crash loop from spinning.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Ended, Pool, TERMINATE_GRACE, ring};
use crate::config::POOL_MAX_WORKERS;
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys;

/// A worker that dies (not by the pool's hand, before its first task)
/// this soon after its fork counts as a crash-loop death.
const QUICK_DEATH: Duration = Duration::from_millis(500);
/// Quick deaths in a row that are re-forked at once; after them, each
/// re-fork waits, twice as long each time.
const FREE_RESPAWNS: u32 = 2;
const FIRST_BACK_OFF: Duration = Duration::from_millis(10);
const MAX_BACK_OFF: Duration = Duration::from_secs(2);

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// Sets the number of workers to `n` while the pool runs (a daemon's
    /// `SIGTTIN`/`SIGTTOU`; `0` stops them all, `SIGWINCH`): new workers
    /// are forked at once; workers beyond `n` finish the task they run and
    /// exit. Tasks queued meanwhile wait for a worker (with `0` workers,
    /// until the pool grows again).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] past `MPROC_POOL_MAX_WORKERS`;
    /// [`ErrorKind::PoolNotRunning`] after `close` or `terminate`; a
    /// forked child's copy refuses (`InvalidArgument`); the errors of
    /// forking (the workers that could be forked run; the others are
    /// retried as dead workers are).
    pub fn resize(&self, n: usize) -> Result<()> {
        const OP: &str = "Pool::resize";
        self.check_running(OP)?;
        if n > POOL_MAX_WORKERS {
            return Err(Error::new(
                OP,
                Resource::Capacity("MPROC_POOL_MAX_WORKERS"),
                ErrorKind::CapacityExceeded {
                    limit: POOL_MAX_WORKERS,
                },
            ));
        }
        self.size.set(n);
        let count = self.workers.borrow().len();
        let mut retire = 0u64;
        for w in n..count {
            if self.dead.get() & (1 << w) == 0 {
                retire |= 1 << w;
            }
        }
        if retire != 0 {
            self.ring.retire(retire);
        }
        // New indexes: fork now. Dead ones below `n`: re-forked as usual
        // (a worker still finishing its task after an earlier shrink exits
        // and is replaced).
        for w in count..n {
            let p = self.fork_worker(w)?;
            // Cannot fail: n <= POOL_MAX_WORKERS, the vector's capacity.
            let _ = self.workers.borrow_mut().push(p);
        }
        self.refork();
        Ok(())
    }

    /// Replaces every worker, gracefully (a daemon's `SIGHUP`, to pick up
    /// a new configuration in fresh processes): each finishes the task it
    /// runs, exits, and is replaced by a fresh fork when the pool next
    /// acts ([`Pool::poll`], or any wait). No queued task is lost.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PoolNotRunning`] after `close` or `terminate`; a
    /// forked child's copy refuses (`InvalidArgument`).
    pub fn replace_workers(&self) -> Result<()> {
        const OP: &str = "Pool::replace_workers";
        self.check_running(OP)?;
        let count = self.workers.borrow().len().min(self.size.get());
        let live = (0..count)
            .filter(|w| self.dead.get() & (1 << w) == 0)
            .fold(0u64, |m, w| m | 1 << w);
        if live != 0 {
            self.ring.retire(live);
        }
        Ok(())
    }

    /// A daemon's graceful stop (`SIGTERM`): takes no new tasks, lets the
    /// queued and running ones end for up to `grace`, then terminates what
    /// is left (their tasks fail with [`ErrorKind::Terminated`]). Returns
    /// whether everything ended in time.
    ///
    /// # Errors
    ///
    /// A forked child's copy refuses (`InvalidArgument`).
    pub fn drain(&self, grace: Duration) -> Result<bool> {
        self.check_owner("Pool::drain")?;
        self.close();
        let done = self.join_timeout(grace)?;
        if !done {
            self.terminate()?;
        }
        Ok(done)
    }

    /// How long a daemon's loop may wait before it must call
    /// [`Pool::poll`] even if no descriptor fired: until the next task
    /// timeout, the next step of stopping a timed-out worker, or the next
    /// re-fork after a back-off. `None`: only when a sentinel fires.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut next = self.timeouts_due(false);
        if self.dead.get() != 0 && self.wants_workers() {
            // A worker that could not be re-forked is retried every 100 ms,
            // or when its back-off ends.
            let retry = self
                .respawn_at
                .get()
                .filter(|t| *t > now)
                .unwrap_or(now + Duration::from_millis(100));
            next = Some(next.map_or(retry, |n| n.min(retry)));
        }
        next.map(|t| t.saturating_duration_since(now))
    }

    /// A daemon's wait: until one of `sources` is ready, a worker ends or
    /// finishes a task (one whose end no earlier `wait_with` saw), or
    /// `timeout` passes (bounded by
    /// [`Pool::poll_timeout`]); then does the pool's pending work
    /// ([`Pool::poll`]) and says which of `sources` are ready. One thread
    /// waits on its job queue, its signal descriptor and its workers at
    /// once. At most [`WAIT_MAX`](crate::ipc::WAIT_MAX) descriptors in all
    /// (the sources, the pool's eventfd and one per live worker).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] past that many descriptors; a forked
    /// child's copy refuses (`InvalidArgument`).
    pub fn wait_with(
        &self,
        sources: &[std::os::fd::BorrowedFd<'_>],
        timeout: Option<Duration>,
    ) -> Result<crate::ipc::Ready> {
        const OP: &str = "Pool::wait_with";
        self.check_owner(OP)?;
        let mut timeout = match (timeout, self.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let control = &self.ring.control.0;
        // SYNC POINT: as in `park`: flag, then look. A worker commits and
        // then reads the flag, so it raises the eventfd or the look below
        // sees its task ended.
        control.notify.fetch_or(ring::PARKED, Ordering::SeqCst);
        if self.unseen_end() {
            timeout = Some(Duration::ZERO);
        }
        let bits = {
            let workers = self.workers.borrow();
            let mut fds = heapless::Vec::<_, { crate::ipc::WAIT_MAX }>::new();
            let too_many = || {
                Error::new(
                    OP,
                    Resource::Capacity("WAIT_MAX"),
                    ErrorKind::CapacityExceeded {
                        limit: crate::ipc::WAIT_MAX,
                    },
                )
            };
            for fd in sources.iter().copied() {
                fds.push(fd).map_err(|_| too_many())?;
            }
            fds.push(std::os::fd::AsFd::as_fd(&self.wake))
                .map_err(|_| too_many())?;
            for fd in self.live(&workers).filter_map(|w| w.sentinel().ok()) {
                fds.push(fd).map_err(|_| too_many())?;
            }
            sys::poll_many(&fds, timeout).map_err(|e| Error::os("poll", self.resource(), e))
        };
        control.notify.fetch_and(!ring::PARKED, Ordering::SeqCst);
        let bits = bits?;
        // Seen first, then serviced: a task that ends between the two is
        // left unseen (the next wait returns at once) instead of seen with
        // its callback not yet run (the next wait would sleep on it).
        self.mark_ends_seen();
        self.poll()?;
        let mask = if sources.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << sources.len()) - 1
        };
        Ok(crate::ipc::Ready::from_bits(bits & mask))
    }

    /// Whether a task ended that no [`Pool::wait_with`] has seen end.
    fn unseen_end(&self) -> bool {
        (0..self.slots()).any(|s| {
            let l = &self.local[s];
            l.busy.get() && !l.end_seen.get() && !matches!(self.ended(s), Ended::Running)
        })
    }

    /// Records every ended task as seen by [`Pool::wait_with`].
    fn mark_ends_seen(&self) {
        for s in 0..self.slots() {
            let l = &self.local[s];
            if l.busy.get() && !matches!(self.ended(s), Ended::Running) {
                l.end_seen.set(true);
            }
        }
    }

    /// Stops workers whose task overran the timeout (`SIGTERM`, then
    /// `SIGKILL` after the grace period).
    pub(super) fn check_timeouts(&self) {
        self.timeouts_due(true);
    }

    /// The next instant a timeout needs attention; with `act`, signals the
    /// workers whose time has come.
    fn timeouts_due(&self, act: bool) -> Option<Instant> {
        let timeout = self.task_timeout?;
        let limit = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let now = Instant::now();
        let now_ns = sys::monotonic_ns();
        let mut next: Option<Instant> = None;
        let mut soonest = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        // A queued task's clock starts when a worker takes it, which
        // wakes nobody, and a worker stores the start just after its claim:
        // for a task queued, or claimed with no start stored yet, look again
        // a timeout from now at the latest. The queue is read first: a
        // worker marks its slot RUNNING before it advances `head`, so a task
        // that has left the queue (read here, Acquire) shows RUNNING in the
        // scan below. Scanning first could miss it in both (still queued in
        // the scan, claimed by the count), and the loop then slept without
        // a deadline while the task overran: the operator test saw that
        // once in about 30 full runs.
        let queued = self.queued() > 0;
        let unclocked = self.ring.slots().any(|slot| {
            let st = slot.state.load(Ordering::Acquire);
            ring::kind(st) == ring::RUNNING
                && self.ring.busy_since[ring::worker(st) % POOL_MAX_WORKERS].load(Ordering::Relaxed)
                    == 0
        });
        if queued || unclocked {
            soonest(now + timeout);
        }
        let workers = self.workers.borrow();
        for (w, worker) in workers.iter().enumerate() {
            if self.dead.get() & (1 << w) != 0 {
                continue;
            }
            if self.timed_out.get() & (1 << w) != 0 {
                let sent = self.term_sent.borrow()[w].unwrap_or(now);
                if now >= sent + TERMINATE_GRACE {
                    if act {
                        let _ = worker.kill();
                    }
                } else {
                    soonest(sent + TERMINATE_GRACE);
                }
                continue;
            }
            let since = self.ring.busy_since[w].load(Ordering::Relaxed);
            if since == 0 {
                continue;
            }
            let due = since.saturating_add(limit);
            if now_ns < due {
                soonest(now + Duration::from_nanos(due - now_ns));
            } else if act && self.ring.busy_since[w].load(Ordering::Relaxed) == since {
                // Still the same task: stop its worker.
                let _ = worker.terminate();
                self.timed_out.set(self.timed_out.get() | 1 << w);
                self.term_sent.borrow_mut()[w] = Some(now);
                soonest(now + TERMINATE_GRACE);
            } else {
                soonest(now);
            }
        }
        next
    }

    /// Whether the pool is well: the question a service manager's watchdog
    /// asks (systemd's `WATCHDOG=1`; see [`crate::daemon::Watchdog`]).
    /// Every worker wanted ([`processes`](Pool::processes)) runs: none has
    /// ended (reaped or not), none is dead and waiting for its replacement
    /// (a crash loop's back-off included), none is being stopped for
    /// overrunning the task timeout; and, with a
    /// [`task_timeout`](super::PoolBuilder::task_timeout), no task has run
    /// longer than it. A pool wedged in a task is unhealthy until the
    /// timeout stops that worker and its replacement runs, so a watchdog
    /// that pings only while this holds lets systemd restart a pool that
    /// stays wedged. A pool closed or terminated is not healthy.
    ///
    /// It only looks (one `poll` of the workers' descriptors): deaths are
    /// reaped and workers replaced by [`Pool::wait_with`] and the other
    /// waits, as always. Allocation-free.
    pub fn healthy(&self) -> bool {
        if self.broken.get().is_some() || !matches!(self.phase.get(), super::Phase::Running) {
            return false;
        }
        let size = self.size.get();
        let workers = self.workers.borrow();
        if workers.len() < size {
            return false;
        }
        let mut fds = heapless::Vec::<std::os::fd::BorrowedFd<'_>, POOL_MAX_WORKERS>::new();
        for (w, worker) in workers.iter().enumerate().take(size) {
            if (self.dead.get() | self.timed_out.get()) & (1 << w) != 0 {
                return false;
            }
            match worker.sentinel() {
                Ok(fd) => {
                    let _ = fds.push(fd);
                }
                Err(_) => return false,
            }
        }
        // A sentinel is readable once its worker has ended.
        if !matches!(sys::poll_many(&fds, Some(Duration::ZERO)), Ok(0)) {
            return false;
        }
        let Some(timeout) = self.task_timeout else {
            return true;
        };
        let limit = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let now = sys::monotonic_ns();
        (0..size).all(|w| {
            let since = self.ring.busy_since[w].load(Ordering::Relaxed);
            since == 0 || now.saturating_sub(since) <= limit
        })
    }

    /// Counts worker `w`'s death toward a crash loop (`failed`: it died
    /// by itself, with a non-zero status, before taking a task): after a
    /// few quick deaths in a row, re-forks wait, longer each time.
    pub(super) fn back_off(&self, w: usize, failed: bool) {
        let quick = failed && self.forked_at.borrow()[w].is_some_and(|t| t.elapsed() < QUICK_DEATH);
        if !quick {
            self.crash_streak.set(0);
            self.respawn_at.set(None);
            return;
        }
        let streak = self.crash_streak.get().saturating_add(1);
        self.crash_streak.set(streak);
        if streak > FREE_RESPAWNS {
            let doublings = (streak - FREE_RESPAWNS - 1).min(16);
            let wait = FIRST_BACK_OFF
                .saturating_mul(1 << doublings)
                .min(MAX_BACK_OFF);
            self.respawn_at.set(Some(Instant::now() + wait));
        }
    }
}
