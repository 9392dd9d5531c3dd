//! The map family: [`Pool::map`], [`Pool::map_into`], [`Pool::map_async`],
//! [`Pool::imap`], [`Pool::imap_unordered`], [`Pool::starmap`].
//!
//! One engine, [`Imap`], feeds chunks of items into free slots (keeping
//! up to four chunks per worker in flight) and takes results back out;
//! the other forms drive it.

use core::marker::PhantomData;
use std::time::Instant;

pub use super::route::{Direct, Route, Star, StarFn};
use super::{Ended, Pool, TaskData, TaskError};
pub use crate::sys::task::Call;

/// One chunk in flight: its slot, the index of its first item, its item
/// count, and how many of its results were handed out.
#[derive(Clone, Copy)]
struct Chunk {
    slot: u16,
    first: usize,
    count: u16,
    yielded: u16,
}

/// One step of an [`Imap`] that may not wait. (Its item carries a
/// `TaskError` inline, as every result of the pool does: failing
/// allocates nothing.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Step<R> {
    /// A result and its input index.
    Item(usize, Result<R, TaskError>),
    /// Its next result's task runs on.
    NotYet,
    /// No result is left.
    End,
}

/// The iterator of [`Pool::imap`] and [`Pool::imap_unordered`]: each item
/// is one task's `Result` (in input order for `imap`, as tasks end for
/// `imap_unordered`). Tasks are submitted as the iteration goes, a few
/// chunks ahead of what it has consumed. Allocation-free.
///
/// Dropping it early lets the chunks in flight run on; their slots are
/// freed (their results dropped) as they end.
pub struct Imap<'p, C, A, R, I, const SLOTS: usize, const BYTES: usize> {
    pool: &'p Pool<SLOTS, BYTES>,
    task: C,
    items: I,
    chunksize: usize,
    ordered: bool,
    inflight: heapless::Deque<Chunk, SLOTS>,
    limit: usize,
    next_index: usize,
    exhausted: bool,
    /// A submission error to hand out once.
    error: Option<TaskError>,
    /// An item taken from `items` that the last chunk had no room for
    /// (the serde route fills chunks by bytes).
    pending: Option<A>,
    _types: PhantomData<fn(A) -> R>,
}

