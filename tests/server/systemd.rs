//! A server as systemd sees it ([`Systemd`]): the notify protocol's lines
//! at the master's events, read from a datagram socket bound here as
//! systemd binds `$NOTIFY_SOCKET`, and a watchdog that pings while the
//! server is healthy and stops while a connection has overrun its
//! timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use mproc::daemon::{MainLoop, NOTIFY_MAX, Notifier, Watchdog};
use mproc::process::{self, Process};
use mproc::server::{Command, DEFAULT_TICK, Listener, Server, Systemd};
use mproc::signal::{self, Signal};

use crate::common::isolated;

/// `WatchdogSec=` of the test: pings every 200 ms.
const INTERVAL: Duration = Duration::from_millis(400);
/// The connection timeout: a client that holds its connection longer
/// makes the server unhealthy (its worker is not killed).
const CONN_TIMEOUT: Duration = Duration::from_millis(300);

/// A datagram received, and when.
struct Line {
    at: Instant,
    text: String,
}

/// The datagrams that come within `span` (or until `until` holds for one).
fn collect(rx: &UnixDatagram, span: Duration, until: impl Fn(&str) -> bool) -> Vec<Line> {
    let end = Instant::now() + span;
    let mut lines = Vec::new();
    let mut buf = [0u8; NOTIFY_MAX + 1];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return lines;
        }
        rx.set_read_timeout(Some(left)).unwrap();
        match rx.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8(buf[..n].to_vec()).unwrap();
                let done = until(&text);
                lines.push(Line {
                    at: Instant::now(),
                    text,
                });
                if done {
                    return lines;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return lines,
            Err(e) => panic!("{e}"),
        }
    }
}

/// The lines that are not watchdog pings.
fn states(lines: &[Line]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l.text.as_str())
        .filter(|t| *t != "WATCHDOG=1")
        .collect()
}

fn pings(lines: &[Line]) -> Vec<Instant> {
    lines
        .iter()
        .filter(|l| l.text == "WATCHDOG=1")
        .map(|l| l.at)
        .collect()
}

fn echo(mut conn: mproc::server::Conn) {
    let mut msg = [0u8; 256];
    while let Ok(n @ 1..) = conn.read(&mut msg) {
        msg[..n].make_ascii_uppercase();
        if conn.write_all(&msg[..n]).is_err() {
            return;
        }
    }
}

#[test]
fn a_server_tells_systemd_each_state_and_pings_only_while_healthy() {
    isolated(|| {
        let path = std::env::temp_dir().join(format!("mproc-test-sd-{}.sock", process::getpid()));
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let address = path.to_str().unwrap().to_owned();
        let listener = Listener::tcp("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = Some(listener);
        let mut master = Process::new(move || {
            let main = MainLoop::new(Server::signals()).unwrap();
            let mut systemd = Systemd::new(
                Notifier::to(&address).unwrap(),
                Some(Watchdog::new(INTERVAL).unwrap()),
            );
            let mut server = Server::builder()
                .listener(listener.take().unwrap())
                .workers(2)
                .tick(systemd.tick(DEFAULT_TICK))
                .connection_timeout(CONN_TIMEOUT)
                .kill_on_timeout(false)
                .build(echo)
                .unwrap();
            server
                .serve_with(&main, |server, event| {
                    systemd.on(server, &event).unwrap();
                    Command::Continue
                })
                .unwrap();
        });
        master.start().unwrap();
        let pid = master.pid().unwrap();

        // Ready, then pings every half interval.
        let lines = collect(&rx, Duration::from_secs(10), |t| t.starts_with("READY=1"));
        assert_eq!(
            states(&lines),
            ["READY=1\nSTATUS=serving: 2 workers, 0 connections served"]
        );
        let lines = collect(&rx, Duration::from_millis(1200), |_| false);
        assert!(states(&lines).is_empty(), "{:?}", states(&lines));
        assert!(
            pings(&lines).len() >= 3,
            "{} pings in 1.2 s",
            pings(&lines).len()
        );

        // A client that holds its connection past the timeout: no ping
        // once it has (a ping due just before may still go).
        let mut held = TcpStream::connect(addr).unwrap();
        held.write_all(b"hi").unwrap();
        let mut reply = [0u8; 2];
        held.read_exact(&mut reply).unwrap();
        let since = Instant::now();
        let lines = collect(&rx, Duration::from_millis(1500), |_| false);
        let late: Vec<_> = pings(&lines)
            .into_iter()
            .filter(|at| at.duration_since(since) > CONN_TIMEOUT + Duration::from_millis(100))
            .collect();
        assert!(late.is_empty(), "{} pings while unhealthy", late.len());
        // It leaves: healthy again, pinging again.
        drop(held);
        let lines = collect(&rx, Duration::from_secs(10), |t| t == "WATCHDOG=1");
        assert_eq!(pings(&lines).len(), 1);

        // HUP: reloading, then ready again with the new workers.
        signal::kill(pid, Signal::HUP).unwrap();
        let lines = collect(&rx, Duration::from_secs(10), |t| t.starts_with("READY=1"));
        let s = states(&lines);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0].starts_with("RELOADING=1\nMONOTONIC_USEC="), "{s:?}");
        assert_eq!(s[1], "STATUS=replacing the workers");
        assert_eq!(
            s[2],
            "READY=1\nSTATUS=serving: 2 workers, 1 connections served"
        );

        // TERM: stopping, and the master ends.
        signal::kill(pid, Signal::TERM).unwrap();
        let lines = collect(&rx, Duration::from_secs(10), |t| t == "STATUS=stopping");
        assert_eq!(states(&lines), ["STOPPING=1", "STATUS=stopping"]);
        assert_eq!(master.join().unwrap(), 0);
        let _ = std::fs::remove_file(&path);
    });
}
