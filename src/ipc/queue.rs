//! [`Queue`]: a bounded multi-producer multi-consumer queue in shared
//! memory (Python's `multiprocessing.Queue(maxsize)`).

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::ends::{EndLock, Ends};
use super::waiters::{Side, Waiters, Watch};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::{Item, Shareable, Shared};
use crate::sys::event;
use crate::sys::mem::SharedCell;

/// A bounded queue of `N` items of type `T` (a fixed-size [`Item`]:
/// numbers, `bool`, `char`, tuples, `Option`s, arrays, [`FixedStr`],
/// `#[derive(Shareable)]` and `#[derive(Item)]` types, copied in and
/// out), shared by every process forked after it was made: Python's
/// `multiprocessing.Queue(maxsize=N)`, without pickling or a feeder
/// thread. Make it with [`Queue::new`], which places it in shared memory
/// with an eventfd for [`Queue::watch`].
///
/// Each slot holds the item's stored form ([`Item::Repr`]), checked when
/// it is taken: a `get` of bytes that are no value (a `bool` of 2, written
/// by another program into a named segment) takes them and fails with
/// [`ErrorKind::InvalidData`].
///
/// [`FixedStr`]: crate::shm::FixedStr
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
/// A ring of `N` slots with two ends, each under a process-shared
/// [`Lock`](crate::sync::Lock) of its own: putters take the back's lock
/// and write at the back, getters take the front's and read at the front,
/// so a putter and a getter never wait for each other's lock (only
/// putters for putters, getters for getters). The back's state is the
/// count of items put, the front's the count of items taken and of tasks
/// marked done (a [`JoinableQueue`]'s), each one word changed by one
/// store at the end of a `put`, a `get` or a `task_done`; the items are
/// those the back has counted and the front not yet. The two locks, the
/// two ends' words and the waiters' words each live on a cache line of
/// their own, and each side rereads the other's word only when it must (a
/// getter when the queue looks empty, a putter when the room it knows of
/// is used up), so a hand-off moves the item's line and the back's word,
/// little else. A `put` on a full queue or a `get` on an empty one
/// watches the other end for up to 20 µs (spinning for the first 2 µs,
/// then yielding its CPU between looks: the other side is most likely
/// running and about to answer, and a blocking wake-up costs tens of
/// microseconds), then parks on a futex word that the other side moves
/// only when someone is parked. So a hand-off between two busy processes
/// costs no system call. (The variable-length
/// [`RecordQueue`](super::RecordQueue) is built the same way.)
///
/// [`Queue::watch`] makes the queue a source for [`wait`](super::wait).
/// [`Queue::watch_put`] gives a putter the same for room.
///
/// `Send` and `Sync` behind its [`Shared`] handle: the queue is shared
/// memory and a lock that works between processes, so between threads
/// too, and its watches may be registered with a reactor on any thread.
///
/// A process killed at any instant leaves the queue usable: the next
/// process to take a lock it held takes it over (each end's word is
/// always consistent). Nothing already put is lost, torn or duplicated,
/// except the one item the dead process was handling: a putter killed
/// before its store never put its item; a getter killed after its store
/// took its item with it; a getter killed before its store leaves the
/// item in the queue for the next `get`.
#[repr(C)]
pub struct Queue<T: Item, const N: usize> {
    /// Taken by putters.
    back_lock: EndLock,
    /// The items put, and what putters last saw of the front.
    back: Back,
    /// Taken by getters (and `task_done`).
    front_lock: EndLock,
    /// The items taken and the tasks done.
    front: Front,
    /// The closed flag, the words waiters park on, the eventfds.
    waiters: Waiters,
    /// On a cache line of its own, away from the words waiters spin on.
    slots: Slots<T::Repr, N>,
}

/// The back's state, on a cache line of its own.
#[repr(C, align(64))]
struct Back {
    /// The items put, wrapping: changed under the back's lock, by one
    /// store (a `put`'s commit).
    puts: AtomicU32,
    /// The front's count of items taken as a putter last read it (under
    /// the back's lock): the room a putter knows of without rereading the
    /// front. Never ahead of the front, so the room it shows is there.
    seen_gets: AtomicU32,
    _spare: [AtomicU32; 14],
}

/// The front's state, on a cache line of its own.
#[repr(C, align(64))]
struct Front {
    /// The items taken (low 32 bits) and the tasks marked done (high 32
    /// bits), each wrapping: changed under the front's lock, by one store
    /// (a `get`'s or a `task_done`'s commit).
    word: AtomicU64,
    /// The back's count of items put as a getter last read it (under the
    /// front's lock): never ahead of the back.
    seen_puts: AtomicU32,
    _spare: [AtomicU32; 13],
}

