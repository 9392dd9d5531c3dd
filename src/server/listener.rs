//! [`Listener`]: a listening stream socket the master opens (or is
//! handed) before it forks, inherited by every worker.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys::{self, Errno, listen as sysl};

/// The listen backlog of the listeners made here when none is given: how
/// many connections the kernel completes and holds for the workers while
/// every worker is busy (the kernel caps it at
/// `/proc/sys/net/core/somaxconn`).
pub const DEFAULT_BACKLOG: i32 = 1024;

/// Which kind of stream a listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// TCP over IPv4 or IPv6.
    Tcp,
    /// Unix stream sockets.
    Unix,
}

/// A listening stream socket (TCP or Unix) for a [`Server`](super::Server):
/// non-blocking and close-on-exec, opened by the master before it forks
/// its workers, which inherit it and accept on it.
///
/// Make one here ([`Listener::tcp`], [`Listener::unix`]), from a std
/// listener (`From<TcpListener>`, `From<UnixListener>`), or from any
/// listening descriptor handed to the program ([`Listener::from_fd`]:
/// systemd's socket activation, or a master re-executed on `USR2`). Its
/// descriptor can be handed on the same way ([`AsFd`], [`Listener::into_fd`]).
///
/// A Unix socket's path made by [`Listener::unix`] is removed by the
/// server's master when it drains or stops, or when
/// [`serve`](super::Server::serve) returns (never by a forked worker). A listener dropped without a server
/// leaves its file, as std's `UnixListener` does.
/// A listener made here is also *shut* when its server drains (`TERM`):
/// new connections are refused at once, in every process that holds it.
/// One handed in ([`from_fd`](Listener::from_fd), `From`) is only closed:
/// its owner (systemd) may keep it listening for the next start.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    family: Family,
    /// The path to remove, by the process that made it.
    path: Option<SocketPath>,
    /// Whether this crate made the socket (then a drain shuts it).
    ours: bool,
    /// Its name for a re-executed master (`LISTEN_FDNAMES`).
    name: Option<String>,
}

fn listener_error(op: &'static str, fd: RawFd, e: Errno) -> Error {
    Error::os(op, Resource::Listener { fd }, e)
}

impl Listener {
    /// `socket`, `SO_REUSEADDR`, `bind`, `listen(DEFAULT_BACKLOG)` on the
    /// first address `addr` resolves to (Python's
    /// `socket(AF_INET, SOCK_STREAM)`, `setsockopt(SOL_SOCKET,
    /// SO_REUSEADDR, 1)`, `bind`, `listen`). Port 0 takes a free port:
    /// [`Listener::local_addr`] says which.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when `addr` resolves to nothing;
    /// `EADDRINUSE`, `EACCES` (a port below 1024) as the kernel says.
    pub fn tcp(addr: impl ToSocketAddrs) -> Result<Listener> {
        Listener::tcp_with(addr, false, DEFAULT_BACKLOG)
    }

    /// [`Listener::tcp`] with `SO_REUSEPORT` (`reuse_port`: several
    /// sockets, of this program or another, bound to the same port; the
    /// kernel spreads new connections over them) and a listen `backlog`.
    ///
    /// # Errors
    ///
    /// As [`Listener::tcp`]; [`ErrorKind::InvalidArgument`] for a backlog
    /// below 1.
    pub fn tcp_with(addr: impl ToSocketAddrs, reuse_port: bool, backlog: i32) -> Result<Listener> {
        let op = "Listener::tcp";
        if backlog < 1 {
            return Err(Error::new(
                op,
                Resource::Listener { fd: -1 },
                ErrorKind::InvalidArgument("the listen backlog must be at least 1"),
            ));
        }
        let addr = addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or(Error::new(
                op,
                Resource::Listener { fd: -1 },
                ErrorKind::InvalidArgument("the address resolves to no socket address"),
            ))?;
        let fd =
            sysl::tcp_listen(&addr, reuse_port, backlog).map_err(|e| listener_error(op, -1, e))?;
        Ok(Listener {
            fd,
            family: Family::Tcp,
            path: None,
            ours: true,
            name: None,
        })
    }

