//! Process-shared synchronization: `mproc_lock_*`, `mproc_rlock_*`,
//! `mproc_semaphore_*`, `mproc_event_*`, `mproc_condition_*`.
//!
//! Each primitive lives in an anonymous shared segment made by its `_new`:
//! processes forked afterwards share it. The crate's guards (which release
//! on drop) are kept in the handle between `_acquire` and `_release`.

use std::ffi::c_int;
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Duration;

use mproc_rs::shm::Shared;
use mproc_rs::sync::{
    Barrier, BarrierError, BoundedSemaphore, Condition, ConditionGuard, Event, Lock, LockGuard,
    RLock, RLockGuard, Semaphore, TryLockError,
};

use crate::error::{
    Context, Fail, Res, as_int, flag, free, get, handle, int, into_raw, ptr, timeout,
};

/// Guards held through a handle, with the thread that took each (a lock is
/// released by the thread that took it: its robust-futex list holds it).
/// Declared before the segment in each handle, so it drops first.
struct Held<G> {
    /// The process whose guards these are; a forked child's copy holds its
    /// parent's until its first push.
    guards: Mutex<(u32, Vec<(ThreadId, G)>)>,
}

impl<G> Held<G> {
    fn new() -> Held<G> {
        Held {
            guards: Mutex::new((self_pid(), Vec::new())),
        }
    }

    /// Runs `f` on this process's guards. Guards of another process (the
    /// copies a fork inherited) are dropped first: they release nothing.
    fn with<R>(&self, f: impl FnOnce(&mut Vec<(ThreadId, G)>) -> R) -> R {
        let mut guards = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        let me = self_pid();
        if guards.0 != me {
            guards.1.clear();
            guards.0 = me;
        }
        f(&mut guards.1)
    }

    /// Keeps `guard` for this thread.
    fn push(&self, guard: G) {
        self.with(|guards| guards.push((std::thread::current().id(), guard)));
    }

    /// Takes back this thread's newest guard.
    fn pop(&self, func: &str, what: &str) -> Res<G> {
        let me = std::thread::current().id();
        self.with(|guards| {
            let at = guards.iter().rposition(|(t, _)| *t == me);
            at.map(|i| guards.remove(i).1)
        })
        .ok_or_else(|| {
            Fail::new(
                libc::EPERM,
                func,
                format_args!(
                    "the {what} is not held by this thread (of process {})",
                    self_pid()
                ),
            )
        })
    }
}

fn self_pid() -> u32 {
    std::process::id()
}

/// Extends a guard of a handle's segment to the handle's life.
///
/// # Safety
///
/// The guard must be kept in the same handle as the segment it borrows,
/// in a `Held` declared before it (so it is dropped first).
unsafe fn extend<'a, G: 'a, H>(g: G) -> H {
    debug_assert_eq!(std::mem::size_of::<G>(), std::mem::size_of::<H>());
    // SAFETY: `G` and `H` are the same guard type with lifetimes `'a` and
    // `'static` (the callers name them so); the caller keeps the segment
    // alive as long as the guard.
    unsafe { std::mem::transmute_copy(&std::mem::ManuallyDrop::new(g)) }
}

/// The result of a timed acquisition as C sees it.
fn acquired<G>(
    func: &str,
    what: &str,
    r: Result<G, TryLockError<G>>,
    t: Option<Duration>,
) -> Res<(G, bool)> {
    match r {
        Ok(g) => Ok((g, false)),
        Err(TryLockError::OwnerDied(died)) => Ok((died.into_guard(), true)),
        Err(TryLockError::WouldBlock) | Err(TryLockError::TimedOut) => {
            let (code, how) = match t {
                Some(t) if !t.is_zero() => (libc::ETIMEDOUT, "still held at the deadline"),
                _ => (libc::EAGAIN, "held by another"),
            };
            Err(Fail::new(code, func, format_args!("the {what} is {how}")))
        }
    }
}

