//! `Detached` proxies: a lock's, an event's and a queue's waits started,
//! then finished when the descriptor is readable (readable exactly once
//! the server answered), and dropped mid-wait: withdrawn, or undone when
//! the answer crossed the withdrawal (deterministically here: the answer
//! is seen before the drop).

use std::os::fd::AsFd;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::wait;
use mproc::manager::{Detached, Manager};

use crate::common::isolated;

/// What must happen, happens well within this.
const MUST: Duration = Duration::from_secs(10);

fn readable(fd: &impl AsFd, timeout: Duration) -> bool {
    !wait(&[fd.as_fd()], Some(timeout)).unwrap().is_empty()
}

#[test]
fn a_detached_acquire_finishes_once_its_descriptor_is_readable() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        let d = Detached::new(&lock).unwrap();
        lock.acquire().unwrap();
        let mut pending = d.begin_acquire(None).unwrap();
        assert!(pending.try_finish().unwrap().is_none(), "held elsewhere");
        assert!(
            !readable(&d, Duration::from_millis(20)),
            "nothing answered yet"
        );
        let e = d.begin_acquire(None).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        lock.release().unwrap();
        assert!(readable(&d, MUST), "the grant rings the descriptor");
        let guard = pending
            .try_finish()
            .unwrap()
            .expect("answered")
            .expect("taken");
        assert!(!lock.try_acquire().unwrap(), "held by the detached proxy");
        drop(guard);
        assert!(lock.try_acquire().unwrap(), "released by the guard");
        lock.release().unwrap();
        // Timed: the server answers "not taken" when the time runs out.
        lock.acquire().unwrap();
        let mut pending = d.begin_acquire(Some(Duration::from_millis(20))).unwrap();
        let answer = loop {
            if let Some(a) = pending.try_finish().unwrap() {
                break a;
            }
            assert!(readable(&d, MUST));
        };
        assert!(answer.is_none());
    });
}

#[test]
fn a_dropped_detached_acquire_whose_grant_crossed_it_releases_the_lock() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        let d = Detached::new(&lock).unwrap();
        // Withdrawn before any grant: the release then leaves it free.
        lock.acquire().unwrap();
        let pending = d.begin_acquire(None).unwrap();
        drop(pending);
        lock.release().unwrap();
        assert!(
            lock.try_acquire().unwrap(),
            "the withdrawn request got nothing"
        );
        // Granted, then dropped unread: the drop releases it.
        let mut pending = d.begin_acquire(None).unwrap();
        assert!(pending.try_finish().unwrap().is_none());
        lock.release().unwrap();
        assert!(readable(&d, MUST));
        assert!(pending.is_ready().unwrap(), "granted");
        drop(pending);
        assert!(
            lock.try_acquire().unwrap(),
            "the dropped grant was released"
        );
    });
}

#[test]
fn a_dropped_detached_get_keeps_its_item_for_the_next_or_gives_it_back() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let q = m.queue::<u64>(4).unwrap();
        let d = Detached::new(&q).unwrap();
        let mut pending = d.begin_get(None).unwrap();
        assert!(pending.try_finish().unwrap().is_none(), "empty");
        q.put(&1).unwrap();
        assert!(readable(&d, MUST));
        assert!(pending.is_ready().unwrap(), "answered with the item");
        drop(pending);
        assert_eq!(q.qsize().unwrap(), 0, "the item is kept, not in the queue");
        q.put(&2).unwrap();
        // The next get is answered by the kept item, first.
        let mut next = d.begin_get(None).unwrap();
        assert!(next.is_ready().unwrap());
        assert_eq!(next.try_finish().unwrap(), Some(1));
        drop(next);
        let mut pending = d.begin_get(None).unwrap();
        let item = loop {
            if let Some(item) = pending.try_finish().unwrap() {
                break item;
            }
            assert!(readable(&d, MUST));
        };
        assert_eq!(item, 2);
        drop(pending);
        // Kept again, then the detached proxy dropped: back to the front.
        let mut pending = d.begin_get(None).unwrap();
        assert!(pending.try_finish().unwrap().is_none());
        q.put(&3).unwrap();
        assert!(readable(&d, MUST));
        drop(pending);
        q.put(&4).unwrap();
        drop(d);
        assert_eq!(q.get_nowait().unwrap(), 3, "given back to the front");
        assert_eq!(q.get_nowait().unwrap(), 4);
    });
}

