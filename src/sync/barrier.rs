//! [`Barrier`]: Python's `multiprocessing.Barrier`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::raw;
use super::{Lock, OwnerDied};
use crate::shm::Shareable;
use crate::sys::futex;

/// Why [`Barrier::wait`] did not pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierError {
    /// The barrier is broken (Python's `BrokenBarrierError`): aborted,
    /// reset while this process waited, or another waiter timed out.
    Broken,
    /// This waiter's own time ran out; the barrier is now broken for all.
    TimedOut,
}

impl std::fmt::Display for BarrierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BarrierError::Broken => "the barrier is broken",
            BarrierError::TimedOut => "timed out at the barrier, which is now broken",
        })
    }
}

impl std::error::Error for BarrierError {}

/// A process-shared barrier for a fixed number of parties (Python's
/// `multiprocessing.Barrier`). Lives in shared memory (see the
/// [module docs](super)).
///
/// Each [`wait`](Barrier::wait) returns an index from 0 to `parties - 1`
/// (the order of arrival), distinct among the parties of one passage. A
/// waiter that times out breaks the barrier (as in Python): every waiter
/// then gets [`BarrierError::Broken`] until [`reset`](Barrier::reset). A
/// party that dies before arriving leaves the others waiting: give the
/// waits a timeout where that can happen. A party that dies after
/// arriving stays counted: its arrival stands, and the others pass when
/// the rest arrive. A party killed inside `wait`'s short critical section
/// leaves the internal lock to the next caller, which takes it over (the
/// state it guards is a few counters, always left consistent).
///
/// State (`count`, `broken`, `broken_generation`) changes under an
/// internal [`Lock`]; waiters park on `generation`, which each passage
/// (and each break) advances.
///
/// Layout: the lock (40 bytes) and six `u32` (64 bytes, alignment 8) on
/// every target.
#[repr(C)]
pub struct Barrier {
    lock: Lock,
    parties: u32,
    /// Arrived in the current generation.
    count: AtomicU32,
    /// The futex word: advanced by each passage and each break.
    generation: AtomicU32,
    /// 1 while broken (new arrivals fail at once).
    broken: AtomicU32,
    /// The generation whose waiters were released by a break.
    broken_generation: AtomicU32,
    /// No padding: the layout is all fields.
    _spare: u32,
}

static_assertions::assert_eq_size!(Barrier, [u64; 8]);
static_assertions::assert_eq_align!(Barrier, u64);

#[allow(unsafe_code)]
// SAFETY: repr(C) of a Lock, a u32 set at construction and AtomicU32s: no
// pointers, no drop glue, every bit pattern valid.
unsafe impl Shareable for Barrier {}

impl Barrier {
    /// A barrier for `parties` processes (at least 1; 0 is taken as 1).
    pub const fn new(parties: u32) -> Barrier {
        Barrier {
            lock: Lock::new(),
            parties: if parties == 0 { 1 } else { parties },
            _spare: 0,
            count: AtomicU32::new(0),
            generation: AtomicU32::new(0),
            broken: AtomicU32::new(0),
            broken_generation: AtomicU32::new(u32::MAX),
        }
    }

    /// The number of parties (Python's `parties`).
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// How many wait in the current passage (Python's `n_waiting`).
    pub fn n_waiting(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether the barrier is broken (Python's `broken`).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire) != 0
    }

    /// Waits until all parties have arrived; this party's arrival index
    /// (Python's `wait()`).
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier is or becomes broken.
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.wait_until(None)
    }

    /// As [`wait`](Barrier::wait), for at most `timeout` (Python's
    /// `wait(timeout)`).
    ///
    /// # Errors
    ///
    /// [`BarrierError::TimedOut`] when the time ran out (the barrier is
    /// then broken); [`BarrierError::Broken`] as for `wait`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.wait_until(raw::deadline(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<u32, BarrierError> {
        let held = self.lock.lock().unwrap_or_else(OwnerDied::into_guard);
        if self.is_broken() {
            return Err(BarrierError::Broken);
        }
        let generation = self.generation.load(Ordering::Relaxed);
        let index = self.count.load(Ordering::Relaxed);
        if index + 1 >= self.parties {
            self.count.store(0, Ordering::Relaxed);
            // SYNC POINT: Release pairs with the waiters' Acquire loads.
            self.generation
                .store(generation.wrapping_add(1), Ordering::Release);
            futex::wake(&self.generation, u32::MAX);
            return Ok(index);
        }
        self.count.store(index + 1, Ordering::Relaxed);
        drop(held);
        loop {
            // SYNC POINT: Acquire pairs with the Release of the passage.
            let now = self.generation.load(Ordering::Acquire);
            if now != generation {
                return if self.broken_generation.load(Ordering::Relaxed) == generation {
                    Err(BarrierError::Broken)
                } else {
                    Ok(index)
                };
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                // Break the barrier unless the passage beat us to it.
                let _held = self.lock.lock().unwrap_or_else(OwnerDied::into_guard);
                if self.generation.load(Ordering::Relaxed) != generation {
                    continue;
                }
                self.break_locked(true);
                return Err(BarrierError::TimedOut);
            }
            futex::wait(&self.generation, generation, left);
        }
    }

    /// Releases the current waiters with `Broken`. Call with the lock held.
    fn break_locked(&self, stay_broken: bool) {
        let generation = self.generation.load(Ordering::Relaxed);
        if self.count.load(Ordering::Relaxed) > 0 {
            self.broken_generation.store(generation, Ordering::Relaxed);
            self.count.store(0, Ordering::Relaxed);
            self.generation
                .store(generation.wrapping_add(1), Ordering::Release);
            futex::wake(&self.generation, u32::MAX);
        }
        self.broken.store(u32::from(stay_broken), Ordering::Release);
    }

    /// Breaks the barrier: current and future waiters get
    /// [`BarrierError::Broken`] until [`reset`](Barrier::reset) (Python's
    /// `abort()`).
    pub fn abort(&self) {
        let _held = self.lock.lock().unwrap_or_else(OwnerDied::into_guard);
        self.break_locked(true);
    }

    /// Returns the barrier to its empty, unbroken state; processes waiting
    /// on it get [`BarrierError::Broken`] (Python's `reset()`).
    pub fn reset(&self) {
        let _held = self.lock.lock().unwrap_or_else(OwnerDied::into_guard);
        self.break_locked(false);
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}