/// 0, or `-EOWNERDEAD` for a lock taken over from a dead holder (held all
/// the same, like a robust pthread mutex).
fn died_code(func: &str, what: &str, died: bool) -> Res<c_int> {
    if died {
        Err(Fail::new(
            libc::EOWNERDEAD,
            func,
            format_args!(
                "the {what} was taken over from a holder that died holding it: it is held now; repair the state it protects"
            ),
        ))
    } else {
        Ok(0)
    }
}

// ---------------------------------------------------------------- Lock

/// What a lock handle holds.
pub struct LockCell {
    held: Held<LockGuard<'static>>,
    lock: Shared<Lock>,
}

/// A process-shared, non-recursive lock (Python's
/// `multiprocessing.Lock`). Made by `mproc_lock_new` before forking the
/// processes that share it; each process frees its copy with
/// `mproc_lock_free` (after its threads released what they hold).
/// Thread-safe, but a lock is released by the thread that acquired it. A holder that dies is detected: the next
/// acquirer gets `-EOWNERDEAD` with the lock held.
pub struct mproc_lock_t {
    _opaque: [u8; 0],
}

handle!(mproc_lock_t, LockCell, 0x6d70_7072_6f63_0020, "lock");

/// Makes a free lock in a new shared segment. NULL on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_lock_new() -> *mut mproc_lock_t {
    const F: &str = "mproc_lock_new";
    ptr(F, || {
        Ok(into_raw::<mproc_lock_t>(LockCell {
            held: Held::new(),
            lock: Shared::new(Lock::new()).at(F)?,
        }))
    })
}

/// Acquires the lock, waiting at most `timeout_ms` (Python's
/// `acquire(timeout=…)`; 0 is `acquire(block=False)`). Returns 0;
/// `-EAGAIN` (0 ms) or `-ETIMEDOUT` when it is held; `-EOWNERDEAD` when
/// taken over from a dead holder (it is held: repair, then go on).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_lock_acquire(l: *const mproc_lock_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_lock_acquire";
    int(F, || {
        let cell = get(F, l)?;
        let t = timeout(timeout_ms);
        let r = match t {
            None => cell.lock.lock().map_err(TryLockError::OwnerDied),
            Some(t) if t.is_zero() => cell.lock.try_lock(),
            Some(t) => cell.lock.lock_timeout(t),
        };
        let (guard, died) = acquired(F, "lock", r, t)?;
        // SAFETY: kept in `cell.held`, declared before `cell.lock`.
        cell.held
            .push(unsafe { extend::<_, LockGuard<'static>>(guard) });
        died_code(F, "lock", died)
    })
}

/// Releases the lock (Python's `release()`). Returns 0, or `-EPERM` when
/// this thread does not hold it.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_lock_release(l: *const mproc_lock_t) -> c_int {
    const F: &str = "mproc_lock_release";
    int(F, || {
        drop(get(F, l)?.held.pop(F, "lock")?);
        Ok(0)
    })
}

/// Whether some process holds the lock now: 1 or 0.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_lock_is_locked(l: *const mproc_lock_t) -> c_int {
    const F: &str = "mproc_lock_is_locked";
    int(F, || Ok(flag(get(F, l)?.lock.is_locked())))
}

/// Frees this process's copy (NULL is ignored); a lock this process holds
/// through it is released.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_lock_free(l: *mut mproc_lock_t) {
    free("mproc_lock_free", l);
}

// ---------------------------------------------------------------- RLock

/// What a recursive lock handle holds.
pub struct RLockCell {
    held: Held<RLockGuard<'static>>,
    lock: Shared<RLock>,
}

/// A process-shared recursive lock (Python's `multiprocessing.RLock`):
/// the holding thread may acquire it again; each acquire needs its
/// release. Ownership as `mproc_lock_t`.
pub struct mproc_rlock_t {
    _opaque: [u8; 0],
}

