//! `Lock` between live processes: the non-blocking and timed forms, who
//! holds it, waiting for a release, and guards copied by fork.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mproc::process::{self, Fork, Process};
use mproc::shm::Shared;
use mproc::sync::{Lock, TryLockError};

use crate::common::{gate, isolated};

#[test]
fn one_process_locks_and_unlocks() {
    let shared = Shared::new(Lock::new()).unwrap();
    let lock: &Lock = &shared;
    let me = process::getpid();
    assert!(!lock.is_locked());
    assert_eq!(lock.holder(), None);
    assert!(lock.is_consistent());
    {
        let g = lock.lock().unwrap();
        assert!(lock.is_locked());
        assert_eq!(lock.holder(), Some(me));
        assert!(std::ptr::eq(g.lock(), lock));
        // Not recursive: the holder's own try is refused...
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        // ...and so is its own timed wait.
        let t = Instant::now();
        assert!(matches!(
            lock.lock_timeout(Duration::from_millis(20)),
            Err(TryLockError::TimedOut)
        ));
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert!(matches!(
            lock.lock_timeout(Duration::ZERO),
            Err(TryLockError::TimedOut)
        ));
        assert_eq!(lock.holder(), Some(me), "a failed try changed the holder");
    }
    assert!(!lock.is_locked());
    drop(lock.try_lock().unwrap());
    drop(lock.lock_timeout(Duration::ZERO).unwrap());
    // A timeout too far away to be a deadline means "no limit".
    drop(lock.lock_timeout(Duration::MAX).unwrap());
    assert!(!lock.is_locked());
    assert!(lock.is_consistent());
}

#[test]
fn errors_and_lock_format_readably() {
    let shared = Shared::new(Lock::default()).unwrap();
    assert_eq!(
        format!("{:?}", *shared),
        "Lock { holder: None, consistent: true }"
    );
    let g = shared.lock().unwrap();
    let me = process::getpid();
    assert_eq!(
        format!("{:?}", *shared),
        format!("Lock {{ holder: Some({me:?}), consistent: true }}")
    );
    let would_block = shared.try_lock().unwrap_err();
    assert_eq!(format!("{would_block:?}"), "WouldBlock");
    assert_eq!(would_block.to_string(), "the lock is held by someone else");
    assert!(would_block.into_guard().is_none());
    let timed_out = shared.lock_timeout(Duration::from_millis(1)).unwrap_err();
    assert_eq!(format!("{timed_out:?}"), "TimedOut");
    assert_eq!(timed_out.to_string(), "timed out waiting for the lock");
    drop(g);
}

#[test]
fn try_lock_would_block_while_a_child_holds_it_and_holder_names_the_child() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, mut ready_tx) = gate();
        let (release, mut release_tx) = gate();
        let mut p = Process::new(move || {
            let g = lock.lock().unwrap();
            ready_tx.write_all(b"x").unwrap();
            release.wait();
            drop(g);
        });
        p.start().unwrap();
        ready.wait();
        let child = p.pid().unwrap();
        assert!(lock.is_locked());
        assert_eq!(lock.holder(), Some(child));
        for _ in 0..3 {
            assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        }
        assert_eq!(lock.holder(), Some(child), "try_lock disturbed the holder");
        assert!(lock.is_consistent());
        release_tx.write_all(b"x").unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert!(!lock.is_locked());
        assert_eq!(lock.holder(), None);
        drop(lock.try_lock().expect("free after the child released it"));
    });
}

