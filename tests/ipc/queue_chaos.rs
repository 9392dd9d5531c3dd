//! The fixed `Queue` under SIGKILL: producers and consumers are killed
//! mid-item, round after round, with and without a watch of the queue
//! (which makes every call take both of its locks). No torn item is ever
//! taken, none is taken twice, each producer's order is kept, at most one
//! item is lost per killed consumer, and the queue keeps working.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use mproc::ipc::JoinableQueue;
use mproc::process::Process;
use mproc::shm::Shared;

use crate::common::{eventually, isolated, under_qemu};

const MUST: Duration = Duration::from_secs(20);
const PRODUCERS: usize = 3;
const CONSUMERS: usize = 2;
/// Entries of the consumers' shared log.
const LOG: usize = 1 << 18;
/// Producer incarnations (a fresh id each round).
const IDS: usize = 64;

/// An item: `id << 32 | seq`, then seven words that follow from it.
type Item = [u64; 8];

#[repr(C)]
struct Book {
    next: AtomicU64,
    violations: AtomicU32,
    _pad: AtomicU32,
    /// `id << 32 | seq + 1` of each item a consumer took.
    log: [AtomicU64; LOG],
    /// Per producer id: puts that returned.
    confirmed: [AtomicU64; IDS],
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of atomics: every bit pattern valid, no pointers.
unsafe impl mproc::shm::Shareable for Book {}

fn item(id: u32, seq: u32) -> Item {
    let key = u64::from(id) << 32 | u64::from(seq);
    let mut words = [key; 8];
    for (k, w) in words.iter_mut().enumerate().skip(1) {
        *w = key
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(k as u32 * 7)
            ^ k as u64;
    }
    words
}

/// The item's (id, seq) if it is whole.
fn check(words: &Item) -> Option<(u32, u32)> {
    let (id, seq) = ((words[0] >> 32) as u32, words[0] as u32);
    (item(id, seq) == *words).then_some((id, seq))
}

#[test]
fn producers_and_consumers_killed_mid_item_never_tear_duplicate_or_reorder_one() {
    isolated(|| {
        let rounds: u32 = if under_qemu() { 6 } else { 20 };
        let q = JoinableQueue::<Item, 16>::new().unwrap();
        let book = Shared::<Book>::zeroed().unwrap();
        let (q_ref, book_ref): (&JoinableQueue<Item, 16>, &Book) = (&q, &book);
        let mut consumer_kills = 0u64;
        for round in 0..rounds {
            // Every third round watched: both locks in every call.
            let watch = (round % 3 == 2).then(|| q.watch().unwrap());
            let mut producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let id = round as usize * PRODUCERS + p;
                    Process::new(move || {
                        for seq in 0u32.. {
                            q_ref.put(item(id as u32, seq)).unwrap();
                            book_ref.confirmed[id].store(u64::from(seq) + 1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            let mut consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    Process::new(move || {
                        let mut last = [None::<u32>; IDS];
                        loop {
                            let got = q_ref.get().unwrap();
                            let _ = q_ref.task_done();
                            let Some((id, seq)) = check(&got) else {
                                book_ref.violations.fetch_add(1, Ordering::SeqCst);
                                continue;
                            };
                            let id = id as usize;
                            if id >= IDS || last[id].is_some_and(|l| l >= seq) {
                                book_ref.violations.fetch_add(1, Ordering::SeqCst);
                            }
                            last[id.min(IDS - 1)] = Some(seq);
                            let at = book_ref.next.fetch_add(1, Ordering::SeqCst) as usize;
                            if let Some(entry) = book_ref.log.get(at) {
                                entry.store(
                                    (id as u64) << 32 | (u64::from(seq) + 1),
                                    Ordering::SeqCst,
                                );
                            }
                        }
                    })
                })
                .collect();
            producers.iter_mut().for_each(|p| p.start().unwrap());
            consumers.iter_mut().for_each(|c| c.start().unwrap());
            let want = book.next.load(Ordering::SeqCst) + 500 + u64::from(round) * 37 % 300;
            assert!(
                eventually(MUST, || book.next.load(Ordering::SeqCst) >= want),
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
            for p in &producers {
                assert_eq!(p.join().unwrap(), -9, "round {round}: a producer ended");
            }
            for c in &consumers {
                assert_eq!(c.join().unwrap(), -9, "round {round}: a consumer ended");
            }
            consumer_kills += CONSUMERS as u64;
            assert_eq!(book.violations.load(Ordering::SeqCst), 0, "round {round}");
            if let Some(watch) = &watch {
                // The descriptor follows the queue after the deaths.
                let readable =
                    mproc::ipc::wait(&[std::os::fd::AsFd::as_fd(watch)], Some(Duration::ZERO))
                        .unwrap()
                        .contains(0);
                assert_eq!(readable, !q.empty(), "round {round}: the watch lies");
            }
        }
        let logged = (book.next.load(Ordering::SeqCst) as usize).min(LOG);
        let mut seen: Vec<Vec<u32>> = vec![Vec::new(); IDS];
        for entry in &book.log[..logged] {
            let e = entry.load(Ordering::SeqCst);
            if e != 0 {
                seen[(e >> 32) as usize].push((e & 0xffff_ffff) as u32 - 1);
            }
        }
        let mut drained: Vec<Vec<u32>> = vec![Vec::new(); IDS];
        while let Ok(got) = q.get_nowait() {
            let (id, seq) = check(&got).expect("a torn item in the queue");
            drained[id as usize].push(seq);
        }
        let mut lost = 0u64;
        for id in 0..(rounds as usize * PRODUCERS) {
            let confirmed = book.confirmed[id].load(Ordering::SeqCst) as u32;
            let left = &drained[id];
            assert!(
                left.is_sorted_by(|a, b| a < b),
                "producer {id}: out of order"
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
            let present = all.iter().filter(|&&s| s < confirmed).count() as u64;
            lost += u64::from(confirmed) - present;
        }
        assert!(
            lost <= consumer_kills,
            "{lost} items lost with {consumer_kills} consumers killed"
        );
        // Still usable by the living, and the counts add up.
        assert!(q.empty());
        q.put(item(99, 1)).unwrap();
        assert_eq!(q.qsize(), 1);
        assert_eq!(check(&q.get().unwrap()), Some((99, 1)));
        assert!(q.empty() && !q.full());
    });
}
