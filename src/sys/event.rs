//! `eventfd(2)`: the descriptor a shared-memory queue raises for
//! [`wait`](crate::ipc::wait) while someone watches it.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{Errno, cvt};

/// A new non-blocking, close-on-exec eventfd with a count of zero.
pub(crate) fn eventfd() -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: on success the descriptor is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes `fd` readable (adds one to its count).
pub(crate) fn raise(fd: BorrowedFd<'_>) {
    let one = 1u64;
    // SAFETY: writes the 8 bytes of `one`, alive for the call, to a
    // descriptor the borrow keeps open. The only failure of a non-blocking
    // eventfd write is a count at its maximum, which is readable anyway.
    let _ = unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            (&raw const one).cast(),
            8,
        )
    };
}

/// Makes `fd` unreadable (reads its count to zero); `EAGAIN` (already zero)
/// is not an error.
pub(crate) fn lower(fd: BorrowedFd<'_>) {
    let mut count = 0u64;
    // SAFETY: reads at most 8 bytes into `count`, alive for the call, from a
    // descriptor the borrow keeps open.
    let _ = unsafe {
        libc::read(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            (&raw mut count).cast(),
            8,
        )
    };
}

/// `raw` as a borrowed descriptor.
///
/// # Safety
///
/// `raw` must be an open descriptor for all of `'a` (I/O safety).
pub(crate) unsafe fn borrow<'a>(raw: RawFd) -> BorrowedFd<'a> {
    // SAFETY: the caller's promise.
    unsafe { BorrowedFd::borrow_raw(raw) }
}
