//! `Condition` with processes killed: a holder killed mid-update
//! (`OwnerDied` reported once, through the lock), a notifier killed while
//! a waiter retakes the lock, waiters killed while waiting (a notification
//! is never spent on them), and the regressions fixed in 7547b83.

use super::*;

/// A child's body: takes the condition's lock, leaves the state
/// half-updated (`a` moved, `b` not), says so, and holds on until killed.
fn die_mid_update(c: &Condition, a: &AtomicU32, mut ready: std::io::PipeWriter) -> ! {
    let _g = c.acquire().unwrap();
    a.fetch_add(1, Ordering::Relaxed);
    ready.write_all(b"x").unwrap();
    loop {
        mproc::signal::pause();
    }
}

#[test]
fn a_holder_killed_mid_update_is_reported_once_to_the_next_acquirer() {
    isolated(|| {
        let cond = Shared::new(Condition::new()).unwrap();
        let pair = Shared::new([AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
        let (c, ab): (&Condition, &[AtomicU32; 2]) = (&cond, &pair);
        let (ready, tx) = gate();
        let mut holder = Process::new(move || die_mid_update(c, &ab[0], tx));
        holder.start().unwrap();
        ready.wait();
        let dead = holder.pid().unwrap();
        assert_eq!(cond.get_lock().holder(), Some(dead));
        holder.kill().unwrap();
        assert_eq!(holder.join().unwrap(), -9);

        // Another process is told; it repairs and marks the state.
        let mut repairer = Process::new(move || {
            let died = c.acquire().expect_err("its holder died holding it");
            assert_eq!(died.pid(), Some(dead));
            let g = died.into_guard();
            assert_eq!(c.get_lock().holder(), Some(process::getpid()));
            assert!(!c.get_lock().is_consistent());
            ab[1].store(ab[0].load(Ordering::Relaxed), Ordering::Relaxed);
            g.mark_consistent();
            assert!(c.get_lock().is_consistent());
            drop(g);
        });
        repairer.start().unwrap();
        assert_eq!(join(&repairer), 0);
        // Told once: the next acquisition is clean and sees the repair.
        let g = cond.acquire().expect("reported only once");
        assert!(cond.get_lock().is_consistent());
        assert_eq!(pair[0].load(Ordering::Relaxed), 1);
        assert_eq!(pair[1].load(Ordering::Relaxed), 1);
        drop(g);

        // And the condition still works between live processes.
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut waiter = Process::new(move || s.wait());
        waiter.start().unwrap();
        assert_eq!(stage.when_waiting(1).notify(1), 1);
        assert_eq!(join(&waiter), 0);
    });
}

#[test]
fn try_and_timed_acquire_report_a_killed_holder() {
    isolated(|| {
        for timed in [false, true] {
            let cond = Shared::new(Condition::new()).unwrap();
            let a = Shared::new(AtomicU32::new(0)).unwrap();
            let (c, a_ref): (&Condition, &AtomicU32) = (&cond, &a);
            let (ready, tx) = gate();
            let mut holder = Process::new(move || die_mid_update(c, a_ref, tx));
            holder.start().unwrap();
            ready.wait();
            let dead = holder.pid().unwrap();
            holder.kill().unwrap();
            assert_eq!(holder.join().unwrap(), -9);
            let got = if timed {
                cond.acquire_timeout(MUST)
            } else {
                cond.try_acquire()
            };
            match got {
                Err(TryLockError::OwnerDied(died)) => {
                    assert_eq!(died.pid(), Some(dead));
                    assert!(!cond.get_lock().is_consistent());
                    died.guard().mark_consistent();
                }
                other => panic!("expected OwnerDied (timed: {timed}), got {other:?}"),
            }
            assert!(cond.get_lock().is_consistent());
            assert!(!cond.get_lock().is_locked());
        }
    });
}

#[test]
fn a_waiter_retaking_the_lock_from_a_killed_notifier_is_told_owner_died() {
    isolated(|| {
        let stage = Stage::new();
        let s: &Stage = &stage;
        let notifier_pid = Shared::new(AtomicU32::new(0)).unwrap();
        let np: &AtomicU32 = &notifier_pid;
        let mut waiter = Process::new(move || {
            let g = s.cond.acquire().unwrap();
            s.entered.fetch_add(1, Ordering::SeqCst);
            let died = g.wait().expect_err("the notifier died holding the lock");
            let dead = np.load(Ordering::SeqCst) as i32;
            assert_eq!(died.pid(), Pid::from_raw(dead));
            let g = died.into_guard();
            assert_eq!(s.cond.get_lock().holder(), Some(process::getpid()));
            assert!(!s.cond.get_lock().is_consistent());
            g.mark_consistent();
            drop(g);
        });
        waiter.start().unwrap();
        // Wait until the waiter waits, then notify from a process that
        // dies before it releases the lock.
        drop(stage.when_waiting(1));
        let (ready, mut ready_tx) = gate();
        let mut notifier = Process::new(move || {
            let g = s.cond.acquire().unwrap();
            np.store(process::getpid().as_raw() as u32, Ordering::SeqCst);
            assert_eq!(g.notify(1), 1);
            ready_tx.write_all(b"x").unwrap();
            loop {
                mproc::signal::pause();
            }
        });
        notifier.start().unwrap();
        ready.wait();
        // The waiter is woken but cannot have the lock while it lives.
        assert_eq!(waiter.join_timeout(MUST_NOT).unwrap(), None);
        notifier.kill().unwrap();
        assert_eq!(notifier.join().unwrap(), -9);
        assert_eq!(join(&waiter), 0);
        let g = stage.cond.acquire().expect("reported only once");
        assert!(stage.cond.get_lock().is_consistent());
        drop(g);
    });
}

#[test]
fn waiters_killed_while_waiting_do_not_stop_the_others() {
    isolated(|| {
        // A killed waiter is skipped (or its notification passed on); the
        // live waiters are woken by notify_all, and timed waiters return.
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut victim = Process::new(move || s.wait());
        victim.start().unwrap();
        drop(stage.when_waiting(1));
        victim.kill().unwrap();
        assert_eq!(victim.join().unwrap(), -9);

        let mut live: Vec<_> = (0..3).map(|_| Process::new(move || s.wait())).collect();
        for w in &mut live {
            w.start().unwrap();
        }
        let mut timed = Process::new(move || {
            let g = s.cond.acquire().unwrap();
            let start = Instant::now();
            let (g, notified) = g.wait_timeout(Duration::from_millis(200)).unwrap();
            assert!(!notified);
            assert!(start.elapsed() >= Duration::from_millis(200));
            drop(g);
        });
        timed.start().unwrap();
        assert_eq!(join(&timed), 0);
        let g = stage.when_waiting(4);
        assert!(g.notify_all() >= 3);
        drop(g);
        for w in &live {
            assert_eq!(join(w), 0);
        }
        assert_eq!(stage.woke(), 3);
        assert!(!stage.cond.get_lock().is_locked());
        assert!(stage.cond.get_lock().is_consistent());
    });
}

#[test]
fn notify_wakes_the_longest_waiting_first_and_skips_those_that_left() {
    isolated(|| {
        // Documented: notify(n) wakes the n longest-waiting waiters, and a
        // waiter whose time ran out is skipped. Five waiters take their
        // turn in order; the 2nd, 4th and 5th give up (the 5th is the
        // newest when it leaves, the others are not).
        const WAITERS: u32 = 5;
        let stage = Stage::new();
        let order = Shared::new([const { AtomicU32::new(u32::MAX) }; WAITERS as usize]).unwrap();
        let (s, o): (&Stage, &[AtomicU32; WAITERS as usize]) = (&stage, &order);
        let gives_up = |i: u32| i == 1 || i == 3 || i == 4;
        let mut waiters = Vec::new();
        for i in 0..WAITERS {
            let mut w = Process::new(move || {
                let g = s.cond.acquire().unwrap();
                s.entered.fetch_add(1, Ordering::SeqCst);
                let timeout = if gives_up(i) {
                    Duration::from_millis(200)
                } else {
                    MUST
                };
                let (g, notified) = g.wait_timeout(timeout).unwrap();
                assert_eq!(notified, !gives_up(i), "waiter {i}");
                if notified {
                    let k = s.woke.fetch_add(1, Ordering::SeqCst);
                    o[k as usize].store(i, Ordering::SeqCst);
                }
                drop(g);
            });
            w.start().unwrap();
            // In turn: the next one starts once this one waits.
            drop(stage.when_waiting(i + 1));
            waiters.push(w);
        }
        for (i, w) in waiters.iter().enumerate() {
            if gives_up(i as u32) {
                assert_eq!(join(w), 0, "waiter {i}");
            }
        }
        assert_eq!(stage.woke(), 0);
        // A waiter counts itself woken, then records who it is: wait for
        // the record, not just the count (reading between the two saw
        // no one, once in 30 full runs).
        let recorded = |k: usize| order[k].load(Ordering::SeqCst) != u32::MAX;
        assert_eq!(stage.cond.acquire().unwrap().notify(1), 1);
        assert!(eventually(MUST, || stage.woke() == 1 && recorded(0)));
        assert_eq!(
            order[0].load(Ordering::SeqCst),
            0,
            "not the longest-waiting"
        );
        assert_eq!(stage.cond.acquire().unwrap().notify(1), 1);
        assert!(eventually(MUST, || stage.woke() == 2 && recorded(1)));
        assert_eq!(
            order[1].load(Ordering::SeqCst),
            2,
            "a waiter that left was counted"
        );
        assert_eq!(
            stage.cond.acquire().unwrap().notify_all(),
            0,
            "nobody is left"
        );
        for w in &waiters {
            assert_eq!(join(w), 0);
        }
    });
}

// ------------------------------------------- regressions (fixed in 7547b83)

#[test]
fn a_notification_goes_to_a_process_that_was_waiting_not_to_a_later_waiter() {
    isolated(|| {
        // Python: notify(1) wakes one of the threads waiting *at the time*;
        // a thread that starts waiting afterwards is not woken by it.
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut waiter = Process::new(move || s.wait());
        waiter.start().unwrap();
        let w = waiter.pid().unwrap();
        drop(stage.when_waiting(1));
        // Stop the parked waiter so that the outcome does not depend on
        // who is scheduled first (a stopped process that was notified goes
        // on once continued).
        assert!(eventually(MUST, || proc_state(w.as_raw()) == Some('S')));
        waiter.send_signal(Signal::STOP).unwrap();
        assert!(eventually(MUST, || proc_state(w.as_raw()) == Some('T')));
        let g = stage.cond.acquire().unwrap();
        assert_eq!(g.notify(1), 1, "the waiter is counted");
        // This process now waits itself: nobody notifies it.
        let (g, notified) = g.wait_timeout(Duration::from_millis(200)).unwrap();
        drop(g);
        waiter.send_signal(Signal::CONT).unwrap();
        let woke = waiter.join_timeout(Duration::from_secs(5)).unwrap();
        if woke.is_none() {
            waiter.kill().unwrap();
            waiter.join().unwrap();
        }
        assert!(
            !notified,
            "a wait begun after notify(1) took its notification"
        );
        assert_eq!(woke, Some(0), "the notified waiter was never woken");
    });
}

#[test]
fn two_processes_taking_turns_on_one_condition_do_not_stall() {
    isolated(|| {
        // The textbook ping-pong: wait for my turn, take it, hand the turn
        // over, notify. Each round must complete without any timeout.
        const ROUNDS: u32 = 200;
        #[repr(C)]
        struct Turns {
            cond: Condition,
            turn: AtomicU32,
        }
        // SAFETY: repr(C) of a Condition and an atomic: no pointers, no
        // drop glue, every bit pattern valid, mutated only atomically.
        unsafe impl mproc::shm::Shareable for Turns {}
        let turns = Shared::new(Turns {
            cond: Condition::new(),
            turn: AtomicU32::new(0),
        })
        .unwrap();
        let t: &Turns = &turns;
        let mut players: Vec<_> = (0..2u32)
            .map(|me| {
                Process::new(move || {
                    for _ in 0..ROUNDS {
                        let g = t.cond.acquire().unwrap();
                        let (g, ok) = g
                            .wait_for(|| t.turn.load(Ordering::Relaxed) % 2 == me, None)
                            .unwrap();
                        assert!(ok);
                        t.turn.fetch_add(1, Ordering::Relaxed);
                        g.notify(1);
                    }
                })
            })
            .collect();
        for p in &mut players {
            p.start().unwrap();
        }
        let done = eventually(MUST, || turns.turn.load(Ordering::Relaxed) == 2 * ROUNDS);
        let reached = turns.turn.load(Ordering::Relaxed);
        if !done {
            for p in &players {
                p.kill().unwrap();
                p.join().unwrap();
            }
            panic!("stalled after {reached} of {} turns", 2 * ROUNDS);
        }
        for p in &players {
            assert_eq!(join(p), 0);
        }
    });
}

#[test]
fn a_notification_is_not_spent_on_a_killed_waiter_nor_on_a_later_one() {
    isolated(|| {
        // notify skips a waiter known dead, and a process that begins
        // waiting afterwards is not woken by that notify either.
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut victim = Process::new(move || s.wait());
        victim.start().unwrap();
        drop(stage.when_waiting(1));
        victim.kill().unwrap();
        assert_eq!(victim.join().unwrap(), -9);
        let g = stage.cond.acquire().unwrap();
        assert_eq!(g.notify(1), 0, "counted the dead waiter as woken");
        drop(g);
        let start = Instant::now();
        let (g, notified) = stage
            .cond
            .acquire()
            .unwrap()
            .wait_timeout(Duration::from_millis(150))
            .unwrap();
        drop(g);
        assert!(!notified, "woken by the dead waiter's notification");
        assert!(start.elapsed() >= Duration::from_millis(150));
    });
}

/// A dead waiter ahead of a live one, then `notify(1)`: the live one is
/// woken (before the fix it slept on until a second notify). `reap`: the
/// victim is reaped before the notify (else it is a zombie then).
fn a_killed_waiter_never_absorbs_a_notification(reap: bool) {
    isolated(|| {
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut victim = Process::new(move || s.wait());
        victim.start().unwrap();
        drop(stage.when_waiting(1));
        let mut live = Process::new(move || s.wait());
        live.start().unwrap();
        let g = stage.when_waiting(2);
        victim.kill().unwrap();
        if reap {
            assert_eq!(victim.join().unwrap(), -9);
        } else {
            // Dead, not reaped: a zombie until the join below.
            assert!(eventually(MUST, || proc_state(
                victim.pid().unwrap().as_raw()
            ) == Some('Z')));
        }
        g.notify(1);
        drop(g);
        let start = Instant::now();
        assert_eq!(
            live.join_timeout(Duration::from_secs(2)).unwrap(),
            Some(0),
            "the live waiter slept on: its notification went to the dead one"
        );
        let took = start.elapsed();
        assert_eq!(stage.woke(), 1);
        if !reap {
            assert_eq!(victim.join().unwrap(), -9);
        }
        // A second notify finds nobody: nothing was left over either.
        let g = stage.cond.acquire().unwrap();
        assert_eq!(g.notify(1), 0);
        drop(g);
        raw_stderr(&format!(
            "live waiter woken {took:?} after notify (reaped: {reap})\n"
        ));
    });
}

#[test]
fn a_killed_and_reaped_waiter_never_absorbs_a_notification() {
    a_killed_waiter_never_absorbs_a_notification(true);
}

#[test]
fn a_killed_zombie_waiter_never_absorbs_a_notification() {
    a_killed_waiter_never_absorbs_a_notification(false);
}

#[test]
fn notify_n_with_dead_waiters_among_them_wakes_n_live_ones() {
    isolated(|| {
        // Waiters 0..6, the even ones killed (two reaped, one a zombie):
        // notify(2) wakes two live waiters, notify(1) the third; the
        // notifications never go to a process that began waiting later.
        let stage = Stage::new();
        let s: &Stage = &stage;
        let mut waiters = Vec::new();
        for i in 0..6u32 {
            let mut w = Process::new(move || s.wait());
            w.start().unwrap();
            drop(stage.when_waiting(i + 1));
            waiters.push(w);
        }
        let g = stage.cond.acquire().unwrap();
        for (i, w) in waiters.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            w.kill().unwrap();
            if i < 4 {
                assert_eq!(w.join().unwrap(), -9);
            }
        }
        assert!(eventually(MUST, || proc_state(
            waiters[4].pid().unwrap().as_raw()
        ) == Some('Z')));
        g.notify(2);
        drop(g);
        assert!(
            eventually(MUST, || stage.woke() == 2),
            "two live waiters woken"
        );
        let mut late = Process::new(move || s.wait());
        late.start().unwrap();
        drop(stage.when_waiting(7));
        let g = stage.cond.acquire().unwrap();
        g.notify(1);
        drop(g);
        assert_eq!(
            join(&waiters[5])
                .max(join(&waiters[3]))
                .max(join(&waiters[1])),
            0
        );
        assert_eq!(stage.woke(), 3);
        assert_eq!(
            late.join_timeout(MUST_NOT).unwrap(),
            None,
            "a later waiter was woken"
        );
        let g = stage.cond.acquire().unwrap();
        assert_eq!(g.notify(1), 1);
        drop(g);
        assert_eq!(join(&late), 0);
        assert_eq!(waiters[4].join().unwrap(), -9);
    });
}
