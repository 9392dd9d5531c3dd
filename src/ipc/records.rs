//! [`RecordQueue`]: a multi-producer multi-consumer queue of byte records
//! of any length in one shared segment whose size is chosen at run time.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod ends;
mod ring;

use ring::{ALIGN, HEADER, Header, Spot, WRAP, footprint, pack};

use super::waiters::{Side, Waiters, Watch, note_cpu};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys::event;
use crate::sys::region::Region;

/// What raises a record queue's room for a record: the
/// [`EncodedSize`](crate::ErrorKind::EncodedSize) error's `knob`.
pub const RECORD_KNOB: &str = "make the queue with a larger capacity \
     (RecordQueue::with_capacity, or the serde queues' with_capacity): \
     a record takes up to the capacity less 8 bytes";

/// A queue of byte records of any length (up to a bound) in shared memory,
/// shared by every process forked after it was made: the transport under
/// the serde queues (`ValueQueue` and its kin, with feature `serde`),
/// and a queue of its own for bytes (Python's
/// `Queue.put(b"...")`, `send_bytes`).
///
/// A record costs its length rounded up to 8 bytes, plus an 8-byte
/// header, of the queue's [capacity](RecordQueue::capacity), chosen when
/// the queue is made ([`RecordQueue::with_capacity`];
/// [`RecordQueue::new`] takes [`DEFAULT_CAPACITY`](RecordQueue::DEFAULT_CAPACITY), 1 MiB, for Python's
/// unbounded `Queue()`): a 20-byte message takes 32 bytes, not the
/// largest message's size.
///
/// ```no_run
/// use mproc::ipc::RecordQueue;
/// use mproc::process::Process;
///
/// let q = RecordQueue::with_capacity(64 * 1024)?;
/// let mut p = Process::new(|| {
///     q.put(b"hello").unwrap();
///     q.put(&[7; 3000]).unwrap();
/// });
/// p.start()?;
/// let mut buf = Vec::with_capacity(4096); // reused: no allocation
/// q.get_into(&mut buf)?;
/// assert_eq!(buf, b"hello");
/// let len = q.get_with(|record| record.len())?; // read in place
/// assert_eq!(len, 3000);
/// p.join()?;
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// # Sizes
///
/// The largest record is [`max_record`](RecordQueue::max_record): the
/// capacity less 8 bytes. A record never wraps around the ring's end (so
/// it can be written and read in place), so one larger than half the
/// capacity may wait until the queue has emptied. A record larger than
/// the largest is refused at once with [`ErrorKind::EncodedSize`] (its
/// size, the largest, and [`RECORD_KNOB`]), and nothing queued is
/// touched.
///
/// # How it works, and what a killed process costs
///
/// A ring of bytes with two ends, each under a process-shared
/// [`Lock`](crate::sync::Lock) of its own: putters take the back's lock
/// and write at the back, getters take the front's and read at the front,
/// so a putter and a getter never wait for each other (only putters for
/// putters, getters for getters). Each end's state (its offset, and the
/// records that passed it) is one word, and each `put`, `get` and
/// `task_done` ends with one store of it that commits it; the records are
/// those the back has counted and the front not yet. The two ends' words,
/// their locks and the waiters' words each live on a cache line of their
/// own, and each side rereads the other's word only when it must (a
/// getter when the ring looks empty, a putter when the room it knows of
/// is used up). Waiting is the fixed queue's: spin briefly, then park on a
/// futex. [`RecordQueue::watch`] makes the queue a source for
/// [`wait`](super::wait) (while watched, each call takes both locks, so
/// that the descriptor follows the exact count).
///
/// A process killed at any instant leaves the queue usable: the next
/// process to take a lock it held takes it over. Nothing already put is lost,
/// torn or duplicated, except the one record the dead process was
/// handling: a putter killed before its commit never put its record (the
/// half-written bytes are in the unused part of the ring); a getter
/// killed before its commit leaves the record in the queue for the next
/// `get`; one killed after it took its record with it.
///
/// Every `RecordQueue` also counts unfinished tasks, as Python's
/// `JoinableQueue` does ([`task_done`](RecordQueue::task_done),
/// [`join`](RecordQueue::join)): the tasks done are one more word of the
/// front, so a separate type would add nothing; the typed
/// `ValueJoinableQueue` (feature `serde`) is the one that shows it.
pub struct RecordQueue {
    region: Region<Header>,
    /// The back's word as this handle's getters last read it: read and
    /// written only under the front's lock. A getter looks at the back
    /// again only when the ring looks empty from here.
    seen_back: AtomicU64,
    /// The eventfd [`RecordQueue::watch`] hands out (its number is in the
    /// segment); inherited by forked children with the mapping.
    _waker: OwnedFd,
}

