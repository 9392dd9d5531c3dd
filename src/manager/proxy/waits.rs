//! The proxies of the objects that wait: locks, conditions, semaphores,
//! events, barriers (the queue, which waits too, is in `queue`).

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::{Handle, Proxied, Token, encode};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::manager::protocol::{kind, op};

// ----------------------------------------------------------------- locks

proxied!(
    /// A lock on the server (Python's `manager.Lock()`): any process may
    /// release it, as in Python. A holder whose connection ends (its process
    /// exited or was killed) releases it, so a dead holder never deadlocks
    /// the others.
    LockProxy [] [] (()), kind::LOCK, 0, 0
);

proxied!(
    /// A reentrant lock on the server (Python's `manager.RLock()`): its
    /// holder (a process's connection) may take it again, and must release it
    /// as many times. Released when its holder's connection ends.
    RLockProxy [] [] (()), kind::RLOCK, 0, 0
);

/// The guard of a manager lock (or condition): released on drop (a
/// release that fails because the server is gone is ignored: the lock is
/// gone with it).
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct ManagerGuard<'a> {
    handle: &'a Handle,
}

impl Drop for ManagerGuard<'_> {
    fn drop(&mut self) {
        let _ = release(self.handle, "ManagerGuard::drop", 1);
    }
}

/// A timeout as a waiting request carries it: nanoseconds, 0 for "do not
/// wait", `u64::MAX` for "no limit".
pub(super) fn timeout_ns(timeout: Option<Duration>) -> u64 {
    match timeout {
        None => u64::MAX,
        Some(t) => u64::try_from(t.as_nanos())
            .unwrap_or(u64::MAX - 1)
            .min(u64::MAX - 1),
    }
}

/// A request that may wait, its timeout kept by the server; answered by
/// its first number.
fn waiting(handle: &Handle, name: &'static str, op: u16, timeout: Option<Duration>) -> Result<u64> {
    handle.call(
        name,
        op,
        0,
        |out| encode(&timeout_ns(timeout), out),
        |a, _, _| Some(a),
    )
}

fn acquire(handle: &Handle, name: &'static str, timeout: Option<Duration>) -> Result<bool> {
    waiting(handle, name, op::ACQUIRE, timeout).map(|a| a != 0)
}

fn release(handle: &Handle, name: &'static str, n: u32) -> Result<()> {
    handle.call(
        name,
        op::RELEASE_LOCK,
        0,
        |out| encode(&n, out),
        |_, _, _| Some(()),
    )
}

macro_rules! lock_methods {
    ($proxy:ident, $py:literal) => {
        impl $proxy {
            #[doc = concat!("`", $py, ".acquire()`: waits until it is taken.")]
            ///
            /// # Errors
            ///
            /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when
            /// the object was released.
            pub fn acquire(&self) -> Result<()> {
                acquire(&self.handle, concat!(stringify!($proxy), "::acquire"), None).map(drop)
            }

            #[doc = concat!("`", $py, ".acquire(blocking=False)`: `true` when taken.")]
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub fn try_acquire(&self) -> Result<bool> {
                acquire(
                    &self.handle,
                    concat!(stringify!($proxy), "::try_acquire"),
                    Some(Duration::ZERO),
                )
            }

            #[doc = concat!("`", $py, ".acquire(timeout=t)`: `true` when taken in time.")]
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                acquire(
                    &self.handle,
                    concat!(stringify!($proxy), "::acquire_timeout"),
                    Some(timeout),
                )
            }

            #[doc = concat!("`", $py, ".release()`.")]
            ///
            /// # Errors
            ///
            /// [`ErrorKind::InvalidArgument`] when it is not held (by this
            /// process, but for a plain lock); as `acquire`.
            pub fn release(&self) -> Result<()> {
                release(&self.handle, concat!(stringify!($proxy), "::release"), 1)
            }

            #[doc = concat!("`with ", $py, ":`: acquires, and releases when the guard is dropped.")]
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub fn lock(&self) -> Result<ManagerGuard<'_>> {
                self.acquire()?;
                Ok(ManagerGuard {
                    handle: &self.handle,
                })
            }

            /// Whether some process holds it.
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub fn is_locked(&self) -> Result<bool> {
                self.handle
                    .number(concat!(stringify!($proxy), "::is_locked"), op::LOCKED)
                    .map(|n| n != 0)
            }
        }
    };
}

