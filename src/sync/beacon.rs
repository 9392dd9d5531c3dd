//! [`Beacon`] and [`Watch`]: an eventfd that a shared object (a queue, a
//! [`WatchableEvent`](super::WatchableEvent)) keeps readable exactly while
//! a condition holds, and only while a process watches it, so that an
//! event loop or an async runtime can wait for it without a thread.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use crate::sys::event;

/// An eventfd kept readable exactly while a condition of a shared object
/// (a queue's items, its room, its tasks done; an event's flag) holds, but
/// only while somebody watches it: two words in the segment.
#[repr(C)]
pub(crate) struct Beacon {
    /// The eventfd made with the queue, plus one (0: none), kept current
    /// only while `watchers > 0` (every change is made under the lock).
    waker: AtomicI32,
    /// Live [`Watch`]es of this beacon.
    watchers: AtomicU32,
}

impl Beacon {
    /// Gives the beacon its eventfd (at creation, before it is shared).
    pub(crate) fn set_waker(&self, fd: i32) {
        self.waker.store(fd + 1, Ordering::Relaxed);
    }

    /// The eventfd, if the beacon has one. Valid in this process: the
    /// handle that owns it is alive wherever `&self` is (a queue is reached
    /// only through the handle that maps it, and a forked child inherits
    /// both).
    fn waker(&self) -> Option<BorrowedFd<'_>> {
        match self.waker.load(Ordering::Relaxed) {
            0 => None,
            plus_one => {
                #[allow(unsafe_code)]
                // SAFETY: see above: the descriptor is open while `self` is
                // reachable, and the borrow does not outlive `self`.
                Some(unsafe { event::borrow(plus_one - 1) })
            }
        }
    }

    /// Whether the beacon has an eventfd (the queue was made by its `new`).
    pub(crate) fn has_waker(&self) -> bool {
        self.waker.load(Ordering::Relaxed) != 0
    }

    /// Whether some [`Watch`] of this beacon is live.
    pub(crate) fn is_watched(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// Under the lock, when watched: the condition began to hold.
    pub(crate) fn raise_if_watched(&self) {
        if self.is_watched()
            && let Some(fd) = self.waker()
        {
            event::raise(fd);
        }
    }

    /// Under the lock, when watched: the condition stopped holding.
    pub(crate) fn lower_if_watched(&self) {
        if self.is_watched()
            && let Some(fd) = self.waker()
        {
            event::lower(fd);
        }
    }

    /// Under the lock: makes the eventfd readable exactly when `holds`.
    pub(crate) fn sync(&self, holds: bool) {
        if let Some(fd) = self.waker() {
            event::lower(fd);
            if holds {
                event::raise(fd);
            }
        }
    }

    /// Under the lock: registers a watcher and makes the eventfd current
    /// (`holds`: whether the condition holds now). `None` for a beacon
    /// without an eventfd.
    pub(crate) fn watch(&self, holds: bool) -> Option<Watch<'_>> {
        self.watch_then(|| holds)
    }

    /// Registers a watcher, then (a SeqCst fence between) asks `holds`
    /// and makes the eventfd current: for an object changed without a
    /// lock, whose changes fence and then look at the watchers (see
    /// `WatchableEvent`). `None` for a beacon without an eventfd.
    pub(crate) fn watch_then(&self, holds: impl FnOnce() -> bool) -> Option<Watch<'_>> {
        let fd = self.waker()?;
        self.watchers.fetch_add(1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::SeqCst);
        self.sync(holds());
        Some(Watch {
            fd,
            watchers: &self.watchers,
            pid: crate::sync::raw::me(),
        })
    }
}

/// A queue or an event being watched for [`wait`](crate::ipc::wait) or an
/// event loop: its descriptor is readable exactly while the watched wait
/// would return at once. From [`Queue::watch`](crate::ipc::Queue::watch)
/// and [`RecordQueue::watch`](crate::ipc::RecordQueue::watch): while the
/// queue holds an item or is closed; from
/// [`Queue::watch_put`](crate::ipc::Queue::watch_put): while it has room
/// or is closed; from
/// [`JoinableQueue::watch_join`](crate::ipc::JoinableQueue::watch_join):
/// while no task is unfinished; from
/// [`WatchableEvent::watch`](crate::sync::WatchableEvent::watch): while
/// the flag is set. Dropping it ends the watch.
///
/// `Send` and `Sync` (a descriptor and a word in shared memory): it may
/// be registered with a reactor on another thread.
pub struct Watch<'a> {
    fd: BorrowedFd<'a>,
    watchers: &'a AtomicU32,
    /// The process that registered: a copy inherited by a forked child
    /// does not unregister.
    pid: u32,
}

impl AsFd for Watch<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
    }
}

impl std::os::fd::AsRawFd for Watch<'_> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.fd)
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if self.pid == crate::sync::raw::me() {
            self.watchers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("fd", &self.fd).finish()
    }
}
