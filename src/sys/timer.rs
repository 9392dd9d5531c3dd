//! `timerfd_create(2)`: a descriptor that turns readable at a fixed
//! period, for the async waits that have no descriptor of their own to
//! watch (room in a queue of records of any length) and look again at
//! each tick.

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use super::{Errno, cvt};

/// A new non-blocking, close-on-exec timer on the monotonic clock,
/// readable every `period` (at least 1 ns) from one `period` from now.
/// Read it ([`event::lower`](super::event::lower)) to make it unreadable
/// until the next tick.
pub(crate) fn periodic(period: Duration) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments.
    let fd = cvt(unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
        )
    })?;
    // SAFETY: on success the descriptor is new and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let period = period.max(Duration::from_nanos(1));
    let spec = libc::timespec {
        tv_sec: period.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: period.subsec_nanos() as _,
    };
    let value = libc::itimerspec {
        it_interval: spec,
        it_value: spec,
    };
    // SAFETY: `value` is a valid itimerspec alive for the call; the old
    // value is not asked for (null).
    cvt(unsafe {
        libc::timerfd_settime(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            0,
            &value,
            std::ptr::null_mut(),
        )
    })?;
    Ok(fd)
}