static_assertions::assert_eq_size!(Back, [u64; 8]);
static_assertions::assert_eq_size!(Front, [u64; 8]);

/// The ring's slots, starting on a fresh cache line; each holds an item's
/// stored form ([`Item::Repr`]).
#[repr(C, align(64))]
struct Slots<R: Shareable + Copy, const N: usize>([SharedCell<R>; N]);

#[allow(unsafe_code)]
// SAFETY: repr(C) of Locks, atomics and SharedCells of a Shareable T::Repr: no
// pointers, no drop glue, every bit pattern valid (a garbage count is
// bounded by `N` before use); mutation is atomic, or volatile under a
// lock. The one descriptor number (the waiters' `waker`) is set only by `Queue::new` and
// friends, whose queue lives in an anonymous segment reached only through
// the `Shared` handle that owns the descriptor (see `Queue::waker`); any
// other queue (all zero) has none.
unsafe impl<T: Item, const N: usize> Shareable for Queue<T, N> {
    fn type_identity() -> &'static str {
        core::any::type_name::<Self>()
    }
}

impl<T: Item, const N: usize> Queue<T, N> {
    const CAPACITY_OK: () = assert!(N > 0 && N < (1 << 16), "a Queue holds 1 to 65535 items");

    /// An empty queue in a fresh anonymous shared segment: share it with the
    /// processes forked after this call (Python's `Queue(maxsize=N)`).
    ///
    /// The queue can be [watched](Queue::watch) in [`wait`](super::wait):
    /// it comes with an eventfd, closed when the returned handle is dropped.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`) or of the eventfd
    /// (`EMFILE`).
    pub fn new() -> Result<Shared<Queue<T, N>>> {
        Self::made(|q| q, false)
    }

    /// A zeroed `Q` (all zero: unlocked, empty, open) in a fresh segment,
    /// its queue given an eventfd for its items and one for its room, and
    /// one for its tasks done when `joinable`.
    fn made<Q: Shareable>(queue: impl Fn(&Q) -> &Queue<T, N>, joinable: bool) -> Result<Shared<Q>> {
        let () = Self::CAPACITY_OK;
        let eventfd = || event::eventfd().map_err(|e| Error::os("eventfd", Self::resource(), e));
        let items = eventfd()?;
        let room = eventfd()?;
        let done = if joinable { Some(eventfd()?) } else { None };
        let shared = Shared::<Q>::zeroed()?;
        let waiters = &queue(&shared).waiters;
        waiters.set_waker(items.as_raw_fd());
        waiters.room_beacon().set_waker(room.as_raw_fd());
        let mut shared = shared.with_companion(items).with_companion(room);
        if let Some(done) = done {
            queue(&shared).waiters.done().set_waker(done.as_raw_fd());
            shared = shared.with_companion(done);
        }
        Ok(shared)
    }

    fn resource() -> Resource {
        Resource::Container {
            what: "Queue",
            capacity: N,
        }
    }

    /// The items put (committed).
    fn puts(&self) -> u32 {
        self.back.puts.load(Ordering::SeqCst)
    }

    /// The items taken and the tasks done (committed).
    fn taken(&self) -> (u32, u32) {
        let word = self.front.word.load(Ordering::SeqCst);
        (word as u32, (word >> 32) as u32)
    }

    /// Commits an end's word: one store, made as a swap so that it is
    /// ordered before the loads of the parked counters that follow on
    /// every target (qemu-user may emulate a releasing store and a later
    /// acquiring load without the fence between them).
    fn commit_front(&self, gets: u32, done: u32) {
        self.front
            .word
            .swap(u64::from(gets) | u64::from(done) << 32, Ordering::SeqCst);
    }

    /// The items from `gets` to `puts`, bounded by `N` (a garbage count
    /// in a segment written by another program reads as full).
    fn count(puts: u32, gets: u32) -> usize {
        (puts.wrapping_sub(gets) as usize).min(N)
    }

