//! Pool results awaited: [`ResultFuture`] (an [`AsyncResult`] is
//! `IntoFuture`), [`AsyncResult::wait_async`], and [`ImapStream`].

use std::future::{Future, IntoFuture};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::{io_error, register};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::pool::map::{Route, Step};
use crate::pool::{AsyncResult, Imap, Pool, PoolWatch, TaskError};

/// The reactor's side of waiting on a pool: the pool's watch, registered
/// on first need, and a timer for the pool's own deadlines (task
/// timeouts, a re-fork after a back-off: [`Pool::poll_timeout`]).
struct PoolWaiter<'p> {
    /// Whether it has let the runtime's other tasks go once: a task handed
    /// to a spinning worker is often done by then, and the registration
    /// (a watch, a duplicate descriptor, two epoll calls) is saved.
    yielded: bool,
    fd: Option<AsyncFd<OwnedFd>>,
    watch: Option<PoolWatch<'p>>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<'p> PoolWaiter<'p> {
    const fn new() -> Self {
        PoolWaiter {
            yielded: false,
            fd: None,
            watch: None,
            timer: None,
        }
    }

    /// `Ready(Ok)` once `ready()` holds (it runs the pool, as
    /// `AsyncResult::ready` does); otherwise registers for the next
    /// wake-up of the pool's watch or deadline.
    fn poll_until<const SLOTS: usize, const BYTES: usize>(
        &mut self,
        cx: &mut Context<'_>,
        op: &'static str,
        pool: &'p Pool<SLOTS, BYTES>,
        ready: &mut dyn FnMut() -> bool,
    ) -> Poll<Result<()>> {
        loop {
            if ready() {
                return Poll::Ready(Ok(()));
            }
            if !self.yielded {
                self.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let Some(fd) = &self.fd else {
                // Watched, then looked at again (the loop): a task that
                // ends after the look raises the watch.
                let watch = match pool.watch() {
                    Ok(w) => w,
                    Err(e) => return Poll::Ready(Err(e)),
                };
                match register(op, watch.as_fd(), Interest::READABLE) {
                    Ok(fd) => self.fd = Some(fd),
                    Err(e) => return Poll::Ready(Err(e)),
                }
                self.watch = Some(watch);
                continue;
            };
            match fd.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => {
                    guard.clear_ready();
                    continue;
                }
                Poll::Ready(Err(e)) => {
                    let resource = Resource::Descriptor(fd.get_ref().as_raw_fd());
                    return Poll::Ready(Err(io_error(op, resource, &e)));
                }
                Poll::Pending => {}
            }
            match pool.poll_timeout() {
                None => self.timer = None,
                Some(left) => {
                    let at = tokio::time::Instant::now() + left.max(Duration::from_millis(1));
                    match &mut self.timer {
                        Some(t) if t.deadline() <= at => {}
                        Some(t) => t.as_mut().reset(at),
                        None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
                    }
                    if let Some(t) = &mut self.timer
                        && t.as_mut().poll(cx).is_ready()
                    {
                        self.timer = None;
                        continue;
                    }
                }
            }
            return Poll::Pending;
        }
    }
}

/// The pool's watch registered with the runtime while some result of
/// the pool is awaited, and the timer of the pool's own deadlines. One per
/// pool (in the pool); driven by whichever awaiting task polled it last:
/// when it fires, that task runs the pool ([`Pool::poll`]) and wakes the
/// tasks whose results ended, and only those. A task that finishes or is
/// dropped wakes another awaiting one to take the driving over; the last
/// one drops the driver, ending the workers' wake-ups.
pub(crate) struct Driver {
    fd: AsyncFd<OwnedFd>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The slot whose awaiting task polled it last: the one the runtime
    /// wakes when it fires.
    by: Option<usize>,
}

