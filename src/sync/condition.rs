//! [`Condition`]: Python's `multiprocessing.Condition`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::raw;
use super::{Lock, LockGuard, LockResult, TryLockError, TryLockResult};
use crate::shm::Shareable;
use crate::sys::futex::{self, Woke};

/// A process-shared condition variable with its own lock (Python's
/// `multiprocessing.Condition`). Lives in shared memory (see the
/// [module docs](super)).
///
/// [`Condition::acquire`] takes the lock and gives a [`ConditionGuard`],
/// on which `wait`, `wait_for`, `notify` and `notify_all` are called (so
/// they can only be called with the lock held, which Python checks at run
/// time).
///
/// `notify(n)` wakes at most `n` waiters, exactly as Python's does: a
/// waiter counts itself in `waiting` (under the lock) before it releases the
/// lock; `notify` moves up to `n` of those to `tokens` (under the lock) and
/// wakes as many; a woken waiter consumes one token. A waiter whose time
/// runs out takes a token if one is there (it was notified in the
/// meantime) and otherwise leaves `waiting`, so the counts stay exact.
///
/// Differences from Python: the lock is a non-recursive [`Lock`] (Python's
/// default is an `RLock`). A waiter killed while waiting stays counted, so
/// one later notification may be spent on it; wait with a timeout where
/// that matters.
///
/// Layout: the lock (8 bytes) and two `u32` (16 bytes, alignment 4) on
/// every target.
#[repr(C)]
pub struct Condition {
    lock: Lock,
    /// Waiters not yet notified. Changed only under the lock.
    waiting: AtomicU32,
    /// Notifications not yet consumed: the futex word waiters park on.
    tokens: AtomicU32,
}

static_assertions::assert_eq_size!(Condition, [u32; 4]);
static_assertions::assert_eq_align!(Condition, u32);

#[allow(unsafe_code)]
// SAFETY: repr(C) of a Lock and two AtomicU32: no pointers, no drop glue,
// every bit pattern valid; all mutation is atomic.
unsafe impl Shareable for Condition {}

impl Default for Condition {
    fn default() -> Condition {
        Condition::new()
    }
}

impl Condition {
    /// A condition nobody waits on, its lock free.
    pub const fn new() -> Condition {
        Condition {
            lock: Lock::new(),
            waiting: AtomicU32::new(0),
            tokens: AtomicU32::new(0),
        }
    }

    fn wrap<'a>(&'a self, taken: LockResult<LockGuard<'a>>) -> LockResult<ConditionGuard<'a>> {
        let wrap = |guard| ConditionGuard { cond: self, guard };
        taken.map(wrap).map_err(|died| died.map(wrap))
    }

    /// Takes the lock (Python's `acquire()` / `with cond:`).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](super::OwnerDied) (holding the guard) when the lock was taken over from a
    /// process that died holding it.
    pub fn acquire(&self) -> LockResult<ConditionGuard<'_>> {
        self.wrap(self.lock.lock())
    }

    /// Takes the lock if it is free now (Python's `acquire(False)`).
    ///
    /// # Errors
    ///
    /// As [`Lock::try_lock`].
    pub fn try_acquire(&self) -> TryLockResult<ConditionGuard<'_>> {
        self.wrap_try(self.lock.try_lock())
    }

    /// Takes the lock, waiting at most `timeout` (Python's
    /// `acquire(timeout=…)`).
    ///
    /// # Errors
    ///
    /// As [`Lock::lock_timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> TryLockResult<ConditionGuard<'_>> {
        self.wrap_try(self.lock.lock_timeout(timeout))
    }

    fn wrap_try<'a>(
        &'a self,
        taken: TryLockResult<LockGuard<'a>>,
    ) -> TryLockResult<ConditionGuard<'a>> {
        match taken {
            Ok(guard) => Ok(ConditionGuard { cond: self, guard }),
            Err(TryLockError::OwnerDied(died)) => Err(TryLockError::OwnerDied(
                died.map(|guard| ConditionGuard { cond: self, guard }),
            )),
            Err(TryLockError::WouldBlock) => Err(TryLockError::WouldBlock),
            Err(TryLockError::TimedOut) => Err(TryLockError::TimedOut),
        }
    }

    /// The lock (e.g. to check [`Lock::is_consistent`]).
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    fn try_consume(&self) -> bool {
        let mut t = self.tokens.load(Ordering::Relaxed);
        while t > 0 {
            // SYNC POINT: Acquire pairs with the Release in `notify`.
            match self
                .tokens
                .compare_exchange_weak(t, t - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => t = now,
            }
        }
        false
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish()
    }
}

