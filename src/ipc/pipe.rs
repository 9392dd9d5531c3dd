//! [`Pipe`] and its [`Connection`] ends: `AF_UNIX` `SOCK_SEQPACKET` socket
//! pairs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::Item;
use crate::sys::socket::{self, Shut};
use crate::sys::{self, Errno};

/// Python's `multiprocessing.Pipe`: makes two connected [`Connection`]
/// ends. Make it before forking; each process then keeps the end it uses
/// (and may drop the other).
///
/// Both kinds are an `AF_UNIX` `SOCK_SEQPACKET` socket pair: the kernel
/// keeps message boundaries and order, tells a message's real length as it
/// is taken (so a message too long for the receiver's buffer is reported
/// with its size, one system call per receive), and sends with
/// `MSG_NOSIGNAL` (a
/// closed peer is an error, not a `SIGPIPE`). A plain pipe in packet mode
/// (`O_DIRECT`) would cut messages at `PIPE_BUF` and silently drop the rest
/// of one read into a short buffer.
#[derive(Debug)]
pub struct Pipe;

impl Pipe {
    /// Two ends that both send and receive (Python's `Pipe()` /
    /// `Pipe(duplex=True)`).
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when no descriptors are left.
    pub fn duplex() -> Result<(Connection, Connection)> {
        let (a, b) = socket::seqpacket_pair().map_err(pair_error)?;
        Ok((
            Connection::new(a, true, true),
            Connection::new(b, true, true),
        ))
    }

    /// A receiving end and a sending end, in that order (Python's
    /// `Pipe(duplex=False)` returns `(reader, writer)` too).
    ///
    /// # Errors
    ///
    /// As [`Pipe::duplex`].
    pub fn simplex() -> Result<(Connection, Connection)> {
        let (r, w) = socket::seqpacket_pair().map_err(pair_error)?;
        // One way only: the kernel refuses the other direction too.
        socket::shutdown(&r, Shut::Write).map_err(pair_error)?;
        socket::shutdown(&w, Shut::Read).map_err(pair_error)?;
        Ok((
            Connection::new(r, true, false),
            Connection::new(w, false, true),
        ))
    }
}

fn pair_error(e: Errno) -> Error {
    Error::os("Pipe::new", Resource::CurrentProcess, e)
}

/// One end of a [`Pipe`] (Python's `multiprocessing.connection.Connection`).
///
/// Sends and receives are each one system call or two (a receive first
/// looks at the next message's length); none allocates. One process (or
/// thread) should receive on an end at a time, as in Python: two
/// concurrent receivers may each see the other's message length.
///
/// `Send` and `Sync` (a descriptor): an end may move into another thread
/// or an async task. It is `AsFd` and `AsRawFd`, readable when a message
/// (or the peer's end) is there: an event loop or a runtime's reactor
/// waits on it; with the `tokio` feature, `mproc::aio` awaits it.
#[derive(Debug)]
pub struct Connection {
    fd: OwnedFd,
    readable: bool,
    writable: bool,
}

impl Connection {
    pub(super) fn new(fd: OwnedFd, readable: bool, writable: bool) -> Connection {
        Connection {
            fd,
            readable,
            writable,
        }
    }

