//! Integration tests of `mproc::pool`: the static worker pool. Each body
//! that forks runs isolated in its own forked process (see
//! tests/common/mod.rs).
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/seeds.rs"]
#[allow(dead_code)] // each binary uses a part of it
mod seeds_py;

mod apply;
mod capacity;
mod echo;
mod faults;
mod fds;
mod map;
mod seed_echo;
#[cfg(feature = "serde")]
mod serde;
mod steer;
mod watch;
