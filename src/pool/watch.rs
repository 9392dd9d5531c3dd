//! [`PoolWatch`]: one descriptor that is readable while a result of the
//! pool is ready to collect, without the parent parked in a pool call.
//!
//! # How it works
//!
//! The pool keeps a second eventfd beside the one its own waits park on,
//! made with the pool and inherited by every worker. While the parent
//! holds a watch, bit `WATCHED` of the ring's `notify` word is set, and a
//! worker that commits a result raises that eventfd: the same single load
//! of `notify` it made before watches existed, so a pool nobody watches
//! pays no system call for them. The watch's descriptor is an epoll set
//! holding that eventfd and the live workers' sentinels (a worker that
//! dies mid-task leaves its slot running until the parent reaps it: the
//! sentinel is what says so). The parent keeps the eventfd current: each
//! [`Pool::poll`], each collected result and each new watch lowers it,
//! then raises it again if a task has ended and is not collected.
//!
//! # No missed wake-up
//!
//! The parent sets `WATCHED` (a SeqCst read-modify-write), then lowers the
//! eventfd, then looks at the slots; a worker stores `DONE` (SeqCst), then
//! loads `notify`. Either the worker sees the bit and raises the eventfd
//! after the parent's lowering, or the parent's look sees the slot ended
//! and raises it itself.

use std::cell::Cell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Ended, Pool, WorkerProcess, ring};
use crate::error::{Error, Result};
use crate::sys::{self, event};

/// The token of the watch eventfd in the epoll set (workers: `1 + w`).
const EVENT_TOKEN: u64 = 0;

