//! The two locks of a shared-memory queue with two ends (the fixed
//! [`Queue`](super::Queue) and the [`RecordQueue`](super::RecordQueue)):
//! putters take the back's, getters the front's, so a putter and a getter
//! never wait for each other; a call takes both (always the back's first)
//! while the queue is watched, so that its eventfds follow the exact
//! state, or when it needs the exact state for another reason.

use std::sync::atomic::AtomicU32;

use crate::sync::{Lock, LockGuard};

/// An end's lock, on a cache line of its own (the other side's looks at
/// the end's state do not take it from its holder).
#[repr(C, align(64))]
pub(crate) struct EndLock {
    pub(crate) lock: Lock,
    _spare: [AtomicU32; 6],
}

static_assertions::assert_eq_size!(EndLock, [u64; 8]);

/// The locks a call holds: the front's, the back's, or both (released in
/// that order, the reverse of the order they are taken in).
pub(crate) struct Locked<'a> {
    pub(crate) front: Option<LockGuard<'a>>,
    pub(crate) back: Option<LockGuard<'a>>,
}

impl Locked<'_> {
    /// Whether both locks are held (the state is exact).
    pub(crate) fn both(&self) -> bool {
        self.front.is_some() && self.back.is_some()
    }
}

/// A queue's two locks, and what its calls need to know to take them.
pub(crate) struct Ends<'a, W: Fn() -> bool, S: Fn()> {
    pub(crate) back: &'a Lock,
    pub(crate) front: &'a Lock,
    /// Whether some eventfd of the queue is watched (watchers change only
    /// under both locks, so one is enough to read them).
    pub(crate) watched: W,
    /// Brings the eventfds in line with the exact state (both held) after
    /// a holder died: it may have committed without raising or lowering
    /// them.
    pub(crate) resync: S,
}

/// Takes `lock`, over (silently) from a holder that died: the state each
/// end commits is always consistent, so there is nothing to repair. Sets
/// `died` then.
pub(crate) fn take<'a>(lock: &'a Lock, died: &mut bool) -> LockGuard<'a> {
    match lock.lock() {
        Ok(guard) => guard,
        Err(dead) => {
            *died = true;
            let guard = dead.into_guard();
            guard.mark_consistent();
            guard
        }
    }
}

impl<'a, W: Fn() -> bool, S: Fn()> Ends<'a, W, S> {
    /// Both locks, the back's first (the one order every taker of both
    /// follows).
    pub(crate) fn both(&self, mut died: bool) -> Locked<'a> {
        let back = take(self.back, &mut died);
        self.and_front(back, died)
    }

    /// The front's lock too, the back's held: both, the eventfds brought
    /// in line if a holder of either had died.
    pub(crate) fn and_front(&self, back: LockGuard<'a>, mut died: bool) -> Locked<'a> {
        let front = take(self.front, &mut died);
        if died {
            (self.resync)();
        }
        Locked {
            front: Some(front),
            back: Some(back),
        }
    }

    /// The back's lock, for a put; both while the queue is watched.
    pub(crate) fn back(&self) -> Locked<'a> {
        let mut died = false;
        let back = take(self.back, &mut died);
        if !(self.watched)() {
            return Locked {
                front: None,
                back: Some(back),
            };
        }
        self.and_front(back, died)
    }

    /// The front's lock, for a get or a `task_done`; both while the queue
    /// is watched.
    pub(crate) fn front(&self) -> Locked<'a> {
        let mut died = false;
        let front = take(self.front, &mut died);
        if !(self.watched)() {
            return Locked {
                front: Some(front),
                back: None,
            };
        }
        // Both, in order: let go of the front first.
        drop(front);
        self.both(died)
    }
}
