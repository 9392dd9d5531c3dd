//! Limits: a sync worker serves one connection at a time; a client
//! beyond the workers waits in the listen backlog; bad settings are
//! typed errors.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::time::Duration;

use mproc::ErrorKind;
use mproc::server::{Listener, MAX_LISTENERS, MAX_WORKERS, Server};
use mproc::signal::Signal;

use crate::common::isolated;
use crate::{DRAINED, Master, Opts, ask, client, tcp};

#[test]
fn a_fifth_client_of_four_workers_waits_in_the_backlog_until_one_is_free() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            workers: 4,
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        m.workers_until(|p| p.len() == 4);
        let mut first: Vec<_> = (0..4).map(|_| client(addr)).collect();
        for (i, c) in first.iter_mut().enumerate() {
            assert_eq!(ask(c, &format!("client {i}")), format!("CLIENT {i}"));
        }
        // Connected by the kernel, not yet served.
        let mut fifth = client(addr);
        fifth.write_all(b"fifth").unwrap();
        fifth
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 64];
        let e = fifth.read(&mut buf).unwrap_err();
        assert!(
            matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut),
            "{e}"
        );
        // One of the four hangs up: its worker takes the fifth.
        drop(first.remove(0));
        fifth
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let n = fifth.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"FIFTH");
        drop((first, fifth));
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn with_an_overflow_answer_a_client_beyond_the_busy_workers_gets_it_and_the_door() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            workers: 1,
            overflow: Some(b"busy, try later\n"),
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        let mut a = client(addr);
        assert_eq!(ask(&mut a, "hi"), "HI");
        m.expect("serving 1");
        // The only worker serves `a`: the next client is answered.
        let mut b = client(addr);
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"busy, try later\n");
        // Once it is free, the worker serves again, and the master leaves
        // the clients to it.
        drop(a);
        m.expect("serving 0");
        let mut c = client(addr);
        assert_eq!(ask(&mut c, "served"), "SERVED");
        drop(c);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn bad_settings_are_typed_errors() {
    let l = || Listener::tcp("127.0.0.1:0").unwrap();
    for n in [0, MAX_WORKERS + 1] {
        let e = Server::builder()
            .listener(l())
            .workers(n)
            .build(|_| ())
            .unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::CapacityExceeded { limit: MAX_WORKERS },
            "{e}"
        );
    }
    let e = Server::builder().workers(1).build(|_| ()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
    let mut b = Server::builder();
    for _ in 0..=MAX_LISTENERS {
        b = b.listener(l());
    }
    let e = b.build(|_| ()).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::CapacityExceeded {
            limit: MAX_LISTENERS
        }
    );
    let e = Server::builder()
        .listener(l())
        .grace(Duration::ZERO)
        .build(|_| ())
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
    let e = Listener::tcp_with("127.0.0.1:0", false, 0).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
}