    pub(super) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// The socket itself, for a protocol built on it (the manager's).
    #[cfg_attr(
        not(all(feature = "pool", feature = "manager", feature = "server")),
        allow(dead_code)
    )]
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    pub(super) fn resource(&self) -> Resource {
        Resource::Connection {
            fd: self.fd.as_raw_fd(),
        }
    }

    pub(super) fn error(&self, op: &'static str, kind: ErrorKind) -> Error {
        Error::new(op, self.resource(), kind)
    }

    /// Whether this end receives (Python's `readable`).
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end sends (Python's `writable`).
    pub fn writable(&self) -> bool {
        self.writable
    }

    pub(super) fn check_send(&self, op: &'static str, len: usize) -> Result<()> {
        if !self.writable {
            return Err(self.error(
                op,
                ErrorKind::InvalidArgument("this end of a simplex pipe only receives"),
            ));
        }
        if len == 0 {
            return Err(self.error(
                op,
                ErrorKind::InvalidArgument("a message holds at least one byte"),
            ));
        }
        Ok(())
    }

    pub(super) fn send_error(&self, op: &'static str, len: usize, e: Errno) -> Error {
        match e {
            Errno::EPIPE | Errno::ECONNRESET | Errno::ENOTCONN => {
                self.error(op, ErrorKind::BrokenPipe)
            }
            Errno::EAGAIN => self.error(op, ErrorKind::WouldBlock),
            Errno::EMSGSIZE | Errno::ENOBUFS => self.error(
                op,
                ErrorKind::MessageSize {
                    size: len,
                    capacity: socket::send_buffer(&self.fd).unwrap_or(0),
                },
            ),
            e => Error::os(op, self.resource(), e),
        }
    }

    /// Sends `msg` as one message, waiting while the connection's buffer is
    /// full (Python's `send_bytes`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenPipe`] when the other end is closed;
    /// [`ErrorKind::MessageSize`] when `msg` is longer than the connection
    /// carries (about its socket buffer, 208 KiB by default);
    /// [`ErrorKind::InvalidArgument`] for an empty message or a receive-only
    /// end. Nothing is sent on an error.
    pub fn send_bytes(&self, msg: &[u8]) -> Result<()> {
        const OP: &str = "Connection::send_bytes";
        self.check_send(OP, msg.len())?;
        socket::send(&self.fd, msg, true).map_err(|e| self.send_error(OP, msg.len(), e))
    }

    /// [`Connection::send_bytes`] without waiting: [`ErrorKind::WouldBlock`]
    /// when the buffer is full.
    ///
    /// # Errors
    ///
    /// As [`Connection::send_bytes`], and [`ErrorKind::WouldBlock`].
    pub fn try_send_bytes(&self, msg: &[u8]) -> Result<()> {
        const OP: &str = "Connection::try_send_bytes";
        self.check_send(OP, msg.len())?;
        socket::send(&self.fd, msg, false).map_err(|e| self.send_error(OP, msg.len(), e))
    }

    /// Sends `value` as one message of its stored form,
    /// `size_of::<T::Repr>()` bytes (Python's `send(obj)`, for a
    /// fixed-size [`Item`] — numbers, `bool`, `char`, tuples, `Option`s,
    /// arrays, `#[derive(Shareable)]` and `#[derive(Item)]` types —
    /// instead of a pickled one).
    ///
    /// ```no_run
    /// use mproc::ipc::Pipe;
    ///
    /// let (a, b) = Pipe::duplex()?;
    /// a.send(&(1u32, Some(2u64)))?;
    /// assert_eq!(b.recv::<(u32, Option<u64>)>()?, (1, Some(2)));
    /// # Ok::<(), mproc::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Connection::send_bytes`] (a zero-sized stored form, such as
    /// `[u8; 0]`, is an empty message).
    pub fn send<T: Item>(&self, value: &T) -> Result<()> {
        const OP: &str = "Connection::send";
        let len = std::mem::size_of::<T::Repr>();
        self.check_send(OP, len)?;
        socket::send_value(&self.fd, &value.to_repr(), true)
            .map_err(|e| self.send_error(OP, len, e))
    }

    /// [`Connection::send`] without waiting: [`ErrorKind::WouldBlock`]
    /// when the buffer is full (nothing is sent then).
    ///
    /// # Errors
    ///
    /// As [`Connection::send`], and [`ErrorKind::WouldBlock`].
    pub fn try_send<T: Item>(&self, value: &T) -> Result<()> {
        const OP: &str = "Connection::try_send";
        let len = std::mem::size_of::<T::Repr>();
        self.check_send(OP, len)?;
        socket::send_value(&self.fd, &value.to_repr(), false)
            .map_err(|e| self.send_error(OP, len, e))
    }

    pub(super) fn check_recv(&self, op: &'static str) -> Result<()> {
        if self.readable {
            Ok(())
        } else {
            Err(self.error(
                op,
                ErrorKind::InvalidArgument("this end of a simplex pipe only sends"),
            ))
        }
    }

    /// Takes the next message into `buf` if it is there (or, with `wait`,
    /// once it is); `Ok(None)` when not waiting and there is none.
    fn recv_into(&self, op: &'static str, buf: &mut [u8], wait: bool) -> Result<Option<usize>> {
        self.check_recv(op)?;
        let len = match socket::recv(&self.fd, buf, wait) {
            Ok(len) => len,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(Error::os(op, self.resource(), e)),
        };
        if len == 0 {
            // Messages are never empty: this is the peer's end.
            return Err(self.error(op, ErrorKind::EndOfStream));
        }
        if len > buf.len() {
            return Err(self.error(
                op,
                ErrorKind::MessageSize {
                    size: len,
                    capacity: buf.len(),
                },
            ));
        }
        Ok(Some(len))
    }

    /// Waits for the next message and copies it into `buf`, returning its
    /// length (Python's `recv_bytes_into`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EndOfStream`] when the other end is closed and every
    /// message it sent has been received; [`ErrorKind::MessageSize`] (with
    /// the message's size) when the message is longer than `buf`: `buf`
    /// holds its first `buf.len()` bytes and the rest of that message is
    /// gone, as Python's `BufferTooShort` takes the message off the pipe;
    /// the messages after it are untouched. [`ErrorKind::InvalidArgument`]
    /// on a send-only end.
    pub fn recv_bytes(&self, buf: &mut [u8]) -> Result<usize> {
        const OP: &str = "Connection::recv_bytes";
        loop {
            // A waiting receive ends with a message or an error; `None`
            // (EAGAIN) would only mean: wait again.
            if let Some(len) = self.recv_into(OP, buf, true)? {
                return Ok(len);
            }
        }
    }

    /// [`Connection::recv_bytes`] without waiting: `Ok(None)` when no
    /// message is there.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv_bytes`].
    pub fn try_recv_bytes(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.recv_into("Connection::try_recv_bytes", buf, false)
    }

    /// [`Connection::recv_bytes`] waiting at most `timeout`: `Ok(None)`
    /// when no message came.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv_bytes`].
    pub fn recv_bytes_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>> {
        const OP: &str = "Connection::recv_bytes_timeout";
        self.timed(OP, timeout, || self.recv_into(OP, buf, false))
    }

    fn recv_item<T: Item>(&self, op: &'static str, wait: bool) -> Result<Option<T>> {
        self.check_recv(op)?;
        match socket::recv_value::<T::Repr>(&self.fd, wait) {
            Ok(Ok(repr)) => match T::from_repr(repr) {
                Some(value) => Ok(Some(value)),
                None => Err(self.error(
                    op,
                    ErrorKind::InvalidData("the message holds no value of the type asked for"),
                )),
            },
            Ok(Err(0)) => Err(self.error(op, ErrorKind::EndOfStream)),
            Ok(Err(len)) => Err(self.error(
                op,
                ErrorKind::MessageSize {
                    size: len,
                    capacity: std::mem::size_of::<T::Repr>(),
                },
            )),
            Err(Errno::EAGAIN) => Ok(None),
            Err(e) => Err(Error::os(op, self.resource(), e)),
        }
    }

    /// Waits for the next message and returns it as a `T` (Python's
    /// `recv()`, for a value sent with [`Connection::send`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageSize`] when the message is not exactly
    /// `size_of::<T::Repr>()` bytes, [`ErrorKind::InvalidData`] when it
    /// holds no value of type `T` (a `bool` of 2, an `Option` tag other
    /// than 0 or 1: see [`Item`]); the message is taken, and dropped, in
    /// both cases. Otherwise as [`Connection::recv_bytes`].
    pub fn recv<T: Item>(&self) -> Result<T> {
        loop {
            if let Some(value) = self.recv_item("Connection::recv", true)? {
                return Ok(value);
            }
        }
    }

    /// [`Connection::recv`] without waiting: `Ok(None)` when no message is
    /// there.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv`].
    pub fn try_recv<T: Item>(&self) -> Result<Option<T>> {
        self.recv_item("Connection::try_recv", false)
    }

    /// [`Connection::recv`] waiting at most `timeout`: `Ok(None)` when no
    /// message came.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv`].
    pub fn recv_timeout<T: Item>(&self, timeout: Duration) -> Result<Option<T>> {
        const OP: &str = "Connection::recv_timeout";
        self.timed(OP, timeout, || self.recv_item(OP, false))
    }

    /// Runs the non-blocking `attempt` until it gives a value, polling for
    /// readability in between, for at most `timeout`.
    pub(super) fn timed<R>(
        &self,
        op: &'static str,
        timeout: Duration,
        mut attempt: impl FnMut() -> Result<Option<R>>,
    ) -> Result<Option<R>> {
        self.check_recv(op)?;
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if let Some(got) = attempt()? {
                return Ok(Some(got));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) || !self.poll_for(op, left)? {
                return Ok(None);
            }
        }
    }

    fn poll_for(&self, op: &'static str, timeout: Option<Duration>) -> Result<bool> {
        sys::poll_readable(self.fd.as_fd(), timeout).map_err(|e| Error::os(op, self.resource(), e))
    }

    /// Whether a message (or the other end's closing) is there to receive,
    /// waiting up to `timeout` for one: `Some(Duration::ZERO)` looks and
    /// returns at once (Python's `poll()`), `None` waits as long as it takes
    /// (Python's `poll(None)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] on a send-only end.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        const OP: &str = "Connection::poll";
        self.check_recv(OP)?;
        self.poll_for(OP, timeout)
    }

    /// Closes this end (Python's `close()`): the other end then reads
    /// [`ErrorKind::EndOfStream`] after the messages already sent, and its
    /// sends fail with [`ErrorKind::BrokenPipe`]. Dropping does the same.
    /// In a forked program every process holding a copy of this end must
    /// close it for the other end to see it closed.
    pub fn close(self) {
        drop(self);
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
