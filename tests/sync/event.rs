//! `Event` between processes: a waiter parks until another process sets it
//! (and sees what was written before the set), one set releases every
//! waiter, the timed wait returns `false` after its time when nobody sets
//! it, `clear` and `is_set` are seen across processes, and events passed
//! around a ring of processes count exactly.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::Signal;
use mproc::process::Process;
use mproc::shm::Shared;
use mproc::sync::Event;

use crate::common::{eventually, gate, isolated, proc_state};
use crate::{MUST, MUST_NOT, join};

/// Waits until the started process `p` sleeps (parked on a futex).
fn parked<F>(p: &Process<F>) {
    let pid = p.pid().unwrap().as_raw();
    assert!(
        eventually(MUST, || proc_state(pid) == Some('S')),
        "{} never parked",
        p.name()
    );
}

#[test]
fn in_one_process_set_stays_set_until_cleared() {
    let event = Shared::new(Event::default()).unwrap();
    assert!(!event.is_set());
    assert!(!event.wait_timeout(Duration::ZERO));
    event.clear(); // clearing a clear event: still clear
    assert!(!event.is_set());
    event.set();
    event.set(); // setting a set event: still set
    assert!(event.is_set());
    event.wait();
    assert!(event.wait_timeout(Duration::ZERO));
    assert!(event.wait_timeout(Duration::MAX));
    assert!(event.is_set(), "a wait consumed the flag");
    assert_eq!(format!("{:?}", *event), "Event { is_set: true }");
    event.clear();
    assert!(!event.is_set());
    assert_eq!(format!("{:?}", *event), "Event { is_set: false }");
}

#[test]
fn a_waiter_parks_until_another_process_sets_it_and_sees_prior_writes() {
    isolated(|| {
        let event = Shared::new(Event::new()).unwrap();
        let data = Shared::new(AtomicU64::new(0)).unwrap();
        let (e, d): (&Event, &AtomicU64) = (&event, &data);
        let mut waiter = Process::new(move || {
            e.wait();
            assert!(e.is_set());
            assert_eq!(
                d.load(Ordering::Relaxed),
                7,
                "the write before set() is not seen"
            );
        });
        waiter.start().unwrap();
        parked(&waiter);
        assert_eq!(waiter.join_timeout(MUST_NOT).unwrap(), None, "passed unset");
        data.store(7, Ordering::Relaxed);
        event.set();
        assert_eq!(join(&waiter), 0);

        // The other way round: a child sets, this process waits.
        event.clear();
        let (go, mut go_tx) = gate();
        let mut setter = Process::new(move || {
            go.wait();
            d.store(8, Ordering::Relaxed);
            e.set();
        });
        setter.start().unwrap();
        go_tx.write_all(b"x").unwrap();
        assert!(event.wait_timeout(MUST), "not set in time");
        assert_eq!(data.load(Ordering::Relaxed), 8);
        assert_eq!(join(&setter), 0);
    });
}

#[test]
fn wait_timeout_returns_false_after_its_time_when_nobody_sets_it() {
    isolated(|| {
        let event = Shared::new(Event::new()).unwrap();
        let e: &Event = &event;
        for timeout in [Duration::from_millis(50), Duration::from_millis(200)] {
            let start = Instant::now();
            let set = event.wait_timeout(timeout);
            let waited = start.elapsed();
            assert!(!set);
            assert!(waited >= timeout, "gave up early: {waited:?} < {timeout:?}");
            assert!(waited < MUST, "took {waited:?}");
        }
        // In another process, and with a process parked beside it that is
        // woken by nothing either.
        let mut timed = Process::new(move || {
            let start = Instant::now();
            assert!(!e.wait_timeout(Duration::from_millis(150)));
            assert!(start.elapsed() >= Duration::from_millis(150));
        });
        timed.start().unwrap();
        assert_eq!(join(&timed), 0);
        assert!(!event.is_set(), "a timed-out wait set the flag");
    });
}

#[test]
fn wait_timeout_returns_true_as_soon_as_another_process_sets_it() {
    isolated(|| {
        let event = Shared::new(Event::new()).unwrap();
        let e: &Event = &event;
        let mut waiter = Process::new(move || {
            let start = Instant::now();
            assert!(e.wait_timeout(MUST), "not woken by the set");
            assert!(start.elapsed() < MUST);
        });
        waiter.start().unwrap();
        parked(&waiter);
        event.set();
        assert_eq!(join(&waiter), 0);
    });
}

