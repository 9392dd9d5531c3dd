//! [`ListenFds`]: socket activation, the descriptors systemd opened for the
//! daemon (`sd_listen_fds(3)`), taken once at start.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::notify::remove_env;
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys::{self, Errno, systemd};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`): 0, 1 and 2
/// are standard input, output and error.
pub const LISTEN_FDS_START: RawFd = 3;

/// The most descriptors [`ListenFds::from_env`] takes; more is refused
/// as a broken environment.
pub const LISTEN_FDS_MAX: usize = 1024;

/// The environment variable naming the process the descriptors are for.
pub const LISTEN_PID: &str = "LISTEN_PID";
/// The environment variable with the number of descriptors passed.
pub const LISTEN_FDS: &str = "LISTEN_FDS";
/// The environment variable with their names, separated by `:`.
pub const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";

/// The name systemd gives a descriptor when the unit names none (and
/// [`ListenFds`] when `LISTEN_FDNAMES` is absent).
pub const UNKNOWN_NAME: &str = "unknown";

/// What a descriptor systemd passed is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FdKind {
    /// A listening TCP socket (IPv4 or IPv6 `SOCK_STREAM`):
    /// [`ListenFd::into_tcp_listener`].
    TcpListener,
    /// A listening Unix stream socket: [`ListenFd::into_unix_listener`].
    UnixListener,
    /// A listening Unix `SOCK_SEQPACKET` socket.
    UnixSeqpacketListener,
    /// A UDP socket (IPv4 or IPv6 `SOCK_DGRAM`): [`ListenFd::into_udp_socket`].
    UdpSocket,
    /// A Unix datagram socket: [`ListenFd::into_unix_datagram`].
    UnixDatagram,
    /// Another socket: not listening (`Accept=yes` passes a connection), or
    /// of another family or type (netlink, packet…).
    OtherSocket,
    /// A FIFO (`ListenFIFO=`).
    Fifo,
    /// Anything else: a regular file, a character device
    /// (`ListenSpecial=`), a message queue…
    Other,
}

impl FdKind {
    fn of(info: systemd::FdInfo) -> FdKind {
        let inet = info.family == systemd::AF_INET || info.family == systemd::AF_INET6;
        let unix = info.family == systemd::AF_UNIX;
        match info.file_type {
            systemd::S_IFSOCK => match (info.sock_type, info.listening) {
                (systemd::SOCK_STREAM, true) if inet => FdKind::TcpListener,
                (systemd::SOCK_STREAM, true) if unix => FdKind::UnixListener,
                (systemd::SOCK_SEQPACKET, true) if unix => FdKind::UnixSeqpacketListener,
                (systemd::SOCK_DGRAM, _) if inet => FdKind::UdpSocket,
                (systemd::SOCK_DGRAM, _) if unix => FdKind::UnixDatagram,
                _ => FdKind::OtherSocket,
            },
            systemd::S_IFIFO => FdKind::Fifo,
            _ => FdKind::Other,
        }
    }
}

/// One descriptor systemd passed, owned: its name (`FileDescriptorName=`
/// in the `.socket` unit, `"unknown"` when unnamed) and its kind. Closed
/// on drop; close-on-exec.
#[derive(Debug)]
pub struct ListenFd {
    fd: OwnedFd,
    name: String,
    kind: FdKind,
}

/// A [`ListenFd`] asked to become a type its kind does not fit: the
/// descriptor comes back whole ([`KindMismatch::into_inner`]). Converts to
/// an [`Error`] ([`ErrorKind::InvalidArgument`], naming the descriptor)
/// for `?`.
#[derive(Debug)]
pub struct KindMismatch {
    fd: ListenFd,
    wanted: FdKind,
}

impl KindMismatch {
    /// The kind that was asked for.
    pub fn wanted(&self) -> FdKind {
        self.wanted
    }

    /// The descriptor, unchanged.
    pub fn into_inner(self) -> ListenFd {
        self.fd
    }
}

impl core::fmt::Display for KindMismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "fd {} ({:?}) is a {:?}, not a {:?}",
            self.fd.fd.as_raw_fd(),
            self.fd.name,
            self.fd.kind,
            self.wanted
        )
    }
}

impl std::error::Error for KindMismatch {}

impl From<KindMismatch> for Error {
    fn from(e: KindMismatch) -> Error {
        Error::new(
            "ListenFd::into",
            Resource::Descriptor(e.fd.fd.as_raw_fd()),
            ErrorKind::InvalidArgument(
                "the descriptor systemd passed is not of the kind asked for (see ListenFd::kind)",
            ),
        )
    }
}

impl ListenFd {
    /// Its name: `FileDescriptorName=` (or the socket unit's name, systemd's
    /// default), `systemd-socket-activate --fdname=`; `"unknown"` when the
    /// environment named none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it is.
    pub fn kind(&self) -> FdKind {
        self.kind
    }

    /// The descriptor itself.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    fn into_kind<T: From<OwnedFd>>(self, wanted: FdKind) -> Result<T, KindMismatch> {
        if self.kind == wanted {
            Ok(T::from(self.fd))
        } else {
            Err(KindMismatch { fd: self, wanted })
        }
    }

    /// As a [`std::net::TcpListener`], for a [`FdKind::TcpListener`].
    ///
    /// # Errors
    ///
    /// [`KindMismatch`], with the descriptor, for another kind.
    pub fn into_tcp_listener(self) -> Result<std::net::TcpListener, KindMismatch> {
        self.into_kind(FdKind::TcpListener)
    }

    /// As a [`std::os::unix::net::UnixListener`], for a
    /// [`FdKind::UnixListener`].
    ///
    /// # Errors
    ///
    /// [`KindMismatch`], with the descriptor, for another kind.
    pub fn into_unix_listener(self) -> Result<std::os::unix::net::UnixListener, KindMismatch> {
        self.into_kind(FdKind::UnixListener)
    }

    /// As a [`std::net::UdpSocket`], for a [`FdKind::UdpSocket`].
    ///
    /// # Errors
    ///
    /// [`KindMismatch`], with the descriptor, for another kind.
    pub fn into_udp_socket(self) -> Result<std::net::UdpSocket, KindMismatch> {
        self.into_kind(FdKind::UdpSocket)
    }

    /// As a [`std::os::unix::net::UnixDatagram`], for a
    /// [`FdKind::UnixDatagram`].
    ///
    /// # Errors
    ///
    /// [`KindMismatch`], with the descriptor, for another kind.
    pub fn into_unix_datagram(self) -> Result<std::os::unix::net::UnixDatagram, KindMismatch> {
        self.into_kind(FdKind::UnixDatagram)
    }
}

impl AsFd for ListenFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<ListenFd> for OwnedFd {
    fn from(fd: ListenFd) -> OwnedFd {
        fd.fd
    }
}

/// The descriptors systemd passed to this process (socket activation,
/// `sd_listen_fds_with_names(3)`), taken from the environment once, at
/// start, each owned, checked and with its name and kind.
///
/// ```no_run
/// use mproc::daemon::ListenFds;
///
/// let mut fds = ListenFds::from_env()?;
/// let web = match fds.take_name("web") {
///     Some(fd) => fd.into_tcp_listener()?,
///     None => std::net::TcpListener::bind("127.0.0.1:8000").unwrap(),
/// };
/// # drop(web);
/// # Ok::<(), mproc::Error>(())
/// ```
#[derive(Debug, Default)]
#[doc(alias = "sd_listen_fds")]
#[doc(alias = "sd_listen_fds_with_names")]
pub struct ListenFds {
    fds: Vec<ListenFd>,
}

