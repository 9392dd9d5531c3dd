//! `apply`, `apply_async` and `AsyncResult`, callbacks, close/terminate/join.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::pool::Pool;
use mproc::process;

use crate::common::isolated;

fn square(x: u64) -> u64 {
    x * x
}

fn pid_of(_: ()) -> i32 {
    process::getpid().as_raw()
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn apply_runs_in_a_worker_and_returns_the_result() {
    isolated(|| {
        let pool = Pool::new(3).unwrap();
        assert_eq!(pool.processes(), 3);
        let pids = pool.pids();
        assert_eq!(pids.len(), 3);
        for i in 0..10 {
            assert_eq!(pool.apply(square, i).unwrap(), i * i);
        }
        // Closures that capture nothing are tasks too.
        assert_eq!(pool.apply(|x: u32| x + 1, 41).unwrap(), 42);
        // The task ran in one of the pool's workers, never in the parent.
        let ran_in = pool.apply(pid_of, ()).unwrap();
        assert!(pids.iter().any(|p| p.as_raw() == ran_in));
        assert_ne!(ran_in, process::getpid().as_raw());
    });
}

#[test]
fn the_same_workers_serve_from_start_to_end() {
    isolated(|| {
        let pool = Pool::new(3).unwrap();
        let pids = pool.pids();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(pool.apply(pid_of, ()).unwrap());
        }
        assert!(seen.len() <= 3);
        for pid in &seen {
            assert!(pids.iter().any(|p| p.as_raw() == *pid));
        }
        assert_eq!(pool.pids(), pids);
    });
}

#[test]
fn apply_async_results_come_back_whatever_order_they_are_fetched_in() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let results: Vec<_> = (0..20u64)
            .map(|i| pool.apply_async(square, i).unwrap())
            .collect();
        assert_eq!(pool.outstanding(), 20);
        for (i, r) in results.into_iter().enumerate().rev() {
            assert_eq!(r.get().unwrap(), (i * i) as u64);
        }
        assert_eq!(pool.outstanding(), 0);
    });
}

#[test]
fn exact_results_for_100k_tasks() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let mut window = std::collections::VecDeque::new();
        let mut sum = 0u64;
        for i in 0..100_000u64 {
            if window.len() == 32 {
                let (j, r): (
                    u64,
                    mproc::pool::AsyncResult<
                        '_,
                        u64,
                        { mproc::config::POOL_SLOTS },
                        { mproc::config::POOL_TASK_BYTES },
                    >,
                ) = window.pop_front().unwrap();
                assert_eq!(r.get().unwrap(), j * j);
                sum += j * j;
            }
            window.push_back((i, pool.apply_async(square, i).unwrap()));
        }
        for (j, r) in window {
            assert_eq!(r.get().unwrap(), j * j);
            sum += j * j;
        }
        let n = 100_000u64;
        assert_eq!(sum, (n - 1) * n * (2 * n - 1) / 6);
    });
}

#[test]
fn get_timeout_times_out_and_the_result_can_still_be_fetched() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        let mut r = pool.apply_async(sleep_ms, 300).unwrap();
        assert!(!r.ready());
        assert_eq!(r.successful(), None);
        let e = r.get_timeout(Duration::from_millis(20)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(!r.wait_timeout(Duration::from_millis(10)).unwrap());
        assert_eq!(r.get_timeout(Duration::from_secs(20)).unwrap(), 300);
        let again = r.get_timeout(Duration::from_secs(1)).unwrap_err();
        assert!(matches!(again.kind(), ErrorKind::InvalidArgument(_)));
    });
}

#[test]
fn ready_successful_and_wait() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let r = pool.apply_async(square, 9).unwrap();
        r.wait().unwrap();
        assert!(r.ready());
        assert_eq!(r.successful(), Some(true));
        assert_eq!(r.get().unwrap(), 81);
        let bad = pool
            .apply_async(|x: u64| -> u64 { panic!("bad input {x}") }, 5)
            .unwrap();
        bad.wait().unwrap();
        assert_eq!(bad.successful(), Some(false));
    });
}

