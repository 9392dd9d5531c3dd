//! What the systemd protocols need from the kernel: a datagram socket and
//! `sendto(2)` for `sd_notify`, `fstat(2)`/`getsockopt(2)`/`getsockname(2)`
//! to check the descriptors of socket activation, and removing environment
//! variables (`unsetenv`) where that is sound.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use super::socket::{Address, sockaddr};
use super::{Errno, cvt, retry_on_intr};

/// An unbound `AF_UNIX` `SOCK_DGRAM` socket (close-on-exec) whose sends
/// wait at most `send_timeout` for room in the receiver's queue
/// (`SO_SNDTIMEO`), then fail with `EAGAIN`.
pub(crate) fn notify_socket(send_timeout: std::time::Duration) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments.
    let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: on success the descriptor is new and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: send_timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_usec: send_timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: `tv` is a live timeval and the length is its size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Sends `bytes` as one datagram to `address` (`sendto(2)`, never raising
/// `SIGPIPE`). The address is looked up afresh on each send, so a
/// receiver that re-binds its path (systemd after `daemon-reexec`) is
/// still reached. `ECONNREFUSED`/`ENOENT` when nobody is bound there,
/// `EAGAIN` when the receiver's queue stayed full for the send timeout.
pub(crate) fn send_to(fd: &OwnedFd, address: Address<'_>, bytes: &[u8]) -> Result<(), Errno> {
    let (sa, len) = sockaddr(address)?;
    let sent = retry_on_intr(|| {
        // SAFETY: `bytes` is live for the call; `sa` is an initialised
        // sockaddr_un of `len` meaningful bytes.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
                (&raw const sa).cast(),
                len,
            )
        };
        if n < 0 {
            Err(Errno::last())
        } else {
            Ok(n as usize)
        }
    })?;
    // A datagram goes whole or not at all.
    if sent == bytes.len() {
        Ok(())
    } else {
        Err(Errno::EMSGSIZE)
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as `MONOTONIC_USEC=` wants it.
pub(crate) fn monotonic_us() -> u64 {
    super::monotonic_ns() / 1000
}

/// What a descriptor is, as far as socket activation cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FdInfo {
    /// The file type bits of `st_mode` (`S_IFSOCK`, `S_IFIFO`…).
    pub(crate) file_type: u32,
    /// For a socket: `SO_TYPE` (`SOCK_STREAM`…), else 0.
    pub(crate) sock_type: i32,
    /// For a socket: whether it listens (`SO_ACCEPTCONN`).
    pub(crate) listening: bool,
    /// For a socket: its address family (`getsockname`), else 0.
    pub(crate) family: i32,
}

/// The `S_IFSOCK` file type.
pub(crate) const S_IFSOCK: u32 = libc::S_IFSOCK;
/// The `S_IFIFO` file type.
pub(crate) const S_IFIFO: u32 = libc::S_IFIFO;
/// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`.
pub(crate) const SOCK_STREAM: i32 = libc::SOCK_STREAM;
/// `SOCK_DGRAM`.
pub(crate) const SOCK_DGRAM: i32 = libc::SOCK_DGRAM;
/// `SOCK_SEQPACKET`.
pub(crate) const SOCK_SEQPACKET: i32 = libc::SOCK_SEQPACKET;
/// `AF_UNIX`.
pub(crate) const AF_UNIX: i32 = libc::AF_UNIX;
/// `AF_INET`.
pub(crate) const AF_INET: i32 = libc::AF_INET;
/// `AF_INET6`.
pub(crate) const AF_INET6: i32 = libc::AF_INET6;

/// `fstat(2)` of `fd`: its device and inode, and its file type bits.
/// `EBADF` when it is not open. The 64-bit form on glibc, so a 32-bit
/// target reads a large inode number (journald's stream, a file on XFS)
/// instead of failing with `EOVERFLOW`.
#[allow(clippy::useless_conversion)] // the stat fields' widths vary by target
pub(crate) fn fstat(fd: RawFd) -> Result<(u64, u64, u32), Errno> {
    #[cfg(not(target_env = "gnu"))]
    use libc::{fstat, stat};
    #[cfg(target_env = "gnu")]
    use libc::{fstat64 as fstat, stat64 as stat};
    // SAFETY: stat is plain data; all zero is valid.
    let mut st: stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a live stat the call fills in; a closed `fd` is
    // refused with EBADF, never dereferenced.
    cvt(unsafe { fstat(fd, &mut st) })?;
    Ok((
        u64::from(st.st_dev),
        u64::from(st.st_ino),
        st.st_mode & libc::S_IFMT,
    ))
}

