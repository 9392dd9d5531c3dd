//! [`AsyncProxy`]: the waits of a manager's lock, event and queue as
//! futures (feature `tokio`): a [`Detached`] proxy driven by tokio's
//! reactor.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use super::detached::{Detached, DetachedGuard, Pending};
use super::{EventProxy, LockProxy, Proxied, QueueProxy, RLockProxy};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::encoding::Encoding;
use crate::sys::Errno;

/// How long a wait looks for an answer that comes at once (the object
/// was free) before it leaves it to the reactor: an answer from an awake
/// server takes a microsecond or two; a trip through the reactor, tens.
const SPIN: Duration = Duration::from_micros(20);

/// A manager proxy whose waits are futures: Python has no async manager;
/// this is what an asyncio program would want of one. Made from a proxy
/// with [`AsyncProxy::new`] inside a tokio runtime; its waits (a lock's
/// `acquire`, an event's `wait`, a queue's `get` and `put`) park on the
/// runtime's reactor, not on the thread, so other tasks run meanwhile.
///
/// ```no_run
/// # async fn f(m: &mproc::manager::Client) -> mproc::Result<()> {
/// use mproc::manager::AsyncProxy;
/// let q = m.queue::<u64>(16)?;
/// let aq = AsyncProxy::new(&q)?;
/// aq.put(&7).await?;
/// assert_eq!(aq.get().await?, 7);
/// # Ok(()) }
/// ```
///
/// Like the [`Detached`] proxy it is built on, it talks to the server
/// over a connection of its own (one of the server's
/// `MPROC_MANAGER_CONNECTIONS`): its waits never hold up the synchronous
/// calls of the same process, and a lock it takes is held by that
/// connection (release it with the guard its `acquire` returns). Its
/// waits take turns: one is in flight, the others wait for their turn
/// (asynchronously). It is used by the process that made it.
///
/// # Cancellation
///
/// A future dropped before it finished (a `select!` or a
/// `tokio::time::timeout` that gave up) withdraws its request, as a
/// dropped [`Pending`] does: the server forgets it, having done nothing;
/// an answer that crossed the withdrawal is undone (a lock taken is
/// released; an item got is kept for the next `get` of this proxy, and
/// given back to the queue's front if the proxy is dropped first, as
/// [`Detached`] says). A `put` that had gone in stays in. So no item is lost and no lock is
/// left held.
pub struct AsyncProxy<P: Proxied> {
    /// The waits, started and finished.
    detached: Detached<P>,
    /// A duplicate of its descriptor, registered with the reactor.
    socket: AsyncFd<OwnedFd>,
    /// One wait in flight at a time: the others wait for their turn.
    turn: tokio::sync::Mutex<()>,
}

impl<P: Proxied> std::fmt::Debug for AsyncProxy<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncProxy")
            .field("detached", &self.detached)
            .finish_non_exhaustive()
    }
}

/// A reactor's error as the crate's.
fn io_error(op: &'static str, resource: crate::error::Resource, e: &std::io::Error) -> Error {
    let errno = Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32));
    Error::os(op, resource, errno)
}

