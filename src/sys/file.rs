//! Plain files: `flock(2)`, and extended attributes (`fsetxattr(2)`,
//! `fgetxattr(2)`) by descriptor.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd};

use super::{Errno, cvt, retry_on_intr};

/// `flock(fd, LOCK_EX)`: waits for an exclusive lock on the open file
/// (released when every descriptor of it is closed).
pub(crate) fn lock_exclusive(fd: impl AsFd) -> Result<(), Errno> {
    let fd = fd.as_fd().as_raw_fd();
    retry_on_intr(|| {
        // SAFETY: plain integer arguments on a descriptor the caller holds.
        cvt(unsafe { libc::flock(fd, libc::LOCK_EX) })
    })
    .map(drop)
}

/// `fsetxattr(fd, name, value, 0)`: `ENOTSUP`/`EOPNOTSUPP` where the file
/// system keeps no such attributes.
pub(crate) fn set_xattr(fd: impl AsFd, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated and `value` live for `value.len()`
    // bytes during the call.
    cvt(unsafe {
        libc::fsetxattr(
            fd.as_fd().as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// `fgetxattr(fd, name, buf)`: the value's length (`ENODATA` when the file
/// has no such attribute, `ERANGE` when it is longer than `buf`).
pub(crate) fn get_xattr(fd: impl AsFd, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `name` is NUL-terminated and `buf` live and writable for
    // `buf.len()` bytes during the call.
    let n = unsafe {
        libc::fgetxattr(
            fd.as_fd().as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}
