//! The system layer: every raw libc, nix and signal-hook call of the crate.
//!
//! Nothing outside this module calls libc or nix. Each function here earns its
//! place: it converts a C return convention into `Result<_, Errno>`, owns a
//! file descriptor, retries `EINTR`, or upholds an obligation of an `unsafe`
//! call. Every `unsafe` block says why it is sound in a `// SAFETY:` line.
#![allow(unsafe_code)]
// The helpers serve the optional modules (pool, manager, daemon kit,
// server) too: a build that leaves some out leaves some helpers unused.
#![cfg_attr(
    not(all(
        feature = "pool",
        feature = "manager",
        feature = "daemon",
        feature = "server"
    )),
    allow(dead_code)
)]

pub(crate) mod epoll;
pub(crate) mod event;
#[cfg(feature = "server")]
pub(crate) mod exec;
pub(crate) mod fdpass;
pub(crate) mod file;
pub(crate) mod futex;
#[cfg(feature = "server")]
pub(crate) mod listen;
pub(crate) mod mem;
pub(crate) mod mq;
pub(crate) mod prefetch;
pub(crate) mod process;
#[cfg(feature = "tokio")]
pub(crate) mod reactor;
pub(crate) mod region;
pub(crate) mod robust;
pub(crate) mod shm;
pub(crate) mod signal;
pub(crate) mod socket;
#[cfg(feature = "daemon")]
pub(crate) mod systemd;
#[cfg(feature = "pool")]
pub(crate) mod task;
#[cfg(feature = "tokio")]
pub(crate) mod timer;

pub(crate) use nix::errno::Errno;

/// The longest name of a kernel object in a flat namespace (`shm_open`,
/// `mq_open`): a `/` and `NAME_MAX` (255) bytes.
pub(crate) const MAX_NAME: usize = 1 + 255;

/// `name` with a NUL after it, on the stack (allocation-free); `EINVAL` for
/// a name longer than [`MAX_NAME`] or with a NUL inside (callers check
/// names before, so this only guards the FFI).
fn with_nul(name: &str) -> Result<[u8; MAX_NAME + 1], Errno> {
    let bytes = name.as_bytes();
    if bytes.len() > MAX_NAME || bytes.contains(&0) {
        return Err(Errno::EINVAL);
    }
    let mut buf = [0u8; MAX_NAME + 1];
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(buf)
}

/// The CPU the calling thread runs on, plus one (`sched_getcpu(3)`; 0 when
/// it cannot be told): a hint, the thread may move at any time. Cheap
/// where the C library reads it from the thread's `rseq` area or the
/// vDSO.
pub(crate) fn cpu_plus_one() -> u32 {
    // SAFETY: sched_getcpu has no preconditions; it returns -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).map_or(0, |c| c.saturating_add(1))
}

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds: the same clock in
/// every process of the machine (so a time one process stores in shared
/// memory means the same to another).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec the call fills in; CLOCK_MONOTONIC
    // always exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Converts a C return value (`-1` and `errno` on failure) into a `Result`.
fn cvt(ret: libc::c_int) -> Result<libc::c_int, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Converts a raw `syscall(2)` return value into a `Result`.
fn cvt_long(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Runs `f` again while it fails with `EINTR`.
fn retry_on_intr<T>(mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Writes an errno value as its C name and description, e.g.
/// `ESRCH (No such process)`.
pub(crate) fn fmt_errno(errno: i32, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    match Errno::from_raw(errno) {
        Errno::UnknownErrno => write!(f, "errno {errno}"),
        // nix derives Debug for Errno, which prints the C name.
        e => write!(f, "{e:?} ({})", e.desc()),
    }
}

/// Time left until `deadline`, or `None` when none was given.
fn remaining(deadline: Option<std::time::Instant>) -> Option<std::time::Duration> {
    deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()))
}

/// Milliseconds for `poll(2)`, rounded up so a short wait never becomes a busy
/// loop; `-1` waits forever.
fn poll_millis(timeout: Option<std::time::Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// Waits until `fd` is readable (or hung up), for at most `timeout`.
/// Returns `true` when it is ready, `false` when the time ran out. `EINTR`
/// restarts the wait with the time that is left.
pub(crate) fn poll_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: Option<std::time::Duration>,
) -> Result<bool, Errno> {
    use std::os::fd::AsRawFd;
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid, initialised pollfd and we pass a count of 1.
        let ret = unsafe { libc::poll(&mut pfd, 1, poll_millis(remaining(deadline))) };
        match cvt(ret) {
            Ok(0) if remaining(deadline).is_some_and(|r| r.is_zero()) => return Ok(false),
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The most descriptors [`poll_many`] takes.
pub(crate) const POLL_MAX: usize = 64;

/// `poll(2)` for readability on up to [`POLL_MAX`] descriptors: a bit per
/// descriptor that is readable (or hung up, or in error), 0 when the time
/// ran out. `EINTR` restarts the wait with the time that is left.
pub(crate) fn poll_many(
    fds: &[std::os::fd::BorrowedFd<'_>],
    timeout: Option<std::time::Duration>,
) -> Result<u64, Errno> {
    use std::os::fd::AsRawFd;
    if fds.len() > POLL_MAX {
        return Err(Errno::EINVAL);
    }
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; POLL_MAX];
    for (p, fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd.as_raw_fd();
        p.events = libc::POLLIN;
    }
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        // SAFETY: `pfds` holds `fds.len()` initialised pollfds (at most
        // POLL_MAX, its length).
        let ret = unsafe {
            libc::poll(
                pfds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                poll_millis(remaining(deadline)),
            )
        };
        match cvt(ret) {
            Ok(0) if remaining(deadline).is_some_and(|r| r.is_zero()) => return Ok(0),
            Ok(0) => continue,
            Ok(_) => {
                let mut ready = 0u64;
                for (i, p) in pfds.iter().take(fds.len()).enumerate() {
                    if p.revents != 0 {
                        ready |= 1 << i;
                    }
                }
                return Ok(ready);
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}
