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
        // Stale: a pid that is gone.
        let mut gone = Process::new(|| ());
        gone.start().unwrap();
        let dead = gone.pid().unwrap();
        gone.join().unwrap();
        std::fs::write(&path, format!("{dead}\n")).unwrap();
        let p = Pidfile::create(&path).unwrap();
        assert_eq!(p.replaced(), Some(dead));
        assert_eq!(Pidfile::read(&path).unwrap(), Some(process::getpid()));
        drop(p);
        assert!(!path.exists());
        let p = Pidfile::create(&path).unwrap();
        assert_eq!(p.replaced(), None);
        drop(p);
        // Nothing else is left beside it (the temporary name it was
        // written under).
        let dir = path.parent().unwrap();
        let stem = path.file_name().unwrap().to_str().unwrap();
        let left: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(stem))
            .collect();
        assert_eq!(left, Vec::<String>::new());
    });
}

#[test]
fn a_file_that_is_not_a_pidfile_of_ours_is_refused_and_left_as_it_is() {
    isolated(|| {
        let path = scratch("pidfile-foreign");
        let mut gone = Process::new(|| ());
        gone.start().unwrap();
        let dead = gone.pid().unwrap().as_raw();
        gone.join().unwrap();
        let mut random = vec![0u8; 4096];
        use std::io::Read as _;
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut random)
            .unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                b"garbage".to_vec(),
                "something else than a pid and a newline",
            ),
            (Vec::new(), "an empty file"),
            (
                format!("{dead} and more\n").into_bytes(),
                "something else than a pid and a newline",
            ),
            (
                format!(" {dead}\n").into_bytes(),
                "something else than a pid and a newline",
            ),
            (
                format!("{dead}\n{dead}\n").into_bytes(),
                "something else than a pid and a newline",
            ),
            (b"0\n".to_vec(), "something else than a pid and a newline"),
            (b"-1\n".to_vec(), "something else than a pid and a newline"),
            (random, "something else than a pid and a newline"),
            (
                b"[Unit]\nDescription=not a pidfile\n".to_vec(),
                "something else than a pid and a newline",
            ),
        ];
        for (content, found) in cases {
            std::fs::write(&path, &content).unwrap();
            let e = Pidfile::create(&path).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotOurs { found }, "{content:?}: {e}");
            assert!(e.to_string().contains("left untouched"), "{e}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                content,
                "a file that is not a pidfile was changed"
            );
        }
        std::fs::remove_file(&path).unwrap();
    });
}