#[test]
fn lock_timeout_times_out_while_a_child_holds_it() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, mut ready_tx) = gate();
        let (release, mut release_tx) = gate();
        let mut p = Process::new(move || {
            let g = lock.lock().unwrap();
            ready_tx.write_all(b"x").unwrap();
            release.wait();
            drop(g);
        });
        p.start().unwrap();
        ready.wait();
        for timeout in [Duration::from_millis(50), Duration::from_millis(120)] {
            let t = Instant::now();
            let got = lock.lock_timeout(timeout);
            let waited = t.elapsed();
            assert!(matches!(got, Err(TryLockError::TimedOut)), "{got:?}");
            assert!(waited >= timeout, "gave up early: {waited:?} < {timeout:?}");
            assert!(waited < Duration::from_secs(5), "took {waited:?}");
        }
        assert_eq!(lock.holder(), p.pid());
        release_tx.write_all(b"x").unwrap();
        // Now released while we wait (or before): acquired well in time.
        let g = lock.lock_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(lock.holder(), Some(process::getpid()));
        drop(g);
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn lock_waits_until_the_child_releases_and_sees_its_writes() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let data = Shared::new(AtomicU32::new(0)).unwrap();
        let (lock, d): (&Lock, &AtomicU32) = (&shared, &data);
        let (ready, mut ready_tx) = gate();
        let (go, mut go_tx) = gate();
        let mut p = Process::new(move || {
            let g = lock.lock().unwrap();
            ready_tx.write_all(b"x").unwrap();
            go.wait();
            // Hold it a while, then publish under the lock.
            std::thread::sleep(Duration::from_millis(60));
            d.store(1, Ordering::Relaxed);
            drop(g);
        });
        p.start().unwrap();
        ready.wait();
        let t = Instant::now();
        go_tx.write_all(b"x").unwrap();
        let g = lock.lock().unwrap();
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(60),
            "acquired while the child still held it: {waited:?}"
        );
        assert_eq!(
            d.load(Ordering::Relaxed),
            1,
            "the child's write is not seen"
        );
        assert!(lock.is_consistent());
        drop(g);
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn a_guard_forked_into_a_child_does_not_release_the_parents_lock() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let me = process::getpid();
        let g = lock.lock().unwrap();
        match process::fork().unwrap() {
            Fork::Child(_) => {
                // This process's copy of the guard: dropping it releases
                // nothing, and the child cannot take the parent's lock.
                drop(g);
                let code = if lock.holder() != Some(me) {
                    1
                } else if lock.try_lock().is_ok() {
                    2
                } else {
                    0
                };
                process::exit(code);
            }
            Fork::Parent(pid) => {
                assert_eq!(process::waitpid(pid).unwrap(), 0, "see the child's codes");
                assert_eq!(lock.holder(), Some(me));
                assert!(lock.is_consistent());
                drop(g);
                assert!(!lock.is_locked());
            }
        }
    });
}

#[test]
fn a_child_forked_while_the_parent_holds_it_waits_for_the_parent() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (waiting, mut waiting_tx) = gate();
        let g = lock.lock().unwrap();
        let mut p = Process::new(move || {
            waiting_tx.write_all(b"x").unwrap();
            // Blocks until the parent drops its guard; clean, not OwnerDied.
            let code = match lock.lock() {
                Ok(_) => 0,
                Err(_) => 1,
            };
            process::exit(code);
        });
        p.start().unwrap();
        waiting.wait();
        assert_eq!(
            p.join_timeout(Duration::from_millis(100)).unwrap(),
            None,
            "the child got the lock the parent holds"
        );
        drop(g);
        assert_eq!(p.join().unwrap(), 0);
        assert!(!lock.is_locked());
    });
}

#[test]
fn a_child_that_takes_the_lock_itself_keeps_it_when_its_inherited_copy_drops() {
    // The fork copies the parent's guard into the child. The parent then
    // releases, the child takes the lock with its own guard, and only then
    // drops the inherited copy: that copy was never the child's
    // acquisition and must not release the lock the child now holds.
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let inherited = lock.lock().unwrap();
        match process::fork().unwrap() {
            Fork::Child(me) => {
                let mine = lock.lock().unwrap(); // once the parent released
                drop(inherited);
                let code = if lock.holder() == Some(me) { 0 } else { 1 };
                drop(mine);
                process::exit(code);
            }
            Fork::Parent(pid) => {
                drop(inherited);
                assert_eq!(
                    process::waitpid(pid).unwrap(),
                    0,
                    "dropping the inherited copy released the child's own lock"
                );
                assert!(!lock.is_locked());
            }
        }
    });
}

#[test]
fn a_guard_moved_into_a_target_does_not_release_the_childs_own_lock() {
    // The same through Process: the parent's copy of the target (and so of
    // the guard) is dropped by start(), which releases the parent's lock;
    // the child takes the lock, then drops the guard it was given.
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let given = lock.lock().unwrap();
        let mut p = Process::new(move || {
            let mine = lock.lock().unwrap();
            drop(given);
            let code = if lock.holder() == Some(process::getpid()) {
                0
            } else {
                1
            };
            drop(mine);
            process::exit(code);
        });
        p.start().unwrap();
        assert_eq!(
            p.join().unwrap(),
            0,
            "dropping the moved-in guard released the child's own lock"
        );
        assert!(!lock.is_locked());
    });
}

#[test]
fn a_stopped_holder_is_alive_and_keeps_the_lock() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let lock: &Lock = &shared;
        let (ready, tx) = gate();
        let mut p = Process::new(move || crate::hold_until_killed(lock, tx));
        p.start().unwrap();
        ready.wait();
        let pid = p.pid().unwrap();
        p.send_signal(mproc::Signal::STOP).unwrap();
        assert!(crate::common::eventually(Duration::from_secs(10), || {
            crate::common::proc_state(pid.as_raw()) == Some('T')
        }));
        // Long enough for several looks at the holder: stopped is not dead.
        let got = lock.lock_timeout(Duration::from_millis(300));
        assert!(matches!(got, Err(TryLockError::TimedOut)), "{got:?}");
        assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
        assert_eq!(lock.holder(), Some(pid));
        assert!(lock.is_consistent());
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
    });
}