impl<'p, C, A, R, I, const SLOTS: usize, const BYTES: usize> Imap<'p, C, A, R, I, SLOTS, BYTES>
where
    C: Route<A, R>,
    I: Iterator<Item = A>,
{
    pub(crate) fn new(
        pool: &'p Pool<SLOTS, BYTES>,
        task: C,
        items: I,
        chunksize: Option<usize>,
        ordered: bool,
    ) -> Self {
        let capacity = C::chunk_capacity(pool.task_bytes()).max(1);
        let chunksize = match chunksize {
            Some(n) => n,
            None => {
                // Python's rule: about four chunks per worker.
                let len = items.size_hint().0;
                len.div_ceil(pool.processes() * 4)
            }
        };
        Imap {
            pool,
            task,
            items,
            chunksize: chunksize.clamp(1, capacity),
            ordered,
            inflight: heapless::Deque::new(),
            // At most `SLOTS` (the in-flight table's room) even when the
            // ring has more slots.
            limit: (pool.processes() * 4).clamp(1, pool.slots().min(SLOTS)),
            next_index: 0,
            exhausted: false,
            error: None,
            pending: None,
            _types: PhantomData,
        }
    }

    /// Submits chunks while there is room (a free slot, fewer than the
    /// in-flight limit) and items. Takes items off the input only when a
    /// slot is there for them, so nothing is lost to a refusal. With
    /// nothing of its own in flight and every slot busy with tasks whose
    /// handles were dropped, it waits for one of them to end, as
    /// `apply_async` does (without it the map would have no result to wait
    /// for, and would fail as if the caller's handles held every slot).
    fn fill(&mut self, op: &'static str) {
        while !self.exhausted && self.error.is_none() && self.inflight.len() < self.limit {
            if self.pool.free.borrow().is_empty() {
                if !self.inflight.is_empty() || self.pool.unattended.get() == 0 {
                    return;
                }
                let waited = self.pool.wait_until(None, |p| {
                    !p.free.borrow().is_empty() || p.unattended_ended()
                });
                if let Err(e) = waited {
                    self.error = Some(e.into());
                    return;
                }
                continue;
            }
            if let Err(e) = self.pool.check_running(op) {
                self.error = Some(e.into());
                return;
            }
            match self.task.submit_chunk(
                self.pool,
                op,
                &mut self.pending,
                &mut self.items,
                self.chunksize,
            ) {
                Ok(Some((slot, count))) => {
                    // Cannot fail: fewer than `limit` <= SLOTS in flight.
                    let _ = self.inflight.push_back(Chunk {
                        slot: slot as u16,
                        first: self.next_index,
                        count: count as u16,
                        yielded: 0,
                    });
                    self.next_index += count;
                    if count < self.chunksize && self.pending.is_none() {
                        self.exhausted = true;
                    }
                }
                Ok(None) => self.exhausted = true,
                Err(e) => {
                    self.error = Some(e.into());
                    return;
                }
            }
        }
    }

    /// The next result, with its input index.
    fn next_indexed(&mut self) -> Option<(usize, Result<R, TaskError>)> {
        match self.step(true) {
            Step::Item(at, r) => Some((at, r)),
            Step::End | Step::NotYet => None,
        }
    }

    /// The next result if one can be had without waiting for a task (the
    /// async stream's step): [`Step::NotYet`] when the chunk it would
    /// come from runs on. (Topping the pipeline up may still wait, as
    /// `apply_async` does, when every slot is held by tasks whose handles
    /// were dropped.)
    #[cfg(feature = "tokio")]
    pub(crate) fn try_next(&mut self) -> Step<R> {
        self.step(false)
    }

    /// The next result, with its input index; waiting for it if `wait`.
    fn step(&mut self, wait: bool) -> Step<R> {
        let op = if self.ordered {
            "Pool::imap"
        } else {
            "Pool::imap_unordered"
        };
        self.fill(op);
        if self.inflight.is_empty() {
            if let Some(e) = self.error.take() {
                self.exhausted = true;
                return Step::Item(self.next_index, Err(e));
            }
            if !self.exhausted && self.pool.free.borrow().is_empty() {
                // Every slot is held by the caller's own handles.
                self.exhausted = true;
                return Step::Item(
                    self.next_index,
                    Err(TaskError::from(self.pool.slots_exceeded(op))),
                );
            }
            return Step::End;
        }
        // Which chunk to read: the front one (ordered), or any that ended.
        let pool = self.pool;
        let waited = |ready: &dyn Fn(&Pool<SLOTS, BYTES>) -> bool| -> crate::Result<bool> {
            if wait {
                pool.wait_until(None, ready)
            } else {
                if !ready(pool) {
                    pool.poll()?;
                }
                Ok(ready(pool))
            }
        };
        let position = if self.ordered {
            let Some(front) = self.inflight.front() else {
                return Step::End;
            };
            let slot = usize::from(front.slot);
            match waited(&|p| !matches!(p.ended(slot), Ended::Running)) {
                Err(e) => return Step::Item(self.next_index, Err(e.into())),
                Ok(false) => return Step::NotYet,
                Ok(true) => {}
            }
            0
        } else {
            let inflight = &self.inflight;
            let found = |p: &Pool<SLOTS, BYTES>| {
                inflight
                    .iter()
                    .position(|c| !matches!(p.ended(usize::from(c.slot)), Ended::Running))
            };
            match waited(&|p| found(p).is_some()) {
                Err(e) => return Step::Item(self.next_index, Err(e.into())),
                Ok(false) => return Step::NotYet,
                Ok(true) => {}
            }
            let Some(position) = found(pool) else {
                return Step::NotYet;
            };
            position
        };
        let Some(chunk) = self.inflight.iter_mut().nth(position) else {
            return Step::End;
        };
        let slot = usize::from(chunk.slot);
        let index = usize::from(chunk.yielded);
        chunk.yielded += 1;
        let at = chunk.first + index;
        let finished = chunk.yielded == chunk.count;
        let result = pool.take(op, slot, index, C::take_fn());
        if finished {
            pool.free_slot(slot);
            self.remove(position);
            // Room again: keep the workers fed before the caller's turn.
            self.fill(op);
        }
        Step::Item(at, result)
    }

    /// The pool it runs on.
    #[cfg(feature = "tokio")]
    pub(crate) fn pool(&self) -> &'p Pool<SLOTS, BYTES> {
        self.pool
    }

    /// Waits (until `deadline`) for the front chunk and hands all its
    /// items to `sink` with their input index, then tops the pipeline up.
    /// `Ok(None)` when nothing is in flight (submission errors go to the
    /// sink first); `Ok(Some(false))` when the deadline passed.
    fn drain_front(
        &mut self,
        op: &'static str,
        wait: bool,
        deadline: Option<Instant>,
        mut sink: impl FnMut(usize, Result<R, TaskError>),
    ) -> crate::Result<Option<bool>> {
        self.fill(op);
        let Some(front) = self.inflight.front().copied() else {
            if let Some(e) = self.error.take() {
                self.exhausted = true;
                sink(self.next_index, Err(e));
            }
            return Ok(None);
        };
        let slot = usize::from(front.slot);
        let pool = self.pool;
        let ended = if wait {
            pool.wait_until(deadline, |p| !matches!(p.ended(slot), Ended::Running))?
        } else {
            pool.poll()?;
            !matches!(pool.ended(slot), Ended::Running)
        };
        if !ended {
            return Ok(Some(false));
        }
        self.inflight.pop_front();
        pool.drain_results(op, slot, C::take_fn(), |i, r| sink(front.first + i, r));
        self.fill(op);
        Ok(Some(true))
    }

    fn remove(&mut self, position: usize) {
        // A deque without `remove(i)`: rotate the chunk to the front.
        for _ in 0..position {
            if let Some(c) = self.inflight.pop_front() {
                let _ = self.inflight.push_back(c);
            }
        }
        self.inflight.pop_front();
        let len = self.inflight.len();
        for _ in 0..len.saturating_sub(position) {
            if let Some(c) = self.inflight.pop_back() {
                let _ = self.inflight.push_front(c);
            }
        }
    }

    /// Sets Python's `chunksize` (items per task slot; at most 256 and
    /// what fits the slot's bytes) for chunks not yet submitted.
    #[must_use]
    pub fn chunksize(mut self, n: usize) -> Self {
        let capacity = C::chunk_capacity(self.pool.task_bytes()).max(1);
        self.chunksize = n.clamp(1, capacity);
        self
    }
}

