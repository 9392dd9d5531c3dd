//! The owner-tracked futex word under [`Lock`](super::Lock),
//! [`RLock`](super::RLock) and the lock of a [`Value`](crate::shm::Value).
//!
//! # The lock word (`AtomicU32`)
//!
//! | value                 | meaning                                          |
//! |-----------------------|--------------------------------------------------|
//! | `0`                   | free                                             |
//! | `pid`                 | held by process `pid`, nobody parked             |
//! | `pid \| WAITERS`      | held by `pid`, someone may be parked on the word |
//!
//! | `OWNER_DIED [\| WAITERS]` | its holder died; the kernel marked it      |
//!
//! Pids fit in 30 bits (`pid_max` is at most 2²²), the kernel's
//! `FUTEX_TID_MASK`; `WAITERS` and `OWNER_DIED` are the kernel's
//! `FUTEX_WAITERS` and `FUTEX_OWNER_DIED`.
//!
//! **A holder that dies**, two ways:
//!
//! - *The kernel marks it.* A lock taken by a process's main thread (whose
//!   thread id is the pid the word holds) is put on that thread's
//!   robust-futex list ([`crate::sys::robust`]) for as long as it is held.
//!   When the holder dies, the kernel sets the word to `OWNER_DIED` (keeping
//!   `WAITERS`) and wakes one parked waiter, which takes the word over with
//!   one compare-exchange and reports [`Taken::OwnerDied`] with the pid the
//!   holder recorded in [`Tail::holder`]: microseconds after the death.
//! - *A waiter looks.* Everywhere else (a lock taken by another thread,
//!   qemu-user, which lacks robust lists, a C library whose list this crate
//!   cannot share), a waiter that has parked for a while without the word
//!   changing checks whether the holder still lives ([`sys::is_dead`]:
//!   gone, or a zombie) and, if not, takes the word over with one
//!   compare-exchange from exactly the value it saw — so of several waiters
//!   that notice, one wins. The detection delay is then at most
//!   [`MAX_CHECK`].
//!
//! # Spinning, then parking
//!
//! A waiter first spins a few times with exponential back-off (a hand-off
//! between processes on other cores takes a fraction of a microsecond, a
//! futex wake-up tens), then yields the CPU a few times (so an
//! oversubscribed machine lets the holder run), then parks on the futex.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys::futex::{self, Woke};
use crate::sys::process as sys;
use crate::sys::robust::{self, Links};

/// Set while some process may be parked on the word.
pub(crate) const WAITERS: u32 = 1 << 31;
/// Set by the kernel when the holder died (its robust list).
pub(crate) const OWNER_DIED: u32 = 1 << 30;
/// The holder's pid.
pub(crate) const PID_MASK: u32 = (1 << 30) - 1;

/// Park this long before the first look at the holder.
pub(crate) const FIRST_CHECK: Duration = Duration::from_millis(5);
/// The longest park between two looks at the holder.
pub(crate) const MAX_CHECK: Duration = Duration::from_millis(100);

/// What every owner-tracked lock carries from its 16th byte on: the pid of
/// its last holder, and the reserved links of its robust-list entry
/// (written only by the holder's own thread, never read by Rust code).
/// Together with the word at byte 0 this fixes the lock's layout: 40
/// bytes, alignment 8, on every target.
#[repr(C)]
pub(crate) struct Tail {
    /// The pid of the process that took the word last (kept after the
    /// kernel clears the word's pid to mark a death).
    holder: AtomicU32,
    links: Links,
}

static_assertions::assert_eq_size!(Tail, [u32; 6]);

impl Tail {
    pub(crate) const fn new() -> Tail {
        Tail {
            holder: AtomicU32::new(0),
            links: [const { AtomicU32::new(0) }; 5],
        }
    }
}

/// Where the [`Tail`] of a lock sits after its word.
pub(crate) const TAIL_AT: usize = 16;
const _: () = assert!(TAIL_AT + 4 == robust::LINKS_AT && TAIL_AT + 24 == robust::LINKS_END);

/// How an acquisition went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Acquired normally.
    Clean,
    /// Acquired from a holder that died holding it (its pid).
    OwnerDied(u32),
    /// Not acquired: the caller did not want to wait, or the time ran out.
    No,
}

/// The calling process's id in the form the word stores.
pub(crate) fn me() -> u32 {
    sys::getpid().unsigned_abs() & PID_MASK
}

/// Back-off for contended waits: spins, then yields, then says "park".
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    const SPIN_STEPS: u32 = 6;
    const YIELD_STEPS: u32 = 10;

    pub(crate) const fn new() -> Backoff {
        Backoff { step: 0 }
    }

    /// Waits a little; `false` once it is time to park instead.
    pub(crate) fn snooze(&mut self) -> bool {
        if self.step < Self::SPIN_STEPS {
            for _ in 0..(1u32 << self.step) {
                std::hint::spin_loop();
            }
        } else if self.step < Self::YIELD_STEPS {
            std::thread::yield_now();
        } else {
            return false;
        }
        self.step += 1;
        true
    }
}

