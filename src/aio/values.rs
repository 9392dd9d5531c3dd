//! The async forms of the serde routes (features `tokio` and `serde`):
//! values through connections, message queues and the queues of records.
//!
//! Connections and message queues wait on their own descriptor, as their
//! byte forms do. A queue of values waits for items on its watch; for
//! room (and for `join`) it looks again at each tick of a timer
//! descriptor, every [`ROOM_POLL`](super::ROOM_POLL)(super::ROOM_POLL), as
//! [`RecordQueue::put_async`](crate::ipc::RecordQueue::put_async) does.

use std::os::fd::AsFd;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::Interest;

use super::conn::{self, not_yet};
use super::queue::{until, until_ticks};
use crate::error::{ErrorKind, Result};
use crate::ipc::{Connection, MessageQueue, ValueJoinableQueue, ValueQueue, ValueSimpleQueue};

impl Connection {
    /// [`Connection::recv_value`], awaited (features `tokio` and
    /// `serde`). Dropping the future takes no message.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv_value`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn recv_value_async<T: DeserializeOwned>(&self) -> Result<T> {
        conn::until(
            "Connection::recv_value_async",
            self.as_fd(),
            Interest::READABLE,
            || self.try_recv_value(),
        )
        .await
    }

    /// [`Connection::send_value`], awaited (features `tokio` and
    /// `serde`): waits for room in the connection's buffer, encoding
    /// into this thread's buffer at each try. Dropping the future sends
    /// nothing (a message goes whole or not at all).
    ///
    /// # Errors
    ///
    /// As [`Connection::send_value`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn send_value_async<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        conn::until(
            "Connection::send_value_async",
            self.as_fd(),
            Interest::WRITABLE,
            || not_yet(self.try_send_value(value), ErrorKind::WouldBlock),
        )
        .await
    }
}

impl MessageQueue {
    /// [`MessageQueue::receive_value`], awaited (features `tokio` and
    /// `serde`): the value and its priority. Dropping the future takes no
    /// message.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::receive_value`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn receive_value_async<T: DeserializeOwned>(&self) -> Result<(T, u32)> {
        conn::until(
            "MessageQueue::receive_value_async",
            self.as_fd(),
            Interest::READABLE,
            || not_yet(self.try_receive_value(), ErrorKind::Empty),
        )
        .await
    }

    /// [`MessageQueue::send_value`], awaited (features `tokio` and
    /// `serde`): waits while the queue is full. Dropping the future sends
    /// nothing.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::send_value`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn send_value_async<T: Serialize + ?Sized>(
        &self,
        value: &T,
        priority: u32,
    ) -> Result<()> {
        conn::until(
            "MessageQueue::send_value_async",
            self.as_fd(),
            Interest::WRITABLE,
            || not_yet(self.try_send_value(value, priority), ErrorKind::Full),
        )
        .await
    }
}

impl<T: Serialize + DeserializeOwned> ValueQueue<T> {
    /// `ValueQueue::get`, awaited (features `tokio` and `serde`): waits on
    /// the queue's watch. Dropping the future takes nothing.
    ///
    /// # Errors
    ///
    /// As `ValueQueue::get`; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn get_async(&self) -> Result<T> {
        until(
            "ValueQueue::get_async",
            || self.watch(),
            || not_yet(self.get_nowait(), ErrorKind::Empty),
        )
        .await
    }

    /// `ValueQueue::put`, awaited (features `tokio` and `serde`): puts at
    /// once when the value fits; while the queue is full, looks again
    /// every [`ROOM_POLL`](super::ROOM_POLL) (a timer descriptor in the reactor: the queue
    /// has no descriptor for room, which depends on the value's length).
    /// Dropping the future puts nothing.
    ///
    /// # Errors
    ///
    /// As `ValueQueue::put` (a value longer than the queue can ever hold
    /// is `EncodedSize` at the first try, not a wait); outside a tokio
    /// runtime, [`ErrorKind::InvalidArgument`].
    pub async fn put_async(&self, value: &T) -> Result<()> {
        until_ticks("ValueQueue::put_async", self.resource(), || {
            not_yet(self.put_nowait(value), ErrorKind::Full)
        })
        .await
    }
}

impl<T: Serialize + DeserializeOwned> ValueJoinableQueue<T> {
    /// `ValueJoinableQueue::join`, awaited (features `tokio` and
    /// `serde`): looks at the unfinished count every [`ROOM_POLL`](super::ROOM_POLL).
    ///
    /// # Errors
    ///
    /// Outside a tokio runtime, [`ErrorKind::InvalidArgument`]; a timer
    /// descriptor that cannot be made (the process's descriptor limit).
    pub async fn join_async(&self) -> Result<()> {
        until_ticks("ValueJoinableQueue::join_async", self.resource(), || {
            Ok(self.join_timeout(Duration::ZERO).then_some(()))
        })
        .await
    }
}

impl<T: Serialize + DeserializeOwned> ValueSimpleQueue<T> {
    /// `ValueSimpleQueue::get`, awaited (features `tokio` and `serde`), as
    /// `ValueQueue::get_async`.
    ///
    /// # Errors
    ///
    /// As `ValueQueue::get_async`.
    pub async fn get_async(&self) -> Result<T> {
        self.inner().get_async().await
    }

    /// `ValueSimpleQueue::put`, awaited (features `tokio` and `serde`), as
    /// `ValueQueue::put_async`.
    ///
    /// # Errors
    ///
    /// As `ValueQueue::put_async`.
    pub async fn put_async(&self, value: &T) -> Result<()> {
        self.inner().put_async(value).await
    }
}