impl RecordQueue {
    /// The capacity of [`RecordQueue::new`] (and of the serde queues' `new`):
    /// 1 MiB. Python's `Queue()` is unbounded; this is the large default that
    /// stands for it. It holds 16 times what a Python queue's pipe holds
    /// before its feeder thread starts to buffer (64 KiB), any record up to
    /// 1 MiB − 8 bytes, and costs memory only for the pages records have
    /// reached (anonymous shared memory is allocated as it is touched): a
    /// queue of small messages that a consumer keeps up with touches a few
    /// pages. [`RecordQueue::with_capacity`] chooses another size.
    pub const DEFAULT_CAPACITY: usize = 1 << 20;

    /// The largest capacity [`RecordQueue::with_capacity`] takes: 2 GiB (a
    /// record's length is a `u32` in the ring).
    pub const MAX_CAPACITY: usize = 1 << 31;

    /// An empty queue of [`DEFAULT_CAPACITY`](RecordQueue::DEFAULT_CAPACITY) bytes (1 MiB) in a fresh
    /// anonymous shared segment: share it with the processes forked after
    /// this call (Python's `Queue()`).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::with_capacity`].
    pub fn new() -> Result<RecordQueue> {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty queue of `bytes` bytes of records (rounded up to a
    /// multiple of 8) in a fresh anonymous shared segment. Each record
    /// takes its length rounded up to 8, plus 8.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for fewer than 16 bytes or more than
    /// [`MAX_CAPACITY`](RecordQueue::MAX_CAPACITY); the kernel's refusal of the mapping (`ENOMEM`) or
    /// of the eventfd (`EMFILE`).
    pub fn with_capacity(bytes: usize) -> Result<RecordQueue> {
        const OP: &str = "RecordQueue::with_capacity";
        let resource = Resource::Container {
            what: "RecordQueue",
            capacity: bytes,
        };
        if !(2 * HEADER..=Self::MAX_CAPACITY).contains(&bytes) {
            return Err(Error::new(
                OP,
                resource,
                ErrorKind::InvalidArgument("a RecordQueue holds 16 bytes to 2 GiB (MAX_CAPACITY)"),
            ));
        }
        let len = bytes.next_multiple_of(ALIGN);
        let waker = event::eventfd().map_err(|e| Error::os("eventfd", resource, e))?;
        let region = Region::<Header>::zeroed(len).map_err(|e| {
            Error::os(
                "mmap",
                Resource::AnonymousSegment {
                    bytes: len.saturating_add(std::mem::size_of::<Header>()),
                },
                e,
            )
        })?;
        region.header().waiters.set_waker(waker.as_raw_fd());
        Ok(RecordQueue {
            region,
            seen_back: AtomicU64::new(0),
            _waker: waker,
        })
    }

    fn header(&self) -> &Header {
        self.region.header()
    }

    fn waiters(&self) -> &Waiters {
        &self.header().waiters
    }

    /// The bytes of records the queue holds, headers included.
    pub fn capacity(&self) -> usize {
        self.region.len()
    }

    /// The longest record the queue takes: the capacity less its 8-byte
    /// header.
    pub fn max_record(&self) -> usize {
        self.capacity() - HEADER
    }

    pub(crate) fn resource(&self) -> Resource {
        Resource::Container {
            what: "RecordQueue",
            capacity: self.capacity(),
        }
    }

    /// Whether a record taking `size` bytes could be put now, or the queue
    /// is closed.
    fn puttable(&self, size: usize) -> bool {
        self.place(self.load(), size).is_some() || self.waiters().is_closed()
    }

    /// Whether a `get` could go on now: a record, or the queue closed.
    fn gettable(&self) -> bool {
        let h = self.header();
        let (_, gets) = self.end(&h.front);
        let (_, puts) = self.end(&h.back);
        puts.wrapping_sub(gets) > 0 || self.waiters().is_closed()
    }

    /// Puts a record of `len` bytes written by `fill`, waiting for room
    /// until `deadline`. `fill` runs under the back's lock; if it fails or
    /// panics nothing is put.
    pub(crate) fn put_raw(
        &self,
        op: &'static str,
        len: usize,
        deadline: Option<Instant>,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<()> {
        if len > self.max_record() {
            return Err(Error::new(
                op,
                self.resource(),
                ErrorKind::EncodedSize {
                    size: len,
                    capacity: self.max_record(),
                    knob: RECORD_KNOB,
                },
            ));
        }
        let size = footprint(len);
        let h = self.header();
        loop {
            let mut locked = self.lock_back();
            if self.waiters().is_closed() {
                return Err(Error::new(op, self.resource(), ErrorKind::BrokenPipe));
            }
            let (ring, spot) = self.place_for_put(size, locked.front.is_some());
            if let Some((spot, free)) = spot {
                let (at, wrap) = match spot {
                    Spot::At { at, wrap } => (at, wrap),
                    Spot::Reset => {
                        // Empty, so no getter moves the front: move it to
                        // the start under its lock (a putter killed after
                        // this leaves an empty ring whose front is there).
                        if locked.front.is_none() {
                            let mut died = false;
                            locked.front =
                                Some(crate::ipc::ends::take(&h.front_lock.lock, &mut died));
                        }
                        // Putters read the front again from now on.
                        h.back.tally.store(0, Ordering::Relaxed);
                        self.commit(&h.front, 0, ring.gets);
                        h.back.seen.store(pack(0, ring.gets), Ordering::Relaxed);
                        (0, None)
                    }
                };
                if let Some(wrap) = wrap {
                    self.write_header(op, wrap, WRAP)?;
                }
                // `len` fits a u32: it is below the capacity (≤ 2 GiB).
                self.write_header(op, at, len as u32)?;
                {
                    #[allow(unsafe_code)]
                    // SAFETY: under the back's lock, which every writer of
                    // the ring takes; these bytes are outside every record
                    // put and not taken (see `write_header`), so no reader
                    // holds them.
                    let body = unsafe { self.region.bytes_mut(at + HEADER, len) }
                        .ok_or_else(|| self.corrupt(op))?;
                    fill(body)?;
                }
                let free = if spot == Spot::Reset {
                    self.capacity() - size
                } else {
                    free
                };
                // Before the commit: a putter killed in between leaves it
                // too low.
                // `free` is at most the capacity, at most 2 GiB.
                h.back.tally.store(free as u32, Ordering::Relaxed);
                note_cpu(&h.back.cpu);
                self.commit(
                    &h.back,
                    ring::wrap(at + size, self.capacity()),
                    ring.puts.wrapping_add(1),
                );
                if ring.count() == 0 && locked.front.is_some() {
                    self.waiters().raise_if_watched();
                }
                drop(locked);
                self.waiters().put_done();
                // The lines a few records on, not the next one: measured,
                // a line asked for one record ahead has not come over yet
                // when that record is written (one 4 to 5 lines ahead has).
                let ahead = ring::wrap(at + size, self.capacity()) + PREFETCH_AHEAD;
                if free > PREFETCH_AHEAD + 2 * LINE {
                    self.region.prefetch_write(ahead);
                    self.region.prefetch_write(ahead + LINE);
                }
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(op, self.resource(), ErrorKind::Full));
            }
            drop(locked);
            self.waiters().wait_until(
                Side::Putter,
                || self.puttable(size),
                deadline,
                || h.front_lock.lock.touch(),
                || h.front.cpu.load(Ordering::Relaxed),
            );
        }
    }

    /// Takes the front record, waiting for one until `deadline`, and hands
    /// its bytes to `read` under the front's lock: the record is taken when
    /// `read` returns `Ok`, and stays (for the next `get`) when it returns
    /// `Err` or panics.
    pub(crate) fn get_raw<R>(
        &self,
        op: &'static str,
        deadline: Option<Instant>,
        read: impl FnOnce(&[u8]) -> Result<R>,
    ) -> Result<R> {
        let cap = self.capacity();
        let h = self.header();
        loop {
            let locked = self.lock_front();
            let ring = self.ring_for_get(locked.back.is_some());
            if ring.count() > 0 {
                let mut head = ring.head;
                let mut used = ring.used(cap);
                let mut len = self.read_header(op, head)?;
                if len == WRAP {
                    let skipped = cap - head;
                    if skipped >= used {
                        return Err(self.corrupt(op));
                    }
                    used -= skipped;
                    head = 0;
                    len = self.read_header(op, 0)?;
                }
                let len = len as usize;
                let size = footprint(len);
                if size > used || head + size > cap {
                    return Err(self.corrupt(op));
                }
                let value = {
                    #[allow(unsafe_code)]
                    // SAFETY: under the front's lock, which every reader
                    // takes; the bytes are a record put and not taken (see
                    // `read_header`), which no putter writes.
                    let body = unsafe { self.region.bytes(head + HEADER, len) }
                        .ok_or_else(|| self.corrupt(op))?;
                    read(body)?
                };
                note_cpu(&h.front.cpu);
                self.commit(
                    &h.front,
                    ring::wrap(head + size, cap),
                    ring.gets.wrapping_add(1),
                );
                if ring.count() == 1 && locked.back.is_some() {
                    self.waiters().lower_if_watched();
                }
                drop(locked);
                self.waiters().get_done(true);
                return Ok(value);
            }
            // SYNC POINT: the close is made under the back's lock, after
            // every put that came before it: with the flag seen, a look
            // at the back again sees them all.
            if self.waiters().is_closed() {
                if self.load().count() > 0 {
                    continue;
                }
                return Err(Error::new(op, self.resource(), ErrorKind::EndOfStream));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(op, self.resource(), ErrorKind::Empty));
            }
            drop(locked);
            self.waiters().wait_until(
                Side::Getter,
                || self.gettable(),
                deadline,
                || h.back_lock.lock.touch(),
                || h.back.cpu.load(Ordering::Relaxed),
            );
        }
    }

    /// Puts `record` at the back, waiting while there is no room for it
    /// (Python's `put(b"...")`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EncodedSize`] for a record longer than
    /// [`max_record`](RecordQueue::max_record) (it could never fit);
    /// [`ErrorKind::BrokenPipe`] once the queue is
    /// [closed](RecordQueue::close). Nothing is put then.
    pub fn put(&self, record: &[u8]) -> Result<()> {
        self.put_raw("RecordQueue::put", record.len(), None, |b| {
            b.copy_from_slice(record);
            Ok(())
        })
    }

    /// Puts `record` if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] (Python's `queue.Full`); as
    /// [`RecordQueue::put`].
    pub fn put_nowait(&self, record: &[u8]) -> Result<()> {
        self.put_raw(
            "RecordQueue::put_nowait",
            record.len(),
            Some(Instant::now()),
            |b| {
                b.copy_from_slice(record);
                Ok(())
            },
        )
    }

    /// Puts `record`, waiting at most `timeout` for room (Python's
    /// `put(item, timeout=t)`).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::put_nowait`].
    pub fn put_timeout(&self, record: &[u8], timeout: Duration) -> Result<()> {
        self.put_raw(
            "RecordQueue::put_timeout",
            record.len(),
            Instant::now().checked_add(timeout),
            |b| {
                b.copy_from_slice(record);
                Ok(())
            },
        )
    }

    /// Puts a record of `len` bytes that `fill` writes in place (encode
    /// straight into the queue), waiting while there is no room. `fill`
    /// gets exactly `len` bytes holding whatever was there before: it
    /// must write them all.
    ///
    /// `fill` runs while the lock of the queue's back is held (keep it short, and do
    /// not use this queue in it: that waits for ever). The record is put
    /// when `fill` returns; if it panics, or its process is killed
    /// meanwhile, nothing is put and the queue is as it was.
    ///
    /// ```no_run
    /// # let q = mproc::ipc::RecordQueue::with_capacity(1024)?;
    /// let id: u32 = 7;
    /// q.put_with(4 + 5, |buf| {
    ///     buf[..4].copy_from_slice(&id.to_le_bytes());
    ///     buf[4..].copy_from_slice(b"hello");
    /// })?;
    /// # Ok::<(), mproc::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::put`].
    pub fn put_with(&self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<()> {
        self.put_raw("RecordQueue::put_with", len, None, |b| {
            fill(b);
            Ok(())
        })
    }

    /// [`put_with`](RecordQueue::put_with), waiting at most `timeout` for
    /// room (zero: only if there is room now).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::put_nowait`].
    pub fn put_with_timeout(
        &self,
        len: usize,
        timeout: Duration,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<()> {
        self.put_raw(
            "RecordQueue::put_with_timeout",
            len,
            Instant::now().checked_add(timeout),
            |b| {
                fill(b);
                Ok(())
            },
        )
    }

    /// Takes the front record into `buf` (cleared first, grown if it is
    /// shorter, never shrunk: reused, it stops allocating once it has held
    /// the longest record), waiting while the queue is empty (Python's
    /// `get()`). Returns the record's length.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EndOfStream`] when the queue is closed and empty.
    pub fn get_into(&self, buf: &mut Vec<u8>) -> Result<usize> {
        self.get_raw("RecordQueue::get_into", None, |r| Ok(copy_into(r, buf)))
    }

    /// [`get_into`](RecordQueue::get_into) if there is a record now
    /// (Python's `get_nowait`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] (Python's `queue.Empty`); as
    /// [`RecordQueue::get_into`].
    pub fn get_into_nowait(&self, buf: &mut Vec<u8>) -> Result<usize> {
        self.get_raw("RecordQueue::get_into_nowait", Some(Instant::now()), |r| {
            Ok(copy_into(r, buf))
        })
    }

    /// [`get_into`](RecordQueue::get_into), waiting at most `timeout`
    /// (Python's `get(timeout=t)`).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::get_into_nowait`].
    pub fn get_into_timeout(&self, buf: &mut Vec<u8>, timeout: Duration) -> Result<usize> {
        self.get_raw(
            "RecordQueue::get_into_timeout",
            Instant::now().checked_add(timeout),
            |r| Ok(copy_into(r, buf)),
        )
    }

    /// Takes the front record into the start of `buf`, waiting at most
    /// `timeout` (`None`: as long as it takes; zero: only if there is one
    /// now). Returns its length.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageSize`] (the record's length and `buf`'s) when
    /// `buf` is too short: the record stays at the front. As
    /// [`RecordQueue::get_into_nowait`].
    pub fn get_bytes(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        const OP: &str = "RecordQueue::get_bytes";
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let resource = self.resource();
        self.get_raw(OP, deadline, |r| {
            let Some(to) = buf.get_mut(..r.len()) else {
                return Err(Error::new(
                    OP,
                    resource,
                    ErrorKind::MessageSize {
                        size: r.len(),
                        capacity: buf.len(),
                    },
                ));
            };
            to.copy_from_slice(r);
            Ok(r.len())
        })
    }

    /// Takes the front record, handing its bytes to `read` in place
    /// (decode straight from the queue), waiting while the queue is empty;
    /// returns what `read` returns.
    ///
    /// `read` runs while the lock of the queue's front is held (keep it short, and do
    /// not use this queue in it: that waits for ever). The record is taken
    /// when `read` returns. If `read` panics, or its process is killed
    /// meanwhile, the record stays at the front for the next `get`.
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::get_into`].
    pub fn get_with<R>(&self, read: impl FnOnce(&[u8]) -> R) -> Result<R> {
        self.get_raw("RecordQueue::get_with", None, |r| Ok(read(r)))
    }

    /// [`get_with`](RecordQueue::get_with), waiting at most `timeout`
    /// (zero: only if there is a record now).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::get_into_nowait`].
    pub fn get_with_timeout<R>(
        &self,
        timeout: Duration,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        self.get_raw(
            "RecordQueue::get_with_timeout",
            Instant::now().checked_add(timeout),
            |r| Ok(read(r)),
        )
    }

    /// The number of records now (Python's `qsize()`; as there, it may
    /// have changed by the time it is used).
    pub fn qsize(&self) -> usize {
        self.load().count() as usize
    }

    /// Whether the queue is empty now (Python's `empty()`).
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether not even an empty record would fit now (Python's `full()`;
    /// a longer record may not fit before that).
    pub fn full(&self) -> bool {
        self.place(self.load(), HEADER).is_none()
    }

    /// The bytes records take now, headers, padding and a skipped ring
    /// end included (of [`capacity`](RecordQueue::capacity)).
    pub fn used(&self) -> usize {
        self.load().used(self.capacity())
    }

    /// Closes the queue for every process: later puts fail with
    /// [`ErrorKind::BrokenPipe`], and gets take what is left, then fail
    /// with [`ErrorKind::EndOfStream`] instead of waiting. Waiting
    /// processes are woken.
    pub fn close(&self) {
        let locked = self.both(false);
        self.waiters().mark_closed();
        drop(locked);
        self.waiters().wake_all();
    }

    /// Whether [`RecordQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.waiters().is_closed()
    }

    /// Marks one record taken with `get` as processed (Python's
    /// `JoinableQueue.task_done()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when there is no unfinished task;
    /// nothing changes then.
    pub fn task_done(&self) -> Result<()> {
        let locked = self.lock_front();
        let ring = self.load();
        if ring.unfinished() == 0 {
            return Err(Error::new(
                "RecordQueue::task_done",
                self.resource(),
                ErrorKind::InvalidArgument("task_done() called more times than records were put"),
            ));
        }
        self.header()
            .front
            .tally
            .store(ring.done.wrapping_add(1), Ordering::SeqCst);
        if ring.unfinished() == 1 {
            drop(locked);
            self.waiters().all_done();
        }
        Ok(())
    }

    /// The records put and not yet marked done.
    pub fn unfinished(&self) -> u32 {
        self.load().unfinished()
    }

    /// Waits until every record put has been marked done (Python's
    /// `JoinableQueue.join()`). A consumer killed between its `get` and
    /// its `task_done` leaves its task unfinished for ever: join with a
    /// timeout where that can happen.
    pub fn join(&self) {
        self.waiters().join_until(|| self.unfinished(), None);
    }

    /// [`join`](RecordQueue::join) for at most `timeout`: whether every
    /// task was done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.waiters()
            .join_until(|| self.unfinished(), Instant::now().checked_add(timeout))
    }

    /// Watches the queue for [`wait`](super::wait), as
    /// [`Queue::watch`](super::Queue::watch): the returned [`Watch`] is
    /// readable while the queue holds a record or is closed.
    ///
    /// # Errors
    ///
    /// None today (every `RecordQueue` has its descriptor); kept for the
    /// fixed queue's shape.
    pub fn watch(&self) -> Result<Watch<'_>> {
        let _locked = self.both(false);
        self.waiters()
            .watch(self.load().count() > 0)
            .ok_or_else(|| self.corrupt("RecordQueue::watch"))
    }
}

/// A cache line.
const LINE: usize = 64;
/// How far past the next record a putter asks for lines to write.
const PREFETCH_AHEAD: usize = 4 * LINE;

/// Copies `record` into `buf` (cleared, grown if short); its length.
fn copy_into(record: &[u8], buf: &mut Vec<u8>) -> usize {
    buf.clear();
    buf.extend_from_slice(record);
    record.len()
}

impl std::fmt::Debug for RecordQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordQueue")
            .field("qsize", &self.qsize())
            .field("used", &self.used())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}
