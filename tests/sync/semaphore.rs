//! `Semaphore` and `BoundedSemaphore` between processes: never more than
//! `value` holders, exact counts under contention, the non-blocking and
//! timed forms, `release_n`, over-release refused with a typed error that
//! changes nothing, guards copied by fork, and what the docs promise for a
//! process that dies holding a unit: a unit held through a guard comes
//! back (to a plain waiter, `try_acquire`, `reclaim_dead`), one handed
//! over with `forget` or released by another process keeps its meaning.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::process::{self, Fork, Process};
use mproc::shm::Shared;
use mproc::sync::{BoundedSemaphore, Semaphore};
use mproc::{ErrorKind, Resource};

use crate::common::{Gate, eventually, gate, isolated, proc_state};
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

/// Shared counters of the contention tests.
#[repr(C)]
struct Tally {
    /// Holders right now.
    inside: AtomicU32,
    /// The most holders seen at once.
    most: AtomicU32,
    /// Passes through the section.
    passes: AtomicU64,
    /// A count updated with a plain load and store.
    total: AtomicU64,
    /// Releases refused (a bounded semaphore must refuse none here).
    refused: AtomicU64,
}

// SAFETY: repr(C) of atomics: no pointers, no drop glue, every bit pattern
// valid, mutated only atomically.
unsafe impl mproc::shm::Shareable for Tally {}

