//! examples/pool_echo_server.rs (seed 000's server: the parent accepts,
//! `apply_async_fd(talk, conn, addr)` hands each connection to a worker)
//! against the seeds' own Python clients, from tests/seeds-py (or
//! `MPROC_SEEDS_PY`), run unedited:
//!
//! - `echo_load_client.py PORT 6`: six clients at once against `Pool(4)`;
//!   every reply is the message upper-cased, and the two clients beyond
//!   the pool's size waited for a free worker;
//! - `seed004_echo_client.py`, fed two lines on stdin. It connects to the
//!   fixed 127.0.0.1:8080, which another program may hold on a shared
//!   machine, so a small shim (below) runs it with `socket.connect`
//!   pointed at the test's port instead; the seed file itself is not
//!   changed.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use mproc::process::Process;

use crate::common::isolated;
use crate::seeds_py::{SHIM, load_clients, python_seeds, run};

#[path = "../../examples/pool_echo_server.rs"]
#[allow(dead_code)] // the example's `main`
mod pool_echo_server;

#[test]
fn the_seeds_python_clients_get_their_messages_upper_cased() {
    let Some(dir) = python_seeds() else { return };
    isolated(move || {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        // Six load clients and one seed004 client: seven connections.
        let mut srv = Process::new(move || {
            pool_echo_server::serve(server, Some(4), Some(7)).unwrap();
        });
        srv.start().unwrap();

        let lines = load_clients(&dir, port, 6);
        let mut waited = 0;
        for (i, line) in lines.iter().enumerate() {
            assert!(line.starts_with(&format!("({i}, ")), "{line}");
            for j in 0..3 {
                assert!(line.contains(&format!("'HELLO {i}-{j}'")), "{line}");
            }
            let elapsed: f64 = line.split(", ").nth(1).unwrap().parse().unwrap();
            // Each client takes at least 0.9 s (three 0.3 s pauses); one
            // that had to wait for a worker, at least twice that.
            assert!(elapsed >= 0.85, "{line}");
            if elapsed >= 1.7 {
                waited += 1;
            }
        }
        assert!(waited >= 2, "at most four are served at once:\n{lines:#?}");

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

        assert_eq!(srv.join().unwrap(), 0);
    });
}
