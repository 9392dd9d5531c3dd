//! The ring of a [`RecordQueue`]: its layout in the segment, the two ends
//! and their one-store commits, where a record goes, and the record
//! headers.
//!
//! The segment holds a [`Header`] (the back [`End`], where records are
//! put, the front one, where they are taken, and the waiters) and then
//! the ring's bytes. Each end has a lock of its own and a committed
//! word: its offset in the ring and the records that have passed it (the
//! front's also counts the tasks done). Putters take only the back's
//! lock and getters only the front's, so the two sides never wait for
//! each other's lock, and each side's state lives on a cache line of its
//! own. The records in the ring are those put and not yet taken (the
//! back's count less the front's), from the front's offset to the
//! back's.
//!
//! Each record is an 8-byte header (its length, then the length's
//! complement) and its bytes, padded to 8; a record never wraps around
//! the ring's end: when the end is too short, a header of length [`WRAP`]
//! there says the record is at the ring's start. A record put into an
//! empty ring goes where the front is (or, if it fits nowhere from
//! there, to the start, after moving the front there: see
//! [`Spot::Reset`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::RecordQueue;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::ends::EndLock;
use crate::ipc::waiters::Waiters;
use crate::shm::Shareable;

/// Each record's header: its length, then the length's complement.
pub(super) const HEADER: usize = 8;
/// Records start at multiples of this.
pub(super) const ALIGN: usize = 8;
/// A header with this length says: the rest of the ring is unused, the
/// next record is at its start.
pub(super) const WRAP: u32 = u32::MAX;

/// The bytes a record of `len` bytes takes in the ring.
pub(super) const fn footprint(len: usize) -> usize {
    HEADER + len.next_multiple_of(ALIGN)
}

/// An end's state, on a cache line of its own, committed by one store of
/// one word.
#[repr(C, align(64))]
pub(super) struct End {
    /// The end's offset in the ring (low 32 bits) and the records that
    /// have passed it, wrapping (high 32 bits): changed under the end's
    /// lock, by one store (the commit).
    pub(super) word: AtomicU64,
    /// The back's: the front's word as a putter last read it (under the
    /// back's lock; see `credit`).
    pub(super) seen: AtomicU64,
    /// The front's: the tasks marked done, wrapping (under its lock).
    /// The back's: bytes free for certain from the back up to the front
    /// in `seen` (under its lock): a putter reads the front again only
    /// when a record needs more. Lowered before each put's commit, zeroed
    /// while the front is moved back ([`Spot::Reset`]): a putter killed
    /// in between leaves it too low, never too high.
    pub(super) tally: AtomicU32,
    /// The CPU the end's last commit ran on, plus one (a hint for the
    /// other side's waiters: see `Waiters::wait_until`).
    pub(super) cpu: AtomicU32,
    _spare: [AtomicU32; 10],
}

static_assertions::assert_eq_size!(End, [u64; 8]);

/// The segment's header; the ring's bytes follow on their own cache line.
#[repr(C)]
pub(super) struct Header {
    /// The lock of the back, where records are put.
    pub(super) back_lock: EndLock,
    /// The back: its offset is the ring's tail.
    pub(super) back: End,
    /// The lock of the front, where records are taken.
    pub(super) front_lock: EndLock,
    /// The front: its offset is the ring's head.
    pub(super) front: End,
    /// The closed flag, the words waiters park on, the eventfd.
    pub(super) waiters: Waiters,
    _spare: [AtomicU32; 4],
}

// The same layout on 32- and 64-bit targets: each lock (40 bytes) and
// each end's state on a cache line of its own, then the waiters (48
// bytes) on a fifth.
static_assertions::assert_eq_size!(Header, [u64; 40]);
static_assertions::const_assert_eq!(std::mem::offset_of!(Header, back), 64);
static_assertions::const_assert_eq!(std::mem::offset_of!(Header, front_lock), 128);
static_assertions::const_assert_eq!(std::mem::offset_of!(Header, front), 192);
static_assertions::const_assert_eq!(std::mem::offset_of!(Header, waiters), 256);

#[allow(unsafe_code)]
// SAFETY: repr(C) of Locks and atomics: no pointers, no drop glue, every
// bit pattern valid (a garbage word is bounded by the capacity, which the
// handle keeps in its own memory, before use); all mutation is atomic. The
// one descriptor number (the waiters' `waker`) is set only by
// `RecordQueue::with_capacity`, whose handle owns the descriptor.
unsafe impl Shareable for Header {}

/// A plain copy of the ring's state, bounded by the capacity.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ring {
    /// The front's offset: the first record's (or its wrap header's).
    pub(super) head: usize,
    /// The back's offset: where the next record goes (the ring not
    /// empty).
    pub(super) tail: usize,
    /// The records put, taken, and marked done, each wrapping.
    pub(super) puts: u32,
    pub(super) gets: u32,
    pub(super) done: u32,
}

impl Ring {
    /// The records in the ring.
    pub(super) fn count(&self) -> u32 {
        self.puts.wrapping_sub(self.gets)
    }

    /// The records put and not yet marked done.
    pub(super) fn unfinished(&self) -> u32 {
        self.puts.wrapping_sub(self.done)
    }

    /// The bytes taken from the head (records, their headers and padding,
    /// and the unused end of the ring skipped by a wrap), of `cap`.
    pub(super) fn used(&self, cap: usize) -> usize {
        if self.count() == 0 {
            0
        } else if self.tail == self.head {
            cap
        } else {
            wrap(self.tail + cap - self.head, cap)
        }
    }
}

