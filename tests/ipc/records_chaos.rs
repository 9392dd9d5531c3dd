//! `RecordQueue` under SIGKILL: producers and consumers of records of
//! every length are killed mid-record, round after round. No torn or
//! garbage record is ever read (copied out or in place), none is read
//! twice, each producer's order is kept, at most one record is lost per
//! killed consumer, and the queue keeps working.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mproc::ipc::RecordQueue;
use mproc::process::Process;
use mproc::shm::Shared;

use crate::chaos_book::{Book, IDS};
use crate::common::{isolated, under_qemu};

const MUST: Duration = Duration::from_secs(20);
const PRODUCERS: usize = 3;
const CONSUMERS: usize = 2;

/// Payload byte `k` of record `seq` of producer `id`.
fn byte(id: u32, seq: u32, k: usize) -> u8 {
    let x = (id.wrapping_mul(0x9E37_79B9) ^ seq.wrapping_mul(0x85EB_CA6B)) as usize;
    (x.wrapping_add(k.wrapping_mul(31)) >> 3) as u8
}

fn length(id: u32, seq: u32) -> usize {
    (id.wrapping_mul(7919)
        .wrapping_add(seq.wrapping_mul(104_729))
        % 1500) as usize
}

fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Writes record `seq` of producer `id`: id, seq, payload length and its
/// checksum, then the payload.
fn fill(id: u32, seq: u32, buf: &mut [u8]) {
    let (head, payload) = buf.split_at_mut(16);
    for (k, b) in payload.iter_mut().enumerate() {
        *b = byte(id, seq, k);
    }
    head[..4].copy_from_slice(&id.to_le_bytes());
    head[4..8].copy_from_slice(&seq.to_le_bytes());
    head[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    head[12..].copy_from_slice(&checksum(payload).to_le_bytes());
}

/// The record's (id, seq) if it is whole and what its producer wrote.
fn check(record: &[u8]) -> Option<(u32, u32)> {
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(record.get(i..i + 4)?.try_into().ok()?))
    };
    let (id, seq, len, sum) = (word(0)?, word(4)?, word(8)? as usize, word(12)?);
    let payload = &record[16..];
    let whole = payload.len() == len
        && len == length(id, seq)
        && checksum(payload) == sum
        && payload
            .iter()
            .enumerate()
            .all(|(k, &b)| b == byte(id, seq, k));
    whole.then_some((id, seq))
}

#[test]
fn producers_and_consumers_killed_mid_record_never_tear_duplicate_or_reorder_one() {
    isolated(|| {
        let rounds: u32 = if under_qemu() { 6 } else { 20 };
        // A small ring: records of up to 1.5 KiB wrap it every few puts.
        let q = RecordQueue::with_capacity(8 * 1024).unwrap();
        let book = Shared::<Book>::zeroed().unwrap();
        let (q_ref, book_ref): (&RecordQueue, &Book) = (&q, &book);
        let mut consumer_kills = 0u64;
        for round in 0..rounds {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let id = round as usize * PRODUCERS + p;
                    assert!(id < IDS);
                    Process::new(move || {
                        let id32 = id as u32;
                        for seq in 0u32.. {
                            let len = 16 + length(id32, seq);
                            q_ref.put_with(len, |b| fill(id32, seq, b)).unwrap();
                            book_ref.confirmed[id].store(u64::from(seq) + 1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|c| {
                    Process::new(move || {
                        let mut buf = Vec::with_capacity(2048);
                        let mut last = [None::<u32>; IDS];
                        loop {
                            // One copies out, the other checks in place.
                            let checked = if c == 0 {
                                q_ref.get_into(&mut buf).unwrap();
                                check(&buf)
                            } else {
                                q_ref.get_with(check).unwrap()
                            };
                            book_ref.took(checked, &mut last);
                        }
                    })
                })
                .collect();
            let (mut producers, mut consumers) = (producers, consumers);
            consumer_kills += book.round(
                round,
                200 + u64::from(round) * 37 % 300,
                MUST,
                &mut producers,
                &mut consumers,
            );
        }
        // Drain what is left, checking each record.
        let mut buf = Vec::new();
        let mut drained: Vec<Vec<u32>> = vec![Vec::new(); IDS];
        while q.get_into_nowait(&mut buf).is_ok() {
            let (id, seq) = check(&buf).expect("a torn or garbage record in the queue");
            drained[id as usize].push(seq);
        }
        book.settle(&drained, rounds as usize * PRODUCERS, consumer_kills);
        // Still usable by the living.
        assert!(q.empty());
        q.put(b"after").unwrap();
        assert_eq!(q.get_with(|r| r.to_vec()).unwrap(), b"after");
        assert_eq!(q.used(), 0);
    });
}
