//! [`Listener`] and [`client`]: named connections between unrelated
//! processes (Python's `multiprocessing.connection.Listener` and
//! `Client`), checked by the kernel's peer credentials instead of an
//! `authkey`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::time::{Duration, Instant};

use super::Connection;
use crate::error::{Error, ErrorKind, Resource, Result, SegmentName};
use crate::process::Pid;
use crate::sys::{self, Errno, socket};

/// The most uids a [`Listener`] admits besides its own.
pub const ALLOWED_UIDS: usize = 8;

/// Who is at the other end of a named connection, as the kernel recorded
/// it when the connection was made (`SO_PEERCRED`): it cannot be forged
/// by the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The peer's pid (in the listener's pid namespace).
    pub pid: Pid,
    /// Its effective uid.
    pub uid: u32,
    /// Its effective gid.
    pub gid: u32,
}

fn socket_resource(address: &str) -> Resource {
    Resource::Socket(SegmentName::new(address))
}

/// `"@name"` (or `"\0name"`, Python's spelling) is a name in Linux's
/// abstract namespace; anything else a filesystem path.
fn parse(address: &str) -> socket::Address<'_> {
    match address.as_bytes() {
        [b'@' | 0, name @ ..] => socket::Address::Abstract(name),
        path => socket::Address::Path(path),
    }
}

fn address_error(op: &'static str, address: &str, e: Errno) -> Error {
    match e {
        Errno::ENAMETOOLONG => Error::new(
            op,
            socket_resource(address),
            ErrorKind::CapacityExceeded {
                limit: socket::ADDRESS_MAX,
            },
        ),
        Errno::EINVAL
            if matches!(
                parse(address),
                socket::Address::Abstract([]) | socket::Address::Path([])
            ) =>
        {
            Error::new(
                op,
                socket_resource(address),
                ErrorKind::InvalidArgument("an address needs a name after '@', or a path"),
            )
        }
        Errno::EINVAL => Error::new(
            op,
            socket_resource(address),
            ErrorKind::InvalidArgument("a socket path may not hold a NUL byte"),
        ),
        Errno::EADDRINUSE => Error::new(op, socket_resource(address), ErrorKind::AlreadyExists),
        Errno::ECONNREFUSED => Error::new(op, socket_resource(address), ErrorKind::NotFound),
        e => Error::os(op, socket_resource(address), e),
    }
}

/// A named, listening endpoint that unrelated processes connect to with
/// [`client`]: Python's `multiprocessing.connection.Listener(address)`.
/// Each accepted connection is a [`Connection`] (messages keep their
/// boundaries, as with a [`Pipe`](super::Pipe)).
///
/// ```no_run
/// use mproc::ipc::{Listener, client};
///
/// // Python: Listener('\0example') and Client('\0example')
/// let listener = Listener::bind("@mproc-example")?;
/// let conn = client("@mproc-example")?; // usually in another program
/// let served = listener.accept()?;
/// conn.send_bytes(b"hello")?;
/// let mut buf = [0u8; 16];
/// let n = served.recv_bytes(&mut buf)?;
/// assert_eq!(&buf[..n], b"hello");
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// # Addresses
///
/// `"@name"` is a name in Linux's abstract namespace (Python writes
/// `"\0name"`, also accepted): no file, nothing to clean up, gone with the
/// listener. Any other address is a filesystem path, made with mode `0600`
/// and removed when the listener that made it is dropped (in the process
/// that made it), if the path is still the socket file it made (same
/// device and inode): a file that another process put there since is left
/// alone. At most 107 bytes either way.
///
/// A listener killed with `SIGKILL` leaves its socket file behind, and a
/// new [`bind`](Listener::bind) on the path is refused;
/// [`Listener::reclaim`] removes such a file, and only such a file: a
/// socket that nobody listens on.
///
/// # Who may connect: peer credentials, not an `authkey`
///
/// Python's listener authenticates clients with a shared secret (HMAC
/// over `authkey`). Here the kernel says who the peer is
/// (`SO_PEERCRED`), and [`Listener::accept`] refuses a peer whose
/// effective uid is neither the listener's own nor one added with
/// [`Listener::allow_uid`]; [`client`] likewise refuses a listener run by
/// another uid (root excepted). No secret to distribute or leak, and an
/// abstract name, which any local process can try to reach, is no weaker
/// than a path.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    address: heapless::String<{ socket::ADDRESS_MAX + 1 }>,
    /// The process that made the path and removes it.
    unlink_in: Option<i32>,
    /// The socket file made, by device and inode (0, 0 for an abstract
    /// name).
    made: (u64, u64),
    allowed: heapless::Vec<u32, ALLOWED_UIDS>,
}