#[test]
fn callbacks_run_exactly_once_in_the_parent() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let got = Rc::new(RefCell::new(Vec::new()));
        let errors = Rc::new(RefCell::new(Vec::new()));
        let parent = process::getpid().as_raw();
        for i in 0..50u64 {
            let (g, e) = (Rc::clone(&got), Rc::clone(&errors));
            // Odd tasks panic: exactly one of the two callbacks runs.
            let f = |x: u64| -> u64 {
                assert!(x.is_multiple_of(2), "odd {x}");
                x * 10
            };
            pool.apply_async_with(
                f,
                i,
                move |r: &u64| {
                    assert_eq!(process::getpid().as_raw(), parent);
                    g.borrow_mut().push(*r)
                },
                move |err| e.borrow_mut().push(err.message().to_string()),
            )
            .unwrap();
            // The handle is dropped at once: the pool keeps the callbacks.
        }
        pool.close();
        pool.join().unwrap();
        let mut got = got.borrow().clone();
        got.sort();
        assert_eq!(
            got,
            (0..50)
                .filter(|x| x % 2 == 0)
                .map(|x| x * 10)
                .collect::<Vec<_>>()
        );
        let mut errors = errors.borrow().clone();
        errors.sort();
        let mut want: Vec<_> = (0..50)
            .filter(|x| x % 2 == 1)
            .map(|x| format!("odd {x}"))
            .collect();
        want.sort();
        assert_eq!(errors, want);
        assert_eq!(pool.outstanding(), 0);
    });
}

#[test]
fn a_held_result_is_still_fetchable_after_its_callback() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        let seen = Rc::new(RefCell::new(0u64));
        let s = Rc::clone(&seen);
        let r = pool
            .apply_async_with(square, 12, move |v: &u64| *s.borrow_mut() = *v, |_| {})
            .unwrap();
        assert_eq!(r.get().unwrap(), 144);
        assert_eq!(*seen.borrow(), 144);
    });
}

#[test]
fn a_callback_without_error_callback_runs_on_success_only_and_the_handle_keeps_the_failure() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let f = |x: u64| -> u64 {
            assert!(x != 3, "no threes");
            x + 100
        };
        // Held handles: the failure reaches `get`, no callback runs for it.
        let (a, b) = (Rc::clone(&seen), Rc::clone(&seen));
        let ok = pool
            .apply_async_callback(f, 1, move |v: &u64| a.borrow_mut().push(*v))
            .unwrap();
        let bad = pool
            .apply_async_callback(f, 3, move |v: &u64| b.borrow_mut().push(*v))
            .unwrap();
        assert_eq!(ok.get().unwrap(), 101);
        bad.wait().unwrap();
        assert_eq!(bad.successful(), Some(false));
        let e = bad.get().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.message(), "no threes");
        assert_eq!(*seen.borrow(), vec![101]);
        // Dropped handles: a failure is dropped unseen, the pool still ends.
        for i in 0..6u64 {
            let s = Rc::clone(&seen);
            pool.apply_async_callback(f, i, move |v: &u64| s.borrow_mut().push(*v))
                .unwrap();
        }
        pool.close();
        pool.join().unwrap();
        assert_eq!(pool.outstanding(), 0);
        let mut seen = seen.borrow().clone();
        seen.sort();
        assert_eq!(seen, vec![100, 101, 101, 102, 104, 105]);
    });
}

#[test]
fn submitting_after_close_or_terminate_is_an_error_and_join_needs_close() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let e = pool.join().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)));
        let r = pool.apply_async(square, 3).unwrap();
        pool.close();
        let e = pool.apply_async(square, 4).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PoolNotRunning);
        assert_eq!(
            pool.apply(square, 4).unwrap_err().kind(),
            ErrorKind::PoolNotRunning
        );
        let e = pool.map(square, 0..4u64, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PoolNotRunning);
        pool.join().unwrap();
        // Results outlive join.
        assert_eq!(r.get().unwrap(), 9);
        for pid in pool.pids() {
            assert!(
                !process::exists(pid).unwrap_or(false)
                    || crate::common::proc_state(pid.as_raw()) == Some('Z')
            );
        }
    });
}

#[test]
fn terminate_fails_pending_tasks_and_runs_their_error_callbacks() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        let failed = Rc::new(RefCell::new(0));
        let mut held = Vec::new();
        for _ in 0..5 {
            let f = Rc::clone(&failed);
            held.push(
                pool.apply_async_with(
                    sleep_ms,
                    2_000,
                    |_: &u64| {},
                    move |e| {
                        assert_eq!(e.kind(), ErrorKind::Terminated);
                        *f.borrow_mut() += 1
                    },
                )
                .unwrap(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
        let started = std::time::Instant::now();
        pool.terminate().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(*failed.borrow(), 5);
        for r in held {
            assert_eq!(r.get().unwrap_err().kind(), ErrorKind::Terminated);
        }
        assert_eq!(
            pool.apply(square, 1).unwrap_err().kind(),
            ErrorKind::PoolNotRunning
        );
        pool.join().unwrap();
    });
}

