//! Values of any `Serialize + DeserializeOwned` type through a
//! [`Connection`] and a [`MessageQueue`] (feature `serde`), encoded with
//! [`codec`](super::codec) (postcard).
//!
//! Python's `conn.send(obj)` / `conn.recv()` pickle any object;
//! [`Connection::send_value`] / [`Connection::recv_value`] take any serde
//! value and encode it with postcard, one value per message. The typed
//! [`Connection::send`] / [`Connection::recv`] stay the zero-copy route
//! for fixed-layout [`Shareable`](crate::shm::Shareable) values.
//!
//! **Buffers.** The transport allocates nothing once warm: a value is
//! encoded into a buffer that is reused. The plain forms use one buffer
//! per thread (a `Vec<u8>` that grows to the longest message sent or
//! received on that thread and keeps that size; the first messages of a
//! new size allocate it); the `*_in` forms use the caller's `Vec<u8>`,
//! which grows the same way and never shrinks (make it with
//! `Vec::with_capacity` for no allocation from the first call). Only the
//! received value's own type allocates when it is built (its `String`s,
//! `Vec`s…).

use std::cell::Cell;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec;
use super::mq::MessageQueue;
use super::pipe::Connection;
use crate::error::{ErrorKind, Result};
use crate::sys::Errno;
use crate::sys::mq::Wait;
use crate::sys::socket;

/// The first byte of every message [`Connection::send_value`] sends,
/// before the encoding: a message is never empty (an empty one would read
/// as end-of-stream), even for a value that encodes to nothing (`()`),
/// and plain bytes are told from a value.
const VALUE_TAG: u8 = 0xB5;

/// What raises a message queue's room for a value.
pub const QUEUE_KNOB: &str = "create the queue with a larger message size \
     (MessageQueue::create's message_size; at most /proc/sys/fs/mqueue/msgsize_max \
     unless privileged)";

/// What raises a connection's room for a value.
const SOCKET_KNOB: &str = "a Connection carries about its socket buffer (SO_SNDBUF)";

thread_local! {
    /// The plain forms' buffer: grows to the longest message, never shrinks.
    static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's buffer, taken out of its cell for the call
/// and put back after (a `Serialize` impl that itself sends, or a thread
/// ending, gets a fresh one).
fn with_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buf = BUFFER.try_with(Cell::take).unwrap_or_default();
    let result = f(&mut buf);
    let _ = BUFFER.try_with(|b| b.set(buf));
    result
}

/// Grows `buf` (never shrinks it) to at least `len` bytes, using its
/// whole capacity first.
fn grow(buf: &mut Vec<u8>, len: usize) {
    let want = len.max(buf.capacity());
    if buf.len() < want {
        buf.resize(want, 0);
    }
}

impl Connection {
    /// Encodes `value` after the tag byte into `buf` (grown as needed);
    /// returns the message's length.
    fn encode_message<T: Serialize + ?Sized>(
        &self,
        op: &'static str,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<usize> {
        grow(buf, 1);
        // Once into the buffer as it is; if short, once more into one grown
        // to the size the first pass found (a value whose size changes
        // between two passes gets the error).
        for last in [false, true] {
            let (tag, body) = buf.split_at_mut(1);
            tag[0] = VALUE_TAG;
            match codec::encode_as(op, self.resource(), SOCKET_KNOB, value, body) {
                Ok(len) => return Ok(1 + len),
                Err(e) => match e.kind() {
                    ErrorKind::EncodedSize { size, .. } if !last => grow(buf, 1 + size),
                    _ => return Err(e),
                },
            }
        }
        Err(self.error(
            op,
            ErrorKind::InvalidArgument("the value's size changed as it was encoded"),
        ))
    }

    fn send_value_with<T: Serialize + ?Sized>(
        &self,
        op: &'static str,
        value: &T,
        buf: &mut Vec<u8>,
        wait: bool,
    ) -> Result<()> {
        self.check_send(op, 1)?;
        let len = self.encode_message(op, value, buf)?;
        socket::send(self.fd(), &buf[..len], wait).map_err(|e| self.send_error(op, len, e))
    }

