//! Clients that break the rules: one that truncates, grows, unmaps or
//! scribbles on its channel, one that breaks the state protocol,
//! connections that never finish their handshake, too many connections.
//! The server drops or refuses those at most, and keeps serving everyone
//! else.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::manager::Manager;
use mproc::process::{self, Process};

use crate::common::isolated;
use crate::rogue::{self, CHANNEL, Garbage, IDLE, PENDING, Rogue, header, word};

const LOCK: u16 = 5;
const ACQUIRE: u16 = 1;
const LOCKED: u16 = 3;

#[test]
fn a_client_that_truncates_grows_unmaps_or_floods_its_channel_cannot_stop_the_server() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict::<u32, u32>(4).unwrap();
        let works = |round: u32| {
            d.set(&1, &round).unwrap();
            assert_eq!(d.get(&1).unwrap(), Some(round));
        };
        let shrunk = Rogue::connect(m.address());
        let shrink = shrunk.resize(0);
        // The server touches every live channel when it wakes up.
        shrunk.ring();
        works(1);
        let grown = Rogue::connect(m.address());
        let grow = grown.resize(CHANNEL * 4);
        grown.ring();
        works(2);
        let mut unmapped = Rogue::connect(m.address());
        unmapped.request(1, &header(0, 0, 6, 0, (0, 0)), &[]);
        unmapped.unmap();
        works(3);
        let flood = Rogue::connect(m.address());
        for _ in 0..10_000 {
            flood.ring();
        }
        works(4);
        // The seals hold: the size of a channel is the server's to set.
        for (what, r) in [("shrink", shrink), ("grow", grow)] {
            let e = r.expect_err(what);
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{what}: {e}");
        }
        // A sealed channel cannot be unsealed.
        // SAFETY: plain integer arguments on the rogue's descriptor.
        let seals = unsafe { libc::fcntl(shrunk.memfd.as_raw_fd(), libc::F_GET_SEALS) };
        let want = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        assert_eq!(seals & want, want);
        assert_eq!(m.stats().unwrap().connections, 5);
    });
}

/// One request of garbage: random header fields drawn from values that
/// reach the server's checks (object 0 and the first objects, lengths
/// at and past the message area), random arguments.
fn garbage_request(g: &mut Garbage, rogue: &Rogue, seq: u32) {
    let message = mproc::config::MANAGER_MESSAGE_BYTES as u32;
    let object = match g.next() % 5 {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => u32::MAX,
        _ => g.next() as u32,
    };
    let mut op = (g.next() % 20) as u16;
    if object == 0 && op == 5 {
        // Object 0's op 5 is a (well-formed) shutdown.
        op = 6;
    }
    let len = match g.next() % 6 {
        0 => u32::MAX,
        1 => message - 32,
        2 => message,
        3 => (g.next() % 40) as u32,
        _ => (g.next() % 200) as u32,
    };
    let generation = if g.next().is_multiple_of(2) {
        1
    } else {
        g.next() as u32
    };
    let fp = (g.next(), g.next());
    let mut args = vec![0u8; 256];
    g.fill(&mut args);
    if object == 0 && op == 1 {
        // A creation: a kind, a capacity and sizes that may add up to
        // more memory than there is (no entry, u32::MAX of them).
        args[0..2].copy_from_slice(&((g.next() % 14) as u16).to_le_bytes());
        if g.next().is_multiple_of(2) {
            args[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
            args[8..16].fill(0);
        }
    }
    rogue.request(seq, &header(object, generation, op, len, fp), &args);
}

#[test]
fn garbage_in_a_channel_never_stops_the_server_or_reaches_another_client() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict::<u32, u32>(4).unwrap();
        let mut g = Garbage(0x9e37_79b9_7f4a_7c15);
        // The creation that asks for the most: a dict of u32::MAX
        // entries of no bytes.
        let first = Rogue::connect(m.address());
        let mut create = [0u8; 16];
        create[0..2].copy_from_slice(&1u16.to_le_bytes());
        create[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        first.request(1, &header(0, 0, 1, 16, (0, 0)), &create);
        assert!(
            first.wait_state(word(1, rogue::REPLY), Duration::from_secs(10))
                || first.dropped(Duration::ZERO)
        );
        d.set(&1, &1).unwrap();
        drop(first);
        let mut rogue = Rogue::connect(m.address());
        for round in 0..400u32 {
            if round % 3 == 0 {
                // The whole channel, state word included.
                let mut junk = vec![0u8; CHANNEL];
                g.fill(&mut junk);
                rogue.write(0, &junk);
                rogue.ring();
            } else {
                garbage_request(&mut g, &rogue, round);
            }
            // Whatever the server makes of it, everyone else is served.
            d.set(&1, &round).unwrap();
            assert_eq!(d.get(&1).unwrap(), Some(round));
            if rogue.dropped(Duration::ZERO) {
                rogue = Rogue::connect(m.address());
            }
        }
        assert!(m.stats().unwrap().connections >= 1);
    });
}

