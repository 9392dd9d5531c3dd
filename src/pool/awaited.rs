//! The pool's side of awaited results (feature `tokio`, see `aio::pool`):
//! per slot, the waker of the task awaiting it, so that one wake-up of the
//! pool's watch wakes only the tasks whose results ended.

use std::cell::RefCell;
use std::task::Waker;

use super::{Ended, Pool};

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// Records `waker` as the one awaiting slot `s`.
    pub(crate) fn set_waker(&self, s: usize, waker: &Waker) {
        let mut slot = self.local[s].waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Whether a waker is recorded for slot `s`.
    pub(crate) fn has_waker(&self, s: usize) -> bool {
        self.local[s].waker.borrow().is_some()
    }

    /// Forgets slot `s`'s waker.
    pub(crate) fn clear_waker(&self, s: usize) {
        self.local[s].waker.borrow_mut().take();
    }

    /// Wakes (and forgets) the waker of every slot whose task ended.
    pub(crate) fn wake_ended(&self) {
        for s in 0..self.slots() {
            let ended =
                self.local[s].waker.borrow().is_some() && !matches!(self.ended(s), Ended::Running);
            if ended && let Some(w) = self.local[s].waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Whether a waker is recorded; with `wake`, wakes one (it takes over
    /// driving the pool's watch).
    pub(crate) fn hand_off(&self, wake: bool) -> bool {
        for s in 0..self.slots() {
            if let Some(w) = &*self.local[s].waker.borrow() {
                if wake {
                    w.wake_by_ref();
                }
                return true;
            }
        }
        false
    }

    /// The async driver's place.
    pub(crate) fn driver(&self) -> &RefCell<Option<crate::aio::Driver>> {
        &self.driver
    }
}
