//! Deaths and endings: a server killed mid-request, clients killed
//! mid-request or holding a lock, shutdown with clients connected, a
//! request withdrawn at its timeout.

use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::manager::Manager;
use mproc::process::{self, Process};
use mproc::signal::{self, Signal};

use crate::common::isolated;

/// Waits until `cond` holds, for at most 10 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_server_killed_mid_request_fails_every_waiting_and_later_call_with_manager_gone() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        let d = m.dict::<u8, u8>(2).unwrap();
        lock.acquire().unwrap();
        // A child parks in acquire (its request waits on the server).
        let mut waiter = Process::new(|| {
            let e = lock.acquire().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ManagerGone);
            let e = d.get(&1).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ManagerGone);
            process::exit(7);
        });
        waiter.start().unwrap();
        eventually("the waiter's connection", || {
            m.stats().unwrap().connections == 2
        });
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        signal::kill(m.pid().unwrap(), Signal::KILL).unwrap();
        assert_eq!(waiter.join().unwrap(), 7);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(d.set(&1, &1).unwrap_err().kind(), ErrorKind::ManagerGone);
        assert_eq!(m.stats().unwrap_err().kind(), ErrorKind::ManagerGone);
    });
}

#[test]
fn a_client_killed_while_waiting_leaves_the_lock_to_the_others() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        lock.acquire().unwrap();
        let mut doomed = Process::new(|| {
            lock.acquire().unwrap();
            process::exit(0);
        });
        doomed.start().unwrap();
        eventually("the doomed client's connection", || {
            m.stats().unwrap().connections == 2
        });
        std::thread::sleep(Duration::from_millis(20));
        doomed.kill().unwrap();
        assert_eq!(doomed.join().unwrap(), -9);
        eventually("its connection to close", || {
            m.stats().unwrap().connections == 1
        });
        // Its parked request is forgotten: the next waiter gets the lock.
        let mut next = Process::new(|| {
            assert!(lock.acquire_timeout(Duration::from_secs(10)).unwrap());
            lock.release().unwrap();
        });
        next.start().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        lock.release().unwrap();
        assert_eq!(next.join().unwrap(), 0);
        assert!(!lock.is_locked().unwrap());
    });
}

#[test]
fn a_holder_that_dies_releases_its_lock() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        let rlock = m.rlock().unwrap();
        let mut holder = Process::new(|| {
            lock.acquire().unwrap();
            rlock.acquire().unwrap();
            rlock.acquire().unwrap();
            loop {
                signal::pause();
            }
        });
        holder.start().unwrap();
        eventually("the holder to take both", || {
            lock.is_locked().unwrap() && rlock.is_locked().unwrap()
        });
        assert!(!lock.try_acquire().unwrap());
        holder.kill().unwrap();
        holder.join().unwrap();
        assert!(lock.acquire_timeout(Duration::from_secs(10)).unwrap());
        assert!(rlock.acquire_timeout(Duration::from_secs(10)).unwrap());
    });
}

#[test]
fn an_acquire_that_times_out_is_withdrawn_and_the_lock_still_works() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        lock.acquire().unwrap();
        let mut child = Process::new(|| {
            let t = Instant::now();
            assert!(!lock.acquire_timeout(Duration::from_millis(50)).unwrap());
            assert!(t.elapsed() >= Duration::from_millis(50));
            // Withdrawn: a release now does not hand the lock to us.
            process::exit(if lock.try_acquire().unwrap() { 1 } else { 0 });
        });
        child.start().unwrap();
        assert_eq!(child.join().unwrap(), 0);
        lock.release().unwrap();
        assert!(!lock.is_locked().unwrap());
        assert!(lock.try_acquire().unwrap());
    });
}

#[test]
fn shutdown_with_clients_connected_ends_their_calls_and_the_server() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let v = m.value(&0u64).unwrap();
        let mut clients = Vec::new();
        for _ in 0..3 {
            let mut p = Process::new(|| {
                loop {
                    match v.get() {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::ManagerGone => process::exit(5),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
            p.start().unwrap();
            clients.push(p);
        }
        eventually("three clients", || m.stats().unwrap().connections == 4);
        let server = m.pid().unwrap();
        m.shutdown().unwrap();
        assert!(!process::exists(server).unwrap());
        for p in &clients {
            assert_eq!(p.join().unwrap(), 5);
        }
        assert_eq!(v.get().unwrap_err().kind(), ErrorKind::ManagerGone);
    });
}

#[test]
fn a_proxy_used_after_its_object_was_released_fails_with_not_found() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict::<u8, u8>(1).unwrap();
        d.publish("gone-soon").unwrap();
        let opened = m
            .open::<mproc::manager::DictProxy<u8, u8>>("gone-soon")
            .unwrap();
        assert_eq!(m.stats().unwrap().objects, 1);
        drop(d);
        assert_eq!(m.stats().unwrap().objects, 0);
        assert_eq!(opened.len().unwrap_err().kind(), ErrorKind::NotFound);
        // The slot is reused with a new generation: the old proxy stays
        // refused.
        let _other = m.dict::<u8, u8>(1).unwrap();
        assert_eq!(opened.len().unwrap_err().kind(), ErrorKind::NotFound);
    });
}

#[test]
fn a_holder_that_dies_releases_its_lock_even_when_its_child_keeps_the_socket() {
    // SAFETY: pidfd_open takes plain integers; the descriptor is closed
    // at once.
    let probe = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if probe < 0 {
        crate::common::raw_stderr("skipped: no pidfd_open here (the server watches pidfds)\n");
        return;
    }
    // SAFETY: closes the probe's own descriptor.
    unsafe { libc::close(probe as i32) };
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        let grandchild = mproc::shm::Value::new(0i32).unwrap();
        let mut holder = Process::new(|| {
            lock.acquire().unwrap();
            // A child that never uses the manager, forked after the
            // connection was made: it holds a copy of the socket.
            let mut keeper = Process::new(|| {
                loop {
                    signal::pause();
                }
            });
            keeper.start().unwrap();
            grandchild.set(keeper.pid().unwrap().as_raw());
            process::exit(0);
        });
        holder.start().unwrap();
        assert_eq!(holder.join().unwrap(), 0);
        let keeper = mproc::Pid::from_raw(grandchild.get()).unwrap();
        assert!(process::exists(keeper).unwrap());
        let taken = lock.acquire_timeout(Duration::from_secs(10)).unwrap();
        signal::kill(keeper, Signal::KILL).unwrap();
        assert!(taken, "the dead holder's lock was released");
        // Orphaned when the holder exited, the keeper is this (subreaper)
        // process's child now; where there is no subreaper (qemu-user),
        // init reaps it.
        match process::waitpid(keeper) {
            Ok(code) => assert_eq!(code, -9),
            Err(e) if e.kind() == ErrorKind::NoSuchProcess => {
                eventually("init to reap the keeper", || {
                    !process::exists(keeper).unwrap_or(false)
                });
            }
            Err(e) => panic!("{e}"),
        }
    });
}
