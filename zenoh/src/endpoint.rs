//! The local ends of a bridge: a [`Source`] the gateway takes items from
//! (an outbound bridge's) and a [`Sink`] it puts items into (an inbound
//! bridge's), implemented for mproc's `RecordQueue`, `ValueQueue` and
//! POSIX `MessageQueue`, and for an `Arc` of any of them.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::{MessageQueue, RecordQueue, ValueQueue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::frame::{RAW, serde_fingerprint};

/// A descriptor readable while a [`Source`] may hold an item (held by the
/// gateway while the bridge runs).
pub type Ready<'a> = Box<dyn AsFd + Send + 'a>;

/// A local queue an outbound bridge takes items from.
pub trait Source: Send + Sync + 'static {
    /// What its items are: [`RAW`] for raw bytes, else the
    /// type's fingerprint ([`serde_fingerprint`]).
    fn fingerprint(&self) -> u64;
    /// Takes the next item into `buf` (cleared first) without waiting:
    /// `false` when there is none.
    ///
    /// # Errors
    ///
    /// The queue's own (closed, a record too long for a message queue's
    /// buffer...).
    fn try_take(&self, buf: &mut Vec<u8>) -> mproc::Result<bool>;
    /// A descriptor readable while an item may be there.
    ///
    /// # Errors
    ///
    /// The queue's, when it cannot be watched.
    fn ready(&self) -> mproc::Result<Ready<'_>>;
}

/// A local queue an inbound bridge puts items into.
pub trait Sink: Send + Sync + 'static {
    /// What its items are, as [`Source::fingerprint`]: an item of
    /// another fingerprint is refused.
    fn fingerprint(&self) -> u64;
    /// Puts `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] when no room came; the queue's others (an item
    /// longer than it holds, closed).
    fn put(&self, item: &[u8], timeout: Duration) -> mproc::Result<()>;
}

/// `Ok(false)` for the error that means "nothing there".
fn none_if(r: mproc::Result<usize>, kind: ErrorKind) -> mproc::Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == kind => Ok(false),
        Err(e) => Err(e),
    }
}

impl Source for RecordQueue {
    fn fingerprint(&self) -> u64 {
        RAW
    }
    fn try_take(&self, buf: &mut Vec<u8>) -> mproc::Result<bool> {
        none_if(self.get_into_nowait(buf), ErrorKind::Empty)
    }
    fn ready(&self) -> mproc::Result<Ready<'_>> {
        Ok(Box::new(self.watch()?))
    }
}

impl Sink for RecordQueue {
    fn fingerprint(&self) -> u64 {
        RAW
    }
    fn put(&self, item: &[u8], timeout: Duration) -> mproc::Result<()> {
        self.put_timeout(item, timeout)
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Source for ValueQueue<T> {
    fn fingerprint(&self) -> u64 {
        serde_fingerprint::<T>()
    }
    fn try_take(&self, buf: &mut Vec<u8>) -> mproc::Result<bool> {
        self.records().try_take(buf)
    }
    fn ready(&self) -> mproc::Result<Ready<'_>> {
        Ok(Box::new(self.watch()?))
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Sink for ValueQueue<T> {
    fn fingerprint(&self) -> u64 {
        serde_fingerprint::<T>()
    }
    fn put(&self, item: &[u8], timeout: Duration) -> mproc::Result<()> {
        self.records().put_timeout(item, timeout)
    }
}

/// A message queue's messages, without their priority (the receiving
/// message queue gets priority 0).
impl Source for MessageQueue {
    fn fingerprint(&self) -> u64 {
        RAW
    }
    fn try_take(&self, buf: &mut Vec<u8>) -> mproc::Result<bool> {
        buf.clear();
        buf.resize(self.message_size(), 0);
        match self.try_receive(buf) {
            Ok((n, _)) => {
                buf.truncate(n);
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::Empty => Ok(false),
            Err(e) => Err(e),
        }
    }
    fn ready(&self) -> mproc::Result<Ready<'_>> {
        Ok(Box::new(self.as_fd()))
    }
}

impl Sink for MessageQueue {
    fn fingerprint(&self) -> u64 {
        RAW
    }
    fn put(&self, item: &[u8], timeout: Duration) -> mproc::Result<()> {
        self.send_timeout(item, 0, timeout)
    }
}

impl<S: Source> Source for Arc<S> {
    fn fingerprint(&self) -> u64 {
        (**self).fingerprint()
    }
    fn try_take(&self, buf: &mut Vec<u8>) -> mproc::Result<bool> {
        (**self).try_take(buf)
    }
    fn ready(&self) -> mproc::Result<Ready<'_>> {
        (**self).ready()
    }
}

impl<S: Sink> Sink for Arc<S> {
    fn fingerprint(&self) -> u64 {
        (**self).fingerprint()
    }
    fn put(&self, item: &[u8], timeout: Duration) -> mproc::Result<()> {
        (**self).put(item, timeout)
    }
}
