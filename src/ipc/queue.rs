//! [`Queue`]: a bounded multi-producer multi-consumer queue in shared
//! memory (Python's `multiprocessing.Queue(maxsize)`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::{Shareable, Shared};
use crate::sync::{Lock, LockGuard};
use crate::sys::futex;
use crate::sys::mem::SharedCell;

/// A bounded queue of `N` items of type `T` (a fixed-size [`Shareable`]
/// value, copied in and out), shared by every process forked after it was
/// made: Python's `multiprocessing.Queue(maxsize=N)`, without pickling or a
/// feeder thread. Make it with [`Queue::new`], which places it in shared
/// memory.
///
/// ```no_run
/// use mproc::ipc::Queue;
/// use mproc::process::Process;
///
/// let q = Queue::<u64, 16>::new()?;
/// let mut p = Process::new(|| {
///     for i in 0..3 {
///         q.put(i).unwrap();
///     }
/// });
/// p.start()?;
/// assert_eq!((q.get()?, q.get()?, q.get()?), (0, 1, 2));
/// p.join()?;
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// # How it works, and what a killed process costs
///
/// A ring of `N` slots under a process-shared [`Lock`]; the ring's whole
/// state (first item, item count, and the unfinished tasks a
/// [`JoinableQueue`] counts) is one 64-bit word, changed by one store at the
/// end of each `put`, `get` and `task_done`. Waiters spin briefly, then park on a futex
/// word that each `put` (for getters) or `get` (for putters) moves.
///
/// A process killed at any instant leaves the queue usable: the next
/// process to take the lock takes it over (the state word is always
/// consistent). Nothing already put is lost or duplicated, except the one
/// item the dead process was handling: a putter killed before its store
/// never put its item; a getter killed after its store took its item with
/// it; a getter killed before its store leaves the item in the queue for
/// the next `get`.
#[repr(C)]
pub struct Queue<T: Shareable + Copy, const N: usize> {
    lock: Lock,
    /// `head | count << 16 | unfinished << 32`: the first item's slot, the
    /// number of items, and the puts not yet matched by a `task_done`.
    state: AtomicU64,
    /// 1 once [`Queue::close`]d.
    closed: AtomicU32,
    /// Moved by every `put` while a getter may be parked: getters park on it.
    puts: AtomicU32,
    /// Moved by every `get` while a putter may be parked: putters park on it.
    gets: AtomicU32,
    /// Getters and putters parked (or about to park).
    getters: AtomicU32,
    putters: AtomicU32,
    /// Moved each time the unfinished tasks reach zero: joiners park on it.
    finished: AtomicU32,
    slots: [SharedCell<T>; N],
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of a Lock, AtomicU32s and SharedCells of a Shareable T:
// no pointers, no drop glue, every bit pattern valid (a garbage state word
// is bounded by `N` before use); mutation is atomic, or volatile under the
// lock.
unsafe impl<T: Shareable + Copy, const N: usize> Shareable for Queue<T, N> {
    fn type_identity() -> &'static str {
        core::any::type_name::<Self>()
    }
}

const COUNT_SHIFT: u32 = 16;

impl<T: Shareable + Copy, const N: usize> Queue<T, N> {
    const CAPACITY_OK: () = assert!(
        N > 0 && N < (1 << COUNT_SHIFT),
        "a Queue holds 1 to 65535 items"
    );

