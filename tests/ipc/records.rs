//! `RecordQueue`: records of any length, the largest that fits and one byte
//! over, wrap-around at the ring's end, the in-place forms, close, watch,
//! task accounting, and many producers and consumers across fork.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::ipc::{RECORD_KNOB, RecordQueue};
use mproc::process::Process;
use mproc::shm::Shared;

use crate::common::isolated;

const MUST: Duration = Duration::from_secs(20);

/// A record of `len` bytes that says which it is: byte i is `seed + i`.
fn pattern(seed: u8, len: usize, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend((0..len).map(|i| seed.wrapping_add(i as u8)));
}

#[test]
fn an_empty_record_and_mixed_sizes_come_out_in_order_and_cost_their_size() {
    let q = RecordQueue::with_capacity(4096).unwrap();
    assert_eq!(q.capacity(), 4096);
    assert_eq!(q.max_record(), 4096 - 8);
    assert!(q.empty() && !q.full());
    q.put(b"").unwrap();
    assert_eq!(q.used(), 8, "an empty record is its header");
    q.put(&[1; 20]).unwrap();
    assert_eq!(q.used(), 8 + 8 + 24, "20 bytes cost 24 and a header");
    q.put(&[2; 1000]).unwrap();
    q.put(&[3; 1]).unwrap();
    assert_eq!(q.qsize(), 4);
    let mut buf = Vec::new();
    assert_eq!(q.get_into(&mut buf).unwrap(), 0);
    assert!(buf.is_empty());
    assert_eq!(q.get_into(&mut buf).unwrap(), 20);
    assert_eq!(buf, [1; 20]);
    assert_eq!(q.get_with(|r| r.to_vec()).unwrap(), vec![2; 1000]);
    let mut small = [0u8; 4];
    assert_eq!(q.get_bytes(&mut small, None).unwrap(), 1);
    assert_eq!(small[0], 3);
    assert!(q.empty());
    assert_eq!(q.used(), 0);
    assert_eq!(
        q.get_into_nowait(&mut buf).unwrap_err().kind(),
        ErrorKind::Empty
    );
}

#[test]
fn the_largest_record_fits_and_one_byte_over_is_a_typed_error_that_loses_nothing() {
    let q = RecordQueue::with_capacity(1024).unwrap();
    let largest = q.max_record();
    let mut buf = Vec::new();
    pattern(9, largest, &mut buf);
    q.put(&buf).unwrap();
    assert!(q.full());
    assert_eq!(
        q.put_nowait(b"").unwrap_err().kind(),
        ErrorKind::Full,
        "nothing else fits beside it"
    );
    let mut out = Vec::new();
    q.get_into(&mut out).unwrap();
    assert_eq!(out, buf);

    // One byte over: refused at once, whatever is queued stays.
    q.put(b"kept").unwrap();
    let over = vec![0u8; largest + 1];
    for err in [
        q.put(&over).unwrap_err(),
        q.put_nowait(&over).unwrap_err(),
        q.put_timeout(&over, MUST).unwrap_err(),
        q.put_with(largest + 1, |_| panic!("never called"))
            .unwrap_err(),
    ] {
        assert_eq!(
            err.kind(),
            ErrorKind::EncodedSize {
                size: largest + 1,
                capacity: largest,
                knob: RECORD_KNOB
            },
            "{err}"
        );
        assert!(err.to_string().contains("with_capacity"), "{err}");
    }
    assert_eq!(q.qsize(), 1);
    q.get_into(&mut out).unwrap();
    assert_eq!(out, b"kept");

    // Too short a caller's slice: the record stays at the front.
    q.put(&[5; 100]).unwrap();
    let mut short = [0u8; 99];
    let err = q.get_bytes(&mut short, Some(Duration::ZERO)).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::MessageSize {
            size: 100,
            capacity: 99
        }
    );
    assert_eq!(q.qsize(), 1);
    let mut enough = [0u8; 100];
    assert_eq!(q.get_bytes(&mut enough, None).unwrap(), 100);
}

#[test]
fn capacities_out_of_range_are_refused() {
    for bytes in [0, 15, RecordQueue::MAX_CAPACITY + 1] {
        let err = RecordQueue::with_capacity(bytes).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
    }
    let q = RecordQueue::with_capacity(17).unwrap();
    assert_eq!(q.capacity(), 24, "rounded up to 8");
    let q = RecordQueue::new().unwrap();
    assert_eq!(q.capacity(), RecordQueue::DEFAULT_CAPACITY);
}

