//! `Condition` between processes: `notify(n)` wakes exactly `n` of the
//! parked waiters, `notify_all` all of them, `wait_for` over shared state,
//! the timed forms, exact counts with producers and consumers, and a
//! process that dies holding the condition's lock (`OwnerDied`, through the
//! lock) or while waiting.
//!
//! Waiters are known to be parked without guessing: each counts itself in
//! a shared counter *while holding the lock*, and `wait` counts the waiter
//! in before it lets the lock go, so a notifier that holds the lock and
//! sees the counter at `n` knows all `n` are waiting.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::process::{self, Process};
use mproc::shm::Shared;
use mproc::sync::{Condition, ConditionGuard, TryLockError};
use mproc::{Pid, Signal};

use crate::common::{eventually, gate, isolated, proc_state, raw_stderr};
use crate::{MUST, MUST_NOT, join};

/// A condition and the shared counters its tests watch.
#[repr(C)]
struct Stage {
    cond: Condition,
    /// Waiters counted in, under the lock, just before they wait.
    entered: AtomicU32,
    /// Waiters that came back from their wait.
    woke: AtomicU32,
    /// Waiters that came back holding the lock (checked on their return).
    held_on_return: AtomicU32,
}

// SAFETY: repr(C) of a Condition (itself Shareable) and atomics: no
// pointers, no drop glue, every bit pattern valid, mutated only atomically.
unsafe impl mproc::shm::Shareable for Stage {}

impl Stage {
    fn new() -> Shared<Stage> {
        Shared::new(Stage {
            cond: Condition::new(),
            entered: AtomicU32::new(0),
            woke: AtomicU32::new(0),
            held_on_return: AtomicU32::new(0),
        })
        .unwrap()
    }

    /// A waiter's body: count in under the lock, wait, count the wake-up.
    fn wait(&self) {
        let g = self.cond.acquire().unwrap();
        self.entered.fetch_add(1, Ordering::SeqCst);
        let g = g.wait().unwrap();
        if self.cond.get_lock().holder() == Some(process::getpid()) {
            self.held_on_return.fetch_add(1, Ordering::SeqCst);
        }
        self.woke.fetch_add(1, Ordering::SeqCst);
        drop(g);
    }

