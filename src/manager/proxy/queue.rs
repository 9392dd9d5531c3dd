//! [`QueueProxy`]: Python's `manager.Queue(maxsize)`.

use std::marker::PhantomData;
use std::time::Duration;

use super::waits::timeout_ns;
use super::{Handle, Proxied, Token, encode};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::manager::encoding::{Encoding, Fixed, dec, enc};
use crate::manager::protocol::{kind, op};

proxied!(
    /// A queue on the server (Python's `manager.Queue(maxsize)`): items `T`,
    /// at most its capacity, first in first out; puts and gets wait (or
    /// not, or for a time) as Python's do. Unlike the shared-memory
    /// [`Queue`](crate::ipc::Queue), unrelated programs reach it by name.
    ///
    /// `E` is how items travel: [`Fixed`] [`Wire`](crate::manager::Wire)
    /// items (made by [`Client::queue`](crate::manager::Client::queue)), or
    /// [`Serde`](crate::manager::Serde) items of any length (made by
    /// `Client::queue_serde`, feature
    /// `serde`; a put then waits for room in the queue's bytes too, and an
    /// item larger than all of them is [`ErrorKind::EncodedSize`] at once).
    QueueProxy [T, E: Encoding<T>] [T, E] struct [T, E = Fixed] (fn(T, E) -> T),
        kind::QUEUE, E::fingerprint(), 0
);

impl<T, E: Encoding<T>> QueueProxy<T, E> {
    fn put_waiting(&self, name: &'static str, item: &T, timeout: Option<Duration>) -> Result<()> {
        let resource = self.handle.resource();
        self.handle.try_call(
            name,
            op::Q_PUT,
            |out| {
                let at = encode(&timeout_ns(timeout), out);
                Ok(at + enc::<E, T>(name, resource, item, &mut out[at..])?)
            },
            |_, _, _| Ok(()),
        )
    }

    fn get_waiting(&self, name: &'static str, timeout: Option<Duration>) -> Result<T> {
        let resource = self.handle.resource();
        self.handle.try_call(
            name,
            op::Q_GET,
            |out| Ok(encode(&timeout_ns(timeout), out)),
            |_, _, p| dec::<E, T>(name, resource, p),
        )
    }

    /// `q.put(item)`: waits for room.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the queue
    /// was released.
    pub fn put(&self, item: &T) -> Result<()> {
        self.put_waiting("QueueProxy::put", item, None)
    }

    /// `q.put_nowait(item)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] (Python's `queue.Full`); as [`QueueProxy::put`].
    pub fn put_nowait(&self, item: &T) -> Result<()> {
        self.put_waiting("QueueProxy::put_nowait", item, Some(Duration::ZERO))
    }

    /// `q.put(item, timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] when no room came in time; as
    /// [`QueueProxy::put`].
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.put_waiting("QueueProxy::put_timeout", item, Some(timeout))
    }

    /// `q.get()`: waits for an item.
    ///
    /// # Errors
    ///
    /// As [`QueueProxy::put`].
    pub fn get(&self) -> Result<T> {
        self.get_waiting("QueueProxy::get", None)
    }

    /// `q.get_nowait()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] (Python's `queue.Empty`); as
    /// [`QueueProxy::put`].
    pub fn get_nowait(&self) -> Result<T> {
        self.get_waiting("QueueProxy::get_nowait", Some(Duration::ZERO))
    }

    /// `q.get(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] when no item came in time; as
    /// [`QueueProxy::put`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_waiting("QueueProxy::get_timeout", Some(timeout))
    }

    /// `q.qsize()`.
    ///
    /// # Errors
    ///
    /// As [`QueueProxy::put`].
    pub fn qsize(&self) -> Result<usize> {
        self.handle
            .number("QueueProxy::qsize", op::LEN)
            .map(|n| n as usize)
    }

    /// `q.empty()`.
    ///
    /// # Errors
    ///
    /// As [`QueueProxy::put`].
    pub fn empty(&self) -> Result<bool> {
        self.qsize().map(|n| n == 0)
    }

    /// `q.maxsize`: the most items it holds (for a queue made with
    /// `maxsize` 0, the largest one message allows).
    ///
    /// # Errors
    ///
    /// As [`QueueProxy::put`].
    pub fn maxsize(&self) -> Result<usize> {
        self.handle
            .call("QueueProxy::maxsize", op::LEN, 0, |_| 0, |_, b, _| Some(b))
            .map(|n| n as usize)
    }
}
