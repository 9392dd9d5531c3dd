//! The pool-served TCP echo server of examples/echo_server.rs: six clients
//! at once over loopback against `Pool(4)`.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mproc::process::Process;
use mproc::shm::{Shareable, Shared};
use mproc::sync::Barrier;

use crate::common::isolated;

#[path = "../../examples/echo_server.rs"]
#[allow(dead_code)] // the example's `run` and `main`
mod echo_server;

use echo_server::echo_client::Client;

const WORKERS: usize = 4;
const CLIENTS: usize = 6;
/// The first four clients hold their connections until the last two
/// have sent their first line.
const HOLDERS: usize = WORKERS;
/// The longest any one wait may take before the test gives up.
const MUST: Duration = Duration::from_secs(10);
/// The whole run's bound.
const WITHIN: Duration = Duration::from_secs(20);

/// What the clients and the server share.
#[repr(C)]
struct Stage {
    /// All six clients, twice: it trips first once the holders are being
    /// served (all workers busy), then once the late clients' first lines
    /// are sent.
    barrier: Barrier,
    /// Clients that hung up (counted just before hanging up).
    gone: AtomicU32,
    /// Per client: `gone` when its first reply arrived.
    gone_at_first_reply: [AtomicU32; CLIENTS],
    /// Per client: 1 once it is about to hang up.
    left: [AtomicU32; CLIENTS],
    /// Per late client: the holder whose worker (free because that holder
    /// had hung up) answered its first line; -1: none such.
    freed_by: [AtomicI32; CLIENTS],
    /// Per client: the pid that answered it (0: none yet).
    pid: [AtomicI32; CLIENTS],
    /// Per client: its local port.
    port: [AtomicU32; CLIENTS],
    /// Per client: lines answered correctly.
    echoed: [AtomicU32; CLIENTS],
    /// The server's record: how many it served, and each one's worker
    /// pid, peer port and lines.
    served: AtomicU32,
    served_pid: [AtomicI32; CLIENTS],
    served_port: [AtomicU32; CLIENTS],
    served_lines: [AtomicU32; CLIENTS],
}

// SAFETY: repr(C) of a Barrier (Shareable) and atomics: no pointers, no
// drop glue, every bit pattern valid, mutated only atomically.
unsafe impl Shareable for Stage {}

fn stage_wait(stage: &Stage, what: &str) {
    if let Err(e) = stage.barrier.wait_timeout(MUST) {
        panic!("barrier ({what}): {e:?}");
    }
}

/// Client `n`: the first four ask their first line, then hold the
/// connection; the last two connect once the four are served, send their
/// first line, and only then let the holders go on.
fn client(n: usize, addr: SocketAddr, stage: &Stage) {
    let lines = echo_server::lines_of(n);
    let late = n >= HOLDERS;
    if late {
        stage_wait(stage, "the holders are served");
    }
    let mut c = Client::connect(addr).expect("connect");
    stage.port[n].store(u32::from(c.local_port().unwrap()), Ordering::SeqCst);
    let first = if late {
        c.send(&lines[0]).expect("send");
        // Queued in the listen backlog: no worker is free to accept it.
        stage_wait(stage, "the late lines are sent");
        c.expect(&lines[0]).expect("first reply")
    } else {
        c.ask(&lines[0]).expect("first reply")
    };
    let gone = stage.gone.load(Ordering::SeqCst);
    stage.gone_at_first_reply[n].store(gone, Ordering::SeqCst);
    stage.pid[n].store(first.pid, Ordering::SeqCst);
    stage.echoed[n].fetch_add(1, Ordering::SeqCst);
    if late {
        // Which holder's worker answered, if that holder had hung up.
        let freed = (0..HOLDERS).find(|&h| {
            stage.pid[h].load(Ordering::SeqCst) == first.pid
                && stage.left[h].load(Ordering::SeqCst) == 1
        });
        stage.freed_by[n].store(freed.map_or(-1, |h| h as i32), Ordering::SeqCst);
    } else {
        // Hold the connection (and so the worker) until the late clients
        // are queued.
        stage_wait(stage, "the holders are served");
        stage_wait(stage, "the late lines are sent");
    }
    for line in &lines[1..] {
        let reply = c.ask(line).expect("reply");
        assert_eq!(reply.pid, first.pid, "one connection, one worker");
        stage.echoed[n].fetch_add(1, Ordering::SeqCst);
    }
    stage.left[n].store(1, Ordering::SeqCst);
    stage.gone.fetch_add(1, Ordering::SeqCst);
    drop(c); // hang up: the worker's task ends
}

/// `p`'s exit code, waiting until `deadline` at most.
fn join_by<F>(p: &Process<F>, deadline: Instant) -> Option<i32> {
    p.join_timeout(deadline.saturating_duration_since(Instant::now()))
        .unwrap()
}

fn load(a: &[AtomicU32]) -> Vec<u32> {
    a.iter().map(|x| x.load(Ordering::SeqCst)).collect()
}

