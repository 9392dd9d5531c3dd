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

/// The length of the next message, leaving it in place (`MSG_PEEK` with
/// `MSG_TRUNC`, which on a `SOCK_SEQPACKET` socket gives the message's real
/// length into an empty buffer). 0 at end-of-stream. With `wait` false,
/// `EAGAIN` when none is there.
#[cfg_attr(not(feature = "serde"), allow(dead_code))]
pub(crate) fn peek_len(fd: &OwnedFd, wait: bool) -> Result<usize, Errno> {
    let mut none = [0u8; 0];
    recv_raw(
        fd,
        none.as_mut_ptr(),
        0,
        libc::MSG_PEEK | libc::MSG_TRUNC,
        wait,
    )
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

/// Where a listening socket lives: a name in Linux's abstract namespace
/// (no file; gone with the last descriptor) or a filesystem path.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Address<'a> {
    /// The abstract name, without its leading NUL.
    Abstract(&'a [u8]),
    /// A path (no NUL bytes).
    Path(&'a [u8]),
}

/// The most bytes of a name or path (`sun_path` less the leading NUL or
/// the trailing one).
pub(crate) const ADDRESS_MAX: usize = 107;

/// `address` as a `sockaddr_un` and its length; `ENAMETOOLONG` past
/// [`ADDRESS_MAX`], `EINVAL` for an empty one or a NUL in a path.
pub(super) fn sockaddr(
    address: Address<'_>,
) -> Result<(libc::sockaddr_un, libc::socklen_t), Errno> {
    // SAFETY: sockaddr_un is plain data; all zero is a valid value.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let (bytes, start) = match address {
        Address::Abstract(name) => (name, 1),
        Address::Path(path) => {
            if path.contains(&0) {
                return Err(Errno::EINVAL);
            }
            (path, 0)
        }
    };
    if bytes.is_empty() {
        return Err(Errno::EINVAL);
    }
    if bytes.len() > ADDRESS_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    for (dst, src) in sa.sun_path[start..].iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    let len = match address {
        // An abstract name is exactly its bytes after the NUL.
        Address::Abstract(_) => base + 1 + bytes.len(),
        Address::Path(_) => base + bytes.len() + 1,
    };
    Ok((sa, len as libc::socklen_t))
}

fn seqpacket_socket(flags: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC | flags,
            0,
        )
    })?;
    // SAFETY: on success the descriptor is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A non-blocking `SOCK_SEQPACKET` socket bound to `address` and
/// listening. A path is made mode `0600` (`EADDRINUSE` if it exists).
pub(crate) fn seqpacket_listen(address: Address<'_>, backlog: i32) -> Result<OwnedFd, Errno> {
    let (sa, len) = sockaddr(address)?;
    let fd = seqpacket_socket(libc::SOCK_NONBLOCK)?;
    // SAFETY: `sa` is an initialised sockaddr_un of `len` meaningful bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) })?;
    if let Address::Path(_) = address {
        // SAFETY: `sun_path` holds the NUL-terminated path just bound.
        let r = unsafe { libc::chmod(sa.sun_path.as_ptr(), 0o600) };
        if r != 0 {
            let e = Errno::last();
            // SAFETY: as above: the path this call made.
            unsafe { libc::unlink(sa.sun_path.as_ptr()) };
            return Err(e);
        }
    }
    // SAFETY: plain integer arguments on a descriptor we own.
    if let Err(e) = cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }) {
        if let Address::Path(_) = address {
            // SAFETY: as above.
            unsafe { libc::unlink(sa.sun_path.as_ptr()) };
        }
        return Err(e);
    }
    Ok(fd)
}

/// Removes the socket file at `path` (`ENOENT` if gone).
pub(crate) fn unlink(path: &[u8]) -> Result<(), Errno> {
    let (sa, _) = sockaddr(Address::Path(path))?;
    // SAFETY: `sun_path` holds `path`, NUL-terminated (zeroed beyond it).
    cvt(unsafe { libc::unlink(sa.sun_path.as_ptr()) }).map(drop)
}

/// A blocking `SOCK_SEQPACKET` socket connected to `address`
/// (`ECONNREFUSED`/`ENOENT` when nobody listens there).
pub(crate) fn seqpacket_connect(address: Address<'_>) -> Result<OwnedFd, Errno> {
    let (sa, len) = sockaddr(address)?;
    let fd = seqpacket_socket(0)?;
    retry_on_intr(|| {
        // SAFETY: `sa` is an initialised sockaddr_un of `len` meaningful
        // bytes.
        cvt(unsafe { libc::connect(fd.as_raw_fd(), (&raw const sa).cast(), len) })
    })?;
    Ok(fd)
}

/// Takes the next pending connection of a non-blocking listener:
/// `EAGAIN` when none waits. The new socket blocks (close-on-exec).
pub(crate) fn accept(listener: &OwnedFd) -> Result<OwnedFd, Errno> {
    let fd = retry_on_intr(|| {
        // SAFETY: no address is asked for (null pointers are allowed).
        cvt(unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        })
    })?;
    // SAFETY: on success the descriptor is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes the next pending connection of a non-blocking listener:
/// `EAGAIN` when none waits. Unlike [`accept`], the new socket does not
/// block either (`SOCK_NONBLOCK | SOCK_CLOEXEC`): a server that must never
/// wait on one peer sends and receives on it without waiting.
pub(crate) fn accept_nonblocking(listener: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let fd = retry_on_intr(|| {
        // SAFETY: no address is asked for (null pointers are allowed).
        cvt(unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        })
    })?;
    // SAFETY: on success the descriptor is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Who is at the other end of a connected Unix socket, as the kernel
/// recorded it when the connection was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PeerCredentials {
    pub(crate) pid: i32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// `getsockopt(SO_PEERCRED)`.
pub(crate) fn peer_credentials(fd: &OwnedFd) -> Result<PeerCredentials, Errno> {
    // SAFETY: ucred is plain data; all zero is valid.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are live and describe a ucred-sized buffer.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    })?;
    Ok(PeerCredentials {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// `geteuid(2)`.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: no preconditions; cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_laid_out_as_the_kernel_wants() {
        assert_eq!(sockaddr(Address::Abstract(b"")).unwrap_err(), Errno::EINVAL);
        assert_eq!(sockaddr(Address::Path(b"a\0b")).unwrap_err(), Errno::EINVAL);
        let long = [b'x'; ADDRESS_MAX + 1];
        assert_eq!(
            sockaddr(Address::Path(&long)).unwrap_err(),
            Errno::ENAMETOOLONG
        );
        assert!(sockaddr(Address::Abstract(&long[..ADDRESS_MAX])).is_ok());
        let (sa, len) = sockaddr(Address::Abstract(b"abc")).unwrap();
        assert_eq!(sa.sun_path[0], 0);
        assert_eq!(sa.sun_path[1], b'a' as libc::c_char);
        assert_eq!(
            len as usize,
            std::mem::offset_of!(libc::sockaddr_un, sun_path) + 4
        );
    }
}
