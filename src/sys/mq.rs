//! POSIX message queues: `mq_open(3)`, `mq_timedsend(3)`,
//! `mq_timedreceive(3)`, `mq_getattr(3)`, `mq_unlink(3)`, `mq_notify(2)`,
//! and the kernel's limits for them.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::{Errno, cvt, retry_on_intr, with_nul};

/// A queue's attributes as the kernel reports them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attr {
    pub(crate) max_messages: i64,
    pub(crate) message_size: i64,
    pub(crate) current: i64,
}

/// `mq_open(name, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600, attr)` when
/// `create` gives the capacity, else `mq_open(name, O_RDWR | O_CLOEXEC)`.
#[allow(clippy::useless_conversion)] // c_long is i32 on 32-bit targets
pub(crate) fn open(name: &str, create: Option<(i64, i64)>) -> Result<OwnedFd, Errno> {
    let cname = with_nul(name)?;
    let fd = match create {
        Some((max_messages, message_size)) => {
            // SAFETY: zeroed storage for a plain C struct; then the two
            // fields the kernel reads on creation.
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = libc::c_long::try_from(max_messages).unwrap_or(libc::c_long::MAX);
            attr.mq_msgsize = libc::c_long::try_from(message_size).unwrap_or(libc::c_long::MAX);
            let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL;
            retry_on_intr(|| {
                // SAFETY: `cname` is NUL-terminated and `attr` is live for
                // the call; the variadic mode and attr pointer are what
                // O_CREAT reads.
                cvt(unsafe {
                    libc::mq_open(
                        cname.as_ptr().cast(),
                        flags,
                        0o600 as libc::mode_t,
                        &attr as *const libc::mq_attr,
                    )
                })
            })?
        }
        None => retry_on_intr(|| {
            // SAFETY: `cname` is NUL-terminated and outlives the call.
            cvt(unsafe { libc::mq_open(cname.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) })
        })?,
    };
    // SAFETY: mq_open returned a new descriptor (a file descriptor on
    // Linux, closed by close(2)) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `mq_unlink(name)`.
pub(crate) fn unlink(name: &str) -> Result<(), Errno> {
    let cname = with_nul(name)?;
    // SAFETY: `cname` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::mq_unlink(cname.as_ptr().cast()) }).map(drop)
}

/// `mq_unlink(name)` only while `name` is the queue `(dev, ino)` (looked
/// at with `mq_open(O_RDONLY)` and `fstat`): `ENOENT` when the name is gone
/// or now names another queue, which is left alone. A queue the caller
/// holds open cannot have its inode reused, so the identity is exact for
/// it; only a queue made in the instant between the look and the unlink
/// could slip through.
pub(crate) fn unlink_if(name: &str, (dev, ino): (u64, u64)) -> Result<(), Errno> {
    let cname = with_nul(name)?;
    let fd = retry_on_intr(|| {
        // SAFETY: `cname` is NUL-terminated and outlives the call.
        cvt(unsafe { libc::mq_open(cname.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) })
    })?;
    // SAFETY: mq_open returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = super::shm::stat(&fd)?;
    if (st.dev, st.ino) != (dev, ino) {
        return Err(Errno::ENOENT);
    }
    unlink(name)
}

/// `mq_getattr`.
#[allow(clippy::useless_conversion)] // c_long is i32 on 32-bit targets
pub(crate) fn attributes(fd: &OwnedFd) -> Result<Attr, Errno> {
    // SAFETY: zeroed storage the kernel fills in.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: `attr` is live and writable; the descriptor is ours.
    cvt(unsafe { libc::mq_getattr(fd.as_raw_fd(), &mut attr) })?;
    Ok(Attr {
        max_messages: i64::from(attr.mq_maxmsg),
        message_size: i64::from(attr.mq_msgsize),
        current: i64::from(attr.mq_curmsgs),
    })
}

/// How long a send or receive may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// As long as it takes.
    Forever,
    /// Not at all (`ETIMEDOUT` at once when it would have to).
    Never,
    /// At most this long (`ETIMEDOUT` after).
    For(Duration),
}

