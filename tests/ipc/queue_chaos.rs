//! The fixed `Queue` under SIGKILL: producers and consumers are killed
//! mid-item, round after round, with and without a watch of the queue
//! (which makes every call take both of its locks). No torn item is ever
//! taken, none is taken twice, each producer's order is kept, at most one
//! item is lost per killed consumer, and the queue keeps working.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mproc::ipc::JoinableQueue;
use mproc::process::Process;
use mproc::shm::Shared;

use crate::chaos_book::{Book, IDS};
use crate::common::{isolated, under_qemu};

const MUST: Duration = Duration::from_secs(20);
const PRODUCERS: usize = 3;
const CONSUMERS: usize = 2;

/// An item: `id << 32 | seq`, then seven words that follow from it.
type Item = [u64; 8];

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
                            book_ref.took(check(&got), &mut last);
                        }
                    })
                })
                .collect();
            consumer_kills += book.round(
                round,
                500 + u64::from(round) * 37 % 300,
                MUST,
                &mut producers,
                &mut consumers,
            );
            if let Some(watch) = &watch {
                // The descriptor follows the queue after the deaths.
                let readable =
                    mproc::ipc::wait(&[std::os::fd::AsFd::as_fd(watch)], Some(Duration::ZERO))
                        .unwrap()
                        .contains(0);
                assert_eq!(readable, !q.empty(), "round {round}: the watch lies");
            }
        }
        let mut drained: Vec<Vec<u32>> = vec![Vec::new(); IDS];
        while let Ok(got) = q.get_nowait() {
            let (id, seq) = check(&got).expect("a torn item in the queue");
            drained[id as usize].push(seq);
        }
        book.settle(&drained, rounds as usize * PRODUCERS, consumer_kills);
        // Still usable by the living, and the counts add up.
        assert!(q.empty());
        q.put(item(99, 1)).unwrap();
        assert_eq!(q.qsize(), 1);
        assert_eq!(check(&q.get().unwrap()), Some((99, 1)));
        assert!(q.empty() && !q.full());
    });
}