    /// The lock, held, once all `n` waiters wait on it.
    fn when_waiting(&self, n: u32) -> ConditionGuard<'_> {
        let deadline = Instant::now() + MUST;
        loop {
            let g = self.cond.acquire().unwrap();
            if self.entered.load(Ordering::SeqCst) == n {
                return g;
            }
            drop(g);
            assert!(Instant::now() < deadline, "the waiters never all waited");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn woke(&self) -> u32 {
        self.woke.load(Ordering::SeqCst)
    }
}

#[test]
fn notify_n_wakes_exactly_n_of_the_parked_waiters() {
    isolated(|| {
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut waiters: Vec<_> = (0..5).map(|_| Process::new(move || s.wait())).collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        let g = stage.when_waiting(5);
        assert_eq!(g.notify(2), 2);
        drop(g);
        assert!(
            eventually(MUST, || stage.woke() == 2),
            "notify(2) woke fewer"
        );
        std::thread::sleep(MUST_NOT);
        assert_eq!(stage.woke(), 2, "notify(2) woke more than 2");

        assert_eq!(stage.cond.acquire().unwrap().notify(1), 1);
        assert!(
            eventually(MUST, || stage.woke() == 3),
            "notify(1) woke none"
        );
        std::thread::sleep(MUST_NOT);
        assert_eq!(stage.woke(), 3, "notify(1) woke more than 1");

        // More asked for than wait: only those that wait are counted.
        assert_eq!(stage.cond.acquire().unwrap().notify(10), 2);
        for w in &waiters {
            assert_eq!(join(w), 0);
        }
        assert_eq!(stage.woke(), 5);
        assert_eq!(
            stage.held_on_return.load(Ordering::SeqCst),
            5,
            "a waiter came back without the lock"
        );
        assert!(!stage.cond.get_lock().is_locked());
        // notify(0) wakes nobody, and there is nobody left anyway.
        assert_eq!(stage.cond.acquire().unwrap().notify(0), 0);
    });
}

#[test]
fn notify_all_wakes_every_parked_waiter() {
    isolated(|| {
        const WAITERS: u32 = 6;
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut waiters: Vec<_> = (0..WAITERS)
            .map(|_| Process::new(move || s.wait()))
            .collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        let g = stage.when_waiting(WAITERS);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(stage.woke(), 0, "a waiter woke without a notification");
        assert_eq!(g.notify_all(), WAITERS);
        drop(g);
        for w in &waiters {
            assert_eq!(join(w), 0);
        }
        assert_eq!(stage.woke(), WAITERS);
        assert_eq!(stage.held_on_return.load(Ordering::SeqCst), WAITERS);
        assert_eq!(stage.cond.acquire().unwrap().notify_all(), 0);
    });
}

#[test]
fn a_notification_with_nobody_waiting_is_not_saved_up() {
    isolated(|| {
        let cond = Shared::new(Condition::new()).unwrap();
        let g = cond.acquire().unwrap();
        assert_eq!(g.notify(3), 0);
        assert_eq!(g.notify_all(), 0);
        drop(g);
        // A waiter that comes later is not woken by them.
        let c: &Condition = &cond;
        let mut late = Process::new(move || {
            let start = Instant::now();
            let (g, notified) = c
                .acquire()
                .unwrap()
                .wait_timeout(Duration::from_millis(150))
                .unwrap();
            assert!(!notified, "woken by a notification made before it waited");
            assert!(start.elapsed() >= Duration::from_millis(150));
            drop(g);
        });
        late.start().unwrap();
        assert_eq!(join(&late), 0);
    });
}

#[test]
fn wait_timeout_without_notification_returns_after_the_time_holding_the_lock() {
    isolated(|| {
        let cond = Shared::new(Condition::new()).unwrap();
        let me = process::getpid();
        for timeout in [Duration::from_millis(50), Duration::from_millis(200)] {
            let start = Instant::now();
            let (g, notified) = cond.acquire().unwrap().wait_timeout(timeout).unwrap();
            let waited = start.elapsed();
            assert!(!notified);
            assert!(waited >= timeout, "gave up early: {waited:?} < {timeout:?}");
            assert!(waited < MUST, "took {waited:?}");
            assert_eq!(
                cond.get_lock().holder(),
                Some(me),
                "returned without the lock"
            );
            drop(g);
        }
        let (g, notified) = cond
            .acquire()
            .unwrap()
            .wait_timeout(Duration::ZERO)
            .unwrap();
        assert!(!notified);
        drop(g);
        assert!(!cond.get_lock().is_locked());

        // The lock is free for others while this process waits.
        let c: &Condition = &cond;
        let (waiting, mut waiting_tx) = gate();
        let mut waiter = Process::new(move || {
            let g = c.acquire().unwrap();
            waiting_tx.write_all(b"x").unwrap();
            let (g, notified) = g.wait_timeout(Duration::from_millis(400)).unwrap();
            assert!(!notified);
            drop(g);
        });
        waiter.start().unwrap();
        waiting.wait();
        let g = cond
            .acquire_timeout(MUST)
            .expect("the lock is released while its holder waits");
        drop(g);
        assert_eq!(join(&waiter), 0);
    });
}

#[test]
fn wait_timeout_notified_in_time_returns_notified_early() {
    isolated(|| {
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut waiter = Process::new(move || {
            let g = s.cond.acquire().unwrap();
            s.entered.fetch_add(1, Ordering::SeqCst);
            let start = Instant::now();
            let (g, notified) = g.wait_timeout(MUST).unwrap();
            assert!(notified, "not notified");
            assert!(start.elapsed() < MUST);
            assert_eq!(s.cond.get_lock().holder(), Some(process::getpid()));
            drop(g);
        });
        waiter.start().unwrap();
        let g = stage.when_waiting(1);
        assert_eq!(g.notify(1), 1);
        drop(g);
        assert_eq!(join(&waiter), 0);
    });
}

#[test]
fn wait_for_a_predicate_over_state_another_process_changes() {
    isolated(|| {
        #[repr(C)]
        struct State {
            cond: Condition,
            items: AtomicU32,
            seen: AtomicU32,
        }
        // SAFETY: repr(C) of a Condition and atomics: no pointers, no drop
        // glue, every bit pattern valid, mutated only atomically.
        unsafe impl mproc::shm::Shareable for State {}
        let state = Shared::new(State {
            cond: Condition::new(),
            items: AtomicU32::new(0),
            seen: AtomicU32::new(0),
        })
        .unwrap();
        let st: &State = &state;
        let mut consumer = Process::new(move || {
            let g = st.cond.acquire().unwrap();
            let (g, ok) = g
                .wait_for(|| st.items.load(Ordering::Relaxed) >= 3, Some(MUST))
                .unwrap();
            assert!(ok, "the predicate never held");
            // The predicate ran under the lock and the lock is held still:
            // nobody changed the state between its check and here.
            st.seen
                .store(st.items.load(Ordering::Relaxed), Ordering::SeqCst);
            drop(g);
        });
        consumer.start().unwrap();
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(10));
            let g = st.cond.acquire().unwrap();
            if st.items.load(Ordering::Relaxed) < 3 {
                st.items.fetch_add(1, Ordering::Relaxed);
            }
            g.notify_all();
        }
        assert_eq!(join(&consumer), 0);
        assert_eq!(state.seen.load(Ordering::SeqCst), 3);

        // A predicate that holds already returns at once, without waiting.
        let start = Instant::now();
        let (g, ok) = st.cond.acquire().unwrap().wait_for(|| true, None).unwrap();
        assert!(ok);
        assert!(start.elapsed() < MUST);
        drop(g);
    });
}

