//! [`Semaphore`] and [`BoundedSemaphore`]: Python's
//! `multiprocessing.Semaphore` and `BoundedSemaphore`, whose units held by
//! a process that dies come back.
//!
//! # The state word (`AtomicU64`) and the holder slots
//!
//! | bits     | meaning                                                  |
//! |----------|----------------------------------------------------------|
//! | `0..32`  | free units: the futex word waiters park on while it is 0 |
//! | `32..40` | units held through guards by the process of slot 0       |
//! | `40..48` | … slot 1, `48..56` slot 2, `56..64` slot 3               |
//!
//! Beside it, `holders[i]` names slot `i`'s process:
//!
//! | `holders[i]`          | meaning                                         |
//! |-----------------------|-------------------------------------------------|
//! | `0`                   | free; its count in the state word is 0          |
//! | `pid`                 | owned by process `pid` for as long as it lives  |
//! | `pid \| REAPING`      | process `pid` is returning a dead owner's units |
//!
//! Taking a unit through a guard is **one compare-exchange** of the state
//! word that moves a unit from "free" to "held by my slot", and giving it
//! back is one that moves it back: a process killed at any instruction has
//! either taken the unit and recorded it, or done neither. That is why the
//! counts share one word with the free units, and why there are four slots
//! (the word has room for four 8-bit counts beside a 32-bit free count).
//!
//! A process claims a slot the first time it takes a unit through a guard
//! (one compare-exchange of a free `holders[i]` from 0 to its pid) and
//! keeps it for its lifetime: a slot freed while the process lives could be
//! claimed by another process while a thread of the first one is about to
//! count a unit in it. Slots are freed by *reaping*: a process that finds a
//! slot's owner dead marks the slot `me | REAPING` (one compare-exchange,
//! so one reaper wins), moves the slot's count back to the free units, and
//! stores 0. A reaper that dies half-way is itself found dead by the next
//! one, which takes the slot over.
//!
//! Waiters reap: a parked waiter looks at the holders when it has waited a
//! while (as a [`Lock`](super::Lock) waiter looks at its holder), and
//! `try_acquire` on an empty semaphore looks at them once. So does a
//! process that finds no free slot.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::raw::{self, Backoff, FIRST_CHECK, MAX_CHECK};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::process::Pid;
use crate::shm::Shareable;
use crate::sys::futex::{self, Woke};
use crate::sys::process as sys;

/// Holder slots per semaphore.
const SLOTS: usize = 4;
/// The most units one slot counts; more taken by one process are untracked.
const SLOT_MAX: u32 = 0xFF;
/// Marks a slot being reaped, beside the reaper's pid.
const REAPING: u32 = 1 << 31;
/// A guard's slot when its unit is not counted in any slot.
const UNTRACKED: u8 = u8::MAX;

const fn free(state: u64) -> u32 {
    state as u32
}

const fn held(state: u64, slot: usize) -> u32 {
    ((state >> (32 + 8 * slot)) & SLOT_MAX as u64) as u32
}

const fn one(slot: usize) -> u64 {
    1 << (32 + 8 * slot)
}

/// The counter, its parked waiters and its holder slots, shared by both
/// semaphore kinds (see the [module docs](self) for the states).
///
/// `parked` counts processes inside the park, so that a release makes the
/// wake syscall only when someone may sleep: a waiter increments `parked`
/// before its futex wait re-checks the free count, a releaser adds to the
/// state before it reads `parked` (both SeqCst), so one of them sees the
/// other.
#[repr(C)]
struct Counter {
    state: AtomicU64,
    parked: AtomicU32,
    /// The bound: `u32::MAX` for a [`Semaphore`]. Set once.
    max: u32,
    holders: [AtomicU32; SLOTS],
}

/// How an acquisition went.
#[derive(Clone, Copy)]
struct Took {
    /// The slot the unit is counted in, or [`UNTRACKED`].
    slot: u8,
    /// A dead holder whose units this acquisition returned.
    recovered: u32,
}

