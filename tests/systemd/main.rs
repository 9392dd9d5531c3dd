//! Integration tests of systemd's protocols as `mproc::daemon` speaks
//! them: the notify protocol against a datagram socket the test binds as
//! `NOTIFY_SOCKET` (every line checked, the watchdog's cadence), socket
//! activation with `LISTEN_*` set up by hand in a forked child and for
//! real under `systemd-socket-activate`, and the journal logger (feature
//! `log`) in both of its modes.
//!
//! The environment is per process: each body that sets a variable runs
//! isolated in its own forked, single-threaded child (see
//! tests/common/mod.rs), where changing it is sound.
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/examples.rs"]
mod examples;

mod activation;
#[cfg(feature = "log")]
mod journal;
mod notify;

/// Sets an environment variable in this isolated (single-threaded) body.
fn set_env(name: &str, value: &str) {
    // SAFETY: only called in an isolated test body: a forked child that
    // runs one thread, so nothing reads the environment meanwhile.
    unsafe { std::env::set_var(name, value) };
}

/// Removes an environment variable in this isolated body.
fn unset_env(name: &str) {
    // SAFETY: as in `set_env`.
    unsafe { std::env::remove_var(name) };
}
