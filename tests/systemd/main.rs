//! Integration tests of systemd's protocols as `mproc::daemon` speaks
//! them: the notify protocol against a datagram socket the test binds as
//! `NOTIFY_SOCKET` (every line checked, the watchdog's cadence), socket
//! activation with `LISTEN_*` set up by hand in a forked child and for
//! real under `systemd-socket-activate`, and the journal logger (feature
//! `log`) in both of its modes.
//!
//! The environment is per process: each body that sets a variable runs
//! isolated in its own forked, single-threaded child (see
//! tests/common/mod.rs), where changing it is sound. And the tests of this
//! binary take turns ([`serial`]): a fork made while another test thread
//! holds std's environment lock (reading a variable, spawning a command)
//! would leave the child's copy of that lock held forever, and the child's
//! first change of a variable would hang.
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/examples.rs"]
mod examples;

mod activation;
mod daemon;
#[cfg(feature = "log")]
mod journal;
mod notify;

/// Held by each test for its whole run: no test thread reads the
/// environment while another forks.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes this binary's turn (see the module docs).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// [`common::isolated`], in this binary's turn.
fn isolated(body: impl FnOnce()) {
    let _turn = serial();
    common::isolated(body);
}

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
