//! [`Condition`]: Python's `multiprocessing.Condition`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::raw;
use super::{Lock, LockGuard, LockResult, TryLockError, TryLockResult};
use crate::shm::Shareable;
use crate::sys::futex;
use crate::sys::process as sys;

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
/// **A waiter that dies** never absorbs a notification: each waiting
/// ticket records its waiter's pid (a table of 64, by ticket). `notify`
/// skips a waiter whose process is gone, and a notification that was
/// still spent on one (it died a moment later, or it is a zombie nobody
/// reaped yet) is passed on by the live waiters: a live waiter that wakes
/// without being notified looks for notified tickets nobody has taken up,
/// and when their waiter is dead, it notifies as many waiters again, under
/// the lock, among those that were waiting at the last `notify`. So
/// `notify(n)` wakes `n` live waiters (or all of them if fewer wait).
/// With more than 64 waiters at once, a waiter's record may be overwritten
/// by one 64 tickets later, and its death then goes unseen.
///
/// Differences from Python: the lock is a non-recursive [`Lock`] (Python's
/// default is an `RLock`).
///
/// Layout: the lock (40 bytes) and 134 `u32` (576 bytes, alignment 8) on
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
    /// `next` as it was at the last `notify`: only tickets below it may be
    /// notified in place of a dead waiter. Changed only under the lock.
    horizon: AtomicU32,
    /// No padding: the layout is all fields.
    _spare: u32,
    /// Entry `t % WAITERS`: the pid of the waiter holding ticket `t` (0:
    /// none, or it has taken its notification up or left). Changed only
    /// under the lock; read without it as a hint.
    pids: [AtomicU32; WAITERS],
    /// Entry `t % WAITERS`: the ticket `t` whose waiter `pids` names.
    tickets: [AtomicU32; WAITERS],
}

/// Waiters whose pid a [`Condition`] records.
const WAITERS: usize = 64;

static_assertions::assert_eq_size!(Condition, [u64; 8 + WAITERS]);
static_assertions::assert_eq_align!(Condition, u64);

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
            horizon: AtomicU32::new(0),
            _spare: 0,
            pids: [const { AtomicU32::new(0) }; WAITERS],
            tickets: [const { AtomicU32::new(0) }; WAITERS],
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

    /// Records `pid` as the waiter of `ticket`. Call under the lock.
    fn record(&self, ticket: u32, pid: u32) {
        let i = ticket as usize % WAITERS;
        self.tickets[i].store(ticket, Ordering::Relaxed);
        self.pids[i].store(pid, Ordering::Relaxed);
    }

    /// Forgets the waiter of `ticket` if it is `pid`: it took its
    /// notification up, or left. Call under the lock.
    fn unrecord(&self, ticket: u32, pid: u32) {
        let i = ticket as usize % WAITERS;
        if self.pids[i].load(Ordering::Relaxed) == pid
            && self.tickets[i].load(Ordering::Relaxed) == ticket
        {
            self.pids[i].store(0, Ordering::Relaxed);
        }
    }

    /// Whether the waiter of `ticket` is known and gone (`thorough`: a
    /// zombie counts as gone; reads `/proc`); if so, forgets it. Call under
    /// the lock.
    fn waiter_gone(&self, ticket: u32, thorough: bool) -> bool {
        let i = ticket as usize % WAITERS;
        let pid = self.pids[i].load(Ordering::Relaxed);
        if pid == 0 || self.tickets[i].load(Ordering::Relaxed) != ticket || !gone(pid, thorough) {
            return false;
        }
        self.pids[i].store(0, Ordering::Relaxed);
        true
    }

    /// Notified tickets nobody has taken up, as seen without the lock:
    /// whether there are any, and whether one's waiter is gone.
    fn unclaimed(&self, released: u32, thorough: bool) -> Unclaimed {
        let mut found = Unclaimed::None;
        for (pid, ticket) in self.pids.iter().zip(&self.tickets) {
            let pid = pid.load(Ordering::Relaxed);
            if pid == 0 || !Condition::is_released(ticket.load(Ordering::Relaxed), released) {
                continue;
            }
            if gone(pid, thorough) {
                return Unclaimed::Dead;
            }
            found = Unclaimed::Alive;
        }
        found
    }

    /// Moves `released` past up to `n` tickets of waiters still waiting
    /// (skipping those that left, and those known gone), below `until`;
    /// wakes the parked waiters if it moved. How many were notified. Call
    /// under the lock.
    fn release(&self, n: u32, until: u32) -> u32 {
        let old = self.released.load(Ordering::Relaxed);
        let mut released = old;
        let mut left = self.left_mask();
        let mut woken = 0;
        while woken < n && released != until {
            if left & 1 == 0 && !self.waiter_gone(released, false) {
                woken += 1;
            }
            released = released.wrapping_add(1);
            left >>= 1;
        }
        // Marks past the last ticket (a newest ticket was handed back) go.
        if released == self.next.load(Ordering::Relaxed) {
            left = 0;
        }
        self.set_left_mask(left);
        if released != old {
            // SYNC POINT: Release publishes what the notifier did under the
            // lock to the waiters' Acquire load.
            self.released.store(released, Ordering::Release);
            // Waiters park on one word: wake them all; those not released
            // park again.
            futex::wake(&self.released, u32::MAX);
        }
        woken
    }

    /// Passes on the notifications spent on dead waiters (`thorough` as
    /// for [`waiter_gone`](Self::waiter_gone)). Call under the lock.
    fn pass_on(&self, thorough: bool) {
        let released = self.released.load(Ordering::Relaxed);
        let mut spent = 0;
        for i in 0..WAITERS {
            let ticket = self.tickets[i].load(Ordering::Relaxed);
            if Condition::is_released(ticket, released) && self.waiter_gone(ticket, thorough) {
                spent += 1;
            }
        }
        let horizon = self.horizon.load(Ordering::Relaxed);
        // Only tickets below the horizon were waiting at the last notify.
        if spent > 0 && Condition::is_released(released, horizon) {
            self.release(spent, horizon);
        }
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

/// How long a waiter first waits for a notified waiter to take its
/// notification up before it looks whether that one died.
const CHECK: Duration = Duration::from_millis(1);

/// What [`Condition::unclaimed`] found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unclaimed {
    /// No notified ticket waits to be taken up.
    None,
    /// Some do, their waiters alive (as far as the look could tell).
    Alive,
    /// One's waiter is gone: its notification should be passed on.
    Dead,
}

