//! What the shared-memory queues ([`Queue`](super::Queue) and
//! [`RecordQueue`](super::RecordQueue)) share besides their lock and their
//! state: the words their waiters spin and park on, the closed flag, the
//! unfinished-task wake-ups of the joinable forms, and the eventfd that
//! makes a queue a source for [`wait`](super::wait) ([`Watch`]).
//!
//! A `put` on a full queue or a `get` on an empty one watches the queue
//! for up to 20 µs (spinning: the other side is most likely running and
//! about to answer, and a blocking wake-up costs tens of microseconds;
//! yielding its CPU instead while the other side's last commit ran on the
//! same CPU, where it cannot run while this one spins), then parks
//! on a futex word that the other side moves only when someone is parked.
//! So a hand-off between two busy processes costs no system call.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sync::beacon::Beacon;
pub use crate::sync::beacon::Watch;
use crate::sys::futex;

/// How long a waiter spins before it parks.
const SPIN_FOR: Duration = Duration::from_micros(20);

/// Records in `word` the CPU the calling commit runs on: what the other
/// side's waiters take as `peer` in [`Waiters::wait_until`].
pub(crate) fn note_cpu(word: &AtomicU32) {
    word.store(crate::sys::cpu_plus_one(), Ordering::Relaxed);
}

/// The waiting side of a shared queue: twelve `u32` words, all zero for a
/// fresh open queue with no eventfd. Lives in the queue's segment, next to
/// its lock; the words marked "under the lock" change only while the
/// queue's lock is held (a [`RecordQueue`](super::RecordQueue)'s two
/// locks, both of them).
#[repr(C)]
pub(crate) struct Waiters {
    /// 1 once the queue is closed (under the lock).
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
    /// Readable while the queue holds an item or is closed ([`Watch`]
    /// from `watch`).
    items: Beacon,
    /// Readable while the queue has room for an item or is closed (a
    /// [`Queue`](super::Queue)'s `watch_put`; none for a
    /// [`RecordQueue`](super::RecordQueue), whose room depends on the
    /// record).
    room: Beacon,
    /// Readable while no task is unfinished (a
    /// [`JoinableQueue`](super::JoinableQueue)'s `watch_join`).
    done: Beacon,
}

static_assertions::assert_eq_size!(Waiters, [u32; 12]);

/// Which side a waiter is on.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    /// Waits for an item (or the close).
    Getter,
    /// Waits for room (or the close).
    Putter,
}

impl Waiters {
    /// Gives the queue its eventfd (at creation, before it is shared).
    pub(crate) fn set_waker(&self, fd: i32) {
        self.items.set_waker(fd);
    }

    /// Under the lock, when watched: lowers the room's eventfd (the queue
    /// was just filled and is open).
    pub(crate) fn room_filled(&self) {
        if self.closed.load(Ordering::Relaxed) == 0 {
            self.room.lower_if_watched();
        }
    }

    /// Under the lock: makes the room's eventfd readable exactly when the
    /// queue has room (`room`) or is closed.
    pub(crate) fn sync_room(&self, room: bool) {
        self.room
            .sync(room || self.closed.load(Ordering::Relaxed) != 0);
    }