impl Counter {
    const fn new(value: u32, max: u32) -> Counter {
        Counter {
            state: AtomicU64::new(value as u64),
            parked: AtomicU32::new(0),
            max,
            holders: [const { AtomicU32::new(0) }; SLOTS],
        }
    }

    fn value(&self) -> u32 {
        free(self.state.load(Ordering::Relaxed))
    }

    /// The slot of process `me`: its own, or a free one it claims, or none
    /// (every slot owned by a live process). Looks for dead owners (and
    /// returns their units) only when no slot is free.
    fn slot_of(&self, me: u32) -> Option<usize> {
        if let Some(i) = self
            .holders
            .iter()
            .position(|h| h.load(Ordering::Relaxed) == me)
        {
            return Some(i);
        }
        for round in 0..2 {
            for (i, h) in self.holders.iter().enumerate() {
                // SYNC POINT: Acquire pairs with the Release store of 0 that
                // ends a reap, so the slot's count (zeroed before it) reads 0.
                if h.load(Ordering::Relaxed) == 0
                    && h.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    return Some(i);
                }
            }
            if round == 0 {
                self.reap(me, false);
            }
        }
        None
    }

    /// Takes one free unit, counting it in `slot` if there is room.
    fn try_down(&self, slot: Option<usize>) -> Option<u8> {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if free(s) == 0 {
                return None;
            }
            let track = slot.filter(|&i| held(s, i) < SLOT_MAX);
            let next = s - 1 + track.map_or(0, one);
            // SYNC POINT: Acquire pairs with the releaser's SeqCst update.
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(track.map_or(UNTRACKED, |i| i as u8)),
                Err(now) => s = now,
            }
        }
    }

    /// Takes one unit for `me`, waiting until `deadline` (`None`: no limit)
    /// when `wait`; `None` when none could be had.
    fn down(&self, me: u32, wait: bool, deadline: Option<Instant>) -> Option<Took> {
        let slot = self.slot_of(me);
        let took = |slot: u8, recovered: u32| Some(Took { slot, recovered });
        if let Some(t) = self.try_down(slot) {
            return took(t, 0);
        }
        if !wait {
            // One cheap look at the holders (a zombie holder is found by
            // the waiting forms).
            let recovered = self.reap(me, false).unwrap_or(0);
            return self.try_down(slot).and_then(|t| took(t, recovered));
        }
        let mut backoff = Backoff::new();
        while backoff.snooze() {
            if let Some(t) = self.try_down(slot) {
                return took(t, 0);
            }
        }
        let mut check = FIRST_CHECK;
        let mut recovered = 0;
        loop {
            if let Some(t) = self.try_down(slot) {
                return took(t, recovered);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                // One look at the holders before giving up, so that even a
                // zero timeout finds a dead one.
                let r = self.reap(me, true).unwrap_or(recovered);
                return self.try_down(slot).and_then(|t| took(t, r));
            }
            let nap = left.map_or(check, |l| l.min(check));
            self.parked.fetch_add(1, Ordering::SeqCst);
            let woke = futex::wait_low(&self.state, 0, Some(nap));
            self.parked.fetch_sub(1, Ordering::SeqCst);
            if woke == Woke::TimedOut {
                if let Some(pid) = self.reap(me, true) {
                    recovered = pid;
                }
                check = (check * 2).min(MAX_CHECK);
            }
        }
    }

    /// Returns the units of every slot whose owner is dead (`thorough`:
    /// a zombie counts as dead; reads `/proc`). The last dead owner whose
    /// units came back, if any.
    fn reap(&self, me: u32, thorough: bool) -> Option<u32> {
        let mut recovered = None;
        for (i, h) in self.holders.iter().enumerate() {
            let seen = h.load(Ordering::Acquire);
            let who = seen & !REAPING;
            if seen == 0 || who == me {
                continue;
            }
            let dead = if thorough {
                sys::is_dead(who as i32)
            } else {
                sys::kill(who as i32, 0) == Err(crate::sys::Errno::ESRCH)
            };
            if !dead
                || h.compare_exchange(seen, me | REAPING, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            // The slot is ours: nobody else changes its count now.
            let s = self
                .state
                .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |s| {
                    let n = held(s, i);
                    // The free count cannot overflow: these units were
                    // taken from it.
                    (n > 0).then(|| s - n as u64 * one(i) + n as u64)
                });
            // SYNC POINT: Release pairs with the Acquire of a claimer's
            // compare-exchange from 0.
            h.store(0, Ordering::Release);
            if let Ok(s) = s {
                let n = held(s, i);
                if seen & REAPING == 0 {
                    recovered = Some(who);
                }
                if self.parked.load(Ordering::SeqCst) > 0 {
                    futex::wake_low(&self.state, n);
                }
            }
        }
        recovered
    }

    /// Adds `n` free units, taking one from `slot`'s count (a guard's unit
    /// coming back), and wakes up to `n` parked waiters.
    fn up(&self, n: u32, slot: u8, op: &'static str, what: &'static str) -> Result<()> {
        let max = self.max;
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if free(s).checked_add(n).is_none_or(|next| next > max) {
                return Err(Error::new(
                    op,
                    Resource::Container {
                        what,
                        capacity: max as usize,
                    },
                    ErrorKind::CapacityExceeded {
                        limit: max as usize,
                    },
                ));
            }
            let i = usize::from(slot);
            let mut next = s + u64::from(n);
            if i < SLOTS && held(s, i) > 0 {
                next -= one(i);
            }
            // SYNC POINT: SeqCst pairs with the Acquire in `try_down` and
            // orders this update before the read of `parked` below.
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if self.parked.load(Ordering::SeqCst) > 0 {
            futex::wake_low(&self.state, n);
        }
        Ok(())
    }

    /// Stops counting one unit in `slot` without freeing it (a guard
    /// forgotten: the unit is handed over).
    fn disown(&self, slot: u8) {
        let i = usize::from(slot);
        if i < SLOTS {
            let _ = self
                .state
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                    (held(s, i) > 0).then(|| s - one(i))
                });
        }
    }

    /// Units counted for live or dead holders, slot by slot (for `Debug`).
    fn held_by(&self) -> [(u32, u32); SLOTS] {
        let s = self.state.load(Ordering::Relaxed);
        std::array::from_fn(|i| (self.holders[i].load(Ordering::Relaxed), held(s, i)))
    }
}