#[test]
fn six_clients_on_pool_4_each_get_their_lines_and_two_wait_for_a_free_worker() {
    isolated(|| {
        let started = Instant::now();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stage = Shared::new(Stage {
            barrier: Barrier::new(CLIENTS as u32),
            gone: AtomicU32::new(0),
            gone_at_first_reply: [const { AtomicU32::new(u32::MAX) }; CLIENTS],
            left: [const { AtomicU32::new(0) }; CLIENTS],
            freed_by: [const { AtomicI32::new(-1) }; CLIENTS],
            pid: [const { AtomicI32::new(0) }; CLIENTS],
            port: [const { AtomicU32::new(0) }; CLIENTS],
            echoed: [const { AtomicU32::new(0) }; CLIENTS],
            served: AtomicU32::new(0),
            served_pid: [const { AtomicI32::new(0) }; CLIENTS],
            served_port: [const { AtomicU32::new(0) }; CLIENTS],
            served_lines: [const { AtomicU32::new(0) }; CLIENTS],
        })
        .unwrap();
        let st: &Stage = &stage;

        // The server runs in its own process, so that this one can bound
        // the whole run (a worker waits in accept() for as long as a
        // connection it was promised does not come).
        let mut server = Process::new(move || {
            let served = echo_server::serve(listener, WORKERS, CLIENTS).expect("serve");
            for (i, s) in served.iter().enumerate().take(CLIENTS) {
                st.served_pid[i].store(s.pid, Ordering::SeqCst);
                st.served_port[i].store(u32::from(s.peer_port), Ordering::SeqCst);
                st.served_lines[i].store(s.lines, Ordering::SeqCst);
            }
            st.served.store(served.len() as u32, Ordering::SeqCst);
        });
        server.start().unwrap();
        let mut clients: Vec<_> = (0..CLIENTS)
            .map(|n| Process::new(move || client(n, addr, st)))
            .collect();
        for c in &mut clients {
            c.start().unwrap();
        }

        // Everything ends within the bound; whatever does not is killed.
        let deadline = started + WITHIN;
        let mut ended: Vec<(String, Option<i32>)> = clients
            .iter()
            .map(|c| (c.name().to_owned(), join_by(c, deadline)))
            .collect();
        ended.push(("server".to_owned(), join_by(&server, deadline)));
        if ended.iter().any(|(_, code)| code.is_none()) {
            for c in &clients {
                let _ = c.kill();
            }
            let _ = server.kill();
            panic!("still running after {WITHIN:?}: {ended:?}");
        }
        for (name, code) in &ended {
            assert_eq!(*code, Some(0), "{name} failed");
        }
        assert!(started.elapsed() < WITHIN);

        // Every client got each of its lines back, upper-cased.
        assert_eq!(load(&stage.echoed), vec![3; CLIENTS]);

        // The server served six connections of three lines each.
        assert_eq!(stage.served.load(Ordering::SeqCst), CLIENTS as u32);
        assert_eq!(load(&stage.served_lines), vec![3; CLIENTS]);

        // At most four workers; the four holders were served at once, so
        // by four different ones, and the late two by some of those.
        let pids: Vec<i32> = stage.pid.iter().map(|p| p.load(Ordering::SeqCst)).collect();
        let all: BTreeSet<i32> = pids.iter().copied().collect();
        let holders: BTreeSet<i32> = pids[..HOLDERS].iter().copied().collect();
        assert!(
            all.len() <= WORKERS,
            "{} workers served: {pids:?}",
            all.len()
        );
        assert_eq!(holders.len(), HOLDERS, "holders served by {pids:?}");
        assert!(all.is_subset(&holders), "{pids:?}");

        // The server's record agrees with the clients' (matched by port).
        let ports = load(&stage.port);
        let served_ports = load(&stage.served_port);
        for n in 0..CLIENTS {
            let i = served_ports
                .iter()
                .position(|&p| p == ports[n])
                .unwrap_or_else(|| panic!("client {n} (port {}) not served", ports[n]));
            assert_eq!(stage.served_pid[i].load(Ordering::SeqCst), pids[n]);
        }

        // The holders' first replies came while nobody had left; each
        // late client's only from a worker whose holder had hung up
        // before: they waited for a free worker.
        let gone = load(&stage.gone_at_first_reply);
        assert_eq!(&gone[..HOLDERS], &[0; HOLDERS], "{gone:?}");
        let freed_by: Vec<i32> = stage
            .freed_by
            .iter()
            .map(|f| f.load(Ordering::SeqCst))
            .collect();
        for n in HOLDERS..CLIENTS {
            assert!(gone[n] >= 1, "client {n}: {gone:?}");
            assert!(
                (0..HOLDERS as i32).contains(&freed_by[n]),
                "client {n} was answered by pid {} while no holder served by it had left \
                 (holders' pids {:?})",
                pids[n],
                &pids[..HOLDERS]
            );
        }
    });
}