    /// An empty queue in a fresh anonymous shared segment: share it with the
    /// processes forked after this call (Python's `Queue(maxsize=N)`).
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`).
    pub fn new() -> Result<Shared<Queue<T, N>>> {
        let () = Self::CAPACITY_OK;
        // All zero: unlocked, empty, open.
        Shared::zeroed()
    }

    fn resource() -> Resource {
        Resource::Container {
            what: "Queue",
            capacity: N,
        }
    }

    /// The ring's state under the lock: (head, count, unfinished), head
    /// and count bounded by `N`.
    fn load(&self) -> (usize, usize, u32) {
        let word = self.state.load(Ordering::Relaxed);
        let head = (word & 0xffff) as usize % N;
        let count = (((word >> COUNT_SHIFT) & 0xffff) as usize).min(N);
        (head, count, (word >> 32) as u32)
    }

    fn store(&self, head: usize, count: usize, unfinished: u32) {
        // The commit: one store.
        self.state.store(
            (head as u64) | (count as u64) << COUNT_SHIFT | u64::from(unfinished) << 32,
            Ordering::Release,
        );
    }

    /// The lock, taken over (silently) from a holder that died: the state
    /// word is always consistent, so there is nothing to repair.
    fn locked(&self) -> LockGuard<'_> {
        match self.lock.lock() {
            Ok(guard) => guard,
            Err(died) => {
                let guard = died.into_guard();
                guard.mark_consistent();
                guard
            }
        }
    }

    /// Waits on `word` (still at `seen`) until it moves or `deadline`.
    fn park(word: &AtomicU32, seen: u32, deadline: Option<Instant>) {
        let mut backoff = crate::sync::raw::Backoff::new();
        while backoff.snooze() {
            if word.load(Ordering::Acquire) != seen {
                return;
            }
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return;
        }
        futex::wait(word, seen, left);
    }

    fn put_until(&self, op: &'static str, item: T, deadline: Option<Instant>) -> Result<()> {
        loop {
            let guard = self.locked();
            if self.closed.load(Ordering::Relaxed) != 0 {
                return Err(Error::new(op, Self::resource(), ErrorKind::BrokenPipe));
            }
            let (head, count, unfinished) = self.load();
            if count < N {
                self.slots[(head + count) % N].store(item);
                self.store(head, count + 1, unfinished.saturating_add(1));
                drop(guard);
                if self.getters.load(Ordering::SeqCst) > 0 {
                    self.puts.fetch_add(1, Ordering::SeqCst);
                    futex::wake(&self.puts, 1);
                }
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(op, Self::resource(), ErrorKind::Full));
            }
            let seen = self.gets.load(Ordering::SeqCst);
            self.putters.fetch_add(1, Ordering::SeqCst);
            drop(guard);
            Self::park(&self.gets, seen, deadline);
            self.putters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn get_until(&self, op: &'static str, deadline: Option<Instant>) -> Result<T> {
        loop {
            let guard = self.locked();
            let (head, count, unfinished) = self.load();
            if count > 0 {
                let item = self.slots[head].load();
                self.store((head + 1) % N, count - 1, unfinished);
                drop(guard);
                if self.putters.load(Ordering::SeqCst) > 0 {
                    self.gets.fetch_add(1, Ordering::SeqCst);
                    futex::wake(&self.gets, 1);
                }
                return Ok(item);
            }
            if self.closed.load(Ordering::Relaxed) != 0 {
                return Err(Error::new(op, Self::resource(), ErrorKind::EndOfStream));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(op, Self::resource(), ErrorKind::Empty));
            }
            let seen = self.puts.load(Ordering::SeqCst);
            self.getters.fetch_add(1, Ordering::SeqCst);
            drop(guard);
            Self::park(&self.puts, seen, deadline);
            self.getters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Puts `item` at the back, waiting while the queue is full (Python's
    /// `put(item)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenPipe`] once the queue is [closed](Queue::close);
    /// nothing is put then.
    pub fn put(&self, item: T) -> Result<()> {
        self.put_until("Queue::put", item, None)
    }

    /// Puts `item` if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] (Python's `queue.Full`); as [`Queue::put`].
    pub fn put_nowait(&self, item: T) -> Result<()> {
        self.put_until("Queue::put_nowait", item, Some(Instant::now()))
    }

    /// Puts `item`, waiting at most `timeout` for room (Python's
    /// `put(item, timeout=t)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::put_nowait`].
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<()> {
        self.put_until(
            "Queue::put_timeout",
            item,
            Instant::now().checked_add(timeout),
        )
    }

    /// Takes the item at the front, waiting while the queue is empty
    /// (Python's `get()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EndOfStream`] when the queue is closed and empty.
    pub fn get(&self) -> Result<T> {
        self.get_until("Queue::get", None)
    }

    /// Takes the front item if there is one now (Python's `get_nowait`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] (Python's `queue.Empty`); as [`Queue::get`].
    pub fn get_nowait(&self) -> Result<T> {
        self.get_until("Queue::get_nowait", Some(Instant::now()))
    }

    /// Takes the front item, waiting at most `timeout` (Python's
    /// `get(timeout=t)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::get_nowait`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_until("Queue::get_timeout", Instant::now().checked_add(timeout))
    }

    /// The number of items now (Python's `qsize()`; as there, it may have
    /// changed by the time it is used).
    pub fn qsize(&self) -> usize {
        self.load().1
    }

    /// Whether the queue is empty now (Python's `empty()`).
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue is full now (Python's `full()`).
    pub fn full(&self) -> bool {
        self.qsize() == N
    }

    /// The capacity, `N` (Python's `maxsize`).
    pub const fn maxsize(&self) -> usize {
        N
    }

    /// Closes the queue for every process (Python's `close()` says only
    /// this process will put no more; here it is the queue): later puts
    /// fail with [`ErrorKind::BrokenPipe`], and gets take what is left,
    /// then fail with [`ErrorKind::EndOfStream`] instead of waiting.
    /// Waiting processes are woken.
    pub fn close(&self) {
        let guard = self.locked();
        self.closed.store(1, Ordering::Relaxed);
        drop(guard);
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.gets.fetch_add(1, Ordering::SeqCst);
        futex::wake(&self.puts, u32::MAX);
        futex::wake(&self.gets, u32::MAX);
    }

    /// Whether [`Queue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed) != 0
    }
}