/// Whether process `pid` is gone (`thorough`: a zombie counts; reads
/// `/proc`).
fn gone(pid: u32, thorough: bool) -> bool {
    if thorough {
        sys::is_dead(pid as i32)
    } else {
        sys::kill(pid as i32, 0) == Err(crate::sys::Errno::ESRCH)
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
        let me = raw::me();
        // Under the lock: take a ticket.
        let ticket = cond.next.load(Ordering::Relaxed);
        cond.next.store(ticket.wrapping_add(1), Ordering::Relaxed);
        cond.record(ticket, me);
        drop(self.guard);
        let mut backoff = raw::Backoff::new();
        // A dead lock holder met while passing on a notification: told to
        // the caller when the wait returns, as the lock tells it once.
        let mut died = None;
        let mut check = CHECK;
        let mut thorough = false;
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
            let nap = match cond.unclaimed(released, thorough) {
                Unclaimed::None => left,
                Unclaimed::Alive => Some(left.map_or(check, |l| l.min(check))),
                Unclaimed::Dead => {
                    let guard = cond.lock.lock().unwrap_or_else(|d| {
                        died = d.pid().map(|p| p.as_raw().unsigned_abs());
                        d.into_guard()
                    });
                    cond.pass_on(thorough);
                    drop(guard);
                    continue;
                }
            };
            if futex::wait(&cond.released, released, nap) == futex::Woke::TimedOut && nap != left {
                // Someone notified has not come for it: look harder.
                thorough = true;
                check = (check * 2).min(raw::MAX_CHECK);
            }
        }
        let retaken = cond.wrap(cond.lock.lock());
        // Under the lock again: notified, or leaving with the ticket marked.
        cond.unrecord(ticket, me);
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
        let retaken = match (retaken, died) {
            (Ok(guard), Some(pid)) => Err(super::OwnerDied::new(guard, pid)),
            (retaken, _) => retaken,
        };
        retaken
            .map(|guard| (guard, notified))
            .map_err(|died| died.map(|guard| (guard, notified)))
    }

    /// Wakes at most `n` waiters (Python's `notify(n)`); how many were
    /// notified.
    pub fn notify(&self, n: u32) -> u32 {
        let cond = self.cond;
        let next = cond.next.load(Ordering::Relaxed);
        cond.horizon.store(next, Ordering::Relaxed);
        cond.release(n, next)
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