#[test]
fn too_many_held_results_is_a_typed_error_and_nothing_is_queued() {
    isolated(|| {
        let pool = Pool::builder().processes(1).build_sized::<4, 64>().unwrap();
        let held: Vec<_> = (0..4u64)
            .map(|i| pool.apply_async(square, i).unwrap())
            .collect();
        let e = pool.apply_async(square, 99).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 4 });
        assert_eq!(e.resource(), mproc::Resource::Capacity("MPROC_POOL_SLOTS"));
        for (i, r) in held.into_iter().enumerate() {
            assert_eq!(r.get().unwrap(), (i * i) as u64);
        }
        // Too big for a slot: named with its limit.
        let e = pool.apply_async(|a: [u8; 100]| a[0], [1; 100]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 64 });
        assert_eq!(
            e.resource(),
            mproc::Resource::Capacity("MPROC_POOL_TASK_BYTES")
        );
    });
}

#[test]
fn dropped_handles_free_their_slots_when_the_tasks_end() {
    isolated(|| {
        let pool = Pool::builder().processes(2).build_sized::<4, 64>().unwrap();
        for i in 0..100u64 {
            // Never more than 4 slots: each dropped handle's slot comes back.
            drop(pool.apply_async(square, i).unwrap());
        }
        pool.close();
        pool.join().unwrap();
        assert_eq!(pool.outstanding(), 0);
    });
}

#[test]
fn initializer_runs_once_in_each_worker_and_maxtasksperchild_replaces_workers() {
    isolated(|| {
        use std::sync::atomic::{AtomicU64, Ordering};
        static INIT_ARG: AtomicU64 = AtomicU64::new(0);
        fn init(arg: u64) {
            INIT_ARG.store(arg, Ordering::Relaxed);
        }
        fn read_init(_: ()) -> (u64, i32) {
            (INIT_ARG.load(Ordering::Relaxed), process::getpid().as_raw())
        }
        let pool = Pool::builder()
            .processes(2)
            .initializer(init, 77)
            .maxtasksperchild(3)
            .build()
            .unwrap();
        let mut pids = std::collections::BTreeSet::new();
        for _ in 0..30 {
            let (arg, pid) = pool.apply(read_init, ()).unwrap();
            assert_eq!(arg, 77);
            pids.insert(pid);
        }
        // 30 tasks, at most 3 per worker: at least 10 workers served.
        assert!(pids.len() >= 10, "{} workers", pids.len());
        assert_eq!(
            INIT_ARG.load(Ordering::Relaxed),
            0,
            "the initializer ran in the parent"
        );
    });
}

#[test]
fn a_failing_initializer_stops_the_pool_instead_of_forking_forever() {
    isolated(|| {
        fn bad_init(_: ()) {
            panic!("no config");
        }
        let pool = Pool::builder()
            .processes(2)
            .initializer(bad_init, ())
            .build()
            .unwrap();
        let e = pool.apply(square, 2).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InitializerFailed { exitcode: 1 }),
            "{e}"
        );
        assert!(matches!(
            pool.apply_async(square, 2).unwrap_err().kind(),
            ErrorKind::InitializerFailed { .. }
        ));
    });
}

#[test]
fn a_forked_childs_copy_refuses_and_leaves_the_workers_alone() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        let mut p = mproc::Process::new(|| {
            let e = pool.apply_async(square, 2).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)));
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(pool.apply(square, 5).unwrap(), 25);
    });
}

#[test]
fn a_full_ring_of_held_results_with_callbacks_runs_them_then_refuses_without_hanging() {
    isolated(|| {
        let pool = Pool::builder().processes(2).build_sized::<4, 64>().unwrap();
        let ran = Rc::new(RefCell::new(0));
        let held: Vec<_> = (0..4u64)
            .map(|i| {
                let r = Rc::clone(&ran);
                pool.apply_async_with(
                    sleep_ms,
                    10 + i,
                    move |_: &u64| *r.borrow_mut() += 1,
                    |_| {},
                )
                .unwrap()
            })
            .collect();
        // Every slot is held by a handle: the callbacks run while the pool
        // waits, then it says the ring is full instead of waiting forever.
        let e = pool.apply_async(square, 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 4 });
        assert_eq!(*ran.borrow(), 4);
        for (i, r) in held.into_iter().enumerate() {
            assert_eq!(r.get().unwrap(), 10 + i as u64);
        }
        assert_eq!(pool.apply(square, 3).unwrap(), 9);
    });
}

