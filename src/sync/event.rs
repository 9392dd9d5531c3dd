//! [`Event`]: Python's `multiprocessing.Event`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::raw::{self, Backoff};
use crate::shm::Shareable;
use crate::sys::futex::{self, Woke};

/// The flag.
const SET: u32 = 1;
/// Someone may be parked on the word.
const WAITERS: u32 = 2;

/// A process-shared flag that processes wait for (Python's
/// `multiprocessing.Event`): [`set`](Event::set) wakes every waiter,
/// [`clear`](Event::clear) resets it. Lives in shared memory (see the
/// [module docs](super)).
///
/// The word: bit 0 the flag, bit 1 "a waiter may be parked" (`set` wakes
/// only then, so a set without waiters is one atomic swap).
///
/// Layout: one `u32` (4 bytes, alignment 4) on every target.
#[repr(C)]
pub struct Event {
    word: AtomicU32,
}

static_assertions::assert_eq_size!(Event, u32);
static_assertions::assert_eq_align!(Event, u32);

#[allow(unsafe_code)]
// SAFETY: repr(C) of one AtomicU32: no pointers, no drop glue, every bit
// pattern valid; all mutation is atomic.
unsafe impl Shareable for Event {}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl Event {
    /// An event that is not set.
    pub const fn new() -> Event {
        Event {
            word: AtomicU32::new(0),
        }
    }

    /// Whether the flag is set (Python's `is_set()`).
    pub fn is_set(&self) -> bool {
        // SYNC POINT: Acquire pairs with the Release in `set`.
        self.word.load(Ordering::Acquire) & SET != 0
    }

    /// Sets the flag and wakes every waiter (Python's `set()`).
    pub fn set(&self) {
        // SYNC POINT: Release pairs with the Acquire in `is_set`/`wait`.
        let old = self.word.swap(SET, Ordering::Release);
        if old & WAITERS != 0 {
            futex::wake(&self.word, u32::MAX);
        }
    }

    /// Clears the flag (Python's `clear()`).
    pub fn clear(&self) {
        self.word.fetch_and(!SET, Ordering::Relaxed);
    }

    /// Waits until the flag is set (Python's `wait()`).
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout` for the flag; whether it is set (Python's
    /// `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(raw::deadline(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut backoff = Backoff::new();
        while backoff.snooze() {
            if self.is_set() {
                return true;
            }
        }
        loop {
            let seen = self.word.load(Ordering::Acquire);
            if seen & SET != 0 {
                return true;
            }
            if seen & WAITERS == 0
                && self
                    .word
                    .compare_exchange(seen, seen | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return self.is_set();
            }
            if futex::wait(&self.word, seen | WAITERS, left) == Woke::TimedOut
                && deadline.is_some_and(|d| Instant::now() >= d)
            {
                return self.is_set();
            }
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
