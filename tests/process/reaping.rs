//! No zombies: join, is_alive, active_children and drop all reap; the child
//! table's capacity.

use std::io::Write as _;
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::{ErrorKind, Resource};

use crate::common::{eventually, gate, isolated, proc_state};

#[test]
fn no_zombie_after_join() {
    isolated(|| {
        let mut p = Process::new(|| ());
        p.start().unwrap();
        let pid = p.pid().unwrap().as_raw();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(proc_state(pid), None, "the joined child is still in /proc");
    });
}

#[test]
fn is_alive_reaps_an_ended_child() {
    isolated(|| {
        let mut p = Process::new(|| ());
        p.start().unwrap();
        let pid = p.pid().unwrap().as_raw();
        assert!(eventually(Duration::from_secs(10), || !p.is_alive()));
        assert_eq!(proc_state(pid), None);
        assert_eq!(p.exitcode(), Some(0));
    });
}

#[test]
fn dropping_the_handle_of_an_ended_child_reaps_it() {
    isolated(|| {
        let mut p = Process::new(|| ());
        p.start().unwrap();
        let pid = p.pid().unwrap().as_raw();
        // Wait for the end without reaping: the sentinel turns readable.
        use std::os::fd::AsRawFd as _;
        let mut pfd = libc::pollfd {
            fd: p.sentinel().unwrap().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 20_000) }, 1);
        assert_eq!(proc_state(pid), Some('Z'));
        drop(p);
        assert_eq!(proc_state(pid), None, "drop left a zombie");
    });
}

#[test]
fn a_dropped_running_child_runs_on_and_active_children_reaps_it() {
    isolated(|| {
        let (gate, mut tx) = gate();
        let mut p = Process::new(move || gate.wait());
        p.start().unwrap();
        let pid = p.pid().unwrap();
        drop(p);
        assert!(
            process::active_children().contains(&pid),
            "the detached child is not listed"
        );
        assert!(process::exists(pid).unwrap());
        tx.write_all(b"x").unwrap(); // let it finish
        assert!(eventually(Duration::from_secs(10), || {
            !process::active_children().contains(&pid)
        }));
        assert_eq!(
            proc_state(pid.as_raw()),
            None,
            "active_children left a zombie"
        );
    });
}

#[test]
fn active_children_lists_running_children_only() {
    isolated(|| {
        assert!(process::active_children().is_empty());
        let (gate, mut tx) = gate();
        let mut waiting = Process::new(move || gate.wait());
        let mut quick = Process::new(|| ());
        waiting.start().unwrap();
        quick.start().unwrap();
        let (w, q) = (waiting.pid().unwrap(), quick.pid().unwrap());
        assert!(eventually(
            Duration::from_secs(10),
            || process::active_children().as_slice() == [w]
        ));
        // active_children reaped `quick`; its handle still knows the code.
        assert_eq!(quick.exitcode(), Some(0));
        assert_eq!(proc_state(q.as_raw()), None);
        tx.write_all(b"x").unwrap();
        assert_eq!(waiting.join().unwrap(), 0);
        assert!(process::active_children().is_empty());
    });
}

#[test]
fn more_children_than_the_table_holds_is_a_typed_error_and_loses_nothing() {
    isolated(|| {
        let (gate, mut tx) = gate();
        let limit = mproc::config::MAX_CHILDREN;
        let mut children = Vec::new();
        for _ in 0..limit {
            let gate = gate.try_clone();
            let mut p = Process::new(move || gate.wait());
            p.start().unwrap();
            children.push(p);
        }
        let mut extra = Process::new(|| process::exit(9));
        let err = extra.start().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit });
        assert_eq!(err.resource(), Resource::Capacity("MPROC_MAX_CHILDREN"));
        assert!(err.to_string().contains("MPROC_MAX_CHILDREN"), "{err}");
        assert_eq!(process::active_children().len(), limit);
        tx.write_all(&vec![b'x'; limit]).unwrap();
        for p in &children {
            assert_eq!(p.join().unwrap(), 0);
        }
        drop(children);
        // The refused process was not consumed: it starts once there is room.
        extra.start().unwrap();
        assert_eq!(extra.join().unwrap(), 9);
    });
}
