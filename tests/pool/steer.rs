//! Steering a running pool as a daemon's master does: resize, replace the
//! workers, drain, the per-task timeout and the crash-loop back-off.

use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::pool::Pool;
use mproc::process;

use crate::common::isolated;

fn pid_of(_x: u64) -> i32 {
    process::getpid().as_raw()
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Polls the pool until `cond` holds, for at most 10 s.
fn until(pool: &Pool, what: &str, cond: impl Fn(&Pool) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond(pool) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        pool.poll().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_pool_grows_shrinks_to_zero_and_comes_back() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        pool.resize(3).unwrap();
        assert_eq!(pool.processes(), 3);
        assert_eq!(pool.pids().len(), 3, "forked at once");
        pool.resize(1).unwrap();
        until(&pool, "two workers to retire", |p| p.pids().len() == 1);
        // No workers: tasks wait, queued, until the pool grows again.
        pool.resize(0).unwrap();
        until(&pool, "the last worker to retire", |p| p.pids().is_empty());
        let r = pool.apply_async(pid_of, 0).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        pool.poll().unwrap();
        assert!(!r.ready());
        assert_eq!(pool.queued(), 1);
        pool.resize(1).unwrap();
        let pid = r.get().unwrap();
        assert_eq!(pool.pids().as_slice(), [mproc::Pid::from_raw(pid).unwrap()]);
        let e = pool
            .resize(mproc::config::POOL_MAX_WORKERS + 1)
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::CapacityExceeded { .. }));
        pool.close();
        assert_eq!(
            pool.resize(2).unwrap_err().kind(),
            ErrorKind::PoolNotRunning
        );
    });
}

#[test]
fn replacing_the_workers_loses_no_task_and_changes_every_pid() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let before = pool.pids();
        let results: Vec<_> = (0..40u64)
            .map(|i| pool.apply_async(nap, i % 3).unwrap())
            .collect();
        pool.replace_workers().unwrap();
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(r.get().unwrap(), i as u64 % 3);
        }
        until(&pool, "two fresh workers", |p| {
            let now = p.pids();
            now.len() == 2 && now.iter().all(|pid| !before.contains(pid))
        });
    });
}

#[test]
fn a_task_past_the_timeout_fails_and_its_worker_is_replaced() {
    isolated(|| {
        let pool = Pool::builder()
            .processes(1)
            .task_timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let before = pool.pids();
        let started = Instant::now();
        let e = pool.apply(nap, 10_000).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::TaskTimedOut {
                    timeout_ms: 100,
                    ..
                }
            ),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(pool.apply(nap, 1).unwrap(), 1, "a replacement runs tasks");
        assert_ne!(pool.pids(), before);
        // A daemon's loop is told when to look again.
        let r = pool.apply_async(nap, 10_000).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        let wait = pool.poll_timeout().expect("a task is running");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        drop(r);
    });
}

#[test]
fn draining_finishes_queued_tasks_in_time_or_terminates_the_rest() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let quick: Vec<_> = (0..10).map(|_| pool.apply_async(nap, 5).unwrap()).collect();
        assert!(pool.drain(Duration::from_secs(20)).unwrap());
        for r in quick {
            assert_eq!(r.get().unwrap(), 5);
        }
        let pool = Pool::new(1).unwrap();
        let slow = pool.apply_async(nap, 10_000).unwrap();
        let started = Instant::now();
        assert!(!pool.drain(Duration::from_millis(100)).unwrap());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(slow.get().unwrap_err().kind(), ErrorKind::Terminated);
    });
}

#[test]
fn workers_dying_at_start_up_again_and_again_are_re_forked_ever_more_slowly() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        // Kill each fresh worker before it takes a task: a crash loop.
        for _ in 0..8 {
            until(&pool, "a worker", |p| p.pids().len() == 1);
            let pid = pool.pids()[0];
            mproc::signal::kill(pid, mproc::Signal::KILL).unwrap();
            until(&pool, "its death", |p| !p.pids().contains(&pid));
        }
        // The eighth death in a row waits 320 ms before the next fork.
        assert!(pool.pids().is_empty(), "not re-forked at once");
        let wait = pool.poll_timeout().expect("a re-fork is due");
        assert!(wait > Duration::from_millis(100), "{wait:?}");
        until(&pool, "the re-fork after the back-off", |p| {
            p.pids().len() == 1
        });
        assert_eq!(pool.apply(nap, 1).unwrap(), 1);
    });
}

#[test]
fn jitter_spreads_the_recycling_of_workers() {
    isolated(|| {
        let distinct = |pool: &Pool| {
            let mut pids: Vec<i32> = (0..20).map(|i| pool.apply(pid_of, i).unwrap()).collect();
            pids.sort_unstable();
            pids.dedup();
            pids.len()
        };
        let plain = Pool::builder()
            .processes(1)
            .maxtasksperchild(1)
            .build()
            .unwrap();
        assert_eq!(distinct(&plain), 20, "one task per worker");
        drop(plain);
        // Each worker now runs 1 + (0 to 100) tasks: all twenty drawing 0
        // has odds of 101^-20.
        let jittered = Pool::builder()
            .processes(1)
            .maxtasksperchild(1)
            .maxtasksperchild_jitter(100)
            .build()
            .unwrap();
        assert!(distinct(&jittered) < 20);
    });
}

/// Looks at `cond` without steering the pool, for at most 10 s.
fn becomes(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn healthy_means_every_worker_runs_and_no_task_overran_the_timeout() {
    isolated(|| {
        let pool = Pool::builder()
            .processes(2)
            .task_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        assert!(pool.healthy());
        // A worker killed: unhealthy from its death (before the pool
        // reaps it) until its replacement runs.
        let pid = pool.pids()[0];
        mproc::signal::kill(pid, mproc::Signal::KILL).unwrap();
        becomes("the death to show", || !pool.healthy());
        until(&pool, "the replacement", |p| {
            p.healthy() && !p.pids().contains(&pid)
        });
        // A task wedged past the timeout: unhealthy once it has run that
        // long, until the pool has stopped and replaced its worker.
        let wedged = pool.apply_async(nap, 10_000).unwrap();
        becomes("the task to start", || pool.queued() == 0);
        std::thread::sleep(Duration::from_millis(50));
        assert!(pool.healthy(), "within the timeout");
        becomes("the overrun to show", || !pool.healthy());
        until(&pool, "the wedged worker's replacement", |p| p.healthy());
        let e = wedged.get().unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::TaskTimedOut {
                    timeout_ms: 300,
                    ..
                }
            ),
            "{e}"
        );
        pool.close();
        assert!(!pool.healthy(), "closed");
    });
}