macro_rules! semaphore_common {
    ($name:ident, $guard:ident) => {
        impl $name {
            fn guard(&self, took: Took) -> $guard<'_> {
                $guard {
                    sem: self,
                    pid: raw::me(),
                    slot: took.slot,
                    recovered: Pid::from_raw(i32::try_from(took.recovered).unwrap_or(0)),
                }
            }

            /// Takes one unit, waiting as long as it takes (Python's
            /// `acquire()`). The guard gives it back on drop; call
            /// `forget` on it to hand the unit over instead (Python's
            /// acquire without a matching release). A unit held through a
            /// guard comes back if this process dies (see the type's
            /// docs).
            pub fn acquire(&self) -> $guard<'_> {
                let me = raw::me();
                loop {
                    if let Some(took) = self.counter.down(me, true, None) {
                        return self.guard(took);
                    }
                }
            }

            /// Takes one unit if one is free now (Python's
            /// `acquire(block=False)`); also returns the units of holders
            /// found dead (a zombie holder is found by the waiting forms).
            pub fn try_acquire(&self) -> Option<$guard<'_>> {
                let took = self.counter.down(raw::me(), false, None)?;
                Some(self.guard(took))
            }

            /// Takes one unit, waiting at most `timeout` (Python's
            /// `acquire(timeout=…)`); `None` when the time ran out.
            pub fn acquire_timeout(&self, timeout: Duration) -> Option<$guard<'_>> {
                let took = self.counter.down(raw::me(), true, raw::deadline(timeout))?;
                Some(self.guard(took))
            }

            /// The units free right now (Python's `get_value()`).
            pub fn get_value(&self) -> u32 {
                self.counter.value()
            }

            /// Gives back the units of every holder that has died (they
            /// also come back on their own when a waiter has waited a
            /// while); the last such holder, if any. Zombies count as dead.
            pub fn reclaim_dead(&self) -> Option<Pid> {
                let pid = self.counter.reap(raw::me(), true)?;
                Pid::from_raw(i32::try_from(pid).ok()?)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut held = [(0u32, 0u32); SLOTS];
                let mut n = 0;
                for (pid, units) in self.counter.held_by() {
                    if pid != 0 && units > 0 {
                        held[n] = (pid & !REAPING, units);
                        n += 1;
                    }
                }
                let mut d = f.debug_struct(stringify!($name));
                d.field("value", &self.get_value());
                if n > 0 {
                    // (pid, units) of the processes holding units.
                    d.field("held", &&held[..n]);
                }
                d.finish()
            }
        }

        /// One unit of a semaphore, taken; given back on drop.
        #[must_use = "the unit is given back as soon as the guard is dropped"]
        pub struct $guard<'a> {
            sem: &'a $name,
            /// The process that acquired: a copy in a forked child never
            /// gives the unit back a second time.
            pid: u32,
            /// The holder slot the unit is counted in, or `UNTRACKED`.
            slot: u8,
            /// A dead holder whose units this acquisition gave back.
            recovered: Option<Pid>,
        }

        impl $guard<'_> {
            /// Hands the unit over: no release on drop, and it no longer
            /// counts as held by this process, so it does not come back if
            /// this process dies. Another process gives it back with
            /// `release` (the signalling use of a semaphore).
            pub fn forget(self) {
                if self.pid == raw::me() {
                    self.sem.counter.disown(self.slot);
                }
                std::mem::forget(self);
            }

            /// The once-only notice of a dead holder: `Some(pid)` when this
            /// acquisition found `pid` dead and gave back the units it held
            /// (the equivalent of a lock's
            /// [`OwnerDied`](super::OwnerDied)). A semaphore protects no
            /// state of its own, so the unit is simply yours.
            pub fn recovered(&self) -> Option<Pid> {
                self.recovered
            }

            /// Whether this unit comes back if this process dies: `false`
            /// when it is not counted for this process (the semaphore's
            /// four holder slots were all taken by other live processes,
            /// or this process holds 255 units already).
            pub fn is_tracked(&self) -> bool {
                usize::from(self.slot) < SLOTS
            }
        }

        impl Drop for $guard<'_> {
            fn drop(&mut self) {
                // Cannot exceed the bound: this unit was taken.
                if self.pid == raw::me() {
                    let _ = self.sem.give_back(self.slot);
                }
            }
        }

        impl std::fmt::Debug for $guard<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($guard))
                    .field("sem", self.sem)
                    .field("tracked", &self.is_tracked())
                    .finish()
            }
        }
    };
}