impl Listener {
    /// Binds `address` and listens (Python's `Listener(address)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`] when the name or path is taken (a path
    /// left by a listener that died is removed by [`Listener::reclaim`]);
    /// [`ErrorKind::CapacityExceeded`] past 107 bytes;
    /// [`ErrorKind::InvalidArgument`] for an empty name or a NUL in a path;
    /// the kernel's refusals (`EACCES` on a path's directory…).
    pub fn bind(address: &str) -> Result<Listener> {
        const OP: &str = "Listener::bind";
        let mut kept = heapless::String::new();
        kept.push_str(address)
            .map_err(|_| address_error(OP, address, Errno::ENAMETOOLONG))?;
        let parsed = parse(address);
        let fd = socket::seqpacket_listen(parsed, 64).map_err(|e| address_error(OP, address, e))?;
        let made = match parsed {
            socket::Address::Path(path) => {
                std::fs::symlink_metadata(as_path(path)).map_or((0, 0), |m| (m.dev(), m.ino()))
            }
            socket::Address::Abstract(_) => (0, 0),
        };
        Ok(Listener {
            fd,
            address: kept,
            unlink_in: matches!(parsed, socket::Address::Path(_)).then(sys::process::getpid),
            made,
            allowed: heapless::Vec::new(),
        })
    }

    /// Removes the socket file at `address` if nobody listens on it any
    /// more (a listener that died without removing it): the path is a
    /// socket, and connecting to it is refused. `Ok(true)` when it removed
    /// one; `Ok(false)` when there was nothing to remove: no such path, an
    /// abstract name (nothing outlives its listener there), or a live
    /// socket (someone listens on it, or it is a live socket of another
    /// type, such as a datagram socket). A live listener sees the probe as
    /// a client that connects and closes at once.
    ///
    /// Anything else at the path stays as it is, with an error. Between
    /// the check and the removal another process could put a new socket
    /// there; the window is a few system calls, and the check is repeated
    /// on the file's identity (device and inode) just before it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotOurs`] for a path that is not a socket (a regular
    /// file, a directory, a symbolic link…), left untouched; as
    /// [`Listener::bind`] for a malformed address; the file system's
    /// refusals.
    pub fn reclaim(address: &str) -> Result<bool> {
        const OP: &str = "Listener::reclaim";
        if address.len() > socket::ADDRESS_MAX {
            return Err(address_error(OP, address, Errno::ENAMETOOLONG));
        }
        let parsed = parse(address);
        let socket::Address::Path(bytes) = parsed else {
            return Ok(false);
        };
        let path = as_path(bytes);
        let io = |e: std::io::Error| {
            let errno = e.raw_os_error().map_or(Errno::EIO, Errno::from_raw);
            address_error(OP, address, errno)
        };
        let before = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(e)),
        };
        if !before.file_type().is_socket() {
            return Err(Error::new(
                OP,
                socket_resource(address),
                ErrorKind::NotOurs {
                    found: "a file that is not a socket",
                },
            ));
        }
        match socket::seqpacket_connect(parsed) {
            // Nobody listens behind it.
            Err(Errno::ECONNREFUSED) => {}
            Err(Errno::ENOENT) => return Ok(false),
            // Someone listens (the connection is closed at once), or it is
            // a live socket of another type.
            Ok(_) | Err(Errno::EPROTOTYPE) => return Ok(false),
            Err(e) => return Err(address_error(OP, address, e)),
        }
        let same = std::fs::symlink_metadata(path)
            .is_ok_and(|m| (m.dev(), m.ino()) == (before.dev(), before.ino()));
        if !same {
            // Replaced meanwhile: not the file we looked at.
            return Ok(false);
        }
        match socket::unlink(bytes) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(address_error(OP, address, e)),
        }
    }

    /// The address it listens on, as given to [`Listener::bind`].
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Admits peers whose effective uid is `uid`, besides the listener's
    /// own.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] past [`ALLOWED_UIDS`] uids.
    pub fn allow_uid(&mut self, uid: u32) -> Result<()> {
        if self.allowed.contains(&uid) {
            return Ok(());
        }
        self.allowed.push(uid).map_err(|_| {
            Error::new(
                "Listener::allow_uid",
                Resource::Container {
                    what: "allowed uids",
                    capacity: ALLOWED_UIDS,
                },
                ErrorKind::CapacityExceeded {
                    limit: ALLOWED_UIDS,
                },
            )
        })
    }

    /// Waits for a client and returns its connection (Python's
    /// `accept()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] naming the peer's pid when its uid
    /// is not admitted (its connection is closed; the listener goes on);
    /// the kernel's refusals (`EMFILE`…).
    pub fn accept(&self) -> Result<Connection> {
        self.accept_until("Listener::accept", None)
            .and_then(|c| c.ok_or_else(|| self.error("Listener::accept", ErrorKind::Timeout)))
    }

    /// [`Listener::accept`] for at most `timeout`: `None` when no client
    /// came.
    ///
    /// # Errors
    ///
    /// As [`Listener::accept`].
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Option<Connection>> {
        self.accept_until(
            "Listener::accept_timeout",
            Instant::now().checked_add(timeout),
        )
    }

    /// Hands the duty of removing the path to the caller (the manager,
    /// which removes it only while it still names the socket bound here):
    /// this listener no longer removes it.
    #[cfg_attr(
        not(all(feature = "pool", feature = "manager", feature = "server")),
        allow(dead_code)
    )]
    pub(crate) fn disown(&mut self) {
        self.unlink_in = None;
    }

    fn error(&self, op: &'static str, kind: ErrorKind) -> Error {
        Error::new(op, socket_resource(&self.address), kind)
    }

    fn accept_until(
        &self,
        op: &'static str,
        deadline: Option<Instant>,
    ) -> Result<Option<Connection>> {
        loop {
            match socket::accept(&self.fd) {
                Ok(fd) => {
                    let peer = socket::peer_credentials(&fd)
                        .map_err(|e| Error::os(op, socket_resource(&self.address), e))?;
                    if peer.uid != socket::effective_uid() && !self.allowed.contains(&peer.uid) {
                        return Err(Error::new(
                            op,
                            Resource::Pid(Pid::from_kernel(peer.pid)),
                            ErrorKind::PermissionDenied,
                        ));
                    }
                    return Ok(Some(Connection::new(fd, true, true)));
                }
                Err(Errno::EAGAIN) => {
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    if left.is_some_and(|l| l.is_zero()) {
                        return Ok(None);
                    }
                    sys::poll_readable(self.fd.as_fd(), left)
                        .map_err(|e| Error::os(op, socket_resource(&self.address), e))?;
                }
                // A client that gave up before we took it.
                Err(Errno::ECONNABORTED) => {}
                Err(e) => return Err(Error::os(op, socket_resource(&self.address), e)),
            }
        }
    }
}

