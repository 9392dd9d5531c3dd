//! Faults: panics, workers killed mid-task (alone and at random during a
//! long run), and nothing ever hangs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::pool::Pool;
use mproc::process;
use mproc::signal::{self, Signal};

use crate::common::isolated;

fn square(x: u64) -> u64 {
    x * x
}

fn panics(x: u64) -> u64 {
    panic!("task {x} refused: {}", "x".repeat(300))
}

/// Kills its own worker with `SIGKILL` when `x` is odd.
fn die_if_odd(x: u64) -> u64 {
    if x % 2 == 1 {
        signal::kill(process::getpid(), Signal::KILL).unwrap();
    }
    x
}

#[test]
fn a_panicking_task_fails_with_its_message_and_the_worker_lives_on() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        let pids = pool.pids();
        let e = pool.apply(panics, 7).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert!(
            e.message().starts_with("task 7 refused: xxx"),
            "{}",
            e.message()
        );
        assert!(e.message().len() <= mproc::pool::PanicMessage::CAPACITY);
        assert!(e.to_string().contains("the task panicked: task 7 refused"));
        assert_eq!(pool.apply(square, 3).unwrap(), 9);
        assert_eq!(pool.pids(), pids, "the worker was not replaced");
    });
}

#[test]
fn a_worker_killed_mid_task_fails_exactly_that_task_and_is_replaced() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let before = pool.pids();
        let results: Vec<_> = (0..20u64)
            .map(|i| pool.apply_async(die_if_odd, i).unwrap())
            .collect();
        let mut died = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            let i = i as u64;
            match r.get() {
                Ok(v) => assert_eq!(v, i),
                Err(e) => match e.kind() {
                    ErrorKind::WorkerDied { pid, exitcode: -9 } if i % 2 == 1 => died.push(pid),
                    _ => panic!("task {i}: {e}"),
                },
            }
        }
        // Every odd task, and only it, failed, each in a worker of its
        // own (a task's death is no other task's), the first of them in
        // one forked at the start; none of the dead is among the workers
        // now, which are as many as before and serve.
        assert_eq!(died.len(), 10, "{died:?}");
        let mut distinct = died.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 10, "{died:?}");
        assert!(
            before.iter().any(|p| p.as_raw() == died[0]),
            "{died:?} {before:?}"
        );
        let after = pool.pids();
        assert_eq!(after.len(), 2);
        assert!(
            after.iter().all(|p| !died.contains(&p.as_raw())),
            "{died:?} {after:?}"
        );
        assert_eq!(pool.apply(square, 4).unwrap(), 16);
    });
}

#[test]
fn a_worker_killed_from_outside_fails_its_task_and_map_and_join_do_not_hang() {
    isolated(|| {
        fn slow(x: u64) -> u64 {
            std::thread::sleep(Duration::from_millis(200));
            x
        }
        let pool = Pool::new(2).unwrap();
        let r = pool.apply_async(slow, 1).unwrap();
        let other = pool.apply_async(slow, 2).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Both workers are busy: kill one of them.
        signal::kill(pool.pids()[0], Signal::KILL).unwrap();
        let outcomes = [r.get(), other.get()];
        let died = outcomes.iter().filter(|o| o.is_err()).count();
        assert_eq!(died, 1, "{outcomes:?}");
        // map keeps working on the replacement.
        let v = pool.map(square, 0..100u64, 7).unwrap();
        assert_eq!(v, (0..100).map(|x| x * x).collect::<Vec<_>>());
        pool.close();
        pool.join().unwrap();
    });
}

#[test]
fn chaos_every_task_ends_once_with_its_result_or_worker_died() {
    isolated(|| {
        fn work(x: u64) -> u64 {
            // Long enough for kills to land mid-task now and then.
            let mut h = x;
            for _ in 0..2_000 {
                h = h.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            std::hint::black_box(h);
            x * 3
        }
        let pool = Pool::new(3).unwrap();
        const TASKS: u64 = 20_000;
        let mut outcome: BTreeMap<u64, bool> = BTreeMap::new();
        let mut window = std::collections::VecDeque::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut kills = 0;
        let started = Instant::now();
        for i in 0..TASKS {
            if window.len() == 48 {
                let (j, r): (
                    u64,
                    mproc::pool::AsyncResult<
                        '_,
                        u64,
                        { mproc::config::POOL_SLOTS },
                        { mproc::config::POOL_TASK_BYTES },
                    >,
                ) = window.pop_front().unwrap();
                record(&mut outcome, j, r.get());
            }
            window.push_back((i, pool.apply_async(work, i).unwrap()));
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if rng.is_multiple_of(500) {
                let pids = pool.pids();
                let victim = pids[(rng as usize / 500) % pids.len()];
                let _ = signal::kill(victim, Signal::KILL);
                kills += 1;
            }
        }
        for (j, r) in window {
            record(&mut outcome, j, r.get());
        }
        assert_eq!(outcome.len() as u64, TASKS, "a task is missing");
        let died = outcome.values().filter(|ok| !**ok).count();
        assert!(kills > 10, "only {kills} kills");
        assert!(died <= kills, "{died} deaths for {kills} kills");
        assert!(started.elapsed() < Duration::from_secs(50));
        assert_eq!(pool.processes(), 3);
        assert_eq!(pool.pids().len(), 3);
    });

    fn record(outcome: &mut BTreeMap<u64, bool>, j: u64, r: Result<u64, mproc::pool::TaskError>) {
        let ok = match r {
            Ok(v) => {
                assert_eq!(v, j * 3);
                true
            }
            Err(e) => {
                assert!(matches!(e.kind(), ErrorKind::WorkerDied { .. }), "{e}");
                false
            }
        };
        assert!(outcome.insert(j, ok).is_none(), "task {j} ended twice");
    }
}

#[test]
fn dropping_the_pool_terminates_and_reaps_its_workers() {
    isolated(|| {
        let pids;
        {
            let pool = Pool::new(3).unwrap();
            pids = pool.pids();
            let _pending = pool.apply_async(
                |ms: u64| std::thread::sleep(Duration::from_millis(ms)),
                5_000,
            );
            drop(_pending);
        }
        for pid in pids {
            assert_eq!(
                crate::common::proc_state(pid.as_raw()),
                None,
                "{pid} left behind"
            );
        }
    });
}

#[test]
fn a_worker_death_is_seen_even_when_the_program_ignores_sigchld() {
    isolated(|| {
        // SAFETY: sets a disposition in this isolated test process only.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
        let pool = Pool::new(1).unwrap();
        let e = pool.apply(die_if_odd, 1).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::WorkerDied {
                    exitcode: mproc::pool::LOST_STATUS,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("SIGCHLD ignored"), "{e}");
        // The replacement serves.
        assert_eq!(pool.apply(square, 6).unwrap(), 36);
    });
}