/// Reads a decimal variable; `None` when absent.
fn number(op: &'static str, name: &'static str, value: Option<&str>) -> Result<Option<u64>> {
    value
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                Error::new(
                    op,
                    Resource::Environment(name),
                    ErrorKind::InvalidArgument("not a decimal number"),
                )
            })
        })
        .transpose()
}

fn var(op: &'static str, name: &'static str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::new(
            op,
            Resource::Environment(name),
            ErrorKind::InvalidArgument("not UTF-8"),
        )),
    }
}

impl ListenFds {
    /// Takes the descriptors systemd passed: `LISTEN_FDS` of them from fd
    /// 3, named by `LISTEN_FDNAMES`, if `LISTEN_PID` is this process. Then
    /// removes the three variables from the environment — whatever they
    /// held, as `sd_listen_fds(1)` does — so that children and the
    /// programs they `exec` do not take them for theirs. Each descriptor
    /// is checked to be open, made close-on-exec and owned by the
    /// returned value.
    ///
    /// Empty (not an error) when the descriptors are not for this process:
    /// `LISTEN_PID` or `LISTEN_FDS` absent (not socket-activated),
    /// `LISTEN_PID` naming another process (inherited from a parent that
    /// did not take them), `LISTEN_FDS=0`. Only once per process: the
    /// variables are gone afterwards, so a second call finds nothing.
    /// Allocates once, here (the names).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ThreadsRunning`] when other threads run: the
    /// environment cannot be changed soundly then, so nothing is read,
    /// taken or removed (call it first thing in `main`);
    /// [`ErrorKind::InvalidArgument`] naming the variable for a
    /// `LISTEN_PID` or `LISTEN_FDS` that is not a decimal number, or a
    /// `LISTEN_FDNAMES` whose count of names differs from `LISTEN_FDS`;
    /// [`ErrorKind::CapacityExceeded`] past [`LISTEN_FDS_MAX`];
    /// [`ErrorKind::Os`] (`EBADF`) naming the first descriptor that is not
    /// open (none is taken). On every error the variables are removed all
    /// the same (but for `ThreadsRunning`).
    pub fn from_env() -> Result<ListenFds> {
        const OP: &str = "ListenFds::from_env";
        // First, so that a refusal leaves everything as it was.
        if let Err(threads) = systemd_single_threaded(OP)? {
            return Err(Error::new(
                OP,
                Resource::Environment(LISTEN_FDS),
                ErrorKind::ThreadsRunning { threads },
            ));
        }
        let read = (
            var(OP, LISTEN_PID),
            var(OP, LISTEN_FDS),
            var(OP, LISTEN_FDNAMES),
        );
        remove_env(OP, &[LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES], LISTEN_FDS)?;
        let (pid, count, names) = (read.0?, read.1?, read.2?);
        let Some(pid) = number(OP, LISTEN_PID, pid.as_deref())? else {
            return Ok(ListenFds::default());
        };
        if pid != u64::try_from(sys::process::getpid()).unwrap_or(0) {
            return Ok(ListenFds::default());
        }
        let count = match number(OP, LISTEN_FDS, count.as_deref())? {
            None | Some(0) => return Ok(ListenFds::default()),
            Some(n) if n > LISTEN_FDS_MAX as u64 => {
                return Err(Error::new(
                    OP,
                    Resource::Environment(LISTEN_FDS),
                    ErrorKind::CapacityExceeded {
                        limit: LISTEN_FDS_MAX,
                    },
                ));
            }
            Some(n) => n as usize,
        };
        let names: Vec<&str> = match names.as_deref() {
            Some(names) => names.split(':').collect(),
            None => vec![UNKNOWN_NAME; count],
        };
        if names.len() != count {
            return Err(Error::new(
                OP,
                Resource::Environment(LISTEN_FDNAMES),
                ErrorKind::InvalidArgument("the count of names differs from LISTEN_FDS"),
            ));
        }
        let mut fds = Vec::with_capacity(count);
        let mut names = names.into_iter();
        systemd::take_listen_fds(LISTEN_FDS_START, count, |fd, info| {
            let name = names.next().unwrap_or(UNKNOWN_NAME);
            fds.push(ListenFd {
                fd,
                name: if name.is_empty() { UNKNOWN_NAME } else { name }.to_owned(),
                kind: FdKind::of(info),
            });
        })
        .map_err(|(e, fd)| match e {
            Errno::EALREADY => Error::new(
                OP,
                Resource::Descriptor(fd),
                ErrorKind::InvalidArgument("the descriptors systemd passed were taken already"),
            ),
            e => Error::os(OP, Resource::Descriptor(fd), e),
        })?;
        Ok(ListenFds { fds })
    }

