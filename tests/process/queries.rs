//! getpid/getppid, exists, cpu_count, thread_count, Pid, and errors.

use std::io::Write as _;

use mproc::process::{self, Fork, Pid};
use mproc::{ErrorKind, Resource, Signal};

use crate::common::isolated;

#[test]
fn pids_match_the_kernels() {
    // SAFETY: getpid/getppid cannot fail.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
    assert_eq!(process::getpid().as_raw(), pid);
    assert_eq!(process::getppid().as_raw(), ppid);
    assert!(Pid::from_raw(0).is_none());
    assert!(Pid::from_raw(-1).is_none());
    assert_eq!(Pid::from_raw(42).unwrap().to_string(), "42");
}

#[test]
fn getpid_is_right_in_children_of_any_fork() {
    // process::getpid caches the pid; a child made by a fork this crate did
    // not make (libc::fork directly) must not see its parent's pid.
    isolated(|| {
        let me = process::getpid();
        // SAFETY: the isolated test process is single-threaded; the child
        // only makes syscalls and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: getpid cannot fail.
            let kernel = unsafe { libc::getpid() };
            let ours = process::getpid().as_raw();
            // And a grandchild through the crate's own fork.
            let nested = match process::fork().unwrap() {
                process::Fork::Child(own) => {
                    // SAFETY: getpid cannot fail.
                    let ok = own.as_raw() == unsafe { libc::getpid() } && process::getpid() == own;
                    process::exit(i32::from(!ok))
                }
                process::Fork::Parent(child) => process::waitpid(child).unwrap(),
            };
            let code = i32::from(ours != kernel || ours == me.as_raw()) + 2 * nested;
            // SAFETY: _exit ends the child at once.
            unsafe { libc::_exit(code) };
        }
        assert!(pid > 0);
        let mut status = 0;
        // SAFETY: `status` is a live c_int.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status));
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "1: the child saw a stale pid, 2: the grandchild did"
        );
        assert_eq!(process::getpid(), me);
    });
}

#[test]
fn cpu_count_is_what_the_system_reports() {
    // SAFETY: sysconf takes a plain integer.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    assert_eq!(process::cpu_count().unwrap() as libc::c_long, online);
}

#[test]
fn exists_tells_live_from_gone() {
    isolated(|| {
        assert!(process::exists(process::getpid()).unwrap());
        let mut p = process::Process::new(|| ());
        p.start().unwrap();
        let pid = p.pid().unwrap();
        p.join().unwrap();
        assert!(!process::exists(pid).unwrap());
        // Signalling the reaped pid is a typed error naming it.
        let err = mproc::signal::kill(pid, Signal::TERM).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoSuchProcess);
        assert_eq!(err.resource(), Resource::Pid(pid));
        assert_eq!(err.errno(), Some(libc::ESRCH));
        assert!(err.to_string().contains("ESRCH"), "{err}");
    });
}

#[test]
fn thread_count_counts_threads() {
    if crate::common::under_qemu() {
        crate::common::raw_stderr("SKIPPED under qemu-user (it hides the thread count)\n");
        return;
    }
    isolated(|| {
        assert_eq!(process::thread_count().unwrap(), 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        assert_eq!(process::thread_count().unwrap(), 2);
        drop(tx);
        t.join().unwrap();
    });
}

#[test]
fn setpgrp_and_setpgid_put_a_child_in_a_group_of_its_own() {
    isolated(|| {
        let (go, mut open) = crate::common::gate();
        let child = match process::fork().unwrap() {
            Fork::Child(_) => {
                process::setpgrp().unwrap();
                let own = process::getpgrp() == process::getpid();
                go.wait();
                process::exit(i32::from(!own))
            }
            Fork::Parent(pid) => pid,
        };
        // Both sides may set it; whichever runs second finds it done.
        process::setpgid(child, child).unwrap();
        assert_ne!(process::getpgrp(), child);
        open.write_all(b"g").unwrap();
        assert_eq!(process::waitpid(child).unwrap(), 0);
        // Not a child (any more): refused, typed.
        let err = process::setpgid(child, child).unwrap_err();
        assert_eq!(err.kind(), mproc::ErrorKind::NoSuchProcess, "{err}");
    });
}
