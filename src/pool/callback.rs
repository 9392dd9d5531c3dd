//! `apply_async` with only Python's `callback`.

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
}