handle!(mproc_rlock_t, RLockCell, 0x6d70_7072_6f63_0021, "rlock");

/// Makes a free recursive lock in a new shared segment. NULL on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_rlock_new() -> *mut mproc_rlock_t {
    const F: &str = "mproc_rlock_new";
    ptr(F, || {
        Ok(into_raw::<mproc_rlock_t>(RLockCell {
            held: Held::new(),
            lock: Shared::new(RLock::new()).at(F)?,
        }))
    })
}

/// Acquires the lock (once more if this thread holds it), waiting at most
/// `timeout_ms`. As `mproc_lock_acquire`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_rlock_acquire(l: *const mproc_rlock_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_rlock_acquire";
    int(F, || {
        let cell = get(F, l)?;
        let t = timeout(timeout_ms);
        let r = match t {
            None => cell.lock.lock().map_err(TryLockError::OwnerDied),
            Some(t) if t.is_zero() => cell.lock.try_lock(),
            Some(t) => cell.lock.lock_timeout(t),
        };
        let (guard, died) = acquired(F, "rlock", r, t)?;
        // SAFETY: kept in `cell.held`, declared before `cell.lock`.
        cell.held
            .push(unsafe { extend::<_, RLockGuard<'static>>(guard) });
        died_code(F, "rlock", died)
    })
}

/// Releases one level of the lock. Returns 0, or `-EPERM` when this
/// thread does not hold it.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_rlock_release(l: *const mproc_rlock_t) -> c_int {
    const F: &str = "mproc_rlock_release";
    int(F, || {
        drop(get(F, l)?.held.pop(F, "rlock")?);
        Ok(0)
    })
}

/// Frees this process's copy (NULL is ignored), releasing what this
/// process holds through it.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_rlock_free(l: *mut mproc_rlock_t) {
    free("mproc_rlock_free", l);
}

// ---------------------------------------------------------------- Semaphore

/// A process-shared counting semaphore (Python's
/// `multiprocessing.Semaphore`; `sem_wait`/`sem_post`). Made by
/// `mproc_semaphore_new` before forking; each process frees its copy.
/// Thread-safe; any process or thread may release.
pub struct mproc_semaphore_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_semaphore_t,
    Shared<Semaphore>,
    0x6d70_7072_6f63_0022,
    "semaphore"
);

/// Makes a semaphore with `value` free units. NULL on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_semaphore_new(value: u32) -> *mut mproc_semaphore_t {
    const F: &str = "mproc_semaphore_new";
    ptr(F, || {
        Ok(into_raw(Shared::new(Semaphore::new(value)).at(F)?))
    })
}

/// Takes one unit, waiting at most `timeout_ms`. Returns 0, or `-EAGAIN`
/// (0 ms) / `-ETIMEDOUT` when none came free.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_semaphore_acquire(s: *const mproc_semaphore_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_semaphore_acquire";
    int(F, || {
        let s = get(F, s)?;
        let guard = match timeout(timeout_ms) {
            None => Some(s.acquire()),
            Some(t) if t.is_zero() => s.try_acquire(),
            Some(t) => s.acquire_timeout(t),
        };
        match guard {
            Some(g) => {
                g.forget();
                Ok(0)
            }
            None => {
                let code = if timeout_ms == 0 {
                    libc::EAGAIN
                } else {
                    libc::ETIMEDOUT
                };
                Err(Fail::new(
                    code,
                    F,
                    format_args!("no free unit within {timeout_ms} ms"),
                ))
            }
        }
    })
}

/// Gives one unit back (Python's `release()`). Returns 0, or `-ENOSPC`
/// past 2^32-1 units.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_semaphore_release(s: *const mproc_semaphore_t) -> c_int {
    const F: &str = "mproc_semaphore_release";
    int(F, || {
        get(F, s)?.release().at(F)?;
        Ok(0)
    })
}

