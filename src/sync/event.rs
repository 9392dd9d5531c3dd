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
/// One `set`, counted in the bits above the two flags.
const GENERATION: u32 = 4;

/// A process-shared flag that processes wait for (Python's
/// `multiprocessing.Event`): [`set`](Event::set) wakes every waiter,
/// [`clear`](Event::clear) resets it. Lives in shared memory (see the
/// [module docs](super)).
///
/// The word: bit 0 the flag, bit 1 "a waiter may be parked" (`set` wakes
/// only then, so a set without waiters is one atomic operation), and above
/// them a count of the `set`s. A waiter returns once that count moves,
/// even if the flag was cleared again before it ran (as Python's `wait`
/// returns after a `set`, with the flag as it then is).
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

    /// The count of `set`s so far (wrapping): a waiter returns once it
    /// moves (see the layout above).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn sets(&self) -> u32 {
        self.word.load(Ordering::Acquire) & !(SET | WAITERS)
    }

    /// Whether the flag is set (Python's `is_set()`).
    pub fn is_set(&self) -> bool {
        // SYNC POINT: Acquire pairs with the Release in `set`.
        self.word.load(Ordering::Acquire) & SET != 0
    }

    /// Sets the flag and wakes every waiter (Python's `set()`).
    pub fn set(&self) {
        // SYNC POINT: Release pairs with the Acquire in `is_set`/`wait`.
        let mut old = self.word.load(Ordering::Relaxed);
        loop {
            // Count this set (a waiter returns on seeing the count move) and
            // drop the waiters bit (they are all woken below).
            let new = (old & !(SET | WAITERS)).wrapping_add(GENERATION) | SET;
            match self
                .word
                .compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
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
        // SYNC POINT: Acquire pairs with the Release in `set`.
        let first = self.word.load(Ordering::Acquire);
        if first & SET != 0 {
            return true;
        }
        let start = first & !(SET | WAITERS);
        let mut backoff = Backoff::new();
        while backoff.snooze() {
            let now = self.word.load(Ordering::Acquire);
            if now & SET != 0 {
                return true;
            }
            if now & !(SET | WAITERS) != start {
                return false;
            }
        }
        loop {
            let seen = self.word.load(Ordering::Acquire);
            if seen & SET != 0 {
                return true;
            }
            if seen & !(SET | WAITERS) != start {
                // A set came and went while this waiter was parked.
                return false;
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
