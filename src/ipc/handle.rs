//! File descriptors sent through a [`Connection`] (`SCM_RIGHTS`): Python's
//! `multiprocessing.reduction.send_handle` / `recv_handle`.
//!
//! The kernel installs a new descriptor in the receiver for the same open
//! file (socket, file, pipe end, memfd...): the sender keeps its own and
//! may close it as soon as the send returns. Received descriptors are
//! close-on-exec. A message that brings more descriptors than the receiver
//! has room for has the extras closed on arrival (the kernel closes those
//! past [`MAX_FDS`] itself), so nothing leaks into the receiver's table.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::pipe::Connection;
use crate::error::{ErrorKind, Result};
use crate::shm::Item;
use crate::sys::Errno;
use crate::sys::fdpass;

/// The most descriptors one message carries (16): more in one
/// [`Connection::send_bytes_with_fds`] is refused.
pub const MAX_FDS: usize = fdpass::MAX_FDS;

/// The one byte that carries a lone descriptor ([`Connection::send_fd`]).
const HANDLE_BYTE: u8 = b'A';

impl Connection {
    /// Sends a copy of the descriptor `fd` (Python's
    /// `reduction.send_handle(conn, fd, pid)`), as a one-byte message;
    /// the other end takes it with [`Connection::recv_fd`]. This process
    /// keeps `fd` (close it when done with it).
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use mproc::ipc::Pipe;
    ///
    /// let (a, b) = Pipe::duplex()?;
    /// let file = std::fs::File::open("/etc/hostname")?;
    /// a.send_fd(file.as_fd())?;
    /// drop(file);
    /// let same_file: std::fs::File = b.recv_fd()?.into();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Connection::send_bytes`].
    #[doc(alias = "send_handle")]
    #[doc(alias = "SCM_RIGHTS")]
    pub fn send_fd(&self, fd: BorrowedFd<'_>) -> Result<()> {
        self.send_fds_as("Connection::send_fd", &[HANDLE_BYTE], &[fd])
    }

    /// Waits for the next message and returns the descriptor it carries
    /// (Python's `reduction.recv_handle(conn)`), close-on-exec. The
    /// message's bytes are dropped; descriptors past the first are closed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NoDescriptor`] when the message carried none (it is
    /// taken all the same); otherwise as [`Connection::recv_bytes`].
    #[doc(alias = "recv_handle")]
    pub fn recv_fd(&self) -> Result<OwnedFd> {
        const OP: &str = "Connection::recv_fd";
        let mut byte = [0u8; 1];
        let mut fd = [None];
        // A message longer than one byte is fine here: only its
        // descriptor is wanted.
        self.recv_fds_as(OP, &mut byte, &mut fd, false)?;
        fd[0]
            .take()
            .ok_or_else(|| self.error(OP, ErrorKind::NoDescriptor))
    }

    /// Sends `msg` as one message with copies of `fds` attached (at most
    /// [`MAX_FDS`]; none is allowed too): a value with the descriptors it
    /// refers to, e.g. a request and the socket to answer on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] for more than [`MAX_FDS`]
    /// descriptors; otherwise as [`Connection::send_bytes`]. Nothing is
    /// sent on an error.
    pub fn send_bytes_with_fds(&self, msg: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        self.send_fds_as("Connection::send_bytes_with_fds", msg, fds)
    }

    /// Waits for the next message, copies it into `buf` and puts the
    /// descriptors it carries into `fds`, in the order sent (the slots
    /// after them are set to `None`). Returns the message's length and the
    /// number of descriptors put. Descriptors beyond `fds.len()` are
    /// closed: pass as many slots as the peer may send.
    ///
    /// # Errors
    ///
    /// As [`Connection::recv_bytes`]; on [`ErrorKind::MessageSize`] the
    /// message's descriptors are closed too.
    pub fn recv_bytes_with_fds(
        &self,
        buf: &mut [u8],
        fds: &mut [Option<OwnedFd>],
    ) -> Result<(usize, usize)> {
        self.recv_fds_as("Connection::recv_bytes_with_fds", buf, fds, true)
    }

