//! [`Detached`] and [`Pending`]: a manager proxy on a connection of its
//! own whose waits are started, then finished when its descriptor says
//! so, on any event loop; withdrawn when dropped.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::waits::timeout_ns;
use super::{EventProxy, Handle, LockProxy, Proxied, QueueProxy, RLockProxy, encode};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::encoding::{Encoding, dec, enc};
use crate::manager::link::Link;
use crate::manager::protocol::op;

/// A manager proxy on a connection of its own, for waiting without
/// blocking the thread: each wait is started ([`Detached::begin_acquire`],
/// [`begin_wait`](Detached::begin_wait), [`begin_get`](Detached::begin_get),
/// [`begin_put`](Detached::begin_put)) and returns a [`Pending`], finished
/// with [`Pending::try_finish`] whenever the detached proxy's descriptor
/// ([`AsFd`]) is readable, in an epoll loop or any runtime's reactor.
/// [`AsyncProxy`](crate::manager::AsyncProxy) (feature `tokio`) is this
/// with the awaiting done on tokio's reactor.
///
/// ```no_run
/// # fn f(m: &mproc::manager::Client) -> mproc::Result<()> {
/// use std::os::fd::AsFd;
/// use mproc::manager::Detached;
///
/// let lock = m.lock()?;
/// let d = Detached::new(&lock)?;
/// let mut pending = d.begin_acquire(None)?;
/// let guard = loop {
///     if let Some(taken) = pending.try_finish()? {
///         break taken;
///     }
///     // Other work; or park until the descriptor is readable (an epoll
///     // set, a reactor, or mproc's own wait):
///     mproc::ipc::wait(&[d.as_fd()], None)?;
/// };
/// # drop(guard); Ok(()) }
/// ```
///
/// A detached proxy talks to the server over a connection of its own (one
/// of the server's `MPROC_MANAGER_CONNECTIONS`): its waits never hold up
/// the synchronous calls of the same process, and a lock it takes is held
/// by that connection (release it with the guard). One wait at a time is
/// in flight: starting another meanwhile is refused. It is used by the
/// process that made it.
///
/// # Dropping a wait
///
/// A [`Pending`] dropped before it finished withdraws its request: the
/// server forgets it, having done nothing. If the server had answered it
/// already (the two crossed), the drop undoes the answer: a lock taken is
/// released; an item got is kept for the next `get` of this detached
/// proxy, and given back to the queue's front when the detached proxy is
/// dropped (past the queue's `maxsize` by one item if it filled up
/// meanwhile: the item was in it a moment ago; a second such item while
/// it is still over waits up to a second for room). A `put` that had gone
/// in stays in. No item is lost and no lock is left held.
pub struct Detached<P: Proxied> {
    /// The proxy on this one's own connection.
    proxy: P,
    /// That connection's socket, readable when the server rang.
    socket: OwnedFd,
    /// Whether a wait is in flight.
    busy: AtomicBool,
    /// An item whose `get` was dropped after the server had answered it.
    kept: Mutex<Option<Vec<u8>>>,
}

impl<P: Proxied> std::fmt::Debug for Detached<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detached")
            .field("handle", self.proxy.handle())
            .finish_non_exhaustive()
    }
}

impl<P: Proxied> AsFd for Detached<P> {
    /// Readable when the server answered the wait in flight (or the
    /// connection ended): call [`Pending::try_finish`] then. Readiness
    /// may also be spurious.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl<P: Proxied> AsRawFd for Detached<P> {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// What a dropped wait whose answer crossed its withdrawal undoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Undo {
    Nothing,
    /// A lock was taken: release it.
    Release,
    /// An item was got: keep it for the next get.
    Keep,
}

impl<P: Proxied> Detached<P> {
    /// A detached proxy of the object `proxy` names, on a connection of
    /// its own to the same server.
    ///
    /// # Errors
    ///
    /// As [`Manager::connect`](crate::manager::Manager::connect).
    pub fn new(proxy: &P) -> Result<Detached<P>> {
        const OP: &str = "Detached::new";
        let h = proxy.handle();
        let link = Link::connect(h.link.address())?;
        let socket = link.socket(OP)?;
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
        Ok(Detached {
            proxy: P::from_handle(handle),
            socket,
            busy: AtomicBool::new(false),
            kept: Mutex::new(None),
        })
    }

    /// The proxy on this one's connection, for its calls that do not wait
    /// (a queue's `qsize`, an event's `set`...).
    pub fn proxy(&self) -> &P {
        &self.proxy
    }

    pub(crate) fn handle(&self) -> &Handle {
        self.proxy.handle()
    }

