//! [`RLock`]: Python's `multiprocessing.RLock`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::raw::{self, Taken};
use super::{LockResult, OwnerDied, TryLockError, TryLockResult};
use crate::process::Pid;
use crate::shm::Shareable;
use crate::sys::process as sys;

const CONSISTENT: u32 = 0;
const INCONSISTENT: u32 = 1;

/// A process-shared recursive lock (Python's `multiprocessing.RLock`): the
/// thread that holds it may acquire it again, and it is free once every
/// acquisition has been released. Lives in shared memory (see the
/// [module docs](super)); a dead holder is detected as for
/// [`Lock`](super::Lock).
///
/// The owner is a thread: the lock word holds its process's pid, `tid` its
/// thread id, `count` the depth; `tid` and `count` are written only by the
/// holder.
///
/// Layout: ten `u32` (40 bytes, alignment 8) on every target.
#[repr(C, align(8))]
pub struct RLock {
    word: AtomicU32,
    state: AtomicU32,
    tid: AtomicU32,
    count: AtomicU32,
    /// The last holder's pid and the robust-list entry.
    tail: raw::Tail,
}

static_assertions::assert_eq_size!(RLock, [u64; 5]);
static_assertions::assert_eq_align!(RLock, u64);
static_assertions::const_assert_eq!(std::mem::offset_of!(RLock, tail), raw::TAIL_AT);

#[allow(unsafe_code)]
// SAFETY: repr(C) of AtomicU32s, no padding: no pointers Rust code reads
// (the robust-list links in the tail are written by their holder and read
// only by the kernel), no drop glue, every bit pattern valid (garbage
// names some pid and thread, checked like any holder); all mutation is
// atomic.
unsafe impl Shareable for RLock {}

impl Default for RLock {
    fn default() -> RLock {
        RLock::new()
    }
}

fn my_tid() -> u32 {
    sys::gettid().unsigned_abs()
}

impl RLock {
    /// A free lock. Put it in shared memory before use.
    pub const fn new() -> RLock {
        RLock {
            word: AtomicU32::new(0),
            state: AtomicU32::new(CONSISTENT),
            tid: AtomicU32::new(0),
            count: AtomicU32::new(0),
            tail: raw::Tail::new(),
        }
    }

    fn held_by_me(&self, me: u32, tid: u32) -> bool {
        raw::holder(&self.word) == Some(me) && self.tid.load(Ordering::Relaxed) == tid
    }

    fn take(&self, wait: bool, timeout: Option<Duration>) -> TryLockResult<RLockGuard<'_>> {
        let (me, tid) = (raw::me(), my_tid());
        if self.held_by_me(me, tid) {
            let depth = self.count.load(Ordering::Relaxed);
            if depth == u32::MAX {
                // Cannot be represented; refusing is the only safe answer.
                return Err(TryLockError::WouldBlock);
            }
            self.count.store(depth + 1, Ordering::Relaxed);
            return Ok(RLockGuard {
                lock: self,
                pid: raw::me(),
                _thread_bound: std::marker::PhantomData,
            });
        }
        let deadline = timeout.and_then(raw::deadline);
        match raw::acquire(&self.word, &self.tail, me, wait, deadline) {
            Taken::Clean => {
                self.tid.store(tid, Ordering::Relaxed);
                self.count.store(1, Ordering::Relaxed);
                Ok(RLockGuard {
                    lock: self,
                    pid: raw::me(),
                    _thread_bound: std::marker::PhantomData,
                })
            }
            Taken::OwnerDied(pid) => {
                self.tid.store(tid, Ordering::Relaxed);
                self.count.store(1, Ordering::Relaxed);
                self.state.store(INCONSISTENT, Ordering::Relaxed);
                Err(TryLockError::OwnerDied(OwnerDied::new(
                    RLockGuard {
                        lock: self,
                        pid: raw::me(),
                        _thread_bound: std::marker::PhantomData,
                    },
                    pid,
                )))
            }
            Taken::No if timeout.is_some() => Err(TryLockError::TimedOut),
            Taken::No => Err(TryLockError::WouldBlock),
        }
    }

    /// Acquires the lock (again, if this thread holds it), waiting as long
    /// as it takes (Python's `acquire()`).
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (holding the guard) when the lock was taken over from a
    /// process that died holding it.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<RLockGuard<'_>> {
        loop {
            match self.take(true, None) {
                Ok(guard) => return Ok(guard),
                Err(TryLockError::OwnerDied(died)) => return Err(died),
                // Only a depth of u32::MAX: wait for some release.
                Err(_) => std::thread::yield_now(),
            }
        }
    }

    /// Acquires the lock if it is free or this thread holds it (Python's
    /// `acquire(block=False)`).
    ///
    /// # Errors
    ///
    /// As [`Lock::try_lock`](super::Lock::try_lock).
    pub fn try_lock(&self) -> TryLockResult<RLockGuard<'_>> {
        self.take(false, None)
    }

    /// Acquires the lock, waiting at most `timeout` (Python's
    /// `acquire(timeout=…)`).
    ///
    /// # Errors
    ///
    /// As [`Lock::lock_timeout`](super::Lock::lock_timeout).
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<RLockGuard<'_>> {
        self.take(true, Some(timeout))
    }

    /// The process holding the lock right now, if any.
    pub fn holder(&self) -> Option<Pid> {
        raw::holder(&self.word).and_then(|pid| Pid::from_raw(pid as i32))
    }

    /// How many times the holder has acquired it (0 when free).
    pub fn depth(&self) -> u32 {
        if raw::holder(&self.word).is_some() {
            self.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// `false` from a take-over from a dead holder until
    /// [`RLockGuard::mark_consistent`].
    pub fn is_consistent(&self) -> bool {
        self.state.load(Ordering::Relaxed) == CONSISTENT
    }
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLock")
            .field("holder", &self.holder())
            .field("depth", &self.depth())
            .field("consistent", &self.is_consistent())
            .finish()
    }
}

/// One acquisition of an [`RLock`]; released on drop (Python's
/// `release()`).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    /// The process that acquired: a copy in a forked child never releases.
    pid: u32,
    /// Not `Send`: the owner is the acquiring thread, only it may release.
    _thread_bound: std::marker::PhantomData<*const ()>,
}

impl RLockGuard<'_> {
    /// Declares the protected state repaired after an [`OwnerDied`].
    pub fn mark_consistent(&self) {
        self.lock.state.store(CONSISTENT, Ordering::Relaxed);
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let lock = self.lock;
        // A copy in a forked child, or a guard on another thread: not ours.
        if self.pid != raw::me() || !lock.held_by_me(self.pid, my_tid()) {
            return;
        }
        let depth = lock.count.load(Ordering::Relaxed);
        if depth > 1 {
            lock.count.store(depth - 1, Ordering::Relaxed);
        } else {
            lock.count.store(0, Ordering::Relaxed);
            lock.tid.store(0, Ordering::Relaxed);
            raw::release(&lock.word, &lock.tail, self.pid);
        }
    }
}

impl std::fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLockGuard")
            .field("lock", self.lock)
            .finish()
    }
}
