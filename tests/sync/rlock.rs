//! `RLock` between processes: exact counts with nested acquisitions under
//! contention, re-entrancy in the holding process and exclusion everywhere
//! else, the non-blocking and timed forms, guards copied by fork, and a
//! holder killed while it holds the lock nested (`OwnerDied` once, the
//! depth starting afresh at 1).
//!
//! Releasing by a process that does not hold it cannot be written: only a
//! guard releases, and a guard's copy in another process releases nothing
//! (tested below).

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mproc::process::{self, Fork, Process};
use mproc::shm::Shared;
use mproc::sync::{OwnerDied, RLock, TryLockError};

use crate::common::{Gate, eventually, gate, isolated, proc_state};
use crate::{MUST, MUST_NOT, join};

/// Shared counters of the contention tests.
#[repr(C)]
struct Tally {
    /// Processes inside the critical section right now.
    inside: AtomicU32,
    /// Times a process entered while another was inside.
    overlaps: AtomicU32,
    /// Times a nested acquisition saw a depth other than its own level.
    bad_depth: AtomicU32,
    /// The count, updated with a plain load and store (a lost update shows).
    total: AtomicU64,
}

// SAFETY: repr(C) of atomics: no pointers, no drop glue, every bit pattern
// valid, mutated only atomically.
unsafe impl mproc::shm::Shareable for Tally {}

#[test]
fn nested_increments_from_many_processes_are_exact() {
    isolated(|| {
        const PROCS: u64 = 6;
        const ROUNDS: u64 = 500;
        let lock = Shared::new(RLock::new()).unwrap();
        let tally = Shared::<Tally>::zeroed().unwrap();
        let (l, t): (&RLock, &Tally) = (&lock, &tally);
        let (start, mut open) = gate();
        let mut kids: Vec<_> = (0..PROCS)
            .map(|p| {
                let start: Gate = start.try_clone();
                Process::new(move || {
                    start.wait();
                    for i in 0..ROUNDS {
                        // Outer acquisition by every form, in turn.
                        let outer = match (p + i) % 3 {
                            0 => l.lock().unwrap(),
                            1 => loop {
                                match l.try_lock() {
                                    Ok(g) => break g,
                                    Err(TryLockError::WouldBlock) => std::thread::yield_now(),
                                    Err(e) => panic!("try_lock: {e}"),
                                }
                            },
                            _ => loop {
                                match l.lock_timeout(Duration::from_micros(300)) {
                                    Ok(g) => break g,
                                    Err(TryLockError::TimedOut) => {}
                                    Err(e) => panic!("lock_timeout: {e}"),
                                }
                            },
                        };
                        if t.inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            t.overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        // Nested 2 or 3 deep, by the blocking and the
                        // non-blocking forms (both succeed at once here).
                        let second = l.try_lock().expect("re-entrant try_lock");
                        let third = (i % 2 == 0).then(|| l.lock().unwrap());
                        let depth = if third.is_some() { 3 } else { 2 };
                        if l.depth() != depth {
                            t.bad_depth.fetch_add(1, Ordering::SeqCst);
                        }
                        let n = t.total.load(Ordering::Relaxed);
                        std::hint::spin_loop();
                        t.total.store(n + 1, Ordering::Relaxed);
                        drop(third);
                        drop(second);
                        if l.depth() != 1 {
                            t.bad_depth.fetch_add(1, Ordering::SeqCst);
                        }
                        t.inside.fetch_sub(1, Ordering::SeqCst);
                        drop(outer);
                    }
                })
            })
            .collect();
        for k in &mut kids {
            k.start().unwrap();
        }
        open.write_all(&[b'x'; PROCS as usize]).unwrap();
        for (i, k) in kids.iter().enumerate() {
            assert_eq!(join(k), 0, "child {i}");
        }
        assert_eq!(
            tally.overlaps.load(Ordering::SeqCst),
            0,
            "two holders at once"
        );
        assert_eq!(tally.bad_depth.load(Ordering::SeqCst), 0);
        assert_eq!(tally.total.load(Ordering::Relaxed), PROCS * ROUNDS);
        assert_eq!(lock.depth(), 0);
        assert_eq!(lock.holder(), None);
        assert!(lock.is_consistent());
    });
}

