//! The workers' board: one slot per worker in an anonymous shared
//! mapping made before the first fork, written by the worker, read by
//! the master (and its watchdog).
//!
//! # The slot's words
//!
//! | word | written by | values |
//! |---|---|---|
//! | `pid` | the master, before the fork and again after it | 0: free; else the worker's pid |
//! | `state` | the master (`Starting`, before the fork), then the worker | see [`WorkerState`] |
//! | `since_ns` | the worker | 0: no connection; else when the current one was accepted (`CLOCK_MONOTONIC`, the same clock in every process) |
//! | `served` | the worker | connections it has finished |
//! | `beat_ns` | a worker that serves many connections at once (an async worker) | 0: it does not beat (a sync worker); else when its event loop last ticked (`CLOCK_MONOTONIC`) |
//! | `open` | the same | connections open now (a sync worker leaves it 0: `since_ns` says) |
//!
//! Every word is its own atomic; the master reads each whole but not all
//! of them at one instant. The connection timeout is decided on
//! `since_ns` and `beat_ns` alone (Acquire, partners of the worker's
//! Release stores), so a torn view of `state` cannot make the master
//! kill an idle worker.
//!
//! # Two kinds of worker, one timeout
//!
//! A sync worker serves one connection at a time: the master's
//! connection timeout is measured on it (`since_ns`). A worker that
//! serves many at once cuts each one past the timeout itself, and beats
//! (`beat_ns`) from its event loop: an event loop that stops beating
//! for longer than the timeout is wedged (a handler blocks the thread),
//! every connection in it is past its time, and the master treats the
//! worker as one that overran (killed and replaced, or unhealthy).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::process::Pid;
use crate::shm::Shareable;

/// The most workers a [`Server`](super::Server) runs at once (its
/// [`workers`](super::Builder::workers) count). During a graceful
/// replacement (`HUP`) the old and the new ones both live: twice this.
pub const MAX_WORKERS: usize = 31;

/// Slots on the board: room for the old and the new workers of a
/// replacement.
pub(crate) const SLOTS: usize = 2 * MAX_WORKERS;

/// What a worker is doing, as its slot says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Forked, setting up (not yet waiting for connections).
    Starting,
    /// Waiting for a connection on the listeners.
    Accepting,
    /// Serving one connection (a sync worker serves one at a time), or
    /// at least one (an async worker, which may still accept more).
    Serving,
    /// Told to stop: takes no new connection and exits.
    Stopping,
}

impl WorkerState {
    fn code(self) -> u32 {
        match self {
            WorkerState::Starting => 0,
            WorkerState::Accepting => 1,
            WorkerState::Serving => 2,
            WorkerState::Stopping => 3,
        }
    }

    fn from_code(code: u32) -> WorkerState {
        match code {
            0 => WorkerState::Starting,
            1 => WorkerState::Accepting,
            2 => WorkerState::Serving,
            _ => WorkerState::Stopping,
        }
    }

    /// Its lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            WorkerState::Starting => "starting",
            WorkerState::Accepting => "accepting",
            WorkerState::Serving => "serving",
            WorkerState::Stopping => "stopping",
        }
    }
}

/// One worker's slot (see the module docs for its words).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Slot {
    pid: AtomicU32,
    state: AtomicU32,
    since_ns: AtomicU64,
    served: AtomicU64,
    beat_ns: AtomicU64,
    open: AtomicU32,
    _pad: u32,
}

/// Every slot.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Board {
    pub(crate) slots: [Slot; SLOTS],
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of fixed-width atomics: no pointers, no drop glue,
// every bit pattern valid (an unknown state code reads as `Stopping`).
unsafe impl Shareable for Slot {
    fn type_identity() -> &'static str {
        "mproc::server::Slot v2"
    }
}

#[allow(unsafe_code)]
// SAFETY: repr(C) array of `Slot`s (Shareable, above).
unsafe impl Shareable for Board {
    fn type_identity() -> &'static str {
        "mproc::server::Board v2"
    }
}

static_assertions::const_assert_eq!(core::mem::size_of::<Slot>(), 40);
static_assertions::const_assert_eq!(core::mem::align_of::<Slot>(), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(Slot, since_ns), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(Slot, beat_ns), 24);