fn sockopt_int(fd: RawFd, opt: libc::c_int) -> Result<libc::c_int, Errno> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and describe an int-sized buffer.
    cvt(unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut value).cast(), &mut len) })?;
    Ok(value)
}

/// What `fd` is: file type, and for a socket its type, whether it
/// listens and its family. `EBADF` when it is not open.
pub(crate) fn fd_info(fd: RawFd) -> Result<FdInfo, Errno> {
    let (_, _, file_type) = fstat(fd)?;
    let mut info = FdInfo {
        file_type,
        sock_type: 0,
        listening: false,
        family: 0,
    };
    if file_type == S_IFSOCK {
        info.sock_type = sockopt_int(fd, libc::SO_TYPE)?;
        info.listening = sockopt_int(fd, libc::SO_ACCEPTCONN)? != 0;
        // SAFETY: sockaddr_storage is plain data; all zero is valid.
        let mut sa: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `sa` and `len` are live and describe the storage's size;
        // the kernel writes at most `len` bytes.
        cvt(unsafe { libc::getsockname(fd, (&raw mut sa).cast(), &mut len) })?;
        info.family = i32::from(sa.ss_family);
    }
    Ok(info)
}

/// Sets close-on-exec on `fd` (`fcntl(F_SETFD, FD_CLOEXEC)`).
fn set_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: plain integer arguments; a closed fd is refused with EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    if flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
    }
    Ok(())
}

/// Set once the descriptors systemd passed have been taken: they have one
/// owner in this process.
static LISTEN_FDS_TAKEN: AtomicBool = AtomicBool::new(false);

/// Takes ownership of the `count` descriptors from `first` that systemd
/// passed (socket activation), each checked to be open and made
/// close-on-exec, with what each one is. Only once per process: `EALREADY`
/// on a second call, and `EBADF` (nothing taken) when one of them is not
/// open; the index of the bad one is returned beside the errno.
pub(crate) fn take_listen_fds(
    first: RawFd,
    count: usize,
    mut each: impl FnMut(OwnedFd, FdInfo),
) -> Result<(), (Errno, RawFd)> {
    // Check every descriptor before owning any, so a refusal takes none.
    for i in 0..count {
        let fd = first + i as RawFd;
        fd_info(fd).map_err(|e| (e, fd))?;
    }
    if LISTEN_FDS_TAKEN.swap(true, Ordering::AcqRel) {
        return Err((Errno::EALREADY, first));
    }
    for i in 0..count {
        let fd = first + i as RawFd;
        let info = fd_info(fd).map_err(|e| (e, fd))?;
        set_cloexec(fd).map_err(|e| (e, fd))?;
        // SAFETY: systemd passed `fd` to this process for it to own
        // (sd_listen_fds(3)): it is open (checked just above), and the
        // flag set above makes this the only place in the process that
        // ever takes it; the caller checked that the environment names
        // this process (LISTEN_PID).
        each(unsafe { OwnedFd::from_raw_fd(fd) }, info);
    }
    Ok(())
}

/// Whether the process runs a single thread (the check that lets the
/// crate fork); otherwise the thread count.
pub(crate) fn single_threaded() -> Result<Result<(), u32>, Errno> {
    super::process::ForkPermit::single_threaded().map(|r| r.map(drop))
}

/// Removes the environment variables `names` from this process, if it
/// runs a single thread; otherwise leaves them and returns the thread
/// count.
pub(crate) fn remove_env(names: &[&str]) -> Result<Result<(), u32>, Errno> {
    if let Err(threads) = single_threaded()? {
        return Ok(Err(threads));
    }
    for name in names {
        // SAFETY: the process runs one thread (checked just above: the
        // same check that lets the crate fork), this one, so no other
        // thread can read or write the environment while it changes.
        unsafe { std::env::remove_var(name) };
    }
    Ok(Ok(()))
}
