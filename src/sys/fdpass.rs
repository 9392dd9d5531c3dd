//! Descriptors passed over Unix sockets (`SCM_RIGHTS`), several per
//! message, and the keyed descriptor queue a pool uses to hand a
//! descriptor to whichever worker claims its task.

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::mem::Shareable;
use super::{Errno, cvt, retry_on_intr};

/// The most descriptors one message carries (`SCM_MAX_FD` is 253; a
/// receiver keeps room for this many and the kernel closes the rest).
pub(crate) const MAX_FDS: usize = 16;

/// Room for one `SCM_RIGHTS` control message of [`MAX_FDS`] descriptors
/// (`CMSG_SPACE(16 * 4)` is 80 bytes on 64-bit and 76 on 32-bit targets),
/// aligned as `cmsghdr` wants.
#[repr(C, align(8))]
struct Control([u8; 96]);

fn space(count: usize) -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation.
    unsafe { libc::CMSG_SPACE((count * std::mem::size_of::<libc::c_int>()) as u32) as usize }
}

/// Sends `bytes` as one message with copies of `fds` attached (at most
/// [`MAX_FDS`]; none is allowed too), `MSG_NOSIGNAL`; `MSG_DONTWAIT`
/// unless `wait`. `EMSGSIZE` if only part went.
pub(crate) fn send_fds(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
    wait: bool,
) -> Result<(), Errno> {
    send_raw(sock, bytes.as_ptr(), bytes.len(), fds, wait)
}

/// [`send_fds`] of the bytes of `value` (its padding, if any, is read by
/// the kernel only).
pub(crate) fn send_value_fds<T: Shareable>(
    sock: BorrowedFd<'_>,
    value: &T,
    fds: &[BorrowedFd<'_>],
    wait: bool,
) -> Result<(), Errno> {
    send_raw(
        sock,
        (value as *const T).cast(),
        std::mem::size_of::<T>(),
        fds,
        wait,
    )
}

/// Sends the `len` bytes at `ptr` (alive for the call) with `fds`.
fn send_raw(
    sock: BorrowedFd<'_>,
    ptr: *const u8,
    len: usize,
    fds: &[BorrowedFd<'_>],
    wait: bool,
) -> Result<(), Errno> {
    if fds.len() > MAX_FDS {
        return Err(Errno::EINVAL);
    }
    let mut control = Control([0; 96]);
    debug_assert!(space(MAX_FDS) <= control.0.len());
    let mut iov = libc::iovec {
        iov_base: ptr.cast_mut().cast(),
        iov_len: len,
    };
    // SAFETY: msghdr is plain data; all zero is an empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = space(fds.len()) as _;
        // SAFETY: `msg` describes `control`, which has room for one cmsghdr
        // with `fds.len()` ints (at most MAX_FDS, checked above), so
        // CMSG_FIRSTHDR is non-null and the data written stays inside it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len =
                libc::CMSG_LEN((fds.len() * std::mem::size_of::<libc::c_int>()) as u32) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            for (i, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned(data.add(i), fd.as_raw_fd());
            }
        }
    }
    let flags = libc::MSG_NOSIGNAL | if wait { 0 } else { libc::MSG_DONTWAIT };
    let sent = retry_on_intr(|| {
        // SAFETY: `msg` points at `iov` (the caller's live bytes) and at
        // `control`, all alive for the call; the kernel only reads them.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
        if n < 0 {
            Err(Errno::last())
        } else {
            Ok(n as usize)
        }
    })?;
    if sent == len {
        Ok(())
    } else {
        Err(Errno::EMSGSIZE)
    }
}

/// What [`recv_fds`] took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Received {
    /// The message's real length (`MSG_TRUNC`): more than the buffer when
    /// its tail was cut off (and is gone); 0 at end-of-stream.
    pub(crate) len: usize,
    /// Descriptors put into the caller's slots.
    pub(crate) fds: usize,
    /// Descriptors that came beyond the caller's slots, closed here, plus
    /// any the kernel closed for want of room (`MSG_CTRUNC`: then at
    /// least one, the exact number is not known).
    pub(crate) closed: usize,
}

