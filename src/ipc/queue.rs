//! [`Queue`]: a bounded multi-producer multi-consumer queue in shared
//! memory (Python's `multiprocessing.Queue(maxsize)`).

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod forms;

pub use forms::{JoinableQueue, SimpleQueue};

use super::ends::{EndLock, Ends};
use super::waiters::{Side, Waiters, Watch, note_cpu};
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
/// watches the other end for up to 20 µs (spinning: the other side is
/// most likely running and about to answer, and a blocking wake-up costs
/// tens of microseconds; yielding its CPU instead while the other side's
/// last call ran on the same CPU, where it cannot run while this one
/// spins), then parks on a futex word that the other side moves
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
    /// The items put, wrapping at [`Queue::LAP`]: changed under the
    /// back's lock, by one store (a `put`'s commit).
    puts: AtomicU32,
    /// The front's count of items taken as a putter last read it (under
    /// the back's lock): the room a putter knows of without rereading the
    /// front. Never ahead of the front, so the room it shows is there.
    seen_gets: AtomicU32,
    /// The CPU the last `put` ran on, plus one (a hint for waiting
    /// getters: see [`Waiters::wait_until`]).
    cpu: AtomicU32,
    _spare: [AtomicU32; 13],
}

/// The front's state, on a cache line of its own.
#[repr(C, align(64))]
struct Front {
    /// The items taken (low 32 bits) and the tasks marked done (high 32
    /// bits), each wrapping at [`Queue::LAP`]: changed under the front's
    /// lock, by one store (a `get`'s or a `task_done`'s commit).
    word: AtomicU64,
    /// The back's count of items put as a getter last read it (under the
    /// front's lock): never ahead of the back.
    seen_puts: AtomicU32,
    /// The CPU the last `get` ran on, plus one (a hint for waiting
    /// putters).
    cpu: AtomicU32,
    _spare: [AtomicU32; 12],
}

static_assertions::assert_eq_size!(Back, [u64; 8]);
static_assertions::assert_eq_size!(Front, [u64; 8]);

/// The ring's slots, starting on a fresh cache line; each holds an item's
/// stored form ([`Item::Repr`]).
#[repr(C, align(64))]
struct Slots<R: Shareable + Copy, const N: usize>([SharedCell<R>; N]);

