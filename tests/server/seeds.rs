//! examples/server_echo.rs (seed 004's servers done pre-fork) against the
//! seeds' own Python clients, from tests/seeds-py (or
//! `MPROC_SEEDS_PY`), run unedited with python3:
//!
//! - `echo_load_client.py PORT 6` against four sync workers (the
//!   `Pool(4)` shape): every reply is the message upper-cased, as
//!   `msg.upper()` makes it, and the two clients beyond the four workers
//!   waited in the backlog for a free one;
//! - the same against the process-per-connection shape: nobody waits;
//! - `seed004_echo_client.py`, fed two lines on stdin. It connects to the
//!   fixed 127.0.0.1:8080, which another program may hold on a shared
//!   machine, so a small shim (below) runs it with `socket.connect`
//!   pointed at the test's port instead; the seed file itself is not
//!   changed.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use mproc::daemon::MainLoop;
use mproc::process::Process;
use mproc::server::{Server, Stopped};
use mproc::signal::{self, Signal};

use crate::common::isolated;
use crate::seeds_py::{SHIM, load_clients, python_seeds, run};
use crate::tcp;

#[path = "../../examples/server_echo.rs"]
#[allow(dead_code)] // the example's `main`
mod server_echo;

/// Forks the example's server (its master: a child of the test body) and
/// waits for its ready line; the port.
fn start(workers: usize, per_connection: bool) -> (Process<impl FnOnce()>, u16) {
    let (l, addr) = tcp();
    let (mut out, ready) = UnixStream::pair().unwrap();
    ready
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut srv = Process::new(move || {
        let main = MainLoop::new(Server::signals()).unwrap();
        // Not under systemd: no notify socket, no watchdog.
        let mut systemd = mproc::server::Systemd::new(mproc::daemon::Notifier::disabled(), None);
        let end = server_echo::serve(&main, l, workers, per_connection, &mut systemd, |line| {
            use std::io::Write;
            let _ = writeln!(out, "{line}");
        })
        .unwrap();
        assert_eq!(end, Stopped::Drained);
    });
    srv.start().unwrap();
    let mut line = String::new();
    BufReader::new(ready).read_line(&mut line).unwrap();
    assert!(
        line.starts_with(&format!("serving on {addr} (pid ")),
        "{line}"
    );
    (srv, addr.port())
}

/// Runs `echo_load_client.py PORT 6`; how many clients waited for a
/// worker (took twice the time of one).
fn load(dir: &std::path::Path, port: u16) -> usize {
    let lines = load_clients(dir, port, 6);
    let mut waited = 0;
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("({i}, ")), "{line}");
        assert!(
            line.ends_with(&format!("['HELLO {i}-0', 'HELLO {i}-1', 'HELLO {i}-2'])")),
            "{line}"
        );
        let elapsed: f64 = line.split(", ").nth(1).unwrap().parse().unwrap();
        // Each client takes at least 0.9 s (three 0.3 s pauses); one
        // that had to wait for a worker, at least twice that.
        assert!(elapsed >= 0.85, "{line}");
        if elapsed >= 1.7 {
            waited += 1;
        }
    }
    waited
}

fn stop(srv: Process<impl FnOnce()>) {
    signal::kill(srv.pid().unwrap(), Signal::TERM).unwrap();
    assert_eq!(srv.join().unwrap(), 0);
}

#[test]
fn the_seeds_python_clients_get_their_messages_upper_cased_from_four_workers() {
    let Some(dir) = python_seeds() else { return };
    isolated(move || {
        let (srv, port) = start(4, false);
        let waited = load(&dir, port);
        assert!(waited >= 2, "at most four are served at once");

        let mut seed = Command::new("python3");
        seed.arg("-c")
            .arg(SHIM)
            .arg(port.to_string())
            .arg(dir.join("seed004_echo_client.py"));
        let out = run(seed, b"hello\nmixed Case 42\n", Duration::from_secs(20));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text, ">>: HELLO\n>>: MIXED CASE 42\n>>: ", "{text}");
        stop(srv);
    });
}

#[test]
fn the_process_per_connection_shape_serves_every_client_at_once() {
    let Some(dir) = python_seeds() else { return };
    isolated(move || {
        let (srv, port) = start(1, true);
        assert_eq!(load(&dir, port), 0, "nobody waits for a process");
        stop(srv);
    });
}