#[test]
fn a_detached_event_wait_and_queue_put_finish_on_readiness() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let ev = m.event().unwrap();
        let d = Detached::new(&ev).unwrap();
        let mut pending = d.begin_wait(None).unwrap();
        assert!(pending.try_finish().unwrap().is_none());
        ev.set().unwrap();
        assert!(readable(&d, MUST));
        assert_eq!(pending.try_finish().unwrap(), Some(true));
        let e = pending.try_finish().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        drop(pending);

        let q = m.queue::<u64>(1).unwrap();
        q.put(&0).unwrap();
        let d = Detached::new(&q).unwrap();
        let mut pending = d.begin_put(&5, None).unwrap();
        assert!(pending.try_finish().unwrap().is_none(), "full");
        assert_eq!(q.get().unwrap(), 0);
        assert!(readable(&d, MUST));
        assert_eq!(pending.try_finish().unwrap(), Some(()));
        assert_eq!(q.get().unwrap(), 5);
    });
}

#[test]
fn an_item_given_back_to_a_full_queue_goes_first_past_its_maxsize() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let q = m.queue::<u64>(1).unwrap();
        let d = Detached::new(&q).unwrap();
        let mut pending = d.begin_get(None).unwrap();
        assert!(pending.try_finish().unwrap().is_none());
        q.put(&1).unwrap();
        assert!(readable(&d, MUST));
        drop(pending);
        // Kept by `d`; the queue fills up meanwhile.
        q.put(&2).unwrap();
        assert!(q.put_nowait(&9).is_err(), "full");
        drop(d);
        assert_eq!(q.qsize().unwrap(), 2, "one past its maxsize");
        assert!(q.put_nowait(&9).is_err(), "still full for puts");
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(q.get().unwrap(), 2);
    });
}

#[test]
fn a_put_parked_behind_an_over_full_queue_waits_for_real_room() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let q = m.queue::<u64>(1).unwrap();
        let d = Detached::new(&q).unwrap();
        let mut pending = d.begin_get(None).unwrap();
        assert!(pending.try_finish().unwrap().is_none());
        q.put(&1).unwrap();
        assert!(readable(&d, MUST));
        drop(pending);
        q.put(&2).unwrap();
        drop(d);
        // [1, 2]: one past its maxsize of 1. A put of 3 waits.
        let putter = Detached::new(&q).unwrap();
        let mut put = putter.begin_put(&3, None).unwrap();
        // Whether the server parked the put before the get below or
        // looks at it after, the get must leave it waiting: the queue is
        // still at its maxsize. (Parked first is the case that lost the
        // item once; a little time makes it the likely one, the
        // assertions hold either way.)
        std::thread::sleep(Duration::from_millis(20));
        assert!(put.try_finish().unwrap().is_none(), "no room");
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(q.qsize().unwrap(), 1, "at its maxsize: the put still waits");
        assert!(put.try_finish().unwrap().is_none(), "still no room");
        assert_eq!(q.get().unwrap(), 2);
        assert!(readable(&putter, MUST));
        assert_eq!(put.try_finish().unwrap(), Some(()));
        assert_eq!(q.get().unwrap(), 3, "the parked put went in, not lost");
    });
}

#[cfg(feature = "serde")]
#[test]
fn a_serde_item_given_back_to_a_full_queue_goes_first_past_its_bytes() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let q = m.queue_serde::<String>(4, 48).unwrap();
        let d = Detached::new(&q).unwrap();
        let mut pending = d.begin_get(None).unwrap();
        assert!(pending.try_finish().unwrap().is_none());
        q.put(&"a".repeat(40)).unwrap();
        assert!(readable(&d, MUST));
        drop(pending);
        q.put(&"b".repeat(40)).unwrap();
        assert!(q.put_nowait(&"c".repeat(10)).is_err(), "no bytes left");
        drop(d);
        assert_eq!(q.get().unwrap(), "a".repeat(40), "given back first");
        assert_eq!(q.get().unwrap(), "b".repeat(40));
        q.put(&"c".repeat(40)).unwrap();
        assert!(
            q.put_nowait(&"d".repeat(20)).is_err(),
            "the byte limit holds again"
        );
    });
}

#[test]
fn a_detached_proxy_is_refused_in_a_forked_child_and_still_serves_its_parent() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let ev = m.event().unwrap();
        let d = Detached::new(&ev).unwrap();
        let mut child = mproc::process::Process::new(|| {
            let e = d.begin_wait(None).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        });
        child.start().unwrap();
        assert_eq!(child.join().unwrap(), 0);
        ev.set().unwrap();
        let mut pending = d.begin_wait(Some(MUST)).unwrap();
        let set = loop {
            if let Some(set) = pending.try_finish().unwrap() {
                break set;
            }
            assert!(readable(&d, MUST));
        };
        assert!(set);
    });
}