impl Tally {
    fn enter(&self) {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.passes.fetch_add(1, Ordering::SeqCst);
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts `n` children running `work(i)` together (released through one
/// gate once all are forked) and checks they all exit with 0.
fn run_together(n: usize, work: impl Fn(usize) + Copy) {
    let (start, mut open) = gate();
    let mut kids: Vec<_> = (0..n)
        .map(|i| {
            let start: Gate = start.try_clone();
            Process::new(move || {
                start.wait();
                work(i);
            })
        })
        .collect();
    for k in &mut kids {
        k.start().unwrap();
    }
    open.write_all(&vec![b'x'; n]).unwrap();
    for (i, k) in kids.iter().enumerate() {
        assert_eq!(join(k), 0, "child {i}");
    }
}

#[test]
fn as_a_mutex_n_processes_times_m_increments_are_exact() {
    isolated(|| {
        const PROCS: usize = 6;
        const ROUNDS: u64 = 1000;
        let sem = Shared::new(Semaphore::new(1)).unwrap();
        let tally = Shared::<Tally>::zeroed().unwrap();
        let (s, t): (&Semaphore, &Tally) = (&sem, &tally);
        run_together(PROCS, move |p| {
            for i in 0..ROUNDS {
                let unit = match (p as u64 + i) % 3 {
                    0 => s.acquire(),
                    1 => loop {
                        if let Some(u) = s.try_acquire() {
                            break u;
                        }
                        std::thread::yield_now();
                    },
                    _ => loop {
                        if let Some(u) = s.acquire_timeout(Duration::from_micros(300)) {
                            break u;
                        }
                    },
                };
                t.enter();
                let n = t.total.load(Ordering::Relaxed);
                std::hint::spin_loop();
                t.total.store(n + 1, Ordering::Relaxed);
                t.leave();
                drop(unit);
            }
        });
        assert_eq!(
            tally.most.load(Ordering::SeqCst),
            1,
            "two holders of a Semaphore(1)"
        );
        assert_eq!(tally.total.load(Ordering::Relaxed), PROCS as u64 * ROUNDS);
        assert_eq!(sem.get_value(), 1, "a unit was lost or made up");
    });
}

#[test]
fn never_more_than_its_value_inside_and_every_unit_comes_back() {
    isolated(|| {
        const K: u32 = 3;
        const PROCS: usize = 7;
        const ROUNDS: u64 = 400;
        let sem = Shared::new(Semaphore::new(K)).unwrap();
        let tally = Shared::<Tally>::zeroed().unwrap();
        let (s, t): (&Semaphore, &Tally) = (&sem, &tally);
        run_together(PROCS, move |p| {
            for i in 0..ROUNDS {
                // Every form of taking, and of giving back.
                let unit = match (p as u64 + i) % 3 {
                    0 => Some(s.acquire()),
                    1 => loop {
                        if let Some(u) = s.try_acquire() {
                            break Some(u);
                        }
                        std::thread::yield_now();
                    },
                    _ => {
                        s.acquire_timeout(MUST).expect("a unit in time").forget();
                        None
                    }
                };
                t.enter();
                std::thread::yield_now();
                t.leave();
                match unit {
                    Some(u) => drop(u),
                    None => s.release().unwrap(),
                }
            }
        });
        let most = tally.most.load(Ordering::SeqCst);
        assert!((1..=K).contains(&most), "{most} inside a Semaphore({K})");
        assert_eq!(tally.passes.load(Ordering::SeqCst), PROCS as u64 * ROUNDS);
        assert_eq!(tally.inside.load(Ordering::SeqCst), 0);
        assert_eq!(sem.get_value(), K, "a unit was lost or made up");
    });
}

#[test]
fn exactly_k_processes_hold_it_at_once() {
    isolated(|| {
        const K: u32 = 3;
        let sem = Shared::new(Semaphore::new(K)).unwrap();
        let tally = Shared::<Tally>::zeroed().unwrap();
        let (s, t): (&Semaphore, &Tally) = (&sem, &tally);
        let (release, mut release_tx) = gate();
        let mut holders: Vec<_> = (0..K)
            .map(|_| {
                let release: Gate = release.try_clone();
                Process::new(move || {
                    let unit = s.acquire();
                    t.enter();
                    release.wait();
                    t.leave();
                    drop(unit);
                })
            })
            .collect();
        for h in &mut holders {
            h.start().unwrap();
        }
        assert!(eventually(MUST, || tally.inside.load(Ordering::SeqCst) == K));
        assert_eq!(sem.get_value(), 0);
        // A K+1-th is refused, here and in another process.
        assert!(sem.try_acquire().is_none());
        let phase = Shared::new(AtomicU32::new(0)).unwrap();
        let ph: &AtomicU32 = &phase;
        let mut extra = Process::new(move || {
            assert!(s.try_acquire().is_none());
            assert!(s.acquire_timeout(MUST_NOT).is_none());
            ph.store(1, Ordering::SeqCst);
            // Waits until one of the holders gives its unit back.
            let unit = s.acquire_timeout(MUST).expect("a unit once one came back");
            assert!(
                t.inside.load(Ordering::SeqCst) < K,
                "K holders and this one"
            );
            drop(unit);
        });
        extra.start().unwrap();
        assert!(eventually(MUST, || phase.load(Ordering::SeqCst) == 1));
        parked(&extra);
        assert_eq!(extra.join_timeout(MUST_NOT).unwrap(), None, "got a unit");
        assert_eq!(sem.get_value(), 0, "a failed wait changed the count");
        release_tx.write_all(b"x").unwrap(); // one holder leaves
        assert_eq!(join(&extra), 0);
        release_tx.write_all(&[b'x'; K as usize - 1]).unwrap();
        for h in &holders {
            assert_eq!(join(h), 0);
        }
        assert_eq!(sem.get_value(), K);
        assert_eq!(tally.most.load(Ordering::SeqCst), K);
    });
}

#[test]
fn try_acquire_at_zero_takes_nothing_and_gives_nothing_back() {
    let sem = Shared::new(Semaphore::new(0)).unwrap();
    for _ in 0..3 {
        assert!(sem.try_acquire().is_none());
        assert!(sem.acquire_timeout(Duration::ZERO).is_none());
    }
    assert_eq!(sem.get_value(), 0);
    sem.release().unwrap();
    let unit = sem.try_acquire().expect("the released unit");
    assert_eq!(sem.get_value(), 0);
    assert!(sem.try_acquire().is_none());
    drop(unit);
    assert_eq!(sem.get_value(), 1);
    assert_eq!(format!("{:?}", *sem), "Semaphore { value: 1 }");
}

#[test]
fn acquire_timeout_waits_its_time_then_gives_up_without_taking() {
    isolated(|| {
        let sem = Shared::new(Semaphore::new(1)).unwrap();
        let s: &Semaphore = &sem;
        let (ready, mut ready_tx) = gate();
        let (release, mut release_tx) = gate();
        let mut holder = Process::new(move || {
            let unit = s.acquire();
            ready_tx.write_all(b"x").unwrap();
            release.wait();
            drop(unit);
        });
        holder.start().unwrap();
        ready.wait();
        for timeout in [Duration::from_millis(50), Duration::from_millis(200)] {
            let start = Instant::now();
            let got = sem.acquire_timeout(timeout);
            let waited = start.elapsed();
            assert!(got.is_none(), "a unit while the only one is held");
            assert!(waited >= timeout, "gave up early: {waited:?} < {timeout:?}");
            assert!(waited < MUST, "took {waited:?}");
            assert_eq!(sem.get_value(), 0);
        }
        release_tx.write_all(b"x").unwrap();
        let start = Instant::now();
        let unit = sem.acquire_timeout(MUST).expect("given back meanwhile");
        assert!(start.elapsed() < MUST);
        drop(unit);
        assert_eq!(join(&holder), 0);
        assert_eq!(sem.get_value(), 1);
        // A timeout too far to be a deadline means "no limit".
        drop(sem.acquire_timeout(Duration::MAX).expect("free"));
    });
}

#[test]
fn a_parked_acquire_is_woken_by_a_release_from_another_process() {
    isolated(|| {
        let sem = Shared::new(Semaphore::new(0)).unwrap();
        let data = Shared::new(AtomicU64::new(0)).unwrap();
        let (s, d): (&Semaphore, &AtomicU64) = (&sem, &data);
        let mut waiter = Process::new(move || {
            s.acquire().forget();
            // What the releaser wrote before releasing is seen.
            assert_eq!(d.load(Ordering::Relaxed), 42);
        });
        waiter.start().unwrap();
        parked(&waiter);
        assert_eq!(waiter.join_timeout(MUST_NOT).unwrap(), None, "passed at 0");
        data.store(42, Ordering::Relaxed);
        // Released without a guard: a semaphore has no owner.
        sem.release().unwrap();
        assert_eq!(join(&waiter), 0);
        assert_eq!(sem.get_value(), 0, "the waiter took the unit");
    });
}

#[test]
fn release_n_lets_exactly_n_parked_waiters_through() {
    isolated(|| {
        const WAITERS: u32 = 4;
        let sem = Shared::new(Semaphore::new(0)).unwrap();
        let passed = Shared::new(AtomicU32::new(0)).unwrap();
        let (s, n): (&Semaphore, &AtomicU32) = (&sem, &passed);
        let mut waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                Process::new(move || {
                    s.acquire().forget();
                    n.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        for w in &waiters {
            parked(w);
        }
        assert_eq!(passed.load(Ordering::SeqCst), 0);
        sem.release_n(2).unwrap();
        assert!(eventually(MUST, || passed.load(Ordering::SeqCst) == 2));
        std::thread::sleep(MUST_NOT);
        assert_eq!(
            passed.load(Ordering::SeqCst),
            2,
            "release_n(2) let more through"
        );
        assert_eq!(sem.get_value(), 0);
        sem.release_n(0).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            passed.load(Ordering::SeqCst),
            2,
            "release_n(0) let one through"
        );
        // More than wait: all pass, the rest stays free.
        sem.release_n(5).unwrap();
        for w in &waiters {
            assert_eq!(join(w), 0);
        }
        assert_eq!(passed.load(Ordering::SeqCst), WAITERS);
        assert_eq!(sem.get_value(), 3);
    });
}

#[test]
fn release_beyond_u32_max_is_refused_and_adds_nothing() {
    let sem = Shared::new(Semaphore::new(u32::MAX - 1)).unwrap();
    let err = sem.release_n(2).unwrap_err();
    let max = u32::MAX as usize;
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit: max });
    assert_eq!(
        err.resource(),
        Resource::Container {
            what: "Semaphore",
            capacity: max
        }
    );
    assert_eq!(err.op(), "Semaphore::release");
    assert_eq!(err.errno(), None);
    assert_eq!(
        sem.get_value(),
        u32::MAX - 1,
        "a refused release_n added some"
    );
    sem.release().unwrap();
    assert_eq!(sem.get_value(), u32::MAX);
    assert!(sem.release().is_err());
    assert!(sem.release_n(u32::MAX).is_err());
    assert_eq!(sem.get_value(), u32::MAX);
}

#[test]
fn bounded_over_release_is_capacity_exceeded_and_changes_nothing() {
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
        assert_eq!(err.op(), "BoundedSemaphore::release");
        let text = err.to_string();
        assert!(
            text.contains("BoundedSemaphore") && text.contains('2'),
            "{text}"
        );
        assert_eq!(sem.get_value(), 2, "a refused release added a unit");

        // The bound holds across processes: taken in one, given back in
        // another, refused beyond the bound in a third.
        let s: &BoundedSemaphore = &sem;
        let mut taker = Process::new(move || {
            s.acquire().forget();
            s.try_acquire().expect("the second unit").forget();
            assert!(s.try_acquire().is_none());
        });
        taker.start().unwrap();
        assert_eq!(join(&taker), 0);
        assert_eq!(sem.get_value(), 0);
        let mut giver = Process::new(move || {
            s.release().unwrap();
            s.release().unwrap();
            let err = s.release().expect_err("over the bound");
            assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit: 2 });
            assert_eq!(s.get_value(), 2);
        });
        giver.start().unwrap();
        assert_eq!(join(&giver), 0);
        assert_eq!(sem.get_value(), 2);
        // A guard gives back exactly its own unit.
        let g = sem.acquire();
        assert_eq!(sem.get_value(), 1);
        drop(g);
        assert_eq!(sem.get_value(), 2);
        assert_eq!(format!("{:?}", *sem), "BoundedSemaphore { value: 2 }");
    });
}

