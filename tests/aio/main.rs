//! Integration tests of `mproc::aio`, the async forms of the waits
//! (feature `tokio`; run with `cargo test --features tokio --test aio`).
//! Each body runs isolated in its own forked process (see
//! tests/common/mod.rs); each forks its pools and children first, then
//! builds a current-thread runtime, as the fork rule says.
#![cfg(feature = "tokio")]
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod conn;
mod pool;
mod queue;
mod signal;
#[cfg(feature = "serde")]
mod values;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Far longer than any wake-up takes, even under qemu on a loaded machine.
pub const LONG: Duration = Duration::from_secs(10);

/// A current-thread runtime with I/O and timers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `f` on a current-thread runtime, inside a `LocalSet` (for
/// `spawn_local`).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let rt = runtime();
    tokio::task::LocalSet::new().block_on(&rt, f)
}

/// The next item of a stream (no `StreamExt` here: only
/// `futures_core`).
pub async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}
