//! `Process`: start, join, exit codes, terminate/kill, daemon, bad input.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use mproc::process::{self, Process};
use mproc::{ErrorKind, Resource, Signal};

use crate::common::{gate, in_reexec, isolated, orphan_exit, redirect, reexec};

#[test]
fn join_returns_the_targets_exit_code() {
    isolated(|| {
        let mut unit = Process::new(|| ());
        let mut seven = Process::new(|| process::exit(7));
        let mut failed = Process::new(|| {
            let parsed: Result<u8, _> = "nope".parse();
            if parsed.is_err() {
                process::exit(1);
            }
        });
        unit.start().unwrap();
        seven.start().unwrap();
        failed.start().unwrap();
        assert_eq!(unit.join().unwrap(), 0);
        assert_eq!(seven.join().unwrap(), 7);
        assert_eq!(failed.join().unwrap(), 1);
        assert_eq!(seven.exitcode(), Some(7));
    });
}

#[test]
fn captured_values_travel_by_fork() {
    isolated(|| {
        let data: Vec<u64> = (1..=100).collect();
        let (mut rx, mut tx) = std::io::pipe().unwrap();
        let mut p = Process::new(move || {
            let sum: u64 = data.iter().sum();
            tx.write_all(&sum.to_le_bytes()).unwrap();
        });
        p.start().unwrap();
        let mut buf = [0u8; 8];
        rx.read_exact(&mut buf).unwrap();
        assert_eq!(u64::from_le_bytes(buf), 5050);
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn exitcode_is_none_while_running_then_the_code() {
    isolated(|| {
        let (rx, mut tx) = std::io::pipe().unwrap();
        let mut rx = Some(rx);
        let mut p = Process::new(move || {
            let mut byte = [0u8; 1];
            rx.take().unwrap().read_exact(&mut byte).unwrap();
            process::exit(i32::from(byte[0]))
        });
        assert_eq!(p.exitcode(), None, "not started");
        assert!(!p.is_alive(), "not started");
        p.start().unwrap();
        assert_eq!(p.exitcode(), None, "running");
        assert!(p.is_alive());
        tx.write_all(&[3]).unwrap();
        assert_eq!(p.join().unwrap(), 3);
        assert_eq!(p.exitcode(), Some(3));
        assert!(!p.is_alive());
    });
}

#[test]
fn kill_gives_exitcode_minus_9_and_terminate_minus_15() {
    isolated(|| {
        let sleeper = || loop {
            std::thread::sleep(Duration::from_secs(1));
        };
        let mut a = Process::new(sleeper);
        let mut b = Process::new(sleeper);
        a.start().unwrap();
        b.start().unwrap();
        a.kill().unwrap();
        b.terminate().unwrap();
        assert_eq!(a.join().unwrap(), -9);
        assert_eq!(b.join().unwrap(), -15);
        assert_eq!(a.exitcode(), Some(-Signal::KILL.as_raw()));
        // Signalling an ended process does nothing, as in Python.
        a.kill().unwrap();
        b.terminate().unwrap();
        assert!(!b.is_alive());
    });
}

#[test]
fn join_with_timeout_returns_while_the_child_still_runs() {
    isolated(|| {
        let (gate, mut tx) = gate();
        let mut p = Process::new(move || gate.wait());
        p.start().unwrap();
        let t = Instant::now();
        assert_eq!(p.join_timeout(Duration::from_millis(100)).unwrap(), None);
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(100),
            "returned early: {waited:?}"
        );
        assert!(p.is_alive());
        tx.write_all(b"x").unwrap(); // release the child
        assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), Some(0));
    });
}

#[test]
fn sentinel_becomes_readable_when_the_child_ends() {
    isolated(|| {
        use std::os::fd::AsRawFd as _;
        let (gate, mut tx) = gate();
        let mut p = Process::new(move || gate.wait());
        p.start().unwrap();
        let fd = p.sentinel().unwrap().as_raw_fd();
        let poll = |ms| {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, ms) }
        };
        assert_eq!(poll(50), 0, "readable while the child runs");
        tx.write_all(b"x").unwrap();
        assert_eq!(poll(20_000), 1, "not readable after the child ended");
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(poll(0), 1, "still readable after the child was reaped");
    });
}

