//! Integration tests of `mproc::sync` between processes, one module per
//! area: `Lock` and the locks of `Value` and `Array` (lock.rs: the
//! non-blocking and timed forms; contention.rs: exact counts under
//! contention; owner_died.rs: a holder that dies, `OwnerDied`); rlock.rs,
//! semaphore.rs (`Semaphore` and `BoundedSemaphore`), event.rs,
//! condition.rs and barrier.rs: for each primitive, exact results under
//! contention, the timed and non-blocking forms, and a participant killed
//! with SIGKILL (`OwnerDied` where the primitive has an owner, otherwise
//! what its docs promise); primitives.rs: a first, shorter pass over the
//! same primitives.
//! Each body that forks runs isolated in its own forked process (see
//! tests/common/mod.rs). Tests of known bugs are `#[ignore]`d with the bug
//! in the reason: `cargo test --test sync -- --ignored` runs them.
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod barrier;
mod condition;
mod contention;
mod event;
mod lock;
mod owner_died;
mod primitives;
mod rlock;
mod robust;
mod semaphore;
mod watchable;

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

/// Long enough for anything that must happen, also under qemu.
pub const MUST: std::time::Duration = std::time::Duration::from_secs(20);
/// How long something that must not happen is given to happen anyway.
pub const MUST_NOT: std::time::Duration = std::time::Duration::from_millis(300);

/// Joins `p`, killing it if it has not ended within [`MUST`]; its exit code.
pub fn join<F>(p: &mproc::process::Process<F>) -> i32 {
    match p.join_timeout(MUST).unwrap() {
        Some(code) => code,
        None => {
            p.kill().unwrap();
            p.join().unwrap();
            panic!("{} did not end within {MUST:?}", p.name());
        }
    }
}