/// A process-shared counting semaphore (Python's
/// `multiprocessing.Semaphore`). Lives in shared memory (see the
/// [module docs](super)).
///
/// **Units of a process that dies.** Python's and POSIX semaphores lose a
/// unit whose holder dies; this one gives back exactly the units a process
/// took **through a guard it still held**: a guard dropped gives its unit
/// back at once; a guard [`forget`](SemaphoreGuard::forget)-ed hands its
/// unit over (it stays taken until some process calls
/// [`release`](Semaphore::release)); a unit given with `release` by any
/// process is a new free unit, whoever took one before. So the signalling
/// use (one process releases, another acquires and forgets) keeps its
/// meaning, and the mutual-exclusion use (acquire, work, drop) survives a
/// SIGKILL anywhere. Units come back when a waiter has waited a few
/// milliseconds (as a lock waiter finds a dead holder), at a `try_acquire`
/// on an empty semaphore, or at [`reclaim_dead`](Semaphore::reclaim_dead);
/// the acquisition that gave them back says so once
/// ([`SemaphoreGuard::recovered`]).
///
/// Up to four processes at a time have their units counted (each up to
/// 255); a unit taken by a fifth live process, or beyond 255, is not
/// ([`SemaphoreGuard::is_tracked`] says so) and is lost with its holder as
/// in Python. The count relies on pids: every user must be in the same pid
/// namespace.
///
/// Layout: a `u64` and six `u32` (32 bytes, alignment 8) on every target.
#[repr(C)]
pub struct Semaphore {
    counter: Counter,
}

