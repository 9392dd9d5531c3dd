//! Integration tests of `mproc::signal`. Each body that sends, waits for or
//! handles a signal runs isolated in its own forked process (see
//! tests/common/mod.rs): signals and the alarm timer are per process.
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod alarm;
mod handlers;
mod names;
mod send;
mod wait;
