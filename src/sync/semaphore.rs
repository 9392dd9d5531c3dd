//! [`Semaphore`] and [`BoundedSemaphore`]: Python's
//! `multiprocessing.Semaphore` and `BoundedSemaphore`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::raw::{self, Backoff};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::Shareable;
use crate::sys::futex::{self, Woke};

/// The counter and its parked waiters, shared by both semaphore kinds.
///
/// `value` is the futex word (waiters sleep while it is 0). `parked`
/// counts processes inside the park, so that `release` makes the wake
/// syscall only when someone may sleep: a waiter increments `parked`
/// before its futex wait re-checks `value`, a releaser adds to `value`
/// before it reads `parked` (both SeqCst), so one of them sees the other.
#[repr(C)]
struct Counter {
    value: AtomicU32,
    parked: AtomicU32,
}

impl Counter {
    const fn new(value: u32) -> Counter {
        Counter {
            value: AtomicU32::new(value),
            parked: AtomicU32::new(0),
        }
    }

    fn try_down(&self) -> bool {
        let mut v = self.value.load(Ordering::Relaxed);
        while v > 0 {
            // SYNC POINT: Acquire pairs with the releaser's SeqCst add.
            match self
                .value
                .compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    fn down(&self, deadline: Option<Instant>) -> bool {
        if self.try_down() {
            return true;
        }
        let mut backoff = Backoff::new();
        while backoff.snooze() {
            if self.try_down() {
                return true;
            }
        }
        loop {
            if self.try_down() {
                return true;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return false;
            }
            self.parked.fetch_add(1, Ordering::SeqCst);
            let woke = futex::wait(&self.value, 0, left);
            self.parked.fetch_sub(1, Ordering::SeqCst);
            if woke == Woke::TimedOut && deadline.is_some_and(|d| Instant::now() >= d) {
                return self.try_down();
            }
        }
    }

    /// Adds `n` and wakes up to `n` parked waiters.
    fn up(&self, n: u32, max: u32, op: &'static str, what: &'static str) -> Result<()> {
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            let Some(next) = v.checked_add(n).filter(|&next| next <= max) else {
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
            };
            // SYNC POINT: SeqCst pairs with the Acquire in `try_down` and
            // orders this add before the read of `parked` below.
            match self
                .value
                .compare_exchange_weak(v, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if self.parked.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.value, n);
        }
        Ok(())
    }
}

macro_rules! semaphore_common {
    ($name:ident, $guard:ident) => {
        impl $name {
            /// Takes one unit, waiting as long as it takes (Python's
            /// `acquire()`). The guard gives it back on drop; call
            /// `forget` on it to keep the unit taken (Python's acquire
            /// without a matching release).
            pub fn acquire(&self) -> $guard<'_> {
                while !self.counter.down(None) {}
                $guard {
                    sem: self,
                    pid: raw::me(),
                }
            }

            /// Takes one unit if one is free now (Python's
            /// `acquire(block=False)`).
            pub fn try_acquire(&self) -> Option<$guard<'_>> {
                // `then`, not `then_some`: a guard built eagerly and dropped
                // on failure would give back a unit never taken.
                self.counter.try_down().then(|| $guard {
                    sem: self,
                    pid: raw::me(),
                })
            }

            /// Takes one unit, waiting at most `timeout` (Python's
            /// `acquire(timeout=…)`); `None` when the time ran out.
            pub fn acquire_timeout(&self, timeout: Duration) -> Option<$guard<'_>> {
                self.counter.down(raw::deadline(timeout)).then(|| $guard {
                    sem: self,
                    pid: raw::me(),
                })
            }

            /// The units free right now (Python's `get_value()`).
            pub fn get_value(&self) -> u32 {
                self.counter.value.load(Ordering::Relaxed)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("value", &self.get_value())
                    .finish()
            }
        }

        /// One unit of a semaphore, taken; given back on drop.
        #[must_use = "the unit is given back as soon as the guard is dropped"]
        pub struct $guard<'a> {
            sem: &'a $name,
            /// The process that acquired: a copy in a forked child never
            /// gives the unit back a second time.
            pid: u32,
        }

        impl $guard<'_> {
            /// Keeps the unit taken: no release on drop (it can be given
            /// back later with `release`, by any process).
            pub fn forget(self) {
                std::mem::forget(self);
            }
        }

        impl Drop for $guard<'_> {
            fn drop(&mut self) {
                // Cannot exceed the bound: this unit was taken.
                if self.pid == raw::me() {
                    let _ = self.sem.release();
                }
            }
        }

        impl std::fmt::Debug for $guard<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($guard))
                    .field("sem", self.sem)
                    .finish()
            }
        }
    };
}

/// A process-shared counting semaphore (Python's
/// `multiprocessing.Semaphore`). Lives in shared memory (see the
/// [module docs](super)).
///
/// A semaphore has no owner: any process may release, and a process that
/// dies holding units does not give them back (as in Python and POSIX).
///
/// Layout: two `u32` (8 bytes, alignment 4) on every target.
#[repr(C)]
pub struct Semaphore {
    counter: Counter,
}

static_assertions::assert_eq_size!(Semaphore, [u32; 2]);
static_assertions::assert_eq_align!(Semaphore, u32);

#[allow(unsafe_code)]
// SAFETY: repr(C) of two AtomicU32: no pointers, no drop glue, every bit
// pattern valid; all mutation is atomic.
unsafe impl Shareable for Semaphore {}

impl Semaphore {
    /// A semaphore with `value` free units (Python's `Semaphore(value)`).
    pub const fn new(value: u32) -> Semaphore {
        Semaphore {
            counter: Counter::new(value),
        }
    }

    /// Gives back one unit and wakes a waiter (Python's `release()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] if the count would pass `u32::MAX`.
    pub fn release(&self) -> Result<()> {
        self.release_n(1)
    }

    /// Gives back `n` units (Python 3.9's `release(n)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] if the count would pass `u32::MAX`;
    /// nothing is added then.
    pub fn release_n(&self, n: u32) -> Result<()> {
        self.counter
            .up(n, u32::MAX, "Semaphore::release", "Semaphore")
    }
}

semaphore_common!(Semaphore, SemaphoreGuard);

/// A semaphore that refuses to be released above its initial value
/// (Python's `multiprocessing.BoundedSemaphore`, whose over-release raises
/// `ValueError`). Lives in shared memory (see the [module docs](super)).
///
/// Layout: three `u32` (12 bytes, alignment 4) on every target.
#[repr(C)]
pub struct BoundedSemaphore {
    counter: Counter,
    max: u32,
}

static_assertions::assert_eq_size!(BoundedSemaphore, [u32; 3]);
static_assertions::assert_eq_align!(BoundedSemaphore, u32);

#[allow(unsafe_code)]
// SAFETY: repr(C) of two AtomicU32 and a u32 set once at construction: no
// pointers, no drop glue, every bit pattern valid.
unsafe impl Shareable for BoundedSemaphore {}

impl BoundedSemaphore {
    /// A semaphore with `value` free units, never more.
    pub const fn new(value: u32) -> BoundedSemaphore {
        BoundedSemaphore {
            counter: Counter::new(value),
            max: value,
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
        self.counter
            .up(1, self.max, "BoundedSemaphore::release", "BoundedSemaphore")
    }

    /// The bound: the initial value.
    pub fn bound(&self) -> u32 {
        self.max
    }
}

semaphore_common!(BoundedSemaphore, BoundedSemaphoreGuard);
