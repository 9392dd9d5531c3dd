//! `Barrier` between processes: nobody passes before the last party
//! arrives, each passage hands out every index `0..parties` exactly once,
//! many rounds in a row; a timed-out waiter breaks it (`TimedOut` for that
//! one, `Broken` for the others and for later arrivals) until `reset`;
//! `abort` and `reset` release the waiters with `Broken`; and what the docs
//! promise for a party that dies: the others are not hung if they wait
//! with a timeout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mproc::process::{self, Process};
use mproc::shm::Shared;
use mproc::sync::{Barrier, BarrierError};

use crate::common::{eventually, isolated};
use crate::{MUST, MUST_NOT, join};

/// Exit code of a party that passed with `index` (`wait` results are
/// reported through exit codes: 10 + index, or one of these).
const BROKEN: i32 = 1;
const TIMED_OUT: i32 = 2;

fn code(result: Result<u32, BarrierError>) -> i32 {
    match result {
        Ok(index) => 10 + index as i32,
        Err(BarrierError::Broken) => BROKEN,
        Err(BarrierError::TimedOut) => TIMED_OUT,
    }
}

#[test]
fn parties_and_a_barrier_of_one() {
    let one = Shared::new(Barrier::new(1)).unwrap();
    assert_eq!(one.parties(), 1);
    for _ in 0..3 {
        assert_eq!(one.wait(), Ok(0));
        assert_eq!(one.wait_timeout(Duration::ZERO), Ok(0));
    }
    assert_eq!(one.n_waiting(), 0);
    assert!(!one.is_broken());
    // Zero parties is taken as one (documented).
    let zero = Shared::new(Barrier::new(0)).unwrap();
    assert_eq!(zero.parties(), 1);
    assert_eq!(zero.wait(), Ok(0));
    assert_eq!(
        format!("{:?}", *zero),
        "Barrier { parties: 1, n_waiting: 0, broken: false }"
    );
    assert_eq!(BarrierError::Broken.to_string(), "the barrier is broken");
    assert!(BarrierError::TimedOut.to_string().contains("timed out"));
}