impl<T: Shareable + Copy, const N: usize> std::fmt::Debug for Queue<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &N)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A [`Queue`] that counts unfinished tasks (Python's
/// `multiprocessing.JoinableQueue`): every `put` adds one, every
/// [`task_done`](JoinableQueue::task_done) takes one away, and
/// [`join`](JoinableQueue::join) waits until none is left. Everything else
/// is the [`Queue`]'s (through `Deref`).
///
/// A consumer killed between its `get` and its `task_done` leaves that task
/// unfinished for ever: join with a timeout where that can happen.
#[repr(transparent)]
pub struct JoinableQueue<T: Shareable + Copy, const N: usize>(Queue<T, N>);

#[allow(unsafe_code)]
// SAFETY: repr(transparent) over a Queue, which is Shareable.
unsafe impl<T: Shareable + Copy, const N: usize> Shareable for JoinableQueue<T, N> {
    fn type_identity() -> &'static str {
        core::any::type_name::<Self>()
    }
}

impl<T: Shareable + Copy, const N: usize> JoinableQueue<T, N> {
    /// An empty queue in a fresh anonymous shared segment (Python's
    /// `JoinableQueue(maxsize=N)`).
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    pub fn new() -> Result<Shared<JoinableQueue<T, N>>> {
        let () = Queue::<T, N>::CAPACITY_OK;
        Shared::zeroed()
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
        let guard = q.locked();
        let (head, count, unfinished) = q.load();
        if unfinished == 0 {
            return Err(Error::new(
                "JoinableQueue::task_done",
                Queue::<T, N>::resource(),
                ErrorKind::InvalidArgument("task_done() called more times than items were put"),
            ));
        }
        q.store(head, count, unfinished - 1);
        if unfinished == 1 {
            q.finished.fetch_add(1, Ordering::SeqCst);
            drop(guard);
            futex::wake(&q.finished, u32::MAX);
        }
        Ok(())
    }

    /// The tasks put and not yet marked done.
    pub fn unfinished(&self) -> u32 {
        self.0.load().2
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

    fn join_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            // SYNC POINT: read the count of zero-crossings before the count,
            // so a crossing in between moves the word we park on.
            let seen = self.0.finished.load(Ordering::SeqCst);
            if self.unfinished() == 0 {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            Queue::<T, N>::park(&self.0.finished, seen, deadline);
        }
    }
}

impl<T: Shareable + Copy, const N: usize> std::ops::Deref for JoinableQueue<T, N> {
    type Target = Queue<T, N>;
    fn deref(&self) -> &Queue<T, N> {
        &self.0
    }
}

impl<T: Shareable + Copy, const N: usize> std::fmt::Debug for JoinableQueue<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.0)
            .field("unfinished", &self.unfinished())
            .finish()
    }
}
