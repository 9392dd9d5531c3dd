//! `Queue` and `SimpleQueue`: order, exact counts with several producers and consumers, the
//! nowait and timed forms, close, and processes killed while using it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::ipc::{Queue, SimpleQueue};
use mproc::process::Process;
use mproc::shm::Shared;

use crate::common::{eventually, isolated};

const MUST: Duration = Duration::from_secs(20);

#[test]
fn items_come_out_in_order_and_the_sizes_are_right() {
    let q = Queue::<u32, 4>::new().unwrap();
    assert!(q.empty() && !q.full());
    assert_eq!(q.maxsize(), 4);
    for i in 0..4 {
        q.put(i).unwrap();
    }
    assert!(q.full());
    assert_eq!(q.qsize(), 4);
    assert_eq!(q.put_nowait(9).unwrap_err().kind(), ErrorKind::Full);
    for i in 0..4 {
        assert_eq!(q.get().unwrap(), i);
    }
    assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
    // Around the ring several times.
    for i in 0..20 {
        q.put(i).unwrap();
        q.put(i + 100).unwrap();
        assert_eq!(q.get().unwrap(), i);
        assert_eq!(q.get().unwrap(), i + 100);
    }
    assert!(q.empty());
}

#[test]
fn several_producers_and_consumers_move_every_item_exactly_once_in_order() {
    isolated(|| {
        const PRODUCERS: u64 = 3;
        const CONSUMERS: u64 = 3;
        const ITEMS: u64 = 2000;
        // Items are producer << 32 | sequence; the consumers check each
        // producer's sequence rises, and sum what they took.
        let q = Queue::<u64, 8>::new().unwrap();
        let sum = Shared::new(AtomicU64::new(0)).unwrap();
        let taken = Shared::new(AtomicU64::new(0)).unwrap();
        let (q_ref, sum_ref, taken_ref) = (&*q, &*sum, &*taken);
        let mut producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                Process::new(move || {
                    for i in 0..ITEMS {
                        q_ref.put(p << 32 | i).unwrap();
                    }
                })
            })
            .collect();
        let mut consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                Process::new(move || {
                    let mut last = [None::<u64>; PRODUCERS as usize];
                    while taken_ref.fetch_add(1, Ordering::SeqCst) < PRODUCERS * ITEMS {
                        let item = q_ref.get_timeout(MUST).unwrap();
                        let (p, i) = ((item >> 32) as usize, item & 0xffff_ffff);
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
        let per_producer = ITEMS * (ITEMS + 1) / 2;
        assert_eq!(sum.load(Ordering::SeqCst), PRODUCERS * per_producer);
        assert!(q.empty());
    });
}

#[test]
fn timed_forms_wait_their_time_and_a_waiter_is_woken_by_the_other_side() {
    isolated(|| {
        let q = Queue::<u16, 1>::new().unwrap();
        let start = Instant::now();
        assert_eq!(
            q.get_timeout(Duration::from_millis(100))
                .unwrap_err()
                .kind(),
            ErrorKind::Empty
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        q.put(1).unwrap();
        let start = Instant::now();
        assert_eq!(
            q.put_timeout(2, Duration::from_millis(100))
                .unwrap_err()
                .kind(),
            ErrorKind::Full
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(q.qsize(), 1, "the refused put added nothing");
        // A parked putter goes on when another process makes room.
        let q_ref: &Queue<u16, 1> = &q;
        let mut getter = Process::new(move || {
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(q_ref.get().unwrap(), 1);
        });
        getter.start().unwrap();
        q.put_timeout(2, MUST).unwrap();
        assert_eq!(getter.join().unwrap(), 0);
        // A parked getter goes on when another process puts.
        assert_eq!(q.get().unwrap(), 2);
        let mut putter = Process::new(move || {
            std::thread::sleep(Duration::from_millis(50));
            q_ref.put(3).unwrap();
        });
        putter.start().unwrap();
        assert_eq!(q.get_timeout(MUST).unwrap(), 3);
        assert_eq!(putter.join().unwrap(), 0);
    });
}

#[test]
fn close_refuses_puts_drains_gets_and_wakes_waiters() {
    isolated(|| {
        let q = Queue::<u32, 2>::new().unwrap();
        let q_ref: &Queue<u32, 2> = &q;
        let mut waiter = Process::new(move || {
            // Parked on an empty queue until it is closed.
            assert_eq!(q_ref.get().unwrap_err().kind(), ErrorKind::EndOfStream);
        });
        waiter.start().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        q.close();
        assert_eq!(waiter.join_timeout(MUST).unwrap(), Some(0));
        assert!(q.is_closed());
        let q = Queue::<u32, 2>::new().unwrap();
        q.put(7).unwrap();
        q.close();
        assert_eq!(q.put(8).unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert_eq!(q.get().unwrap(), 7, "what was put before the close stays");
        assert_eq!(q.get().unwrap_err().kind(), ErrorKind::EndOfStream);
    });
}

#[test]
fn processes_killed_while_using_it_lose_at_most_their_own_item() {
    isolated(|| {
        // Producers put numbered items as fast as they can and are killed
        // mid-stream; a consumer then drains. Every item drained is one
        // that was put (no garbage, no duplicate), and the queue works.
        const ITEMS: u64 = 1_000_000;
        let q = Queue::<u64, 16>::new().unwrap();
        let put = Shared::new([const { AtomicU64::new(0) }; 2]).unwrap();
        let (q_ref, put_ref) = (&*q, &*put);
        let mut producers: Vec<_> = (0..2u64)
            .map(|p| {
                Process::new(move || {
                    for i in 0..ITEMS {
                        q_ref.put(p << 32 | i).unwrap();
                        put_ref[p as usize].store(i + 1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        // A consumer that is killed too, while getting.
        let got = Shared::new(AtomicU32::new(0)).unwrap();
        let got_ref: &AtomicU32 = &got;
        let mut doomed = Process::new(move || {
            loop {
                q_ref.get().unwrap();
                got_ref.fetch_add(1, Ordering::SeqCst);
            }
        });
        for p in &mut producers {
            p.start().unwrap();
        }
        doomed.start().unwrap();
        assert!(eventually(MUST, || got.load(Ordering::SeqCst) > 1000));
        doomed.kill().unwrap();
        for p in &producers {
            p.kill().unwrap();
        }
        assert_eq!(doomed.join().unwrap(), -9);
        for p in &producers {
            assert_eq!(p.join().unwrap(), -9);
        }
        // Drain: each producer's items rise, and none is beyond what it
        // had put (plus the one it may have been putting).
        let mut last = [None::<u64>; 2];
        while let Ok(item) = q.get_nowait() {
            let (p, i) = ((item >> 32) as usize, item & 0xffff_ffff);
            assert!(p < 2, "garbage item {item:#x}");
            assert!(last[p].is_none_or(|l| l < i), "duplicate or reordered item");
            assert!(i <= put[p].load(Ordering::SeqCst), "an item never put");
            last[p] = Some(i);
        }
        // Still usable by the living.
        q.put(42).unwrap();
        assert_eq!(q.get_timeout(MUST).unwrap(), 42);
        assert!(!q.full() && q.empty());
    });
}

#[test]
fn joinable_join_waits_for_every_task_done_and_too_many_is_an_error() {
    isolated(|| {
        use mproc::ipc::JoinableQueue;
        let q = JoinableQueue::<u32, 4>::new().unwrap();
        let err = q.task_done().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
        assert_eq!(q.unfinished(), 0);
        assert!(q.join_timeout(Duration::ZERO), "nothing put: joined");
        let done = Shared::new(AtomicU32::new(0)).unwrap();
        let (q_ref, done_ref): (&JoinableQueue<u32, 4>, &AtomicU32) = (&q, &done);
        // Two daemon consumers, as in Python's example: get, work, done.
        let mut consumers: Vec<_> = (0..2)
            .map(|_| {
                Process::new(move || {
                    loop {
                        let _task = q_ref.get().unwrap();
                        std::thread::sleep(Duration::from_millis(2));
                        done_ref.fetch_add(1, Ordering::SeqCst);
                        q_ref.task_done().unwrap();
                    }
                })
                .daemon(true)
            })
            .collect();
        for c in &mut consumers {
            c.start().unwrap();
        }
        for i in 0..20 {
            q.put(i).unwrap();
        }
        q.join();
        assert_eq!(done.load(Ordering::SeqCst), 20, "join returned early");
        assert_eq!(q.unfinished(), 0);
        // One more, finished by the consumers too.
        q.put(99).unwrap();
        assert!(eventually(MUST, || q.empty()));
        std::thread::sleep(Duration::from_millis(50));
        assert!(q.join_timeout(MUST), "the consumers finish it");
        for c in &consumers {
            c.kill().unwrap();
            c.join().unwrap();
        }
        // A task nobody finishes now: join times out.
        q.put(100).unwrap();
        let start = Instant::now();
        assert!(!q.join_timeout(Duration::from_millis(100)));
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(q.unfinished(), 1);
    });
}

#[test]
fn simple_queue_puts_gets_and_closes_across_processes() {
    isolated(|| {
        let q = SimpleQueue::<u64, 4>::new().unwrap();
        assert!(q.empty());
        let q_ref = &*q;
        let mut producer = Process::new(move || {
            for i in 0..100 {
                q_ref.put(i).unwrap();
            }
            q_ref.close();
        });
        producer.start().unwrap();
        for i in 0..100 {
            assert_eq!(q.get().unwrap(), i);
        }
        assert_eq!(q.get().unwrap_err().kind(), ErrorKind::EndOfStream);
        assert_eq!(producer.join().unwrap(), 0);
        assert!(q.empty() && q.is_closed());
        assert_eq!(q.put(1).unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}