static_assertions::assert_eq_size!(Semaphore, [u64; 4]);
static_assertions::assert_eq_align!(Semaphore, u64);

#[allow(unsafe_code)]
// SAFETY: repr(C) of atomics and a u32 set once at construction: no
// pointers, no drop glue, every bit pattern valid (a garbage holder word
// names some pid, checked like any other holder); all mutation is atomic.
unsafe impl Shareable for Semaphore {}

impl Semaphore {
    /// A semaphore with `value` free units (Python's `Semaphore(value)`).
    pub const fn new(value: u32) -> Semaphore {
        Semaphore {
            counter: Counter::new(value, u32::MAX),
        }
    }

    /// Gives one unit (Python's `release()`): a new free unit, whoever
    /// took one before; wakes a waiter.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] if the count would pass `u32::MAX`.
    pub fn release(&self) -> Result<()> {
        self.release_n(1)
    }

    /// Gives `n` units (Python 3.9's `release(n)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] if the count would pass `u32::MAX`;
    /// nothing is added then.
    pub fn release_n(&self, n: u32) -> Result<()> {
        self.counter
            .up(n, UNTRACKED, "Semaphore::release", "Semaphore")
    }

    fn give_back(&self, slot: u8) -> Result<()> {
        self.counter.up(1, slot, "Semaphore::release", "Semaphore")
    }
}

semaphore_common!(Semaphore, SemaphoreGuard);

/// A semaphore that refuses to be released above its initial value
/// (Python's `multiprocessing.BoundedSemaphore`, whose over-release raises
/// `ValueError`). Lives in shared memory (see the [module docs](super)).
/// Units of a process that dies come back as for a [`Semaphore`].
///
/// Layout: a `u64` and six `u32` (32 bytes, alignment 8) on every target.
#[repr(C)]
pub struct BoundedSemaphore {
    counter: Counter,
}

static_assertions::assert_eq_size!(BoundedSemaphore, [u64; 4]);
static_assertions::assert_eq_align!(BoundedSemaphore, u64);

#[allow(unsafe_code)]
// SAFETY: as for Semaphore: the same repr(C) counter.
unsafe impl Shareable for BoundedSemaphore {}

impl BoundedSemaphore {
    /// A semaphore with `value` free units, never more.
    pub const fn new(value: u32) -> BoundedSemaphore {
        BoundedSemaphore {
            counter: Counter::new(value, value),
        }
    }

    /// Gives back one unit (Python's `release()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] naming the bound when every unit is
    /// already free (Python's `ValueError: semaphore or lock released too
    /// many times`); the count is unchanged.
    pub fn release(&self) -> Result<()> {
        self.counter.up(
            1,
            UNTRACKED,
            "BoundedSemaphore::release",
            "BoundedSemaphore",
        )
    }

    fn give_back(&self, slot: u8) -> Result<()> {
        self.counter
            .up(1, slot, "BoundedSemaphore::release", "BoundedSemaphore")
    }

    /// The bound: the initial value.
    pub fn bound(&self) -> u32 {
        self.counter.max
    }
}

semaphore_common!(BoundedSemaphore, BoundedSemaphoreGuard);
