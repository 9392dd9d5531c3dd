//! Stream listeners for the pre-fork server (`crate::server`): TCP and
//! Unix `SOCK_STREAM` sockets made listening here (`socket(2)`,
//! `setsockopt(2)`, `bind(2)`, `listen(2)`), a check that a descriptor
//! handed in is one (`SO_ACCEPTCONN`), and `accept4(2)` with the peer's
//! address.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::socket::{Address, sockaddr};
use super::{Errno, cvt, retry_on_intr};

fn int_option(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> Result<i32, Errno> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and describe an int-sized buffer.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw mut value).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: i32,
) -> Result<(), Errno> {
    // SAFETY: `value` is a live int and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn stream_socket(domain: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments.
    let fd = cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })?;
    // SAFETY: on success the descriptor is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `addr` as a `sockaddr_storage` and its length.
fn inet_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The inet address in `storage`, or `None` for another family.
fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is aligned and large enough for it.
            let sin: &libc::sockaddr_in = unsafe { &*(&raw const *storage).cast() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: &libc::sockaddr_in6 = unsafe { &*(&raw const *storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A non-blocking, close-on-exec TCP socket bound to `addr` with
/// `SO_REUSEADDR` (and `SO_REUSEPORT` when asked), listening with
/// `backlog`.
pub(crate) fn tcp_listen(
    addr: &SocketAddr,
    reuse_port: bool,
    backlog: i32,
) -> Result<OwnedFd, Errno> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let fd = stream_socket(domain)?;
    set_int_option(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuse_port {
        set_int_option(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let (sa, len) = inet_sockaddr(addr);
    // SAFETY: `sa` is an initialised sockaddr of `len` meaningful bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) })?;
    // SAFETY: plain integer arguments on a descriptor we own.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(fd)
}

/// A non-blocking, close-on-exec Unix stream socket bound to `path`
/// (`EADDRINUSE` if the path exists) and listening with `backlog`. The
/// path is removed again if `listen` fails.
pub(crate) fn unix_listen(path: &[u8], backlog: i32) -> Result<OwnedFd, Errno> {
    let (sa, len) = sockaddr(Address::Path(path))?;
    let fd = stream_socket(libc::AF_UNIX)?;
    // SAFETY: `sa` is an initialised sockaddr_un of `len` meaningful bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) })?;
    // SAFETY: plain integer arguments on a descriptor we own.
    if let Err(e) = cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }) {
        // SAFETY: `sun_path` holds the NUL-terminated path just bound.
        unsafe { libc::unlink(sa.sun_path.as_ptr()) };
        return Err(e);
    }
    Ok(fd)
}

/// A socket's family, as far as the server cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Domain {
    /// `AF_INET` or `AF_INET6`.
    Inet,
    /// `AF_UNIX`.
    Unix,
    /// Any other.
    Other,
}

/// Whether `fd` is a listening (`SO_ACCEPTCONN`) stream socket, and its
/// family. `ENOTSOCK` for a descriptor that is no socket.
pub(crate) fn listening_stream(fd: BorrowedFd<'_>) -> Result<(bool, Domain), Errno> {
    let accepting = int_option(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0;
    let stream = int_option(fd, libc::SOL_SOCKET, libc::SO_TYPE)? == libc::SOCK_STREAM;
    let domain = match int_option(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)? {
        libc::AF_INET | libc::AF_INET6 => Domain::Inet,
        libc::AF_UNIX => Domain::Unix,
        _ => Domain::Other,
    };
    Ok((accepting && stream, domain))
}

/// Sets or clears `O_NONBLOCK` on `fd`'s open file description.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
    // SAFETY: plain integer arguments on an open descriptor.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// The local address of an inet socket (`getsockname(2)`); `None` for
/// another family.
pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> Result<Option<SocketAddr>, Errno> {
    // SAFETY: sockaddr_storage is plain data; all zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` and `len` are live and describe its size.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut storage).cast(), &mut len) })?;
    Ok(from_sockaddr(&storage))
}

/// Takes the next pending connection of a non-blocking listener
/// (`accept4(2)`): the new socket blocks and is close-on-exec; with it
/// the peer's inet address (`None` for a Unix peer). `EAGAIN` when none
/// waits; `EINVAL` once the listener was shut down.
pub(crate) fn accept_stream(
    listener: BorrowedFd<'_>,
) -> Result<(OwnedFd, Option<SocketAddr>), Errno> {
    // SAFETY: sockaddr_storage is plain data; all zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let fd = retry_on_intr(|| {
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `storage` and `len` are live and describe its size.
        cvt(unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                (&raw mut storage).cast(),
                &mut len,
                libc::SOCK_CLOEXEC,
            )
        })
    })?;
    // SAFETY: on success the descriptor is new and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok((fd, from_sockaddr(&storage)))
}

/// `shutdown(2)` of a listening socket for reading: the kernel stops
/// taking connections on it (new ones are refused, those in its backlog
/// reset) in every process that holds it.
pub(crate) fn shutdown_listener(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: plain integer arguments on an open descriptor.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RD) }).map(drop)
}

/// Sends `line` on a connection without waiting (`MSG_DONTWAIT`,
/// `MSG_NOSIGNAL`: what fits in the send buffer), shuts it for writing
/// (the peer reads the line, then end-of-stream), reads away what the peer
/// sent already (so that the close sends no reset for unread data), and
/// closes it.
pub(crate) fn answer_and_close(fd: OwnedFd, line: &[u8]) {
    // SAFETY: `line` is live for the call; the kernel copies it out.
    let _ = unsafe {
        libc::send(
            fd.as_raw_fd(),
            line.as_ptr().cast(),
            line.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    // SAFETY: plain integer arguments on a descriptor we own.
    let _ = unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) };
    let mut sink = [0u8; 512];
    for _ in 0..8 {
        // SAFETY: `sink` is live and writable for its length.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                sink.as_mut_ptr().cast(),
                sink.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            break;
        }
    }
    drop(fd);
}

/// Removes the file at `path` (a Unix socket's); `ENOENT` if gone.
pub(crate) fn unlink_path(path: &[u8]) -> Result<(), Errno> {
    super::socket::unlink(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_addresses_go_both_ways() {
        for text in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%2]:9"] {
            let addr: SocketAddr = text.parse().unwrap();
            let (storage, _) = inet_sockaddr(&addr);
            assert_eq!(from_sockaddr(&storage), Some(addr));
        }
    }
}