    /// Sends `value` as one message of its stored form (`size_of::<T::Repr>()`
    /// bytes, see [`Item`]) with copies
    /// of `fds` attached (at most [`MAX_FDS`]): [`Connection::send`] for a
    /// value that names the descriptors it comes with, e.g. a request and
    /// the socket to answer on.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use std::os::unix::net::UnixStream;
    /// use mproc::ipc::Pipe;
    ///
    /// let (a, b) = Pipe::duplex()?;
    /// let (mine, theirs) = UnixStream::pair()?;
    /// a.send_with_fds(&7u32, &[theirs.as_fd()])?;
    /// let mut fds = [None];
    /// let (request, n) = b.recv_with_fds::<u32>(&mut fds)?;
    /// assert_eq!((request, n), (7, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Connection::send_bytes_with_fds`] (a zero-sized stored form,
    /// such as `[u8; 0]`, is an empty message).
    pub fn send_with_fds<T: Item>(&self, value: &T, fds: &[BorrowedFd<'_>]) -> Result<()> {
        const OP: &str = "Connection::send_with_fds";
        let len = std::mem::size_of::<T::Repr>();
        self.check_send(OP, len)?;
        if fds.len() > MAX_FDS {
            return Err(self.error(OP, ErrorKind::CapacityExceeded { limit: MAX_FDS }));
        }
        fdpass::send_value_fds(self.fd().as_fd(), &value.to_repr(), fds, true)
            .map_err(|e| self.send_error(OP, len, e))
    }

    /// Waits for the next message and returns it as a `T` with the
    /// number of descriptors put into `fds` (in the order sent; the slots
    /// after them set to `None`, descriptors beyond `fds.len()` closed):
    /// the receiving side of [`Connection::send_with_fds`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageSize`] when the message is not exactly
    /// `size_of::<T::Repr>()` bytes, [`ErrorKind::InvalidData`] when it
    /// holds no value of type `T` (see [`Item`]): it is taken, its
    /// descriptors closed, in both cases. Otherwise as
    /// [`Connection::recv_bytes`].
    pub fn recv_with_fds<T: Item>(&self, fds: &mut [Option<OwnedFd>]) -> Result<(T, usize)> {
        const OP: &str = "Connection::recv_with_fds";
        self.check_recv(OP)?;
        let (value, got) = loop {
            match fdpass::recv_value_fds::<T::Repr>(self.fd().as_fd(), fds, true) {
                Ok(r) => break r,
                Err(Errno::EAGAIN) => continue,
                Err(e) => return Err(crate::Error::os(OP, self.resource(), e)),
            }
        };
        match value.map(T::from_repr) {
            Ok(Some(value)) => Ok((value, got.fds)),
            Ok(None) => {
                for fd in fds.iter_mut() {
                    *fd = None;
                }
                Err(self.error(
                    OP,
                    ErrorKind::InvalidData("the message holds no value of the type asked for"),
                ))
            }
            Err(()) => {
                for fd in fds.iter_mut() {
                    *fd = None;
                }
                let kind = if got.len == 0 && got.fds == 0 {
                    ErrorKind::EndOfStream
                } else {
                    ErrorKind::MessageSize {
                        size: got.len,
                        capacity: std::mem::size_of::<T>(),
                    }
                };
                Err(self.error(OP, kind))
            }
        }
    }

    fn send_fds_as(&self, op: &'static str, msg: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        self.check_send(op, msg.len())?;
        if fds.len() > MAX_FDS {
            return Err(self.error(op, ErrorKind::CapacityExceeded { limit: MAX_FDS }));
        }
        fdpass::send_fds(self.fd().as_fd(), msg, fds, true)
            .map_err(|e| self.send_error(op, msg.len(), e))
    }

    fn recv_fds_as(
        &self,
        op: &'static str,
        buf: &mut [u8],
        fds: &mut [Option<OwnedFd>],
        whole: bool,
    ) -> Result<(usize, usize)> {
        self.check_recv(op)?;
        let got = loop {
            match fdpass::recv_fds(self.fd().as_fd(), buf, fds, true) {
                Ok(got) => break got,
                Err(Errno::EAGAIN) => continue,
                Err(e) => return Err(crate::Error::os(op, self.resource(), e)),
            }
        };
        if got.len == 0 && got.fds == 0 {
            // Messages are never empty: this is the peer's end.
            return Err(self.error(op, ErrorKind::EndOfStream));
        }
        if whole && got.len > buf.len() {
            for fd in fds.iter_mut() {
                *fd = None;
            }
            return Err(self.error(
                op,
                ErrorKind::MessageSize {
                    size: got.len,
                    capacity: buf.len(),
                },
            ));
        }
        Ok((got.len.min(buf.len()), got.fds))
    }
}
