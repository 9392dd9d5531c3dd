//! The workers' lives as the parent sees them: forking one, waiting for
//! results (spinning, then parking on the eventfd and the sentinels),
//! reaping the dead, failing their tasks and forking replacements.

use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::builder::splitmix;
use super::{Ended, LOST_STATUS, Phase, Pool, TERMINATE_GRACE, WorkerProcess, ring, worker};
use crate::config::POOL_MAX_WORKERS;
use crate::error::{ErrorKind, Result};
use crate::process::{self, Process};
use crate::sys::event;

/// The most pauses a wait for a result spins before its first look (see
/// `Pool::poll_delay`): about 0.5 µs where a pause takes 10 ns (the
/// Xeon VM of the benchmarks), 2.5 µs where it takes 50 ns; far below the
/// 200 µs a wait spins.
const POLL_DELAY_MAX: u32 = 48;

/// Deaths before the first task, in a row, that stop the pool.
const INIT_FAILURES: u32 = 3;

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    pub(super) fn fork_worker(&self, me: usize) -> Result<WorkerProcess> {
        let ring = Rc::clone(&self.ring);
        let initializer = self.initializer.clone();
        let n = self.forked.get() + 1;
        let max_tasks = if self.max_tasks == 0 || self.jitter == 0 {
            self.max_tasks
        } else {
            self.max_tasks + splitmix(self.key ^ n) % (self.jitter + 1)
        };
        let (key, wake_fd) = (self.key, self.wake.as_raw_fd());
        let watch_fd = self.watch_event.as_raw_fd();
        let clocked = self.task_timeout.is_some();
        let target: Box<dyn FnOnce()> = Box::new(move || {
            if let Some(init) = initializer
                && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init())).is_err()
            {
                process::exit(1);
            }
            ring.started[me].store(1, Ordering::Release);
            worker::work(worker::WorkerSpec {
                ring: &ring,
                me,
                key,
                wake_fd,
                watch_fd,
                max_tasks,
                clocked,
            });
        });
        self.ring.started[me].store(0, Ordering::Relaxed);
        self.ring.busy_since[me].store(0, Ordering::Relaxed);
        self.ring
            .control
            .0
            .retire
            .fetch_and(!(1 << me), Ordering::SeqCst);
        self.forked.set(n);
        let mut name = heapless::String::<32>::new();
        let _ = core::fmt::Write::write_fmt(&mut name, format_args!("ForkPoolWorker-{n}"));
        let mut p = Process::new(target).daemon(true).with_name(&name)?;
        p.start()?;
        // Made now, while the pid is surely the worker's (see
        // `Process::sentinel`).
        p.sentinel()?;
        self.watch_worker(me, &p);
        self.forked_at.borrow_mut()[me] = Some(Instant::now());
        Ok(p)
    }

    // -------------------------------------------------------------- waiting

    /// Waits until `ready` holds or `deadline` passes, running the pool
    /// meanwhile: spins briefly, then parks in `poll` on the eventfd and
    /// the workers' sentinels, reaping dead workers and forking their
    /// replacements. Returns whether `ready` held.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        ready: impl Fn(&Self) -> bool,
    ) -> Result<bool> {
        self.service();
        if ready(self) {
            return Ok(true);
        }
        let start = Instant::now();
        let mut spins = 0u32;
        // A wait for a lone task looks first after a delay (see
        // `Pool::poll_delay`).
        let lone = self.outstanding() == 1;
        let delay = if lone { self.poll_delay.get() } else { 0 };
        loop {
            if spins >= delay && ready(self) {
                if lone {
                    // The looks that found nothing: none, and the next
                    // wait looks one pause sooner; more than one, one
                    // pause later.
                    self.poll_delay.set(match spins - delay {
                        0 => delay.saturating_sub(1),
                        1 => delay,
                        _ => (delay + 1).min(POLL_DELAY_MAX),
                    });
                }
                self.service();
                return Ok(true);
            }
            spins += 1;
            if spins.is_multiple_of(64) {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    self.service();
                    return Ok(ready(self));
                }
                let spent = now - start;
                if spent > ring::PARENT_SPIN_FOR {
                    break;
                }
                if spent > ring::YIELD_AFTER && ring::shares_cpu(self.peer_cpu.get()) {
                    std::thread::yield_now();
                }
            }
            std::hint::spin_loop();
        }
        loop {
            let done = self.park(deadline, &ready)?;
            self.service();
            if done || ready(self) {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// One park: `poll` on the eventfd and the sentinels until something
    /// happens or `deadline`; then reaps and replaces dead workers.
    pub(super) fn park(
        &self,
        deadline: Option<Instant>,
        ready: &impl Fn(&Self) -> bool,
    ) -> Result<bool> {
        let control = &self.ring.control.0;
        // SYNC POINT: flag, then look: a worker commits (SeqCst) and then
        // reads the flag (SeqCst), so it raises the eventfd or we see its
        // commit. Both sides' stores in these store-then-load pairs are
        // read-modify-writes: a full barrier on every target and under
        // qemu-user too, which may emulate a releasing store followed by
        // an acquiring load without the store-load fence between them.
        control.notify.fetch_or(ring::PARKED, Ordering::SeqCst);
        if ready(self) {
            control.notify.fetch_and(!ring::PARKED, Ordering::SeqCst);
            return Ok(true);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timeout = match (left, self.poll_timeout()) {
            (Some(l), Some(r)) => Some(l.min(r)),
            (l, r) => l.or(r),
        };
        let ready_bits = self.poll_workers(true, timeout)?;
        control.notify.fetch_and(!ring::PARKED, Ordering::SeqCst);
        if ready_bits & 1 != 0 {
            event::lower(self.wake.as_fd());
            self.sync_watch();
        }
        self.check_timeouts();
        if ready_bits & !1 != 0 {
            self.supervise();
        } else if self.dead.get() != 0 {
            self.refork();
        }
        Ok(ready(self))
    }

    /// Reaps dead workers: fails the task each was running with
    /// `WorkerDied`, and forks replacements while work remains.
    pub(super) fn supervise(&self) {
        let count = self.workers.borrow().len();
        for w in 0..count {
            if self.dead.get() & (1 << w) != 0 {
                continue;
            }
            let (status, pid) = {
                let workers = self.workers.borrow();
                (workers[w].join_timeout(Duration::ZERO), workers[w].pid())
            };
            let code = match status {
                Ok(Some(code)) => code,
                Ok(None) => continue,
                // Reaped by the program itself (SIGCHLD ignored, or a
                // waitpid(-1) elsewhere): dead, its status lost.
                Err(e) if e.kind() == ErrorKind::ChildLost => LOST_STATUS,
                Err(_) => continue,
            };
            self.dead.set(self.dead.get() | 1 << w);
            self.unwatch_worker(w);
            self.ring.forget_worker(w);
            self.ring.busy_since[w].store(0, Ordering::Relaxed);
            let pid = pid.map(|p| p.as_raw()).unwrap_or(0);
            let timed_out = self.timed_out.get() & (1 << w) != 0;
            if timed_out {
                self.timed_out.set(self.timed_out.get() & !(1 << w));
                self.term_sent.borrow_mut()[w] = None;
                self.fail_running(w, pid, code, ring::TIMED_OUT);
            } else {
                self.fail_running(w, pid, code, ring::DIED);
            }
            // Only a death before the first task can repeat forever (a
            // task that kills its worker is consumed with it).
            let took_task = self.ring.started[w].load(Ordering::Acquire) == 2;
            self.back_off(w, code != 0 && !timed_out && !took_task);
            if self.ring.started[w].load(Ordering::Acquire) != 0 {
                self.init_failures.set(0);
            } else if self.initializer.is_some() && code > 0 {
                // The initializer panicked (exit 1) or exited.
                self.init_failures.set(self.init_failures.get() + 1);
                if self.init_failures.get() >= INIT_FAILURES {
                    self.break_pool(ErrorKind::InitializerFailed { exitcode: code });
                    return;
                }
            }
        }
        self.refork();
    }

    /// Forks replacements for dead workers while work remains; one that
    /// cannot be forked now is retried at the next park (within 100 ms).
    pub(super) fn refork(&self) {
        if self.respawn_at.get().is_some_and(|t| Instant::now() < t) {
            return;
        }
        let count = self.workers.borrow().len();
        for w in 0..count {
            if self.dead.get() & (1 << w) == 0 || w >= self.size.get() || !self.wants_workers() {
                continue;
            }
            if let Ok(p) = self.fork_worker(w) {
                self.workers.borrow_mut()[w] = p;
                self.dead.set(self.dead.get() & !(1 << w));
            }
        }
    }

    /// Whether replacements are needed: running, or closed with tasks
    /// still queued.
    pub(super) fn wants_workers(&self) -> bool {
        if self.broken.get().is_some() {
            return false;
        }
        match self.phase.get() {
            Phase::Running => true,
            Phase::Closed => {
                self.ring.head.0.load(Ordering::Acquire) < self.ring.tail_count(Ordering::Acquire)
            }
            Phase::Terminated => false,
        }
    }

    /// Marks the slots worker `w` was running as ended by its death
    /// (`kind`: `DIED` or `TIMED_OUT`).
    pub(super) fn fail_running(&self, w: usize, pid: i32, code: i32, kind: u64) {
        for (s, slot) in self.ring.slots().enumerate() {
            let st = slot.state.load(Ordering::Acquire);
            if ring::kind(st) == ring::RUNNING && ring::worker(st) == w {
                self.fds.lost(s);
                let faults = self.ring.faults(s);
                faults.died_pid.store(pid, Ordering::Relaxed);
                faults.died_code.store(code, Ordering::Relaxed);
                slot.state.store(
                    ring::state(ring::seq(st), kind, w as u64),
                    Ordering::Release,
                );
            }
        }
    }

    /// Stops the pool for good: kills and reaps the workers and fails every
    /// task not ended with `kind`.
    pub(super) fn break_pool(&self, kind: ErrorKind) {
        if kind != ErrorKind::Terminated {
            self.broken.set(Some(kind));
        }
        self.ring.control.0.stop.swap(1, Ordering::SeqCst);
        self.ring.wake_all_workers();
        self.stop_workers();
        self.fds.clear();
        for s in 0..self.slots() {
            let l = &self.local[s];
            if l.busy.get() && matches!(self.ended(s), Ended::Running) {
                l.failure.set(Some(kind));
            }
        }
        self.service();
        self.sync_watch();
    }

    /// `SIGTERM` to every worker, `SIGKILL` to those left after the grace
    /// period, then reaps them all.
    pub(super) fn stop_workers(&self) {
        for w in 0..self.workers.borrow().len() {
            self.unwatch_worker(w);
        }
        let workers = self.workers.borrow();
        for w in workers.iter() {
            let _ = w.terminate();
        }
        let deadline = Instant::now() + TERMINATE_GRACE;
        for w in workers.iter() {
            let left = deadline.saturating_duration_since(Instant::now());
            if !matches!(w.join_timeout(left), Ok(Some(_))) {
                let _ = w.kill();
                let _ = w.join();
            }
        }
        // All reaped: none is live any more (`pids`, the sentinels).
        self.dead.set(u64::MAX >> (64 - POOL_MAX_WORKERS.max(1)));
    }

    /// Does the pool's pending work without waiting: reaps dead workers
    /// (failing their tasks, forking replacements), runs the callbacks of
    /// ended tasks, frees slots nobody holds. Call it when
    /// [`Pool::sentinel`] or a worker sentinel fires in a daemon's loop.
    ///
    /// # Errors
    ///
    /// A forked child's copy of the pool refuses (`InvalidArgument`).
    pub fn poll(&self) -> Result<()> {
        self.check_owner("Pool::poll")?;
        event::lower(self.wake.as_fd());
        self.check_timeouts();
        // A failed poll counts as a death: `supervise` looks at each worker.
        let any_dead = !matches!(self.poll_workers(false, Some(Duration::ZERO)), Ok(0));
        if any_dead {
            self.supervise();
        } else if self.dead.get() != 0 {
            self.refork();
        }
        self.service();
        self.sync_watch();
        Ok(())
    }

    /// The descriptors that become readable when a worker ends, for a
    /// daemon's [`wait`](crate::ipc::wait) set (with [`Pool::sentinel`]).
    /// A worker's descriptor changes when it is replaced: take them afresh
    /// after each [`Pool::poll`].
    pub fn sentinels(&self) -> heapless::Vec<std::os::fd::RawFd, POOL_MAX_WORKERS> {
        let workers = self.workers.borrow();
        self.live(&workers)
            .filter_map(|w| w.sentinel().ok().map(|fd| fd.as_raw_fd()))
            .collect()
    }
}