/// The free units now (Python's `get_value()`), or a negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_semaphore_value(s: *const mproc_semaphore_t) -> c_int {
    const F: &str = "mproc_semaphore_value";
    int(F, || as_int(F, get(F, s)?.get_value() as usize))
}

/// Frees this process's copy (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_semaphore_free(s: *mut mproc_semaphore_t) {
    free("mproc_semaphore_free", s);
}

/// A process-shared semaphore that refuses to be released above its
/// initial value (Python's `multiprocessing.BoundedSemaphore`). Ownership
/// as `mproc_semaphore_t`. Thread-safe.
pub struct mproc_bounded_semaphore_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_bounded_semaphore_t,
    Shared<BoundedSemaphore>,
    0x6d70_7072_6f63_0025,
    "bounded semaphore"
);

/// Makes a bounded semaphore with `value` free units, also its bound. NULL
/// on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_bounded_semaphore_new(value: u32) -> *mut mproc_bounded_semaphore_t {
    const F: &str = "mproc_bounded_semaphore_new";
    ptr(F, || {
        Ok(into_raw(Shared::new(BoundedSemaphore::new(value)).at(F)?))
    })
}

/// Takes one unit, waiting at most `timeout_ms`; as
/// `mproc_semaphore_acquire`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_bounded_semaphore_acquire(
    s: *const mproc_bounded_semaphore_t,
    timeout_ms: c_int,
) -> c_int {
    const F: &str = "mproc_bounded_semaphore_acquire";
    int(F, || {
        let s = get(F, s)?;
        let guard = match timeout(timeout_ms) {
            None => Some(s.acquire()),
            Some(t) if t.is_zero() => s.try_acquire(),
            Some(t) => s.acquire_timeout(t),
        };
        match guard {
            Some(g) => {
                g.forget();
                Ok(0)
            }
            None => {
                let code = if timeout_ms == 0 {
                    libc::EAGAIN
                } else {
                    libc::ETIMEDOUT
                };
                Err(Fail::new(
                    code,
                    F,
                    format_args!("no free unit within {timeout_ms} ms"),
                ))
            }
        }
    })
}

/// Gives one unit back. Returns 0, or `-ENOSPC` when that would pass the
/// bound (Python's `ValueError`; nothing changes).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_bounded_semaphore_release(s: *const mproc_bounded_semaphore_t) -> c_int {
    const F: &str = "mproc_bounded_semaphore_release";
    int(F, || {
        get(F, s)?.release().at(F)?;
        Ok(0)
    })
}

/// The free units now, or a negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_bounded_semaphore_value(s: *const mproc_bounded_semaphore_t) -> c_int {
    const F: &str = "mproc_bounded_semaphore_value";
    int(F, || as_int(F, get(F, s)?.get_value() as usize))
}

/// Frees this process's copy (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_bounded_semaphore_free(s: *mut mproc_bounded_semaphore_t) {
    free("mproc_bounded_semaphore_free", s);
}

// ---------------------------------------------------------------- Barrier

/// A process-shared barrier for a fixed number of parties (Python's
/// `multiprocessing.Barrier`). Made by `mproc_barrier_new` before forking;
/// each process frees its copy. Thread-safe.
pub struct mproc_barrier_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_barrier_t,
    Shared<Barrier>,
    0x6d70_7072_6f63_0026,
    "barrier"
);

/// Makes a barrier for `parties` processes (0 is taken as 1). NULL on
/// failure.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_barrier_new(parties: u32) -> *mut mproc_barrier_t {
    const F: &str = "mproc_barrier_new";
    ptr(F, || {
        Ok(into_raw(Shared::new(Barrier::new(parties)).at(F)?))
    })
}