#[test]
fn bounded_under_contention_counts_exactly_and_never_refuses_a_taken_unit() {
    isolated(|| {
        const K: u32 = 2;
        const PROCS: usize = 6;
        const ROUNDS: u64 = 400;
        let sem = Shared::new(BoundedSemaphore::new(K)).unwrap();
        let tally = Shared::<Tally>::zeroed().unwrap();
        let (s, t): (&BoundedSemaphore, &Tally) = (&sem, &tally);
        run_together(PROCS, move |p| {
            for i in 0..ROUNDS {
                let unit = if (p as u64 + i).is_multiple_of(2) {
                    s.acquire()
                } else {
                    s.acquire_timeout(MUST).expect("a unit in time")
                };
                t.enter();
                std::thread::yield_now();
                t.leave();
                if i % 2 == 0 {
                    drop(unit);
                } else {
                    unit.forget();
                    if s.release().is_err() {
                        t.refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        let most = tally.most.load(Ordering::SeqCst);
        assert!(
            (1..=K).contains(&most),
            "{most} inside a BoundedSemaphore({K})"
        );
        assert_eq!(tally.passes.load(Ordering::SeqCst), PROCS as u64 * ROUNDS);
        assert_eq!(tally.refused.load(Ordering::SeqCst), 0);
        assert_eq!(sem.get_value(), K);
    });
}

#[test]
fn a_guard_copied_by_fork_gives_nothing_back_in_the_child() {
    isolated(|| {
        let sem = Shared::new(Semaphore::new(1)).unwrap();
        let bounded = Shared::new(BoundedSemaphore::new(1)).unwrap();
        let (s, b): (&Semaphore, &BoundedSemaphore) = (&sem, &bounded);
        let unit = s.acquire();
        let bunit = b.acquire();
        match process::fork().unwrap() {
            Fork::Child(_) => {
                drop(unit);
                drop(bunit);
                let code = if s.get_value() != 0 || b.get_value() != 0 {
                    1
                } else if s.try_acquire().is_some() || b.try_acquire().is_some() {
                    2
                } else {
                    0
                };
                process::exit(code);
            }
            Fork::Parent(pid) => {
                assert_eq!(process::waitpid(pid).unwrap(), 0, "see the child's codes");
                assert_eq!((s.get_value(), b.get_value()), (0, 0));
                drop(unit);
                drop(bunit);
                assert_eq!((s.get_value(), b.get_value()), (1, 1));
            }
        }
    });
}

/// Starts a child that takes units from `s` and `b` through guards (and
/// hands `forgotten` more of `s` over with `forget`), says so, and waits to
/// be killed; returns it once it holds them.
fn victim<'a>(
    s: &'a Semaphore,
    b: &'a BoundedSemaphore,
    forgotten: u32,
) -> Process<impl FnOnce() + 'a> {
    let (ready, mut ready_tx) = gate();
    let mut victim = Process::new(move || {
        let unit = s.acquire();
        let bunit = b.acquire();
        assert!(unit.is_tracked() && bunit.is_tracked());
        for _ in 0..forgotten {
            s.acquire().forget();
        }
        ready_tx.write_all(b"x").unwrap();
        loop {
            mproc::signal::pause();
        }
    });
    victim.start().unwrap();
    ready.wait();
    victim
}

#[test]
fn a_unit_held_by_a_killed_process_comes_back_to_a_waiter() {
    // Python and POSIX lose it: a Semaphore(2) with a unit held by a killed
    // process had one unit forever, and a BoundedSemaphore(1) none.
    isolated(|| {
        let sem = Shared::new(Semaphore::new(2)).unwrap();
        let bounded = Shared::new(BoundedSemaphore::new(1)).unwrap();
        let (s, b): (&Semaphore, &BoundedSemaphore) = (&sem, &bounded);
        let victim = victim(s, b, 0);
        assert_eq!((sem.get_value(), bounded.get_value()), (1, 0));
        let pid = victim.pid().unwrap();
        victim.kill().unwrap();
        assert_eq!(victim.join().unwrap(), -9);
        // Plain blocking acquires (no timeout) get every unit, in another
        // process, and the one that gave the dead holder's units back is
        // told so once.
        let mut other = Process::new(move || {
            let one = s.acquire();
            let two = s.acquire();
            let bunit = b.acquire();
            assert_eq!(one.recovered().or(two.recovered()), Some(pid));
            assert_eq!(bunit.recovered(), Some(pid));
            assert!(s.try_acquire().is_none(), "a unit was made up");
            drop((one, two, bunit));
            assert_eq!(b.acquire().recovered(), None, "told twice");
        });
        other.start().unwrap();
        assert_eq!(join(&other), 0);
        assert_eq!((sem.get_value(), bounded.get_value()), (2, 1));
        assert!(bounded.release().is_err(), "the bound moved");
    });
}

#[test]
fn try_acquire_and_reclaim_dead_give_back_a_dead_holders_units() {
    isolated(|| {
        let sem = Shared::new(Semaphore::new(1)).unwrap();
        let bounded = Shared::new(BoundedSemaphore::new(1)).unwrap();
        let (s, b): (&Semaphore, &BoundedSemaphore) = (&sem, &bounded);
        let victim = victim(s, b, 0);
        let pid = victim.pid().unwrap();
        assert!(sem.try_acquire().is_none(), "its holder lives");
        victim.kill().unwrap();
        victim.join().unwrap(); // reaped: gone for the cheap look too
        let unit = sem.try_acquire().expect("the dead holder's unit");
        assert_eq!(unit.recovered(), Some(pid));
        assert_eq!(bounded.reclaim_dead(), Some(pid));
        assert_eq!(bounded.get_value(), 1);
        assert_eq!(bounded.reclaim_dead(), None, "given back twice");
        drop(unit);
        assert_eq!(sem.get_value(), 1);
    });
}

#[test]
fn a_unit_handed_over_or_released_by_another_process_keeps_its_meaning() {
    // The signalling use: a forgotten unit was handed over, so the death of
    // the process that took it gives nothing back; a unit released by
    // another process is a new free unit.
    isolated(|| {
        let sem = Shared::new(Semaphore::new(3)).unwrap();
        let bounded = Shared::new(BoundedSemaphore::new(1)).unwrap();
        let (s, b): (&Semaphore, &BoundedSemaphore) = (&sem, &bounded);
        // Holds one through a guard, and forgets two.
        let victim = victim(s, b, 2);
        assert_eq!(sem.get_value(), 0);
        victim.kill().unwrap();
        assert_eq!(victim.join().unwrap(), -9);
        assert_eq!(
            sem.reclaim_dead().map(|p| p.as_raw()),
            victim.pid().map(|p| p.as_raw())
        );
        assert_eq!(sem.get_value(), 1, "only the guarded unit comes back");
        assert_eq!(bounded.reclaim_dead(), victim.pid());
        // Released by another process: one more free unit.
        let mut giver = Process::new(move || s.release().unwrap());
        giver.start().unwrap();
        assert_eq!(join(&giver), 0);
        assert_eq!(sem.get_value(), 2);
        // A process that dies after its guard was dropped gives nothing.
        let mut tidy = Process::new(move || drop(s.acquire()));
        tidy.start().unwrap();
        assert_eq!(join(&tidy), 0);
        assert_eq!(sem.reclaim_dead(), None);
        assert_eq!(sem.get_value(), 2);
    });
}

#[test]
fn a_fifth_holder_is_untracked_and_slots_of_the_dead_are_reused() {
    isolated(|| {
        let sem = Shared::new(Semaphore::new(10)).unwrap();
        let bounded = Shared::new(BoundedSemaphore::new(8)).unwrap();
        let (s, b): (&Semaphore, &BoundedSemaphore) = (&sem, &bounded);
        let mut victims: Vec<_> = (0..4).map(|_| victim(s, b, 0)).collect();
        // Four live holders fill the slots: this process's unit is not
        // counted, and says so.
        let unit = sem.acquire();
        assert!(!unit.is_tracked());
        drop(unit);
        assert_eq!(sem.get_value(), 6);
        let first = victims.remove(0);
        first.kill().unwrap();
        first.join().unwrap();
        // The dead one's slot is taken over (its unit given back first).
        let unit = sem.acquire();
        assert!(unit.is_tracked());
        assert_eq!(sem.get_value(), 6);
        drop(unit);
        for v in &victims {
            v.kill().unwrap();
            v.join().unwrap();
        }
        assert!(sem.reclaim_dead().is_some());
        assert_eq!(sem.get_value(), 10);
        assert!(bounded.reclaim_dead().is_some());
        assert_eq!(bounded.get_value(), 8);
    });
}