#[test]
fn wait_for_times_out_with_the_predicate_false() {
    isolated(|| {
        let cond = Shared::new(Condition::new()).unwrap();
        let calls = Shared::new(AtomicU32::new(0)).unwrap();
        let (c, n): (&Condition, &AtomicU32) = (&cond, &calls);
        // Notified now and then by another process, never satisfied.
        let (stop, mut stop_tx) = gate();
        let mut nagger = Process::new(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(20));
                c.acquire().unwrap().notify_all();
            }
            stop.wait();
        });
        nagger.start().unwrap();
        let start = Instant::now();
        let (g, ok) = cond
            .acquire()
            .unwrap()
            .wait_for(
                || {
                    n.fetch_add(1, Ordering::Relaxed);
                    false
                },
                Some(Duration::from_millis(250)),
            )
            .unwrap();
        let waited = start.elapsed();
        assert!(!ok);
        assert!(
            waited >= Duration::from_millis(250),
            "gave up early: {waited:?}"
        );
        assert!(waited < MUST, "took {waited:?}");
        assert!(calls.load(Ordering::Relaxed) >= 1);
        assert_eq!(cond.get_lock().holder(), Some(process::getpid()));
        drop(g);
        stop_tx.write_all(b"x").unwrap();
        assert_eq!(join(&nagger), 0);
    });
}

