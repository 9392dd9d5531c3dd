//! The callback forms beside [`Pool::apply_async_with`]: `apply_async`
//! with only Python's `callback`, and `map_async` with both.

use super::map::{Direct, Imap, MapResult};
use super::{AsyncResult, Pool, TaskData, TaskError};
use crate::error::Result;

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// Python's `apply_async(f, (arg,), callback=cb)`, without an
    /// `error_callback`: `callback` runs once, in this process, with a
    /// reference to the result, when the pool next acts after the task
    /// ended successfully (as in [`Pool::apply_async_with`]).
    ///
    /// A task that fails runs no callback, as in Python: the failure is
    /// kept for the [`AsyncResult`] (whose [`get`](AsyncResult::get)
    /// returns it, and [`successful`](AsyncResult::successful) reports
    /// it), and dropped unseen with a dropped handle. Nothing is printed.
    ///
    /// `callback` may capture at most 48 bytes (checked at compile time).
    ///
    /// ```no_run
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use mproc::pool::Pool;
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// // Python: r = pool.apply_async(square, (4,), callback=print)
    /// let pool = Pool::new(2)?;
    /// let seen = Rc::new(Cell::new(0));
    /// let s = Rc::clone(&seen);
    /// let r = pool.apply_async_callback(square, 4, move |v: &u64| s.set(*v))?;
    /// assert_eq!(r.get()?, 16);
    /// assert_eq!(seen.get(), 16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async`].
    pub fn apply_async_callback<F, A, R, C>(
        &self,
        f: F,
        arg: A,
        callback: C,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        C: FnOnce(&R) + 'static,
    {
        self.apply_async_with(f, arg, callback, |_: &TaskError| {})
    }

    /// Python's `map_async(f, items, chunksize, callback, error_callback)`:
    /// [`Pool::map_async`] whose handle runs exactly one of the two, once,
    /// in this process, when it sees the map end: `callback` with the
    /// results (the filled part of `out`, in input order: Python's list),
    /// or `error_callback` with the first failure in input order (the one
    /// [`MapResult::get`] returns, as Python's `map` raises it).
    /// Allocation-free: the closures live in the handle.
    ///
    /// Python's result-handler thread runs them unasked. Here the handle
    /// runs them, inside the call that sees the end: [`MapResult::ready`]
    /// (when it returns `true`), [`MapResult::wait`],
    /// [`MapResult::wait_timeout`] (when it returns `true`), or
    /// [`MapResult::get`] (before it returns). A handle dropped before
    /// that runs neither: its results had nowhere to go.
    ///
    /// ```no_run
    /// use std::cell::Cell;
    /// use mproc::pool::Pool;
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// // Python: pool.map_async(square, range(4), callback=print).wait()
    /// let pool = Pool::new(2)?;
    /// let mut out = [0u64; 4];
    /// let total = Cell::new(0);
    /// let mut r = pool.map_async_with(
    ///     square,
    ///     0..4u64,
    ///     &mut out,
    ///     None,
    ///     |results: &[u64]| total.set(results.iter().sum()),
    ///     |e| eprintln!("map failed: {e}"),
    /// );
    /// r.wait()?;
    /// assert_eq!(total.get(), 14);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_async_with<'o, F, A, R, I, CB, EB>(
        &self,
        f: F,
        items: I,
        out: &'o mut [R],
        chunksize: impl Into<Option<usize>>,
        callback: CB,
        error_callback: EB,
    ) -> MapResult<'_, 'o, Direct<F>, A, R, core::iter::Take<I::IntoIter>, SLOTS, BYTES, CB, EB>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        I: IntoIterator<Item = A>,
        CB: FnOnce(&[R]),
        EB: FnOnce(&TaskError),
    {
        let items = items.into_iter().take(out.len());
        MapResult::start(
            Imap::new(self, Direct(f), items, chunksize.into(), true),
            out,
            Some((callback, error_callback)),
        )
    }
}