/// The absolute `CLOCK_REALTIME` deadline the timed calls take.
#[allow(clippy::useless_conversion)] // time_t and c_long are i32 on 32-bit targets
fn deadline(wait: Wait) -> Option<libc::timespec> {
    let after = match wait {
        Wait::Forever => return None,
        Wait::Never => {
            return Some(libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            });
        }
        Wait::For(d) => d,
    };
    // SAFETY: zeroed storage for the timespec clock_gettime fills in.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is live and writable; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0) + u64::from(after.subsec_nanos());
    let secs = i64::from(now.tv_sec)
        .saturating_add(i64::try_from(after.as_secs()).unwrap_or(i64::MAX))
        .saturating_add((nanos / 1_000_000_000) as i64);
    Some(libc::timespec {
        tv_sec: libc::time_t::try_from(secs).unwrap_or(libc::time_t::MAX),
        // Below 10^9: fits every target's c_long.
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    })
}

fn deadline_ptr(ts: &Option<libc::timespec>) -> *const libc::timespec {
    ts.as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec)
}

/// `mq_timedsend` (or `mq_send` for [`Wait::Forever`]).
pub(crate) fn send(fd: &OwnedFd, msg: &[u8], priority: u32, wait: Wait) -> Result<(), Errno> {
    let ts = deadline(wait);
    retry_on_intr(|| {
        // SAFETY: `msg` is live for the call; `ts` is null (wait forever)
        // or points to a live timespec.
        cvt(unsafe {
            if ts.is_none() {
                libc::mq_send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), priority)
            } else {
                libc::mq_timedsend(
                    fd.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    priority,
                    deadline_ptr(&ts),
                )
            }
        })
    })
    .map(drop)
}

/// `mq_timedreceive` (or `mq_receive`): the message's length and priority.
pub(crate) fn receive(fd: &OwnedFd, buf: &mut [u8], wait: Wait) -> Result<(usize, u32), Errno> {
    let ts = deadline(wait);
    let mut priority: libc::c_uint = 0;
    let n = retry_on_intr(|| {
        // SAFETY: `buf` and `priority` are live and writable for the call;
        // `ts` is null or points to a live timespec.
        let n = unsafe {
            if ts.is_none() {
                libc::mq_receive(
                    fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut priority,
                )
            } else {
                libc::mq_timedreceive(
                    fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut priority,
                    deadline_ptr(&ts),
                )
            }
        };
        if n < 0 {
            Err(Errno::last())
        } else {
            Ok(n as usize)
        }
    })?;
    Ok((n, priority))
}

/// `mq_notify` with `SIGEV_SIGNAL`: `sig` once, when a message arrives in
/// the empty queue and nobody waits in a receive; `None` cancels.
pub(crate) fn notify(fd: &OwnedFd, sig: Option<i32>) -> Result<(), Errno> {
    // SAFETY: zeroed storage for a plain C struct; the fields set below are
    // what SIGEV_SIGNAL reads.
    let mut ev: libc::sigevent = unsafe { std::mem::zeroed() };
    let ptr = match sig {
        Some(sig) => {
            ev.sigev_notify = libc::SIGEV_SIGNAL;
            ev.sigev_signo = sig;
            &ev as *const libc::sigevent
        }
        None => std::ptr::null(),
    };
    // SAFETY: the descriptor is ours; `ptr` is null (cancel) or points to
    // the live sigevent above.
    super::cvt_long(unsafe { libc::syscall(libc::SYS_mq_notify, fd.as_raw_fd(), ptr) }).map(drop)
}

/// A kernel limit on message queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// `/proc/sys/fs/mqueue/msg_max`.
    MsgMax,
    /// `/proc/sys/fs/mqueue/msgsize_max`.
    MsgsizeMax,
    /// `/proc/sys/fs/mqueue/queues_max`.
    QueuesMax,
    /// `RLIMIT_MSGQUEUE`: bytes of queues per user.
    Rlimit,
}

/// The current value of `limit`, if it can be read.
pub(crate) fn limit(limit: Limit) -> Option<u64> {
    let path = match limit {
        Limit::MsgMax => "/proc/sys/fs/mqueue/msg_max",
        Limit::MsgsizeMax => "/proc/sys/fs/mqueue/msgsize_max",
        Limit::QueuesMax => "/proc/sys/fs/mqueue/queues_max",
        Limit::Rlimit => {
            // SAFETY: zeroed storage the kernel fills in.
            let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
            // SAFETY: `rl` is live and writable.
            cvt(unsafe { libc::getrlimit(libc::RLIMIT_MSGQUEUE, &mut rl) }).ok()?;
            return Some(rl.rlim_cur as u64);
        }
    };
    let mut buf = [0u8; 32];
    let mut file = std::fs::File::open(path).ok()?;
    let n = std::io::Read::read(&mut file, &mut buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}
