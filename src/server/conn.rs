//! [`Conn`]: one accepted connection, as a sync worker hands it to the
//! handler.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// An accepted stream: TCP or Unix. Blocking, close-on-exec.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix stream connection.
    Unix(UnixStream),
}

/// Who connected: the client's address as `accept` reported it (Python's
/// `client_addr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client's address and port.
    Tcp(SocketAddr),
    /// A Unix client (usually unnamed: Python's `''`).
    Unix,
}

/// One accepted connection: its stream and its peer. Python's
/// `conn, client_addr = server.accept()`.
///
/// It reads and writes as its [`Stream`] does. Dropping it closes the
/// connection.
#[derive(Debug)]
pub struct Conn {
    stream: Stream,
    peer: Peer,
}

impl Conn {
    pub(crate) fn new(fd: OwnedFd, peer: Option<SocketAddr>) -> Conn {
        match peer {
            Some(addr) => Conn {
                stream: Stream::Tcp(TcpStream::from(fd)),
                peer: Peer::Tcp(addr),
            },
            None => Conn {
                stream: Stream::Unix(UnixStream::from(fd)),
                peer: Peer::Unix,
            },
        }
    }

    /// The client.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// The stream.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The stream, to read and write.
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// The stream and the peer, apart.
    pub fn into_parts(self) -> (Stream, Peer) {
        (self.stream, self.peer)
    }
}

impl Stream {
    /// `SO_RCVTIMEO`: a read waits at most this long (`None`: for ever),
    /// then fails with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// As the std method (a zero duration is refused).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// `SO_SNDTIMEO`: a write waits at most this long for room (`None`:
    /// for ever).
    ///
    /// # Errors
    ///
    /// As the std method.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(timeout),
            Stream::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// `shutdown(2)`.
    ///
    /// # Errors
    ///
    /// As the std method.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read_vectored(bufs),
            Stream::Unix(s) => s.read_vectored(bufs),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl From<Stream> for OwnedFd {
    fn from(s: Stream) -> OwnedFd {
        match s {
            Stream::Tcp(s) => s.into(),
            Stream::Unix(s) => s.into(),
        }
    }
}
