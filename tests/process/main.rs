//! Integration tests of `mproc::process`: fork, Process, and the process
//! queries. Each body runs isolated in its own forked process (see
//! tests/common/mod.rs).
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod exit;
mod fork;
mod lifecycle;
mod orphans;
mod queries;
mod reaping;
mod run;