#[test]
fn nobody_passes_before_the_last_party_arrives() {
    isolated(|| {
        const PARTIES: u32 = 4;
        let barrier = Shared::new(Barrier::new(PARTIES)).unwrap();
        let b: &Barrier = &barrier;
        let mut early: Vec<_> = (0..PARTIES - 1)
            .map(|_| Process::new(move || process::exit(code(b.wait()))))
            .collect();
        for p in &mut early {
            p.start().unwrap();
        }
        assert!(eventually(MUST, || b.n_waiting() == PARTIES - 1));
        for p in &early {
            assert_eq!(p.join_timeout(MUST_NOT).unwrap(), None, "passed too early");
        }
        assert_eq!(barrier.n_waiting(), PARTIES - 1);
        // The last to arrive gets the last index and lets everyone through.
        assert_eq!(barrier.wait_timeout(MUST), Ok(PARTIES - 1));
        let mut codes: Vec<i32> = early.iter().map(join).collect();
        codes.sort_unstable();
        let expected: Vec<i32> = (0..PARTIES as i32 - 1).map(|i| 10 + i).collect();
        assert_eq!(codes, expected, "every index once");
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

#[test]
fn n_processes_pass_r_rounds_with_each_index_once_per_round() {
    isolated(|| {
        const PARTIES: u32 = 5;
        const ROUNDS: usize = 40;
        #[repr(C)]
        struct Log {
            barrier: Barrier,
            /// Parties arrived at each round's barrier.
            arrived: [AtomicU32; ROUNDS],
            /// Bit `index` set by the party that got it, per round.
            indices: [AtomicU32; ROUNDS],
            /// Passed before every party of its round had arrived.
            early: AtomicU32,
            /// An index handed out twice in a round.
            twice: AtomicU32,
        }
        // SAFETY: repr(C) of a Barrier (Shareable) and atomics: no
        // pointers, no drop glue, every bit pattern valid, mutated only
        // atomically.
        unsafe impl mproc::shm::Shareable for Log {}
        let log = Shared::new(Log {
            barrier: Barrier::new(PARTIES),
            arrived: [const { AtomicU32::new(0) }; ROUNDS],
            indices: [const { AtomicU32::new(0) }; ROUNDS],
            early: AtomicU32::new(0),
            twice: AtomicU32::new(0),
        })
        .unwrap();
        let l: &Log = &log;
        let mut kids: Vec<_> = (0..PARTIES)
            .map(|p| {
                Process::new(move || {
                    for round in 0..ROUNDS {
                        l.arrived[round].fetch_add(1, Ordering::SeqCst);
                        let index = if (p as usize + round).is_multiple_of(2) {
                            l.barrier.wait().unwrap()
                        } else {
                            l.barrier.wait_timeout(MUST).unwrap()
                        };
                        if l.arrived[round].load(Ordering::SeqCst) != PARTIES {
                            l.early.fetch_add(1, Ordering::SeqCst);
                        }
                        assert!(index < PARTIES, "index {index}");
                        let bit = 1 << index;
                        if l.indices[round].fetch_or(bit, Ordering::SeqCst) & bit != 0 {
                            l.twice.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for k in &mut kids {
            k.start().unwrap();
        }
        for (i, k) in kids.iter().enumerate() {
            assert_eq!(join(k), 0, "party {i}");
        }
        assert_eq!(
            log.early.load(Ordering::SeqCst),
            0,
            "passed before all arrived"
        );
        assert_eq!(log.twice.load(Ordering::SeqCst), 0, "an index given twice");
        for round in 0..ROUNDS {
            assert_eq!(log.arrived[round].load(Ordering::SeqCst), PARTIES);
            assert_eq!(
                log.indices[round].load(Ordering::SeqCst),
                (1 << PARTIES) - 1,
                "round {round}"
            );
        }
        assert_eq!(log.barrier.n_waiting(), 0);
        assert!(!log.barrier.is_broken());
    });
}

#[test]
fn a_timed_out_waiter_breaks_it_for_the_others_and_later_ones_until_reset() {
    isolated(|| {
        const PARTIES: u32 = 4;
        let barrier = Shared::new(Barrier::new(PARTIES)).unwrap();
        let b: &Barrier = &barrier;
        // Two patient parties; this process times out; the fourth never
        // comes.
        let mut patient: Vec<_> = (0..2)
            .map(|i| {
                Process::new(move || {
                    let r = if i == 0 {
                        b.wait()
                    } else {
                        b.wait_timeout(MUST)
                    };
                    process::exit(code(r));
                })
            })
            .collect();
        for p in &mut patient {
            p.start().unwrap();
        }
        assert!(eventually(MUST, || b.n_waiting() == 2));
        let start = Instant::now();
        assert_eq!(
            barrier.wait_timeout(Duration::from_millis(150)),
            Err(BarrierError::TimedOut)
        );
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(150),
            "gave up early: {waited:?}"
        );
        assert!(waited < MUST, "took {waited:?}");
        for p in &patient {
            assert_eq!(join(p), BROKEN, "a patient waiter was not told Broken");
        }
        assert!(barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
        // Later arrivals fail at once, in every form and process.
        assert_eq!(barrier.wait(), Err(BarrierError::Broken));
        assert_eq!(barrier.wait_timeout(MUST), Err(BarrierError::Broken));
        let mut late = Process::new(move || process::exit(code(b.wait())));
        late.start().unwrap();
        assert_eq!(join(&late), BROKEN);
        assert_eq!(barrier.n_waiting(), 0, "a refused arrival was counted");

        // Reset from another process: whole again for a full passage.
        let mut resetter = Process::new(move || b.reset());
        resetter.start().unwrap();
        assert_eq!(join(&resetter), 0);
        assert!(!barrier.is_broken());
        let mut parties: Vec<_> = (0..PARTIES - 1)
            .map(|_| Process::new(move || process::exit(code(b.wait_timeout(MUST)))))
            .collect();
        for p in &mut parties {
            p.start().unwrap();
        }
        let mine = barrier.wait_timeout(MUST).expect("passes after reset");
        let mut codes: Vec<i32> = parties.iter().map(join).collect();
        codes.push(10 + mine as i32);
        codes.sort_unstable();
        assert_eq!(codes, [10, 11, 12, 13]);
    });
}

#[test]
fn abort_wakes_the_waiters_with_broken_and_refuses_later_ones() {
    isolated(|| {
        let barrier = Shared::new(Barrier::new(4)).unwrap();
        let b: &Barrier = &barrier;
        let mut waiters: Vec<_> = (0..3)
            .map(|i| {
                Process::new(move || {
                    let r = if i == 0 {
                        b.wait()
                    } else {
                        b.wait_timeout(MUST)
                    };
                    process::exit(code(r));
                })
            })
            .collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        assert!(eventually(MUST, || b.n_waiting() == 3));
        let mut aborter = Process::new(move || b.abort());
        aborter.start().unwrap();
        assert_eq!(join(&aborter), 0);
        for w in &waiters {
            assert_eq!(join(w), BROKEN);
        }
        assert!(barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
        assert_eq!(barrier.wait_timeout(MUST), Err(BarrierError::Broken));
        // Abort with nobody waiting breaks it too; reset mends it.
        barrier.reset();
        assert!(!barrier.is_broken());
        barrier.abort();
        assert!(barrier.is_broken());
        assert_eq!(barrier.wait(), Err(BarrierError::Broken));
        barrier.reset();
        assert!(!barrier.is_broken());
    });
}

#[test]
fn reset_releases_the_waiters_with_broken_and_leaves_it_usable() {
    isolated(|| {
        const PARTIES: u32 = 3;
        let barrier = Shared::new(Barrier::new(PARTIES)).unwrap();
        let b: &Barrier = &barrier;
        let mut waiters: Vec<_> = (0..PARTIES - 1)
            .map(|_| Process::new(move || process::exit(code(b.wait()))))
            .collect();
        for w in &mut waiters {
            w.start().unwrap();
        }
        assert!(eventually(MUST, || b.n_waiting() == PARTIES - 1));
        barrier.reset();
        for w in &waiters {
            assert_eq!(join(w), BROKEN, "a waiter at the reset was not told");
        }
        // Not broken after a reset, and the count starts from zero: a
        // full set of parties passes, a partial one does not.
        assert!(!barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
        for _round in 0..3 {
            let mut parties: Vec<_> = (0..PARTIES - 1)
                .map(|_| Process::new(move || process::exit(code(b.wait_timeout(MUST)))))
                .collect();
            for p in &mut parties {
                p.start().unwrap();
            }
            assert!(eventually(MUST, || b.n_waiting() == PARTIES - 1));
            for p in &parties {
                assert_eq!(p.join_timeout(Duration::from_millis(50)).unwrap(), None);
            }
            let mine = barrier.wait_timeout(MUST).unwrap();
            assert_eq!(mine, PARTIES - 1);
            let mut codes: Vec<i32> = parties.iter().map(join).collect();
            codes.sort_unstable();
            assert_eq!(codes, [10, 11]);
        }
    });
}

#[test]
fn a_party_killed_before_arriving_does_not_hang_the_others_that_use_timeouts() {
    // Documented: a party that dies before arriving leaves the others
    // waiting, so they give their waits a timeout: the first whose time
    // runs out breaks the barrier (TimedOut), the others are released
    // with Broken, and none hangs.
    isolated(|| {
        const PARTIES: u32 = 4;
        let barrier = Shared::new(Barrier::new(PARTIES)).unwrap();
        let b: &Barrier = &barrier;
        let mut doomed = Process::new(move || {
            loop {
                mproc::signal::pause();
            }
        });
        doomed.start().unwrap();
        let mut survivors: Vec<_> = (0..PARTIES - 1)
            .map(|i| {
                Process::new(move || {
                    // Different timeouts: the shortest breaks it.
                    let timeout = Duration::from_millis(200) * (1 + 10 * i);
                    process::exit(code(b.wait_timeout(timeout)));
                })
            })
            .collect();
        for s in &mut survivors {
            s.start().unwrap();
        }
        doomed.kill().unwrap();
        assert_eq!(doomed.join().unwrap(), -9);
        let start = Instant::now();
        let mut codes: Vec<i32> = survivors.iter().map(join).collect();
        assert!(start.elapsed() < MUST);
        codes.sort_unstable();
        assert_eq!(codes, [BROKEN, BROKEN, TIMED_OUT]);
        assert!(barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn a_party_killed_while_waiting_does_not_hang_the_others_that_use_timeouts() {
    // A party that dies after it arrived: its arrival was counted, so the
    // others (with timeouts, as the docs advise) all return, with
    // consistent results, and a reset leaves the barrier usable.
    isolated(|| {
        const PARTIES: u32 = 3;
        let barrier = Shared::new(Barrier::new(PARTIES)).unwrap();
        let b: &Barrier = &barrier;
        let mut victim = Process::new(move || {
            let _ = b.wait();
        });
        victim.start().unwrap();
        assert!(eventually(MUST, || b.n_waiting() == 1));
        victim.kill().unwrap();
        assert_eq!(victim.join().unwrap(), -9);
        let mut other = Process::new(move || process::exit(code(b.wait_timeout(MUST))));
        other.start().unwrap();
        let mine = code(barrier.wait_timeout(MUST));
        let theirs = join(&other);
        let mut codes = [mine, theirs];
        codes.sort_unstable();
        // Documented: the dead party's arrival stands (index 0), so the two
        // others pass with indices 1 and 2.
        assert_eq!(codes, [11, 12], "the others did not pass");
        barrier.reset();
        assert!(!barrier.is_broken());
        assert_eq!(barrier.n_waiting(), 0);
        let mut parties: Vec<_> = (0..PARTIES - 1)
            .map(|_| Process::new(move || process::exit(code(b.wait_timeout(MUST)))))
            .collect();
        for p in &mut parties {
            p.start().unwrap();
        }
        assert!(barrier.wait_timeout(MUST).is_ok());
        for p in &parties {
            assert!((10..13).contains(&join(p)));
        }
    });
}