    /// Under the lock: registers a watcher of the room and makes its
    /// eventfd current. `None` for a queue without that eventfd.
    pub(crate) fn watch_room(&self, room: bool) -> Option<Watch<'_>> {
        self.room
            .watch(room || self.closed.load(Ordering::Relaxed) != 0)
    }

    /// The beacon readable while the queue has room (or is closed).
    pub(crate) fn room_beacon(&self) -> &Beacon {
        &self.room
    }

    /// The beacon readable while no task is unfinished.
    pub(crate) fn done(&self) -> &Beacon {
        &self.done
    }

    /// Whether the queue has an eventfd (it was made by its `new`).
    pub(crate) fn has_waker(&self) -> bool {
        self.items.has_waker()
    }

    /// Whether some [`Watch`] of the items is live. A watch is registered
    /// only under every lock of the queue, so under any one of them this
    /// holds still until the lock is released, but for a watch dropped
    /// meanwhile.
    pub(crate) fn is_watched(&self) -> bool {
        self.items.is_watched()
    }

    /// Whether some [`Watch`] of the items, the room or the tasks done is
    /// live (read under either lock of a two-ended queue, as
    /// [`Waiters::is_watched`]).
    pub(crate) fn any_watched(&self) -> bool {
        self.items.is_watched() || self.room.is_watched() || self.done.is_watched()
    }

    /// Under the lock, when watched: raises the items' eventfd (the queue
    /// just got its first item, or was closed).
    pub(crate) fn raise_if_watched(&self) {
        self.items.raise_if_watched();
    }

    /// Under the lock, when watched: lowers the items' eventfd (the queue
    /// was just emptied and is open).
    pub(crate) fn lower_if_watched(&self) {
        if self.closed.load(Ordering::Relaxed) == 0 {
            self.items.lower_if_watched();
        }
    }

    /// Under the lock: makes the items' eventfd readable exactly when the
    /// queue holds an item (`nonempty`) or is closed.
    pub(crate) fn sync_waker(&self, nonempty: bool) {
        self.items
            .sync(nonempty || self.closed.load(Ordering::Relaxed) != 0);
    }

    /// Whether the queue was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst) != 0
    }

    /// Under the lock: marks the queue closed and raises the eventfds of
    /// the items and the room. Call [`Waiters::wake_all`] once the lock is
    /// released.
    pub(crate) fn mark_closed(&self) {
        self.closed.store(1, Ordering::SeqCst);
        self.items.raise_if_watched();
        self.room.raise_if_watched();
    }

    /// Wakes every parked getter and putter (after a close).
    pub(crate) fn wake_all(&self) {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.gets.fetch_add(1, Ordering::SeqCst);
        futex::wake(&self.puts, u32::MAX);
        futex::wake(&self.gets, u32::MAX);
    }

    /// After a committed `put`, the lock released: wakes a parked getter,
    /// if there is one.
    pub(crate) fn put_done(&self) {
        if self.getters.load(Ordering::SeqCst) > 0 {
            self.puts.fetch_add(1, Ordering::SeqCst);
            futex::wake(&self.puts, 1);
        }
    }

    /// After a committed `get`, the lock released: wakes one parked
    /// putter, or every one (`all`: with records of different sizes, the
    /// one woken may not fit where another would, and would go back to
    /// sleep holding the wake-up), if any is parked.
    pub(crate) fn get_done(&self, all: bool) {
        if self.putters.load(Ordering::SeqCst) > 0 {
            self.gets.fetch_add(1, Ordering::SeqCst);
            futex::wake(&self.gets, if all { u32::MAX } else { 1 });
        }
    }

    /// Waits until `ready` holds, may hold, or `deadline` passes: spins
    /// on the queue's state first (no one needs to wake a spinner), then
    /// registers as parked and sleeps on the word the other side moves
    /// after its commit when it sees someone registered.
    ///
    /// For a queue whose commits are plain (releasing) stores, each
    /// followed by the release of a lock, an acquiring and releasing
    /// read-modify-write of its word, before the look at the parked
    /// counters: `touch` makes such a read-modify-write of the word of the
    /// lock the other side releases (changing nothing), between
    /// registering as parked and the look at `ready`.
    ///
    /// `peer` is the CPU the other side's last commit ran on, plus one (0:
    /// not known), see [`crate::sys::cpu_plus_one`]: while it is this
    /// one's, the other side cannot run while this one spins, so this one
    /// yields its CPU instead.
    pub(crate) fn wait_until(
        &self,
        side: Side,
        ready: impl Fn() -> bool,
        deadline: Option<Instant>,
        touch: impl Fn(),
        peer: impl Fn() -> u32,
    ) {
        let (word, parked) = match side {
            Side::Getter => (&self.puts, &self.getters),
            Side::Putter => (&self.gets, &self.putters),
        };
        // Spin while the other side is likely running on another CPU,
        // yield while it last ran on this one (it may be waiting for this
        // CPU), then park.
        let start = Instant::now();
        let here = crate::sys::cpu_plus_one();
        let mut shared = here != 0 && peer() == here;
        let mut spins = 0u32;
        loop {
            if ready() {
                return;
            }
            spins += 1;
            if spins.is_multiple_of(64) || shared {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    // The caller looks once more, then gives up.
                    return;
                }
                let spent = now - start;
                if spent > SPIN_FOR {
                    break;
                }
                shared = here != 0 && peer() == here;
                if shared {
                    std::thread::yield_now();
                    continue;
                }
            }
            std::hint::spin_loop();
        }
        parked.fetch_add(1, Ordering::SeqCst);
        // SYNC POINT: the other side commits, releases its lock (an AcqRel
        // read-modify-write of the lock's word) and then reads `parked`; we
        // register and then touch the same word. The two
        // read-modify-writes are ordered: if ours comes first, its release
        // makes our registration visible to the other side's look at
        // `parked` (it sees us and moves `word` after our read of it: the
        // futex wait returns at once); if the other side's comes first, its
        // release makes the commit visible to our look at `ready`.
        touch();
        let seen = word.load(Ordering::SeqCst);
        if !ready() {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !left.is_some_and(|l| l.is_zero()) {
                futex::wait(word, seen, left);
            }
        }
        parked.fetch_sub(1, Ordering::SeqCst);
    }

    /// After the unfinished tasks reached zero (the lock released): wakes
    /// every joiner.
    pub(crate) fn all_done(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        futex::wake(&self.finished, u32::MAX);
    }

    /// Waits until `unfinished()` is zero or `deadline` passes: whether it
    /// is zero.
    pub(crate) fn join_until(
        &self,
        unfinished: impl Fn() -> u32,
        deadline: Option<Instant>,
    ) -> bool {
        loop {
            // SYNC POINT: read the count of zero-crossings before the count,
            // so a crossing in between moves the word we park on.
            let seen = self.finished.load(Ordering::SeqCst);
            if unfinished() == 0 {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            let mut backoff = crate::sync::raw::Backoff::new();
            let mut moved = false;
            while backoff.snooze() {
                if self.finished.load(Ordering::Acquire) != seen {
                    moved = true;
                    break;
                }
            }
            if moved {
                continue;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                continue;
            }
            futex::wait(&self.finished, seen, left);
        }
    }

    /// Under the lock: registers a watcher of the items and makes their
    /// eventfd current (`nonempty`: whether the queue holds an item).
    /// `None` for a queue without an eventfd.
    pub(crate) fn watch(&self, nonempty: bool) -> Option<Watch<'_>> {
        self.items
            .watch(nonempty || self.closed.load(Ordering::Relaxed) != 0)
    }
}