    /// A Unix stream socket at `path`, listening with
    /// [`DEFAULT_BACKLOG`]; the path is removed by the server's master
    /// when it drains or stops.
    ///
    /// A socket file left at `path` by a server that is gone (a `connect`
    /// to it is refused: nobody listens) is removed and replaced, as a
    /// stale pidfile is.
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` when `path` exists and is not a stale socket (a file
    /// of another kind, or a socket somebody listens on: nothing is
    /// removed); `ENAMETOOLONG` past 107 bytes;
    /// [`ErrorKind::InvalidArgument`] for a backlog below 1.
    pub fn unix(path: impl AsRef<Path>) -> Result<Listener> {
        Listener::unix_with(path, DEFAULT_BACKLOG)
    }

    /// [`Listener::unix`] with a listen `backlog`.
    ///
    /// # Errors
    ///
    /// As [`Listener::unix`].
    pub fn unix_with(path: impl AsRef<Path>, backlog: i32) -> Result<Listener> {
        let op = "Listener::unix";
        if backlog < 1 {
            return Err(Error::new(
                op,
                Resource::Listener { fd: -1 },
                ErrorKind::InvalidArgument("the listen backlog must be at least 1"),
            ));
        }
        let path = path.as_ref();
        let fd = match sysl::unix_listen(path.as_os_str().as_bytes(), backlog) {
            Err(Errno::EADDRINUSE) if is_stale_socket(path) => {
                // Left by a server that is gone (killed before it could
                // remove it): nobody listens there. Taken over.
                let _ = std::fs::remove_file(path);
                sysl::unix_listen(path.as_os_str().as_bytes(), backlog)
            }
            other => other,
        }
        .map_err(|e| listener_error(op, -1, e))?;
        Ok(Listener {
            fd,
            family: Family::Unix,
            path: Some(SocketPath {
                path: path.to_path_buf(),
                owner: sys::process::getpid(),
            }),
            ours: true,
            name: None,
        })
    }

    /// Takes a descriptor that must be a listening stream socket (checked:
    /// `SO_ACCEPTCONN`, `SOCK_STREAM`, family inet or Unix), e.g. one of
    /// systemd's `LISTEN_FDS` or one passed to a re-executed master. It is
    /// made non-blocking (the workers' accept loop needs it; the flag is
    /// shared with every holder of the socket). Its owner stays in charge
    /// of it: a drain does not shut it, and no path is removed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a socket that is not listening or
    /// not a stream of a known family, `ENOTSOCK` for a descriptor that is
    /// no socket; the descriptor is closed either way.
    pub fn from_fd(fd: OwnedFd) -> Result<Listener> {
        let op = "Listener::from_fd";
        let raw = fd.as_raw_fd();
        let (listening, domain) =
            sysl::listening_stream(fd.as_fd()).map_err(|e| listener_error(op, raw, e))?;
        let bad = |rule| {
            Error::new(
                op,
                Resource::Listener { fd: raw },
                ErrorKind::InvalidArgument(rule),
            )
        };
        if !listening {
            return Err(bad(
                "not a listening stream socket (SO_ACCEPTCONN, SOCK_STREAM)",
            ));
        }
        let family = match domain {
            sysl::Domain::Inet => Family::Tcp,
            sysl::Domain::Unix => Family::Unix,
            _ => {
                return Err(bad(
                    "a listening socket of a family other than inet or Unix",
                ));
            }
        };
        sysl::set_nonblocking(fd.as_fd(), true).map_err(|e| listener_error(op, raw, e))?;
        Ok(Listener {
            fd,
            family,
            path: None,
            ours: false,
            name: None,
        })
    }

    /// Names it, as systemd's `FileDescriptorName=` does: a binary
    /// upgrade (`USR2`) passes it in `LISTEN_FDNAMES`, so the new master
    /// finds it by name ([`ListenFds::take_name`](crate::daemon::ListenFds::take_name)).
    /// Unnamed, it goes as `unknown` (systemd's name for an unnamed
    /// descriptor).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a name that is empty, longer
    /// than 255 bytes, or holds `:` or a control character (systemd's
    /// rules for `FileDescriptorName=`); the listener comes back in
    /// neither case (it is closed).
    pub fn named(mut self, name: &str) -> Result<Listener> {
        if name.is_empty()
            || name.len() > 255
            || name.bytes().any(|b| b == b':' || b.is_ascii_control())
        {
            return Err(Error::new(
                "Listener::named",
                Resource::Text {
                    what: "a listener's name",
                    len: name.len(),
                },
                ErrorKind::InvalidArgument(
                    "a listener's name is 1 to 255 bytes, without ':' or control characters",
                ),
            ));
        }
        self.name = Some(name.to_owned());
        Ok(self)
    }

    /// Its name ([`Listener::named`]); `unknown` when it has none.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(crate::daemon::UNKNOWN_NAME)
    }

    /// TCP or Unix.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The address a TCP listener is bound to (the port chosen for port
    /// 0); `None` for a Unix one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        sysl::local_addr(self.fd.as_fd()).ok().flatten()
    }

    /// The path of a Unix listener made by [`Listener::unix`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_ref().map(|p| p.path.as_path())
    }

    /// The descriptor, to pass on (a re-executed master): the path is no
    /// longer removed by this handle.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Makes the calling process the one that removes the path (a
    /// server's master, which may be a child of the process that made
    /// the listener).
    pub(crate) fn adopt(&mut self) {
        if let Some(p) = &mut self.path {
            p.owner = sys::process::getpid();
        }
    }

    /// Stops the kernel taking connections on it, in every process (a
    /// drain); removes its path. Not for a socket handed in.
    pub(crate) fn shut(&mut self) {
        if self.ours {
            let _ = sysl::shutdown_listener(self.fd.as_fd());
        }
        self.remove_path();
    }

    /// Leaves the Unix socket's path in place: another process serves on.
    pub(crate) fn forget_path(&mut self) {
        self.path = None;
    }

    /// Removes the Unix socket's path made here, in the process that owns
    /// it (never in a forked worker); once.
    pub(crate) fn remove_path(&mut self) {
        if let Some(p) = self.path.take()
            && p.owner == sys::process::getpid()
        {
            let _ = sysl::unlink_path(p.path.as_os_str().as_bytes());
        }
    }
}

/// A Unix socket's path made here, and the process that may remove it
/// (the one that made it, or the master of the server it was given to).
#[derive(Debug)]
struct SocketPath {
    path: PathBuf,
    owner: i32,
}

/// Whether `path` is a Unix socket nobody listens on.
fn is_stale_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    is_socket
        && matches!(
            std::os::unix::net::UnixStream::connect(path),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
        )
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<TcpListener> for Listener {
    /// A std listener (which sets `SO_REUSEADDR`, as the seeds do), made
    /// non-blocking. The server does not shut it on a drain, only closes
    /// it, as for any socket handed in.
    fn from(l: TcpListener) -> Listener {
        let _ = l.set_nonblocking(true);
        Listener {
            fd: OwnedFd::from(l),
            family: Family::Tcp,
            path: None,
            ours: false,
            name: None,
        }
    }
}

impl From<UnixListener> for Listener {
    /// A std Unix listener, made non-blocking; its path is not removed
    /// here (std never removes it either).
    fn from(l: UnixListener) -> Listener {
        let _ = l.set_nonblocking(true);
        Listener {
            fd: OwnedFd::from(l),
            family: Family::Unix,
            path: None,
            ours: false,
            name: None,
        }
    }
}