/// Drives `pool`'s watch for the task of `cx`: registers it (making the
/// driver if there is none), and while it fires, runs the pool and wakes
/// the tasks whose results ended.
fn drive<const SLOTS: usize, const BYTES: usize>(
    op: &'static str,
    pool: &Pool<SLOTS, BYTES>,
    by: usize,
    cx: &mut Context<'_>,
) -> Result<()> {
    loop {
        let mut slot = pool.driver().borrow_mut();
        if slot.is_none() {
            let dup = pool.watch_raw(op)?;
            let resource = Resource::Descriptor(dup.as_raw_fd());
            if tokio::runtime::Handle::try_current().is_err() {
                pool.unwatch_raw();
                return Err(Error::new(
                    op,
                    resource,
                    ErrorKind::InvalidArgument(
                        "no tokio runtime: await it inside one (with I/O enabled)",
                    ),
                ));
            }
            match crate::sys::reactor::register_owned(dup, Interest::READABLE) {
                Ok(fd) => {
                    *slot = Some(Driver {
                        fd,
                        timer: None,
                        by: None,
                    })
                }
                Err(e) => {
                    pool.unwatch_raw();
                    return Err(io_error(op, resource, &e));
                }
            }
        }
        let Some(driver) = slot.as_mut() else {
            unreachable!("the driver was made above")
        };
        match driver.fd.poll_read_ready(cx) {
            Poll::Ready(Ok(mut guard)) => {
                guard.clear_ready();
                drop(slot);
                let _ = pool.poll();
                pool.wake_ended();
                continue;
            }
            Poll::Ready(Err(e)) => {
                // The runtime it was registered with is gone: a new one
                // next time.
                let resource = Resource::Descriptor(driver.fd.get_ref().as_raw_fd());
                *slot = None;
                drop(slot);
                pool.unwatch_raw();
                return Err(io_error(op, resource, &e));
            }
            Poll::Pending => driver.by = Some(by),
        }
        match pool.poll_timeout() {
            None => driver.timer = None,
            Some(left) => {
                let at = tokio::time::Instant::now() + left.max(Duration::from_millis(1));
                match &mut driver.timer {
                    Some(t) if t.deadline() <= at => {}
                    Some(t) => t.as_mut().reset(at),
                    None => driver.timer = Some(Box::pin(tokio::time::sleep_until(at))),
                }
                if let Some(t) = &mut driver.timer
                    && t.as_mut().poll(cx).is_ready()
                {
                    driver.timer = None;
                    drop(slot);
                    let _ = pool.poll();
                    pool.wake_ended();
                    continue;
                }
            }
        }
        return Ok(());
    }
}

/// A task stops awaiting slot `s`: its waker is forgotten, the tasks
/// whose results ended meanwhile are woken (the wake-up that ended this
/// one may have been theirs too), and if the watch is left with no task
/// to wake (it was this one's, or another that left), another awaiting
/// task is woken to take the driving over; with none left, the driver
/// goes.
fn leave<const SLOTS: usize, const BYTES: usize>(pool: &Pool<SLOTS, BYTES>, s: usize) {
    pool.clear_waker(s);
    pool.wake_ended();
    let orphaned = pool
        .driver()
        .borrow()
        .as_ref()
        .is_some_and(|d| d.by.is_none_or(|by| by == s || !pool.has_waker(by)));
    if !pool.hand_off(orphaned) && pool.driver().borrow_mut().take().is_some() {
        pool.unwatch_raw();
    }
}

/// An [`AsyncResult`] being awaited (feature `tokio`): `.await` on the
/// handle gives this, and it gives what [`AsyncResult::get`] gives. The
/// parent need not call into the pool meanwhile: the pool's
/// [`watch`](Pool::watch), registered once for all the results awaited at
/// a time, wakes the task when its result is in or its worker died, and
/// wakes no other.
///
/// Dropping it drops the handle, as dropping the handle does: the task
/// runs on and its slot is freed when it ends.
pub struct ResultFuture<'p, R, const SLOTS: usize, const BYTES: usize> {
    result: Option<AsyncResult<'p, R, SLOTS, BYTES>>,
    /// Whether it has let the runtime's other tasks go once (a task handed
    /// to a spinning worker is often done by then).
    yielded: bool,
    /// Whether its waker is recorded in the pool.
    waiting: bool,
}

impl<R, const SLOTS: usize, const BYTES: usize> ResultFuture<'_, R, SLOTS, BYTES> {
    /// The result, its task ended.
    fn finish(&mut self) -> Poll<core::result::Result<R, TaskError>> {
        let Some(result) = self.result.take() else {
            return Poll::Pending;
        };
        if std::mem::take(&mut self.waiting) {
            leave(result.pool(), result.slot());
        }
        // Ended: `get` returns without waiting.
        Poll::Ready(result.get())
    }
}

impl<R, const SLOTS: usize, const BYTES: usize> Future for ResultFuture<'_, R, SLOTS, BYTES> {
    type Output = core::result::Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const OP: &str = "AsyncResult::await";
        let this = self.get_mut();
        let Some(result) = &this.result else {
            return Poll::Ready(Err(TaskError::from(Error::new(
                OP,
                Resource::Capacity("a ResultFuture polled after it completed"),
                ErrorKind::InvalidArgument("the result was taken already"),
            ))));
        };
        if result.ended() {
            return this.finish();
        }
        if !this.yielded {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let (pool, slot) = (result.pool(), result.slot());
        if !this.waiting {
            // Once, on arrival: a worker that died is seen here.
            if result.ready() {
                return this.finish();
            }
            this.waiting = true;
        }
        pool.set_waker(slot, cx.waker());
        if let Err(e) = drive(OP, pool, slot, cx) {
            this.waiting = false;
            leave(pool, slot);
            return Poll::Ready(Err(TaskError::from(e)));
        }
        if result.ended() {
            return this.finish();
        }
        Poll::Pending
    }
}