    /// Sends `value`, encoded with postcard, as one message (Python's
    /// `conn.send(obj)`, which pickles); the other end reads it with
    /// [`Connection::recv_value`]. [`Connection::send`] is the route for a
    /// fixed-layout [`Shareable`](crate::shm::Shareable) value, copied as
    /// it is. Encodes into this thread's reusable buffer (a per-thread
    /// `Vec<u8>` that grows to the longest message and keeps that size); waits while the connection's buffer is full.
    ///
    /// ```
    /// # #[cfg(feature = "serde")] {
    /// use mproc::ipc::Pipe;
    ///
    /// // Python: a.send({"name": "job", "data": b"xyz"}); b.recv()
    /// let (a, b) = Pipe::duplex()?;
    /// a.send_value(&("job", vec![1u8, 2, 3]))?;
    /// let (name, data): (String, Vec<u8>) = b.recv_value()?;
    /// assert_eq!((name.as_str(), data.len()), ("job", 3));
    /// # }
    /// # Ok::<(), mproc::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a value postcard cannot encode
    /// (see [`codec::encode`]); otherwise as [`Connection::send_bytes`]
    /// ([`ErrorKind::MessageSize`] past what the connection carries).
    /// Nothing is sent on an error.
    ///
    /// [`ErrorKind::InvalidArgument`]: crate::ErrorKind::InvalidArgument
    /// [`ErrorKind::MessageSize`]: crate::ErrorKind::MessageSize
    pub fn send_value<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        with_buffer(|buf| self.send_value_with("Connection::send_value", value, buf, true))
    }

    /// [`Connection::send_value`] encoding into `buf`, grown as needed
    /// and never shrunk: no allocation once it is as long as the
    /// message (one tag byte, then the encoding).
    ///
    /// # Errors
    ///
    /// As [`Connection::send_value`].
    pub fn send_value_in<T: Serialize + ?Sized>(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
        self.send_value_with("Connection::send_value_in", value, buf, true)
    }

    /// [`Connection::send_value`] without waiting: [`ErrorKind::WouldBlock`]
    /// when the connection's buffer has no room for the message now, and
    /// nothing is sent (Python's `send` has no such form; this is the one
    /// an event loop calls when the descriptor is writable).
    ///
    /// # Errors
    ///
    /// As [`Connection::send_value`], and [`ErrorKind::WouldBlock`].
    ///
    /// [`ErrorKind::WouldBlock`]: crate::ErrorKind::WouldBlock
    pub fn try_send_value<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        with_buffer(|buf| self.send_value_with("Connection::try_send_value", value, buf, false))
    }

    /// Takes the next message into `buf`, sized from the message itself
    /// (so nothing is ever cut), and decodes it.
    fn recv_value_with<T: DeserializeOwned>(
        &self,
        op: &'static str,
        buf: &mut Vec<u8>,
        wait: bool,
    ) -> Result<Option<T>> {
        self.check_recv(op)?;
        let len = match socket::peek_len(self.fd(), wait) {
            Ok(0) => return Err(self.error(op, ErrorKind::EndOfStream)),
            Ok(len) => len,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(crate::Error::os(op, self.resource(), e)),
        };
        grow(buf, len);
        let got = match socket::recv(self.fd(), buf, wait) {
            Ok(0) => return Err(self.error(op, ErrorKind::EndOfStream)),
            Ok(got) => got,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(crate::Error::os(op, self.resource(), e)),
        };
        if got > buf.len() {
            // Another receiver took the peeked message: this one is longer.
            return Err(self.error(
                op,
                ErrorKind::MessageSize {
                    size: got,
                    capacity: buf.len(),
                },
            ));
        }
        match buf[..got].split_first() {
            Some((&VALUE_TAG, body)) => codec::decode_as(op, self.resource(), body).map(Some),
            _ => Err(self.error(
                op,
                ErrorKind::InvalidData("not a value message (no send_value tag byte)"),
            )),
        }
    }

    /// Waits for the next message and decodes it as a `T` (Python's
    /// `conn.recv()`, for a value sent with [`Connection::send_value`]).
    /// The message's length is read first (`MSG_PEEK | MSG_TRUNC`), the
    /// buffer (this thread's, a `Vec<u8>` that keeps its size) grown to it:
    /// a value of any size is taken whole.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when the message is not a value of type
    /// `T` sent by `send_value` (plain bytes, another type, garbage): it
    /// is taken and dropped, the messages after it untouched;
    /// [`ErrorKind::EndOfStream`] and the others as
    /// [`Connection::recv_bytes`].
    ///
    /// [`ErrorKind::InvalidData`]: crate::ErrorKind::InvalidData
    /// [`ErrorKind::EndOfStream`]: crate::ErrorKind::EndOfStream
    pub fn recv_value<T: DeserializeOwned>(&self) -> Result<T> {
        with_buffer(|buf| self.recv_value_in_as("Connection::recv_value", buf))
    }

    /// [`Connection::recv_value`] into `buf`, grown to the message's
    /// length and never shrunk: no allocation by the transport once it is
    /// as long as the longest message.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv_value`].
    pub fn recv_value_in<T: DeserializeOwned>(&self, buf: &mut Vec<u8>) -> Result<T> {
        self.recv_value_in_as("Connection::recv_value_in", buf)
    }

    fn recv_value_in_as<T: DeserializeOwned>(
        &self,
        op: &'static str,
        buf: &mut Vec<u8>,
    ) -> Result<T> {
        loop {
            if let Some(value) = self.recv_value_with(op, buf, true)? {
                return Ok(value);
            }
        }
    }

    /// [`Connection::recv_value`] without waiting: `Ok(None)` when no
    /// message is there.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv_value`].
    pub fn try_recv_value<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        with_buffer(|buf| self.recv_value_with("Connection::try_recv_value", buf, false))
    }

    /// [`Connection::recv_value`] waiting at most `timeout`: `Ok(None)`
    /// when no message came.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv_value`].
    pub fn recv_value_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<Option<T>> {
        const OP: &str = "Connection::recv_value_timeout";
        with_buffer(|buf| self.timed(OP, timeout, || self.recv_value_with(OP, buf, false)))
    }
}

