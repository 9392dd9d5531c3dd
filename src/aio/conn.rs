//! Pipe ends ([`Connection`]) and POSIX message queues awaited: the
//! descriptor itself in the reactor, the non-blocking forms tried.

use std::os::fd::AsFd;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::{io_error, register};
use crate::error::{ErrorKind, Resource, Result};
use crate::ipc::{Connection, MessageQueue};
use crate::shm::Item;

/// Runs `attempt` until it gives a value, waiting between tries for the
/// registered descriptor to be ready for `interest`. Only `attempt` takes
/// or sends, in the poll that returns: dropping the future loses nothing.
pub(super) async fn until<R>(
    op: &'static str,
    fd: std::os::fd::BorrowedFd<'_>,
    interest: Interest,
    mut attempt: impl FnMut() -> Result<Option<R>>,
) -> Result<R> {
    if let Some(r) = attempt()? {
        return Ok(r);
    }
    // Once, before paying for a registration: the peer may be about to
    // answer (as in `queue::until`).
    tokio::task::yield_now().await;
    if let Some(r) = attempt()? {
        return Ok(r);
    }
    let resource = Resource::Descriptor(std::os::fd::AsRawFd::as_raw_fd(&fd));
    let registered: AsyncFd<_> = register(op, fd, interest)?;
    loop {
        if let Some(r) = attempt()? {
            return Ok(r);
        }
        let mut guard = registered
            .ready(interest)
            .await
            .map_err(|e| io_error(op, resource, &e))?;
        guard.clear_ready();
    }
}

/// `Ok(None)` for the error that means "not yet".
pub(super) fn not_yet<R>(r: Result<R>, kind: ErrorKind) -> Result<Option<R>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == kind => Ok(None),
        Err(e) => Err(e),
    }
}

impl Connection {
    /// [`Connection::recv`], awaited (feature `tokio`). Dropping the
    /// future takes no message.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn recv_async<T: Item>(&self) -> Result<T> {
        until(
            "Connection::recv_async",
            self.as_fd(),
            Interest::READABLE,
            || self.try_recv(),
        )
        .await
    }

    /// [`Connection::recv_bytes`], awaited (feature `tokio`). Dropping
    /// the future takes no message.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv_bytes`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn recv_bytes_async(&self, buf: &mut [u8]) -> Result<usize> {
        until(
            "Connection::recv_bytes_async",
            self.as_fd(),
            Interest::READABLE,
            || self.try_recv_bytes(buf),
        )
        .await
    }

    /// [`Connection::send`], awaited (feature `tokio`): waits for room in
    /// the connection's buffer. Dropping the future sends nothing (a
    /// message goes whole or not at all).
    ///
    /// # Errors
    ///
    /// As [`Connection::send`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn send_async<T: Item>(&self, value: &T) -> Result<()> {
        until(
            "Connection::send_async",
            self.as_fd(),
            Interest::WRITABLE,
            || not_yet(self.try_send(value), ErrorKind::WouldBlock),
        )
        .await
    }

    /// [`Connection::send_bytes`], awaited (feature `tokio`), as
    /// [`Connection::send_async`].
    ///
    /// # Errors
    ///
    /// As [`Connection::send_bytes`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn send_bytes_async(&self, msg: &[u8]) -> Result<()> {
        until(
            "Connection::send_bytes_async",
            self.as_fd(),
            Interest::WRITABLE,
            || not_yet(self.try_send_bytes(msg), ErrorKind::WouldBlock),
        )
        .await
    }
}

impl MessageQueue {
    /// [`MessageQueue::receive`], awaited (feature `tokio`): the queue's
    /// descriptor is readable while a message is queued. Dropping the
    /// future takes no message.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::receive`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn receive_async(&self, buf: &mut [u8]) -> Result<(usize, u32)> {
        until(
            "MessageQueue::receive_async",
            self.as_fd(),
            Interest::READABLE,
            || not_yet(self.try_receive(buf), ErrorKind::Empty),
        )
        .await
    }

    /// [`MessageQueue::send`], awaited (feature `tokio`): the queue's
    /// descriptor is writable while it has room. Dropping the future
    /// sends nothing.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::send`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`].
    pub async fn send_async(&self, msg: &[u8], priority: u32) -> Result<()> {
        until(
            "MessageQueue::send_async",
            self.as_fd(),
            Interest::WRITABLE,
            || not_yet(self.try_send(msg, priority), ErrorKind::Full),
        )
        .await
    }
}
