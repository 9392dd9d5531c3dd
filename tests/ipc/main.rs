//! Integration tests of `mproc::ipc`: `Pipe` and its `Connection` ends, and
//! `MessageQueue`,
//! between processes. Each body that forks runs isolated in its own forked
//! process (see tests/common/mod.rs).
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod chaos_book;
mod handle;
mod items;
mod listener;
mod mq;
mod pipe;
mod queue;
mod queue_chaos;
mod records;
mod records_chaos;
#[cfg(feature = "serde")]
mod serde;
#[cfg(feature = "serde")]
mod value_queue;
mod wait;
mod watch;
