//! Process-shared synchronization on the Linux futex: Python's
//! `multiprocessing.Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`,
//! `Event`, `Condition` and `Barrier`.
//!
//! Each primitive is a small `#[repr(C)]` value of atomic words that lives
//! *in shared memory*: put it in a [`Shared`](crate::shm::Shared) before
//! forking (Python's `Lock()` does the same behind the scenes), or in a
//! field of a named segment's payload. A primitive left on the stack or the
//! heap and then forked is two independent primitives, one per process.
//!
//! ```no_run
//! use mproc::process::Process;
//! use mproc::shm::Shared;
//! use mproc::sync::Lock;
//!
//! // Python: lock = Lock(); Process(target=f, args=(lock,)).start()
//! let lock = Shared::new(Lock::new())?;
//! let mut p = Process::new(|| {
//!     let _held = lock.lock().unwrap_or_else(|died| died.into_guard());
//!     // ... critical section ...
//! });
//! p.start()?;
//! p.join()?;
//! # Ok::<(), mproc::Error>(())
//! ```
//!
//! **Waiting.** A waiter spins briefly with back-off, yields a few times,
//! then parks on the futex. Every wait has a timeout form (`*_timeout`) and
//! a non-blocking form (`try_*`); guards release on drop.
//!
//! **A holder that dies.** The lock word holds the holder's pid. A lock
//! taken by a process's main thread is on that thread's robust-futex list
//! while it is held (shared with the C library's, see `raw`): when the
//! holder dies, the kernel marks the word and wakes a waiter, which takes
//! the lock over within microseconds. Elsewhere (a lock held by another
//! thread, more than 16 held at once, qemu-user, a C library other than
//! glibc) a waiter parked for a while checks whether the holding process
//! still lives and, if not, takes the lock over: within 5 ms to a few
//! hundred milliseconds. Either way the new holder is told once:
//! `Err(`[`OwnerDied`]`)`, which carries the guard (as a poisoned
//! `std::sync::Mutex` does). The protected state may be half-updated;
//! repair it, then [`LockGuard::mark_consistent`]. Until then
//! [`Lock::is_consistent`] says `false`. A lock guard is therefore not
//! `Send`: the thread that took the lock releases it. The look at the
//! holder relies on pids: every user of the lock must be in the same pid
//! namespace, and a holder's pid reused by a new process before anyone
//! looked delays the detection until that process ends.
//!
//! **Event loops.** A futex is no descriptor: a loop that must wait for a
//! flag among its descriptors (or an async runtime) makes a
//! [`WatchableEvent`], an [`Event`] made with an eventfd that its
//! [`watch`](WatchableEvent::watch) keeps readable while the flag is set.
//!
//! **Other primitives.** A [`Semaphore`]'s units held through a guard by a
//! process that dies come back; a [`Condition`] waiter that dies never
//! absorbs a notification; a [`Barrier`] party that dies before arriving
//! leaves the others to their timeouts (see each type).

mod barrier;
pub(crate) mod beacon;
mod condition;
mod event;
mod lock;
pub(crate) mod raw;
mod rlock;
mod semaphore;
mod watchable;

pub use barrier::{Barrier, BarrierError};
pub use condition::{Condition, ConditionGuard, WaitTimeoutResult};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, BoundedSemaphoreGuard, Semaphore, SemaphoreGuard};
pub use watchable::WatchableEvent;

use crate::process::Pid;

/// A lock was acquired from a holder that died holding it: the guard, and
/// the dead holder's pid. The state the lock protects may be inconsistent.
pub struct OwnerDied<G> {
    guard: G,
    pid: Option<Pid>,
}

impl<G> OwnerDied<G> {
    pub(crate) fn new(guard: G, pid: u32) -> OwnerDied<G> {
        OwnerDied {
            guard,
            pid: Pid::from_raw(i32::try_from(pid).unwrap_or(0)),
        }
    }

    /// The same report around another guard (e.g. one that wraps this
    /// one).
    pub fn map<H>(self, f: impl FnOnce(G) -> H) -> OwnerDied<H> {
        OwnerDied {
            guard: f(self.guard),
            pid: self.pid,
        }
    }

    /// The guard: the lock is held.
    pub fn into_guard(self) -> G {
        self.guard
    }

    /// The guard, by reference.
    pub fn guard(&self) -> &G {
        &self.guard
    }

    /// The process that died holding the lock.
    pub fn pid(&self) -> Option<Pid> {
        self.pid
    }
}

impl<G> std::fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerDied").field("pid", &self.pid).finish()
    }
}

impl<G> std::fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "lock acquired from pid {pid}, which died holding it"),
            None => f.write_str("lock acquired from a holder that died holding it"),
        }
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

/// What the blocking acquisitions return: the guard, or the guard wrapped
/// in [`OwnerDied`].
pub type LockResult<G> = Result<G, OwnerDied<G>>;

/// Why a non-blocking or timed acquisition did not simply succeed.
pub enum TryLockError<G> {
    /// Acquired, from a holder that died: see [`OwnerDied`].
    OwnerDied(OwnerDied<G>),
    /// `try_*`: held by someone else right now.
    WouldBlock,
    /// `*_timeout`: still held by someone else when the time ran out.
    TimedOut,
}

/// What the non-blocking and timed acquisitions return.
pub type TryLockResult<G> = Result<G, TryLockError<G>>;

impl<G> TryLockError<G> {
    /// The guard if the lock was acquired (from a dead holder).
    pub fn into_guard(self) -> Option<G> {
        match self {
            TryLockError::OwnerDied(died) => Some(died.into_guard()),
            TryLockError::WouldBlock | TryLockError::TimedOut => None,
        }
    }
}

impl<G> From<OwnerDied<G>> for TryLockError<G> {
    fn from(died: OwnerDied<G>) -> TryLockError<G> {
        TryLockError::OwnerDied(died)
    }
}

impl<G> std::fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryLockError::OwnerDied(died) => f.debug_tuple("OwnerDied").field(died).finish(),
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
            TryLockError::TimedOut => f.write_str("TimedOut"),
        }
    }
}

impl<G> std::fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryLockError::OwnerDied(died) => died.fmt(f),
            TryLockError::WouldBlock => f.write_str("the lock is held by someone else"),
            TryLockError::TimedOut => f.write_str("timed out waiting for the lock"),
        }
    }
}

impl<G> std::error::Error for TryLockError<G> {}
