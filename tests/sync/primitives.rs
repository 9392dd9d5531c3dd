//! RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier between
//! processes: exact results under contention, the try and timed forms, and
//! a dead owner for the primitives that have one (RLock; Condition through
//! its lock). Semaphores have no owner: units a dead process held stay
//! taken, as in Python and POSIX (documented), so there is nothing to
//! recover. A Barrier party that dies is seen by the others' timeouts.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::process::Process;
use mproc::shm::Shared;
use mproc::sync::{
    Barrier, BarrierError, BoundedSemaphore, Condition, Event, OwnerDied, RLock, Semaphore,
    TryLockError,
};
use mproc::{ErrorKind, Resource};

use crate::common::{eventually, gate, isolated};
use crate::{MUST, MUST_NOT};

/// Starts every process, then joins each and checks it exited with 0.
fn run_all<F: FnOnce()>(mut kids: Vec<Process<F>>) {
    for k in &mut kids {
        k.start().unwrap();
    }
    for k in &kids {
        assert_eq!(k.join().unwrap(), 0, "{} failed", k.name());
    }
}

// ------------------------------------------------------------------ RLock

#[test]
fn rlock_nested_increments_from_many_processes_are_exact() {
    isolated(|| {
        let lock = Shared::new(RLock::new()).unwrap();
        let count = Shared::new(AtomicU64::new(0)).unwrap();
        let (procs, rounds) = (4u64, 300u64);
        let kids = (0..procs)
            .map(|_| {
                let (lock, count) = (&lock, &count);
                Process::new(move || {
                    for _ in 0..rounds {
                        let outer = lock.lock().unwrap();
                        let inner = lock.lock().unwrap();
                        assert_eq!(lock.depth(), 2);
                        let n = count.load(Ordering::Relaxed);
                        std::hint::spin_loop();
                        count.store(n + 1, Ordering::Relaxed);
                        drop(inner);
                        drop(outer);
                    }
                })
            })
            .collect();
        run_all(kids);
        assert_eq!(count.load(Ordering::Relaxed), procs * rounds);
        assert_eq!(lock.depth(), 0);
        assert_eq!(lock.holder(), None);
    });
}

#[test]
fn rlock_is_reentrant_here_and_exclusive_elsewhere() {
    isolated(|| {
        let lock = Shared::new(RLock::new()).unwrap();
        let a = lock.lock().unwrap();
        let b = lock.try_lock().unwrap();
        let c = lock.lock_timeout(Duration::ZERO).unwrap();
        assert_eq!(lock.depth(), 3);
        let lock_ref: &RLock = &lock;
        let mut other = Process::new(move || {
            assert!(matches!(lock_ref.try_lock(), Err(TryLockError::WouldBlock)));
            let start = Instant::now();
            assert!(matches!(
                lock_ref.lock_timeout(Duration::from_millis(200)),
                Err(TryLockError::TimedOut)
            ));
            assert!(start.elapsed() >= Duration::from_millis(200));
        });
        other.start().unwrap();
        assert_eq!(other.join().unwrap(), 0);
        drop((c, b));
        assert_eq!(lock.depth(), 1, "still held once");
        drop(a);
        assert_eq!(lock.depth(), 0);
        // Free now: another process takes it at once.
        let mut taker = Process::new(move || drop(lock_ref.try_lock().unwrap()));
        taker.start().unwrap();
        assert_eq!(taker.join().unwrap(), 0);
    });
}

