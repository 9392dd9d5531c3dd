//! Submitting: a free slot for a task, its arguments moved in and its
//! entry sealed and queued; and the `apply`/`apply_async` family on top.

use std::sync::atomic::Ordering;

use super::ring::{self, Ring};
use super::{AsyncResult, DropResults, Ended, Phase, Pool, TaskData, TaskError, map};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::task::{self as erased, Callbacks, Mask};

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    // ------------------------------------------------------------ submitting

    /// A free slot for a new task, waiting for an unattended one to end
    /// if every slot is busy.
    pub(super) fn take_slot(&self, op: &'static str) -> Result<usize> {
        loop {
            self.check_running(op)?;
            if let Some(s) = self.free.borrow_mut().pop() {
                return Ok(usize::from(s));
            }
            if self.unattended.get() == 0 {
                // Every slot waits for a handle the caller holds: waiting
                // would never end.
                return Err(self.slots_exceeded(op));
            }
            // `wait_until` runs `service` once this holds: it frees the
            // slot, or runs its callbacks (then the slot waits for its
            // handle, and the next turn may find none unattended).
            self.wait_until(None, |p| {
                !p.free.borrow().is_empty() || p.unattended_ended()
            })?;
        }
    }

    /// Whether a slot `service` would act on has ended (a worker's commit
    /// alone makes this true, as a parked wait needs).
    pub(super) fn unattended_ended(&self) -> bool {
        self.local.iter().enumerate().any(|(s, l)| {
            l.busy.get()
                && (!l.held.get() || l.callbacks.borrow().is_some())
                && !matches!(self.ended(s), Ended::Running)
        })
    }

    pub(super) fn check_running(&self, op: &'static str) -> Result<()> {
        self.check_owner(op)?;
        if let Some(kind) = self.broken.get() {
            return Err(Error::new(op, self.resource(), kind));
        }
        if self.phase.get() != Phase::Running {
            return Err(Error::new(op, self.resource(), ErrorKind::PoolNotRunning));
        }
        Ok(())
    }

    /// Takes a free slot, moves up to `max` items of `items` into it (as
    /// they come: nothing is taken from the iterator before a slot is
    /// there for it) and queues them as a chunk of tasks `C`. Returns the
    /// slot and the item count, or `None` (the slot given back) when
    /// `items` had none.
    pub(super) fn submit<C, A, R>(
        &self,
        op: &'static str,
        task: C,
        items: &mut impl Iterator<Item = A>,
        max: usize,
        held: bool,
        callbacks: Option<Callbacks<TaskError>>,
    ) -> Result<Option<(usize, usize)>>
    where
        C: erased::Call<A, R>,
        A: TaskData,
        R: TaskData,
    {
        let bytes = self.task_bytes();
        let capacity = erased::chunk_capacity::<A, R>(bytes);
        if capacity == 0 {
            return Err(self.bytes_exceeded(op));
        }
        let entry = erased::entry_of::<C, A, R>(task);
        let s = self.take_slot(op)?;
        let payload = self.ring.payload(s);
        let mut count = 0;
        for item in items.take(max.min(capacity)) {
            // SAFETY: the slot is FREE (it came off the free list), so its
            // payload is ours; `count` stays below the capacity.
            #[allow(unsafe_code)]
            unsafe {
                erased::put_arg::<A, R>(payload, bytes, count, item)
            };
            count += 1;
        }
        if count == 0 {
            self.free.borrow_mut().push(s as u16);
            return Ok(None);
        }
        let drop_results = erased::drop_results::<A, R> as DropResults;
        self.queue(s, entry, count, held, callbacks, Some(drop_results));
        Ok(Some((s, count)))
    }

    /// Queues slot `s` (taken by `take_slot`, its `count` arguments in
    /// place) as a chunk for the task `entry`; `drop_results` drops its
    /// untaken results. `None` marks an encoded chunk (the serde route,
    /// `value.rs`): its results are bytes, and its failed items say why
    /// in them.
    pub(super) fn queue(
        &self,
        s: usize,
        entry: u64,
        count: usize,
        held: bool,
        callbacks: Option<Callbacks<TaskError>>,
        drop_results: Option<DropResults>,
    ) {
        let ring: &Ring = &self.ring;
        let slot = ring.slot(s);
        let slots = ring.slot_count() as u64;
        let t = self.next_seq.get();
        // The order ring has `slots` entries; a claimed submission whose
        // worker died before advancing `head` is skipped here. `head` is
        // read only when the last value seen would not do (it lives on a
        // line the workers write).
        while t - self.head_seen.get() >= slots {
            let h = ring.head.0.load(Ordering::Acquire);
            self.head_seen.set(h);
            if t - h < slots {
                break;
            }
            ring.help_head();
        }
        slot.entry.store(entry, Ordering::Relaxed);
        slot.check
            .store(ring::seal(entry, t, self.key), Ordering::Relaxed);
        // At most CHUNK_MAX (both callers), which fits 16 bits.
        slot.count
            .store(count.min(erased::CHUNK_MAX) as u16, Ordering::Relaxed);
        slot.parent_cpu.store(ring::cpu_hint(), Ordering::Relaxed);
        let l = &self.local[s];
        l.busy.set(true);
        l.held.set(held);
        l.seq.set(t);
        l.end_seen.set(false);
        l.count.set(count);
        l.untaken.set(Mask::first(count));
        l.failure.set(None);
        l.drop_results.set(drop_results);
        l.value.set(drop_results.is_none());
        l.cursor.set((0, 0));
        let attended = held && callbacks.is_none();
        *l.callbacks.borrow_mut() = callbacks;
        if !attended {
            self.unattended.set(self.unattended.get() + 1);
        }
        // SYNC POINT: Release pairs with the claiming worker's Acquire CAS:
        // the arguments, entry and count are visible to it.
        slot.state
            .store(ring::state(t, ring::QUEUED, 0), Ordering::Release);
        ring.order(t).store(s as u32, Ordering::Release);
        self.next_seq.set(t + 1);
        // SYNC POINT: SeqCst, then the loads of `spinning` and `parked`
        // in `wake_worker`
        // (see `Ring::park`).
        ring.publish(t, s);
        ring.wake_worker(self.outstanding());
    }

    // ------------------------------------------------------------ operations

    /// Runs `f(arg)` in a worker and waits for the result (Python's
    /// `apply(f, (arg,))`).
    ///
    /// # Errors
    ///
    /// The task's failure ([`ErrorKind::Panicked`],
    /// [`ErrorKind::WorkerDied`], [`ErrorKind::Terminated`]); as
    /// [`Pool::apply_async`] for the submission.
    pub fn apply<F, A, R>(&self, f: F, arg: A) -> core::result::Result<R, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Queues `f(arg)` for a worker and returns at once (Python's
    /// `apply_async(f, (arg,))`). Allocation-free.
    ///
    /// At most `SLOTS` tasks can be outstanding (submitted, with their
    /// [`AsyncResult`] not yet collected or dropped). When every slot is
    /// taken by a task whose handle is dropped or which has callbacks, this
    /// waits for one to end; when every slot waits for a handle the caller
    /// holds, waiting could never end, and this fails instead.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PoolNotRunning`] after [`Pool::close`] or
    /// [`Pool::terminate`]; [`ErrorKind::CapacityExceeded`] naming
    /// `MPROC_POOL_SLOTS` (see above) or `MPROC_POOL_TASK_BYTES` (the
    /// argument or the result does not fit a slot); nothing is queued then.
    pub fn apply_async<F, A, R>(&self, f: F, arg: A) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
    {
        self.submit_one(f, arg, None)
    }

    /// [`Pool::apply_async`] with Python's `callback` and `error_callback`:
    /// exactly one of them runs, once, in this process, when the pool next
    /// acts after the task ended (see the [module docs](crate::pool#callbacks-and-when-the-pool-does-its-work)):
    /// `callback` with a reference to the result (which the
    /// [`AsyncResult`] can still [`get`](AsyncResult::get)), or
    /// `error_callback` with the error. A pool that is terminated or
    /// dropped runs the pending `error_callback`s with
    /// [`ErrorKind::Terminated`].
    ///
    /// The two closures may capture at most 48 bytes together, aligned to
    /// at most 8 (checked at compile time; they are kept inline, not
    /// boxed); share bigger state through one `Rc`.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async`].
    pub fn apply_async_with<F, A, R, C, E>(
        &self,
        f: F,
        arg: A,
        callback: C,
        error_callback: E,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        C: FnOnce(&R) + 'static,
        E: FnOnce(&TaskError) + 'static,
    {
        let callbacks = Callbacks::new::<A, R, C, E>(callback, error_callback);
        self.submit_one(f, arg, Some(callbacks))
    }

    pub(super) fn submit_one<F, A, R>(
        &self,
        f: F,
        arg: A,
        callbacks: Option<Callbacks<TaskError>>,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
    {
        let op = "Pool::apply_async";
        let mut arg = core::iter::once(arg);
        match self.submit::<map::Direct<F>, A, R>(
            op,
            map::Direct(f),
            &mut arg,
            1,
            true,
            callbacks,
        )? {
            Some((s, _)) => Ok(AsyncResult::new(self, s, erased::take_ok::<A, R>)),
            // Cannot happen: the iterator holds one item.
            None => Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("no argument"),
            )),
        }
    }
}
