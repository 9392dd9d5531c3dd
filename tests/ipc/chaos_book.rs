//! What the chaos tests of the shared-memory queues share: the book in
//! which the consumers log what they took and the producers count what
//! they put, and the accounting once every process was killed.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use mproc::process::Process;

use crate::common::eventually;

/// Entries of the consumers' shared log.
pub(crate) const LOG: usize = 1 << 18;
/// Producer incarnations (a fresh id each round).
pub(crate) const IDS: usize = 64;

#[repr(C)]
pub(crate) struct Book {
    /// Next free log entry.
    pub(crate) next: AtomicU64,
    /// Items that failed a check in a consumer.
    pub(crate) violations: AtomicU32,
    _pad: AtomicU32,
    /// `id << 32 | seq + 1` of each item a consumer took (0: none).
    log: [AtomicU64; LOG],
    /// Per producer id: puts that returned.
    pub(crate) confirmed: [AtomicU64; IDS],
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of atomics: every bit pattern valid, no pointers.
unsafe impl mproc::shm::Shareable for Book {}

impl Book {
    /// A consumer took an item: `checked` is its (id, seq) if it was
    /// whole; `last` the consumer's last seq per producer (each
    /// producer's items must come in order).
    pub(crate) fn took(&self, checked: Option<(u32, u32)>, last: &mut [Option<u32>; IDS]) {
        let Some((id, seq)) = checked else {
            self.violations.fetch_add(1, Ordering::SeqCst);
            return;
        };
        let id = id as usize;
        if id >= IDS || last[id].is_some_and(|l| l >= seq) {
            self.violations.fetch_add(1, Ordering::SeqCst);
        }
        last[id.min(IDS - 1)] = Some(seq);
        let at = self.next.fetch_add(1, Ordering::SeqCst) as usize;
        if let Some(entry) = self.log.get(at) {
            entry.store((id as u64) << 32 | (u64::from(seq) + 1), Ordering::SeqCst);
        }
    }

    /// The end, every process killed and `drained` (per producer id, in
    /// the order taken) what was left in the queue: each producer's items
    /// left come after those taken and in order, none was taken twice or
    /// never put, and at most one per killed consumer is missing.
    pub(crate) fn settle(&self, drained: &[Vec<u32>], producers: usize, consumer_kills: u64) {
        let logged = (self.next.load(Ordering::SeqCst) as usize).min(LOG);
        let mut seen: Vec<Vec<u32>> = vec![Vec::new(); IDS];
        for entry in &self.log[..logged] {
            let e = entry.load(Ordering::SeqCst);
            if e != 0 {
                seen[(e >> 32) as usize].push((e & 0xffff_ffff) as u32 - 1);
            }
        }
        let mut lost = 0u64;
        for id in 0..producers {
            let confirmed = self.confirmed[id].load(Ordering::SeqCst) as u32;
            let left = &drained[id];
            assert!(
                left.is_sorted_by(|a, b| a < b),
                "producer {id}: drained out of order"
            );
            let taken_max = seen[id].iter().max().copied();
            assert!(
                left.first()
                    .is_none_or(|&f| taken_max.is_none_or(|m| m < f)),
                "producer {id}: an item left behind an older one taken"
            );
            let mut all: Vec<u32> = seen[id].iter().chain(left).copied().collect();
            all.sort_unstable();
            let before = all.len();
            all.dedup();
            assert_eq!(before, all.len(), "producer {id}: an item taken twice");
            assert!(
                all.last().is_none_or(|&m| m <= confirmed),
                "producer {id}: an item never put"
            );
            // Every confirmed put is here, but for those killed consumers
            // took with them.
            let present = all.iter().filter(|&&s| s < confirmed).count() as u64;
            lost += u64::from(confirmed) - present;
        }
        assert!(
            lost <= consumer_kills,
            "{lost} items lost with {consumer_kills} consumers killed"
        );
    }

    /// One round: starts the producers and the consumers, waits until the
    /// consumers took `more` items (within `must`), kills every process
    /// (the consumers first in odd rounds), checks that each was killed
    /// and that no consumer took a bad item. Returns the consumers killed.
    pub(crate) fn round<P: FnOnce(), C: FnOnce()>(
        &self,
        round: u32,
        more: u64,
        must: Duration,
        producers: &mut [Process<P>],
        consumers: &mut [Process<C>],
    ) -> u64 {
        producers.iter_mut().for_each(|p| p.start().unwrap());
        consumers.iter_mut().for_each(|c| c.start().unwrap());
        let want = self.next.load(Ordering::SeqCst) + more;
        assert!(
            eventually(must, || self.next.load(Ordering::SeqCst) >= want),
            "round {round}: the consumers stalled"
        );
        let kill_producers = || producers.iter().for_each(|p| p.kill().unwrap());
        let kill_consumers = || consumers.iter().for_each(|c| c.kill().unwrap());
        if round % 2 == 1 {
            kill_consumers();
            kill_producers();
        } else {
            kill_producers();
            kill_consumers();
        }
        for p in producers.iter() {
            assert_eq!(p.join().unwrap(), -9, "round {round}: a producer ended");
        }
        for c in consumers.iter() {
            assert_eq!(c.join().unwrap(), -9, "round {round}: a consumer ended");
        }
        assert_eq!(self.violations.load(Ordering::SeqCst), 0, "round {round}");
        consumers.len() as u64
    }
}
