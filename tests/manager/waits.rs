//! Semaphores, events, conditions, barriers and queues served by a
//! manager: waits across processes, their timeouts (kept by the server),
//! and waiters that die.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::manager::Manager;
use mproc::process::{self, Process};
use mproc::shm::Shared;

use crate::common::isolated;

fn start_all<F: FnOnce()>(targets: impl IntoIterator<Item = F>) -> Vec<Process<F>> {
    targets
        .into_iter()
        .map(|f| {
            let mut p = Process::new(f);
            p.start().unwrap();
            p
        })
        .collect()
}

#[test]
fn a_semaphore_admits_at_most_its_units() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let sem = m.semaphore(2).unwrap();
        let inside = Shared::new(AtomicU32::new(0)).unwrap();
        let most = Shared::new(AtomicU32::new(0)).unwrap();
        let children = start_all((0..5).map(|_| {
            || {
                for _ in 0..20 {
                    sem.acquire().unwrap();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(200));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    sem.release(1).unwrap();
                }
            }
        }));
        for p in &children {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(sem.get_value().unwrap(), 2);
        assert!(sem.try_acquire().unwrap());
        assert!(sem.try_acquire().unwrap());
        assert!(!sem.try_acquire().unwrap());
        let t = Instant::now();
        assert!(!sem.acquire_timeout(Duration::from_millis(30)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(30));
        let bounded = m.bounded_semaphore(1).unwrap();
        let e = bounded.release(1).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        assert_eq!(bounded.get_value().unwrap(), 1, "nothing was given back");
    });
}

#[test]
fn a_lock_waiter_is_not_passed_over_for_long_by_a_client_that_keeps_taking_it() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        let stop = Shared::new(AtomicU32::new(0)).unwrap();
        let waited_us = Shared::new(AtomicU32::new(u32::MAX)).unwrap();
        // A client that holds the lock long enough for a waiter to fall
        // asleep, and takes it again as soon as it lets it go, while the
        // server may leave a released lock to whoever asks first.
        let mut greedy = Process::new(|| {
            let mut rounds = 0u32;
            while stop.load(Ordering::SeqCst) == 0 {
                lock.acquire().unwrap();
                let held = Instant::now();
                while held.elapsed() < Duration::from_micros(100) {
                    std::hint::spin_loop();
                }
                lock.release().unwrap();
                rounds += 1;
            }
            assert!(rounds > 0);
        });
        greedy.start().unwrap();
        let mut waiter = Process::new(|| {
            std::thread::sleep(Duration::from_millis(50));
            let t = Instant::now();
            lock.acquire().unwrap();
            let waited = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
            waited_us.store(waited, Ordering::SeqCst);
            lock.release().unwrap();
        });
        waiter.start().unwrap();
        // The waiter gets the lock whatever the greedy client does.
        assert_eq!(
            waiter.join_timeout(Duration::from_secs(20)).unwrap(),
            Some(0)
        );
        stop.store(1, Ordering::SeqCst);
        assert_eq!(greedy.join().unwrap(), 0);
        let waited = Duration::from_micros(u64::from(waited_us.load(Ordering::SeqCst)));
        // The server passes a waiter over for 4 ms at most; the rest is
        // room for a slow or emulated machine.
        assert!(waited < Duration::from_millis(500), "waited {waited:?}");
    });
}

#[test]
fn an_event_wakes_every_waiter() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let ev = m.event().unwrap();
        let t = Instant::now();
        assert!(!ev.wait_timeout(Duration::from_millis(30)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(30));
        let children = start_all((0..3).map(|_| || ev.wait().unwrap()));
        std::thread::sleep(Duration::from_millis(30));
        assert!(children.iter().all(Process::is_alive));
        ev.set().unwrap();
        for p in &children {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert!(ev.is_set().unwrap());
        assert!(ev.wait_timeout(Duration::ZERO).unwrap());
        ev.clear().unwrap();
        assert!(!ev.is_set().unwrap());
    });
}