    /// How many descriptors are left.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Whether none is left (or none was passed).
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// The descriptors left, in the order systemd passed them.
    pub fn iter(&self) -> std::slice::Iter<'_, ListenFd> {
        self.fds.iter()
    }

    /// Takes the first descriptor named `name` (several may share a name:
    /// call again for the next).
    pub fn take_name(&mut self, name: &str) -> Option<ListenFd> {
        let i = self.fds.iter().position(|fd| fd.name == name)?;
        Some(self.fds.remove(i))
    }

    /// Takes the first descriptor of kind `kind`.
    pub fn take_kind(&mut self, kind: FdKind) -> Option<ListenFd> {
        let i = self.fds.iter().position(|fd| fd.kind == kind)?;
        Some(self.fds.remove(i))
    }
}

/// Whether the process runs one thread (else the count).
fn systemd_single_threaded(op: &'static str) -> Result<Result<(), u32>> {
    systemd::single_threaded().map_err(|e| Error::os(op, Resource::CurrentProcess, e))
}

impl IntoIterator for ListenFds {
    type Item = ListenFd;
    type IntoIter = std::vec::IntoIter<ListenFd>;
    fn into_iter(self) -> Self::IntoIter {
        self.fds.into_iter()
    }
}

impl<'a> IntoIterator for &'a ListenFds {
    type Item = &'a ListenFd;
    type IntoIter = std::slice::Iter<'a, ListenFd>;
    fn into_iter(self) -> Self::IntoIter {
        self.fds.iter()
    }
}