/// Takes the next message into `buf` with the descriptors sent along with
/// it, received close-on-exec: the first `out.len()` go into `out` (in the
/// order sent; the slots past them are set to `None`), the rest are
/// closed. `MSG_DONTWAIT` unless `wait` (`EAGAIN` when none is there).
pub(crate) fn recv_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    out: &mut [Option<OwnedFd>],
    wait: bool,
) -> Result<Received, Errno> {
    recv_raw(sock, buf.as_mut_ptr(), buf.len(), out, wait)
}

/// [`recv_fds`] of a `T`: `Ok(Ok(value))` when the message is exactly
/// `size_of::<T>()` bytes long, `Ok(Err(..))` (the message taken, its
/// descriptors in `out` all the same) otherwise.
pub(crate) fn recv_value_fds<T: Shareable>(
    sock: BorrowedFd<'_>,
    out: &mut [Option<OwnedFd>],
    wait: bool,
) -> Result<(Result<T, ()>, Received), Errno> {
    let mut slot = MaybeUninit::<T>::uninit();
    let size = std::mem::size_of::<T>();
    let got = recv_raw(sock, slot.as_mut_ptr().cast(), size, out, wait)?;
    if got.len != size {
        return Ok((Err(()), got));
    }
    // SAFETY: the kernel wrote all `size` bytes of the slot; every bit
    // pattern is a valid T (Shareable), padding included.
    Ok((Ok(unsafe { slot.assume_init() }), got))
}

/// Receives into the `len` writable bytes at `ptr` (alive for the call).
fn recv_raw(
    sock: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    out: &mut [Option<OwnedFd>],
    wait: bool,
) -> Result<Received, Errno> {
    let mut control = Control([0; 96]);
    let mut iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    // SAFETY: msghdr is plain data; all zero is an empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = space(MAX_FDS) as _;
    let flags =
        libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC | if wait { 0 } else { libc::MSG_DONTWAIT };
    let len = retry_on_intr(|| {
        // SAFETY: `msg` points at `iov` (the caller's writable buffer) and
        // at `control`, both alive for the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if n < 0 {
            Err(Errno::last())
        } else {
            Ok(n as usize)
        }
    })?;
    for slot in out.iter_mut() {
        *slot = None;
    }
    let mut got = Received {
        len,
        ..Received::default()
    };
    // SAFETY: the kernel filled `control` up to msg_controllen; the CMSG
    // macros walk only that range, and each SCM_RIGHTS payload holds
    // (cmsg_len - CMSG_LEN(0)) / size_of::<c_int>() descriptors, now ours
    // (each is wrapped once, so each is closed exactly once).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<libc::c_int>();
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                for i in 0..count {
                    let owned = OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i)));
                    match out.get_mut(got.fds) {
                        Some(slot) => {
                            *slot = Some(owned);
                            got.fds += 1;
                        }
                        None => {
                            drop(owned);
                            got.closed += 1;
                        }
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        got.closed += 1;
    }
    Ok(got)
}

/// Takes the next message into `buf`, waiting for it, with the first
/// descriptor sent along with it if any (others are closed): the bytes
/// copied (0 at end-of-stream) and the descriptor. A message longer than
/// `buf` is `EMSGSIZE` (its descriptors closed).
pub(crate) fn recv_one_fd(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Option<OwnedFd>), Errno> {
    let mut out = [None];
    let got = recv_fds(sock, buf, &mut out, true)?;
    if got.len > buf.len() {
        return Err(Errno::EMSGSIZE);
    }
    let [fd] = out;
    Ok((got.len, fd))
}

