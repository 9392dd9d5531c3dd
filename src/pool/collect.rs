//! Collecting: how a slot's task ended, its results moved out (one by
//! one or in bulk), callbacks run, and slots given back.

use std::sync::atomic::Ordering;

use super::ring;
use super::{Ended, PanicMessage, Pool, TaskError};
use crate::error::{Error, ErrorKind, Resource};
use crate::sys::task::{Mask, Outcome, TakeFn};

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    // ----------------------------------------------------------- collecting

    /// How slot `s`'s task ended.
    pub(crate) fn ended(&self, s: usize) -> Ended {
        let l = &self.local[s];
        if let Some(kind) = l.failure.get() {
            return Ended::Failed(kind);
        }
        let slot = self.ring.slot(s);
        // SYNC POINT: Acquire pairs with the worker's commit (or the
        // parent's own DIED store): the results are visible.
        let st = slot.state.load(Ordering::Acquire);
        if ring::seq(st) != l.seq.get() & ((1 << 40) - 1) {
            return Ended::Running;
        }
        match ring::kind(st) {
            ring::DONE => {
                self.peer_cpu
                    .set(u32::from(slot.worker_cpu.load(Ordering::Relaxed)));
                Ended::Done {
                    failed: if slot.failures.load(Ordering::Relaxed) == 0 {
                        Mask::default()
                    } else {
                        self.ring.faults(s).load_failed()
                    },
                }
            }
            ring::DIED => Ended::Failed(ErrorKind::WorkerDied {
                pid: self.ring.faults(s).died_pid.load(Ordering::Relaxed),
                exitcode: self.ring.faults(s).died_code.load(Ordering::Relaxed),
            }),
            ring::TIMED_OUT => Ended::Failed(ErrorKind::TaskTimedOut {
                pid: self.ring.faults(s).died_pid.load(Ordering::Relaxed),
                timeout_ms: self
                    .task_timeout
                    .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            }),
            _ => Ended::Running,
        }
    }

    /// The error of item `index` of slot `s`, which ended and failed.
    pub(crate) fn item_error(&self, op: &'static str, s: usize, kind: ErrorKind) -> TaskError {
        let l = &self.local[s];
        let error = Error::new(op, Resource::Task(l.seq.get()), kind);
        let message = if kind == ErrorKind::Panicked {
            let faults = self.ring.faults(s);
            let bytes = faults.message.load();
            let len = (faults.message_len.load(Ordering::Relaxed) as usize).min(bytes.len());
            PanicMessage::from_bytes(&bytes[..len])
        } else {
            PanicMessage::default()
        };
        TaskError::new(error, message)
    }

    /// The error of item `index` of slot `s`, which ended and whose
    /// worker marked the item failed: a panic, or for an encoded chunk
    /// what its bytes say (a result too big for the slot…).
    pub(crate) fn failed_item(&self, op: &'static str, s: usize, index: usize) -> TaskError {
        #[cfg(feature = "serde")]
        if self.local[s].value.get() {
            return self.item_error(op, s, self.value_failure(s, index));
        }
        let _ = index;
        self.item_error(op, s, ErrorKind::Panicked)
    }

    /// Item `index` of slot `s` (ended): its result, moved out, or its
    /// error. `take` is `sys::task::take_ok` for the slot's types (or the
    /// serde route's decoder).
    pub(crate) fn take<R>(
        &self,
        op: &'static str,
        s: usize,
        index: usize,
        take: TakeFn<R>,
    ) -> core::result::Result<R, TaskError> {
        let l = &self.local[s];
        match self.ended(s) {
            Ended::Running => Err(TaskError::new(
                Error::new(op, Resource::Task(l.seq.get()), ErrorKind::NotReady),
                PanicMessage::default(),
            )),
            Ended::Failed(kind) => Err(self.item_error(op, s, kind)),
            Ended::Done { failed } if failed.has(index) => Err(self.failed_item(op, s, index)),
            Ended::Done { .. } => {
                let mut untaken = l.untaken.get();
                if !untaken.has(index) {
                    return Err(TaskError::new(
                        Error::new(
                            op,
                            Resource::Task(l.seq.get()),
                            ErrorKind::InvalidArgument("the result was taken already"),
                        ),
                        PanicMessage::default(),
                    ));
                }
                untaken.clear(index);
                l.untaken.set(untaken);
                // SAFETY: the slot ended DONE (Acquire in `ended`), so the
                // payload is ours and holds the worker's results; item
                // `index` did not fail and was not taken (its bit was set,
                // now cleared); `take` is `take_result` for the types the
                // slot was submitted with (the caller's handle recorded it).
                #[allow(unsafe_code)]
                let taken =
                    unsafe { take(self.ring.payload(s), self.task_bytes(), index, &l.cursor) };
                taken.map_err(|kind| self.item_error(op, s, kind))
            }
        }
    }

    /// Hands every untaken item of slot `s` (ended) to `sink` with its
    /// index in the chunk, in order — results moved out, failures as
    /// errors — then frees the slot. The bulk path of the map family.
    pub(crate) fn drain_results<R>(
        &self,
        op: &'static str,
        s: usize,
        take: TakeFn<R>,
        mut sink: impl FnMut(usize, core::result::Result<R, TaskError>),
    ) {
        let l = &self.local[s];
        let count = l.count.get();
        let untaken = l.untaken.get();
        match self.ended(s) {
            Ended::Running => return,
            Ended::Failed(kind) => {
                let e = self.item_error(op, s, kind);
                l.untaken.set(Mask::default());
                for i in (0..count).filter(|&i| untaken.has(i)) {
                    sink(i, Err(e));
                }
            }
            Ended::Done { failed } => {
                let payload = self.ring.payload(s);
                l.untaken.set(Mask::default());
                for i in (0..count).filter(|&i| untaken.has(i)) {
                    if failed.has(i) {
                        sink(i, Err(self.failed_item(op, s, i)));
                    } else {
                        // SAFETY: as in `take`: DONE, so the payload is
                        // ours; item `i` did not fail and was not taken
                        // (its bit was set; all bits are now cleared, so
                        // `free_slot` drops none of these); `take` is
                        // `take_result` for the slot's types.
                        #[allow(unsafe_code)]
                        let taken = unsafe { take(payload, self.task_bytes(), i, &l.cursor) };
                        sink(i, taken.map_err(|kind| self.item_error(op, s, kind)));
                    }
                }
            }
        }
        self.free_slot(s);
    }

    /// Gives slot `s` back: its untaken results are dropped.
    pub(crate) fn free_slot(&self, s: usize) {
        let l = &self.local[s];
        if !l.busy.get() {
            return;
        }
        if let Ended::Done { failed } = self.ended(s)
            && let Some(drop_results) = l.drop_results.get()
        {
            // SAFETY: DONE, so the payload is ours and holds results of
            // the types `drop_results` was made for; only untaken,
            // non-failed ones are dropped.
            #[allow(unsafe_code)]
            unsafe {
                drop_results(
                    self.ring.payload(s),
                    self.task_bytes(),
                    l.count.get(),
                    failed,
                    l.untaken.get(),
                )
            };
        }
        // Counted in `unattended` (see `submit`) until now.
        if !l.held.get() || l.callbacks.borrow().is_some() {
            self.unattended.set(self.unattended.get().saturating_sub(1));
        }
        // A callback never run is dropped here.
        drop(l.callbacks.borrow_mut().take());
        l.busy.set(false);
        l.held.set(false);
        l.untaken.set(Mask::default());
        l.drop_results.set(None);
        self.free.borrow_mut().push(s as u16);
        self.sync_watch();
    }

    /// A handle lets go of slot `s`: freed now if it ended, else when it
    /// does.
    pub(crate) fn release(&self, s: usize) {
        let l = &self.local[s];
        if !l.busy.get() || !l.held.get() {
            return;
        }
        let running = matches!(self.ended(s), Ended::Running);
        let has_callbacks = l.callbacks.borrow().is_some();
        if running || has_callbacks {
            l.held.set(false);
            if !has_callbacks {
                self.unattended.set(self.unattended.get() + 1);
            }
            if !running {
                self.service();
            }
        } else {
            self.free_slot(s);
        }
    }

    /// Runs the callbacks of ended tasks and frees ended slots nobody
    /// holds.
    pub(super) fn service(&self) {
        if self.unattended.get() == 0 {
            return;
        }
        for s in 0..self.slots() {
            let l = &self.local[s];
            if !l.busy.get() || (l.held.get() && l.callbacks.borrow().is_none()) {
                continue;
            }
            let ended = self.ended(s);
            if matches!(ended, Ended::Running) {
                continue;
            }
            let callbacks = l.callbacks.borrow_mut().take();
            if let Some(callbacks) = callbacks {
                if l.held.get() {
                    // Attended from now on: its handle collects it.
                    self.unattended.set(self.unattended.get().saturating_sub(1));
                }
                match ended {
                    Ended::Done { failed } if !failed.has(0) => {
                        // SAFETY: DONE, so the payload is ours and holds
                        // the result the callbacks were made for (item 0:
                        // callbacks go with single tasks), not taken yet
                        // (a handle takes it only after the callback ran,
                        // and this runs before any other parent code
                        // touches the slot).
                        #[allow(unsafe_code)]
                        unsafe {
                            callbacks.run(Outcome::Done {
                                payload: self.ring.payload(s),
                                bytes: self.task_bytes(),
                                index: 0,
                                task: l.seq.get(),
                            })
                        }
                    }
                    Ended::Done { .. } => {
                        let e = self.failed_item("Pool::apply_async", s, 0);
                        // SAFETY: a failure outcome touches no payload.
                        #[allow(unsafe_code)]
                        unsafe {
                            callbacks.run(Outcome::Failed(&e))
                        }
                    }
                    Ended::Failed(kind) => {
                        let e = self.item_error("Pool::apply_async", s, kind);
                        // SAFETY: as above.
                        #[allow(unsafe_code)]
                        unsafe {
                            callbacks.run(Outcome::Failed(&e))
                        }
                    }
                    Ended::Running => {}
                }
            }
            // The callback may have submitted, freed or released slots;
            // look at this one afresh.
            if l.busy.get() && !l.held.get() && l.callbacks.borrow().is_none() {
                self.free_slot(s);
            }
        }
    }
}