/// `at` (below twice `cap`) brought into the ring: an offset, with no
/// division (a hot path's `%` costs tens of cycles).
pub(super) fn wrap(at: usize, cap: usize) -> usize {
    if at >= cap { at - cap } else { at }
}

/// Where a record goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Spot {
    /// At offset `at`, after a wrap header at `wrap` (the ring's end is
    /// skipped) if there is one.
    At { at: usize, wrap: Option<usize> },
    /// The ring is empty, and the record fits nowhere from the front: move
    /// the front to the ring's start (under its lock), then put it there.
    Reset,
}

/// The word committing `offset` and `passed`.
pub(super) fn pack(offset: usize, passed: u32) -> u64 {
    offset as u64 | u64::from(passed) << 32
}

impl RecordQueue {
    /// An end's word read (SeqCst, so Acquire: the records and bytes its
    /// commit covers were written before), bounded by the capacity.
    pub(super) fn end(&self, end: &End) -> (usize, u32) {
        self.unpack(end.word.load(Ordering::SeqCst))
    }

    /// An end's word as its offset (bounded by the capacity) and count.
    pub(super) fn unpack(&self, word: u64) -> (usize, u32) {
        let cap = self.capacity();
        let offset = match (word as u32) as usize {
            // The common case, without a division.
            offset if offset < cap => offset,
            garbage => garbage % cap,
        } / ALIGN
            * ALIGN;
        (offset, (word >> 32) as u32)
    }

    /// The ring's state: exact under both locks; under one, exact for its
    /// end and a recent snapshot of the other (which only moves on:
    /// records put are only more, records taken only fewer than there
    /// are); under none, a snapshot that was true at some instant in
    /// between (the tasks done, then the front, then the back are read,
    /// each no ahead of the next).
    pub(super) fn load(&self) -> Ring {
        let h = self.header();
        let done = h.front.tally.load(Ordering::SeqCst);
        let (head, gets) = self.end(&h.front);
        let (tail, puts) = self.end(&h.back);
        Ring {
            head,
            tail,
            puts,
            gets,
            done,
        }
    }

    /// Under `end`'s lock: commits its new offset and count with one
    /// store. A plain store (no read-modify-write, which costs a pipeline
    /// drain on every record): the release of the lock that follows, a
    /// read-modify-write, orders it before the look at the parked
    /// counters (see `Waiters::wait_until`).
    pub(super) fn commit(&self, end: &End, offset: usize, passed: u32) {
        // SYNC POINT: Release pairs with the Acquire loads of `end`.
        end.word.store(pack(offset, passed), Ordering::Release);
    }

    /// Where a record taking `size` bytes goes in `ring`, or `None` when
    /// there is no room for it now.
    pub(super) fn place(&self, ring: Ring, size: usize) -> Option<Spot> {
        let cap = self.capacity();
        if size > cap {
            return None;
        }
        let head = ring.head;
        if ring.count() == 0 {
            // Empty: the next record is read where the front is.
            return Some(if cap - head >= size {
                Spot::At {
                    at: head,
                    wrap: None,
                }
            } else if size <= head {
                Spot::At {
                    at: 0,
                    wrap: Some(head),
                }
            } else {
                Spot::Reset
            });
        }
        let tail = ring.tail;
        if ring.used(cap) >= cap {
            return None;
        }
        if tail > head {
            if cap - tail >= size {
                Some(Spot::At {
                    at: tail,
                    wrap: None,
                })
            } else if size <= head {
                Some(Spot::At {
                    at: 0,
                    wrap: Some(tail),
                })
            } else {
                None
            }
        } else {
            (head - tail >= size).then_some(Spot::At {
                at: tail,
                wrap: None,
            })
        }
    }

    pub(super) fn corrupt(&self, op: &'static str) -> Error {
        Error::new(
            op,
            self.resource(),
            ErrorKind::InvalidData("the queue's ring is corrupt (written outside the queue)"),
        )
    }

    /// Under the back's lock: writes a record header for `len` at `at`,
    /// outside every record put.
    pub(super) fn write_header(&self, op: &'static str, at: usize, len: u32) -> Result<()> {
        #[allow(unsafe_code)]
        // SAFETY: under the back's lock, which every writer of the ring
        // takes; the bytes are outside every record put and not taken, so
        // no reader holds them (a getter reads only records the back's
        // commit covers, and frees them with the front's commit, which
        // this putter read before choosing the place).
        let bytes = unsafe { self.region.bytes_mut(at, HEADER) }.ok_or_else(|| self.corrupt(op))?;
        bytes[..4].copy_from_slice(&len.to_ne_bytes());
        bytes[4..].copy_from_slice(&(!len).to_ne_bytes());
        Ok(())
    }

    /// Under the front's lock: the length in the record header at `at`
    /// (of a record put), checked.
    pub(super) fn read_header(&self, op: &'static str, at: usize) -> Result<u32> {
        #[allow(unsafe_code)]
        // SAFETY: under the front's lock, which every reader of records
        // takes; the bytes belong to a record put (the back's commit,
        // read before, covers them) and not taken, which no putter writes
        // until the front's commit frees it.
        let bytes = unsafe { self.region.bytes(at, HEADER) }.ok_or_else(|| self.corrupt(op))?;
        let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let check = u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if check != !len {
            return Err(self.corrupt(op));
        }
        Ok(len)
    }
}