impl<R, const SLOTS: usize, const BYTES: usize> Drop for ResultFuture<'_, R, SLOTS, BYTES> {
    fn drop(&mut self) {
        if self.waiting
            && let Some(result) = &self.result
        {
            leave(result.pool(), result.slot());
        }
    }
}

impl<'p, R, const SLOTS: usize, const BYTES: usize> IntoFuture
    for AsyncResult<'p, R, SLOTS, BYTES>
{
    type Output = core::result::Result<R, TaskError>;
    type IntoFuture = ResultFuture<'p, R, SLOTS, BYTES>;

    /// Awaits the result (feature `tokio`): `r.await` is `r.get()`
    /// without blocking the thread (see [`ResultFuture`]).
    fn into_future(self) -> ResultFuture<'p, R, SLOTS, BYTES> {
        ResultFuture {
            result: Some(self),
            yielded: false,
            waiting: false,
        }
    }
}

impl<'p, R, const SLOTS: usize, const BYTES: usize> AsyncResult<'p, R, SLOTS, BYTES> {
    /// [`AsyncResult::get`], awaited (feature `tokio`); the same as
    /// `.await` on the handle.
    ///
    /// # Errors
    ///
    /// As [`AsyncResult::get`]; the pool's watch refused, or no tokio
    /// runtime ([`ErrorKind::InvalidArgument`]).
    pub async fn get_async(self) -> core::result::Result<R, TaskError> {
        self.into_future().await
    }

    /// [`AsyncResult::wait`], awaited (feature `tokio`): until the task
    /// has ended, keeping the handle (so a dropped `wait_async` loses
    /// nothing; [`get`](AsyncResult::get) then returns at once).
    ///
    /// # Errors
    ///
    /// The pool's watch refused, or no tokio runtime
    /// ([`ErrorKind::InvalidArgument`]).
    pub async fn wait_async(&self) -> Result<()> {
        let mut waiter = PoolWaiter::new();
        let pool = self.pool();
        std::future::poll_fn(|cx| {
            waiter.poll_until(cx, "AsyncResult::wait_async", pool, &mut || self.ready())
        })
        .await
    }
}

/// An [`Imap`] as a `futures_core::Stream` (feature `tokio`): the results
/// in the order of `imap` (or as they end, for `imap_unordered`),
/// awaited on the pool's watch instead of blocking the thread. From
/// [`Imap::into_stream`].
pub struct ImapStream<'p, C, A, R, I, const SLOTS: usize, const BYTES: usize> {
    imap: Imap<'p, C, A, R, I, SLOTS, BYTES>,
    waiter: PoolWaiter<'p>,
    done: bool,
}

impl<'p, C, A, R, I, const SLOTS: usize, const BYTES: usize> Imap<'p, C, A, R, I, SLOTS, BYTES>
where
    C: Route<A, R>,
    I: Iterator<Item = A>,
{
    /// The map's results as a stream (feature `tokio`), awaited instead
    /// of blocking: Python's `async for` over
    /// `loop.run_in_executor`'d `imap`. Dropping the stream early lets the
    /// chunks in flight run on, as dropping the `Imap` does.
    pub fn into_stream(self) -> ImapStream<'p, C, A, R, I, SLOTS, BYTES> {
        ImapStream {
            imap: self,
            waiter: PoolWaiter::new(),
            done: false,
        }
    }
}

impl<'p, C, A, R, I, const SLOTS: usize, const BYTES: usize> futures_core::Stream
    for ImapStream<'p, C, A, R, I, SLOTS, BYTES>
where
    C: Route<A, R> + Unpin,
    A: Unpin,
    I: Iterator<Item = A> + Unpin,
{
    type Item = core::result::Result<R, TaskError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let pool = this.imap.pool();
        let mut step = None;
        let imap = &mut this.imap;
        let polled =
            this.waiter.poll_until(
                cx,
                "Imap::into_stream",
                pool,
                &mut || match imap.try_next() {
                    Step::NotYet => false,
                    other => {
                        step = Some(other);
                        true
                    }
                },
            );
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => {
                this.done = true;
                Poll::Ready(Some(Err(TaskError::from(e))))
            }
            Poll::Ready(Ok(())) => match step {
                Some(Step::Item(_, r)) => Poll::Ready(Some(r)),
                _ => {
                    this.done = true;
                    this.waiter = PoolWaiter::new();
                    Poll::Ready(None)
                }
            },
        }
    }
}