#[test]
fn is_reentrant_in_the_holding_process_whatever_the_release_order() {
    let shared = Shared::new(RLock::new()).unwrap();
    let lock: &RLock = &shared;
    let me = process::getpid();
    assert_eq!((lock.holder(), lock.depth()), (None, 0));
    let a = lock.lock().unwrap();
    let b = lock.try_lock().unwrap();
    let c = lock.lock_timeout(Duration::ZERO).unwrap();
    let d = lock.lock_timeout(MUST).unwrap();
    assert_eq!((lock.holder(), lock.depth()), (Some(me), 4));
    // Guards may go in any order: the depth counts down, the lock is free
    // only after the last.
    drop(a);
    assert_eq!((lock.holder(), lock.depth()), (Some(me), 3));
    drop(c);
    drop(b);
    assert_eq!((lock.holder(), lock.depth()), (Some(me), 1));
    drop(d);
    assert_eq!((lock.holder(), lock.depth()), (None, 0));
    assert!(lock.is_consistent());
    assert_eq!(
        format!("{lock:?}"),
        "RLock { holder: None, depth: 0, consistent: true }"
    );
}

#[test]
fn other_processes_are_refused_at_every_depth_until_the_last_release() {
    isolated(|| {
        let shared = Shared::new(RLock::new()).unwrap();
        let lock: &RLock = &shared;
        let me = process::getpid();
        // A child that must be refused by both forms, and sees who holds
        // the lock and how deep.
        let refused = |depth: u32| {
            let mut p = Process::new(move || {
                assert_eq!(lock.holder(), Some(me));
                assert_eq!(lock.depth(), depth);
                assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
                let start = Instant::now();
                let got = lock.lock_timeout(Duration::from_millis(150));
                let waited = start.elapsed();
                assert!(matches!(got, Err(TryLockError::TimedOut)), "{got:?}");
                assert!(waited >= Duration::from_millis(150), "early: {waited:?}");
                assert!(waited < MUST, "took {waited:?}");
                assert!(matches!(
                    lock.lock_timeout(Duration::ZERO),
                    Err(TryLockError::TimedOut)
                ));
            });
            p.start().unwrap();
            assert_eq!(join(&p), 0, "at depth {depth}");
        };
        let a = lock.lock().unwrap();
        refused(1);
        let b = lock.lock().unwrap();
        let c = lock.lock().unwrap();
        refused(3);
        drop(c);
        drop(a);
        refused(1);
        assert_eq!(lock.holder(), Some(me), "the refused children disturbed it");
        drop(b);
        // Free: another process takes it at once, nested too.
        let mut taker = Process::new(move || {
            let x = lock.try_lock().unwrap();
            let y = lock.try_lock().unwrap();
            assert_eq!(lock.depth(), 2);
            assert_eq!(lock.holder(), Some(process::getpid()));
            drop((y, x));
        });
        taker.start().unwrap();
        assert_eq!(join(&taker), 0);
        assert_eq!(lock.holder(), None);
    });
}