    /// The two locks, as the calls take them: both while some eventfd is
    /// watched.
    fn ends(&self) -> Ends<'_, impl Fn() -> bool + '_, impl Fn() + '_> {
        Ends {
            back: &self.back_lock.lock,
            front: &self.front_lock.lock,
            watched: || self.waiters.any_watched(),
            resync: || self.resync(),
        }
    }

    /// Both locks held, after a holder died: brings the eventfds in line
    /// with the exact state (the dead holder may have committed without
    /// raising or lowering them).
    fn resync(&self) {
        let (gets, done) = self.taken();
        let puts = self.puts();
        let count = Self::count(puts, gets);
        self.waiters.sync_waker(count > 0);
        self.waiters.sync_room(count < N);
        self.waiters.done().sync(puts == done);
    }

    /// Whether a `get` could go on now: an item, or the queue closed.
    fn gettable(&self) -> bool {
        self.qsize() > 0 || self.waiters.is_closed()
    }

    /// Whether a `put` could go on now: room, or the queue closed.
    fn puttable(&self) -> bool {
        self.qsize() < N || self.waiters.is_closed()
    }

    /// Puts `item` in its stored form (so that a caller may try again
    /// with the same one: the async form).
    pub(crate) fn put_until(
        &self,
        op: &'static str,
        item: T::Repr,
        deadline: Option<Instant>,
    ) -> Result<()> {
        loop {
            let locked = self.ends().back();
            if self.waiters.is_closed() {
                return Err(Error::new(op, Self::resource(), ErrorKind::BrokenPipe));
            }
            let exact = locked.both();
            let puts = self.back.puts.load(Ordering::Relaxed);
            let mut gets = self.back.seen_gets.load(Ordering::Relaxed);
            if exact || puts.wrapping_sub(gets) as usize >= N {
                gets = self.taken().0;
                self.back.seen_gets.store(gets, Ordering::Relaxed);
            }
            let count = puts.wrapping_sub(gets) as usize;
            if count < N {
                self.slots.0[puts as usize % N].store(item);
                // The commit.
                self.back.puts.swap(puts.wrapping_add(1), Ordering::SeqCst);
                if exact {
                    if count == 0 {
                        self.waiters.raise_if_watched();
                    }
                    if count + 1 == N {
                        self.waiters.room_filled();
                    }
                    if self.taken().1 == puts {
                        self.waiters.done().lower_if_watched();
                    }
                }
                drop(locked);
                self.waiters.put_done();
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(op, Self::resource(), ErrorKind::Full));
            }
            drop(locked);
            self.waiters
                .wait_until(Side::Putter, || self.puttable(), deadline);
        }
    }

    pub(crate) fn get_until(&self, op: &'static str, deadline: Option<Instant>) -> Result<T> {
        loop {
            let locked = self.ends().front();
            let exact = locked.both();
            let (gets, done) = self.taken();
            let mut puts = self.front.seen_puts.load(Ordering::Relaxed);
            // Counts of fewer than 2^16 items: a negative difference is
            // garbage, or a zeroed queue's.
            if exact || (puts.wrapping_sub(gets) as i32) <= 0 {
                puts = self.puts();
                self.front.seen_puts.store(puts, Ordering::Relaxed);
            }
            let count = Self::count(puts, gets);
            if count > 0 {
                let repr = self.slots.0[gets as usize % N].load();
                self.commit_front(gets.wrapping_add(1), done);
                if exact {
                    if count == 1 {
                        self.waiters.lower_if_watched();
                    }
                    if count == N {
                        self.waiters.room_beacon().raise_if_watched();
                    }
                }
                drop(locked);
                self.waiters.get_done(false);
                // Taken either way: bytes that are no value (written by
                // another program into a named segment) never block the
                // items behind them.
                return T::from_repr(repr).ok_or_else(|| {
                    Error::new(
                        op,
                        Self::resource(),
                        ErrorKind::InvalidData("the slot holds no value of the item type"),
                    )
                });
            }
            // SYNC POINT: the close is made under the back's lock, after
            // every put that came before it: with the flag seen, a look
            // at the back again sees them all.
            if self.waiters.is_closed() {
                if Self::count(self.puts(), gets) > 0 {
                    continue;
                }
                return Err(Error::new(op, Self::resource(), ErrorKind::EndOfStream));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(op, Self::resource(), ErrorKind::Empty));
            }
            drop(locked);
            self.waiters
                .wait_until(Side::Getter, || self.gettable(), deadline);
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
        self.put_until("Queue::put", item.to_repr(), None)
    }

    /// Puts `item` if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] (Python's `queue.Full`); as [`Queue::put`].
    pub fn put_nowait(&self, item: T) -> Result<()> {
        self.put_until("Queue::put_nowait", item.to_repr(), Some(Instant::now()))
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
            item.to_repr(),
            Instant::now().checked_add(timeout),
        )
    }

    /// Takes the item at the front, waiting while the queue is empty
    /// (Python's `get()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EndOfStream`] when the queue is closed and empty;
    /// [`ErrorKind::InvalidData`] when the front slot holds no value of
    /// type `T` (see [`Item`]): it is taken all the same (a
    /// [`JoinableQueue`] counts it as a task taken: mark it done).
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
        // The front first: it never passes the back.
        let gets = self.taken().0;
        Self::count(self.puts(), gets)
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
        let locked = self.ends().both(false);
        self.waiters.mark_closed();
        drop(locked);
        self.waiters.wake_all();
    }

    /// Whether [`Queue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.waiters.is_closed()
    }

    /// Watches the queue for [`wait`](super::wait): the returned [`Watch`]
    /// is a descriptor that is readable while the queue holds an item or is
    /// closed (Python's `wait([q._reader])`). Take items with
    /// [`get_nowait`](Queue::get_nowait) when it is: another consumer may
    /// have been quicker.
    ///
    /// Keeping the descriptor current costs a system call on the puts that
    /// make the queue non-empty and the gets that empty it, and only while
    /// some process holds a `Watch`. A process killed while holding one
    /// leaves that cost behind, nothing else.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use mproc::ipc::{wait, Pipe, Queue};
    ///
    /// let q = Queue::<u32, 8>::new()?;
    /// let (conn, _peer) = Pipe::duplex()?;
    /// let watch = q.watch()?;
    /// q.put(7)?;
    /// let ready = wait(&[conn.as_fd(), watch.as_fd()], None)?;
    /// assert!(ready.contains(1));
    /// assert_eq!(q.get_nowait()?, 7);
    /// # Ok::<(), mproc::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a queue that was not made by
    /// [`Queue::new`] (or [`JoinableQueue::new`], [`SimpleQueue::new`]),
    /// e.g. one inside another shared value: it has no descriptor.
    pub fn watch(&self) -> Result<Watch<'_>> {
        let no_descriptor = || {
            Error::new(
                "Queue::watch",
                Self::resource(),
                ErrorKind::InvalidArgument("the queue was not made by Queue::new: no descriptor"),
            )
        };
        if !self.waiters.has_waker() {
            return Err(no_descriptor());
        }
        let _locked = self.ends().both(false);
        self.waiters
            .watch(self.qsize() > 0)
            .ok_or_else(no_descriptor)
    }

    /// Watches the queue's room, for a putter's event loop: the returned
    /// [`Watch`] is readable while the queue has room for an item or is
    /// closed, i.e. exactly when [`put_nowait`](Queue::put_nowait) would
    /// not say [`Full`](ErrorKind::Full). Another putter may have been
    /// quicker: put with `put_nowait` when it fires and watch again on
    /// `Full`.
    ///
    /// As with [`Queue::watch`], keeping it current costs a system call
    /// on the puts that fill the queue and the gets that make room in a
    /// full one, only while some process holds such a `Watch`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a queue that was not made by
    /// [`Queue::new`] (or [`JoinableQueue::new`], [`SimpleQueue::new`]).
    pub fn watch_put(&self) -> Result<Watch<'_>> {
        let no_descriptor = || {
            Error::new(
                "Queue::watch_put",
                Self::resource(),
                ErrorKind::InvalidArgument("the queue was not made by Queue::new: no descriptor"),
            )
        };
        let _locked = self.ends().both(false);
        self.waiters
            .watch_room(self.qsize() < N)
            .ok_or_else(no_descriptor)
    }
}

impl<T: Item, const N: usize> std::fmt::Debug for Queue<T, N> {
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
pub struct JoinableQueue<T: Item, const N: usize>(Queue<T, N>);

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
        // Tasks put and not done: fewer than 2^31 (a negative difference
        // is garbage, or a zeroed queue's).
        let unfinished = q.puts().wrapping_sub(done);
        if unfinished == 0 || unfinished > i32::MAX as u32 {
            return Err(Error::new(
                "JoinableQueue::task_done",
                Queue::<T, N>::resource(),
                ErrorKind::InvalidArgument("task_done() called more times than items were put"),
            ));
        }
        q.commit_front(gets, done.wrapping_add(1));
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
        let unfinished = self.0.puts().wrapping_sub(done);
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

    /// Watches the queue for [`wait`](super::wait), as [`Queue::watch`].
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
