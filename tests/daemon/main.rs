//! Integration tests of `mproc::daemon`: pidfile, status board, log file
//! and main loop. Each body that forks or takes signals runs isolated in
//! its own forked process (see tests/common/mod.rs).
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;

use std::os::fd::AsFd as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::daemon::{LogFile, MainLoop, Pidfile, State, Status};
use mproc::ipc::Pipe;
use mproc::pool::Pool;
use mproc::process::{self, Process};
use mproc::shm::SharedMemory;
use mproc::signal::{self, SigSet, Signal};

use common::isolated;

fn scratch(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mproc-test-{tag}-{}", process::getpid()))
}

#[test]
fn a_pidfile_is_exclusive_replaces_a_stale_one_and_goes_with_its_owner() {
    isolated(|| {
        let path = scratch("pidfile");
        let p = Pidfile::create(&path).unwrap();
        assert_eq!(Pidfile::read(&path).unwrap(), Some(process::getpid()));
        let e = Pidfile::create(&path).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::AlreadyRunning {
                pid: process::getpid().as_raw()
            }
        );
        // A forked child's copy does not remove it when dropped.
        match process::fork().unwrap() {
            process::Fork::Child(_) => {
                drop(p);
                process::exit(0);
            }
            process::Fork::Parent(child) => {
                assert_eq!(process::waitpid(child).unwrap(), 0);
            }
        }
        assert!(path.exists());
        drop(p);
        assert!(!path.exists());
        // Stale: a pid that is gone, and a file without a pid.
        let mut gone = Process::new(|| ());
        gone.start().unwrap();
        let dead = gone.pid().unwrap();
        gone.join().unwrap();
        std::fs::write(&path, format!("{dead}\n")).unwrap();
        let p = Pidfile::create(&path).unwrap();
        assert_eq!(Pidfile::read(&path).unwrap(), Some(process::getpid()));
        drop(p);
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(Pidfile::read(&path).unwrap(), None);
        drop(Pidfile::create(&path).unwrap());
        assert!(!path.exists());
    });
}

#[test]
fn a_status_board_is_read_by_another_process() {
    isolated(|| {
        let name = format!("/mproc-test-status-{}", process::getpid());
        let board = SharedMemory::create(&name, Status::new()).unwrap();
        board.set_state(State::Running);
        board.workers.store(3, Ordering::Relaxed);
        board.target_workers.store(4, Ordering::Relaxed);
        let mut reader = Process::new(|| {
            let seen = SharedMemory::<Status>::open(&name).unwrap();
            let s = seen.snapshot();
            assert_eq!(s.state, State::Running);
            assert_eq!(s.pid, process::getppid().as_raw() as u32);
            seen.done.fetch_add(7, Ordering::Relaxed);
        });
        reader.start().unwrap();
        assert_eq!(reader.join().unwrap(), 0);
        let s = board.snapshot();
        assert_eq!(s.done, 7);
        assert!(s.rss_kib > 0, "touched: the master's RSS");
        let line = s.to_string();
        assert!(
            line.starts_with(&format!(
                "pid={} state=running workers=3/4 ",
                process::getpid()
            )),
            "{line}"
        );
        assert!(line.contains(" done=7 "), "{line}");
    });
}

#[test]
fn a_log_file_follows_its_rotation() {
    let path = scratch(&format!("log-{:?}", std::thread::current().id()));
    let rotated = path.with_extension("1");
    let mut log = LogFile::open(&path).unwrap();
    log.line(format_args!("first {}", 1)).unwrap();
    std::fs::rename(&path, &rotated).unwrap();
    log.line(format_args!("second")).unwrap(); // still the moved file
    log.reopen().unwrap();
    log.line(format_args!("third")).unwrap();
    assert_eq!(
        std::fs::read_to_string(&rotated).unwrap(),
        "first 1\nsecond\n"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "third\n");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&rotated);
}

