//! Children that exist only to serve their parent die with it, even when
//! it is SIGKILLed: a pool's workers and a manager's server are daemonic
//! children (`PR_SET_PDEATHSIG`), as a daemonic `Process` is.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use mproc::process::{self, Pid, Process};

use crate::common::{eventually, isolated, proc_state};

/// Starts an owner that makes its servants with `make`, sends their pids
/// and sleeps; SIGKILLs it, then checks every servant is gone within 1 s.
fn servants_die_with_their_killed_owner(make: fn() -> Vec<i32>, count: usize) {
    isolated(|| {
        let (mut rx, mut tx) = std::io::pipe().unwrap();
        let mut owner = Process::new(move || {
            let keep = make();
            for pid in &keep {
                tx.write_all(&pid.to_le_bytes()).unwrap();
            }
            drop(tx);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        owner.start().unwrap();
        let mut servants = Vec::new();
        for _ in 0..count {
            let mut buf = [0u8; 4];
            rx.read_exact(&mut buf).unwrap();
            servants.push(Pid::from_raw(i32::from_le_bytes(buf)).unwrap());
        }
        for &s in &servants {
            assert!(process::exists(s).unwrap());
        }
        owner.kill().unwrap();
        assert_eq!(owner.join().unwrap(), -9);
        for &s in &servants {
            let gone = || matches!(proc_state(s.as_raw()), None | Some('Z'));
            assert!(
                eventually(Duration::from_secs(1), gone),
                "servant {s} outlived its SIGKILLed owner by 1 s"
            );
        }
        // Orphans come to this body (a subreaper): reap them (the common
        // check fails a body that leaves any).
    });
}

fn pool_workers() -> Vec<i32> {
    let pool = mproc::pool::Pool::new(3).unwrap();
    let pids = pool.pids().iter().map(|p| p.as_raw()).collect();
    std::mem::forget(pool);
    pids
}

fn manager_server() -> Vec<i32> {
    let manager = mproc::manager::Manager::start().unwrap();
    let pid = manager.pid().unwrap().as_raw();
    std::mem::forget(manager);
    vec![pid]
}

#[test]
fn pool_workers_die_within_a_second_of_their_sigkilled_owner() {
    servants_die_with_their_killed_owner(pool_workers, 3);
}

#[test]
fn a_manager_server_dies_within_a_second_of_its_sigkilled_owner() {
    servants_die_with_their_killed_owner(manager_server, 1);
}
