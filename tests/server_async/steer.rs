//! Steering async workers: `TERM` drains the connections open, `HUP`
//! replaces the workers without dropping one, a wedged event loop is
//! found by its stopped heartbeat.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use mproc::signal::Signal;

use crate::common::{eventually, isolated, proc_state};
use crate::{DRAINED, Master, Opts, ask, client, closed, open_fds, tcp};

fn gone(pid: i32) -> bool {
    eventually(Duration::from_secs(20), || {
        matches!(proc_state(pid), None | Some('Z'))
    })
}

#[test]
fn term_stops_accepting_and_drains_every_open_connection() {
    isolated(|| {
        let fds = open_fds();
        let (l, addr) = tcp();
        let mut m = Master::start(l, Opts::default());
        let mut open: Vec<TcpStream> = (0..3).map(|_| client(addr)).collect();
        for (i, c) in open.iter_mut().enumerate() {
            assert_eq!(ask(c, &format!("c{i}")), format!("c{i}"));
        }
        // One request is under way when the drain begins.
        open[0].write_all(b"sleep 300").unwrap();
        m.signal(Signal::TERM);
        m.expect("stopping");
        // No new connection is taken.
        assert!(TcpStream::connect(addr).is_err(), "accepted while draining");
        let mut buf = [0u8; 16];
        let n = open[0].read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"SLEPT");
        // The others are still served, to their end.
        for (i, c) in open.iter_mut().enumerate() {
            assert_eq!(ask(c, &format!("still {i}")), format!("still {i}"));
        }
        drop(open);
        assert_eq!(m.join(), DRAINED);
        assert_eq!(open_fds(), fds, "descriptors left open");
    });
}

#[test]
fn hup_replaces_async_workers_and_the_old_ones_finish_their_connections() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            workers: 2,
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        let old = m.workers_until(|p| p.len() == 2);
        let mut held: Vec<TcpStream> = (0..4).map(|_| client(addr)).collect();
        let mut served_by = Vec::new();
        for c in &mut held {
            served_by.push(ask(c, "pid").parse::<i32>().unwrap());
        }
        assert!(served_by.iter().all(|p| old.contains(p)));

        m.signal(Signal::HUP);
        m.expect("reloading");
        m.expect("ready");
        let new = m.workers_until(|p| p.len() == 2 && p.iter().all(|q| !old.contains(q)));
        // Each old worker still serves the connections it had.
        for (i, c) in held.iter_mut().enumerate() {
            assert_eq!(ask(c, &format!("kept {i}")), format!("kept {i}"));
            assert_eq!(ask(c, "pid"), served_by[i].to_string());
        }
        // New connections go to the new workers.
        let mut fresh = client(addr);
        let p: i32 = ask(&mut fresh, "pid").parse().unwrap();
        assert!(new.contains(&p), "{p} not in {new:?}");
        // Hung up, the old ones leave.
        drop(held);
        for w in old {
            assert!(gone(w), "the old worker {w} did not end");
        }
        drop(fresh);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn a_wedged_event_loop_stops_beating_and_its_worker_is_replaced() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            timeout: Some(Duration::from_millis(500)),
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        let first = m.workers_until(|p| p.len() == 1)[0];
        let mut wedged = client(addr);
        let mut bystander = client(addr);
        assert_eq!(ask(&mut bystander, "pid"), first.to_string());
        // The handler blocks the worker's only thread for 30 s: every
        // connection of that worker is stuck, and its beats stop.
        wedged.write_all(b"block 30000").unwrap();
        m.expect("timeouts 1");
        let next = m.workers_until(|p| p.len() == 1 && p[0] != first)[0];
        assert!(gone(first), "the wedged worker {first} was not killed");
        // Its connections were lost with it; the new worker serves.
        assert!(closed(&mut wedged));
        assert!(closed(&mut bystander));
        let mut c = client(addr);
        assert_eq!(ask(&mut c, "pid"), next.to_string());
        drop(c);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn a_wedged_event_loop_makes_the_server_unhealthy_when_not_killed() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            timeout: Some(Duration::from_millis(300)),
            kill_on_timeout: false,
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        let mut c = client(addr);
        assert_eq!(ask(&mut c, "up"), "up");
        c.write_all(b"block 1500").unwrap();
        m.expect("unhealthy");
        // The loop runs again: it beats, and the server is healthy.
        let mut buf = [0u8; 16];
        let n = c.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"BLOCKED");
        m.expect("healthy");
        drop(c);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn every_connection_is_answered_across_five_hups() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            workers: 2,
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        let mut held = client(addr);
        assert_eq!(ask(&mut held, "held"), "held");
        for round in 0..5 {
            m.signal(Signal::HUP);
            // New connections while the workers are being replaced: each
            // one is accepted by an old or a new worker and answered.
            for i in 0..20 {
                let mut c = client(addr);
                let msg = format!("round {round} client {i}");
                assert_eq!(ask(&mut c, &msg), msg);
            }
            m.expect("ready");
        }
        // The first connection outlived five replacements.
        assert_eq!(ask(&mut held, "still held"), "still held");
        drop(held);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}
