//! Steering a forked master with real signals: `HUP`, `TTIN`/`TTOU`,
//! `TERM`, `QUIT`/`INT`; workers that die or overrun are replaced.

use std::io::{ErrorKind as IoKind, Read};
use std::time::{Duration, Instant};

use mproc::signal::{self, Signal};

use crate::common::{eventually, isolated, proc_state};
use crate::{DRAINED, GRACE_RAN_OUT, Master, NOW, Opts, ask, client, open_fds, tcp};

/// Whether the peer closed or reset the connection (a read gives 0 or an
/// error other than the watchdog's timeout).
fn closed(s: &mut std::net::TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut),
    }
}

fn gone(pid: i32) -> bool {
    eventually(Duration::from_secs(20), || {
        matches!(proc_state(pid), None | Some('Z'))
    })
}

#[test]
fn hup_replaces_every_worker_and_an_old_one_finishes_its_connection() {
    isolated(|| {
        let fds = open_fds();
        let (l, addr) = tcp();
        let mut m = Master::start(l, Opts::default());
        let old = m.workers_until(|p| p.len() == 2);
        let mut a = client(addr);
        let w: i32 = ask(&mut a, "pid").parse().unwrap();
        assert!(old.contains(&w));

        m.signal(Signal::HUP);
        m.expect("reloading");
        m.expect("ready");
        let new = m.workers_until(|p| p.len() == 2);
        assert!(new.iter().all(|p| !old.contains(p)), "{old:?} {new:?}");
        // The old worker still serves the connection it had.
        assert_eq!(ask(&mut a, "still here"), "STILL HERE");
        let mut b = client(addr);
        let nb: i32 = ask(&mut b, "pid").parse().unwrap();
        assert!(new.contains(&nb), "{nb} in {new:?}");
        // Hung up, it leaves.
        drop(a);
        assert!(gone(w), "the old worker {w} did not end");
        drop(b);

        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
        assert_eq!(open_fds(), fds, "descriptors left open");
    });
}

