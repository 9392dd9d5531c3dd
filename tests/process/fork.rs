//! `fork`, `waitpid` and the thread policy.

use std::io::{Read as _, Write as _};
use std::sync::mpsc;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::process::{self, Fork, Pid, Process};

use crate::common::{eventually, isolated};

#[test]
fn fork_gives_the_parent_the_child_pid_and_the_child_its_own() {
    isolated(|| {
        let (mut rx, mut tx) = std::io::pipe().unwrap();
        let me = process::getpid();
        match process::fork().unwrap() {
            Fork::Child(own) => {
                let msg = format!("{} {} {}", own, process::getpid(), process::getppid());
                tx.write_all(msg.as_bytes()).unwrap();
                drop(tx);
                std::process::exit(0);
            }
            Fork::Parent(child) => {
                drop(tx);
                let mut msg = String::new();
                rx.read_to_string(&mut msg).unwrap();
                let want = format!("{child} {child} {me}");
                assert_eq!(msg, want);
                assert_eq!(process::waitpid(child).unwrap(), 0);
            }
        }
    });
}

#[test]
fn forked_child_knows_its_parent() {
    isolated(|| match process::fork().unwrap() {
        Fork::Child(_) => {
            let parent = process::parent_process().expect("a forked child has a parent");
            let ok = parent.pid() == process::getppid()
                && parent.is_alive()
                && parent.name() == "MainProcess";
            std::process::exit(if ok { 0 } else { 1 });
        }
        Fork::Parent(child) => assert_eq!(process::waitpid(child).unwrap(), 0),
    });
}

#[test]
fn waitpid_reports_exit_codes_and_signals_like_python() {
    isolated(|| {
        let code = match process::fork().unwrap() {
            Fork::Child(_) => std::process::exit(42),
            Fork::Parent(child) => process::waitpid(child).unwrap(),
        };
        assert_eq!(code, 42);
        match process::fork().unwrap() {
            Fork::Child(_) => loop {
                std::thread::sleep(Duration::from_secs(1));
            },
            Fork::Parent(child) => {
                assert_eq!(process::try_waitpid(child).unwrap(), None);
                assert_eq!(
                    process::waitpid_timeout(child, Duration::from_millis(50)).unwrap(),
                    None
                );
                mproc::signal::kill(child, mproc::Signal::KILL).unwrap();
                assert_eq!(
                    process::waitpid_timeout(child, Duration::from_secs(10)).unwrap(),
                    Some(-9)
                );
            }
        }
    });
}

#[test]
fn waitpid_on_a_pid_that_is_not_our_child_is_a_typed_error() {
    isolated(|| {
        let err = process::waitpid(Pid::from_raw(1).unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoSuchProcess);
        assert!(err.to_string().contains("pid 1"), "{err}");
    });
}

#[test]
fn fork_and_start_refuse_while_another_thread_runs() {
    if crate::common::under_qemu() {
        crate::common::raw_stderr("SKIPPED under qemu-user (it hides the thread count)\n");
        return;
    }
    isolated(|| {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (up_tx, up_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            up_tx.send(()).unwrap();
            let _ = stop_rx.recv();
        });
        up_rx.recv().unwrap();
        assert_eq!(process::thread_count().unwrap(), 2);

        let err = process::fork().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ThreadsRunning { threads: 2 });
        let mut p = Process::new(|| ());
        let err = p.start().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ThreadsRunning { threads: 2 });
        assert!(err.to_string().contains("2 threads"), "{err}");
        // Nothing was lost: the same process starts once the caller opts in.
        // SAFETY: the target only returns; it takes no lock.
        unsafe { p.start_with_threads().unwrap() };
        assert_eq!(p.join().unwrap(), 0);

        stop_tx.send(()).unwrap();
        thread.join().unwrap();
        assert!(eventually(
            Duration::from_secs(5),
            || process::thread_count().unwrap() == 1
        ));
        let mut q = Process::new(|| process::exit(5));
        q.start().unwrap();
        assert_eq!(q.join().unwrap(), 5);
    });
}
