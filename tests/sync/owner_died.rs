//! A holder that dies holding the lock: the next taker gets the lock with
//! `OwnerDied` (once), naming the dead pid, and the lock reads inconsistent
//! until a guard marks it repaired.

use std::io::Write as _;
use std::os::fd::AsRawFd as _;
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::shm::{Array, Shared, Value};
use mproc::signal;
use mproc::sync::{Lock, OwnerDied, TryLockError};

use crate::common::{eventually, gate, isolated, proc_state, under_qemu};
use crate::hold_until_killed;

/// What `holder()` says right after a main-thread holder `dead` died:
/// nobody (the kernel marked the word through the robust list), or, under
/// qemu-user, which has no robust lists, still the dead pid until a waiter
/// takes over.
fn holder_after_death(dead: mproc::Pid) -> Option<mproc::Pid> {
    if under_qemu() { Some(dead) } else { None }
}

/// Waits, without reaping it, until the started process `p` has ended
/// (its pidfd sentinel turns readable): it is then a zombie.
fn wait_ended_unreaped<F>(p: &Process<F>) {
    let mut pfd = libc::pollfd {
        fd: p.sentinel().unwrap().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut pfd, 1, 20_000) };
    assert_eq!(ready, 1, "it did not end");
}

#[test]
fn lock_after_a_killed_and_reaped_holder_reports_owner_died_once() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        assert_eq!(lock.holder(), Some(dead));
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        // The kernel marked the word at the death (it names the dead holder
        // under qemu until someone takes over).
        assert_eq!(lock.holder(), holder_after_death(dead));
        assert!(lock.is_consistent(), "nobody has taken it over yet");

        let died = lock.lock().expect_err("the holder died holding it");
        assert_eq!(died.pid(), Some(dead));
        assert!(died.to_string().contains(&dead.to_string()), "{died}");
        assert_eq!(
            format!("{died:?}"),
            format!("OwnerDied {{ pid: Some({dead:?}) }}")
        );
        let guard = died.into_guard();
        let me = process::getpid();
        assert!(lock.is_locked());
        assert_eq!(lock.holder(), Some(me), "the guard does not hold the lock");
        assert!(!lock.is_consistent());
        guard.mark_consistent();
        assert!(lock.is_consistent());
        drop(guard);
        assert!(!lock.is_locked());

        // Reported once: the next taker gets a plain lock.
        let again = lock.lock().expect("a clean lock after the take-over");
        assert_eq!(lock.holder(), Some(me));
        drop(again);
        assert!(lock.is_consistent());
    });
}

#[test]
fn inconsistent_until_marked_even_across_releases() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        // Taken over and released without a repair...
        drop(lock.lock().expect_err("owner died").into_guard());
        assert!(!lock.is_consistent());
        // ...the next lock is clean (told once) but the state still says
        // nobody repaired it.
        let g = lock.lock().expect("reported only once");
        assert!(!lock.is_consistent());
        g.mark_consistent();
        drop(g);
        assert!(lock.is_consistent());
    });
}

#[test]
fn lock_detects_a_killed_holder_that_is_still_a_zombie() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        p.kill().unwrap();
        wait_ended_unreaped(&p);
        assert_eq!(proc_state(dead.as_raw()), Some('Z'));

        let died = lock.lock().expect_err("a zombie holder is dead");
        assert_eq!(died.pid(), Some(dead));
        assert_eq!(
            proc_state(dead.as_raw()),
            Some('Z'),
            "the lock reaped the zombie"
        );
        drop(died.into_guard());
        assert_eq!(p.join().unwrap(), -9);
    });
}

#[test]
fn lock_timeout_detects_a_zombie_holder() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        p.kill().unwrap();
        wait_ended_unreaped(&p);
        match lock.lock_timeout(Duration::from_secs(20)) {
            Err(TryLockError::OwnerDied(died)) => {
                assert_eq!(died.pid(), Some(dead));
                let g = died.into_guard();
                assert!(!lock.is_consistent());
                g.mark_consistent();
            }
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        assert_eq!(p.join().unwrap(), -9);
        drop(lock.try_lock().expect("released"));
    });
}

