//! [`WatchableEvent`]: an [`Event`] with a descriptor, for event loops and
//! async runtimes.

use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

use super::Event;
use super::beacon::{Beacon, Watch};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::{Shareable, Shared};
use crate::sys::event;

/// An [`Event`] that can also be watched: Python's `multiprocessing.Event`
/// for a program that waits in an event loop or an async runtime. Made
/// with [`WatchableEvent::new`], which places it in shared memory with an
/// eventfd (so make it before forking the processes that set it);
/// [`watch`](WatchableEvent::watch) gives a descriptor readable exactly
/// while the flag is set.
///
/// A plain [`Event`] stays one `u32` that may live anywhere in shared
/// memory (its layout is promised); this one is 12 bytes, the event and
/// the two words of its descriptor: the number of the eventfd made with
/// it and the count of live watches. While nobody watches, `set` and
/// `clear` cost what an `Event`'s do plus one fence and one load; while
/// somebody does, `set` raises the eventfd and `clear` lowers it.
///
/// ```no_run
/// use std::os::fd::AsFd;
/// use mproc::ipc::wait;
/// use mproc::process::Process;
/// use mproc::sync::WatchableEvent;
///
/// let ready = WatchableEvent::new()?;
/// let watch = ready.watch()?;
/// let mut p = Process::new(|| ready.set());
/// p.start()?;
/// wait(&[watch.as_fd()], None)?; // with the loop's other descriptors
/// assert!(ready.is_set());
/// p.join()?;
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// `Send` and `Sync` behind its [`Shared`] handle.
#[repr(C)]
pub struct WatchableEvent {
    event: Event,
    beacon: Beacon,
}

static_assertions::assert_eq_size!(WatchableEvent, [u32; 3]);

#[allow(unsafe_code)]
// SAFETY: repr(C) of an Event (Shareable) and a Beacon (two atomic
// words): no pointers, no drop glue, all zero valid (clear, no
// descriptor). The beacon's descriptor number is set only by
// `WatchableEvent::new`, whose event lives in an anonymous segment reached
// only through the `Shared` handle that owns the descriptor.
unsafe impl Shareable for WatchableEvent {}

impl WatchableEvent {
    /// A clear event in a fresh anonymous shared segment, with its
    /// eventfd (closed when the returned handle is dropped).
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`) or of the eventfd
    /// (`EMFILE`).
    pub fn new() -> Result<Shared<WatchableEvent>> {
        let fd = event::eventfd().map_err(|e| Error::os("eventfd", Self::resource(), e))?;
        let shared = Shared::<WatchableEvent>::zeroed()?;
        shared
            .beacon
            .set_waker(std::os::fd::AsRawFd::as_raw_fd(&fd));
        Ok(shared.with_companion(fd))
    }

    fn resource() -> Resource {
        Resource::AnonymousSegment {
            bytes: std::mem::size_of::<WatchableEvent>(),
        }
    }

    /// The event itself, for what takes an `&Event`. Set and clear it
    /// through this handle: an `Event::set` made on the inner event does
    /// not raise the descriptor.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Whether the flag is set (Python's `is_set()`).
    pub fn is_set(&self) -> bool {
        self.event.is_set()
    }

    /// Sets the flag and wakes every waiter, parked or watching (Python's
    /// `set()`).
    pub fn set(&self) {
        self.event.set();
        // SYNC POINT: the set, then the look at the watchers; a watch
        // registers, then looks at the flag (`Beacon::watch_then`): one of
        // the two sees the other.
        fence(Ordering::SeqCst);
        self.beacon.raise_if_watched();
    }

    /// Clears the flag (Python's `clear()`); a watch's descriptor stops
    /// being readable. (A `set` racing the `clear` may leave it readable
    /// with the flag clear: that set happened, and a `wait` returns for it
    /// too.)
    pub fn clear(&self) {
        self.event.clear();
        fence(Ordering::SeqCst);
        if self.beacon.is_watched() {
            self.beacon.lower_if_watched();
            // A set between the clear and the lowering: raised again.
            fence(Ordering::SeqCst);
            if self.is_set() {
                self.beacon.raise_if_watched();
            }
        }
    }

    /// Waits until the flag is set (Python's `wait()`), as [`Event::wait`].
    pub fn wait(&self) {
        self.event.wait();
    }

    /// Waits at most `timeout` for the flag (Python's `wait(timeout)`),
    /// as [`Event::wait_timeout`]: whether it was set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.event.wait_timeout(timeout)
    }

    /// A descriptor readable exactly while the flag is set, for
    /// [`wait`](crate::ipc::wait), an epoll loop or an async runtime (with
    /// the `tokio` feature, `wait_async` awaits it). Dropping it ends the
    /// watch.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an event that was not made by
    /// [`WatchableEvent::new`] (one inside another shared value): it has
    /// no descriptor.
    pub fn watch(&self) -> Result<Watch<'_>> {
        self.beacon.watch_then(|| self.is_set()).ok_or_else(|| {
            Error::new(
                "WatchableEvent::watch",
                Self::resource(),
                ErrorKind::InvalidArgument(
                    "the event was not made by WatchableEvent::new: no descriptor",
                ),
            )
        })
    }
}

impl std::fmt::Debug for WatchableEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchableEvent")
            .field("is_set", &self.is_set())
            .finish()
    }
}