#[test]
fn ttin_and_ttou_grow_and_shrink_by_one_never_below_one() {
    isolated(|| {
        let (l, addr) = tcp();
        let mut m = Master::start(l, Opts::default());
        m.workers_until(|p| p.len() == 2);
        m.signal(Signal::TTIN);
        m.workers_until(|p| p.len() == 3);
        m.signal(Signal::TTOU);
        m.workers_until(|p| p.len() == 2);
        m.signal(Signal::TTOU);
        let one = m.workers_until(|p| p.len() == 1);
        m.signal(Signal::TTOU);
        m.mark();
        m.signal(Signal::TTIN);
        // Had the TTOU gone below one, the TTIN would leave it at one.
        let two = m.workers_until(|p| p.len() == 2);
        assert!(two.contains(&one[0]), "{one:?} {two:?}");
        let mut c = client(addr);
        assert_eq!(ask(&mut c, "served"), "SERVED");
        drop(c);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn a_worker_killed_mid_connection_is_replaced_and_only_its_connection_is_lost() {
    isolated(|| {
        let (l, addr) = tcp();
        let mut m = Master::start(l, Opts::default());
        m.workers_until(|p| p.len() == 2);
        let mut a = client(addr);
        let wa: i32 = ask(&mut a, "pid").parse().unwrap();
        let mut b = client(addr);
        let wb: i32 = ask(&mut b, "pid").parse().unwrap();
        assert_ne!(wa, wb);

        signal::kill(mproc::Pid::from_raw(wa).unwrap(), Signal::KILL).unwrap();
        assert!(closed(&mut a), "the killed worker's client was not cut off");
        let now = m.workers_until(|p| p.len() == 2 && !p.contains(&wa));
        assert!(now.contains(&wb));
        // The other client did not notice.
        assert_eq!(ask(&mut b, "unaffected"), "UNAFFECTED");
        let mut c = client(addr);
        assert_eq!(ask(&mut c, "new"), "NEW");
        drop((b, c));
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn term_finishes_the_connection_in_progress_and_refuses_new_ones() {
    isolated(|| {
        let (l, addr) = tcp();
        let mut m = Master::start(l, Opts::default());
        let mut a = client(addr);
        assert_eq!(ask(&mut a, "hello"), "HELLO");
        let start = Instant::now();
        m.signal(Signal::TERM);
        m.expect("stopping");
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), IoKind::ConnectionRefused, "{refused}");
        // The connection accepted before is served to its end.
        assert_eq!(ask(&mut a, "more"), "MORE");
        assert_eq!(ask(&mut a, "and more"), "AND MORE");
        drop(a);
        assert_eq!(m.join(), DRAINED);
        assert!(start.elapsed() < Duration::from_secs(15));
    });
}

#[test]
fn term_kills_what_is_left_when_the_grace_runs_out() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            grace: Duration::from_millis(300),
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        let mut a = client(addr);
        assert_eq!(ask(&mut a, "hi"), "HI");
        std::io::Write::write_all(&mut a, b"sleep 60000").unwrap();
        m.signal(Signal::TERM);
        m.expect("stopping");
        assert_eq!(m.join(), GRACE_RAN_OUT);
        assert!(closed(&mut a));
    });
}

#[test]
fn quit_and_int_stop_at_once() {
    for sig in [Signal::QUIT, Signal::INT] {
        isolated(move || {
            let (l, addr) = tcp();
            let m = Master::start(l, Opts::default());
            let mut a = client(addr);
            assert_eq!(ask(&mut a, "hi"), "HI");
            let start = Instant::now();
            m.signal(sig);
            assert_eq!(m.join(), NOW, "{sig}");
            assert!(start.elapsed() < Duration::from_secs(10));
            assert!(closed(&mut a));
        });
    }
}

#[test]
fn a_connection_past_the_timeout_loses_its_worker_which_is_replaced() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            timeout: Some(Duration::from_millis(300)),
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        m.workers_until(|p| p.len() == 2);
        let mut a = client(addr);
        let w: i32 = ask(&mut a, "pid").parse().unwrap();
        std::io::Write::write_all(&mut a, b"sleep 60000").unwrap();
        assert!(closed(&mut a), "the overrunning connection was not cut");
        m.workers_until(|p| p.len() == 2 && !p.contains(&w));
        let mut b = client(addr);
        assert_eq!(ask(&mut b, "fine"), "FINE");
        drop(b);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn a_connection_past_the_timeout_makes_the_server_unhealthy_when_it_only_reports() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            workers: 1,
            timeout: Some(Duration::from_millis(200)),
            kill_on_timeout: false,
            ..Opts::default()
        };
        let mut m = Master::start(l, opts);
        let mut a = client(addr);
        let w = ask(&mut a, "pid");
        std::io::Write::write_all(&mut a, b"sleep 400").unwrap();
        m.expect("unhealthy");
        // Not killed: it answers.
        let mut buf = [0u8; 16];
        let n = a.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"SLEPT");
        // The timeout counts the whole connection: healthy once it ends.
        drop(a);
        m.expect("healthy");
        let mut b = client(addr);
        assert_eq!(ask(&mut b, "pid"), w);
        drop(b);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn a_panicking_handler_loses_its_connection_not_its_worker() {
    isolated(|| {
        let (l, addr) = tcp();
        let opts = Opts {
            workers: 1,
            ..Opts::default()
        };
        let m = Master::start(l, opts);
        let mut a = client(addr);
        let w = ask(&mut a, "pid");
        std::io::Write::write_all(&mut a, b"panic").unwrap();
        assert!(closed(&mut a));
        let mut b = client(addr);
        assert_eq!(ask(&mut b, "pid"), w);
        drop(b);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}

#[test]
fn every_connection_is_answered_across_replacements() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    isolated(|| {
        let (l, addr) = tcp();
        let mut m = Master::start(l, Opts::default());
        let done = Arc::new(AtomicBool::new(false));
        // Forked before any thread starts: two clients, each connecting
        // again and again until the replacements are over.
        let clients: Vec<_> = (0..2)
            .map(|t| {
                let done = Arc::clone(&done);
                std::thread::spawn(move || -> Result<usize, String> {
                    let mut i = 0;
                    while !done.load(Ordering::Relaxed) {
                        let err = |e: std::io::Error| format!("client {t}, connection {i}: {e}");
                        let mut c = std::net::TcpStream::connect(addr).map_err(err)?;
                        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        std::io::Write::write_all(&mut c, format!("hi {i}").as_bytes())
                            .map_err(err)?;
                        let mut buf = [0u8; 64];
                        let n = c.read(&mut buf).map_err(err)?;
                        if buf[..n] != *format!("HI {i}").as_bytes() {
                            return Err(format!("{i}: {:?}", String::from_utf8_lossy(&buf[..n])));
                        }
                        i += 1;
                    }
                    Ok(i)
                })
            })
            .collect();
        for _ in 0..10 {
            m.signal(Signal::HUP);
            m.expect("ready");
        }
        done.store(true, Ordering::Relaxed);
        for c in clients {
            let answered = c.join().unwrap();
            assert!(answered.is_ok(), "{answered:?}");
        }
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);
    });
}