impl<C, A, R, I, const SLOTS: usize, const BYTES: usize> Iterator
    for Imap<'_, C, A, R, I, SLOTS, BYTES>
where
    C: Route<A, R>,
    I: Iterator<Item = A>,
{
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_indexed().map(|(_, r)| r)
    }
}

impl<C, A, R, I, const SLOTS: usize, const BYTES: usize> Drop
    for Imap<'_, C, A, R, I, SLOTS, BYTES>
{
    fn drop(&mut self) {
        // Results already handed out are not dropped twice: taking one
        // cleared its bit in the slot's `untaken`.
        while let Some(c) = self.inflight.pop_front() {
            self.pool.release(usize::from(c.slot));
        }
    }
}

/// The handle of [`Pool::map_async`] (Python's `MapResult`): the results
/// go into the caller's buffer. Tasks are submitted a few chunks ahead
/// and topped up whenever the handle is waited on or asked `ready`.
///
/// `CB` and `EB` are the callbacks of [`Pool::map_async_with`] (plain
/// `fn` types, unused, for [`Pool::map_async`]).
pub struct MapResult<
    'p,
    'o,
    C,
    A,
    R,
    I,
    const SLOTS: usize,
    const BYTES: usize,
    CB = fn(&[R]),
    EB = fn(&TaskError),
> {
    imap: Imap<'p, C, A, R, I, SLOTS, BYTES>,
    out: &'o mut [R],
    written: usize,
    error: Option<TaskError>,
    done: bool,
    /// The callbacks, until they run (when the handle sees the end).
    callbacks: Option<(CB, EB)>,
}

/// The callback types of a [`MapResult`] made without callbacks.
type NoCallbacks<R> = (fn(&[R]), fn(&TaskError));

/// The callbacks of a [`MapResult`] made without any.
pub(super) fn no_callbacks<R>() -> Option<NoCallbacks<R>> {
    None
}

impl<'p, 'o, C, A, R, I, const SLOTS: usize, const BYTES: usize, CB, EB>
    MapResult<'p, 'o, C, A, R, I, SLOTS, BYTES, CB, EB>
