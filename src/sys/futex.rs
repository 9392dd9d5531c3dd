//! `futex(2)`: the wait and wake calls the process-shared primitives park on.
//!
//! Always the shared form (no `FUTEX_PRIVATE_FLAG`): the words live in
//! memory mapped by several processes, and the kernel must key the wait on
//! the page, not on this address space.

use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use super::Errno;

/// How a [`wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woke {
    /// Woken, or the word no longer held the expected value, or a signal
    /// interrupted the sleep: look at the word again.
    Maybe,
    /// The timeout ran out.
    TimedOut,
}

/// Sleeps while `*word == expected`, for at most `timeout` (`None`: no
/// limit). `FUTEX_WAIT` compares and sleeps atomically, so a wake-up between
/// the caller's last look and the sleep is never lost.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Woke {
    wait_at(word.as_ptr(), expected, timeout)
}

/// The address of the low 32 bits of a 64-bit word (the half that holds
/// the count of a word packed as `count | other << 32`), for the kernel.
/// Only the kernel reads through it: Rust code keeps using the `AtomicU64`.
fn low_half(word: &AtomicU64) -> *mut u32 {
    let base = word.as_ptr().cast::<u32>();
    if cfg!(target_endian = "little") {
        base
    } else {
        base.wrapping_add(1)
    }
}

/// [`wait`] on the low 32 bits of a 64-bit word: sleeps while they equal
/// `expected`. A change of the high half alone does not end the sleep.
pub(crate) fn wait_low(word: &AtomicU64, expected: u32, timeout: Option<Duration>) -> Woke {
    wait_at(low_half(word), expected, timeout)
}

/// [`wake`] for sleepers of [`wait_low`] on `word`.
pub(crate) fn wake_low(word: &AtomicU64, n: u32) -> u32 {
    wake_at(low_half(word), n)
}

fn wait_at(word: *mut u32, expected: u32, timeout: Option<Duration>) -> Woke {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 10^9: fits every c_long.
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` points into a live, aligned atomic word borrowed by the
    // caller for the duration of the call; the kernel only reads it.
    // `ts_ptr` is null or points to a live timespec. The unused uaddr2/val3
    // arguments are ignored by FUTEX_WAIT.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if ret == -1 && Errno::last() == Errno::ETIMEDOUT {
        Woke::TimedOut
    } else {
        // 0 (woken), EAGAIN (value changed), EINTR (signal): look again.
        // Other errors (EFAULT, EINVAL) cannot happen for a valid word.
        Woke::Maybe
    }
}

/// Wakes at most `n` waiters sleeping on `word` (`u32::MAX`: all of them).
/// Returns how many were woken.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> u32 {
    wake_at(word.as_ptr(), n)
}

fn wake_at(word: *mut u32, n: u32) -> u32 {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    // SAFETY: `word` points into a live, aligned atomic word; FUTEX_WAKE does
    // not touch the memory, only the kernel's wait queue keyed on it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    u32::try_from(ret).unwrap_or(0)
}
