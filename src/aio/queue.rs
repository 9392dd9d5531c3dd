//! The queues' async forms: a non-blocking try, then the queue's watch
//! descriptor in the reactor until the try succeeds.

use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use tokio::io::Interest;

use super::{io_error, register};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::ipc::{JoinableQueue, Queue, RecordQueue, SimpleQueue};
use crate::shm::Item;

/// Runs `attempt` until it gives a value, waiting between tries for
/// `watch()`'s descriptor to become readable. Nothing is taken or put
/// but by `attempt`, in the poll that returns its value: dropping the
/// future loses nothing.
pub(crate) async fn until<W: AsFd, R>(
    op: &'static str,
    watch: impl FnOnce() -> Result<W>,
    mut attempt: impl FnMut() -> Result<Option<R>>,
) -> Result<R> {
    if let Some(r) = attempt()? {
        return Ok(r);
    }
    // The other side is most likely running and about to answer: let the
    // runtime's other tasks go first, once, before paying for a
    // registration (a duplicate descriptor, two epoll calls).
    tokio::task::yield_now().await;
    if let Some(r) = attempt()? {
        return Ok(r);
    }
    // Registered, then tried: the watch is current from its making, so a
    // change after this try raises it again.
    let watch = watch()?;
    let fd = register(op, watch.as_fd(), Interest::READABLE)?;
    loop {
        if let Some(r) = attempt()? {
            return Ok(r);
        }
        let mut guard = fd
            .readable()
            .await
            .map_err(|e| io_error(op, Resource::Descriptor(fd.get_ref().as_raw_fd()), &e))?;
        guard.clear_ready();
    }
}

/// `Ok(None)` for the error that means "not yet".
fn not_yet<R>(r: Result<R>, kind: ErrorKind) -> Result<Option<R>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == kind => Ok(None),
        Err(e) => Err(e),
    }
}

impl<T: Item, const N: usize> Queue<T, N> {
    /// [`Queue::get`], awaited (feature `tokio`): waits on
    /// [`Queue::watch`] in the reactor instead of blocking the thread.
    /// Dropping the future takes nothing from the queue.
    ///
    /// # Errors
    ///
    /// As [`Queue::get`]; as [`Queue::watch`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn get_async(&self) -> Result<T> {
        const OP: &str = "Queue::get_async";
        until(
            OP,
            || self.watch(),
            || not_yet(self.get_until(OP, Some(Instant::now())), ErrorKind::Empty),
        )
        .await
    }

    /// [`Queue::put`], awaited (feature `tokio`): waits for room on
    /// [`Queue::watch_put`]. Dropping the future puts nothing.
    ///
    /// # Errors
    ///
    /// As [`Queue::put`]; as [`Queue::watch_put`]; outside a tokio
    /// runtime, [`ErrorKind::InvalidArgument`].
    pub async fn put_async(&self, item: T) -> Result<()> {
        const OP: &str = "Queue::put_async";
        let repr = item.to_repr();
        until(
            OP,
            || self.watch_put(),
            || {
                not_yet(
                    self.put_until(OP, repr, Some(Instant::now())),
                    ErrorKind::Full,
                )
            },
        )
        .await
    }
}

impl<T: Item, const N: usize> SimpleQueue<T, N> {
    /// [`SimpleQueue::get`], awaited (feature `tokio`), as
    /// [`Queue::get_async`].
    ///
    /// # Errors
    ///
    /// As [`Queue::get_async`].
    pub async fn get_async(&self) -> Result<T> {
        self.inner().get_async().await
    }

    /// [`SimpleQueue::put`], awaited (feature `tokio`), as
    /// [`Queue::put_async`].
    ///
    /// # Errors
    ///
    /// As [`Queue::put_async`].
    pub async fn put_async(&self, item: T) -> Result<()> {
        self.inner().put_async(item).await
    }
}

impl<T: Item, const N: usize> JoinableQueue<T, N> {
    /// [`JoinableQueue::join`], awaited (feature `tokio`): waits on
    /// [`JoinableQueue::watch_join`] until every task put is done.
    ///
    /// # Errors
    ///
    /// As [`JoinableQueue::watch_join`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn join_async(&self) -> Result<()> {
        until(
            "JoinableQueue::join_async",
            || self.watch_join(),
            || Ok((self.unfinished() == 0).then_some(())),
        )
        .await
    }
}

