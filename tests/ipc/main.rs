//! Integration tests of `mproc::ipc`: `Pipe` and its `Connection` ends
//! between processes. Each body that forks runs isolated in its own forked
//! process (see tests/common/mod.rs).
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod pipe;
