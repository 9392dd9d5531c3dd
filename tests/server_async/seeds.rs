//! examples/server_gevent.rs (seed 001's gevent echo server as an async
//! worker) against the seeds' Python load client, from
//! tests/seeds-py (or `MPROC_SEEDS_PY`), run unedited with
//! python3: `echo_load_client.py PORT 6`, six clients at once, each
//! sending three messages 0.3 s apart. One async worker serves all six
//! together: every reply is the message as sent (seed 001 echoes as
//! is), and no client waits for another.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mproc::daemon::MainLoop;
use mproc::process::Process;
use mproc::server::{Server, Stopped};
use mproc::signal::{self, Signal};

use crate::common::isolated;
use crate::seeds_py::{load_clients, python_seeds};
use crate::{open_fds, tcp};

#[path = "../../examples/server_gevent.rs"]
#[allow(dead_code)] // the example's `main`
mod server_gevent;

#[test]
fn the_seeds_load_client_gets_six_clients_served_at_once_by_one_async_worker() {
    let Some(dir) = python_seeds() else { return };
    isolated(move || {
        let fds = open_fds();
        let (l, addr) = tcp();
        let (mut out, ready) = UnixStream::pair().unwrap();
        ready
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut srv = Process::new(move || {
            let main = MainLoop::new(Server::signals()).unwrap();
            let end = server_gevent::serve(&main, l, 1, false, |line| {
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
        assert!(line.trim_end().ends_with(", 1 async workers)"), "{line}");

        let lines = load_clients(&dir, addr.port(), 6);
        for (i, line) in lines.iter().enumerate() {
            assert!(line.starts_with(&format!("({i}, ")), "{line}");
            // As sent: seed 001 echoes, it does not upper-case.
            assert!(
                line.ends_with(&format!("['hello {i}-0', 'hello {i}-1', 'hello {i}-2'])")),
                "{line}"
            );
            // Each client takes about 0.9 s (three 0.3 s pauses); one that
            // waited for another would take twice that.
            let elapsed: f64 = line.split(", ").nth(1).unwrap().parse().unwrap();
            assert!((0.85..1.7).contains(&elapsed), "{line}");
        }
        signal::kill(srv.pid().unwrap(), Signal::TERM).unwrap();
        assert_eq!(srv.join().unwrap(), 0);
        assert_eq!(open_fds(), fds, "descriptors left open");
    });
}