/// Takes (`lock`) or releases a POSIX record lock on all of `fd`'s file,
/// waiting for it. Record locks belong to the process: one that dies
/// holding it releases it, and the processes sharing the descriptor
/// through a fork still exclude each other.
fn record_lock(fd: RawFd, lock: bool) -> Result<(), Errno> {
    // SAFETY: flock is plain data; all zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = if lock { libc::F_WRLCK } else { libc::F_UNLCK } as _;
    fl.l_whence = libc::SEEK_SET as _;
    retry_on_intr(|| {
        // SAFETY: `fl` is a live flock the call only reads; `fd` is a plain
        // integer (a bad one is EBADF).
        cvt(unsafe { libc::fcntl(fd, libc::F_SETLKW, &raw const fl) })
    })
    .map(drop)
}

/// Takes the message keyed `key` off a pool's descriptor queue, with its
/// descriptor: `queue` is the receiving end, `back` the sending end that
/// feeds it (descriptors numbered as the pool made them, inherited by its
/// workers through the fork). Under a record lock on `queue`, messages are
/// taken one by one; those of other keys go back to the tail, in order.
/// `Ok(None)` when no message has the key (the queue went round once, or
/// is empty). A message that carries no descriptor, or more than one,
/// is taken as it is (the extras closed).
pub(crate) fn take_keyed(queue: RawFd, back: RawFd, key: u64) -> Result<Option<OwnedFd>, Errno> {
    record_lock(queue, true)?;
    let found = cycle(queue, back, key);
    let unlocked = record_lock(queue, false);
    let found = found?;
    unlocked?;
    Ok(found)
}

fn cycle(queue: RawFd, back: RawFd, key: u64) -> Result<Option<OwnedFd>, Errno> {
    // SAFETY: the pool keeps both ends open for as long as any of its
    // processes may call this (they are closed when the pool drops, after
    // its workers are gone); a stale number fails with EBADF, as any bad
    // descriptor would.
    let (queue, back) = unsafe { (BorrowedFd::borrow_raw(queue), BorrowedFd::borrow_raw(back)) };
    let mut first = None;
    loop {
        let mut bytes = [0u8; 8];
        let mut fd = [None];
        let got = match recv_fds(queue, &mut bytes, &mut fd, false) {
            Ok(got) => got,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e),
        };
        if got.len != 8 {
            // Not one of ours: dropped (and its descriptor closed).
            continue;
        }
        let k = u64::from_ne_bytes(bytes);
        if k == key {
            return Ok(fd[0].take());
        }
        if first == Some(k) {
            // Round once: put it back (the order of the queue does not
            // matter: each message is taken by its key).
            requeue(back, &bytes, fd[0].take())?;
            return Ok(None);
        }
        if first.is_none() {
            first = Some(k);
        }
        requeue(back, &bytes, fd[0].take())?;
    }
}

fn requeue(back: BorrowedFd<'_>, bytes: &[u8; 8], fd: Option<OwnedFd>) -> Result<(), Errno> {
    match &fd {
        Some(fd) => {
            use std::os::fd::AsFd;
            send_fds(back, bytes, &[fd.as_fd()], true)
        }
        None => send_fds(back, bytes, &[], true),
    }
}

/// Takes every message off a pool's descriptor queue without waiting,
/// closing their descriptors (the pool's workers are gone).
pub(crate) fn drain(queue: BorrowedFd<'_>) {
    let mut byte = [0u8; 8];
    while let Ok(got) = recv_fds(queue, &mut byte, &mut [], false) {
        if got.len == 0 && got.fds == 0 && got.closed == 0 {
            break;
        }
    }
}

/// Bytes of `sock`'s sent messages not yet received (`SIOCOUTQ`): for a
/// Unix socket, what its queued messages are charged, about 768 bytes
/// each for a short message with a descriptor.
pub(crate) fn queued_bytes(sock: BorrowedFd<'_>) -> Result<usize, Errno> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int into the live `n`.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &raw mut n) })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Asks for a send buffer of `bytes` (`SO_SNDBUF`; the kernel doubles
/// it, and caps it at `net.core.wmem_max`).
pub(crate) fn set_send_buffer(sock: BorrowedFd<'_>, bytes: usize) -> Result<(), Errno> {
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `size` is a live int of the length given.
    cvt(unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}
