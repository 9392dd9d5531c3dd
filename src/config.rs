//! Build-time capacities.
//!
//! Set each one with its `MPROC_*` environment variable when building the
//! crate (see the README's "Build-time configuration" table); a value out of
//! range fails the build with a message naming the variable and the range.

include!(concat!(env!("OUT_DIR"), "/config.rs"));