#[test]
fn records_wrap_around_the_rings_end_without_being_split() {
    // 256 bytes of ring; records of sizes that do not divide it, so the
    // free space at the end is sometimes too short and the record goes to
    // the start.
    let q = RecordQueue::with_capacity(256).unwrap();
    let (mut put, mut got) = (Vec::new(), Vec::new());
    let mut queued = std::collections::VecDeque::new();
    let mut seed = 0u8;
    for round in 0..2000usize {
        let len = (round * 37) % 120;
        pattern(seed, len, &mut put);
        match q.put_nowait(&put) {
            Ok(()) => {
                queued.push_back((seed, len));
                seed = seed.wrapping_add(1);
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Full);
                assert!(!queued.is_empty(), "an empty queue takes {len} bytes");
            }
        }
        // Take one every other round (two when full), so the ring fills
        // and wraps.
        let takes = if round % 2 == 0 {
            0
        } else {
            1 + usize::from(q.full())
        };
        for _ in 0..takes {
            let Some((s, l)) = queued.pop_front() else {
                break;
            };
            q.get_into(&mut got).unwrap();
            pattern(s, l, &mut put);
            assert_eq!(got, put, "record {s} of {l} bytes");
        }
        assert_eq!(q.qsize(), queued.len());
    }
    while let Some((s, l)) = queued.pop_front() {
        q.get_into(&mut got).unwrap();
        pattern(s, l, &mut put);
        assert_eq!(got, put);
    }
    assert!(q.empty());
    assert_eq!(q.used(), 0);
}

#[test]
fn a_panicking_closure_leaves_the_queue_as_it_was() {
    let q = RecordQueue::with_capacity(1024).unwrap();
    q.put(b"first").unwrap();
    // A fill that panics: nothing put, the lock released.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        q.put_with(10, |_| panic!("fill panics")).unwrap();
    }));
    assert!(r.is_err());
    assert_eq!(q.qsize(), 1);
    // A read that panics: the record stays.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        q.get_with(|_| panic!("read panics")).unwrap();
    }));
    assert!(r.is_err());
    assert_eq!(q.qsize(), 1);
    assert!(q.get_with(|r| r == b"first").unwrap());
    // put_with writes in place.
    q.put_with(5, |b| b.copy_from_slice(b"hello")).unwrap();
    assert_eq!(
        q.get_with_timeout(Duration::ZERO, |r| r.to_vec()).unwrap(),
        b"hello"
    );
}

#[test]
fn timed_forms_wait_their_time_and_waiters_are_woken_across_processes() {
    isolated(|| {
        let q = RecordQueue::with_capacity(64).unwrap();
        let mut buf = Vec::new();
        let start = Instant::now();
        let err = q
            .get_into_timeout(&mut buf, Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Empty);
        assert!(start.elapsed() >= Duration::from_millis(100));
        q.put(&[1; 40]).unwrap();
        let start = Instant::now();
        let err = q
            .put_timeout(&[2; 40], Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Full);
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(q.qsize(), 1, "the refused put added nothing");
        let q_ref = &q;
        // A parked putter goes on when another process makes room.
        let mut getter = Process::new(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut buf = Vec::new();
            q_ref.get_into(&mut buf).unwrap();
            assert_eq!(buf, [1; 40]);
        });
        getter.start().unwrap();
        q.put_timeout(&[2; 40], MUST).unwrap();
        assert_eq!(getter.join().unwrap(), 0);
        q.get_into(&mut buf).unwrap();
        // A parked getter goes on when another process puts.
        let mut putter = Process::new(move || {
            std::thread::sleep(Duration::from_millis(50));
            q_ref.put(b"late").unwrap();
        });
        putter.start().unwrap();
        q.get_into_timeout(&mut buf, MUST).unwrap();
        assert_eq!(buf, b"late");
        assert_eq!(putter.join().unwrap(), 0);
    });
}

