//! One async worker serving many connections at once: seed 001's echo,
//! six clients held open together, the worker's one thread,
//! `max_connections`, the per-connection timeout.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mproc::signal::Signal;

use crate::common::{isolated, under_qemu};
use crate::{DRAINED, Master, Opts, ask, client, closed, open_fds, tcp, threads};

#[test]
fn one_async_worker_serves_six_clients_at_once() {
    isolated(|| {
        let fds = open_fds();
        let (l, addr) = tcp();
        let mut m = Master::start(l, Opts::default());
        let worker = m.workers_until(|p| p.len() == 1)[0];
        // Each client connects and is answered while every one before it
        // holds its connection open: a worker serving one at a time would
        // never answer the second.
        let mut clients = Vec::new();
        for i in 0..6 {
            let mut c = client(addr);
            assert_eq!(ask(&mut c, &format!("hello {i}")), format!("hello {i}"));
            assert_eq!(ask(&mut c, "pid"), worker.to_string());
            clients.push(c);
        }
        // Six requests in flight together: six sleeps of 500 ms in one
        // worker end together, not one after the other.
        let t = Instant::now();
        for c in &mut clients {
            c.write_all(b"sleep 500").unwrap();
        }
        for c in &mut clients {
            let mut buf = [0u8; 16];
            let n = c.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"SLEPT");
        }
        assert!(
            t.elapsed() < Duration::from_millis(2500),
            "{:?}",
            t.elapsed()
        );
        drop(clients);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
        assert_eq!(open_fds(), fds, "descriptors left open");
    });
}

#[test]
fn seed_001s_echo_sends_back_what_comes_in_and_shuts_at_the_end() {
    isolated(|| {
        let (l, addr) = tcp();
        let m = Master::start(l, Opts::default());
        let mut c = client(addr);
        // As is: no upper-casing, binary bytes too.
        assert_eq!(ask(&mut c, "Mixed Case 42"), "Mixed Case 42");
        c.write_all(&[0, 255, 10, 13]).unwrap();
        let mut buf = [0u8; 8];
        let n = c.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[0, 255, 10, 13]);
        // The client ends its stream: the server shuts its side
        // (`conn.shutdown(socket.SHUT_WR)`) and closes.
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(c.read(&mut buf).unwrap(), 0);
        drop(c);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn the_async_worker_runs_on_one_thread() {
    isolated(|| {
        let (l, addr) = tcp();
        let m = Master::start(l, Opts::default());
        let mut c = client(addr);
        // After a timer, a socket and a sleep have gone through the
        // runtime: tokio started no thread of its own.
        assert_eq!(ask(&mut c, "sleep 10"), "SLEPT");
        let worker = ask(&mut c, "threads");
        // qemu-user counts a thread of its own in every process: the
        // worker then has as many as this single-threaded body.
        let expected = if under_qemu() {
            threads()
        } else {
            "1".to_owned()
        };
        assert_eq!(worker, expected);
        drop(c);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn a_worker_at_max_connections_leaves_the_next_client_in_the_backlog() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            max_connections: 2,
            ..Opts::default()
        };
        let m = Master::start(l, opts);
        let mut first: Vec<_> = (0..2).map(|_| client(addr)).collect();
        for (i, c) in first.iter_mut().enumerate() {
            assert_eq!(ask(c, &format!("client {i}")), format!("client {i}"));
        }
        // Connected by the kernel, not accepted: no answer.
        let mut third = client(addr);
        third.write_all(b"third").unwrap();
        third
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 64];
        let e = third.read(&mut buf).unwrap_err();
        assert!(
            matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut),
            "{e}"
        );
        // One hangs up: the worker takes the third.
        drop(first.remove(0));
        third
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let n = third.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"third");
        drop((first, third));
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn a_connection_past_the_timeout_is_cut_and_the_worker_stays() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            timeout: Some(Duration::from_secs(1)),
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        let worker = m.workers_until(|p| p.len() == 1)[0];
        let mut idle = client(addr);
        assert_eq!(ask(&mut idle, "pid"), worker.to_string());
        // Silent past the timeout: the worker closes it.
        assert!(closed(&mut idle), "not cut at the timeout");
        // The worker is the same one: only the connection was cut.
        let mut next = client(addr);
        assert_eq!(ask(&mut next, "pid"), worker.to_string());
        drop((idle, next));
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn a_panicking_handler_loses_its_connection_only() {
    isolated(|| {
        let (l, addr) = tcp();
        let mut m = Master::start(l, Opts::default());
        let worker = m.workers_until(|p| p.len() == 1)[0];
        let mut other = client(addr);
        assert_eq!(ask(&mut other, "pid"), worker.to_string());
        let mut doomed = client(addr);
        doomed.write_all(b"panic").unwrap();
        assert!(closed(&mut doomed));
        // The worker and its other connection go on.
        assert_eq!(ask(&mut other, "pid"), worker.to_string());
        drop((doomed, other));
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn an_async_worker_serves_a_unix_listener() {
    isolated(|| {
        let path = std::env::temp_dir().join(format!("mproc-async-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = mproc::server::Listener::unix(&path).unwrap();
        let m = Master::start(l, Opts::default());
        let mut a = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let mut b = std::os::unix::net::UnixStream::connect(&path).unwrap();
        for s in [&a, &b] {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        }
        assert_eq!(ask(&mut a, "over unix"), "over unix");
        assert_eq!(ask(&mut b, "at once"), "at once");
        drop((a, b));
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
        assert!(!path.exists(), "the socket's path was left");
    });
}
