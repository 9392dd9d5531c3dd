//! [`AsyncProxy`]: the waits of a manager's lock, event and queue as
//! futures (feature `tokio`).

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use super::waits::timeout_ns;
use super::{EventProxy, Handle, LockProxy, Proxied, QueueProxy, RLockProxy, encode};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::encoding::{Encoding, dec, enc};
use crate::manager::link::Link;
use crate::manager::protocol::{Reply, op};

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
/// # Its own connection
///
/// An async proxy talks to the server over a connection of its own (one
/// of the server's `MPROC_MANAGER_CONNECTIONS`), so its waits never hold
/// up the synchronous calls of the same process, and a lock it takes is
/// held by that connection: release it through the guard its `acquire`
/// returns. Its calls take turns: one request at a time is in flight,
/// the others wait for their turn (asynchronously). It is used by the
/// process that made it.
///
/// # Cancellation
///
/// A future dropped before it finished (a `select!` or a
/// `tokio::time::timeout` that gave up) withdraws its request: the server
/// forgets it, having done nothing. If the server had answered it
/// already (the two crossed), the drop undoes the answer: a lock taken is
/// released; an item got is kept for the next `get` of this proxy (and
/// given back to the queue's front if the proxy is dropped first). A
/// `put` that had gone in stays in. So no item is lost and no lock is
/// left held. A dropped barrier wait breaks the barrier, as a timed-out
/// wait does in Python.
pub struct AsyncProxy<P: Proxied> {
    /// The proxy on this proxy's own connection.
    proxy: P,
    /// That connection's socket, readable when the server rang.
    socket: AsyncFd<OwnedFd>,
    /// One request in flight at a time.
    turn: tokio::sync::Mutex<()>,
    /// An item whose `get` was dropped after the server had answered it.
    kept: std::sync::Mutex<Option<Vec<u8>>>,
}

impl<P: Proxied> std::fmt::Debug for AsyncProxy<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncProxy")
            .field("handle", self.proxy.handle())
            .finish_non_exhaustive()
    }
}

/// What a dropped wait whose answer crossed its withdrawal undoes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Undo {
    Nothing,
    /// A lock was taken: release it.
    Release,
    /// An item was got: keep it for the next get.
    Keep,
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
        let h = proxy.handle();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::new(
                OP,
                h.resource(),
                ErrorKind::InvalidArgument("an AsyncProxy is made inside a tokio runtime"),
            ));
        }
        let link = Link::connect(h.link.address())?;
        let socket = link.socket(OP)?;
        let socket =
            crate::sys::reactor::watch_owned(socket).map_err(|e| io_error(OP, h.resource(), &e))?;
        let handle = Handle {
            link: std::sync::Arc::new(link),
            id: h.id,
            generation: h.generation,
            kind: h.kind,
            fp_a: h.fp_a,
            fp_b: h.fp_b,
            // The proxy it was made from keeps the object.
            owner: None,
        };
        Ok(AsyncProxy {
            proxy: P::from_handle(handle),
            socket,
            turn: tokio::sync::Mutex::new(()),
            kept: std::sync::Mutex::new(None),
        })
    }

    /// The proxy on this one's connection, for its calls that do not wait
    /// (a queue's `qsize`, an event's `set`...).
    pub fn proxy(&self) -> &P {
        &self.proxy
    }

    fn handle(&self) -> &Handle {
        self.proxy.handle()
    }

    /// One request that may wait: sent, then its answer awaited on the
    /// reactor; withdrawn if the future is dropped first.
    async fn call_waiting<R>(
        &self,
        name: &'static str,
        code: u16,
        undo: Undo,
        fill: impl FnOnce(&mut [u8]) -> Result<usize>,
        decode: impl FnOnce(&Reply, &[u8]) -> Result<R>,
    ) -> Result<R> {
        let _turn = self.turn.lock().await;
        let h = self.handle();
        let link = &*h.link;
        let seq = link.send(name, h.request(code, 0), fill)?;
        let mut flight = Flight {
            proxy: self,
            seq,
            name,
            undo,
            done: false,
        };
        let spin_until = Instant::now() + SPIN;
        loop {
            if link.ready(seq, name)? {
                flight.done = true;
                return link.take(seq, name, h.resource(), decode);
            }
            if Instant::now() < spin_until {
                std::hint::spin_loop();
                continue;
            }
            if link.arm(seq, name)? {
                continue;
            }
            let readable = self.socket.readable().await;
            link.disarm();
            let mut ready = readable.map_err(|e| io_error(name, h.resource(), &e))?;
            // The state word is looked at again before the next park:
            // a doorbell cleared here is not a wake-up lost.
            ready.clear_ready();
        }
    }

    /// A waiting request's timeout argument, and `fill`'s bytes after it.
    fn args(timeout: Option<Duration>, out: &mut [u8]) -> usize {
        encode(&timeout_ns(timeout), out)
    }
}

/// A request in flight: withdrawn if dropped before its answer was taken.
struct Flight<'a, P: Proxied> {
    proxy: &'a AsyncProxy<P>,
    seq: u32,
    name: &'static str,
    undo: Undo,
    done: bool,
}

impl<P: Proxied> Drop for Flight<'_, P> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let h = self.proxy.handle();
        let mut kept = self.proxy.kept.lock().unwrap_or_else(|p| p.into_inner());
        let mut payload = kept.take().unwrap_or_default();
        let crossed = h.link.withdraw(self.seq, self.name, &mut payload);
        match (crossed, self.undo) {
            (Ok(Some(c)), Undo::Release) if c.a != 0 => {
                let _ = release(h, "AsyncProxy (a dropped acquire)");
            }
            (Ok(Some(c)), Undo::Keep) => {
                payload.truncate(c.len);
                *kept = Some(payload);
            }
            _ => {}
        }
    }
}

