//! The kernel's robust-futex list: a lock held by a process's main thread
//! is marked by the kernel when the process dies (its word no longer names
//! the dead pid, and the next taker is told `OwnerDied` with that pid, zombie
//! or not), whatever order the locks were taken and released in, beyond the
//! 16 a thread can put on the list (the rest are found by a waiter's look),
//! and for a lock held by another thread (found by a waiter's look).
//! qemu-user has no robust lists: the kernel's part is skipped there.

use std::io::Write as _;

use mproc::process::Process;
use mproc::shm::Shared;
use mproc::sync::{Lock, RLock, TryLockError};

use crate::common::{Gate, gate, isolated, under_qemu};
use crate::{MUST, join};

/// In a child: says it is ready, then waits to be killed, its guards held.
fn ready_then_pause(mut tx: std::io::PipeWriter) -> ! {
    tx.write_all(b"x").unwrap();
    loop {
        mproc::signal::pause();
    }
}

/// Starts `p`, waits until it is ready, SIGKILLs and reaps it; its pid.
fn start_then_kill<F: FnOnce()>(p: &mut Process<F>, ready: Gate) -> mproc::Pid {
    p.start().unwrap();
    ready.wait();
    let dead = p.pid().unwrap();
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), -9);
    dead
}

/// `try_lock` reports `OwnerDied` naming `dead`.
fn told_dead(lock: &Lock, dead: mproc::Pid) {
    match lock.try_lock() {
        Err(TryLockError::OwnerDied(died)) => assert_eq!(died.pid(), Some(dead)),
        other => panic!("not OwnerDied: {other:?}"),
    }
}

#[test]
fn the_kernel_marks_the_locks_a_killed_main_thread_held_in_any_order() {
    if under_qemu() {
        eprintln!("skipped: qemu-user has no robust futex lists");
        return;
    }
    isolated(|| {
        let locks = Shared::new([const { Lock::new() }; 5]).unwrap();
        let rlock = Shared::new(RLock::new()).unwrap();
        let (l, r): (&[Lock; 5], &RLock) = (&locks, &rlock);
        let (ready, tx) = gate();
        let mut p = Process::new(move || {
            // Taken 0..4, released out of order (the middle, the oldest),
            // taken again: held at the end 1, 3, 4 and the RLock (twice).
            let g: Vec<_> = l[..4].iter().map(|x| x.lock().unwrap()).collect();
            let mut g: Vec<_> = g.into_iter().map(Some).collect();
            g[2] = None;
            g[0] = None;
            let _r1 = r.lock().unwrap();
            let _r2 = r.lock().unwrap();
            let _four = l[4].lock().unwrap();
            g[2] = Some(l[2].lock().unwrap());
            g[2] = None;
            ready_then_pause(tx);
        });
        let dead = start_then_kill(&mut p, ready);
        // Marked at the death: no word names the dead pid any more.
        for (i, lock) in l.iter().enumerate() {
            assert_eq!(lock.holder(), None, "lock {i}");
        }
        assert_eq!(rlock.holder(), None);
        for i in [1, 3, 4] {
            told_dead(&l[i], dead);
        }
        for i in [0, 2] {
            drop(l[i].try_lock().expect("released before the death"));
        }
        let died = rlock.try_lock().expect_err("held at the death");
        assert!(matches!(died, TryLockError::OwnerDied(ref d) if d.pid() == Some(dead)));
    });
}

#[test]
fn locks_beyond_the_lists_room_are_still_taken_over() {
    // 20 locks held by one main thread: 16 go on its list, the other 4 are
    // found dead by the taker's look; every one is told OwnerDied once.
    isolated(|| {
        const N: usize = 20;
        let locks = Shared::new([const { Lock::new() }; N]).unwrap();
        let l: &[Lock; N] = &locks;
        let (ready, tx) = gate();
        let mut p = Process::new(move || {
            let _held: Vec<_> = l.iter().map(|x| x.lock().unwrap()).collect();
            ready_then_pause(tx);
        });
        let dead = start_then_kill(&mut p, ready);
        let marked = l.iter().filter(|x| x.holder().is_none()).count();
        if !under_qemu() {
            assert_eq!(marked, 16, "the list holds 16 entries");
        }
        for lock in l {
            let died = lock.lock().expect_err("held at the death");
            assert_eq!(died.pid(), Some(dead));
        }
    });
}

