//! Unix `SOCK_SEQPACKET` socket pairs: `socketpair(2)`, `send(2)` with
//! `MSG_NOSIGNAL`, `recv(2)` with `MSG_TRUNC`, `shutdown(2)`.

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::mem::Shareable;
use super::{Errno, cvt, retry_on_intr};

/// A connected pair of `AF_UNIX` `SOCK_SEQPACKET` sockets (close-on-exec):
/// each send is one message, delivered whole and in order.
pub(crate) fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: on success both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Which way to shut a socket.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shut {
    /// No more receiving.
    Read,
    /// No more sending: the peer reads end-of-stream.
    Write,
}

/// `shutdown(2)`.
pub(crate) fn shutdown(fd: &OwnedFd, how: Shut) -> Result<(), Errno> {
    let how = match how {
        Shut::Read => libc::SHUT_RD,
        Shut::Write => libc::SHUT_WR,
    };
    // SAFETY: plain integer arguments on a descriptor we own.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) }).map(drop)
}

/// Sends `len` bytes at `ptr` as one message, never raising `SIGPIPE`
/// (`MSG_NOSIGNAL`); `EPIPE` when the peer is gone.
fn send_raw(fd: &OwnedFd, ptr: *const u8, len: usize, wait: bool) -> Result<(), Errno> {
    let flags = libc::MSG_NOSIGNAL | if wait { 0 } else { libc::MSG_DONTWAIT };
    let sent = retry_on_intr(|| {
        // SAFETY: the caller passes `len` readable bytes at `ptr`, alive for
        // the call; the kernel copies them out.
        let n = unsafe { libc::send(fd.as_raw_fd(), ptr.cast(), len, flags) };
        if n < 0 {
            Err(Errno::last())
        } else {
            Ok(n as usize)
        }
    })?;
    // A SEQPACKET send is all or nothing.
    if sent == len {
        Ok(())
    } else {
        Err(Errno::EMSGSIZE)
    }
}

/// Sends `bytes` as one message (see [`send_raw`]); with `wait` false,
/// `EAGAIN` when the socket buffer is full.
pub(crate) fn send(fd: &OwnedFd, bytes: &[u8], wait: bool) -> Result<(), Errno> {
    send_raw(fd, bytes.as_ptr(), bytes.len(), wait)
}

/// Sends the bytes of `value` as one message. Its padding bytes, if any,
/// are read by the kernel only (they are never read as Rust values).
pub(crate) fn send_value<T: Shareable>(fd: &OwnedFd, value: &T, wait: bool) -> Result<(), Errno> {
    send_raw(
        fd,
        (value as *const T).cast(),
        std::mem::size_of::<T>(),
        wait,
    )
}

/// Receives into `len` bytes at `ptr` with `flags` (plus `MSG_DONTWAIT`
/// unless `wait`). With `MSG_TRUNC` the result is the message's real
/// length, also when longer than `len`.
fn recv_raw(
    fd: &OwnedFd,
    ptr: *mut u8,
    len: usize,
    flags: libc::c_int,
    wait: bool,
) -> Result<usize, Errno> {
    let flags = flags | if wait { 0 } else { libc::MSG_DONTWAIT };
    retry_on_intr(|| {
        // SAFETY: the caller passes `len` writable bytes at `ptr`, alive for
        // the call.
        let n = unsafe { libc::recv(fd.as_raw_fd(), ptr.cast(), len, flags) };
        if n < 0 {
            Err(Errno::last())
        } else {
            Ok(n as usize)
        }
    })
}

/// Takes the next message, copying what fits of it into `buf`, and returns
/// its real length (`MSG_TRUNC`): longer than `buf` when the rest of it was
/// cut off (and is gone). 0 at end-of-stream (a peer that shut or closed its
/// end; messages are never empty). With `wait` false, `EAGAIN` when none is
/// there.
pub(crate) fn recv(fd: &OwnedFd, buf: &mut [u8], wait: bool) -> Result<usize, Errno> {
    recv_raw(fd, buf.as_mut_ptr(), buf.len(), libc::MSG_TRUNC, wait)
}

/// Takes the next message as a `T` if it is exactly `size_of::<T>()` bytes
/// long; `Err(Ok(len))` when its length differs (it is taken all the same).
pub(crate) fn recv_value<T: Shareable>(
    fd: &OwnedFd,
    wait: bool,
) -> Result<Result<T, usize>, Errno> {
    let mut slot = MaybeUninit::<T>::uninit();
    let size = std::mem::size_of::<T>();
    let len = recv_raw(fd, slot.as_mut_ptr().cast(), size, libc::MSG_TRUNC, wait)?;
    if len != size {
        return Ok(Err(len));
    }
    // SAFETY: the kernel wrote all `size` bytes of the slot; every bit
    // pattern is a valid T (Shareable), padding included.
    Ok(Ok(unsafe { slot.assume_init() }))
}

/// The socket's send buffer size (`SO_SNDBUF`): about the largest message
/// it can take.
pub(crate) fn send_buffer(fd: &OwnedFd) -> Result<usize, Errno> {
    let mut size: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `size` and `len` are live and describe an int-sized buffer.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut size as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(usize::try_from(size).unwrap_or(0))
}