#[allow(unsafe_code)]
// SAFETY: repr(C) of Locks, atomics and SharedCells of a Shareable
// T::Repr: no pointers, no drop glue, every bit pattern valid (a garbage
// count is bounded by `N` before use); mutation is atomic, or volatile
// under a lock. The one descriptor number (the waiters' `waker`) is set
// only by `Queue::new` and friends, whose queue lives in an anonymous
// segment reached only through the `Shared` handle that owns the
// descriptor (see `Queue::waker`); any other queue (all zero) has none.
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

    /// Commits the front's word: one releasing store (a plain store, so
    /// that the item's line and the word's go out together; the release of
    /// the lock after it orders it before the look at the parked
    /// counters: see [`Waiters::wait_until`]).
    fn commit_front(&self, gets: u32, done: u32) {
        // SYNC POINT: Release pairs with the Acquire (SeqCst) loads of
        // `taken`: the item was read out before its slot is seen free.
        self.front
            .word
            .store(u64::from(gets) | u64::from(done) << 32, Ordering::Release);
    }

    /// Where the counts wrap: the largest multiple of `N` that fits 32
    /// bits, so that count `c` always goes to slot `c % N`, across the
    /// wrap too (at 2^32 the slots would jump for an `N` that is no power
    /// of two).
    const LAP: u64 = (1 << 32) / N as u64 * N as u64;

    /// The count after `c`.
    fn next(c: u32) -> u32 {
        let n = u64::from(c) + 1;
        // Below LAP ≤ 2^32: fits.
        (if n >= Self::LAP { 0 } else { n }) as u32
    }

    /// `a - b`, counts that wrap at [`Queue::LAP`].
    fn diff(a: u32, b: u32) -> u32 {
        // Below LAP ≤ 2^32: fits.
        ((u64::from(a) + Self::LAP - u64::from(b) % Self::LAP) % Self::LAP) as u32
    }

    /// The slot of count `c`.
    fn slot(&self, c: u32) -> &SharedCell<T::Repr> {
        &self.slots.0[c as usize % N]
    }

    /// The items from `gets` to `puts`, bounded by `N` (a garbage count
    /// in a segment written by another program reads as full).
    fn count(puts: u32, gets: u32) -> usize {
        (Self::diff(puts, gets) as usize).min(N)
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
            if exact || Self::diff(puts, gets) as usize >= N {
                gets = self.taken().0;
                self.back.seen_gets.store(gets, Ordering::Relaxed);
            }
            let count = Self::diff(puts, gets) as usize;
            if count < N {
                self.slot(puts).store(item);
                note_cpu(&self.back.cpu);
                // The commit, a releasing store (see `commit_front`).
                // SYNC POINT: Release pairs with the Acquire (SeqCst) loads
                // of `puts`: the item is written before it is counted.
                self.back.puts.store(Self::next(puts), Ordering::Release);
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
            self.waiters.wait_until(
                Side::Putter,
                || self.puttable(),
                deadline,
                || self.front_lock.lock.touch(),
                || self.front.cpu.load(Ordering::Relaxed),
            );
        }
    }

    pub(crate) fn get_until(&self, op: &'static str, deadline: Option<Instant>) -> Result<T> {
        loop {
            let locked = self.ends().front();
            let exact = locked.both();
            let (gets, done) = self.taken();
            let mut puts = self.front.seen_puts.load(Ordering::Relaxed);
            // The back again when the puts seen leave nothing to take (or
            // are more than `N` ahead: garbage).
            if exact || !(1..=N as u32).contains(&Self::diff(puts, gets)) {
                puts = self.puts();
                self.front.seen_puts.store(puts, Ordering::Relaxed);
            }
            let count = Self::count(puts, gets);
            if count > 0 {
                let repr = self.slot(gets).load();
                note_cpu(&self.front.cpu);
                self.commit_front(Self::next(gets), done);
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
            let next = self.slot(gets);
            self.waiters.wait_until(
                Side::Getter,
                // The item's line asked for while the count's is watched:
                // the two come over together, not one after the other.
                || {
                    next.prefetch();
                    self.gettable()
                },
                deadline,
                || self.back_lock.lock.touch(),
                || self.back.cpu.load(Ordering::Relaxed),
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts near the wrap, for a capacity that does not divide 2^32:
    /// items still come out in order, and the counts add up.
    #[test]
    fn items_keep_their_order_across_the_wrap_of_the_counts() {
        let q = JoinableQueue::<u32, 3>::new().unwrap();
        let start = (Queue::<u32, 3>::LAP - 4) as u32;
        q.0.back.puts.store(start, Ordering::Relaxed);
        q.0.back.seen_gets.store(start, Ordering::Relaxed);
        q.0.front.seen_puts.store(start, Ordering::Relaxed);
        q.0.commit_front(start, start);
        for round in 0..20u32 {
            for k in 0..3 {
                q.put(round * 3 + k).unwrap();
            }
            assert!(q.full() && q.qsize() == 3 && q.unfinished() == 3);
            assert_eq!(q.put_nowait(7).unwrap_err().kind(), ErrorKind::Full);
            for k in 0..3 {
                assert_eq!(q.get().unwrap(), round * 3 + k);
                q.task_done().unwrap();
            }
        }
        assert!(q.empty());
        assert_eq!(q.unfinished(), 0);
        assert!(q.task_done().is_err());
        assert!(
            q.0.back.puts.load(Ordering::Relaxed) < start,
            "the counts wrapped"
        );
    }
}