impl MessageQueue {
    fn send_value_with<T: Serialize + ?Sized>(
        &self,
        op: &'static str,
        value: &T,
        priority: u32,
        wait: Wait,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let room = self.message_size();
        grow(buf, room);
        let len = codec::encode_as(op, self.resource(), QUEUE_KNOB, value, &mut buf[..room])?;
        self.send_with(op, &buf[..len], priority, wait)
    }

    /// Sends `value`, encoded with postcard, as one message with
    /// `priority` (0 to 32767, higher first), waiting while the queue is
    /// full; [`MessageQueue::receive_value`] decodes it. Encodes into this
    /// thread's reusable buffer (a `Vec<u8>` that grows to the queue's
    /// message size and keeps it).
    ///
    /// ```no_run
    /// # #[cfg(feature = "serde")] {
    /// use mproc::ipc::MessageQueue;
    ///
    /// let q = MessageQueue::create("/jobs", 8, 256)?;
    /// q.send_value(&vec!["a".to_string(), "b".to_string()], 1)?;
    /// let (paths, priority): (Vec<String>, u32) = q.receive_value()?;
    /// assert_eq!((paths.len(), priority), (2, 1));
    /// # }
    /// # Ok::<(), mproc::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EncodedSize`] when the encoding is longer than the
    /// queue's message size (naming both, and [`QUEUE_KNOB`]);
    /// [`ErrorKind::InvalidArgument`] for a value postcard cannot encode or
    /// a priority of [`PRIORITY_LIMIT`](super::PRIORITY_LIMIT) or more.
    /// Nothing is sent on an error.
    ///
    /// [`ErrorKind::EncodedSize`]: crate::ErrorKind::EncodedSize
    /// [`ErrorKind::InvalidArgument`]: crate::ErrorKind::InvalidArgument
    pub fn send_value<T: Serialize + ?Sized>(&self, value: &T, priority: u32) -> Result<()> {
        const OP: &str = "MessageQueue::send_value";
        with_buffer(|buf| self.send_value_with(OP, value, priority, Wait::Forever, buf))
    }