#[test]
fn a_lock_held_by_another_thread_of_a_killed_process_is_taken_over() {
    // Not the main thread: not on a robust list (the word holds the pid,
    // which is the main thread's id); a waiter's look finds the holder dead.
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || {
            std::thread::scope(|scope| {
                scope.spawn(move || {
                    let mut tx = tx;
                    let _held = lock.lock().unwrap();
                    tx.write_all(b"x").unwrap();
                    loop {
                        mproc::signal::pause();
                    }
                });
            });
        });
        p.start().unwrap();
        ready.wait();
        let dead = p.pid().unwrap();
        assert_eq!(lock.holder(), Some(dead));
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        let died = lock.lock_timeout(MUST).expect_err("held at the death");
        assert!(matches!(died, TryLockError::OwnerDied(ref d) if d.pid() == Some(dead)));
    });
}

#[test]
fn a_waiter_parked_on_a_killed_holder_is_told_once_and_the_others_go_on() {
    // Three waiters parked on a holder that is killed: exactly one is told
    // OwnerDied, all get the lock in turn.
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let count = Shared::new(std::sync::atomic::AtomicU32::new(0)).unwrap();
        let (lock, told): (&Lock, &std::sync::atomic::AtomicU32) = (&shared, &count);
        let (ready, tx) = gate();
        let mut holder = Process::new(move || crate::hold_until_killed(lock, tx));
        holder.start().unwrap();
        ready.wait();
        let mut waiters: Vec<_> = (0..3)
            .map(|_| {
                Process::new(move || match lock.lock() {
                    Ok(g) => drop(g),
                    Err(died) => {
                        told.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        died.into_guard().mark_consistent();
                    }
                })
            })
            .collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        for w in &waiters {
            let pid = w.pid().unwrap().as_raw();
            assert!(crate::common::eventually(MUST, || {
                crate::common::proc_state(pid) == Some('S')
            }));
        }
        holder.kill().unwrap();
        for w in &waiters {
            assert_eq!(join(w), 0);
        }
        assert_eq!(holder.join().unwrap(), -9);
        assert_eq!(told.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(lock.is_consistent());
    });
}

#[test]
fn a_leaked_guard_whose_lock_memory_is_gone_breaks_nothing() {
    // A guard leaked with mem::forget keeps its lock on the thread's list;
    // its memory is then unmapped. Later locks, released out of order, are
    // still linked and unlinked without touching that memory, and the one
    // held at the death is marked by the kernel.
    isolated(|| {
        let late = Shared::new([const { Lock::new() }; 3]).unwrap();
        let l: &[Lock; 3] = &late;
        let (ready, tx) = gate();
        let mut p = Process::new(move || {
            let gone = Shared::new([const { Lock::new() }; 2]).unwrap();
            std::mem::forget(gone[0].lock().unwrap());
            let b = gone[1].lock().unwrap();
            drop(b);
            drop(gone); // unmapped with a lock still on the list
            for _ in 0..3 {
                let a = l[0].lock().unwrap();
                let b = l[1].lock().unwrap();
                drop(a); // out of order: unlinked from behind b
                let c = l[2].lock().unwrap();
                drop(b);
                drop(c);
            }
            let _held = l[1].lock().unwrap();
            ready_then_pause(tx);
        });
        let dead = start_then_kill(&mut p, ready);
        if !under_qemu() {
            assert_eq!(l[1].holder(), None, "not marked by the kernel");
        }
        told_dead(&l[1], dead);
        for i in [0, 2] {
            drop(l[i].try_lock().expect("released before the death"));
        }
    });
}