impl RecordQueue {
    /// [`RecordQueue::get_into`], awaited (feature `tokio`): waits on
    /// [`RecordQueue::watch`]. Dropping the future takes nothing. (There
    /// is no `put_async`: whether a record fits depends on its length, so
    /// the queue has no one descriptor for room.)
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::get_into`]; as [`RecordQueue::watch`]; outside a
    /// tokio runtime, [`ErrorKind::InvalidArgument`].
    pub async fn get_into_async(&self, buf: &mut Vec<u8>) -> Result<usize> {
        until(
            "RecordQueue::get_into_async",
            || self.watch(),
            || not_yet(self.get_into_nowait(buf), ErrorKind::Empty),
        )
        .await
    }
}

impl crate::sync::WatchableEvent {
    /// [`WatchableEvent::wait`](crate::sync::WatchableEvent::wait),
    /// awaited (feature `tokio`): returns once it sees the flag set (or
    /// the count of sets moved since the call), waiting on
    /// [`watch`](crate::sync::WatchableEvent::watch). Unlike a parked
    /// `wait`, a `set` followed by a `clear` before the runtime looks may
    /// go unseen (the descriptor is readable only while the flag is set,
    /// and epoll reports only what is readable when it looks): await
    /// flags that stay set until the waiter has seen them.
    ///
    /// # Errors
    ///
    /// As `watch`; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn wait_async(&self) -> Result<()> {
        let start = self.event().sets();
        until(
            "WatchableEvent::wait_async",
            || self.watch(),
            || Ok((self.is_set() || self.event().sets() != start).then_some(())),
        )
        .await
    }
}

/// How often an awaited `put` on a full queue of records (or an awaited
/// `join` of one) looks again: 500 µs.
pub const ROOM_POLL: Duration = Duration::from_micros(500);

/// Runs `attempt` until it gives a value: at once, once more after the
/// runtime's other tasks had a turn, then at each tick of a timer
/// descriptor of period [`ROOM_POLL`] registered with the reactor. Only
/// `attempt` puts, in the poll that returns: dropping the future puts
/// nothing.
pub(crate) async fn until_ticks<R>(
    op: &'static str,
    resource: Resource,
    mut attempt: impl FnMut() -> Result<Option<R>>,
) -> Result<R> {
    if let Some(r) = attempt()? {
        return Ok(r);
    }
    tokio::task::yield_now().await;
    if let Some(r) = attempt()? {
        return Ok(r);
    }
    let timer = crate::sys::timer::periodic(ROOM_POLL).map_err(|e| Error::os(op, resource, e))?;
    let fd = register(op, timer.as_fd(), Interest::READABLE)?;
    loop {
        if let Some(r) = attempt()? {
            return Ok(r);
        }
        let mut guard = fd
            .readable()
            .await
            .map_err(|e| io_error(op, resource, &e))?;
        crate::sys::event::lower(fd.get_ref().as_fd());
        guard.clear_ready();
    }
}

impl RecordQueue {
    /// [`RecordQueue::put`], awaited (feature `tokio`): puts at once
    /// when the record fits; while it does not, looks again every
    /// [`ROOM_POLL`] (a timer descriptor in the reactor: the queue has no
    /// descriptor for room, which depends on the record's length).
    /// Dropping the future puts nothing.
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::put`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn put_async(&self, record: &[u8]) -> Result<()> {
        until_ticks("RecordQueue::put_async", self.resource(), || {
            not_yet(self.put_nowait(record), ErrorKind::Full)
        })
        .await
    }

    /// [`RecordQueue::join`], awaited (feature `tokio`): looks at the
    /// unfinished count every [`ROOM_POLL`].
    ///
    /// # Errors
    ///
    /// Outside a tokio runtime, [`ErrorKind::InvalidArgument`]; a timer
    /// descriptor that cannot be made (the process's descriptor limit).
    pub async fn join_async(&self) -> Result<()> {
        until_ticks("RecordQueue::join_async", self.resource(), || {
            Ok(self.join_timeout(Duration::ZERO).then_some(()))
        })
        .await
    }
}
