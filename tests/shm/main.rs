//! Integration tests of `mproc::shm`: anonymous segments (`Shared`), the
//! shared values (`Value`, `Array`, `RawValue`, `RawArray`), `FixedStr`,
//! the layout fingerprint, and named segments (`SharedMemory`). Each body that forks runs isolated in its own
//! forked process (see tests/common/mod.rs).
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

mod array;
mod layout;
mod named;
mod reclaim;
mod segment;
mod string;
mod value;
