//! Integration tests of `mproc::sync` between processes: `Lock` and the
//! locks of `Value` and `Array` (exclusion, exact counts under contention,
//! the non-blocking and timed forms, a holder that dies: `OwnerDied`), and
//! RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier
//! (primitives.rs).
//! Each body that forks runs isolated in its own forked process (see
//! tests/common/mod.rs).
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod contention;
mod lock;
mod owner_died;
mod primitives;

use std::io::Write as _;

use mproc::signal;
use mproc::sync::{Lock, OwnerDied};

/// A child's body: takes `lock`, says so through `ready`, and holds it
/// until a signal kills the process.
pub fn hold_until_killed(lock: &Lock, mut ready: std::io::PipeWriter) -> ! {
    let _held = lock.lock().unwrap_or_else(OwnerDied::into_guard);
    ready.write_all(b"x").expect("ready");
    loop {
        signal::pause();
    }
}
