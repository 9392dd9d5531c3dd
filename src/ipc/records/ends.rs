//! The two ends of a [`RecordQueue`] seen from a call: taking their
//! locks (see [`crate::ipc::ends`]), and the ring as a putter or a getter sees it, with the other
//! end's word read again only when it must be.

use std::sync::atomic::Ordering;

use super::RecordQueue;
use super::ring::{Ring, Spot};
use crate::ipc::ends::{Ends, Locked};

impl RecordQueue {
    /// The two locks, as the calls take them.
    fn ends(&self) -> Ends<'_, impl Fn() -> bool + '_, impl Fn() + '_> {
        let h = self.header();
        Ends {
            back: &h.back_lock.lock,
            front: &h.front_lock.lock,
            watched: || self.waiters().is_watched(),
            resync: || self.waiters().sync_waker(self.load().count() > 0),
        }
    }

    /// Both ends' locks, the back's first. The state is then exact, as the
    /// eventfd needs.
    pub(super) fn both(&self, died: bool) -> Locked<'_> {
        self.ends().both(died)
    }

    /// The back's lock, for a put; both while the queue is watched.
    pub(super) fn lock_back(&self) -> Locked<'_> {
        self.ends().back()
    }

    /// The front's lock, for a get or a `task_done`; both while the queue
    /// is watched.
    pub(super) fn lock_front(&self) -> Locked<'_> {
        self.ends().front()
    }

    /// Under the back's lock: the ring as this putter sees it (its
    /// tasks done left out), where a record taking `size` bytes goes, and
    /// the bytes free for certain before it is put. The front is the one a
    /// putter saw last, while the bytes known free cover the record
    /// (unless `exact` is asked for: both locks held): a front seen
    /// earlier only leaves less room (the records it counts are a
    /// superset of those there now, less than a lap of the ring from the
    /// back, as the bytes known free show), and it is exact when it says
    /// the ring is empty (no getter moves the front then, and a putter
    /// that moves it back zeroes the bytes known free first).
    pub(super) fn place_for_put(&self, size: usize, exact: bool) -> (Ring, Option<(Spot, usize)>) {
        let h = self.header();
        let cap = self.capacity();
        let (tail, puts) = self.end(&h.back);
        let ring_with = |(head, gets)| Ring {
            head,
            tail,
            puts,
            gets,
            done: 0,
        };
        let credit = h.back.tally.load(Ordering::Relaxed) as usize;
        if !exact && credit > 0 {
            let ring = ring_with(self.unpack(h.back.seen.load(Ordering::Relaxed)));
            if let Some(spot) = self.place(ring, size)
                && let Some(free) = credit.checked_sub(needs(spot, size, cap))
            {
                return (ring, Some((spot, free)));
            }
        }
        let word = h.front.word.load(Ordering::SeqCst);
        let ring = ring_with(self.unpack(word));
        let credit = cap - ring.used(cap);
        h.back.seen.store(word, Ordering::Relaxed);
        // `credit` is at most the capacity, at most 2 GiB.
        h.back.tally.store(credit as u32, Ordering::Relaxed);
        let spot = self
            .place(ring, size)
            .map(|spot| (spot, credit.saturating_sub(needs(spot, size, cap))));
        (ring, spot)
    }

    /// Under the front's lock: the ring as this getter sees it (its tasks
    /// done left out). The back is the one seen last, unless the ring
    /// looks empty with it or `exact` is asked for (both locks held): a
    /// back seen earlier that counts records still there describes them
    /// (the back moves only on).
    pub(super) fn ring_for_get(&self, exact: bool) -> Ring {
        let h = self.header();
        let (head, gets) = self.end(&h.front);
        let ring_with = |(tail, puts)| Ring {
            head,
            tail,
            puts,
            gets,
            done: 0,
        };
        if !exact {
            let ring = ring_with(self.unpack(self.seen_back.load(Ordering::Relaxed)));
            // Counts of at most 2^28 records: a negative difference is a
            // back seen before other getters took more than it had.
            if (ring.count() as i32) > 0 {
                return ring;
            }
        }
        let word = h.back.word.load(Ordering::SeqCst);
        self.seen_back.store(word, Ordering::Relaxed);
        ring_with(self.unpack(word))
    }
}

/// The bytes a record taking `size` bytes at `spot` takes from the free
/// ones: its own, and the ring's end it skips.
pub(super) fn needs(spot: Spot, size: usize, cap: usize) -> usize {
    match spot {
        Spot::At {
            wrap: Some(wrap), ..
        } => size + (cap - wrap),
        Spot::At { wrap: None, .. } | Spot::Reset => size,
    }
}
