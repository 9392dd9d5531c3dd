//! mproc (placeholder docs, rewritten below)
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "mproc supports Linux only: it is built on fork, pidfd, signalfd, futex and POSIX message queues."
);

pub mod config;
pub mod error;
pub mod process;
pub mod signal;
mod sys;

pub use error::{Error, ErrorKind, Resource, Result};
pub use process::{Pid, Process};
pub use signal::Signal;