#[test]
fn a_sentinel_first_asked_for_after_the_end_is_readable_and_reaps_nothing() {
    isolated(|| {
        use std::os::fd::AsRawFd as _;
        let mut p = Process::new(|| ());
        p.start().unwrap();
        let pid = p.pid().unwrap().as_raw();
        assert!(
            crate::common::eventually(Duration::from_secs(20), || crate::common::proc_state(pid)
                == Some('Z')),
            "the child did not end"
        );
        let mut pfd = libc::pollfd {
            fd: p.sentinel().unwrap().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Under qemu-user the leader shows 'Z' while the emulator's other
        // threads still exit, and the pidfd turns readable only once they
        // have: wait for it (natively it is readable at once).
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 20_000) }, 1);
        assert_eq!(
            crate::common::proc_state(pid),
            Some('Z'),
            "sentinel() reaped the child"
        );
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn a_sentinel_first_asked_for_after_the_reap_is_readable_at_once() {
    isolated(|| {
        use std::os::fd::AsRawFd as _;
        let mut p = Process::new(|| ());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let mut pfd = libc::pollfd {
            fd: p.sentinel().unwrap().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1);
        // The same descriptor every time.
        assert_eq!(p.sentinel().unwrap().as_raw_fd(), pfd.fd);
    });
}

#[test]
fn a_panicking_target_exits_1_with_the_message_on_stderr() {
    const NAME: &str = "lifecycle::a_panicking_target_exits_1_with_the_message_on_stderr";
    // libtest captures what a test thread prints, panic messages included,
    // and a forked child inherits the capture; so this runs again in a
    // process without capture and checks its real stderr.
    if in_reexec() {
        isolated(|| {
            let mut p = Process::new(|| panic!("the target gave up"));
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), 1);
        });
        return;
    }
    let Some(out) = reexec(NAME) else { return };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "re-run failed: {stderr}");
    assert!(
        stderr.contains("the target gave up"),
        "stderr was: {stderr:?}"
    );
}

#[test]
fn the_child_flushes_stdout_and_never_runs_the_parents_code() {
    isolated(|| {
        let (mut rx, tx) = std::io::pipe().unwrap();
        let mut p = Process::new(move || {
            redirect(&tx, 1);
            // Straight to the stdout buffer (print! would go to libtest's
            // capture); without a newline it stays buffered until exit.
            std::io::stdout()
                .write_all(b"no newline, still buffered")
                .unwrap();
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let mut out = String::new();
        rx.read_to_string(&mut out).unwrap();
        // Exactly once: the child wrote it and exited; it did not come back
        // here to run this test a second time.
        assert_eq!(out, "no newline, still buffered");
    });
}

#[test]
fn bad_use_gives_typed_errors() {
    isolated(|| {
        let mut p = Process::new(|| ());
        for err in [
            p.join().unwrap_err(),
            p.join_timeout(Duration::ZERO).unwrap_err(),
            p.terminate().unwrap_err(),
            p.kill().unwrap_err(),
            p.sentinel().unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::NotStarted, "{err}");
            assert_eq!(err.resource(), Resource::UnstartedProcess);
        }
        assert_eq!(p.pid(), None);
        p.start().unwrap();
        let err = p.start().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyStarted);
        assert_eq!(err.resource(), Resource::Pid(p.pid().unwrap()));
        assert_eq!(p.join().unwrap(), 0);
        // A failed second start left the first child's status intact.
        assert_eq!(p.exitcode(), Some(0));
    });
}

#[test]
fn names_default_to_process_n_and_are_bounded() {
    isolated(|| {
        let a = Process::new(|| ());
        let b = Process::new(|| ());
        assert!(a.name().starts_with("Process-"), "{}", a.name());
        assert_ne!(a.name(), b.name());
        let named = Process::new(|| ()).with_name("worker-1").unwrap();
        assert_eq!(named.name(), "worker-1");
        let long = "x".repeat(mproc::config::NAME_LEN + 1);
        let err = Process::new(|| ()).with_name(&long).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::CapacityExceeded {
                limit: mproc::config::NAME_LEN
            }
        );
        assert_eq!(
            err.resource(),
            Resource::Text {
                what: "process name",
                len: long.len()
            }
        );
        let mut kept = Process::new(|| ()).with_name("kept").unwrap();
        assert!(kept.set_name(&long).is_err());
        assert_eq!(kept.name(), "kept", "a refused name loses nothing");
        let fits = "y".repeat(mproc::config::NAME_LEN);
        assert!(Process::new(|| ()).with_name(&fits).is_ok());
    });
}

#[test]
fn default_names_number_like_python_and_nest_in_children() {
    isolated(|| {
        // A fresh process (this test body) counts from 1, as Python does.
        let a = Process::new(|| ());
        let b = Process::new(|| ());
        assert_eq!((a.name(), b.name()), ("Process-1", "Process-2"));
        let mut c = Process::new(|| {
            let me = process::current_process().name;
            // A child counts its own children from 1 under its own number.
            let g1 = Process::new(|| ());
            let g2 = Process::new(|| ());
            let mut g3 = Process::new(|| {
                let ok = process::current_process().name.as_str() == "Process-3:3"
                    && process::parent_process().unwrap().name() == "Process-3";
                process::exit(i32::from(!ok))
            });
            let ok = me.as_str() == "Process-3"
                && g1.name() == "Process-3:1"
                && g2.name() == "Process-3:2"
                && g3.name() == "Process-3:3";
            g3.start().unwrap();
            let g_ok = g3.join().unwrap() == 0;
            process::exit(i32::from(!(ok && g_ok)))
        });
        assert_eq!(c.name(), "Process-3");
        c.start().unwrap();
        assert_eq!(c.join().unwrap(), 0);
        assert_eq!(Process::new(|| ()).name(), "Process-4");
    });
}