/// A reactor's error as the crate's.
fn io_error(op: &'static str, resource: crate::error::Resource, e: &std::io::Error) -> Error {
    let errno =
        crate::sys::Errno::from_raw(e.raw_os_error().unwrap_or(crate::sys::Errno::EIO as i32));
    Error::os(op, resource, errno)
}

fn release(h: &Handle, name: &'static str) -> Result<()> {
    h.call(
        name,
        op::RELEASE_LOCK,
        0,
        |out| encode(&1u32, out),
        |_, _, _| Some(()),
    )
}

/// A lock taken through an [`AsyncProxy`]: released (through the same
/// connection) when dropped.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct AsyncGuard<'a> {
    handle: &'a Handle,
}

impl Drop for AsyncGuard<'_> {
    fn drop(&mut self) {
        let _ = release(self.handle, "AsyncGuard::drop");
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
            pub async fn acquire(&self) -> Result<AsyncGuard<'_>> {
                let name = concat!("AsyncProxy<", stringify!($proxy), ">::acquire");
                self.acquire_within(name, None).await?;
                Ok(AsyncGuard {
                    handle: self.handle(),
                })
            }

            #[doc = concat!("`await ", $py, ".acquire(timeout=t)`: the guard when taken in time.")]
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<AsyncGuard<'_>>> {
                let name = concat!("AsyncProxy<", stringify!($proxy), ">::acquire_timeout");
                let taken = self.acquire_within(name, Some(timeout)).await?;
                Ok(taken.then(|| AsyncGuard {
                    handle: self.handle(),
                }))
            }

            async fn acquire_within(&self, name: &'static str, timeout: Option<Duration>) -> Result<bool> {
                self.call_waiting(
                    name,
                    op::ACQUIRE,
                    Undo::Release,
                    |out| Ok(Self::args(timeout, out)),
                    |r, _| Ok(r.a != 0),
                )
                .await
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
        self.wait_within("AsyncProxy<EventProxy>::wait", None)
            .await
            .map(drop)
    }

    /// `await event.wait(timeout)`: whether it is set.
    ///
    /// # Errors
    ///
    /// As [`AsyncProxy::wait`].
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_within("AsyncProxy<EventProxy>::wait_timeout", Some(timeout))
            .await
    }

    async fn wait_within(&self, name: &'static str, timeout: Option<Duration>) -> Result<bool> {
        self.call_waiting(
            name,
            op::WAIT,
            Undo::Nothing,
            |out| Ok(Self::args(timeout, out)),
            |r, _| Ok(r.a != 0),
        )
        .await
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
        self.get_within("AsyncProxy<QueueProxy>::get", None).await
    }

    /// `await q.get(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] when no item came in time; as
    /// [`AsyncProxy::get`].
    pub async fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_within("AsyncProxy<QueueProxy>::get_timeout", Some(timeout))
            .await
    }

    async fn get_within(&self, name: &'static str, timeout: Option<Duration>) -> Result<T> {
        let resource = self.handle().resource();
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(item) = kept {
            return dec::<E, T>(name, resource, &item);
        }
        self.call_waiting(
            name,
            op::Q_GET,
            Undo::Keep,
            |out| Ok(Self::args(timeout, out)),
            |_, payload| dec::<E, T>(name, resource, payload),
        )
        .await
    }

    /// `await q.put(item)`: waits for room.
    ///
    /// # Errors
    ///
    /// As [`AsyncProxy::get`]; the item's encoding error (nothing is
    /// put then).
    pub async fn put(&self, item: &T) -> Result<()> {
        self.put_within("AsyncProxy<QueueProxy>::put", item, None)
            .await
    }

    /// `await q.put(item, timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] when no room came in time; as
    /// [`AsyncProxy::put`].
    pub async fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.put_within("AsyncProxy<QueueProxy>::put_timeout", item, Some(timeout))
            .await
    }

    async fn put_within(
        &self,
        name: &'static str,
        item: &T,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let resource = self.handle().resource();
        self.call_waiting(
            name,
            op::Q_PUT,
            Undo::Nothing,
            |out| {
                let at = Self::args(timeout, out);
                Ok(at + enc::<E, T>(name, resource, item, &mut out[at..])?)
            },
            |_, _| Ok(()),
        )
        .await
    }
}

impl<P: Proxied> Drop for AsyncProxy<P> {
    fn drop(&mut self) {
        let kept = self
            .kept
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(item) = kept else { return };
        // An item a dropped get had got goes back to the queue's front
        // (or to a getter waiting); to its back if the front has no room.
        let h = self.proxy.handle();
        const NAME: &str = "AsyncProxy::drop (an item kept)";
        let give_back = |code: u16, timeout: u64| {
            h.try_call(
                NAME,
                code,
                |out| {
                    let at = encode(&timeout, out);
                    let room = out.len() - at;
                    let to = out.get_mut(at..at + item.len()).ok_or_else(|| {
                        Error::new(
                            NAME,
                            h.resource(),
                            ErrorKind::CapacityExceeded { limit: room },
                        )
                    })?;
                    to.copy_from_slice(&item);
                    Ok(at + item.len())
                },
                |_, _, _| Ok(()),
            )
        };
        if give_back(op::Q_PUT_FRONT, 0).is_err() {
            let _ = give_back(op::Q_PUT, timeout_ns(Some(Duration::from_secs(1))));
        }
    }
}