/// Waits at most `timeout_ms` until `parties` processes wait (Python's
/// `wait(timeout)`). Returns this waiter's index, 0 to `parties - 1` (one
/// of them gets 0); `-ETIMEDOUT` when its time ran out (the barrier is then
/// broken for all); `-EPIPE` when the barrier is broken (aborted, reset,
/// another's timeout: Python's `BrokenBarrierError`).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_barrier_wait(b: *const mproc_barrier_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_barrier_wait";
    int(F, || {
        let b = get(F, b)?;
        let r = match timeout(timeout_ms) {
            None => b.wait(),
            Some(t) => b.wait_timeout(t),
        };
        match r {
            Ok(i) => as_int(F, i as usize),
            Err(e @ BarrierError::TimedOut) => Err(Fail::new(libc::ETIMEDOUT, F, e)),
            Err(e @ BarrierError::Broken) => Err(Fail::new(libc::EPIPE, F, e)),
        }
    })
}

/// Breaks the barrier: current and later waiters get `-EPIPE` until
/// `mproc_barrier_reset` (Python's `abort()`). Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_barrier_abort(b: *const mproc_barrier_t) -> c_int {
    const F: &str = "mproc_barrier_abort";
    int(F, || {
        get(F, b)?.abort();
        Ok(0)
    })
}

/// Returns the barrier to its first state; current waiters get `-EPIPE`
/// (Python's `reset()`). Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_barrier_reset(b: *const mproc_barrier_t) -> c_int {
    const F: &str = "mproc_barrier_reset";
    int(F, || {
        get(F, b)?.reset();
        Ok(0)
    })
}

/// Frees this process's copy (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_barrier_free(b: *mut mproc_barrier_t) {
    free("mproc_barrier_free", b);
}

// ---------------------------------------------------------------- Event

/// A process-shared flag (Python's `multiprocessing.Event`). Made by
/// `mproc_event_new` before forking; each process frees its copy.
/// Thread-safe.
pub struct mproc_event_t {
    _opaque: [u8; 0],
}

handle!(mproc_event_t, Shared<Event>, 0x6d70_7072_6f63_0023, "event");

/// Makes a cleared event. NULL on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_event_new() -> *mut mproc_event_t {
    const F: &str = "mproc_event_new";
    ptr(F, || Ok(into_raw(Shared::new(Event::new()).at(F)?)))
}

/// Sets the flag and wakes every waiter (Python's `set()`). Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_event_set(e: *const mproc_event_t) -> c_int {
    const F: &str = "mproc_event_set";
    int(F, || {
        get(F, e)?.set();
        Ok(0)
    })
}

/// Clears the flag (Python's `clear()`). Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_event_clear(e: *const mproc_event_t) -> c_int {
    const F: &str = "mproc_event_clear";
    int(F, || {
        get(F, e)?.clear();
        Ok(0)
    })
}

/// Whether the flag is set (Python's `is_set()`): 1 or 0.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_event_is_set(e: *const mproc_event_t) -> c_int {
    const F: &str = "mproc_event_is_set";
    int(F, || Ok(flag(get(F, e)?.is_set())))
}

/// Waits at most `timeout_ms` for the flag (Python's `wait(timeout)`).
/// Returns 0 when set, `-ETIMEDOUT` (or `-EAGAIN` for 0 ms) when not.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_event_wait(e: *const mproc_event_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_event_wait";
    int(F, || {
        let e = get(F, e)?;
        let set = match timeout(timeout_ms) {
            None => {
                e.wait();
                true
            }
            Some(t) => e.wait_timeout(t),
        };
        if set {
            Ok(0)
        } else {
            let code = if timeout_ms == 0 {
                libc::EAGAIN
            } else {
                libc::ETIMEDOUT
            };
            Err(Fail::new(
                code,
                F,
                format_args!("the event was not set within {timeout_ms} ms"),
            ))
        }
    })
}

/// Frees this process's copy (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_event_free(e: *mut mproc_event_t) {
    free("mproc_event_free", e);
}

// ---------------------------------------------------------------- Condition