lock_methods!(LockProxy, "lock");
lock_methods!(RLockProxy, "rlock");
lock_methods!(ConditionProxy, "cond");

proxied!(
    /// A condition variable on the server (Python's `manager.Condition()`),
    /// with its own reentrant lock: acquire it ([`ConditionProxy::lock`]),
    /// then [`ConditionProxy::wait`] releases it until a notify and takes it
    /// back. The lock is released if its holder's process dies.
    ConditionProxy [] [] (()), kind::CONDITION, 0, 0
);

impl ConditionProxy {
    /// `cond.wait()`: releases the lock (however deep it is held), waits
    /// for a notify, and takes the lock back before returning.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when this process does not hold the
    /// lock; [`ErrorKind::ManagerGone`].
    pub fn wait(&self) -> Result<()> {
        waiting(&self.handle, "ConditionProxy::wait", op::WAIT, None).map(drop)
    }

    /// `cond.wait(timeout)`: `true` when notified, `false` when the time
    /// ran out; the lock is held again either way.
    ///
    /// # Errors
    ///
    /// As [`ConditionProxy::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        waiting(
            &self.handle,
            "ConditionProxy::wait_timeout",
            op::WAIT,
            Some(timeout),
        )
        .map(|a| a != 0)
    }

    /// `cond.wait_for(predicate, timeout)`: waits until `predicate` holds
    /// (it is checked first, and after each wake-up, with the lock held);
    /// returns its last value.
    ///
    /// # Errors
    ///
    /// As [`ConditionProxy::wait`], and the predicate's own.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> Result<bool>,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if predicate()? {
                return Ok(true);
            }
            match deadline {
                None => self.wait()?,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() || !self.wait_timeout(left)? {
                        return predicate();
                    }
                }
            }
        }
    }

    /// `cond.notify(n)`: wakes up to `n` waiters (they take the lock in
    /// turn once it is released); returns how many. The caller must hold
    /// the lock.
    ///
    /// # Errors
    ///
    /// As [`ConditionProxy::wait`].
    pub fn notify(&self, n: u32) -> Result<u32> {
        self.handle.call(
            "ConditionProxy::notify",
            op::NOTIFY,
            0,
            |out| encode(&n, out),
            |a, _, _| u32::try_from(a).ok(),
        )
    }

    /// `cond.notify_all()`.
    ///
    /// # Errors
    ///
    /// As [`ConditionProxy::wait`].
    pub fn notify_all(&self) -> Result<u32> {
        self.notify(u32::MAX)
    }
}

proxied!(
    /// A semaphore on the server (Python's `manager.Semaphore(n)` and
    /// `BoundedSemaphore(n)`). Units are not tied to processes: a process
    /// that dies holding one does not give it back (as in Python).
    SemaphoreProxy [] [] (()), kind::SEMAPHORE, 0, 0
);

impl SemaphoreProxy {
    /// `sem.acquire()`: waits for a unit and takes it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the
    /// semaphore was released.
    pub fn acquire(&self) -> Result<()> {
        acquire(&self.handle, "SemaphoreProxy::acquire", None).map(drop)
    }

    /// `sem.acquire(blocking=False)`: `true` when a unit was taken.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreProxy::acquire`].
    pub fn try_acquire(&self) -> Result<bool> {
        acquire(
            &self.handle,
            "SemaphoreProxy::try_acquire",
            Some(Duration::ZERO),
        )
    }

    /// `sem.acquire(timeout=t)`: `true` when a unit was taken in time.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreProxy::acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        acquire(
            &self.handle,
            "SemaphoreProxy::acquire_timeout",
            Some(timeout),
        )
    }

    /// `sem.release(n)`: gives back `n` units.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when a bounded semaphore would go
    /// past its initial value (Python's `ValueError`; nothing is given
    /// back); as [`SemaphoreProxy::acquire`].
    pub fn release(&self, n: u32) -> Result<()> {
        release(&self.handle, "SemaphoreProxy::release", n)
    }

    /// `sem.get_value()`: the units free now.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreProxy::acquire`].
    pub fn get_value(&self) -> Result<u32> {
        self.handle
            .number("SemaphoreProxy::get_value", op::LOCKED)
            .map(|n| n as u32)
    }
}