#[test]
fn lock_waits_for_the_last_of_the_holders_nested_releases() {
    isolated(|| {
        let shared = Shared::new(RLock::new()).unwrap();
        let released = Shared::new(AtomicU32::new(0)).unwrap();
        let (lock, r): (&RLock, &AtomicU32) = (&shared, &released);
        let (ready, mut ready_tx) = gate();
        let (go, mut go_tx) = gate();
        let mut holder = Process::new(move || {
            let guards = [
                lock.lock().unwrap(),
                lock.lock().unwrap(),
                lock.lock().unwrap(),
            ];
            ready_tx.write_all(b"x").unwrap();
            go.wait();
            for (k, g) in guards.into_iter().enumerate() {
                std::thread::sleep(Duration::from_millis(20));
                r.store(k as u32 + 1, Ordering::Relaxed);
                drop(g);
            }
        });
        holder.start().unwrap();
        ready.wait();
        assert_eq!(lock.depth(), 3);
        go_tx.write_all(b"x").unwrap();
        let g = lock.lock().expect("a clean hand-over");
        assert_eq!(
            released.load(Ordering::Relaxed),
            3,
            "acquired before the holder's last release"
        );
        assert_eq!(lock.holder(), Some(process::getpid()));
        assert_eq!(lock.depth(), 1, "the holder's depth was inherited");
        drop(g);
        assert_eq!(join(&holder), 0);
    });
}

#[test]
fn guards_copied_by_fork_release_nothing_in_the_child() {
    isolated(|| {
        let shared = Shared::new(RLock::new()).unwrap();
        let lock: &RLock = &shared;
        let me = process::getpid();
        let a = lock.lock().unwrap();
        let b = lock.lock().unwrap();
        match process::fork().unwrap() {
            Fork::Child(_) => {
                // The child's copies of both guards: dropping them changes
                // nothing, and the child is not the holder.
                drop(b);
                drop(a);
                let code = if lock.holder() != Some(me) {
                    1
                } else if lock.depth() != 2 {
                    2
                } else if lock.try_lock().is_ok() {
                    3
                } else {
                    0
                };
                process::exit(code);
            }
            Fork::Parent(pid) => {
                assert_eq!(process::waitpid(pid).unwrap(), 0, "see the child's codes");
                assert_eq!(lock.holder(), Some(me));
                assert_eq!(lock.depth(), 2);
                drop(b);
                drop(a);
                assert_eq!(lock.holder(), None);
            }
        }
    });
}

/// A child's body: takes `lock` three deep, leaves `pair` half-updated,
/// says so through `ready`, and holds on until killed.
fn die_holding_nested(lock: &RLock, pair: &[AtomicU32; 2], mut ready: std::io::PipeWriter) -> ! {
    let _a = lock.lock().unwrap_or_else(OwnerDied::into_guard);
    let _b = lock.lock().unwrap();
    let _c = lock.try_lock().unwrap();
    pair[0].fetch_add(1, Ordering::Relaxed);
    ready.write_all(b"x").unwrap();
    loop {
        mproc::signal::pause();
    }
}