#[test]
fn try_lock_after_the_holder_was_killed_and_reaped_reports_owner_died() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        let err = lock.try_lock().expect_err("taken over from a dead holder");
        assert!(err.to_string().contains(&dead.to_string()), "{err}");
        let TryLockError::OwnerDied(died) = err else {
            panic!("expected OwnerDied, got {err:?}");
        };
        assert_eq!(died.pid(), Some(dead));
        assert_eq!(lock.holder(), Some(process::getpid()));
        assert!(!lock.is_consistent());
        died.guard().mark_consistent();
        drop(died);
        assert!(!lock.is_locked());
        drop(lock.try_lock().expect("clean after the take-over"));
    });
}

#[test]
fn try_lock_leaves_a_zombie_holder_to_the_waiting_forms() {
    // Documented: where the kernel does not mark the word (qemu-user), the
    // non-blocking form only sees a holder whose pid is gone; an unreaped
    // (zombie) holder is found by `lock`/`lock_timeout`.
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        p.kill().unwrap();
        wait_ended_unreaped(&p);
        if !under_qemu() {
            // The kernel marked the word when the holder died, zombie or
            // not: the cheap look sees that.
            match lock.try_lock() {
                Err(TryLockError::OwnerDied(died)) => assert_eq!(died.pid(), Some(dead)),
                other => panic!("not OwnerDied: {other:?}"),
            }
            assert_eq!(p.join().unwrap(), -9);
            return;
        }
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        assert_eq!(lock.holder(), Some(dead));
        assert_eq!(p.join().unwrap(), -9);
        // Reaped now: the cheap look finds it.
        assert!(matches!(lock.try_lock(), Err(TryLockError::OwnerDied(_))));
    });
}

#[test]
fn lock_timeout_zero_reports_a_reaped_dead_holder_like_try_lock() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        // The holder's pid no longer exists: try_lock would take it over
        // at once; a timed acquisition with no time left must not do less.
        match lock.lock_timeout(Duration::ZERO) {
            Err(TryLockError::OwnerDied(died)) => assert_eq!(died.pid(), Some(dead)),
            other => panic!("expected OwnerDied from pid {dead}, got {other:?}"),
        }
    });
}

#[test]
fn a_parked_waiter_takes_over_from_a_holder_killed_meanwhile() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut holder = Process::new(move || hold_until_killed(lock, tx));
        holder.start().unwrap();
        ready.wait();
        let dead = holder.pid().unwrap();

        let (waiting, mut waiting_tx) = gate();
        let mut waiter = Process::new(move || {
            waiting_tx.write_all(b"x").unwrap();
            let code = match lock.lock() {
                Ok(_) => 2,
                Err(died) => {
                    let guard = died.guard();
                    let code = if died.pid() != Some(dead) {
                        3
                    } else if lock.holder() != Some(process::getpid()) {
                        4
                    } else if lock.is_consistent() {
                        5
                    } else {
                        0
                    };
                    guard.mark_consistent();
                    code
                } // guard dropped here: released before exit
            };
            process::exit(code);
        });
        waiter.start().unwrap();
        waiting.wait();
        let w = waiter.pid().unwrap().as_raw();
        // Past its spin and yield phase it sleeps on the futex.
        assert!(eventually(Duration::from_secs(10), || proc_state(w) == Some('S')));
        assert_eq!(
            waiter.join_timeout(Duration::from_millis(20)).unwrap(),
            None
        );

        holder.kill().unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            0,
            "waiter: 2 clean lock, 3 wrong pid, 4 not the holder, 5 consistent"
        );
        assert_eq!(holder.join().unwrap(), -9);
        assert!(lock.is_consistent());
        drop(lock.lock().expect("released clean by the waiter"));
    });
}