    /// Starts a request that may wait.
    fn begin<'a, R>(
        &'a self,
        name: &'static str,
        code: u16,
        undo: Undo,
        fill: impl FnOnce(&mut [u8]) -> Result<usize>,
        decode: fn(&'a Detached<P>, &'static str, u64, &[u8]) -> Result<R>,
    ) -> Result<Pending<'a, P, R>> {
        let h = self.handle();
        if self.busy.swap(true, Ordering::Acquire) {
            return Err(Error::new(
                name,
                h.resource(),
                ErrorKind::InvalidArgument("a wait of this detached proxy is in flight already"),
            ));
        }
        let seq = match h.link.send(name, h.request(code, 0), fill) {
            Ok(seq) => seq,
            Err(e) => {
                self.busy.store(false, Ordering::Release);
                return Err(e);
            }
        };
        Ok(Pending {
            detached: self,
            seq,
            name,
            undo,
            decode,
            kept: false,
            done: false,
        })
    }

    /// A get answered by the item kept from a dropped one: nothing is
    /// sent; the item is taken when the wait finishes.
    fn answer_kept<'a, R>(
        &'a self,
        name: &'static str,
        decode: fn(&'a Detached<P>, &'static str, u64, &[u8]) -> Result<R>,
    ) -> Result<Pending<'a, P, R>> {
        if self.busy.swap(true, Ordering::Acquire) {
            return Err(Error::new(
                name,
                self.handle().resource(),
                ErrorKind::InvalidArgument("a wait of this detached proxy is in flight already"),
            ));
        }
        Ok(Pending {
            detached: self,
            seq: 0,
            name,
            undo: Undo::Nothing,
            decode,
            kept: true,
            done: false,
        })
    }
}

/// The error of a pending wait finished twice.
fn finished_already(name: &'static str, resource: crate::error::Resource) -> Error {
    Error::new(
        name,
        resource,
        ErrorKind::InvalidArgument("this wait has finished already"),
    )
}

/// A wait of a [`Detached`] proxy in flight: finished with
/// [`try_finish`](Pending::try_finish), withdrawn when dropped before.
#[must_use = "a wait dropped before it finished is withdrawn"]
pub struct Pending<'a, P: Proxied, R> {
    detached: &'a Detached<P>,
    seq: u32,
    name: &'static str,
    undo: Undo,
    decode: fn(&'a Detached<P>, &'static str, u64, &[u8]) -> Result<R>,
    /// Answered by the item kept from a dropped get: nothing was sent.
    kept: bool,
    done: bool,
}

impl<P: Proxied, R> std::fmt::Debug for Pending<'_, P, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("op", &self.name)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<'a, P: Proxied, R> Pending<'a, P, R> {
    /// The answer, once the server has given it (`None` before: wait for
    /// the detached proxy's descriptor to be readable, then call again).
    /// Each call that returns `None` leaves the server asked to ring the
    /// descriptor when it answers.
    ///
    /// # Errors
    ///
    /// The wait's own (a timeout, a released object, the server gone); a
    /// call after the answer was taken.
    pub fn try_finish(&mut self) -> Result<Option<R>> {
        let d = self.detached;
        if self.done {
            return Err(finished_already(self.name, d.handle().resource()));
        }
        if self.kept {
            self.finish();
            let item = d.kept.lock().unwrap_or_else(|p| p.into_inner()).take();
            let item = item.ok_or_else(|| finished_already(self.name, d.handle().resource()))?;
            return (self.decode)(d, self.name, 0, &item).map(Some);
        }
        let link = &d.handle().link;
        loop {
            if link.ready(self.seq, self.name)? {
                self.finish();
                let (name, decode) = (self.name, self.decode);
                return link
                    .take(self.seq, name, d.handle().resource(), |r, payload| {
                        decode(d, name, r.a, payload)
                    })
                    .map(Some);
            }
            if !link.arm(self.seq, self.name)? {
                return Ok(None);
            }
        }
    }

    /// Whether the server answered (a [`try_finish`](Pending::try_finish)
    /// would return the answer), without taking it.
    ///
    /// # Errors
    ///
    /// The server gone.
    pub fn is_ready(&self) -> Result<bool> {
        if self.kept {
            return Ok(true);
        }
        self.detached.handle().link.ready(self.seq, self.name)
    }

    fn finish(&mut self) {
        self.done = true;
        let link = &self.detached.handle().link;
        link.disarm();
        self.detached.busy.store(false, Ordering::Release);
    }
}

impl<P: Proxied, R> Drop for Pending<'_, P, R> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let d = self.detached;
        d.busy.store(false, Ordering::Release);
        if self.kept {
            // Nothing sent; the kept item stays for the next get.
            return;
        }
        let h = d.handle();
        let mut kept = d.kept.lock().unwrap_or_else(|p| p.into_inner());
        let mut payload = kept.take().unwrap_or_default();
        let crossed = h.link.withdraw(self.seq, self.name, &mut payload);
        match (crossed, self.undo) {
            (Ok(Some(c)), Undo::Release) if c.a != 0 => {
                let _ = release(h, "Pending::drop (a lock taken as it was withdrawn)");
            }
            (Ok(Some(c)), Undo::Keep) => {
                payload.truncate(c.len);
                *kept = Some(payload);
            }
            _ => {}
        }
    }
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