#[test]
fn a_condition_hands_a_value_from_producer_to_consumers() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let cond = m.condition().unwrap();
        let ready = m.value(&0u32).unwrap();
        assert!(matches!(
            cond.notify(1).unwrap_err().kind(),
            ErrorKind::InvalidArgument(_)
        ));
        let consumers = start_all((0..3).map(|_| {
            || {
                let _g = cond.lock().unwrap();
                let ok = cond
                    .wait_for(|| Ok(ready.get()? > 0), Some(Duration::from_secs(20)))
                    .unwrap();
                assert!(ok);
                // The lock is held again after the wait.
                assert!(cond.is_locked().unwrap());
            }
        }));
        std::thread::sleep(Duration::from_millis(30));
        {
            let _g = cond.lock().unwrap();
            ready.set(&1).unwrap();
            cond.notify_all().unwrap();
        }
        for p in &consumers {
            assert_eq!(p.join().unwrap(), 0);
        }
        // A wait that times out takes the lock back all the same.
        let _g = cond.lock().unwrap();
        cond.acquire().unwrap(); // reentrant: depth 2
        let t = Instant::now();
        assert!(!cond.wait_timeout(Duration::from_millis(30)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(30));
        cond.release().unwrap();
        assert!(cond.is_locked().unwrap(), "the depth came back whole");
    });
}

#[test]
fn a_barrier_releases_its_parties_together_and_breaks_on_a_timeout_or_a_death() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let b = m.barrier(3).unwrap();
        let seen = Shared::new(AtomicU32::new(0)).unwrap();
        let parties = start_all((0..3).map(|_| {
            || {
                let i = b.wait().unwrap();
                seen.fetch_or(1 << i, Ordering::SeqCst);
            }
        }));
        for p in &parties {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(
            seen.load(Ordering::SeqCst),
            0b111,
            "arrival indexes 0, 1, 2"
        );
        // A wait that times out breaks it for the other waiter too.
        let mut other = Process::new(|| {
            assert_eq!(b.wait().unwrap_err().kind(), ErrorKind::BrokenBarrier);
        });
        other.start().unwrap();
        while b.n_waiting().unwrap() < 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let e = b.wait_timeout(Duration::from_millis(20)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenBarrier);
        assert_eq!(other.join().unwrap(), 0);
        assert!(b.is_broken().unwrap());
        b.reset().unwrap();
        assert!(!b.is_broken().unwrap());
        // A waiter that dies breaks it.
        let mut doomed = Process::new(|| {
            let _ = b.wait();
            process::exit(1);
        });
        doomed.start().unwrap();
        while b.n_waiting().unwrap() < 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        doomed.kill().unwrap();
        doomed.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !b.is_broken().unwrap() {
            assert!(Instant::now() < deadline, "the dead waiter broke it");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(b.parties().unwrap(), 3);
    });
}

#[test]
fn a_queue_passes_items_in_order_and_waits_both_ways() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let q = m.queue::<u64>(4).unwrap();
        assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
        let t = Instant::now();
        assert_eq!(
            q.get_timeout(Duration::from_millis(30)).unwrap_err().kind(),
            ErrorKind::Empty
        );
        assert!(t.elapsed() >= Duration::from_millis(30));
        // A producer that outruns the consumer waits for room.
        let mut producer = Process::new(|| {
            for i in 0..100u64 {
                q.put(&i).unwrap();
            }
        });
        producer.start().unwrap();
        for i in 0..100u64 {
            assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), i);
        }
        assert_eq!(producer.join().unwrap(), 0);
        assert!(q.empty().unwrap());
        // A consumer waiting first gets the item straight away.
        let mut consumer = Process::new(|| assert_eq!(q.get().unwrap(), 42));
        consumer.start().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        q.put(&42).unwrap();
        assert_eq!(consumer.join().unwrap(), 0);
        for i in 0..4 {
            q.put_nowait(&i).unwrap();
        }
        assert_eq!(q.put_nowait(&9).unwrap_err().kind(), ErrorKind::Full);
        assert_eq!(
            q.put_timeout(&9, Duration::from_millis(10))
                .unwrap_err()
                .kind(),
            ErrorKind::Full
        );
        assert_eq!(q.qsize().unwrap(), 4, "nothing was added");
    });
}
