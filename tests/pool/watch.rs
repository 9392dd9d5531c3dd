//! `Pool::watch`: a descriptor readable while a result is ready to
//! collect (or a worker died), without the parent parked in a pool call.

use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::ipc::wait;
use mproc::pool::Pool;
use mproc::process;
use mproc::signal::{self, Signal};

use crate::common::isolated;

/// Far longer than any wake-up takes, even under qemu on a loaded machine.
const LONG: Duration = Duration::from_secs(5);

/// Whether `fd` is readable within `timeout`.
fn readable(fd: &impl AsFd, timeout: Duration) -> bool {
    wait(&[fd.as_fd()], Some(timeout)).unwrap().contains(0)
}

/// Blocks until one byte arrives on descriptor `fd` (inherited from the
/// test through the fork), then returns `fd + 1`.
fn wait_for_byte(fd: i32) -> i32 {
    let mut b = 0u8;
    // SAFETY: reads one byte into `b`, from a descriptor the worker
    // inherited open.
    let n = unsafe { libc::read(fd, (&raw mut b).cast(), 1) };
    assert_eq!(n, 1, "the gate's byte");
    fd + 1
}

/// Whether the watch goes unreadable once the pool has run (`poll`) with
/// no result left to collect. A worker's wake-up may land just after the
/// parent collected its result (the worker commits, then raises): the
/// documented rare readiness with nothing ready, lowered by the next
/// `poll`.
fn settles(pool: &Pool, watch: &impl AsFd) -> bool {
    crate::common::eventually(LONG, || {
        pool.poll().unwrap();
        !readable(watch, Duration::ZERO)
    })
}

fn square(x: u64) -> u64 {
    x * x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Kills its own worker with `SIGKILL`.
fn die(x: u64) -> u64 {
    signal::kill(process::getpid(), Signal::KILL).unwrap();
    x
}

#[test]
fn the_watch_is_readable_exactly_while_a_result_waits_to_be_collected() {
    isolated(|| {
        let (gate, mut opener) = std::io::pipe().unwrap();
        let pool = Pool::new(1).unwrap();
        let fd = gate.as_raw_fd();
        let r = pool.apply_async(wait_for_byte, fd).unwrap();
        let watch = r.watch().unwrap();
        assert!(
            !readable(&watch, Duration::ZERO),
            "readable before the task ended"
        );
        assert!(!r.ready());
        assert!(!readable(&watch, Duration::from_millis(20)));
        opener.write_all(&[1]).unwrap();
        // No pool call between the opening and the wake-up.
        assert!(readable(&watch, LONG), "the ended task raised nothing");
        assert!(r.ready());
        // Still readable: the result is not collected yet.
        assert!(readable(&watch, Duration::ZERO));
        assert_eq!(r.get().unwrap(), fd + 1);
        assert!(
            settles(&pool, &watch),
            "readable after the only result was collected"
        );
        drop(watch);
        drop(gate);
    });
}

#[test]
fn a_50_ms_task_wakes_the_watch_without_the_parent_calling_the_pool() {
    // The case: a tokio task waiting on `Pool::sentinel` slept
    // 500 ms past a 50 ms task, as that eventfd is raised only while the
    // parent is parked in a pool call.
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let watch = pool.watch().unwrap();
        let start = Instant::now();
        let r = pool.apply_async(sleep_ms, 50).unwrap();
        assert!(readable(&watch, LONG), "no wake-up within {LONG:?}");
        let took = start.elapsed();
        assert!(took < LONG / 2, "woke after {took:?}");
        assert!(r.ready());
        assert_eq!(r.get().unwrap(), 50);
    });
}

#[test]
fn a_worker_dying_mid_task_makes_the_watch_readable() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        let watch = pool.watch().unwrap();
        let r = pool.apply_async(die, 3).unwrap();
        while !r.ready() {
            assert!(readable(&watch, LONG), "the death raised nothing");
        }
        let e = r.get().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::WorkerDied { .. }), "{e:?}");
        // The replacement's sentinel is watched, the dead one's is not.
        assert!(
            settles(&pool, &watch),
            "the dead worker's sentinel stays in"
        );
        assert_eq!(pool.apply(square, 4).unwrap(), 16);
        let r = pool.apply_async(die, 5).unwrap();
        while !r.ready() {
            assert!(
                readable(&watch, LONG),
                "the replacement's death raised nothing"
            );
        }
    });
}

#[test]
fn no_wake_up_is_missed_when_a_task_ends_between_the_check_and_the_park() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let iterations = if crate::common::under_qemu() {
            200
        } else {
            3000
        };
        let held = pool.watch().unwrap();
        for i in 0..iterations {
            let r = pool.apply_async(square, i).unwrap();
            // Half the rounds register a watch of their own after the
            // submission (the registration races the worker's commit), the
            // other half use the one held throughout.
            let own = (i % 2 == 0).then(|| pool.watch().unwrap());
            let fd = own.as_ref().map_or(held.as_fd(), |w| w.as_fd());
            // `ready` runs the pool (`poll`) each time: a readiness left
            // by an earlier round's wake-up is lowered there.
            while !r.ready() {
                assert!(
                    readable(&fd, LONG),
                    "round {i}: the task ended and the watch stayed silent"
                );
            }
            assert_eq!(r.get().unwrap(), i * i);
        }
        // Every result collected: nothing to wake for.
        assert!(settles(&pool, &held));
    });
}

#[test]
fn blocking_calls_go_on_working_while_a_watch_is_held() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let watch = pool.watch().unwrap();
        for i in 0..200u64 {
            assert_eq!(pool.apply(square, i).unwrap(), i * i);
        }
        assert_eq!(pool.map(square, 0..100u64, 7).unwrap()[99], 99 * 99);
        assert!(settles(&pool, &watch));
        drop(watch);
        assert_eq!(pool.apply(square, 9).unwrap(), 81);
    });
}
