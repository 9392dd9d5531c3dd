//! How a process ends with children: Python's `atexit` join
//! (`multiprocessing.util._exit_function`), its opt-out, and Python's rule
//! that daemonic processes have no children.
//!
//! "The program" below is a forked child of the test body that starts
//! children and then calls `std::process::exit`, the C library's `exit`
//! that a return from `main` ends in too; the test body waits for it as
//! the program's parent would.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::process::{self, Fork, Pid, Process};

use crate::common::{gate, isolated, orphan_exit, proc_state};

/// A marker file of this test body's own.
fn marker(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("mproc-exit-{tag}-{}", process::getpid()));
    let _ = std::fs::remove_file(&path);
    path
}

fn read_pid(rx: &mut std::io::PipeReader) -> Pid {
    let mut buf = [0u8; 4];
    rx.read_exact(&mut buf).unwrap();
    Pid::from_raw(i32::from_le_bytes(buf)).unwrap()
}

fn send_pid(tx: &mut std::io::PipeWriter, pid: Pid) {
    tx.write_all(&pid.as_raw().to_le_bytes()).unwrap();
}

/// Whether `pid` is a live process (not a zombie waiting for its reaper).
fn live(pid: Pid) -> bool {
    matches!(proc_state(pid.as_raw()), Some(s) if s != 'Z')
}

