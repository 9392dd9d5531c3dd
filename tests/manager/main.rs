//! Integration tests of `mproc::manager`: the server process and its
//! proxies. Each body that forks runs isolated in its own forked process
//! (see tests/common/mod.rs).
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod array;
#[cfg(feature = "tokio")]
mod async_waits;
mod capacity;
mod detached;
mod faults;
mod hostile;
mod objects;
mod remote;
mod rogue;
#[cfg(feature = "serde")]
mod serde_values;
mod types;
mod waits;