#[test]
fn one_set_releases_every_waiter() {
    isolated(|| {
        const WAITERS: u32 = 6;
        let event = Shared::new(Event::new()).unwrap();
        let woke = Shared::new(AtomicU32::new(0)).unwrap();
        let (e, w): (&Event, &AtomicU32) = (&event, &woke);
        let mut waiters: Vec<_> = (0..WAITERS)
            .map(|i| {
                Process::new(move || {
                    if i % 2 == 0 {
                        e.wait();
                    } else {
                        assert!(e.wait_timeout(MUST));
                    }
                    w.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for p in &mut waiters {
            p.start().unwrap();
        }
        for p in &waiters {
            parked(p);
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(woke.load(Ordering::SeqCst), 0, "woke before the set");
        // Set from another process, once.
        let mut setter = Process::new(move || e.set());
        setter.start().unwrap();
        assert_eq!(join(&setter), 0);
        for p in &waiters {
            assert_eq!(join(p), 0);
        }
        assert_eq!(woke.load(Ordering::SeqCst), WAITERS);
        assert!(event.is_set(), "set stays set after waking the waiters");
    });
}

#[test]
fn set_and_clear_are_seen_across_processes() {
    isolated(|| {
        let event = Shared::new(Event::new()).unwrap();
        let e: &Event = &event;
        let mut setter = Process::new(move || e.set());
        setter.start().unwrap();
        assert_eq!(join(&setter), 0);
        assert!(event.is_set());
        // Still set for every later waiter, in every process.
        for _ in 0..3 {
            let mut p = Process::new(move || {
                assert!(e.is_set());
                assert!(e.wait_timeout(Duration::ZERO));
                e.wait();
            });
            p.start().unwrap();
            assert_eq!(join(&p), 0);
        }
        let mut clearer = Process::new(move || e.clear());
        clearer.start().unwrap();
        assert_eq!(join(&clearer), 0);
        assert!(!event.is_set());
        let mut p = Process::new(move || {
            assert!(!e.is_set());
            assert!(!e.wait_timeout(Duration::from_millis(30)));
        });
        p.start().unwrap();
        assert_eq!(join(&p), 0);
        // Cleared while a process waits: it goes on waiting until the next
        // set.
        let mut waiter = Process::new(move || e.wait());
        waiter.start().unwrap();
        parked(&waiter);
        event.clear();
        assert_eq!(
            waiter.join_timeout(MUST_NOT).unwrap(),
            None,
            "woken by clear"
        );
        event.set();
        assert_eq!(join(&waiter), 0);
    });
}

#[test]
fn a_ring_of_processes_passing_events_counts_exactly() {
    isolated(|| {
        // Process i waits for its event, clears it, adds one to the count
        // (a plain load and store: the event's hand-over must order them),
        // and sets the next one's: PROCS × ROUNDS increments, in turn.
        const PROCS: usize = 4;
        const ROUNDS: u64 = 300;
        #[repr(C)]
        struct Ring {
            events: [Event; PROCS],
            count: AtomicU64,
            out_of_turn: AtomicU32,
        }
        // SAFETY: repr(C) of Events (Shareable) and atomics: no pointers,
        // no drop glue, every bit pattern valid, mutated only atomically.
        unsafe impl mproc::shm::Shareable for Ring {}
        let ring = Shared::<Ring>::zeroed().unwrap();
        let r: &Ring = &ring;
        let mut kids: Vec<_> = (0..PROCS)
            .map(|i| {
                Process::new(move || {
                    for round in 0..ROUNDS {
                        assert!(r.events[i].wait_timeout(MUST), "the ring stalled");
                        r.events[i].clear();
                        let n = r.count.load(Ordering::Relaxed);
                        if n != round * PROCS as u64 + i as u64 {
                            r.out_of_turn.fetch_add(1, Ordering::Relaxed);
                        }
                        r.count.store(n + 1, Ordering::Relaxed);
                        r.events[(i + 1) % PROCS].set();
                    }
                })
            })
            .collect();
        for k in &mut kids {
            k.start().unwrap();
        }
        ring.events[0].set();
        for (i, k) in kids.iter().enumerate() {
            assert_eq!(join(k), 0, "child {i}");
        }
        assert_eq!(ring.count.load(Ordering::Relaxed), PROCS as u64 * ROUNDS);
        assert_eq!(ring.out_of_turn.load(Ordering::Relaxed), 0);
        // The last hand-over set the first event again; nobody took it.
        assert!(ring.events[0].is_set());
        assert!(ring.events[1..].iter().all(|e| !e.is_set()));
    });
}

#[test]
fn a_set_then_clear_releases_the_processes_waiting_at_the_set() {
    isolated(|| {
        // Python: set() wakes every process waiting at that moment; one
        // that then finds the flag cleared returns (False) instead of
        // waiting for the next set. Here the waiter is stopped across the
        // pulse so that the outcome does not depend on scheduling.
        let event = Shared::new(Event::new()).unwrap();
        let e: &Event = &event;
        let mut waiter = Process::new(move || e.wait());
        waiter.start().unwrap();
        parked(&waiter);
        let w = waiter.pid().unwrap().as_raw();
        waiter.send_signal(Signal::STOP).unwrap();
        assert!(eventually(MUST, || proc_state(w) == Some('T')));
        event.set();
        event.clear();
        waiter.send_signal(Signal::CONT).unwrap();
        let ended = waiter.join_timeout(Duration::from_secs(5)).unwrap();
        if ended.is_none() {
            waiter.kill().unwrap();
            waiter.join().unwrap();
        }
        assert_eq!(ended, Some(0), "the set did not release the waiter");
    });
}