impl AsFd for Listener {
    /// Readable when a client waits to be accepted: a source for
    /// [`wait`](super::wait).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.unlink_in != Some(sys::process::getpid()) {
            return;
        }
        // Only the socket file this listener made: while the listener is
        // open its file's inode cannot be reused, so the same device and
        // inode mean the same file.
        let path = as_path(self.address.as_bytes());
        let ours = std::fs::symlink_metadata(path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.made);
        if ours {
            let _ = socket::unlink(self.address.as_bytes());
        }
    }
}

/// A socket path as a `Path`.
fn as_path(bytes: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt as _;
    std::path::Path::new(std::ffi::OsStr::from_bytes(bytes))
}

/// Connects to the [`Listener`] at `address` (Python's
/// `multiprocessing.connection.Client(address)`): see [`Listener`] for
/// addresses and for why peer credentials replace Python's `authkey`.
///
/// # Errors
///
/// [`ErrorKind::NotFound`] when nobody listens there;
/// [`ErrorKind::PermissionDenied`] naming the listener's pid when it runs
/// as another uid (and not as root); as [`Listener::bind`] for a malformed
/// address.
#[doc(alias = "Client")]
pub fn client(address: &str) -> Result<Connection> {
    const OP: &str = "ipc::client";
    let fd = socket::seqpacket_connect(parse(address)).map_err(|e| match e {
        Errno::ENOENT => Error::new(OP, socket_resource(address), ErrorKind::NotFound),
        e => address_error(OP, address, e),
    })?;
    let peer =
        socket::peer_credentials(&fd).map_err(|e| Error::os(OP, socket_resource(address), e))?;
    if peer.uid != socket::effective_uid() && peer.uid != 0 {
        return Err(Error::new(
            OP,
            Resource::Pid(Pid::from_kernel(peer.pid)),
            ErrorKind::PermissionDenied,
        ));
    }
    Ok(Connection::new(fd, true, true))
}

impl Connection {
    /// Who is at the other end (`SO_PEERCRED`): for a [`Listener`]'s
    /// connection, the client as it was when it connected; for a
    /// [`Pipe`](super::Pipe) end, the process that made the pipe.
    ///
    /// # Errors
    ///
    /// The kernel's refusal (not expected on a connected socket).
    pub fn peer_credentials(&self) -> Result<Credentials> {
        socket::peer_credentials(self.fd())
            .map(|c| Credentials {
                pid: Pid::from_kernel(c.pid),
                uid: c.uid,
                gid: c.gid,
            })
            .map_err(|e| {
                Error::os(
                    "Connection::peer_credentials",
                    Resource::Connection {
                        fd: self.fd().as_raw_fd(),
                    },
                    e,
                )
            })
    }
}
