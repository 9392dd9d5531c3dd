//! [`Lock`]: Python's `multiprocessing.Lock`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::raw::{self, Taken};
use super::{LockResult, OwnerDied, TryLockError, TryLockResult};
use crate::process::Pid;
use crate::shm::Shareable;

/// The state word's values.
const CONSISTENT: u32 = 0;
const INCONSISTENT: u32 = 1;

/// A process-shared, non-recursive lock (Python's `multiprocessing.Lock`).
///
/// Lives in shared memory (see the [module docs](super)). `lock` is
/// Python's `acquire()`, `try_lock` is `acquire(block=False)`,
/// `lock_timeout` is `acquire(timeout=…)`; dropping the guard is
/// `release()`. Acquiring it again in the process that holds it waits (as
/// Python's does) until another thread of the process releases it.
///
/// The guard is not `Send`: it is released by the thread that took it
/// (whose robust-futex list holds the lock while it is held; see the
/// [module docs](super)).
///
/// Layout: ten `u32` words (40 bytes, alignment 8) on every target.
#[repr(C, align(8))]
pub struct Lock {
    /// See [`raw`](super::raw): 0, or the holder's pid with a waiters bit.
    word: AtomicU32,
    /// `CONSISTENT`, or `INCONSISTENT` from a take-over until
    /// [`LockGuard::mark_consistent`].
    state: AtomicU32,
    _spare: [AtomicU32; 2],
    /// The last holder's pid and the robust-list entry.
    tail: raw::Tail,
}

static_assertions::assert_eq_size!(Lock, [u64; 5]);
static_assertions::assert_eq_align!(Lock, u64);
static_assertions::const_assert_eq!(std::mem::offset_of!(Lock, tail), raw::TAIL_AT);

#[allow(unsafe_code)]
// SAFETY: repr(C) of AtomicU32s, no padding: no pointers Rust code reads
// (the robust-list links in the tail are written by their holder and read
// only by the kernel), no drop glue, every bit pattern valid (a garbage
// word names some pid, which is checked like any other holder); all
// mutation is atomic.
unsafe impl Shareable for Lock {}

impl Default for Lock {
    fn default() -> Lock {
        Lock::new()
    }
}

impl Lock {
    /// A free lock. Put it in shared memory before use.
    pub const fn new() -> Lock {
        Lock {
            word: AtomicU32::new(0),
            state: AtomicU32::new(CONSISTENT),
            _spare: [const { AtomicU32::new(0) }; 2],
            tail: raw::Tail::new(),
        }
    }

    fn guard(&self, taken: Taken) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        match taken {
            Taken::Clean => Ok(LockGuard {
                lock: self,
                pid: raw::me(),
                _thread_bound: std::marker::PhantomData,
            }),
            Taken::OwnerDied(pid) => {
                self.state.store(INCONSISTENT, Ordering::Relaxed);
                Err(TryLockError::OwnerDied(OwnerDied::new(
                    LockGuard {
                        lock: self,
                        pid: raw::me(),
                        _thread_bound: std::marker::PhantomData,
                    },
                    pid,
                )))
            }
            Taken::No => Err(TryLockError::WouldBlock),
        }
    }

    /// Acquires the lock, waiting as long as it takes (Python's
    /// `acquire()`).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (holding the guard) when the lock was taken over from a
    /// process that died holding it.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<LockGuard<'_>> {
        match self.guard(raw::acquire(&self.word, &self.tail, raw::me(), true, None)) {
            Ok(guard) => Ok(guard),
            Err(TryLockError::OwnerDied(died)) => Err(died),
            // Without a deadline the wait only ends with the lock.
            Err(TryLockError::WouldBlock | TryLockError::TimedOut) => self.lock(),
        }
    }

    /// Acquires the lock if it is free now (Python's
    /// `acquire(block=False)`).
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] when it is held;
    /// [`TryLockError::OwnerDied`] when its holder no longer exists (a
    /// holder that is dead but not yet reaped is found only by the waiting
    /// forms).
    pub fn try_lock(&self) -> TryLockResult<LockGuard<'_>> {
        self.guard(raw::acquire(&self.word, &self.tail, raw::me(), false, None))
    }

    /// Acquires the lock, waiting at most `timeout` (Python's
    /// `acquire(timeout=…)`).
    ///
    /// # Errors
    ///
    /// [`TryLockError::TimedOut`] when it was still held at the deadline;
    /// [`TryLockError::OwnerDied`] as for [`Lock::lock`].
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<LockGuard<'_>> {
        let deadline = raw::deadline(timeout);
        self.guard(raw::acquire(
            &self.word,
            &self.tail,
            raw::me(),
            true,
            deadline,
        ))
        .map_err(|e| match e {
            TryLockError::WouldBlock => TryLockError::TimedOut,
            other => other,
        })
    }

    /// A read-modify-write of the lock's word that changes nothing,
    /// acquiring and releasing: ordered against every release of the lock
    /// (each a read-modify-write of the same word), so whatever came before
    /// the last release before it is visible after it, and whatever came
    /// before it is visible after the next release. A waiting protocol's
    /// fence (see the record queue's waiters).
    pub(crate) fn touch(&self) {
        // SYNC POINT: AcqRel pairs with the AcqRel swap in `raw::release`.
        self.word.fetch_add(0, Ordering::AcqRel);
    }

    /// Whether some process holds the lock right now.
    pub fn is_locked(&self) -> bool {
        raw::holder(&self.word).is_some()
    }

    /// The process holding the lock right now, if any.
    pub fn holder(&self) -> Option<Pid> {
        raw::holder(&self.word).and_then(|pid| Pid::from_raw(pid as i32))
    }

    /// `false` from the moment the lock was taken over from a dead holder
    /// until a guard's [`LockGuard::mark_consistent`].
    pub fn is_consistent(&self) -> bool {
        self.state.load(Ordering::Relaxed) == CONSISTENT
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("holder", &self.holder())
            .field("consistent", &self.is_consistent())
            .finish()
    }
}

/// Holds a [`Lock`]; releases it on drop (Python's `release()`).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    /// The process that acquired: only there does dropping release.
    pid: u32,
    /// Released by the thread that took it (its robust list).
    _thread_bound: std::marker::PhantomData<*const ()>,
}

impl LockGuard<'_> {
    /// Declares the protected state repaired after an [`OwnerDied`].
    pub fn mark_consistent(&self) {
        self.lock.state.store(CONSISTENT, Ordering::Relaxed);
    }

    /// The lock this guard holds.
    pub fn lock(&self) -> &Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // A copy of the guard in a forked child (inherited, or moved into a
        // target) does not own the lock, even if that child has since taken
        // the lock itself: only the acquiring process releases.
        if self.pid == raw::me() && raw::holder(&self.lock.word) == Some(self.pid) {
            raw::release(&self.lock.word, &self.lock.tail, self.pid);
        }
    }
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", self.lock)
            .finish()
    }
}