#[test]
fn producers_and_consumers_count_exactly() {
    isolated(|| {
        const PRODUCERS: u64 = 3;
        const CONSUMERS: u64 = 3;
        const ITEMS: u64 = 400;
        const TOTAL: u64 = PRODUCERS * ITEMS;
        #[repr(C)]
        struct Queue {
            cond: Condition,
            /// Items available; read and written only under the lock, and
            /// with plain load/store so that a lost update would show.
            items: AtomicU64,
            produced: AtomicU64,
            consumed: AtomicU64,
        }
        // SAFETY: repr(C) of a Condition and atomics: no pointers, no drop
        // glue, every bit pattern valid, mutated only atomically.
        unsafe impl mproc::shm::Shareable for Queue {}
        let queue = Shared::new(Queue {
            cond: Condition::new(),
            items: AtomicU64::new(0),
            produced: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
        })
        .unwrap();
        let q: &Queue = &queue;
        // Producers never wait, consumers wait for an item or the end.
        let mut kids: Vec<_> = (0..PRODUCERS + CONSUMERS)
            .map(|i| {
                Process::new(move || {
                    if i < PRODUCERS {
                        for k in 0..ITEMS {
                            let g = q.cond.acquire().unwrap();
                            let n = q.items.load(Ordering::Relaxed);
                            q.items.store(n + 1, Ordering::Relaxed);
                            let p = q.produced.load(Ordering::Relaxed);
                            q.produced.store(p + 1, Ordering::Relaxed);
                            if k % 2 == 0 {
                                g.notify(1);
                            } else {
                                g.notify_all();
                            }
                        }
                        return;
                    }
                    loop {
                        let g = q.cond.acquire().unwrap();
                        let (g, ok) = g
                            .wait_for(
                                || {
                                    q.items.load(Ordering::Relaxed) > 0
                                        || q.consumed.load(Ordering::Relaxed) == TOTAL
                                },
                                Some(MUST),
                            )
                            .unwrap();
                        assert!(ok, "a consumer waited in vain");
                        let n = q.items.load(Ordering::Relaxed);
                        if n == 0 {
                            return; // all consumed
                        }
                        q.items.store(n - 1, Ordering::Relaxed);
                        let c = q.consumed.load(Ordering::Relaxed) + 1;
                        q.consumed.store(c, Ordering::Relaxed);
                        if c == TOTAL {
                            g.notify_all();
                        }
                    }
                })
            })
            .collect();
        for k in &mut kids {
            k.start().unwrap();
        }
        for (i, k) in kids.iter().enumerate() {
            assert_eq!(join(k), 0, "child {i}");
        }
        let g = queue.cond.acquire().unwrap();
        assert_eq!(queue.produced.load(Ordering::Relaxed), TOTAL);
        assert_eq!(queue.consumed.load(Ordering::Relaxed), TOTAL);
        assert_eq!(queue.items.load(Ordering::Relaxed), 0);
        assert!(queue.cond.get_lock().is_consistent());
        drop(g);
    });
}

#[test]
fn try_and_timed_acquire_are_refused_while_another_process_holds_the_lock() {
    isolated(|| {
        let cond = Shared::new(Condition::new()).unwrap();
        let c: &Condition = &cond;
        let (ready, mut ready_tx) = gate();
        let (release, mut release_tx) = gate();
        let mut holder = Process::new(move || {
            let g = c.acquire().unwrap();
            ready_tx.write_all(b"x").unwrap();
            release.wait();
            drop(g);
        });
        holder.start().unwrap();
        ready.wait();
        assert!(matches!(cond.try_acquire(), Err(TryLockError::WouldBlock)));
        let start = Instant::now();
        assert!(matches!(
            cond.acquire_timeout(Duration::from_millis(150)),
            Err(TryLockError::TimedOut)
        ));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(150),
            "gave up early: {waited:?}"
        );
        assert!(waited < MUST);
        assert_eq!(cond.get_lock().holder(), holder.pid());
        release_tx.write_all(b"x").unwrap();
        let g = cond.acquire_timeout(MUST).expect("released by its holder");
        assert_eq!(g.notify_all(), 0);
        drop(g);
        assert_eq!(join(&holder), 0);
        drop(cond.try_acquire().expect("free"));
    });
}

mod deaths;
