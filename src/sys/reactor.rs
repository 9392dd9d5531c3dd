//! Registering descriptors with the current tokio runtime's reactor
//! (feature `tokio`): `AsyncFd::register_with_interest`, whose obligation
//! (the descriptor stays open and the same for the `AsyncFd`'s life) an
//! `OwnedFd` or a `BorrowedFd` upholds by its type.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Watches `fd`, which the `AsyncFd` owns, for reading. Must be called
/// inside a runtime with I/O enabled.
pub(crate) fn watch_owned(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the `AsyncFd` owns `fd`: it stays open, and its raw value
    // the same, until the `AsyncFd` drops it.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(io::Error::from)
}

/// Watches `fd`, borrowed for `'a`, for reading. Must be called inside a
/// runtime with I/O enabled.
pub(crate) fn watch_borrowed(fd: BorrowedFd<'_>) -> io::Result<AsyncFd<BorrowedFd<'_>>> {
    // SAFETY: a `BorrowedFd<'a>` is open for all of `'a`, and the
    // `AsyncFd` holding it cannot outlive `'a`; its raw value never
    // changes.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(io::Error::from)
}

/// Watches `fd`, which the `AsyncFd` owns, for `interest` (the async
/// forms of `mproc::aio`). Must be called inside a runtime with I/O
/// enabled.
pub(crate) fn register_owned(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the `AsyncFd` owns `fd`: it stays open, and its raw value
    // the same, until the `AsyncFd` drops it.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}