#[test]
fn rlock_held_nested_by_a_killed_process_is_taken_over_once() {
    isolated(|| {
        let lock = Shared::new(RLock::new()).unwrap();
        let lock_ref: &RLock = &lock;
        let (ready, mut tx) = gate();
        let mut holder = Process::new(move || {
            let _a = lock_ref.lock().unwrap();
            let _b = lock_ref.lock().unwrap();
            use std::io::Write as _;
            tx.write_all(b"x").unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        holder.start().unwrap();
        ready.wait();
        let dead = holder.pid().unwrap();
        assert_eq!(lock.holder(), Some(dead));
        assert_eq!(lock.depth(), 2);
        holder.kill().unwrap();
        assert_eq!(holder.join().unwrap(), -9);

        let died = lock.lock().expect_err("its holder died holding it");
        assert_eq!(died.pid(), Some(dead));
        let guard = died.into_guard();
        assert_eq!(
            lock.depth(),
            1,
            "the dead holder's nesting is not inherited"
        );
        assert!(!lock.is_consistent());
        guard.mark_consistent();
        drop(guard);
        assert!(lock.is_consistent());
        // Told once: the next take is clean.
        let again = lock.lock().unwrap();
        drop(again);
        assert_eq!(lock.holder(), None);
    });
}

// ------------------------------------------------------------- Semaphores

#[test]
fn semaphore_never_lets_more_than_its_value_in_and_counts_exactly() {
    isolated(|| {
        let sem = Shared::new(Semaphore::new(3)).unwrap();
        let inside = Shared::new(AtomicU32::new(0)).unwrap();
        let most = Shared::new(AtomicU32::new(0)).unwrap();
        let done = Shared::new(AtomicU64::new(0)).unwrap();
        let (procs, rounds) = (6u64, 200u64);
        let kids = (0..procs)
            .map(|_| {
                let (sem, inside, most, done) = (&sem, &inside, &most, &done);
                Process::new(move || {
                    for _ in 0..rounds {
                        let unit = sem.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::Relaxed);
                        drop(unit);
                    }
                })
            })
            .collect();
        run_all(kids);
        assert_eq!(done.load(Ordering::Relaxed), procs * rounds);
        let most = most.load(Ordering::SeqCst);
        assert!(most <= 3, "{most} were inside a Semaphore(3)");
        assert!(most >= 1);
        assert_eq!(sem.get_value(), 3, "every unit came back");
    });
}

#[test]
fn semaphore_try_and_timed_forms_and_release_n() {
    isolated(|| {
        let sem = Shared::new(Semaphore::new(1)).unwrap();
        let unit = sem.try_acquire().unwrap();
        assert!(sem.try_acquire().is_none());
        assert_eq!(sem.get_value(), 0, "a failed try_acquire gave a unit back");
        let start = Instant::now();
        assert!(sem.acquire_timeout(Duration::from_millis(150)).is_none());
        assert!(start.elapsed() >= Duration::from_millis(150));
        assert_eq!(sem.get_value(), 0, "a timed-out acquire gave a unit back");
        unit.forget();
        assert_eq!(sem.get_value(), 0, "a forgotten unit stays taken");

        // Three processes wait; release_n(2) lets exactly two through.
        let passed = Shared::new(AtomicU32::new(0)).unwrap();
        let (sem_ref, passed_ref) = (&sem, &passed);
        let mut kids: Vec<_> = (0..3)
            .map(|_| {
                Process::new(move || {
                    sem_ref.acquire().forget();
                    passed_ref.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for k in &mut kids {
            k.start().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(passed.load(Ordering::SeqCst), 0);
        sem.release_n(2).unwrap();
        assert!(eventually(MUST, || passed.load(Ordering::SeqCst) == 2));
        std::thread::sleep(MUST_NOT);
        assert_eq!(passed.load(Ordering::SeqCst), 2, "release_n(2) let more in");
        sem.release().unwrap();
        for k in &kids {
            assert_eq!(k.join().unwrap(), 0);
        }
        assert_eq!(passed.load(Ordering::SeqCst), 3);
        assert_eq!(sem.get_value(), 0);
    });
}

#[test]
fn bounded_semaphore_refuses_over_release_and_keeps_its_count() {
    isolated(|| {
        let sem = Shared::new(BoundedSemaphore::new(2)).unwrap();
        assert_eq!(sem.bound(), 2);
        let err = sem.release().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit: 2 });
        assert_eq!(
            err.resource(),
            Resource::Container {
                what: "BoundedSemaphore",
                capacity: 2
            }
        );
        assert_eq!(sem.get_value(), 2, "the refused release added nothing");
        // Taken in another process and forgotten, given back here: fine
        // up to the bound, refused beyond it.
        let sem_ref: &BoundedSemaphore = &sem;
        let mut taker = Process::new(move || {
            sem_ref.acquire().forget();
            sem_ref.acquire().forget();
        });
        taker.start().unwrap();
        assert_eq!(taker.join().unwrap(), 0);
        assert_eq!(sem.get_value(), 0);
        sem.release().unwrap();
        sem.release().unwrap();
        assert!(sem.release().is_err());
        assert_eq!(sem.get_value(), 2);
        // A guard's drop gives back exactly its own unit.
        let g = sem.acquire();
        assert_eq!(sem.get_value(), 1);
        drop(g);
        assert_eq!(sem.get_value(), 2);
    });
}

// ------------------------------------------------------------------ Event

#[test]
fn event_releases_every_waiter_and_times_out_when_not_set() {
    isolated(|| {
        let event = Shared::new(Event::new()).unwrap();
        let woke = Shared::new(AtomicU32::new(0)).unwrap();
        let (event_ref, woke_ref) = (&event, &woke);
        // Not set: a timed wait returns false after its time.
        let mut timed = Process::new(move || {
            let start = Instant::now();
            assert!(!event_ref.wait_timeout(Duration::from_millis(150)));
            assert!(start.elapsed() >= Duration::from_millis(150));
        });
        timed.start().unwrap();
        assert_eq!(timed.join().unwrap(), 0);

        let mut waiters: Vec<_> = (0..4)
            .map(|_| {
                Process::new(move || {
                    event_ref.wait();
                    assert!(event_ref.is_set());
                    woke_ref.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        std::thread::sleep(MUST_NOT);
        assert_eq!(woke.load(Ordering::SeqCst), 0, "woke before the set");
        event.set();
        for w in &waiters {
            assert_eq!(w.join().unwrap(), 0);
        }
        assert_eq!(woke.load(Ordering::SeqCst), 4);
        // Set stays set: a wait returns at once; clear in another process.
        assert!(event.wait_timeout(Duration::ZERO));
        let mut clearer = Process::new(move || event_ref.clear());
        clearer.start().unwrap();
        assert_eq!(clearer.join().unwrap(), 0);
        assert!(!event.is_set());
        assert!(!event.wait_timeout(Duration::from_millis(10)));
    });
}

// -------------------------------------------------------------- Condition

/// State guarded by a condition: how many waiters are in, how many woke.
struct Stage {
    cond: Shared<Condition>,
    entered: Shared<AtomicU32>,
    woke: Shared<AtomicU32>,
}

impl Stage {
    fn new() -> Stage {
        Stage {
            cond: Shared::new(Condition::new()).unwrap(),
            entered: Shared::new(AtomicU32::new(0)).unwrap(),
            woke: Shared::new(AtomicU32::new(0)).unwrap(),
        }
    }

    /// A waiter's body: count in under the lock, wait, count the wake-up.
    fn wait(&self) {
        let g = self.cond.acquire().unwrap();
        self.entered.fetch_add(1, Ordering::SeqCst);
        let g = g.wait().unwrap();
        self.woke.fetch_add(1, Ordering::SeqCst);
        drop(g);
    }

    /// Until all `n` waiters wait: they count in while holding the lock and
    /// wait releases it, so holding it and seeing `n` means all are parked.
    fn all_waiting(&self, n: u32) -> bool {
        eventually(MUST, || {
            let _g = self.cond.acquire().unwrap();
            self.entered.load(Ordering::SeqCst) == n
        })
    }
}

#[test]
fn condition_notify_n_wakes_exactly_n_then_notify_all_the_rest() {
    isolated(|| {
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut waiters: Vec<_> = (0..4).map(|_| Process::new(move || s.wait())).collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        assert!(stage.all_waiting(4));
        assert_eq!(stage.cond.acquire().unwrap().notify(2), 2);
        assert!(eventually(MUST, || stage.woke.load(Ordering::SeqCst) == 2));
        std::thread::sleep(MUST_NOT);
        assert_eq!(stage.woke.load(Ordering::SeqCst), 2, "notify(2) woke more");
        assert_eq!(stage.cond.acquire().unwrap().notify_all(), 2);
        for w in &waiters {
            assert_eq!(w.join().unwrap(), 0);
        }
        assert_eq!(stage.woke.load(Ordering::SeqCst), 4);
        // Nobody waits now: a notify wakes nobody and is not saved up.
        assert_eq!(stage.cond.acquire().unwrap().notify_all(), 0);
        let (_g, notified) = stage
            .cond
            .acquire()
            .unwrap()
            .wait_timeout(Duration::from_millis(50))
            .unwrap();
        assert!(!notified);
    });
}

#[test]
fn condition_notify_skips_a_waiter_that_timed_out() {
    isolated(|| {
        let stage = Stage::new();
        let s: &Stage = &stage;
        // The oldest waiter gives up; two others wait on.
        let mut timed = Process::new(move || {
            let g = s.cond.acquire().unwrap();
            s.entered.fetch_add(1, Ordering::SeqCst);
            let (_g, notified) = g.wait_timeout(Duration::from_millis(300)).unwrap();
            assert!(!notified);
        });
        timed.start().unwrap();
        assert!(stage.all_waiting(1));
        let mut waiters: Vec<_> = (0..2).map(|_| Process::new(move || s.wait())).collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        assert!(stage.all_waiting(3));
        assert_eq!(timed.join().unwrap(), 0);
        // notify(1) goes to a live waiter, not to the one that left.
        assert_eq!(stage.cond.acquire().unwrap().notify(1), 1);
        assert!(eventually(MUST, || stage.woke.load(Ordering::SeqCst) == 1));
        std::thread::sleep(MUST_NOT);
        assert_eq!(stage.woke.load(Ordering::SeqCst), 1);
        assert_eq!(stage.cond.acquire().unwrap().notify(1), 1);
        for w in &waiters {
            assert_eq!(w.join().unwrap(), 0);
        }
        assert_eq!(stage.woke.load(Ordering::SeqCst), 2);
        assert_eq!(stage.cond.acquire().unwrap().notify_all(), 0);
    });
}

#[test]
fn condition_wait_for_and_timeouts() {
    isolated(|| {
        let cond = Shared::new(Condition::new()).unwrap();
        let items = Shared::new(AtomicU32::new(0)).unwrap();
        let (cond_ref, items_ref) = (&cond, &items);
        // A consumer waits for 3 items; a producer adds them one by one.
        let mut consumer = Process::new(move || {
            let g = cond_ref.acquire().unwrap();
            let (_g, ok) = g
                .wait_for(|| items_ref.load(Ordering::SeqCst) >= 3, Some(MUST))
                .unwrap();
            assert!(ok, "the predicate never held");
        });
        consumer.start().unwrap();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(20));
            let g = cond.acquire().unwrap();
            items.fetch_add(1, Ordering::SeqCst);
            g.notify_all();
        }
        assert_eq!(consumer.join().unwrap(), 0);

        // A predicate that never holds: false after the timeout.
        let start = Instant::now();
        let (_g, ok) = cond
            .acquire()
            .unwrap()
            .wait_for(|| false, Some(Duration::from_millis(150)))
            .unwrap();
        assert!(!ok);
        assert!(start.elapsed() >= Duration::from_millis(150));
        drop(_g);
        // A plain timed wait, not notified.
        let start = Instant::now();
        let (_g, notified) = cond
            .acquire()
            .unwrap()
            .wait_timeout(Duration::from_millis(100))
            .unwrap();
        assert!(!notified);
        assert!(start.elapsed() >= Duration::from_millis(100));
    });
}

#[test]
fn condition_lock_held_by_a_killed_process_is_taken_over_once() {
    isolated(|| {
        let cond = Shared::new(Condition::new()).unwrap();
        let cond_ref: &Condition = &cond;
        let (ready, mut tx) = gate();
        let mut holder = Process::new(move || {
            let _g = cond_ref.acquire().unwrap();
            use std::io::Write as _;
            tx.write_all(b"x").unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        holder.start().unwrap();
        ready.wait();
        let dead = holder.pid().unwrap();
        // Held: the try and timed forms of acquire give up.
        assert!(matches!(cond.try_acquire(), Err(TryLockError::WouldBlock)));
        assert!(matches!(
            cond.acquire_timeout(Duration::from_millis(50)),
            Err(TryLockError::TimedOut)
        ));
        holder.kill().unwrap();
        assert_eq!(holder.join().unwrap(), -9);
        let died: OwnerDied<_> = cond.acquire().expect_err("the holder died holding it");
        assert_eq!(died.pid(), Some(dead));
        let g = died.into_guard();
        assert!(!cond.get_lock().is_consistent());
        g.mark_consistent();
        assert!(cond.get_lock().is_consistent());
        drop(g);
        // Usable again: a wait and a notify between two live processes.
        let woke = Shared::new(AtomicU32::new(0)).unwrap();
        let woke_ref: &AtomicU32 = &woke;
        let entered = Shared::new(AtomicU32::new(0)).unwrap();
        let entered_ref: &AtomicU32 = &entered;
        let mut waiter = Process::new(move || {
            let g = cond_ref.acquire().unwrap();
            entered_ref.store(1, Ordering::SeqCst);
            drop(g.wait().unwrap());
            woke_ref.store(1, Ordering::SeqCst);
        });
        waiter.start().unwrap();
        assert!(eventually(MUST, || {
            let _g = cond.acquire().unwrap();
            entered.load(Ordering::SeqCst) == 1
        }));
        assert_eq!(cond.acquire().unwrap().notify(1), 1);
        assert_eq!(waiter.join().unwrap(), 0);
        assert_eq!(woke.load(Ordering::SeqCst), 1);
    });
}

// ---------------------------------------------------------------- Barrier

#[test]
fn barrier_rounds_give_each_index_once_per_round() {
    isolated(|| {
        const PARTIES: u32 = 4;
        const ROUNDS: usize = 20;
        let barrier = Shared::new(Barrier::new(PARTIES)).unwrap();
        // seen[round] has bit `index` set by the party that got it.
        let seen = Shared::new([const { AtomicU32::new(0) }; ROUNDS]).unwrap();
        let (barrier_ref, seen_ref) = (&barrier, &seen);
        let kids = (0..PARTIES)
            .map(|_| {
                Process::new(move || {
                    for round in seen_ref.iter() {
                        let index = barrier_ref.wait_timeout(MUST).unwrap();
                        assert!(index < PARTIES);
                        let before = round.fetch_or(1 << index, Ordering::SeqCst);
                        assert_eq!(before & (1 << index), 0, "index {index} given twice");
                    }
                })
            })
            .collect();
        run_all(kids);
        for (r, round) in seen.iter().enumerate() {
            assert_eq!(round.load(Ordering::SeqCst), 0b1111, "round {r}");
        }
        assert_eq!(barrier.parties(), PARTIES);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

#[test]
fn barrier_timeout_breaks_it_for_everyone_until_reset() {
    isolated(|| {
        let barrier = Shared::new(Barrier::new(3)).unwrap();
        let b: &Barrier = &barrier;
        // One other party only: the barrier cannot fill. The one that times
        // out breaks it; the other is woken with Broken.
        let mut patient = Process::new(move || {
            assert_eq!(b.wait_timeout(MUST), Err(BarrierError::Broken));
        });
        patient.start().unwrap();
        assert!(eventually(MUST, || b.n_waiting() == 1));
        let start = Instant::now();
        assert_eq!(
            b.wait_timeout(Duration::from_millis(150)),
            Err(BarrierError::TimedOut)
        );
        assert!(start.elapsed() >= Duration::from_millis(150));
        assert_eq!(patient.join().unwrap(), 0);
        assert!(b.is_broken());
        assert_eq!(b.wait(), Err(BarrierError::Broken), "later waiters too");
        b.reset();
        assert!(!b.is_broken());
        // Whole again: three parties pass.
        let mut kids: Vec<_> = (0..2)
            .map(|_| {
                Process::new(move || {
                    b.wait_timeout(MUST).unwrap();
                })
            })
            .collect();
        for k in &mut kids {
            k.start().unwrap();
        }
        assert!(b.wait_timeout(MUST).is_ok());
        for k in &kids {
            assert_eq!(k.join().unwrap(), 0);
        }
    });
}

#[test]
fn barrier_abort_wakes_waiters_with_broken() {
    isolated(|| {
        let barrier = Shared::new(Barrier::new(3)).unwrap();
        let b: &Barrier = &barrier;
        let mut waiters: Vec<_> = (0..2)
            .map(|_| {
                Process::new(move || {
                    assert_eq!(b.wait(), Err(BarrierError::Broken));
                })
            })
            .collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        assert!(eventually(MUST, || b.n_waiting() == 2));
        b.abort();
        for w in &waiters {
            assert_eq!(w.join().unwrap(), 0);
        }
        assert!(b.is_broken());
    });
}

#[test]
fn a_barrier_party_that_dies_does_not_hang_the_others() {
    isolated(|| {
        // Dead before arriving: the others' timed waits return, and break
        // the barrier for the rest (as documented).
        let barrier = Shared::new(Barrier::new(3)).unwrap();
        let b: &Barrier = &barrier;
        let mut never = Process::new(|| {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        never.start().unwrap();
        never.kill().unwrap();
        assert_eq!(never.join().unwrap(), -9);
        let mut survivor = Process::new(move || {
            assert_eq!(b.wait_timeout(MUST), Err(BarrierError::Broken));
        });
        survivor.start().unwrap();
        assert!(eventually(MUST, || b.n_waiting() == 1));
        assert_eq!(
            b.wait_timeout(Duration::from_millis(100)),
            Err(BarrierError::TimedOut)
        );
        assert_eq!(survivor.join().unwrap(), 0);
        assert!(b.is_broken());

        // Dead after arriving: its arrival stands, so the others pass.
        let barrier = Shared::new(Barrier::new(3)).unwrap();
        let b: &Barrier = &barrier;
        let mut victim = Process::new(move || {
            let _ = b.wait();
        });
        victim.start().unwrap();
        assert!(eventually(MUST, || b.n_waiting() == 1));
        victim.kill().unwrap();
        assert_eq!(victim.join().unwrap(), -9);
        let mut other = Process::new(move || {
            assert!(b.wait_timeout(MUST).is_ok());
        });
        other.start().unwrap();
        assert!(b.wait_timeout(MUST).is_ok());
        assert_eq!(other.join().unwrap(), 0);
        assert!(!b.is_broken());
    });
}