#[test]
fn the_main_loop_wakes_for_signals_sources_and_time() {
    isolated(|| {
        let main = MainLoop::new(SigSet::from_signals(&[Signal::USR1, Signal::HUP])).unwrap();
        let (rx, tx) = Pipe::simplex().unwrap();
        let started = Instant::now();
        let woke = main
            .wait(&[rx.as_fd()], Some(Duration::from_millis(20)))
            .unwrap();
        assert!(woke.is_timeout());
        assert!(started.elapsed() >= Duration::from_millis(20));
        signal::kill(process::getpid(), Signal::USR1).unwrap();
        signal::kill(process::getpid(), Signal::HUP).unwrap();
        tx.send_bytes(b"job").unwrap();
        let woke = main.wait(&[rx.as_fd()], None).unwrap();
        let sigs: Vec<_> = woke.signals().iter().map(|i| i.signal).collect();
        assert!(
            sigs.contains(&Signal::USR1) && sigs.contains(&Signal::HUP),
            "{sigs:?}"
        );
        assert!(
            woke.signals()
                .iter()
                .all(|i| i.sender == Some(process::getpid()))
        );
        assert!(woke.ready().contains(0));
        let mut buf = [0u8; 8];
        assert_eq!(rx.recv_bytes(&mut buf).unwrap(), 3);
        assert!(
            main.wait(&[rx.as_fd()], Some(Duration::ZERO))
                .unwrap()
                .is_timeout()
        );
    });
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn the_main_loop_replaces_a_dead_worker_and_enforces_task_timeouts_while_it_waits() {
    isolated(|| {
        let main = MainLoop::new(SigSet::from_signals(&[Signal::TTIN])).unwrap();
        let pool = Pool::builder()
            .processes(2)
            .task_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let victim = pool.pids()[0];
        signal::kill(victim, Signal::KILL).unwrap();
        let overdue = pool.apply_async(nap, 10_000).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        // Nothing but the loop's waits drive the pool here.
        while !(overdue.ready() && pool.pids().len() == 2 && !pool.pids().contains(&victim)) {
            assert!(
                Instant::now() < deadline,
                "the loop did not do the pool's work"
            );
            main.wait_pool(&pool, &[], Some(Duration::from_secs(1)))
                .unwrap();
        }
        assert!(matches!(
            overdue.get().unwrap_err().kind(),
            ErrorKind::TaskTimedOut { .. }
        ));
        signal::kill(process::getpid(), Signal::TTIN).unwrap();
        let woke = main
            .wait_pool(&pool, &[], Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(woke.signals()[0].signal, Signal::TTIN);
    });
}

#[test]
fn the_main_loop_wakes_when_a_task_ends_and_forgets_reaped_workers() {
    isolated(|| {
        let main = MainLoop::new(SigSet::from_signals(&[Signal::USR1])).unwrap();
        let pool = Pool::new(1).unwrap();
        for _ in 0..5 {
            let r = pool.apply_async(nap, 20).unwrap();
            let started = Instant::now();
            while !r.ready() {
                main.wait_pool(&pool, &[], Some(Duration::from_secs(5)))
                    .unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "woken by the end, not by the timeout: {:?}",
                started.elapsed()
            );
            assert_eq!(r.get().unwrap(), 20);
        }
        // A task that ended before the wait began wakes it too.
        let r = pool.apply_async(nap, 1).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        main.wait_pool(&pool, &[], Some(Duration::from_secs(5)))
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(r.ready());
        pool.close();
        pool.join().unwrap();
        assert!(pool.pids().is_empty(), "reaped workers are not listed");
    });
}

#[test]
fn the_main_loop_never_sleeps_on_a_callback_it_has_not_run() {
    isolated(|| {
        use std::cell::Cell;
        use std::rc::Rc;
        fn quick(x: u64) -> u64 {
            x
        }
        let main = MainLoop::new(SigSet::from_signals(&[Signal::USR1])).unwrap();
        let pool = Pool::new(2).unwrap();
        let ran = Rc::new(Cell::new(0u64));
        // Bursts of tasks whose ends only callbacks see: every burst must
        // end through the loop's own wake-ups, never its 2 s timeout.
        for burst in 0..200u64 {
            let started = Instant::now();
            for i in 0..10 {
                let on_done = Rc::clone(&ran);
                drop(
                    pool.apply_async_with(
                        quick,
                        i,
                        move |_: &u64| on_done.set(on_done.get() + 1),
                        |_| {},
                    )
                    .unwrap(),
                );
            }
            while ran.get() < (burst + 1) * 10 {
                main.wait_pool(&pool, &[], Some(Duration::from_secs(2)))
                    .unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_millis(1500),
                "burst {burst} waited {:?}: a task's end went unnoticed",
                started.elapsed()
            );
        }
    });
}

#[test]
fn children_of_a_loop_that_blocks_term_still_die_of_it() {
    isolated(|| {
        // The main loop blocks TERM in the master; a child must not
        // inherit that, or `terminate` (and a pool's task timeout) waits
        // for the SIGKILL half a second later.
        let _main = MainLoop::new(SigSet::from_signals(&[Signal::TERM])).unwrap();
        let mut child = Process::new(|| {
            // A plain sleep (pause() would unblock signals while it waits).
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        child.start().unwrap();
        child.terminate().unwrap();
        assert_eq!(
            child.join_timeout(Duration::from_secs(5)).unwrap(),
            Some(-15),
            "ended by SIGTERM, not blocked in the child"
        );
    });
}