    /// [`MessageQueue::send_value`] without waiting: [`ErrorKind::Full`]
    /// when the queue is full.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::send_value`], and [`ErrorKind::Full`].
    ///
    /// [`ErrorKind::Full`]: crate::ErrorKind::Full
    pub fn try_send_value<T: Serialize + ?Sized>(&self, value: &T, priority: u32) -> Result<()> {
        const OP: &str = "MessageQueue::try_send_value";
        with_buffer(|buf| self.send_value_with(OP, value, priority, Wait::Never, buf))
    }

    /// [`MessageQueue::send_value`] waiting at most `timeout`:
    /// [`ErrorKind::Full`] when the queue stayed full.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::try_send_value`].
    ///
    /// [`ErrorKind::Full`]: crate::ErrorKind::Full
    pub fn send_value_timeout<T: Serialize + ?Sized>(
        &self,
        value: &T,
        priority: u32,
        timeout: Duration,
    ) -> Result<()> {
        const OP: &str = "MessageQueue::send_value_timeout";
        with_buffer(|buf| self.send_value_with(OP, value, priority, Wait::For(timeout), buf))
    }

    /// [`MessageQueue::send_value`] encoding into `buf`, grown to the
    /// queue's message size and never shrunk: no allocation once it is
    /// that long.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::send_value`].
    pub fn send_value_in<T: Serialize + ?Sized>(
        &self,
        value: &T,
        priority: u32,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        const OP: &str = "MessageQueue::send_value_in";
        self.send_value_with(OP, value, priority, Wait::Forever, buf)
    }

    fn receive_value_with<T: DeserializeOwned>(
        &self,
        op: &'static str,
        wait: Wait,
        buf: &mut Vec<u8>,
    ) -> Result<(T, u32)> {
        grow(buf, self.message_size());
        let (len, priority) = self.receive_with(op, buf, wait)?;
        let value = codec::decode_as(op, self.resource(), &buf[..len])?;
        Ok((value, priority))
    }

    /// Waits for the highest-priority message and decodes it as a `T`,
    /// returning it with its priority (a value sent with
    /// [`MessageQueue::send_value`]). Receives into this thread's
    /// reusable buffer, grown to the queue's message size.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when the message is not a value of type
    /// `T` (it is taken and dropped; the queue goes on).
    ///
    /// [`ErrorKind::InvalidData`]: crate::ErrorKind::InvalidData
    pub fn receive_value<T: DeserializeOwned>(&self) -> Result<(T, u32)> {
        const OP: &str = "MessageQueue::receive_value";
        with_buffer(|buf| self.receive_value_with(OP, Wait::Forever, buf))
    }

    /// [`MessageQueue::receive_value`] without waiting:
    /// [`ErrorKind::Empty`] when no message is there.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::receive_value`], and [`ErrorKind::Empty`].
    ///
    /// [`ErrorKind::Empty`]: crate::ErrorKind::Empty
    pub fn try_receive_value<T: DeserializeOwned>(&self) -> Result<(T, u32)> {
        const OP: &str = "MessageQueue::try_receive_value";
        with_buffer(|buf| self.receive_value_with(OP, Wait::Never, buf))
    }

    /// [`MessageQueue::receive_value`] waiting at most `timeout`:
    /// [`ErrorKind::Empty`] when nothing came.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::try_receive_value`].
    ///
    /// [`ErrorKind::Empty`]: crate::ErrorKind::Empty
    pub fn receive_value_timeout<T: DeserializeOwned>(
        &self,
        timeout: Duration,
    ) -> Result<(T, u32)> {
        const OP: &str = "MessageQueue::receive_value_timeout";
        with_buffer(|buf| self.receive_value_with(OP, Wait::For(timeout), buf))
    }

    /// [`MessageQueue::receive_value`] into `buf`, grown to the queue's
    /// message size and never shrunk: no allocation by the transport once
    /// it is that long.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::receive_value`].
    pub fn receive_value_in<T: DeserializeOwned>(&self, buf: &mut Vec<u8>) -> Result<(T, u32)> {
        const OP: &str = "MessageQueue::receive_value_in";
        self.receive_value_with(OP, Wait::Forever, buf)
    }
}