#[test]
fn children_running_at_once_each_see_their_own_name() {
    isolated(|| {
        // Several live children (distinct registry slots), then a second
        // round reusing the slots with other names: each child reads the
        // name it was started with, not a sibling's or a predecessor's.
        for round in 0..2 {
            let mut kids: Vec<_> = (0..5)
                .map(|i| {
                    let want = format!("r{round}-kid{i}");
                    let expect = want.clone();
                    Process::new(move || {
                        // Let the parent start the others first.
                        std::thread::sleep(Duration::from_millis(20));
                        let ok = process::current_process().name.as_str() == expect;
                        process::exit(i32::from(!ok))
                    })
                    .with_name(&want)
                    .unwrap()
                })
                .collect();
            for k in &mut kids {
                k.start().unwrap();
            }
            for k in &kids {
                assert_eq!(k.join().unwrap(), 0, "{} saw another name", k.name());
            }
        }
    });
}

#[test]
fn the_child_sees_its_name_and_its_parent() {
    isolated(|| {
        let me = process::current_process();
        assert_eq!(me.name.as_str(), "MainProcess");
        assert_eq!(me.pid, process::getpid());
        assert!(
            process::parent_process().is_none(),
            "the main process has no parent process"
        );
        let parent_pid = me.pid;
        let mut p = Process::new(move || {
            let me = process::current_process();
            let parent = process::parent_process().unwrap();
            let ok = me.name.as_str() == "worker"
                && me.pid == process::getpid()
                && parent.pid() == parent_pid
                && parent.name() == "MainProcess"
                && parent.is_alive();
            // A grandchild sees this child as its parent, by name.
            let mut g = Process::new(|| {
                let parent = process::parent_process().unwrap();
                let ok = parent.name() == "worker"
                    && process::current_process().name.as_str() == "grandchild";
                process::exit(i32::from(!ok))
            })
            .with_name("grandchild")
            .unwrap();
            g.start().unwrap();
            let g_ok = g.join().unwrap() == 0;
            process::exit(i32::from(!(ok && g_ok)))
        })
        .with_name("worker")
        .unwrap();
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
}

#[test]
fn a_daemon_child_dies_shortly_after_its_parent_is_sigkilled() {
    isolated(|| {
        // This test process is a subreaper (see common), so the orphaned
        // daemon is adopted by it and can be waited for here.
        let (mut rx, tx) = std::io::pipe().unwrap();
        let mut tx = Some(tx);
        let mut middle = Process::new(move || {
            let mut d = Process::new(|| {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .daemon(true);
            d.start().unwrap();
            let pid = d.pid().unwrap().as_raw();
            tx.take().unwrap().write_all(&pid.to_le_bytes()).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        middle.start().unwrap();
        let mut buf = [0u8; 4];
        rx.read_exact(&mut buf).unwrap();
        let daemon = process::Pid::from_raw(i32::from_le_bytes(buf)).unwrap();
        assert!(process::exists(daemon).unwrap());
        middle.kill().unwrap();
        assert_eq!(middle.join().unwrap(), -9);
        let code = orphan_exit(daemon, Duration::from_secs(10));
        assert!(
            matches!(code, Some(-9 | i32::MIN)),
            "the daemon child outlived its parent: {code:?}"
        );
    });
}

#[test]
fn a_non_daemon_child_outlives_its_parent() {
    isolated(|| {
        let (mut rx, tx) = std::io::pipe().unwrap();
        let mut tx = Some(tx);
        let mut middle = Process::new(move || {
            let mut c = Process::new(|| {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
            c.start().unwrap();
            let pid = c.pid().unwrap().as_raw();
            tx.take().unwrap().write_all(&pid.to_le_bytes()).unwrap();
            std::mem::forget(c);
            // `_exit` (Python's `os._exit`): a target that returned would
            // join the child first (see tests/process/exit.rs).
            process::exit(0);
        });
        middle.start().unwrap();
        let mut buf = [0u8; 4];
        rx.read_exact(&mut buf).unwrap();
        let orphan = process::Pid::from_raw(i32::from_le_bytes(buf)).unwrap();
        assert_eq!(middle.join().unwrap(), 0);
        // Orphaned, and still running.
        assert_eq!(orphan_exit(orphan, Duration::from_millis(200)), None);
        mproc::signal::kill(orphan, Signal::KILL).unwrap();
        let code = orphan_exit(orphan, Duration::from_secs(10));
        assert!(matches!(code, Some(-9 | i32::MIN)), "{code:?}");
    });
}