#[test]
fn a_client_that_breaks_the_state_protocol_is_dropped_and_its_lock_goes_on() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        lock.publish("the-lock").unwrap();
        lock.acquire().unwrap();
        let forever = u64::MAX.to_le_bytes();

        // A new request while its last one is parked on the server.
        let rogue = Rogue::connect(m.address());
        let (id, generation) = rogue.open(1, LOCK, "the-lock", (0, 0));
        rogue.request(2, &header(id, generation, ACQUIRE, 8, (0, 0)), &forever);
        assert!(rogue.wait_state(word(2, PENDING), Duration::from_secs(10)));
        rogue.request(3, &header(id, generation, LOCKED, 0, (0, 0)), &[]);
        assert!(rogue.dropped(Duration::from_secs(10)), "dropped");

        // A state word scribbled over while its request is parked: the
        // lock granted to it goes to the next waiter when it is dropped.
        let rogue = Rogue::connect(m.address());
        rogue.request(1, &header(id, generation, ACQUIRE, 8, (0, 0)), &forever);
        assert!(rogue.wait_state(word(1, PENDING), Duration::from_secs(10)));
        rogue.state().store(word(7, IDLE), Ordering::SeqCst);
        lock.release().unwrap();
        assert!(rogue.dropped(Duration::from_secs(10)), "dropped");
        assert!(lock.acquire_timeout(Duration::from_secs(10)).unwrap());

        // A phase that does not exist.
        let rogue = Rogue::connect(m.address());
        rogue.write(0, &word(1, 6).to_le_bytes());
        rogue.ring();
        assert!(rogue.dropped(Duration::from_secs(10)), "dropped");
        assert!(lock.is_locked().unwrap());
        assert_eq!(m.stats().unwrap().connections, 1);
    });
}

/// The slowest call a working client makes while another process opens
/// waves of connections that never finish their handshake: silent ones,
/// ones that drip a byte at a time, half-closed ones. `None` when the
/// crowd's connections were not all ended by the server (dropped at
/// their deadline or at their first wrong byte, or refused).
fn worst_call_in_a_crowd(m: &Manager, bound: Duration) -> (Duration, usize) {
    let v = m.value(&0u64).unwrap();
    // 0: opening, 1: all open, 2: all ended by the server.
    let stage = mproc::shm::Value::new(0u32).unwrap();
    let stage = &stage;
    let address = m.address().to_owned();
    let mut crowd = Process::new(move || {
        let mut held = Vec::new();
        for _wave in 0..3 {
            for _ in 0..20 {
                held.push(rogue::silent(&address));
                let drip = rogue::silent(&address);
                rogue::ring(&drip);
                held.push(drip);
                let half = rogue::silent(&address);
                // SAFETY: plain integer arguments on a descriptor it owns.
                unsafe { libc::shutdown(half.as_raw_fd(), libc::SHUT_WR) };
                held.push(half);
            }
            for c in held.iter().skip(1).step_by(3) {
                rogue::ring(c);
            }
        }
        stage.set(1);
        for c in &held {
            if !rogue::closed(c, Duration::from_secs(10)) {
                process::exit(3);
            }
        }
        stage.set(2);
    });
    crowd.start().unwrap();
    let mut worst = Duration::ZERO;
    let mut calls = 0usize;
    while stage.get() < 2 && crowd.is_alive() {
        let t = Instant::now();
        v.set(&(calls as u64)).unwrap();
        assert_eq!(v.get().unwrap(), calls as u64);
        worst = worst.max(t.elapsed());
        calls += 1;
        if worst > bound {
            // This attempt failed: no need to wait for the crowd.
            crowd.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let code = crowd.join().unwrap();
    assert!(
        worst > bound || code == 0,
        "the server ended every connection of the crowd ({code})"
    );
    (worst, calls)
}

#[test]
fn silent_dripping_and_half_closed_connections_do_not_slow_a_working_client() {
    isolated(|| {
        let m = Manager::start().unwrap();
        // The machine is shared and noisy: a call may be descheduled for
        // a while by others. A server that waits on a silent peer stalls
        // every call for as long as it waits, every time; so an attempt
        // whose worst call stays under the bound passes, and three that
        // all go over fail.
        let bound = Duration::from_millis(50);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (worst, calls) = worst_call_in_a_crowd(&m, bound);
            seen.push((worst, calls));
            if worst <= bound {
                assert!(calls >= 100, "measured over {calls} calls only");
                return;
            }
        }
        panic!("a call took longer than {bound:?} in every attempt (worst, calls): {seen:?}");
    });
}

#[test]
fn connections_past_the_limit_are_refused_with_capacity_exceeded_until_a_slot_frees() {
    let total = mproc::config::MANAGER_CONNECTIONS;
    if total > 512 {
        crate::common::raw_stderr(
            "skipped: MPROC_MANAGER_CONNECTIONS is set past 512 descriptors\n",
        );
        return;
    }
    isolated(|| {
        let m = Manager::start().unwrap();
        // The owner's connection is one; silent ones take the rest.
        let opened = Instant::now();
        let crowd: Vec<_> = (1..total).map(|_| rogue::silent(m.address())).collect();
        let e = Manager::connect(m.address()).unwrap_err();
        assert!(
            opened.elapsed() < Duration::from_secs(2),
            "took {:?}: the silent ones may have been dropped already",
            opened.elapsed()
        );
        assert_eq!(
            e.kind(),
            ErrorKind::CapacityExceeded { limit: total },
            "{e}"
        );
        assert!(e.to_string().contains("MPROC_MANAGER_CONNECTIONS"), "{e}");
        // The owner keeps working meanwhile.
        assert_eq!(m.stats().unwrap().connections, 1);
        // A handshake has a deadline: then the silent ones are dropped
        // and their slots are free.
        for c in &crowd {
            assert!(rogue::closed(c, Duration::from_secs(10)));
        }
        assert!(opened.elapsed() >= Duration::from_millis(1500));
        let other = Manager::connect(m.address()).unwrap();
        assert_eq!(other.stats().unwrap().connections, 2);
    });
}