proxied!(
    /// An event on the server (Python's `manager.Event()`).
    EventProxy [] [] (()), kind::EVENT, 0, 0
);

impl EventProxy {
    /// `event.set()`: wakes every waiter.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the event
    /// was released.
    pub fn set(&self) -> Result<()> {
        self.handle.number("EventProxy::set", op::EV_SET).map(drop)
    }

    /// `event.clear()`.
    ///
    /// # Errors
    ///
    /// As [`EventProxy::set`].
    pub fn clear(&self) -> Result<()> {
        self.handle
            .number("EventProxy::clear", op::EV_CLEAR)
            .map(drop)
    }

    /// `event.is_set()`.
    ///
    /// # Errors
    ///
    /// As [`EventProxy::set`].
    pub fn is_set(&self) -> Result<bool> {
        self.handle
            .number("EventProxy::is_set", op::LOCKED)
            .map(|n| n != 0)
    }

    /// `event.wait()`: returns once it is set.
    ///
    /// # Errors
    ///
    /// As [`EventProxy::set`].
    pub fn wait(&self) -> Result<()> {
        waiting(&self.handle, "EventProxy::wait", op::WAIT, None).map(drop)
    }

    /// `event.wait(timeout)`: whether it is set.
    ///
    /// # Errors
    ///
    /// As [`EventProxy::set`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        waiting(
            &self.handle,
            "EventProxy::wait_timeout",
            op::WAIT,
            Some(timeout),
        )
        .map(|a| a != 0)
    }
}

proxied!(
    /// A barrier on the server (Python's `manager.Barrier(parties)`).
    BarrierProxy [] [] (()), kind::BARRIER, 0, 0
);

impl BarrierProxy {
    /// `barrier.wait()`: waits until `parties` processes wait, then
    /// returns this one's arrival index (0 for the first).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`] when it is or gets broken (aborted,
    /// reset, a wait that timed out, a waiter whose process died);
    /// [`ErrorKind::ManagerGone`].
    pub fn wait(&self) -> Result<u32> {
        waiting(&self.handle, "BarrierProxy::wait", op::WAIT, None).map(|a| a as u32)
    }

    /// `barrier.wait(timeout)`: as [`BarrierProxy::wait`]; when the time
    /// runs out the barrier breaks (as in Python) and this is
    /// [`ErrorKind::BrokenBarrier`].
    ///
    /// # Errors
    ///
    /// As [`BarrierProxy::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32> {
        waiting(
            &self.handle,
            "BarrierProxy::wait_timeout",
            op::WAIT,
            Some(timeout),
        )
        .map(|a| a as u32)
    }

    /// `barrier.abort()`: breaks it; every waiter fails.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn abort(&self) -> Result<()> {
        self.handle
            .number("BarrierProxy::abort", op::B_ABORT)
            .map(drop)
    }

    /// `barrier.reset()`: fails the current waiters, then makes it whole
    /// again.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn reset(&self) -> Result<()> {
        self.handle
            .number("BarrierProxy::reset", op::B_RESET)
            .map(drop)
    }

    fn state(&self) -> Result<(u32, u32, bool)> {
        self.handle.call(
            "BarrierProxy::state",
            op::LOCKED,
            0,
            |_| 0,
            |parties, b, _| Some((parties as u32, b as u32, b >> 32 != 0)),
        )
    }

    /// `barrier.parties`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn parties(&self) -> Result<u32> {
        self.state().map(|s| s.0)
    }

    /// `barrier.n_waiting`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn n_waiting(&self) -> Result<u32> {
        self.state().map(|s| s.1)
    }

    /// `barrier.broken`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn is_broken(&self) -> Result<bool> {
        self.state().map(|s| s.2)
    }
}