#[test]
fn of_two_waiters_exactly_one_is_told_the_owner_died() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut holder = Process::new(move || hold_until_killed(lock, tx));
        holder.start().unwrap();
        ready.wait();
        let dead = holder.pid().unwrap();

        let (waiting, waiting_tx) = gate();
        let waiting_tx = &waiting_tx;
        let waiter = move || {
            let mut tx = waiting_tx.try_clone().unwrap();
            tx.write_all(b"x").unwrap();
            let code = match lock.lock() {
                Ok(_) => 20,
                Err(died) if died.pid() == Some(dead) => 10,
                Err(_) => 3,
            };
            process::exit(code);
        };
        let mut a = Process::new(waiter);
        let mut b = Process::new(waiter);
        a.start().unwrap();
        b.start().unwrap();
        let also = waiting.try_clone();
        waiting.wait();
        also.wait();
        for p in [&a, &b] {
            let pid = p.pid().unwrap().as_raw();
            assert!(eventually(Duration::from_secs(10), || proc_state(pid) == Some('S')));
        }
        holder.kill().unwrap();
        let mut codes = [a.join().unwrap(), b.join().unwrap()];
        codes.sort_unstable();
        assert_eq!(codes, [10, 20], "10: told OwnerDied, 20: clean lock");
        assert_eq!(holder.join().unwrap(), -9);
        assert!(!lock.is_consistent(), "nobody marked it repaired");
    });
}

#[test]
fn a_holder_that_exits_without_dropping_its_guard_counts_as_dead() {
    // `process::exit` runs no destructors (documented): the guard is never
    // released.
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let mut p = Process::new(move || {
            let _held = lock.lock().unwrap();
            process::exit(0);
        });
        p.start().unwrap();
        let pid = p.pid().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(lock.holder(), holder_after_death(pid));
        let died = lock.lock().expect_err("exited holding it");
        assert_eq!(died.pid(), Some(pid));
    });
}

#[test]
fn a_holder_whose_target_panics_releases_on_unwind() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let mut p = Process::new(move || {
            let _held = lock.lock().unwrap();
            panic!("expected panic in a child holding the lock");
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 1);
        assert!(!lock.is_locked(), "the unwind did not release it");
        drop(lock.lock().expect("released cleanly by the unwind"));
        assert!(lock.is_consistent());
    });
}

#[test]
fn a_value_holder_killed_mid_section() {
    isolated(|| {
        let v = Value::new(0i64).unwrap();
        let (ready, mut tx) = gate();
        let mut p = Process::new(|| {
            let mut g = v.lock().unwrap();
            *g = 41; // half-way through an update
            tx.write_all(b"x").unwrap();
            loop {
                signal::pause();
            }
        });
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);

        // (ValueGuard is not Debug, so no expect_err here.)
        let Err(died) = v.lock() else {
            panic!("expected OwnerDied from the value's dead holder");
        };
        assert_eq!(died.pid(), Some(dead));
        let mut g = died.into_guard();
        assert_eq!(*g, 41, "what the dead holder wrote");
        assert!(!g.lock_guard().lock().is_consistent());
        *g += 1; // repair
        g.lock_guard().mark_consistent();
        drop(g);

        assert_eq!(v.get(), 42);
        v.set(43);
        assert_eq!(v.get(), 43);
        assert!(v.get_lock().is_consistent());
        assert!(v.lock().is_ok());
    });
}

#[test]
fn value_get_and_set_go_ahead_past_a_dead_holder() {
    isolated(|| {
        let v = Value::new(1u32).unwrap();
        let (ready, tx) = gate();
        let lock = v.get_lock();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        assert_eq!(v.get(), 1);
        v.set(2);
        assert_eq!(v.get(), 2);
        // They took it over silently and leave the flag for whoever checks.
        assert!(!v.get_lock().is_consistent());
        let g = v.lock().expect("the take-over was already done by get");
        g.lock_guard().mark_consistent();
        drop(g);
        assert!(v.get_lock().is_consistent());
    });
}

#[test]
fn an_array_holder_killed_mid_section() {
    isolated(|| {
        let arr = Array::<u8, 4>::new([1, 2, 3, 4]).unwrap();
        let (ready, mut tx) = gate();
        let mut p = Process::new(|| {
            let mut a = arr.lock().unwrap();
            a[0] = 100;
            tx.write_all(b"x").unwrap();
            loop {
                signal::pause();
            }
        });
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        match arr.lock() {
            Err(died) => {
                assert_eq!(died.pid(), Some(dead));
                let mut a = died.into_guard();
                assert_eq!(*a, [100, 2, 3, 4]);
                a[0] = 1;
                a.lock_guard().mark_consistent();
            }
            Ok(_) => panic!("expected OwnerDied"),
        }
        assert_eq!(arr.to_array(), [1, 2, 3, 4]);
        arr.set(3, 9).unwrap();
        assert_eq!(arr.get(3), Some(9));
    });
}