impl<P: Proxied> AsyncProxy<P> {
    /// An async proxy of the object `proxy` names, on a connection of its
    /// own to the same server.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] outside a tokio runtime (with its IO
    /// driver enabled); as [`Manager::connect`](crate::manager::Manager::connect).
    pub fn new(proxy: &P) -> Result<AsyncProxy<P>> {
        const OP: &str = "AsyncProxy::new";
        let resource = proxy.handle().resource();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::new(
                OP,
                resource,
                ErrorKind::InvalidArgument("an AsyncProxy is made inside a tokio runtime"),
            ));
        }
        let detached = Detached::new(proxy)?;
        let fd = detached
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| io_error(OP, resource, &e))?;
        let socket =
            crate::sys::reactor::watch_owned(fd).map_err(|e| io_error(OP, resource, &e))?;
        Ok(AsyncProxy {
            detached,
            socket,
            turn: tokio::sync::Mutex::new(()),
        })
    }

    /// The proxy on this one's connection, for its calls that do not wait
    /// (a queue's `qsize`, an event's `set`...).
    pub fn proxy(&self) -> &P {
        self.detached.proxy()
    }

    /// Awaits a started wait's answer; dropping the future drops the
    /// [`Pending`], which withdraws it.
    async fn finish<R>(&self, mut pending: Pending<'_, P, R>) -> Result<R> {
        let resource = self.detached.handle().resource();
        let spin_until = Instant::now() + SPIN;
        while Instant::now() < spin_until {
            if pending.is_ready()? {
                break;
            }
            std::hint::spin_loop();
        }
        loop {
            if let Some(answer) = pending.try_finish()? {
                return Ok(answer);
            }
            let mut ready = self
                .socket
                .readable()
                .await
                .map_err(|e| io_error("AsyncProxy", resource, &e))?;
            // `try_finish` looks at the state word again before it
            // parks: a doorbell cleared here is not a wake-up lost.
            ready.clear_ready();
        }
    }
}

macro_rules! async_lock {
    ($proxy:ident, $py:literal) => {
        impl AsyncProxy<$proxy> {
            #[doc = concat!("`await ", $py, ".acquire()`: waits until it is taken; released when the guard is dropped.")]
            ///
            /// # Errors
            ///
            /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when
            /// the object was released.
            pub async fn acquire(&self) -> Result<DetachedGuard<'_>> {
                let _turn = self.turn.lock().await;
                let taken = self.finish(self.detached.begin_acquire(None)?).await?;
                taken.ok_or_else(|| {
                    Error::new(
                        concat!("AsyncProxy<", stringify!($proxy), ">::acquire"),
                        self.detached.handle().resource(),
                        ErrorKind::Timeout,
                    )
                })
            }

            #[doc = concat!("`await ", $py, ".acquire(timeout=t)`: the guard when taken in time.")]
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<DetachedGuard<'_>>> {
                let _turn = self.turn.lock().await;
                self.finish(self.detached.begin_acquire(Some(timeout))?).await
            }
        }
    };
}

async_lock!(LockProxy, "lock");
async_lock!(RLockProxy, "rlock");

impl AsyncProxy<EventProxy> {
    /// `await event.wait()`: until it is set.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the event
    /// was released.
    pub async fn wait(&self) -> Result<()> {
        let _turn = self.turn.lock().await;
        self.finish(self.detached.begin_wait(None)?).await.map(drop)
    }

    /// `await event.wait(timeout)`: whether it is set.
    ///
    /// # Errors
    ///
    /// As [`AsyncProxy::wait`].
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        let _turn = self.turn.lock().await;
        self.finish(self.detached.begin_wait(Some(timeout))?).await
    }
}

impl<T, E: Encoding<T>> AsyncProxy<QueueProxy<T, E>> {
    /// `await q.get()`: waits for an item.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the queue
    /// was released; the item's decoding error.
    pub async fn get(&self) -> Result<T> {
        let _turn = self.turn.lock().await;
        self.finish(self.detached.begin_get(None)?).await
    }

    /// `await q.get(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] when no item came in time; as
    /// [`AsyncProxy::get`].
    pub async fn get_timeout(&self, timeout: Duration) -> Result<T> {
        let _turn = self.turn.lock().await;
        self.finish(self.detached.begin_get(Some(timeout))?).await
    }

    /// `await q.put(item)`: waits for room.
    ///
    /// # Errors
    ///
    /// As [`AsyncProxy::get`]; the item's encoding error (nothing is
    /// put then).
    pub async fn put(&self, item: &T) -> Result<()> {
        let _turn = self.turn.lock().await;
        self.finish(self.detached.begin_put(item, None)?).await
    }

    /// `await q.put(item, timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] when no room came in time; as
    /// [`AsyncProxy::put`].
    pub async fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        let _turn = self.turn.lock().await;
        self.finish(self.detached.begin_put(item, Some(timeout))?)
            .await
    }
}