/// A [`Condition`]'s lock, held.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    guard: LockGuard<'a>,
}

/// What [`ConditionGuard::wait_timeout`] returns: the guard (the lock held
/// again) and whether the waiter was notified before the time ran out.
pub type WaitTimeoutResult<'a> = LockResult<(ConditionGuard<'a>, bool)>;

impl<'a> ConditionGuard<'a> {
    /// Releases the lock, waits until notified, takes the lock again
    /// (Python's `wait()`).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`](super::OwnerDied) when retaking the lock found its holder dead.
    pub fn wait(self) -> LockResult<ConditionGuard<'a>> {
        self.wait_until(None)
            .map(|(guard, _)| guard)
            .map_err(|died| died.map(|(guard, _)| guard))
    }

    /// As [`wait`](ConditionGuard::wait), for at most `timeout`; the flag
    /// says whether it was notified (Python's `wait(timeout)` result).
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionGuard::wait).
    pub fn wait_timeout(self, timeout: Duration) -> WaitTimeoutResult<'a> {
        self.wait_until(raw::deadline(timeout))
    }

    /// Waits until `predicate` is true, for at most `timeout` (`None`: no
    /// limit); returns the guard and the predicate's last value (Python's
    /// `wait_for(predicate, timeout)`). The predicate runs with the lock
    /// held.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionGuard::wait).
    pub fn wait_for(
        self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> WaitTimeoutResult<'a> {
        let deadline = timeout.and_then(raw::deadline);
        let mut guard = self;
        loop {
            if predicate() {
                return Ok((guard, true));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((guard, false));
            }
            guard = match guard.wait_until(deadline) {
                Ok((g, _)) => g,
                Err(died) => return Err(died.map(|(g, _)| (g, predicate()))),
            };
        }
    }

    fn wait_until(self, deadline: Option<Instant>) -> WaitTimeoutResult<'a> {
        let cond = self.cond;
        cond.waiting.fetch_add(1, Ordering::Relaxed);
        // Release the lock (drop the guard), then park on the tokens.
        drop(self.guard);
        let mut notified = false;
        loop {
            if cond.try_consume() {
                notified = true;
                break;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                break;
            }
            if futex::wait(&cond.tokens, 0, left) == Woke::TimedOut
                && deadline.is_some_and(|d| Instant::now() >= d)
            {
                notified = cond.try_consume();
                break;
            }
        }
        let retaken = cond.wrap(cond.lock.lock());
        if !notified {
            // Under the lock: a notification that came after the time ran
            // out is ours to take; otherwise leave the count of waiters.
            if cond.try_consume() {
                notified = true;
            } else {
                cond.waiting.fetch_sub(1, Ordering::Relaxed);
            }
        }
        retaken
            .map(|guard| (guard, notified))
            .map_err(|died| died.map(|guard| (guard, notified)))
    }

    /// Wakes at most `n` waiters (Python's `notify(n)`); how many were
    /// notified.
    pub fn notify(&self, n: u32) -> u32 {
        let cond = self.cond;
        let k = cond.waiting.load(Ordering::Relaxed).min(n);
        if k == 0 {
            return 0;
        }
        cond.waiting.fetch_sub(k, Ordering::Relaxed);
        // SYNC POINT: Release pairs with the Acquire in `try_consume`.
        cond.tokens.fetch_add(k, Ordering::Release);
        futex::wake(&cond.tokens, k);
        k
    }

    /// Wakes every waiter (Python's `notify_all()`); how many.
    pub fn notify_all(&self) -> u32 {
        self.notify(u32::MAX)
    }

    /// Declares the protected state repaired after an [`OwnerDied`](super::OwnerDied).
    pub fn mark_consistent(&self) {
        self.guard.mark_consistent();
    }
}

impl std::fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConditionGuard")
            .field("cond", self.cond)
            .finish()
    }
}