#[test]
fn unwrap_or_else_into_guard_carries_on_past_a_dead_holder() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        // The documented idiom: carry on with the guard either way.
        let g = lock.lock().unwrap_or_else(OwnerDied::into_guard);
        assert_eq!(lock.holder(), Some(process::getpid()));
        assert!(!lock.is_consistent());
        drop(g);
        assert!(!lock.is_locked());
    });
}

#[test]
fn a_contended_counter_survives_a_worker_killed_mid_update() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const WORKERS: usize = 4;
    /// The victim's updates before it stops half-way through one.
    const VICTIM_UPDATES: u64 = 200;
    isolated(|| {
        // [0]: the total; [1 + i]: worker i's share. An update writes the
        // total first; the victim stops (holding the lock) between the two
        // writes and is killed there, and whichever worker is told
        // OwnerDied repairs the total from the shares.
        let arr = Array::<u64, { WORKERS + 1 }>::new([0; WORKERS + 1]).unwrap();
        // Read by the parent without taking the lock: [i] mirrors worker
        // i's share, [WORKERS] is "stop", [WORKERS + 1] counts OwnerDied,
        // [WORKERS + 2] is set by the victim once it holds the lock for good.
        let atomics = Shared::<[AtomicU64; WORKERS + 3]>::zeroed().unwrap();
        let (arr_ref, a): (_, &[AtomicU64; WORKERS + 3]) = (&arr, &atomics);
        let (stop, told, parked) = (&a[WORKERS], &a[WORKERS + 1], &a[WORKERS + 2]);
        let (start, mut open) = gate();
        let mut workers: Vec<_> = (0..WORKERS)
            .map(|i| {
                let start = start.try_clone();
                Process::new(move || {
                    start.wait();
                    while stop.load(Ordering::Relaxed) == 0 {
                        let mut g = match arr_ref.lock() {
                            Ok(g) => g,
                            Err(died) => {
                                told.fetch_add(1, Ordering::SeqCst);
                                let mut g = died.into_guard();
                                g[0] = g[1..].iter().sum();
                                g.lock_guard().mark_consistent();
                                g
                            }
                        };
                        g[0] += 1;
                        if i == 0 && g[1] == VICTIM_UPDATES {
                            parked.store(1, Ordering::SeqCst);
                            loop {
                                signal::pause();
                            }
                        }
                        g[1 + i] += 1;
                        a[i].store(g[1 + i], Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in &mut workers {
            w.start().unwrap();
        }
        open.write_all(&[b'x'; WORKERS]).unwrap();
        let victim = workers[0].pid().unwrap();
        assert!(eventually(Duration::from_secs(20), || {
            parked.load(Ordering::SeqCst) == 1
        }));
        assert_eq!(arr.get_lock().holder(), Some(victim));
        let at_kill: [u64; WORKERS] = std::array::from_fn(|i| a[i].load(Ordering::Relaxed));
        workers[0].kill().unwrap();
        assert_eq!(workers[0].join().unwrap(), -9);
        // The others go on past the dead one.
        assert!(
            eventually(Duration::from_secs(20), || {
                (1..WORKERS).all(|i| a[i].load(Ordering::Relaxed) >= at_kill[i] + 200)
            }),
            "no progress after the kill (shares at the kill: {at_kill:?})"
        );
        stop.store(1, Ordering::Relaxed);
        for (i, w) in workers.iter().enumerate().skip(1) {
            assert_eq!(w.join().unwrap(), 0, "worker {i}");
        }
        assert_eq!(told.load(Ordering::SeqCst), 1, "OwnerDied told once");
        let g = arr
            .lock()
            .expect("the repairing worker released it cleanly");
        assert!(arr.get_lock().is_consistent());
        assert_eq!(g[1], VICTIM_UPDATES);
        assert_eq!(g[0], g[1..].iter().sum::<u64>(), "not repaired: {:?}", *g);
    });
}