#[test]
fn a_holder_killed_while_nested_is_taken_over_once_with_the_depth_reset() {
    isolated(|| {
        let shared = Shared::new(RLock::new()).unwrap();
        let pair_mem = Shared::new([AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
        let (lock, pair): (&RLock, &[AtomicU32; 2]) = (&shared, &pair_mem);
        let (ready, tx) = gate();
        let mut holder = Process::new(move || die_holding_nested(lock, pair, tx));
        holder.start().unwrap();
        ready.wait();
        let dead = holder.pid().unwrap();
        assert_eq!((lock.holder(), lock.depth()), (Some(dead), 3));
        holder.kill().unwrap();
        assert_eq!(holder.join().unwrap(), -9);
        assert!(lock.is_consistent(), "nobody has looked yet");

        let me = process::getpid();
        let died = lock.lock().expect_err("its holder died holding it");
        assert_eq!(died.pid(), Some(dead));
        assert!(died.to_string().contains(&dead.to_string()), "{died}");
        let outer = died.into_guard();
        assert_eq!((lock.holder(), lock.depth()), (Some(me), 1));
        assert!(!lock.is_consistent());
        // Re-entrant for the new holder, and the dead one's levels are gone.
        let inner = lock.lock().expect("re-entrant after the take-over");
        assert_eq!(lock.depth(), 2);
        pair[1].store(pair[0].load(Ordering::Relaxed), Ordering::Relaxed);
        inner.mark_consistent();
        assert!(lock.is_consistent());
        drop(inner);
        assert_eq!((lock.holder(), lock.depth()), (Some(me), 1));
        drop(outer);
        assert_eq!((lock.holder(), lock.depth()), (None, 0));

        // Told once, in this process and in others.
        drop(lock.lock().expect("a clean lock after the take-over"));
        let mut other = Process::new(move || {
            let g = lock.lock().expect("clean in another process too");
            assert_eq!(pair[1].load(Ordering::Relaxed), 1, "the repair is not seen");
            drop(g);
        });
        other.start().unwrap();
        assert_eq!(join(&other), 0);
        assert!(lock.is_consistent());
    });
}

#[test]
fn try_lock_and_lock_timeout_take_over_from_a_killed_nested_holder() {
    isolated(|| {
        for form in ["try_lock", "lock_timeout", "lock_timeout(0)"] {
            let shared = Shared::new(RLock::new()).unwrap();
            let pair_mem = Shared::new([AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
            let (lock, pair): (&RLock, &[AtomicU32; 2]) = (&shared, &pair_mem);
            let (ready, tx) = gate();
            let mut holder = Process::new(move || die_holding_nested(lock, pair, tx));
            holder.start().unwrap();
            ready.wait();
            let dead = holder.pid().unwrap();
            holder.kill().unwrap();
            assert_eq!(holder.join().unwrap(), -9);
            let got = match form {
                "try_lock" => lock.try_lock(),
                "lock_timeout" => lock.lock_timeout(MUST),
                _ => lock.lock_timeout(Duration::ZERO),
            };
            match got {
                Err(TryLockError::OwnerDied(died)) => {
                    assert_eq!(died.pid(), Some(dead), "{form}");
                    assert_eq!(lock.depth(), 1, "{form}");
                    assert_eq!(lock.holder(), Some(process::getpid()), "{form}");
                    died.guard().mark_consistent();
                }
                other => panic!("{form}: expected OwnerDied, got {other:?}"),
            }
            assert_eq!(lock.holder(), None, "{form}: the guard did not release");
            drop(lock.try_lock().expect("clean after the take-over"));
        }
    });
}

#[test]
fn of_two_parked_waiters_exactly_one_is_told_the_nested_holder_died() {
    isolated(|| {
        let shared = Shared::new(RLock::new()).unwrap();
        let pair_mem = Shared::new([AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
        let (lock, pair): (&RLock, &[AtomicU32; 2]) = (&shared, &pair_mem);
        let (ready, tx) = gate();
        let mut holder = Process::new(move || die_holding_nested(lock, pair, tx));
        holder.start().unwrap();
        ready.wait();
        let dead = holder.pid().unwrap();
        // Exit codes: 10 clean, 20 told OwnerDied (then repaired), others
        // name what was wrong.
        let mut waiters: Vec<_> = (0..2)
            .map(|_| {
                Process::new(move || {
                    let code = match lock.lock() {
                        Ok(g) => {
                            let ok = lock.is_consistent() && lock.depth() == 1;
                            drop(g);
                            if ok { 10 } else { 11 }
                        }
                        Err(died) => {
                            let g = died.guard();
                            let ok = died.pid() == Some(dead)
                                && !lock.is_consistent()
                                && lock.depth() == 1;
                            pair[1].store(pair[0].load(Ordering::Relaxed), Ordering::Relaxed);
                            g.mark_consistent();
                            drop(died);
                            if ok { 20 } else { 21 }
                        }
                    };
                    process::exit(code);
                })
            })
            .collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        for w in &waiters {
            let pid = w.pid().unwrap().as_raw();
            assert!(
                eventually(MUST, || proc_state(pid) == Some('S')),
                "not parked"
            );
        }
        for w in &waiters {
            assert_eq!(w.join_timeout(MUST_NOT).unwrap(), None, "got a held lock");
        }
        holder.kill().unwrap();
        assert_eq!(holder.join().unwrap(), -9);
        let mut codes = [join(&waiters[0]), join(&waiters[1])];
        codes.sort_unstable();
        assert_eq!(
            codes,
            [10, 20],
            "exactly one is told, and the other is clean"
        );
        assert_eq!((lock.holder(), lock.depth()), (None, 0));
        assert!(lock.is_consistent());
        assert_eq!(pair[1].load(Ordering::Relaxed), 1);
    });
}

#[test]
fn a_holder_killed_mid_update_under_contention_the_others_finish_exact() {
    isolated(|| {
        const WORKERS: usize = 4;
        /// The victim's updates before it stops half-way through one.
        const VICTIM_UPDATES: u64 = 100;
        const TARGET: u64 = 300;
        #[repr(C)]
        struct Books {
            /// Updated in two halves under the lock: `a` first, then `b`.
            a: AtomicU64,
            b: AtomicU64,
            /// Each worker's finished updates (written under the lock).
            share: [AtomicU64; WORKERS],
            told: AtomicU32,
            victim_parked: AtomicU32,
        }
        // SAFETY: repr(C) of atomics: no pointers, no drop glue, every bit
        // pattern valid, mutated only atomically.
        unsafe impl mproc::shm::Shareable for Books {}
        let shared = Shared::new(RLock::new()).unwrap();
        let books = Shared::<Books>::zeroed().unwrap();
        let (lock, k): (&RLock, &Books) = (&shared, &books);
        let (start, mut open) = gate();
        let mut workers: Vec<_> = (0..WORKERS)
            .map(|i| {
                let start: Gate = start.try_clone();
                Process::new(move || {
                    start.wait();
                    loop {
                        let outer = match lock.lock() {
                            Ok(g) => g,
                            Err(died) => {
                                // Roll the half-done update back.
                                k.told.fetch_add(1, Ordering::SeqCst);
                                k.a.store(k.b.load(Ordering::Relaxed), Ordering::Relaxed);
                                died.guard().mark_consistent();
                                died.into_guard()
                            }
                        };
                        let mine = k.share[i].load(Ordering::Relaxed);
                        if i != 0 && mine == TARGET {
                            // Done, once the victim's death has been dealt
                            // with (until then keep taking the lock).
                            if k.told.load(Ordering::SeqCst) != 0 {
                                return;
                            }
                            drop(outer);
                            std::thread::yield_now();
                            continue;
                        }
                        let inner = lock.lock().unwrap();
                        k.a.store(k.a.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                        if i == 0 && mine == VICTIM_UPDATES {
                            k.victim_parked.store(1, Ordering::SeqCst);
                            loop {
                                mproc::signal::pause();
                            }
                        }
                        k.b.store(k.b.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                        k.share[i].store(mine + 1, Ordering::Relaxed);
                        drop(inner);
                        drop(outer);
                    }
                })
            })
            .collect();
        for w in &mut workers {
            w.start().unwrap();
        }
        open.write_all(&[b'x'; WORKERS]).unwrap();
        assert!(eventually(MUST, || books
            .victim_parked
            .load(Ordering::SeqCst)
            == 1));
        assert_eq!(lock.holder(), workers[0].pid());
        assert_eq!(lock.depth(), 2);
        workers[0].kill().unwrap();
        assert_eq!(workers[0].join().unwrap(), -9);
        for (i, w) in workers.iter().enumerate().skip(1) {
            assert_eq!(join(w), 0, "worker {i}");
        }
        let g = lock.lock().expect("released cleanly by the last worker");
        assert_eq!(books.told.load(Ordering::SeqCst), 1, "OwnerDied told once");
        assert!(lock.is_consistent());
        let shares: Vec<u64> = books
            .share
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect();
        assert_eq!(shares[0], VICTIM_UPDATES);
        assert!(shares[1..].iter().all(|&s| s == TARGET), "{shares:?}");
        let sum: u64 = shares.iter().sum();
        assert_eq!(
            books.a.load(Ordering::Relaxed),
            sum,
            "a lost or doubled update"
        );
        assert_eq!(books.b.load(Ordering::Relaxed), sum);
        drop(g);
    });
}