/// Tries once to take a free word.
pub(crate) fn try_take(word: &AtomicU32, me: u32) -> bool {
    // SYNC POINT: Acquire pairs with the Release in `release`.
    word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

/// Takes the lock whose word is `word` for `me`, waiting until `deadline`
/// (`None`: no limit). With `wait == false`, never waits, but still takes
/// over from a holder that no longer exists. A lock taken goes on the
/// calling thread's robust list when it can (see the module docs).
pub(crate) fn acquire(
    word: &AtomicU32,
    tail: &Tail,
    me: u32,
    wait: bool,
    deadline: Option<Instant>,
) -> Taken {
    let pending = robust::prepare(word, &tail.links, me);
    let taken = take(word, tail, me, wait, deadline);
    if let Some(p) = pending {
        if taken == Taken::No {
            robust::abandon(p);
        } else {
            robust::link(p);
        }
    }
    if taken != Taken::No {
        tail.holder.store(me, Ordering::Relaxed);
    }
    taken
}

fn take(word: &AtomicU32, tail: &Tail, me: u32, wait: bool, deadline: Option<Instant>) -> Taken {
    if try_take(word, me) {
        return Taken::Clean;
    }
    if !wait {
        // Only the cheap look (marked, or the holder's pid no longer
        // exists): a zombie holder is found by the waiting forms.
        let seen = word.load(Ordering::Relaxed);
        return take_marked(word, tail, seen, me)
            .or_else(|| take_from_dead(word, seen, me, false))
            .unwrap_or(Taken::No);
    }
    let mut backoff = Backoff::new();
    while backoff.snooze() {
        let seen = word.load(Ordering::Relaxed);
        if seen == 0 && try_take(word, me) {
            return Taken::Clean;
        }
        if let Some(t) = take_marked(word, tail, seen, me) {
            return t;
        }
    }
    let mut check = FIRST_CHECK;
    loop {
        let seen = word.load(Ordering::Relaxed);
        if seen == 0 {
            // Someone else may be parked too: keep WAITERS set so that our
            // release wakes them.
            // SYNC POINT: Acquire pairs with the Release in `release`.
            if word
                .compare_exchange(0, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Taken::Clean;
            }
            continue;
        }
        if let Some(t) = take_marked(word, tail, seen, me) {
            return t;
        }
        if seen & WAITERS == 0
            && word
                .compare_exchange(seen, seen | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        let parked = seen | WAITERS;
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            // One look at the holder before giving up, so that even a zero
            // timeout finds a dead one.
            return take_from_dead(word, parked, me, true).unwrap_or(Taken::No);
        }
        let nap = left.map_or(check, |l| l.min(check));
        if futex::wait(word, parked, Some(nap)) == Woke::TimedOut {
            if let Some(t) = take_from_dead(word, parked, me, true) {
                return t;
            }
            check = (check * 2).min(MAX_CHECK);
        }
    }
}

/// If the kernel marked the word (`seen`: its holder died on the robust
/// list), takes it over.
fn take_marked(word: &AtomicU32, tail: &Tail, seen: u32, me: u32) -> Option<Taken> {
    if seen & (OWNER_DIED | PID_MASK) != OWNER_DIED {
        return None;
    }
    // Keep WAITERS: others may be parked on the dead holder too.
    // SYNC POINT: Acquire pairs with the dead holder's last Release, if any.
    word.compare_exchange(seen, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
        .ok()
        .map(|_| Taken::OwnerDied(tail.holder.load(Ordering::Relaxed)))
}

/// If the word still reads `seen` and its holder is dead, takes it over.
/// `thorough`: also count a zombie holder as dead (reads `/proc`).
fn take_from_dead(word: &AtomicU32, seen: u32, me: u32, thorough: bool) -> Option<Taken> {
    let holder = seen & PID_MASK;
    if holder == 0 || holder == me {
        return None;
    }
    let dead = if thorough {
        sys::is_dead(holder as i32)
    } else {
        sys::kill(holder as i32, 0) == Err(crate::sys::Errno::ESRCH)
    };
    if !dead {
        return None;
    }
    // Keep WAITERS: others may be parked on the dead holder too.
    // SYNC POINT: Acquire pairs with the dead holder's last Release, if any.
    word.compare_exchange(seen, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
        .ok()
        .map(|_| Taken::OwnerDied(holder))
}

/// Frees the lock whose word is `word` (taking it off the calling thread's
/// robust list first) and wakes one parked waiter if there may be one.
pub(crate) fn release(word: &AtomicU32, tail: &Tail, me: u32) {
    let pending = robust::unlink(word, &tail.links, me);
    // SYNC POINT: Release pairs with the Acquire in `try_take`/`acquire`;
    // Acquire pairs with `Lock::touch`, which a waiter of the record queue
    // makes after registering as parked: its registration is then visible
    // to the look at the parked counters after this release.
    let old = word.swap(0, Ordering::AcqRel);
    if let Some(p) = pending {
        robust::released(p);
    }
    if old & WAITERS != 0 {
        futex::wake(word, 1);
    }
}

/// The pid holding the word, if any.
pub(crate) fn holder(word: &AtomicU32) -> Option<u32> {
    match word.load(Ordering::Relaxed) & PID_MASK {
        0 => None,
        pid => Some(pid),
    }
}

/// A deadline `timeout` from now (`None` if it overflows: no limit).
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