impl Slot {
    /// The master, before forking into this slot.
    pub(crate) fn reset(&self) {
        self.pid.store(0, Ordering::Relaxed);
        self.since_ns.store(0, Ordering::Relaxed);
        self.served.store(0, Ordering::Relaxed);
        self.beat_ns.store(0, Ordering::Relaxed);
        self.open.store(0, Ordering::Relaxed);
        self.state
            .store(WorkerState::Starting.code(), Ordering::Release);
    }

    pub(crate) fn set_pid(&self, pid: Pid) {
        self.pid.store(pid.as_raw() as u32, Ordering::Relaxed);
    }

    pub(crate) fn clear(&self) {
        self.pid.store(0, Ordering::Relaxed);
        self.since_ns.store(0, Ordering::Relaxed);
        self.beat_ns.store(0, Ordering::Relaxed);
        self.open.store(0, Ordering::Relaxed);
    }

    pub(crate) fn state(&self) -> WorkerState {
        WorkerState::from_code(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, state: WorkerState) {
        self.state.store(state.code(), Ordering::Release);
    }

    /// The worker, right after `accept`: the connection's clock starts.
    pub(crate) fn begin(&self) {
        // Never 0, which means "no connection".
        self.since_ns
            .store(crate::sys::monotonic_ns().max(1), Ordering::Release);
        self.set_state(WorkerState::Serving);
    }

    /// The worker, once the connection is closed.
    pub(crate) fn end(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.since_ns.store(0, Ordering::Release);
        self.set_state(WorkerState::Accepting);
    }

    /// When the current connection was accepted (monotonic ns), if any.
    pub(crate) fn since_ns(&self) -> Option<u64> {
        match self.since_ns.load(Ordering::Acquire) {
            0 => None,
            t => Some(t),
        }
    }

    /// How long the current connection has been served, if one is.
    pub(crate) fn connection_age(&self, now_ns: u64) -> Option<Duration> {
        self.since_ns()
            .map(|t| Duration::from_nanos(now_ns.saturating_sub(t)))
    }

    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// The worker's event loop ticked now.
    pub(crate) fn beat(&self) {
        self.beat_ns
            .store(crate::sys::monotonic_ns().max(1), Ordering::Release);
    }

    /// How long since the worker's event loop last ticked, if it beats.
    pub(crate) fn beat_age(&self, now_ns: u64) -> Option<Duration> {
        match self.beat_ns.load(Ordering::Acquire) {
            0 => None,
            t => Some(Duration::from_nanos(now_ns.saturating_sub(t))),
        }
    }

    /// Whether the worker is past `limit`: its one connection has been
    /// served longer (a sync worker), or its event loop has not ticked
    /// for longer (a worker that beats).
    pub(crate) fn overrun(&self, now_ns: u64, limit: Duration) -> bool {
        self.connection_age(now_ns).is_some_and(|age| age > limit)
            || self.beat_age(now_ns).is_some_and(|age| age > limit)
    }

    /// A worker serving many connections accepted one: `Serving` while
    /// any is open (unless it is stopping).
    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        if self.state() != WorkerState::Stopping {
            self.set_state(WorkerState::Serving);
        }
    }

    /// A worker serving many connections finished one: `Accepting` once
    /// none is open (unless it is stopping).
    pub(crate) fn closed(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        let was = self.open.fetch_sub(1, Ordering::Relaxed);
        if was <= 1 && self.state() != WorkerState::Stopping {
            self.set_state(WorkerState::Accepting);
        }
    }

    /// Connections open now in a worker that serves many.
    pub(crate) fn open(&self) -> u32 {
        self.open.load(Ordering::Relaxed)
    }
}

/// One worker as the master sees it ([`Server::workers`](super::Server::workers)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Its pid.
    pub pid: Pid,
    /// What its slot says it does.
    pub state: WorkerState,
    /// How long its current connection has been served, if it serves one.
    pub connection_age: Option<Duration>,
    /// Connections it has finished.
    pub served: u64,
    /// Its generation: 0 for the first workers, one more after each
    /// replacement (`HUP`).
    pub generation: u64,
    /// Whether the master told it to stop (it finishes its connection).
    pub stopping: bool,
    /// Connections open now, in a worker that serves many at once (an
    /// async worker); 0 for a sync worker (see `connection_age`).
    pub open: u32,
    /// How long since its event loop last ticked, in a worker that beats
    /// (an async worker); `None` for a sync worker.
    pub beat_age: Option<Duration>,
}