#[test]
fn parked_getters_and_putters_are_woken_every_time_in_a_ping_pong() {
    // Each side answers after a pause longer than a waiter spins, so the
    // other has parked: one lost wake-up stops the exchange for good.
    isolated(|| {
        let there = RecordQueue::with_capacity(64).unwrap();
        let back = RecordQueue::with_capacity(64).unwrap();
        const ROUNDS: u32 = 300;
        let (there_ref, back_ref) = (&there, &back);
        let mut peer = Process::new(move || {
            let mut buf = Vec::new();
            for i in 0..ROUNDS {
                there_ref.get_into_timeout(&mut buf, MUST).unwrap();
                assert_eq!(buf, i.to_le_bytes());
                std::thread::sleep(Duration::from_micros(100));
                back_ref.put_timeout(&buf, MUST).unwrap();
            }
            // Parked putters too: fill `there`, then wait for room.
            for i in 0..ROUNDS {
                there_ref.put_timeout(&[i as u8; 40], MUST).unwrap();
            }
        });
        peer.start().unwrap();
        let mut buf = Vec::new();
        for i in 0..ROUNDS {
            std::thread::sleep(Duration::from_micros(100));
            there.put_timeout(&i.to_le_bytes(), MUST).unwrap();
            back.get_into_timeout(&mut buf, MUST).unwrap();
            assert_eq!(buf, i.to_le_bytes());
        }
        for i in 0..ROUNDS {
            std::thread::sleep(Duration::from_micros(100));
            there.get_into_timeout(&mut buf, MUST).unwrap();
            assert_eq!(buf, [i as u8; 40]);
        }
        assert_eq!(peer.join().unwrap(), 0);
    });
}

#[test]
fn close_refuses_puts_drains_gets_and_wakes_waiters() {
    isolated(|| {
        let q = RecordQueue::with_capacity(64).unwrap();
        let q_ref = &q;
        let mut waiter = Process::new(move || {
            let mut buf = Vec::new();
            let err = q_ref.get_into(&mut buf).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::EndOfStream);
        });
        waiter.start().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        q.close();
        assert_eq!(waiter.join_timeout(MUST).unwrap(), Some(0));
        let q = RecordQueue::with_capacity(64).unwrap();
        q.put(b"kept").unwrap();
        q.close();
        assert!(q.is_closed());
        assert_eq!(q.put(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert_eq!(q.get_with(|r| r.to_vec()).unwrap(), b"kept");
        assert_eq!(
            q.get_with(|r| r.len()).unwrap_err().kind(),
            ErrorKind::EndOfStream
        );
    });
}

#[test]
fn a_watch_is_readable_while_a_record_is_queued() {
    use std::os::fd::AsFd;
    let q = RecordQueue::with_capacity(256).unwrap();
    let watch = q.watch().unwrap();
    let ready = mproc::ipc::wait(&[watch.as_fd()], Some(Duration::ZERO)).unwrap();
    assert!(!ready.contains(0));
    q.put(b"x").unwrap();
    let ready = mproc::ipc::wait(&[watch.as_fd()], Some(Duration::ZERO)).unwrap();
    assert!(ready.contains(0));
    q.get_with(|_| ()).unwrap();
    let ready = mproc::ipc::wait(&[watch.as_fd()], Some(Duration::ZERO)).unwrap();
    assert!(!ready.contains(0));
}

#[test]
fn a_getter_takes_a_record_while_a_putter_is_in_the_middle_of_one() {
    use std::sync::mpsc;
    let q = RecordQueue::with_capacity(4096).unwrap();
    q.put(b"first").unwrap();
    let (in_fill, filling) = mpsc::channel();
    let (go, wait_go) = mpsc::channel::<()>();
    let (got_tx, got) = mpsc::channel();
    std::thread::scope(|s| {
        let q = &q;
        s.spawn(move || {
            q.put_with(6, |b| {
                in_fill.send(()).unwrap();
                wait_go.recv().unwrap();
                b.copy_from_slice(b"second");
            })
            .unwrap();
        });
        filling.recv().unwrap();
        // The putter holds the back's lock; the getter takes the front's.
        s.spawn(move || got_tx.send(q.get_with(|r| r.to_vec())).unwrap());
        let first = got.recv_timeout(MUST);
        go.send(()).unwrap();
        assert_eq!(
            first.expect("the get waited for the putter").unwrap(),
            b"first"
        );
    });
    assert_eq!(q.get_with(|r| r.to_vec()).unwrap(), b"second");
}

#[test]
fn a_record_longer_than_half_the_ring_goes_in_once_empty_wherever_the_front_stopped() {
    let q = RecordQueue::with_capacity(1024).unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for (front, len) in [
        (400, 1016),
        (16, 1000),
        (1000, 1016),
        (504, 600),
        (792, 600),
    ] {
        // Move the front to `front` + 8, then empty the ring: the record
        // fits neither from there to the end nor (but for the last)
        // before it.
        q.put(&vec![1; front]).unwrap();
        q.get_into(&mut out).unwrap();
        assert!(q.empty());
        pattern(front as u8, len, &mut buf);
        q.put_timeout(&buf, MUST).unwrap();
        assert!(q.used() >= (len + 8).next_multiple_of(8));
        q.get_into(&mut out).unwrap();
        assert_eq!(out, buf);
        assert_eq!(q.used(), 0);
    }
}

#[test]
fn a_watch_follows_a_producer_and_a_consumer_running_at_once() {
    use std::os::fd::AsFd;
    let q = RecordQueue::with_capacity(1024).unwrap();
    let watch = q.watch().unwrap();
    const N: u64 = 20_000;
    isolated(|| {
        let mut p = Process::new(|| {
            for i in 0..N {
                q.put(&i.to_le_bytes()).unwrap();
            }
        });
        p.start().unwrap();
        let mut out = Vec::new();
        for i in 0..N {
            q.get_into(&mut out).unwrap();
            assert_eq!(out, i.to_le_bytes());
        }
        assert_eq!(p.join().unwrap(), 0);
        let ready = mproc::ipc::wait(&[watch.as_fd()], Some(Duration::ZERO)).unwrap();
        assert!(!ready.contains(0), "empty, yet readable");
        q.put(b"x").unwrap();
        let ready = mproc::ipc::wait(&[watch.as_fd()], Some(Duration::ZERO)).unwrap();
        assert!(ready.contains(0), "a record, yet not readable");
    });
}

#[test]
fn task_done_and_join_count_records() {
    let q = RecordQueue::with_capacity(256).unwrap();
    assert!(matches!(
        q.task_done().unwrap_err().kind(),
        ErrorKind::InvalidArgument(_)
    ));
    q.put(b"a").unwrap();
    q.put(b"bb").unwrap();
    assert_eq!(q.unfinished(), 2);
    assert!(!q.join_timeout(Duration::from_millis(10)));
    q.get_with(|_| ()).unwrap();
    q.get_with(|_| ()).unwrap();
    q.task_done().unwrap();
    assert_eq!(q.unfinished(), 1);
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::ZERO));
    q.join();
}

