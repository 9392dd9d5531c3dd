//! [`wait`]: Python's `multiprocessing.connection.wait`, over descriptors.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys;

/// The most sources one [`wait`] watches.
pub const WAIT_MAX: usize = sys::POLL_MAX;

/// Which of the sources given to [`wait`] are ready, by position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready(u64);

impl Ready {
    /// The positions set in `bits`.
    #[cfg_attr(
        not(all(feature = "pool", feature = "manager", feature = "server")),
        allow(dead_code)
    )]
    pub(crate) fn from_bits(bits: u64) -> Ready {
        Ready(bits)
    }

    /// Whether the source at `index` is ready.
    pub fn contains(self, index: usize) -> bool {
        index < WAIT_MAX && self.0 & (1 << index) != 0
    }

    /// Whether none is (the time ran out).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many are.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The positions of the ready sources, in order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..WAIT_MAX).filter(move |&i| self.contains(i))
    }
}

/// Waits until at least one of `sources` is ready, or `timeout` passes
/// (`None`: as long as it takes), and says which are ready: the event loop
/// of a single-threaded daemon (Python's
/// `multiprocessing.connection.wait(object_list, timeout)`).
///
/// A source is anything with a descriptor: a [`Connection`] end (ready
/// when a message or the other end's closing is there), a
/// [`MessageQueue`] (a message waits), a process's
/// [`sentinel`](crate::process::Process::sentinel) (it ended), a
/// [`SignalFd`](crate::signal::SignalFd) (a signal is pending), a
/// shared-memory [`Queue`] through its [`watch`](super::Queue::watch) (it
/// holds an item or is closed). Pass them with `as_fd()`. An empty result
/// means the time ran out.
/// Allocation-free.
///
/// ```no_run
/// use std::os::fd::AsFd;
/// use mproc::ipc::{wait, Pipe};
///
/// let (a, _a_peer) = Pipe::duplex()?;
/// let (b, b_peer) = Pipe::duplex()?;
/// b_peer.send_bytes(b"hi")?;
/// let ready = wait(&[a.as_fd(), b.as_fd()], None)?;
/// assert!(!ready.contains(0) && ready.contains(1));
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// [`Connection`]: super::Connection
/// [`MessageQueue`]: super::MessageQueue
/// [`Queue`]: super::Queue
///
/// # Errors
///
/// [`ErrorKind::CapacityExceeded`] for more than [`WAIT_MAX`] sources.
pub fn wait(sources: &[BorrowedFd<'_>], timeout: Option<Duration>) -> Result<Ready> {
    const OP: &str = "ipc::wait";
    if sources.len() > WAIT_MAX {
        return Err(Error::new(
            OP,
            Resource::Container {
                what: "wait sources",
                capacity: WAIT_MAX,
            },
            ErrorKind::CapacityExceeded { limit: WAIT_MAX },
        ));
    }
    sys::poll_many(sources, timeout)
        .map(Ready)
        .map_err(|e| Error::os(OP, Resource::CurrentProcess, e))
}
