//! [`AsyncConn`]: one accepted connection, as an async worker hands it
//! to its handler (feature `tokio`).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::conn::Peer;

/// An accepted stream, registered with the worker's tokio runtime: TCP or
/// Unix. Non-blocking, close-on-exec.
#[derive(Debug)]
pub enum AsyncStream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix stream connection.
    Unix(UnixStream),
}

/// One accepted connection in an async worker: its stream and its peer
/// (Python's `cli, addr = s.accept()`). It reads and writes as its
/// [`AsyncStream`] does ([`AsyncRead`], [`AsyncWrite`]: use
/// `tokio::io::AsyncReadExt` and `AsyncWriteExt`). Dropping it closes
/// the connection.
#[derive(Debug)]
pub struct AsyncConn {
    stream: AsyncStream,
    peer: Peer,
}

impl AsyncConn {
    /// Registers an accepted descriptor with the current runtime.
    pub(crate) fn new(fd: OwnedFd, peer: Option<SocketAddr>) -> io::Result<AsyncConn> {
        Ok(match peer {
            Some(addr) => {
                let s = std::net::TcpStream::from(fd);
                s.set_nonblocking(true)?;
                AsyncConn {
                    stream: AsyncStream::Tcp(TcpStream::from_std(s)?),
                    peer: Peer::Tcp(addr),
                }
            }
            None => {
                let s = std::os::unix::net::UnixStream::from(fd);
                s.set_nonblocking(true)?;
                AsyncConn {
                    stream: AsyncStream::Unix(UnixStream::from_std(s)?),
                    peer: Peer::Unix,
                }
            }
        })
    }

    /// The client.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// The stream.
    pub fn stream(&self) -> &AsyncStream {
        &self.stream
    }

    /// The stream, to read and write (or split, as tokio's streams do).
    pub fn stream_mut(&mut self) -> &mut AsyncStream {
        &mut self.stream
    }

    /// The stream and the peer, apart.
    pub fn into_parts(self) -> (AsyncStream, Peer) {
        (self.stream, self.peer)
    }
}

impl AsyncRead for AsyncStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            AsyncStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for AsyncStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AsyncStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            AsyncStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AsyncStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            AsyncStream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            AsyncStream::Tcp(s) => s.is_write_vectored(),
            AsyncStream::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            AsyncStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    /// Shuts the write side (`shutdown(SHUT_WR)`): the client reads the
    /// end of the stream.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            AsyncStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for AsyncConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for AsyncConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl AsFd for AsyncStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            AsyncStream::Tcp(s) => s.as_fd(),
            AsyncStream::Unix(s) => s.as_fd(),
        }
    }
}

impl AsFd for AsyncConn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}