#[test]
fn many_producers_and_consumers_move_every_record_exactly_once_in_order() {
    isolated(|| {
        const PRODUCERS: u64 = 3;
        const CONSUMERS: u64 = 3;
        const RECORDS: u64 = 3000;
        // Each record: producer, sequence, then `sequence % 200` bytes of
        // the sequence's low byte. A small ring, so it wraps often.
        let q = RecordQueue::with_capacity(2048).unwrap();
        let sum = Shared::new(AtomicU64::new(0)).unwrap();
        let taken = Shared::new(AtomicU64::new(0)).unwrap();
        let (q_ref, sum_ref, taken_ref) = (&q, &*sum, &*taken);
        let mut producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                Process::new(move || {
                    for i in 0..RECORDS {
                        let extra = (i % 200) as usize;
                        q_ref
                            .put_with(16 + extra, |b| {
                                b[..8].copy_from_slice(&p.to_le_bytes());
                                b[8..16].copy_from_slice(&i.to_le_bytes());
                                b[16..].fill(i as u8);
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                Process::new(move || {
                    let mut last = [None::<u64>; PRODUCERS as usize];
                    let mut buf = Vec::new();
                    while taken_ref.fetch_add(1, Ordering::SeqCst) < PRODUCERS * RECORDS {
                        q_ref.get_into_timeout(&mut buf, MUST).unwrap();
                        let p = u64::from_le_bytes(buf[..8].try_into().unwrap()) as usize;
                        let i = u64::from_le_bytes(buf[8..16].try_into().unwrap());
                        assert_eq!(buf.len(), 16 + (i % 200) as usize);
                        assert!(buf[16..].iter().all(|&b| b == i as u8), "torn record");
                        assert!(last[p].is_none_or(|l| l < i), "producer {p} out of order");
                        last[p] = Some(i);
                        sum_ref.fetch_add(i + 1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for p in &mut producers {
            p.start().unwrap();
        }
        for c in &mut consumers {
            c.start().unwrap();
        }
        for p in &producers {
            assert_eq!(p.join().unwrap(), 0, "{} failed", p.name());
        }
        for c in &consumers {
            assert_eq!(c.join().unwrap(), 0, "{} failed", c.name());
        }
        let per_producer = RECORDS * (RECORDS + 1) / 2;
        assert_eq!(sum.load(Ordering::SeqCst), PRODUCERS * per_producer);
        assert!(q.empty());
        assert_eq!(q.used(), 0);
    });
}