/// A descriptor that is readable while one of the pool's tasks has
/// ended and its result is not collected yet, or a worker has died and
/// the parent has not reaped it yet ([`Pool::watch`],
/// [`AsyncResult::watch`](super::AsyncResult::watch)). The parent need not
/// be parked in a pool call for it to fire: put it in an epoll set, a
/// [`wait`](crate::ipc::wait), or tokio's `AsyncFd` (the `mproc::aio`
/// forms, feature `tokio`, do exactly that).
///
/// When it fires, call [`Pool::poll`] (which reaps a dead worker, failing
/// its task, and runs callbacks), then collect what is
/// [`ready`](super::AsyncResult::ready). It stays readable while a result
/// waits to be collected (level-triggered): a loop that leaves a ready
/// result uncollected wakes again at once. Rarely it fires with nothing
/// ready (a worker's wake-up still on its way when a result was
/// collected); [`Pool::poll`] then lowers it.
///
/// Each watch owns its own descriptor (a duplicate of the pool's epoll
/// set), so several tasks of one program can each register theirs with a
/// reactor. Dropping the last watch ends the workers' wake-ups.
///
/// Not `Send`: it borrows the pool, which belongs to one thread.
pub struct PoolWatch<'p> {
    fd: OwnedFd,
    watchers: &'p Cell<u32>,
    notify: &'p AtomicU32,
    /// The process that registered: a copy inherited by a forked child
    /// does not unregister.
    owner: i32,
}

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// A descriptor readable while a result of this pool is ready to
    /// collect or a worker has died, without the parent parked in a pool
    /// call (see [`PoolWatch`]). The pool's eventfd and its workers'
    /// sentinels in one descriptor, for an event loop or an async runtime.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use mproc::ipc::wait;
    /// use mproc::pool::Pool;
    ///
    /// fn slow(x: u64) -> u64 {
    ///     std::thread::sleep(std::time::Duration::from_millis(50));
    ///     x + 1
    /// }
    ///
    /// let pool = Pool::new(2)?;
    /// let r = pool.apply_async(slow, 1)?;
    /// let watch = pool.watch()?;
    /// while !r.ready() {
    ///     // The loop's other descriptors would go here too.
    ///     wait(&[watch.as_fd()], None)?;
    ///     pool.poll()?;
    /// }
    /// assert_eq!(r.get()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the epoll set or of a descriptor
    /// (`EMFILE`); a forked child's copy refuses (`InvalidArgument`).
    pub fn watch(&self) -> Result<PoolWatch<'_>> {
        let fd = self.watch_raw("Pool::watch")?;
        Ok(PoolWatch {
            fd,
            watchers: &self.watchers,
            notify: &self.ring.control.0.notify,
            owner: self.owner,
        })
    }

    /// Registers a watcher (the workers raise the watch eventfd from now
    /// on) and returns a duplicate of the watch's epoll set; undone by
    /// [`Pool::unwatch_raw`] (a [`PoolWatch`]'s drop, or the async
    /// driver's).
    pub(crate) fn watch_raw(&self, op: &'static str) -> Result<OwnedFd> {
        self.check_owner(op)?;
        if self.watch.borrow().is_none() {
            let epoll = sys::epoll::Epoll::new().map_err(|e| Error::os(op, self.resource(), e))?;
            epoll
                .add(self.watch_event.as_fd(), EVENT_TOKEN)
                .map_err(|e| Error::os(op, self.resource(), e))?;
            *self.watch.borrow_mut() = Some(epoll);
            let workers = self.workers.borrow();
            for (w, worker) in workers.iter().enumerate() {
                if self.dead.get() & (1 << w) == 0 {
                    self.watch_worker(w, worker);
                }
            }
        }
        let fd = {
            let watch = self.watch.borrow();
            let Some(epoll) = watch.as_ref() else {
                unreachable!("the pool's epoll set was made above")
            };
            epoll.as_fd().try_clone_to_owned().map_err(|e| {
                let errno = sys::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EMFILE));
                Error::os(op, self.resource(), errno)
            })?
        };
        if self.watchers.get() == 0 {
            // SYNC POINT: the flag, then (in `sync_watch`) the lowering
            // and the look at the slots: see the module docs.
            self.ring
                .control
                .0
                .notify
                .fetch_or(ring::WATCHED, Ordering::SeqCst);
        }
        self.watchers.set(self.watchers.get() + 1);
        self.sync_watch();
        Ok(fd)
    }

    /// Undoes one [`Pool::watch_raw`]: the last one stops the workers'
    /// wake-ups.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn unwatch_raw(&self) {
        if sys::process::getpid() != self.owner {
            return;
        }
        let left = self.watchers.get().saturating_sub(1);
        self.watchers.set(left);
        if left == 0 {
            self.ring
                .control
                .0
                .notify
                .fetch_and(!ring::WATCHED, Ordering::SeqCst);
        }
    }

    /// While watched: makes the watch eventfd readable exactly when a
    /// busy slot's task has ended. Left alone when it is readable and
    /// should be: raising it again would be a new edge for every
    /// edge-triggered watcher (an async runtime's), waking them all for
    /// nothing new.
    pub(super) fn sync_watch(&self) {
        if self.watchers.get() == 0 {
            return;
        }
        let fd = self.watch_event.as_fd();
        if self.any_ended() {
            let raised = sys::poll_many(&[fd], Some(std::time::Duration::ZERO))
                .is_ok_and(|bits| bits & 1 != 0);
            if !raised {
                event::raise(fd);
            }
            return;
        }
        // SYNC POINT: lower, then look (see the module docs).
        event::lower(fd);
        if self.any_ended() {
            event::raise(fd);
        }
    }

    /// Whether a busy slot's task has ended (its result not collected).
    fn any_ended(&self) -> bool {
        (0..self.slots())
            .any(|s| self.local[s].busy.get() && !matches!(self.ended(s), Ended::Running))
    }

    /// Adds worker `w`'s sentinel to the watch's epoll set, if there is one.
    pub(super) fn watch_worker(&self, w: usize, worker: &WorkerProcess) {
        if let Some(epoll) = self.watch.borrow().as_ref()
            && let Ok(fd) = worker.sentinel()
        {
            // Failing (EMFILE on the epoll set's room, ENOMEM) leaves the
            // death to be seen at the next poll.
            let _ = epoll.add(fd, 1 + w as u64);
        }
    }

    /// Takes worker `w`'s sentinel out of the watch's epoll set (it died
    /// and was reaped: its sentinel stays readable, and later workers
    /// inherited it, so closing it would not take it out).
    pub(super) fn unwatch_worker(&self, w: usize) {
        if let Some(epoll) = self.watch.borrow().as_ref()
            && let Some(worker) = self.workers.borrow().get(w)
            && let Ok(fd) = worker.sentinel()
        {
            let _ = epoll.delete(fd);
        }
    }
}

impl AsFd for PoolWatch<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PoolWatch<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for PoolWatch<'_> {
    fn drop(&mut self) {
        if sys::process::getpid() != self.owner {
            return;
        }
        let left = self.watchers.get().saturating_sub(1);
        self.watchers.set(left);
        if left == 0 {
            self.notify.fetch_and(!ring::WATCHED, Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for PoolWatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolWatch").field("fd", &self.fd).finish()
    }
}
