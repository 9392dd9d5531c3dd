//! The two other forms of the [`Queue`]: [`JoinableQueue`], which counts
//! unfinished tasks, and [`SimpleQueue`], which has only the basic calls.

use std::time::{Duration, Instant};

use super::Queue;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::waiters::Watch;
use crate::shm::{Item, Shareable, Shared};

/// A [`Queue`] that counts unfinished tasks (Python's
/// `multiprocessing.JoinableQueue`): every `put` adds one, every
/// [`task_done`](JoinableQueue::task_done) takes one away, and
/// [`join`](JoinableQueue::join) waits until none is left. Everything else
/// is the [`Queue`]'s (through `Deref`).
///
/// A consumer killed between its `get` and its `task_done` leaves that task
/// unfinished for ever: join with a timeout where that can happen.
#[repr(transparent)]
pub struct JoinableQueue<T: Item, const N: usize>(pub(super) Queue<T, N>);

#[allow(unsafe_code)]
// SAFETY: repr(transparent) over a Queue, which is Shareable.
unsafe impl<T: Item, const N: usize> Shareable for JoinableQueue<T, N> {
    fn type_identity() -> &'static str {
        core::any::type_name::<Self>()
    }
}

impl<T: Item, const N: usize> JoinableQueue<T, N> {
    /// An empty queue in a fresh anonymous shared segment (Python's
    /// `JoinableQueue(maxsize=N)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    pub fn new() -> Result<Shared<JoinableQueue<T, N>>> {
        Queue::<T, N>::made(|q: &JoinableQueue<T, N>| &q.0, true)
    }

    /// Marks one task taken with `get` as done (Python's `task_done()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when there is no unfinished task
    /// (Python's `ValueError: task_done() called too many times`); nothing
    /// changes then.
    pub fn task_done(&self) -> Result<()> {
        let q = &self.0;
        let locked = q.ends().front();
        let (gets, done) = q.taken();
        // Tasks put and not done: fewer than 2^31 (more is garbage, or a
        // zeroed queue's).
        let unfinished = Queue::<T, N>::diff(q.puts(), done);
        if unfinished == 0 || unfinished > i32::MAX as u32 {
            return Err(Error::new(
                "JoinableQueue::task_done",
                Queue::<T, N>::resource(),
                ErrorKind::InvalidArgument("task_done() called more times than items were put"),
            ));
        }
        q.commit_front(gets, Queue::<T, N>::next(done));
        if unfinished == 1 {
            if locked.both() {
                q.waiters.done().raise_if_watched();
            }
            drop(locked);
            q.waiters.all_done();
        }
        Ok(())
    }

    /// The tasks put and not yet marked done.
    pub fn unfinished(&self) -> u32 {
        // The tasks done first: they never pass the items put, so a zero
        // here was true at the moment between the two looks.
        let done = self.0.taken().1;
        let unfinished = Queue::<T, N>::diff(self.0.puts(), done);
        if unfinished > i32::MAX as u32 {
            0
        } else {
            unfinished
        }
    }

    /// Waits until every task put has been marked done (Python's `join()`).
    pub fn join(&self) {
        self.join_until(None);
    }

    /// [`join`](JoinableQueue::join) for at most `timeout`: whether every
    /// task was done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_until(Instant::now().checked_add(timeout))
    }

    /// Watches the unfinished tasks, for an event loop: the returned
    /// [`Watch`] is readable exactly while no task is unfinished, when
    /// [`join`](JoinableQueue::join) would return at once. Keeping it
    /// current costs a system call on the put that makes the first task
    /// and the `task_done` that ends the last, only while some process
    /// holds such a `Watch`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a queue that was not made by
    /// [`JoinableQueue::new`] (one inside another shared value).
    pub fn watch_join(&self) -> Result<Watch<'_>> {
        let q = &self.0;
        let _locked = q.ends().both(false);
        q.waiters
            .done()
            .watch(self.unfinished() == 0)
            .ok_or_else(|| {
                Error::new(
                    "JoinableQueue::watch_join",
                    Queue::<T, N>::resource(),
                    ErrorKind::InvalidArgument(
                        "the queue was not made by JoinableQueue::new: no descriptor",
                    ),
                )
            })
    }

    fn join_until(&self, deadline: Option<Instant>) -> bool {
        self.0.waiters.join_until(|| self.unfinished(), deadline)
    }
}

impl<T: Item, const N: usize> std::ops::Deref for JoinableQueue<T, N> {
    type Target = Queue<T, N>;
    fn deref(&self) -> &Queue<T, N> {
        &self.0
    }
}

impl<T: Item, const N: usize> std::fmt::Debug for JoinableQueue<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.0)
            .field("unfinished", &self.unfinished())
            .finish()
    }
}

/// The plain queue (Python's `multiprocessing.SimpleQueue`): `put`, `get`,
/// `empty` and `close`, nothing else. The same ring as [`Queue`], so
/// bounded: `put` waits while `N` items are in it (as Python's does while
/// its pipe is full), and it has the same behaviour when a process is
/// killed.
#[repr(transparent)]
pub struct SimpleQueue<T: Item, const N: usize>(Queue<T, N>);

#[allow(unsafe_code)]
// SAFETY: repr(transparent) over a Queue, which is Shareable.
unsafe impl<T: Item, const N: usize> Shareable for SimpleQueue<T, N> {
    fn type_identity() -> &'static str {
        core::any::type_name::<Self>()
    }
}

impl<T: Item, const N: usize> SimpleQueue<T, N> {
    /// The [`Queue`] it is.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn inner(&self) -> &Queue<T, N> {
        &self.0
    }

    /// An empty queue in a fresh anonymous shared segment (Python's
    /// `SimpleQueue()`).
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    pub fn new() -> Result<Shared<SimpleQueue<T, N>>> {
        Queue::<T, N>::made(|q: &SimpleQueue<T, N>| &q.0, false)
    }

    /// Puts `item` at the back, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// As [`Queue::put`].
    pub fn put(&self, item: T) -> Result<()> {
        self.0.put_until("SimpleQueue::put", item.to_repr(), None)
    }

    /// Takes the item at the front, waiting while the queue is empty.
    ///
    /// # Errors
    ///
    /// As [`Queue::get`].
    pub fn get(&self) -> Result<T> {
        self.0.get_until("SimpleQueue::get", None)
    }

    /// Whether the queue is empty now.
    pub fn empty(&self) -> bool {
        self.0.empty()
    }

    /// Closes the queue for every process, as [`Queue::close`].
    pub fn close(&self) {
        self.0.close();
    }

    /// Whether [`SimpleQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Watches the queue for [`wait`](crate::ipc::wait), as [`Queue::watch`].
    ///
    /// # Errors
    ///
    /// As [`Queue::watch`].
    pub fn watch(&self) -> Result<Watch<'_>> {
        self.0.watch()
    }

    /// Watches the queue's room, as [`Queue::watch_put`].
    ///
    /// # Errors
    ///
    /// As [`Queue::watch_put`].
    pub fn watch_put(&self) -> Result<Watch<'_>> {
        self.0.watch_put()
    }
}

impl<T: Item, const N: usize> std::fmt::Debug for SimpleQueue<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimpleQueue").field(&self.0).finish()
    }
}
