//! `epoll(7)`: the manager server's wait over its listener and every
//! client connection (more than `poll_many` takes).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::{Errno, cvt};

/// An epoll instance (close-on-exec).
pub(crate) struct Epoll {
    fd: OwnedFd,
}

/// One readiness report: the token given to [`Epoll::add`] and whether
/// the descriptor hung up or failed (besides being readable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ready {
    pub(crate) token: u64,
    pub(crate) hung_up: bool,
}

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub(crate) fn new() -> Result<Epoll, Errno> {
        // SAFETY: a plain flag argument.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: epoll_create1 just returned this descriptor; nobody else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    /// Watches `fd` for readability (level-triggered), reporting `token`.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, token: u64) -> Result<(), Errno> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: token,
        };
        // SAFETY: `ev` is a live epoll_event; both descriptors are open.
        cvt(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        })
        .map(drop)
    }

    /// Stops watching `fd` (before it is closed).
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL (Linux ≥ 2.6.9).
        cvt(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                std::ptr::null_mut(),
            )
        })
        .map(drop)
    }

    /// Waits up to `timeout` (`None`: no limit) and fills `out` with what is
    /// ready; returns how many. 0 when the time ran out or a signal
    /// interrupted the wait (the caller looks again).
    pub(crate) fn wait(
        &self,
        out: &mut [Ready],
        timeout: Option<Duration>,
    ) -> Result<usize, Errno> {
        const MAX: usize = 64;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX];
        let room = out.len().min(MAX);
        let millis = timeout.map_or(-1, |t| {
            // Round up, so a short wait does not become a busy loop.
            let ms = t.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        });
        // SAFETY: `events` has room for `room` (≤ MAX) entries.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                room as i32,
                millis,
            )
        };
        let n = match cvt(n) {
            Ok(n) => n as usize,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(e),
        };
        let hangup = (libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) as u32;
        for (slot, ev) in out.iter_mut().zip(&events[..n]) {
            *slot = Ready {
                token: ev.u64,
                hung_up: ev.events & hangup != 0,
            };
        }
        Ok(n)
    }
}

impl AsFd for Epoll {
    /// The epoll instance itself: readable while one of its descriptors is.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
