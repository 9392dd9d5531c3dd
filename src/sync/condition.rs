//! [`Condition`]: Python's `multiprocessing.Condition`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::raw;
use super::{Lock, LockGuard, LockResult, TryLockError, TryLockResult};
use crate::shm::Shareable;
use crate::sys::futex;

/// A process-shared condition variable with its own lock (Python's
/// `multiprocessing.Condition`). Lives in shared memory (see the
/// [module docs](super)).
///
/// [`Condition::acquire`] takes the lock and gives a [`ConditionGuard`],
/// on which `wait`, `wait_for`, `notify` and `notify_all` are called (so
/// they can only be called with the lock held, which Python checks at run
/// time).
///
/// `notify(n)` wakes the `n` longest-waiting waiters (all if fewer wait),
/// and only waiters that were waiting when it was called: a waiter takes a
/// ticket from `next` (under the lock) before it releases the lock, and
/// waits until `released` has passed its ticket; `notify` moves `released`
/// past the next `n` tickets of waiters still waiting (under the lock). So
/// a process that notifies and then waits itself cannot take the
/// notification it just gave, and a notification spent on a waiter that
/// was killed is never taken by a later one.
///
/// A waiter whose time runs out leaves its ticket behind, marked in
/// `left` (one bit per ticket from `released` on), and `notify` skips
/// marked tickets, so the count stays exact; with more than 64 waiters
/// ahead of it, a leaving waiter's ticket may be counted by one later
/// notification.
///
/// Differences from Python: the lock is a non-recursive [`Lock`] (Python's
/// default is an `RLock`). A waiter killed while waiting keeps its ticket,
/// so one later notification may be spent on it; wait with a timeout where
/// that matters.
///
/// Layout: the lock (8 bytes) and four `u32` (24 bytes, alignment 4) on
/// every target.
#[repr(C)]
pub struct Condition {
    lock: Lock,
    /// The next waiter's ticket. Changed only under the lock.
    next: AtomicU32,
    /// Tickets before this one are notified: the futex word waiters park
    /// on. Changed only under the lock.
    released: AtomicU32,
    /// Bit `i` of `left_lo | left_hi << 32`: the waiter with ticket
    /// `released + i` has left (timed out). Changed only under the lock.
    left_lo: AtomicU32,
    left_hi: AtomicU32,
}

static_assertions::assert_eq_size!(Condition, [u32; 6]);
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
            next: AtomicU32::new(0),
            released: AtomicU32::new(0),
            left_lo: AtomicU32::new(0),
            left_hi: AtomicU32::new(0),
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

    fn left_mask(&self) -> u64 {
        u64::from(self.left_lo.load(Ordering::Relaxed))
            | u64::from(self.left_hi.load(Ordering::Relaxed)) << 32
    }

    fn set_left_mask(&self, mask: u64) {
        self.left_lo.store(mask as u32, Ordering::Relaxed);
        self.left_hi.store((mask >> 32) as u32, Ordering::Relaxed);
    }

    /// Waiters that have a ticket, have not been notified and have not
    /// left (the killed among them included). Call under the lock.
    fn waiting(&self) -> u32 {
        let pending = self
            .next
            .load(Ordering::Relaxed)
            .wrapping_sub(self.released.load(Ordering::Relaxed));
        pending.saturating_sub(self.left_mask().count_ones())
    }

    /// Whether `ticket` has been notified, given `released`.
    fn is_released(ticket: u32, released: u32) -> bool {
        // Tickets wrap: compare distances (fewer than 2^31 waiters at once).
        (released.wrapping_sub(ticket) as i32) > 0
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiting", &self.waiting())
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
        // Under the lock: take a ticket.
        let ticket = cond.next.load(Ordering::Relaxed);
        cond.next.store(ticket.wrapping_add(1), Ordering::Relaxed);
        drop(self.guard);
        let mut backoff = raw::Backoff::new();
        loop {
            // SYNC POINT: Acquire pairs with notify's Release store.
            let released = cond.released.load(Ordering::Acquire);
            if Condition::is_released(ticket, released) {
                break;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                break;
            }
            if backoff.snooze() {
                continue;
            }
            futex::wait(&cond.released, released, left);
        }
        let retaken = cond.wrap(cond.lock.lock());
        // Under the lock again: notified, or leaving with the ticket marked.
        let released = cond.released.load(Ordering::Relaxed);
        let notified = Condition::is_released(ticket, released);
        if !notified {
            let ahead = ticket.wrapping_sub(released);
            if ticket.wrapping_add(1) == cond.next.load(Ordering::Relaxed) {
                // The newest ticket: hand it back.
                cond.next.store(ticket, Ordering::Relaxed);
            } else if ahead < 64 {
                cond.set_left_mask(cond.left_mask() | 1 << ahead);
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
        let next = cond.next.load(Ordering::Relaxed);
        let old = cond.released.load(Ordering::Relaxed);
        let mut released = old;
        let mut left = cond.left_mask();
        let mut woken = 0;
        while woken < n && released != next {
            if left & 1 == 0 {
                woken += 1;
            }
            released = released.wrapping_add(1);
            left >>= 1;
        }
        // Marks past the last ticket (a newest ticket was handed back) go.
        if released == next {
            left = 0;
        }
        cond.set_left_mask(left);
        if released != old {
            // SYNC POINT: Release publishes what the notifier did under the
            // lock to the waiters' Acquire load.
            cond.released.store(released, Ordering::Release);
            // Waiters park on one word: wake them all; those not released
            // park again.
            futex::wake(&cond.released, u32::MAX);
        }
        woken
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
