//! Ending a pool: `close`, `terminate`, `join`, and the drop that is
//! Python's `with Pool() as p:` exit.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Ended, Phase, Pool};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// Stops taking tasks (Python's `close()`): the workers finish what is
    /// queued, then [`Pool::join`] waits for them to exit. Results stay
    /// fetchable.
    pub fn close(&self) {
        if self.phase.get() == Phase::Running {
            self.phase.set(Phase::Closed);
        }
    }

    /// Stops the workers now (Python's `terminate()`): `SIGTERM`, then
    /// `SIGKILL` after half a second; every task not ended fails with
    /// [`ErrorKind::Terminated`] (and its `error_callback` runs). Results
    /// of ended tasks stay fetchable.
    ///
    /// # Errors
    ///
    /// A forked child's copy of the pool refuses (`InvalidArgument`).
    pub fn terminate(&self) -> Result<()> {
        self.check_owner("Pool::terminate")?;
        if self.phase.get() != Phase::Terminated {
            self.phase.set(Phase::Terminated);
            self.break_pool(ErrorKind::Terminated);
        }
        Ok(())
    }

    /// Waits until every submitted task has ended and the workers have
    /// exited (Python's `join()`), replacing workers that die meanwhile;
    /// runs callbacks as tasks end. Only after [`Pool::close`] or
    /// [`Pool::terminate`], as in Python.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] while the pool is running.
    pub fn join(&self) -> Result<()> {
        self.join_until("Pool::join", None).map(|_| ())
    }

    /// [`Pool::join`] for at most `timeout`: whether everything ended and
    /// every worker exited. On `false` the pool stays closed and a later
    /// call (or [`Pool::terminate`]) goes on from there.
    ///
    /// # Errors
    ///
    /// As [`Pool::join`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.join_until("Pool::join_timeout", Instant::now().checked_add(timeout))
    }

    pub(super) fn join_until(&self, op: &'static str, deadline: Option<Instant>) -> Result<bool> {
        self.check_owner(op)?;
        if self.phase.get() == Phase::Running {
            return Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("join needs close() or terminate() first"),
            ));
        }
        let ended = self.wait_until(deadline, |p| {
            (0..p.slots()).all(|s| !p.local[s].busy.get() || !matches!(p.ended(s), Ended::Running))
        })?;
        if !ended {
            return Ok(false);
        }
        self.ring.control.0.stop.swap(1, Ordering::SeqCst);
        self.ring.wake_all_workers();
        let mut all = true;
        for (i, w) in self.workers.borrow().iter().enumerate() {
            let joined = match deadline {
                None => {
                    let _ = w.join();
                    true
                }
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    matches!(w.join_timeout(left), Ok(Some(_)) | Err(_))
                }
            };
            if joined {
                self.dead.set(self.dead.get() | 1 << i);
            }
            all &= joined;
        }
        self.service();
        Ok(all)
    }
}

impl<const SLOTS: usize, const BYTES: usize> Drop for Pool<SLOTS, BYTES> {
    /// Python's `with Pool() as p:` exit: terminate, then join. A forked
    /// child's copy leaves the workers alone.
    fn drop(&mut self) {
        if sys::process::getpid() == self.owner {
            let _ = self.terminate();
            for s in 0..self.slots() {
                self.free_slot(s);
            }
        }
    }
}
