//! [`QueueProxy`]: Python's `manager.Queue(maxsize)`.

use std::marker::PhantomData;
use std::time::Duration;

use super::waits::timeout_ns;
use super::{Handle, Proxied, Token, encode};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::manager::protocol::{kind, op};
use crate::manager::wire::{Wire, fingerprint};

proxied!(
    /// A queue on the server (Python's `manager.Queue(maxsize)`): items `T`,
    /// at most its capacity, first in first out; puts and gets wait (or
    /// not, or for a time) as Python's do. Unlike the shared-memory
    /// [`Queue`](crate::ipc::Queue), unrelated programs reach it by name.
    QueueProxy [T: Wire] [T] (fn(T) -> T), kind::QUEUE, fingerprint::<T>(), 0
);

impl<T: Wire> QueueProxy<T> {
    fn put_waiting(&self, name: &'static str, item: &T, timeout: Option<Duration>) -> Result<()> {
        self.handle.call(
            name,
            op::Q_PUT,
            0,
            |out| encode(&timeout_ns(timeout), out) + encode(item, &mut out[8..]),
            |_, _, _| Some(()),
        )
    }

    fn get_waiting(&self, name: &'static str, timeout: Option<Duration>) -> Result<T> {
        self.handle.call(
            name,
            op::Q_GET,
            0,
            |out| encode(&timeout_ns(timeout), out),
            |_, _, p| T::decode(p),
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