#[test]
fn a_program_that_exits_joins_its_non_daemon_children_first() {
    isolated(|| {
        let path = marker("join");
        let (go, mut open) = gate();
        let program = match process::fork().unwrap() {
            Fork::Child(_) => {
                drop(open);
                let written = path.clone();
                let mut child = Process::new(move || {
                    go.wait();
                    std::thread::sleep(Duration::from_millis(300));
                    std::fs::write(&written, b"done").unwrap();
                });
                child.start().unwrap();
                // Returns at once, handle dropped: as a `main` that ends.
                drop(child);
                std::process::exit(0);
            }
            Fork::Parent(pid) => pid,
        };
        drop(go);
        // The program waits for its child, which waits for the gate.
        assert_eq!(
            process::waitpid_timeout(program, Duration::from_millis(200)).unwrap(),
            None,
            "the program ended without joining its child"
        );
        open.write_all(b"g").unwrap();
        assert_eq!(process::waitpid(program).unwrap(), 0);
        assert!(
            path.exists(),
            "the program ended before its child wrote its marker"
        );
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn with_join_at_exit_off_a_program_ends_before_its_children() {
    isolated(|| {
        let path = marker("nojoin");
        let (go, mut open) = gate();
        let (mut rx, mut tx) = std::io::pipe().unwrap();
        let program = match process::fork().unwrap() {
            Fork::Child(_) => {
                drop(open);
                assert!(process::join_at_exit());
                process::set_join_at_exit(false);
                let written = path.clone();
                let mut child = Process::new(move || {
                    go.wait();
                    std::fs::write(&written, b"done").unwrap();
                });
                child.start().unwrap();
                send_pid(&mut tx, child.pid().unwrap());
                std::process::exit(0);
            }
            Fork::Parent(pid) => pid,
        };
        drop((go, tx));
        let child = read_pid(&mut rx);
        assert_eq!(
            process::waitpid_timeout(program, Duration::from_secs(10)).unwrap(),
            Some(0),
            "the program waited for its child"
        );
        assert!(live(child), "the child should outlive the program");
        assert!(!path.exists());
        open.write_all(b"g").unwrap();
        assert!(matches!(
            orphan_exit(child, Duration::from_secs(10)),
            Some(0 | i32::MIN)
        ));
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn process_exit_skips_the_join() {
    isolated(|| {
        let (go, mut open) = gate();
        let (mut rx, mut tx) = std::io::pipe().unwrap();
        let program = match process::fork().unwrap() {
            Fork::Child(_) => {
                drop(open);
                let mut child = Process::new(move || go.wait());
                child.start().unwrap();
                send_pid(&mut tx, child.pid().unwrap());
                process::exit(0)
            }
            Fork::Parent(pid) => pid,
        };
        drop((go, tx));
        let child = read_pid(&mut rx);
        assert_eq!(
            process::waitpid_timeout(program, Duration::from_secs(10)).unwrap(),
            Some(0)
        );
        assert!(live(child), "process::exit is _exit: it joins nothing");
        open.write_all(b"g").unwrap();
        assert!(orphan_exit(child, Duration::from_secs(10)).is_some());
    });
}

#[test]
fn a_program_that_exits_terminates_and_reaps_its_daemonic_children() {
    isolated(|| {
        let (mut rx, mut tx) = std::io::pipe().unwrap();
        let program = match process::fork().unwrap() {
            Fork::Child(_) => {
                // One that dies of SIGTERM, one that blocks it: that one is
                // SIGKILLed after the grace.
                let mut soft = Process::new(|| {
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                })
                .daemon(true);
                soft.start().unwrap();
                let (ready, mut set) = gate();
                let mut hard = Process::new(move || {
                    let _blocked = mproc::signal::SigSet::from(mproc::signal::Signal::TERM)
                        .block()
                        .unwrap();
                    set.write_all(b"r").unwrap();
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                })
                .daemon(true);
                hard.start().unwrap();
                ready.wait();
                send_pid(&mut tx, soft.pid().unwrap());
                send_pid(&mut tx, hard.pid().unwrap());
                std::process::exit(0);
            }
            Fork::Parent(pid) => pid,
        };
        drop(tx);
        let soft = read_pid(&mut rx);
        let hard = read_pid(&mut rx);
        let start = Instant::now();
        assert_eq!(
            process::waitpid_timeout(program, Duration::from_secs(20)).unwrap(),
            Some(0),
            "the program hung at exit"
        );
        // Reaped by the program itself, not left to this body (the
        // subreaper) as orphans: the pids are gone.
        assert_eq!(proc_state(soft.as_raw()), None, "the daemon was not reaped");
        assert_eq!(proc_state(hard.as_raw()), None, "the daemon was not reaped");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the grace was not bounded"
        );
    });
}

#[test]
fn a_process_whose_target_returns_joins_its_own_children() {
    isolated(|| {
        let path = marker("target");
        let (go, mut open) = gate();
        let written = path.clone();
        let mut parent = Process::new(move || {
            let mut child = Process::new(move || {
                go.wait();
                std::fs::write(&written, b"done").unwrap();
            });
            child.start().unwrap();
        });
        parent.start().unwrap();
        assert_eq!(
            parent.join_timeout(Duration::from_millis(200)).unwrap(),
            None,
            "the target returned and the process ended without joining"
        );
        open.write_all(b"g").unwrap();
        assert_eq!(parent.join().unwrap(), 0);
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn a_daemonic_process_may_not_have_children() {
    isolated(|| {
        let mut d = Process::new(|| {
            assert!(process::is_daemon());
            let mut child = Process::new(|| {});
            let err = child.start().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DaemonicParent);
            assert!(
                err.to_string()
                    .contains("daemonic processes are not allowed to have children"),
                "{err}"
            );
            // The handle is kept: nothing was started.
            assert_eq!(child.pid(), None);
            // A pool's workers and a manager's server are children too.
            let err = mproc::pool::Pool::new(1).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DaemonicParent);
            let err = mproc::manager::Manager::start().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DaemonicParent);
            // os.fork stays allowed, and the fork is daemonic too.
            match process::fork().unwrap() {
                Fork::Child(_) => process::exit(i32::from(!process::is_daemon())),
                Fork::Parent(pid) => assert_eq!(process::waitpid(pid).unwrap(), 0),
            }
        })
        .daemon(true);
        d.start().unwrap();
        assert_eq!(d.join().unwrap(), 0);
        assert!(!process::is_daemon());
        // A non-daemonic child may start a daemonic one, which may not.
        let mut p = Process::new(|| {
            let mut d = Process::new(|| {
                let mut c = Process::new(|| {});
                process::exit(i32::from(c.start().is_ok()))
            })
            .daemon(true);
            d.start().unwrap();
            process::exit(d.join().unwrap())
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
}