where
    C: Route<A, R>,
    I: Iterator<Item = A>,
    CB: FnOnce(&[R]),
    EB: FnOnce(&TaskError),
{
    /// Submits the first chunks of `imap`, whose results go to `out`;
    /// `callbacks` run when the handle sees the end.
    pub(super) fn start(
        mut imap: Imap<'p, C, A, R, I, SLOTS, BYTES>,
        out: &'o mut [R],
        callbacks: Option<(CB, EB)>,
    ) -> MapResult<'p, 'o, C, A, R, I, SLOTS, BYTES, CB, EB> {
        imap.fill("Pool::map_async");
        MapResult {
            imap,
            out,
            written: 0,
            error: None,
            done: false,
            callbacks,
        }
    }

    /// Collects the chunks that have ended, in order; with `wait`, until
    /// all have (or `deadline`).
    fn progress(&mut self, wait: bool, deadline: Option<Instant>) -> crate::Result<()> {
        while !self.done {
            let (out, written, error) = (&mut *self.out, &mut self.written, &mut self.error);
            let mut failed = false;
            let step =
                self.imap
                    .drain_front("Pool::map_async", wait, deadline, |at, r| match r {
                        Ok(r) => {
                            if let Some(place) = out.get_mut(at) {
                                *place = r;
                                *written = (*written).max(at + 1);
                            }
                        }
                        Err(e) => {
                            if error.is_none() {
                                *error = Some(e);
                                failed = true;
                            }
                        }
                    })?;
            if failed {
                // Python's map fails as a whole: submit no more.
                self.imap.exhausted = true;
            }
            match step {
                None => self.done = true,
                Some(true) => {}
                Some(false) => break,
            }
        }
        if self.done
            && let Some((callback, error_callback)) = self.callbacks.take()
        {
            match &self.error {
                Some(e) => error_callback(e),
                None => callback(&self.out[..self.written]),
            }
        }
        Ok(())
    }

    /// Whether every task has ended (Python's `ready()`); collects what
    /// has, and submits more.
    pub fn ready(&mut self) -> bool {
        let _ = self.progress(false, None);
        self.done
    }

    /// Waits for every task (Python's `wait()`).
    ///
    /// # Errors
    ///
    /// Only the kernel's refusal of `poll`.
    pub fn wait(&mut self) -> crate::Result<()> {
        self.progress(true, None)
    }

    /// Waits at most `timeout` for every task (Python's `wait(timeout)`);
    /// whether all have ended.
    ///
    /// # Errors
    ///
    /// Only the kernel's refusal of `poll`.
    pub fn wait_timeout(&mut self, timeout: std::time::Duration) -> crate::Result<bool> {
        self.progress(true, Instant::now().checked_add(timeout))?;
        Ok(self.done)
    }

    /// Waits for every task and returns how many results were written to
    /// the buffer (Python's `get()`).
    ///
    /// # Errors
    ///
    /// The first failed task's [`TaskError`] (in input order), as Python's
    /// `map` raises it; the buffer then holds the results before it.
    pub fn get(mut self) -> Result<usize, TaskError> {
        self.progress(true, None).map_err(TaskError::from)?;
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(self.written),
        }
    }
}

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// Python's `imap(f, items, chunksize)`: the results of `f` on each
    /// item, in input order, as an iterator that submits as it goes.
    /// `chunksize` is Python's (`None`: 1).
    pub fn imap<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: impl Into<Option<usize>>,
    ) -> Imap<'_, Direct<F>, A, R, I::IntoIter, SLOTS, BYTES>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        I: IntoIterator<Item = A>,
    {
        Imap::new(
            self,
            Direct(f),
            items.into_iter(),
            Some(chunksize.into().unwrap_or(1)),
            true,
        )
    }

    /// Python's `imap_unordered`: as [`Pool::imap`], results in the order
    /// tasks end.
    pub fn imap_unordered<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: impl Into<Option<usize>>,
    ) -> Imap<'_, Direct<F>, A, R, I::IntoIter, SLOTS, BYTES>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        I: IntoIterator<Item = A>,
    {
        Imap::new(
            self,
            Direct(f),
            items.into_iter(),
            Some(chunksize.into().unwrap_or(1)),
            false,
        )
    }

    /// Python's `map(f, items, chunksize)`, into the caller's buffer:
    /// `out[i] = f(items[i])` for at most `out.len()` items (the rest stay
    /// in the iterator). Returns how many were written. `chunksize`
    /// `None` chooses as Python does (about four chunks per worker, from
    /// the iterator's size hint). Allocation-free.
    ///
    /// # Errors
    ///
    /// The first failed task (in input order) once all submitted tasks
    /// have ended; no more items are submitted after a failure is seen.
    pub fn map_into<F, A, R, I>(
        &self,
        f: F,
        items: I,
        out: &mut [R],
        chunksize: impl Into<Option<usize>>,
    ) -> Result<usize, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, items, out, chunksize).get()
    }

    /// Python's `map(f, items, chunksize)`: the results in a `Vec`
    /// (which allocates; [`Pool::map_into`] does not).
    ///
    /// # Errors
    ///
    /// As [`Pool::map_into`].
    pub fn map<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: impl Into<Option<usize>>,
    ) -> Result<Vec<R>, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        I: IntoIterator<Item = A>,
    {
        collect_vec(
            Imap::<Direct<F>, A, R, _, SLOTS, BYTES>::new(
                self,
                Direct(f),
                items.into_iter(),
                chunksize.into(),
                true,
            ),
            "Pool::map",
        )
    }

    /// Python's `map_async`: submits the first chunks and returns at once;
    /// the results go to `out` (at most `out.len()` items are taken from
    /// `items`). Allocation-free.
    pub fn map_async<'o, F, A, R, I>(
        &self,
        f: F,
        items: I,
        out: &'o mut [R],
        chunksize: impl Into<Option<usize>>,
    ) -> MapResult<'_, 'o, Direct<F>, A, R, core::iter::Take<I::IntoIter>, SLOTS, BYTES>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        I: IntoIterator<Item = A>,
    {
        let items = items.into_iter().take(out.len());
        MapResult::start(
            Imap::new(self, Direct(f), items, chunksize.into(), true),
            out,
            no_callbacks(),
        )
    }

    /// Python's `starmap(f, [(a, b), …])`: `f(a, b)` for each tuple, in a
    /// `Vec` (allocates; [`Pool::starmap_into`] does not).
    ///
    /// # Errors
    ///
    /// As [`Pool::map_into`].
    pub fn starmap<F, Args, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: impl Into<Option<usize>>,
    ) -> Result<Vec<R>, TaskError>
    where
        F: StarFn<Args, R>,
        Args: TaskData,
        R: TaskData,
        I: IntoIterator<Item = Args>,
    {
        collect_vec(
            Imap::<Star<F>, Args, R, _, SLOTS, BYTES>::new(
                self,
                Star(f),
                items.into_iter(),
                chunksize.into(),
                true,
            ),
            "Pool::starmap",
        )
    }

    /// [`Pool::starmap`] into the caller's buffer, as [`Pool::map_into`].
    /// Allocation-free.
    ///
    /// # Errors
    ///
    /// As [`Pool::map_into`].
    pub fn starmap_into<F, Args, R, I>(
        &self,
        f: F,
        items: I,
        out: &mut [R],
        chunksize: impl Into<Option<usize>>,
    ) -> Result<usize, TaskError>
    where
        F: StarFn<Args, R>,
        Args: TaskData,
        R: TaskData,
        I: IntoIterator<Item = Args>,
    {
        let items = items.into_iter().take(out.len());
        MapResult::start(
            Imap::<Star<F>, Args, R, _, SLOTS, BYTES>::new(
                self,
                Star(f),
                items,
                chunksize.into(),
                true,
            ),
            out,
            no_callbacks(),
        )
        .get()
    }
}

/// Drives `imap` to the end, collecting the results in a `Vec`; the first
/// failure (in input order) stops submissions and is returned once the
/// chunks in flight have ended.
pub(super) fn collect_vec<C, A, R, I, const SLOTS: usize, const BYTES: usize>(
    mut imap: Imap<'_, C, A, R, I, SLOTS, BYTES>,
    op: &'static str,
) -> Result<Vec<R>, TaskError>
where
    C: Route<A, R>,
    I: Iterator<Item = A>,
{
    let mut out = Vec::with_capacity(imap.items.size_hint().0);
    let mut first_error = None;
    loop {
        let mut failed = false;
        let step = imap
            .drain_front(op, true, None, |_, r| match r {
                Ok(r) => out.push(r),
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                        failed = true;
                    }
                }
            })
            .map_err(TaskError::from)?;
        if failed {
            imap.exhausted = true;
        }
        if step.is_none() {
            break;
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