/// Sets the start time a pidfile records, as `Pidfile::create` does;
/// `false` where the file system keeps no user extended attributes.
fn record_start(path: &std::path::Path, start: u64) -> bool {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let value = start.to_string();
    // SAFETY: NUL-terminated strings and a live buffer of `value.len()`.
    let r = unsafe {
        libc::setxattr(
            c.as_ptr(),
            c"user.mproc.start".as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    r == 0
}

/// The start time of `pid`, as procfs says (0 where it hides it).
fn start_of(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc//{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(19).unwrap().parse().unwrap()
}

#[test]
fn a_pidfile_whose_pid_was_reused_is_replaced_and_a_live_one_kept() {
    isolated(|| {
        let path = scratch("pidfile-reused");
        // A live process standing for whoever has the pid now.
        let mut other = Process::new(|| {
            loop {
                signal::pause();
            }
        });
        other.start().unwrap();
        let pid = other.pid().unwrap();
        let start = start_of(pid.as_raw());
        std::fs::write(&path, format!("{pid}\n")).unwrap();
        if start == 0 || !record_start(&path, start) {
            common::raw_stderr(
                "skipped: no process start times or no user extended attributes here\n",
            );
            other.kill().unwrap();
            other.join().unwrap();
            let _ = std::fs::remove_file(&path);
            return;
        }
        // The recorded start time is this process's: it wrote the file.
        assert_eq!(
            Pidfile::create(&path).unwrap_err().kind(),
            ErrorKind::AlreadyRunning { pid: pid.as_raw() }
        );
        // Without a recorded start time: taken at its word.
        std::fs::write(&path, format!("{pid}\n")).unwrap();
        assert_eq!(
            Pidfile::create(&path).unwrap_err().kind(),
            ErrorKind::AlreadyRunning { pid: pid.as_raw() }
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{pid}\n"));
        // Recorded by a writer that started at another time: the pid was
        // reused, the writer is gone.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, format!("{pid}\n")).unwrap();
        assert!(record_start(&path, start + 1));
        let p = Pidfile::create(&path).unwrap();
        assert_eq!(p.replaced(), Some(pid));
        assert_eq!(Pidfile::read(&path).unwrap(), Some(process::getpid()));
        // And ours records our start time.
        let mut buf = [0u8; 32];
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: NUL-terminated strings and a live buffer.
        let n = unsafe {
            libc::getxattr(
                c.as_ptr(),
                c"user.mproc.start".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert!(n > 0);
        let mine: u64 = std::str::from_utf8(&buf[..n as usize])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(mine, start_of(process::getpid().as_raw()));
        drop(p);
        other.kill().unwrap();
        other.join().unwrap();
    });
}

#[test]
fn a_pidfile_put_in_place_by_another_process_is_not_removed_by_the_old_owner() {
    isolated(|| {
        let path = scratch("pidfile-replaced");
        let p = Pidfile::create(&path).unwrap();
        // Another instance's pidfile now stands at the path.
        let theirs = path.with_extension("theirs");
        std::fs::write(&theirs, "4242\n").unwrap();
        std::fs::rename(&theirs, &path).unwrap();
        drop(p);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4242\n");
        std::fs::remove_file(&path).unwrap();
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
fn pushed_log_lines_are_written_together_in_order_by_flush_reopen_and_drop() {
    let path = scratch(&format!("batch-{:?}", std::thread::current().id()));
    let rotated = path.with_extension("1");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    let mut log = LogFile::open(&path).unwrap();
    log.push(format_args!("one")).unwrap();
    log.push(format_args!("two {}", 2)).unwrap();
    assert_eq!(read(&path), "", "pushed lines wait for the flush");
    log.flush().unwrap();
    assert_eq!(read(&path), "one\ntwo 2\n");
    // `line` writes what was pushed first, then itself.
    log.push(format_args!("three")).unwrap();
    log.line(format_args!("four")).unwrap();
    assert_eq!(read(&path), "one\ntwo 2\nthree\nfour\n");
    // `reopen` writes the batch to the file it leaves.
    log.push(format_args!("five")).unwrap();
    std::fs::rename(&path, &rotated).unwrap();
    log.reopen().unwrap();
    assert!(read(&rotated).ends_with("four\nfive\n"));
    // A full batch writes itself before the line that does not fit, whole
    // lines only.
    let long = "x".repeat(999);
    let per_batch = LogFile::BATCH / 1000;
    for _ in 0..=per_batch {
        log.push(format_args!("{long}")).unwrap();
    }
    let written = read(&path);
    assert_eq!(written.len(), per_batch * 1000);
    assert!(written.lines().all(|l| l == long));
    // Dropped, it writes the rest.
    drop(log);
    assert_eq!(read(&path).lines().count(), per_batch + 1);
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

#[test]
fn starters_racing_over_a_stale_pidfile_leave_exactly_one_running() {
    isolated(|| {
        use std::io::{Read as _, Write as _};
        let path = scratch("pidfile-race");
        for _round in 0..20 {
            let mut gone = Process::new(|| ());
            gone.start().unwrap();
            let dead = gone.pid().unwrap();
            gone.join().unwrap();
            std::fs::write(&path, format!("{dead}\n")).unwrap();
            let (mut results, report) = std::io::pipe().unwrap();
            let (hold, mut release) = std::io::pipe().unwrap();
            let starters: Vec<_> = (0..6)
                .map(|_| {
                    let (path, mut report, mut hold) = (
                        path.clone(),
                        report.try_clone().unwrap(),
                        hold.try_clone().unwrap(),
                    );
                    let mut p = Process::new(move || {
                        let made = Pidfile::create(&path);
                        let byte = match &made {
                            Ok(_) => b'1',
                            Err(e) if matches!(e.kind(), ErrorKind::AlreadyRunning { .. }) => b'0',
                            Err(_) => b'e',
                        };
                        report.write_all(&[byte]).unwrap();
                        // Keep it until every starter has tried.
                        let mut b = [0u8; 1];
                        hold.read_exact(&mut b).unwrap();
                        drop(made);
                    });
                    p.start().unwrap();
                    p
                })
                .collect();
            drop((report, hold));
            let mut got = [0u8; 6];
            results.read_exact(&mut got).unwrap();
            // One byte each (every child holds a copy of the write end, so
            // closing ours would not end their reads).
            release.write_all(&[0u8; 6]).unwrap();
            for p in &starters {
                assert_eq!(p.join().unwrap(), 0);
            }
            let winners = got.iter().filter(|&&b| b == b'1').count();
            assert_eq!(winners, 1, "{:?}", String::from_utf8_lossy(&got));
            assert!(got.iter().all(|&b| b != b'e'), "{got:?}");
            assert!(!path.exists(), "the winner's pidfile went with it");
        }
    });
}
