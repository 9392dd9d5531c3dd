//! The ring of a [`RecordQueue`]: its layout in the segment, the state
//! kept twice and committed by one store, where a record goes, and the
//! record headers.
//!
//! The segment holds a [`Header`] (the lock, the commit word, the
//! waiters, two copies of the [`State`]) and then the ring's bytes. Each
//! record is an 8-byte header (its length, then the length's complement)
//! and its bytes, padded to 8; a record never wraps around the ring's
//! end: when the end is too short, a header of length [`WRAP`] there says
//! the record is at the ring's start. An empty ring starts again at 0.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::RecordQueue;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::waiters::Waiters;
use crate::shm::Shareable;
use crate::sync::Lock;

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

/// The ring's state: the first record's offset, the bytes taken from
/// there (records, their headers and padding, and the unused end of the
/// ring skipped by a wrap), the records, and the puts not yet matched by
/// a `task_done`.
#[repr(C)]
pub(super) struct State {
    pub(super) head: AtomicU64,
    pub(super) used: AtomicU64,
    pub(super) count: AtomicU32,
    pub(super) unfinished: AtomicU32,
}

/// A plain copy of a [`State`], bounded by the capacity.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ring {
    pub(super) head: usize,
    pub(super) used: usize,
    pub(super) count: u32,
    pub(super) unfinished: u32,
}

/// The segment's header; the ring's bytes follow on their own cache line.
#[repr(C)]
pub(super) struct Header {
    pub(super) lock: Lock,
    /// The commit word: the number of commits so far. `states[current %
    /// 2]` is the ring's state; a change writes the other copy, then
    /// stores this word (one store commits).
    pub(super) current: AtomicU32,
    _spare: AtomicU32,
    /// The closed flag, the words waiters park on, the eventfd.
    pub(super) waiters: Waiters,
    pub(super) states: [State; 2],
}

// The same layout on 32- and 64-bit targets: a lock (40 bytes), the
// commit word and a spare, the waiters (32), two states (24 each).
static_assertions::assert_eq_size!(Header, [u64; 16]);
static_assertions::const_assert_eq!(std::mem::offset_of!(Header, states), 80);

#[allow(unsafe_code)]
// SAFETY: repr(C) of a Lock and atomics: no pointers, no drop glue, every
// bit pattern valid (a garbage state is bounded by the capacity, which the
// handle keeps in its own memory, before use); all mutation is atomic. The
// one descriptor number (the waiters' `waker`) is set only by
// `RecordQueue::with_capacity`, whose handle owns the descriptor.
unsafe impl Shareable for Header {}

impl RecordQueue {
    /// The state in force, read from the copy the commit word names,
    /// bounded by the capacity. Exact under the lock; a snapshot
    /// otherwise (read again until the commit word stays put, a few
    /// times).
    pub(super) fn load(&self) -> Ring {
        let h = self.header();
        let cap = self.capacity();
        let mut tries = 0;
        loop {
            // SYNC POINT: Acquire (SeqCst) pairs with the commit's swap:
            // the copy it names was written before.
            let commits = h.current.load(Ordering::SeqCst);
            let s = &h.states[(commits % 2) as usize];
            let ring = Ring {
                head: usize::try_from(s.head.load(Ordering::Relaxed)).unwrap_or(0) % cap / ALIGN
                    * ALIGN,
                used: usize::try_from(s.used.load(Ordering::Relaxed))
                    .unwrap_or(cap)
                    .min(cap),
                count: s.count.load(Ordering::Relaxed),
                unfinished: s.unfinished.load(Ordering::Relaxed),
            };
            tries += 1;
            if tries >= 4 || h.current.load(Ordering::SeqCst) == commits {
                return ring;
            }
        }
    }

    /// Under the lock: writes `ring` into the copy not in force, then
    /// commits it with one store.
    pub(super) fn store(&self, ring: Ring) {
        let h = self.header();
        let commits = h.current.load(Ordering::Relaxed);
        let next = commits.wrapping_add(1);
        let s = &h.states[(next % 2) as usize];
        s.head.store(ring.head as u64, Ordering::Relaxed);
        s.used.store(ring.used as u64, Ordering::Relaxed);
        s.count.store(ring.count, Ordering::Relaxed);
        s.unfinished.store(ring.unfinished, Ordering::Relaxed);
        // The commit: one store, made as a swap so that it is ordered
        // before the loads of the parked counters that follow on every
        // target (see the fixed Queue's `store`).
        h.current.swap(next, Ordering::SeqCst);
    }

    /// Where a record taking `size` bytes goes in `ring`: its offset and
    /// the bytes skipped at the ring's end before it (a wrap), or `None`
    /// when there is no room for it now.
    pub(super) fn place(&self, ring: Ring, size: usize) -> Option<(usize, usize)> {
        let cap = self.capacity();
        if ring.used == 0 {
            // Empty: start again at the ring's start.
            return (size <= cap).then_some((0, 0));
        }
        if ring.used >= cap {
            return None;
        }
        let tail = (ring.head + ring.used) % cap;
        if tail > ring.head {
            if cap - tail >= size {
                Some((tail, 0))
            } else if size <= ring.head {
                Some((0, cap - tail))
            } else {
                None
            }
        } else {
            (ring.head - tail >= size).then_some((tail, 0))
        }
    }

    pub(super) fn corrupt(&self, op: &'static str) -> Error {
        Error::new(
            op,
            self.resource(),
            ErrorKind::InvalidData("the queue's ring is corrupt (written outside the queue)"),
        )
    }

    /// Under the lock: writes a record header for `len` at `at`.
    pub(super) fn write_header(&self, op: &'static str, at: usize, len: u32) -> Result<()> {
        #[allow(unsafe_code)]
        // SAFETY: under the lock; the bytes are outside every committed
        // record.
        let bytes = unsafe { self.region.bytes_mut(at, HEADER) }.ok_or_else(|| self.corrupt(op))?;
        bytes[..4].copy_from_slice(&len.to_ne_bytes());
        bytes[4..].copy_from_slice(&(!len).to_ne_bytes());
        Ok(())
    }

    /// Under the lock: the length in the record header at `at`, checked.
    pub(super) fn read_header(&self, op: &'static str, at: usize) -> Result<u32> {
        #[allow(unsafe_code)]
        // SAFETY: under the lock, which every writer of the ring takes.
        let bytes = unsafe { self.region.bytes(at, HEADER) }.ok_or_else(|| self.corrupt(op))?;
        let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let check = u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if check != !len {
            return Err(self.corrupt(op));
        }
        Ok(len)
    }
}