#[test]
fn join_timeout_and_map_async_wait_timeout_give_up_in_time_and_finish_later() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        let mut out = [0u64; 2];
        let mut m = pool.map_async(sleep_ms, [150u64, 1], &mut out, 1);
        assert!(!m.wait_timeout(Duration::from_millis(10)).unwrap());
        assert!(m.wait_timeout(Duration::from_secs(20)).unwrap());
        assert_eq!(m.get().unwrap(), 2);
        assert_eq!(out, [150, 1]);
        let r = pool.apply_async(sleep_ms, 150).unwrap();
        pool.close();
        assert!(!pool.join_timeout(Duration::from_millis(10)).unwrap());
        assert!(pool.join_timeout(Duration::from_secs(20)).unwrap());
        assert_eq!(r.get().unwrap(), 150);
        // Pids are task data.
        assert!(
            Pool::new(1)
                .unwrap()
                .apply(|_: ()| process::getpid(), ())
                .is_ok()
        );
    });
}

/// Met by the tasks of `every_task_gets_a_worker_while_a_spinner_runs_a_long_one`.
static MET: std::sync::OnceLock<mproc::shm::Shared<std::sync::atomic::AtomicU32>> =
    std::sync::OnceLock::new();

/// Arrives, then waits (at most 10 s) until `n` tasks have arrived:
/// whether they all ran at once.
fn meet(n: u32) -> bool {
    use std::sync::atomic::Ordering::SeqCst;
    let Some(met) = MET.get() else {
        return false;
    };
    met.fetch_add(1, SeqCst);
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while met.load(SeqCst) < n {
        if std::time::Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    true
}

#[test]
fn every_task_gets_a_worker_while_a_spinner_runs_a_long_one() {
    // A spinning worker keeps its spinning bit while it runs the task it
    // claimed: the tasks queued behind a long one must still wake the
    // parked workers. Each round's tasks finish only if all of them run
    // at once, each in a worker of its own.
    isolated(|| {
        use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
        let met = MET.get_or_init(|| mproc::shm::Shared::new(AtomicU32::new(0)).unwrap());
        for workers in [2u32, 3, 4] {
            let pool = Pool::new(workers as usize).unwrap();
            for round in 0..20 {
                // Round trips first: a worker is spinning when the long
                // tasks come.
                for i in 0..50 {
                    assert_eq!(pool.apply(square, i).unwrap(), i * i);
                }
                met.store(0, SeqCst);
                let results: Vec<_> = (0..workers)
                    .map(|_| pool.apply_async(meet, workers).unwrap())
                    .collect();
                for r in results {
                    assert!(
                        r.get().unwrap(),
                        "{workers} workers, round {round}: a task waited for a worker \
                         while workers were parked"
                    );
                }
            }
            pool.close();
            pool.join().unwrap();
        }
    });
}

/// Voluntary context switches of `pid` so far (its parks: futex waits).
fn parks_of(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("voluntary_ctxt_switches:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn short_tasks_beside_a_long_one_go_to_a_spinning_worker() {
    // A spinner running a long task must not keep the other worker from
    // spinning: the short tasks then reach it without a wake-up (at most
    // one spinner per two CPUs, so on two CPUs the idle worker takes the
    // busy one's place). Counted: the short tasks' worker parks far less
    // than once per task.
    isolated(|| {
        use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
        let met = MET.get_or_init(|| mproc::shm::Shared::new(AtomicU32::new(0)).unwrap());
        let pool = Pool::new(2).unwrap();
        for i in 0..200 {
            assert_eq!(pool.apply(square, i).unwrap(), i * i);
        }
        met.store(0, SeqCst);
        let long = pool.apply_async(meet, 2).unwrap();
        while met.load(SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let other = pool.apply(pid_of, ()).unwrap();
        let before = parks_of(other);
        let n = 2_000;
        for _ in 0..n {
            assert_eq!(pool.apply(pid_of, ()).unwrap(), other);
        }
        let parks = parks_of(other) - before;
        met.fetch_add(1, SeqCst);
        assert!(
            long.get().unwrap(),
            "the long task never saw the end of the short ones"
        );
        assert!(
            parks < n / 4,
            "the short tasks' worker parked {parks} times in {n} tasks"
        );
    });
}