/// What a condition handle holds.
pub struct ConditionCell {
    held: Held<ConditionGuard<'static>>,
    cond: Shared<Condition>,
}

/// A process-shared condition variable with its own lock (Python's
/// `multiprocessing.Condition`). Acquire, wait or notify, release, all
/// from one thread. Ownership as `mproc_lock_t`.
pub struct mproc_condition_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_condition_t,
    ConditionCell,
    0x6d70_7072_6f63_0024,
    "condition"
);

/// Makes a condition in a new shared segment. NULL on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_condition_new() -> *mut mproc_condition_t {
    const F: &str = "mproc_condition_new";
    ptr(F, || {
        Ok(into_raw::<mproc_condition_t>(ConditionCell {
            held: Held::new(),
            cond: Shared::new(Condition::new()).at(F)?,
        }))
    })
}

/// Acquires the condition's lock, waiting at most `timeout_ms`. As
/// `mproc_lock_acquire`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_condition_acquire(c: *const mproc_condition_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_condition_acquire";
    int(F, || {
        let cell = get(F, c)?;
        let t = timeout(timeout_ms);
        let r = match t {
            None => cell.cond.acquire().map_err(TryLockError::OwnerDied),
            Some(t) if t.is_zero() => cell.cond.try_acquire(),
            Some(t) => cell.cond.acquire_timeout(t),
        };
        let (guard, died) = acquired(F, "condition", r, t)?;
        // SAFETY: kept in `cell.held`, declared before `cell.cond`.
        cell.held
            .push(unsafe { extend::<_, ConditionGuard<'static>>(guard) });
        died_code(F, "condition", died)
    })
}

/// Releases the condition's lock. Returns 0 or `-EPERM`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_condition_release(c: *const mproc_condition_t) -> c_int {
    const F: &str = "mproc_condition_release";
    int(F, || {
        drop(get(F, c)?.held.pop(F, "condition")?);
        Ok(0)
    })
}

/// Releases the lock, waits to be notified at most `timeout_ms`, and takes
/// the lock again (Python's `wait(timeout)`); the caller must hold it.
/// Returns 0 when notified, `-ETIMEDOUT` when not (the lock is held again
/// either way), `-EPERM` when this thread does not hold the lock.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_condition_wait(c: *const mproc_condition_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_condition_wait";
    int(F, || {
        let cell = get(F, c)?;
        let guard = cell.held.pop(F, "condition")?;
        let (guard, notified, died) = match timeout(timeout_ms) {
            None => match guard.wait() {
                Ok(g) => (g, true, false),
                Err(d) => (d.into_guard(), true, true),
            },
            Some(t) => match guard.wait_timeout(t) {
                Ok((g, n)) => (g, n, false),
                Err(d) => {
                    let (g, n) = d.into_guard();
                    (g, n, true)
                }
            },
        };
        cell.held.push(guard);
        died_code(F, "condition", died)?;
        if notified {
            Ok(0)
        } else {
            Err(Fail::new(
                libc::ETIMEDOUT,
                F,
                format_args!("not notified within {timeout_ms} ms"),
            ))
        }
    })
}

/// Wakes at most `n` waiters (Python's `notify(n)`); the caller must hold
/// the lock. Returns how many were notified, or `-EPERM`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_condition_notify(c: *const mproc_condition_t, n: u32) -> c_int {
    const F: &str = "mproc_condition_notify";
    int(F, || {
        let cell = get(F, c)?;
        let guard = cell.held.pop(F, "condition")?;
        let woke = guard.notify(n);
        cell.held.push(guard);
        as_int(F, woke as usize)
    })
}

/// Wakes every waiter (Python's `notify_all()`); as
/// `mproc_condition_notify`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_condition_notify_all(c: *const mproc_condition_t) -> c_int {
    mproc_condition_notify(c, u32::MAX)
}

/// Frees this process's copy (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_condition_free(c: *mut mproc_condition_t) {
    free("mproc_condition_free", c);
}