/// A lock taken through a [`Detached`] (or an
/// [`AsyncProxy`](crate::manager::AsyncProxy)): released, through the same
/// connection, when dropped.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct DetachedGuard<'a> {
    handle: &'a Handle,
}

impl Drop for DetachedGuard<'_> {
    fn drop(&mut self) {
        let _ = release(self.handle, "DetachedGuard::drop");
    }
}

/// A waiting request's timeout argument.
fn args(timeout: Option<Duration>, out: &mut [u8]) -> usize {
    encode(&timeout_ns(timeout), out)
}

macro_rules! detached_lock {
    ($proxy:ident, $py:literal) => {
        impl Detached<$proxy> {
            #[doc = concat!("Starts `", $py, ".acquire(timeout=t)` (`None`: no limit). Its answer: the guard when taken, `None` when the time ran out.")]
            ///
            /// # Errors
            ///
            /// A wait of this detached proxy in flight already
            /// ([`ErrorKind::InvalidArgument`]); [`ErrorKind::ManagerGone`].
            pub fn begin_acquire(
                &self,
                timeout: Option<Duration>,
            ) -> Result<Pending<'_, $proxy, Option<DetachedGuard<'_>>>> {
                self.begin(
                    concat!("Detached<", stringify!($proxy), ">::acquire"),
                    op::ACQUIRE,
                    Undo::Release,
                    |out| Ok(args(timeout, out)),
                    |d, _, a, _| {
                        Ok((a != 0).then(|| DetachedGuard {
                            handle: d.handle(),
                        }))
                    },
                )
            }
        }
    };
}

detached_lock!(LockProxy, "lock");
detached_lock!(RLockProxy, "rlock");

impl Detached<EventProxy> {
    /// Starts `event.wait(timeout)` (`None`: no limit). Its answer:
    /// whether the event is set.
    ///
    /// # Errors
    ///
    /// As [`Detached::begin_acquire`].
    pub fn begin_wait(&self, timeout: Option<Duration>) -> Result<Pending<'_, EventProxy, bool>> {
        self.begin(
            "Detached<EventProxy>::wait",
            op::WAIT,
            Undo::Nothing,
            |out| Ok(args(timeout, out)),
            |_, _, a, _| Ok(a != 0),
        )
    }
}

impl<T, E: Encoding<T>> Detached<QueueProxy<T, E>> {
    /// Starts `q.get(timeout=t)` (`None`: no limit). Its answer: the item
    /// ([`ErrorKind::Empty`] when none came in time).
    ///
    /// # Errors
    ///
    /// As [`Detached::begin_acquire`].
    pub fn begin_get(&self, timeout: Option<Duration>) -> Result<Pending<'_, QueueProxy<T, E>, T>> {
        const NAME: &str = "Detached<QueueProxy>::get";
        fn decode<P: Proxied, T, E: Encoding<T>>(
            d: &Detached<P>,
            name: &'static str,
            _: u64,
            payload: &[u8],
        ) -> Result<T> {
            dec::<E, T>(name, d.handle().resource(), payload)
        }
        let has_kept = self
            .kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if has_kept {
            return self.answer_kept(NAME, decode::<QueueProxy<T, E>, T, E>);
        }
        self.begin(
            NAME,
            op::Q_GET,
            Undo::Keep,
            |out| Ok(args(timeout, out)),
            decode::<QueueProxy<T, E>, T, E>,
        )
    }

    /// Starts `q.put(item, timeout=t)` (`None`: no limit); the item is
    /// encoded now. Its answer: `()` once in ([`ErrorKind::Full`] when no
    /// room came in time).
    ///
    /// # Errors
    ///
    /// The item's encoding error (nothing is sent); as
    /// [`Detached::begin_acquire`].
    pub fn begin_put(
        &self,
        item: &T,
        timeout: Option<Duration>,
    ) -> Result<Pending<'_, QueueProxy<T, E>, ()>> {
        const NAME: &str = "Detached<QueueProxy>::put";
        let resource = self.handle().resource();
        self.begin(
            NAME,
            op::Q_PUT,
            Undo::Nothing,
            |out| {
                let at = args(timeout, out);
                Ok(at + enc::<E, T>(NAME, resource, item, &mut out[at..])?)
            },
            |_, _, _, _| Ok(()),
        )
    }
}

impl<P: Proxied> Drop for Detached<P> {
    fn drop(&mut self) {
        let kept = self
            .kept
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(item) = kept else { return };
        // An item a dropped get had got goes back to the queue's front
        // (or to a getter waiting), past its capacity by one if need be;
        // to its back, when there is room, if it is over already.
        const NAME: &str = "Detached::drop (an item kept)";
        let h = self.proxy.handle();
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
