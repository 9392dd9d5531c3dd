//! A TCP echo server served by a pool: it upper-cases every line a client
//! sends and answers with the pid of the worker that served it. `Pool(4)`
//! serves four clients at a time, so a fifth and a sixth wait until a
//! worker is free.
//!
//! ```python
//! import os, socket
//! from multiprocessing import Pool
//!
//! def handle(conn):
//!     with conn:
//!         f = conn.makefile("rw")
//!         for line in f:                          # until the client hangs up
//!             f.write("%s [pid %d]\n" % (line.rstrip("\n").upper(), os.getpid()))
//!             f.flush()
//!
//! if __name__ == "__main__":
//!     server = socket.create_server(("127.0.0.1", 8765))
//!     pool = Pool(4)                              # four clients at a time
//!     while True:
//!         conn, addr = server.accept()
//!         pool.apply_async(handle, (conn,))       # the socket is sent to a worker
//! ```
//!
//! # Why the shape differs
//!
//! Python's parent accepts each connection and hands the socket to a
//! worker: `multiprocessing` pickles a socket by sending its descriptor
//! over a Unix socket. That shape is here too, as
//! `examples/pool_echo_server.rs` (`pool.apply_async_fd(talk, conn,
//! addr)`). This example shows the other classic shape, which needs no
//! descriptor passing at all.
//!
//! The *pre-fork* shape, the one nginx workers,
//! gunicorn's sync workers and Apache's prefork MPM serve with: the
//! listening socket is bound **before** the pool forks, every worker
//! inherits it, and each worker calls `accept()` itself. The parent only
//! keeps the pool fed with tasks [`serve_one(listener_fd)`](serve_one),
//! each of which accepts one client and serves it until it hangs up, and
//! collects what each served ([`Served`]). The listening socket's number
//! is the same in every worker, so it is what the task carries; the parent
//! keeps the socket open while the pool lives, so a replacement worker
//! (forked later) inherits it too. The kernel wakes one waiting worker per
//! connection.
//!
//! Four workers in `accept` serve four clients; a fifth client's
//! `connect` still succeeds (the kernel completes the handshake and queues
//! the connection in the listen backlog), and its lines wait in the socket
//! until a worker finishes with an earlier client and accepts it.
//!
//! `cargo run --example echo_server` runs six clients against `Pool(4)`
//! and checks every reply; `cargo run --example echo_server -- ADDR [N]`
//! serves `N` clients (default 6) on `ADDR` (such as `127.0.0.1:8765`)
//! for `cargo run --example echo_client -- ADDR`.

#[path = "echo_client.rs"]
#[allow(dead_code)] // the client's own `main` and `run`
pub mod echo_client;

use std::collections::BTreeSet;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::os::fd::{AsRawFd as _, BorrowedFd, RawFd};
use std::time::Duration;

use mproc::pool::{Pool, TaskData};
use mproc::process::{self, Process};
use mproc::shm::FixedStr;

/// Workers in the demo's pool.
pub const WORKERS: usize = 4;
/// Clients in the demo: two more than there are workers.
pub const CLIENTS: usize = 6;
/// How long a worker waits for a client's next line before hanging up.
const IDLE: Duration = Duration::from_secs(30);

/// What a worker reports once its client has hung up.
#[derive(TaskData, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// The worker's pid.
    pub pid: i32,
    /// The client's port (its address is the loopback's or the peer's).
    pub peer_port: u16,
    /// Lines answered.
    pub lines: u32,
}

/// Why a connection was not served to its end, cut to 96 bytes.
pub type Failure = FixedStr<96>;

fn failure(what: &str, e: &io::Error) -> Failure {
    let text = format!("{what}: {e}");
    let mut cut = text.len().min(96);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].parse().unwrap_or_default()
}

/// The task, run in a worker: accepts one client on the inherited
/// listening socket `listener_fd`, answers each line upper-cased with this
/// worker's pid, and returns when the client hangs up.
///
/// `listener_fd` must be a listening socket that was open when the pool
/// forked and stays open while the pool lives ([`serve`] keeps it so).
pub fn serve_one(listener_fd: RawFd) -> Result<Served, Failure> {
    // SAFETY: the descriptor is the listening socket `serve` bound before
    // `Pool::new` forked this worker (a replacement worker is forked while
    // `serve` still holds it too), so this process inherited it, and
    // nothing in a worker closes it; it is only borrowed for this call.
    #[allow(unsafe_code)]
    let borrowed = unsafe { BorrowedFd::borrow_raw(listener_fd) };
    // A duplicate to own for the call (closed on return), the inherited
    // descriptor itself left alone.
    let listener = TcpListener::from(
        borrowed
            .try_clone_to_owned()
            .map_err(|e| failure("dup", &e))?,
    );
    let (stream, peer) = listener.accept().map_err(|e| failure("accept", &e))?;
    stream
        .set_read_timeout(Some(IDLE))
        .map_err(|e| failure("set_read_timeout", &e))?;
    let pid = process::getpid().as_raw();
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    let mut lines = 0;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break, // the client hung up
            Ok(_) => {}
            Err(e) => return Err(failure("read", &e)),
        }
        let text = line.trim_end_matches(['\r', '\n']).to_uppercase();
        let reply = echo_client::format_reply(&text, pid) + "\n";
        (&stream)
            .write_all(reply.as_bytes()) // in one piece (see `Client::send`)
            .map_err(|e| failure("write", &e))?;
        lines += 1;
    }
    Ok(Served {
        pid,
        peer_port: peer.port(),
        lines,
    })
}

/// Serves exactly `connections` clients on `listener` with a pool of
/// `workers`, then closes and joins the pool. Returns what each worker
/// served, in the order the clients hung up.
///
/// The pool is made here, after `listener` is bound, so its workers
/// inherit it. Tasks are fed through `imap_unordered`, which keeps a few
/// queued per worker and submits more as connections end.
///
/// # Errors
///
/// The pool's errors; after every connection ended, the first that was not
/// served to its end (each is also printed as it happens).
pub fn serve(
    listener: TcpListener,
    workers: usize,
    connections: usize,
) -> Result<Vec<Served>, Box<dyn std::error::Error>> {
    let fd = listener.as_raw_fd();
    let pool = Pool::new(workers)?; // forks: each worker inherits `listener`
    let mut served = Vec::new();
    let mut first_failure = None;
    let tasks = pool.imap_unordered(serve_one, std::iter::repeat_n(fd, connections), 1);
    for outcome in tasks {
        let failed = match outcome {
            Ok(Ok(s)) => {
                println!(
                    "worker {} served port {}: {} lines, then the client hung up",
                    s.pid, s.peer_port, s.lines
                );
                served.push(s);
                continue;
            }
            Ok(Err(failure)) => failure.to_string(),
            Err(e) => e.to_string(), // the task panicked or its worker died
        };
        eprintln!("a connection failed: {failed}");
        first_failure.get_or_insert(failed);
    }
    pool.close();
    pool.join()?;
    drop(listener); // kept open until the pool is gone (see `serve_one`)
    match first_failure {
        Some(f) => Err(f.into()),
        None => Ok(served),
    }
}

/// The lines client `n` sends.
pub fn lines_of(n: usize) -> [String; 3] {
    [
        format!("hello from client {n}"),
        "pool-served echo".to_owned(),
        format!("bye from client {n}"),
    ]
}

/// Six clients, each a process running `echo_client`'s logic, against
/// `Pool(4)` on a free loopback port; checks every reply and that at most
/// four workers served.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("echo server on {addr}: Pool({WORKERS}) serves {CLIENTS} clients");
    // Processes, not threads: the pool forks, and forking is refused
    // while other threads run. The clients connect whenever they start;
    // early ones wait in the listen backlog until the pool is up.
    let mut clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            Process::new(move || {
                let lines = lines_of(n);
                let lines = lines.each_ref().map(String::as_str);
                if let Err(e) = echo_client::converse(addr, &format!("client {n}"), &lines) {
                    eprintln!("client {n}: {e}");
                    process::exit(1);
                }
            })
        })
        .collect();
    for c in &mut clients {
        c.start()?;
    }
    let served = serve(listener, WORKERS, CLIENTS)?;
    for c in &mut clients {
        if c.join()? != 0 {
            return Err(format!("{} failed", c.name()).into());
        }
    }
    let pids: BTreeSet<i32> = served.iter().map(|s| s.pid).collect();
    println!(
        "{} clients served by {} workers {pids:?}",
        served.len(),
        pids.len()
    );
    if served.len() != CLIENTS || served.iter().any(|s| s.lines != 3) {
        return Err(format!("served {served:?}").into());
    }
    if pids.len() > WORKERS {
        return Err(format!("{} workers served, the pool has {WORKERS}", pids.len()).into());
    }
    Ok(())
}

/// `echo_server`: the checked demo; `echo_server ADDR [N]`: serves `N`
/// clients (default 6) on `ADDR`.
#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next() else {
        return run();
    };
    let connections = match args.next() {
        Some(n) => n.parse()?,
        None => CLIENTS,
    };
    let listener = TcpListener::bind(&addr)?;
    println!(
        "serving {connections} clients on {} with Pool({WORKERS}); \
         try: cargo run --example echo_client -- {0}",
        listener.local_addr()?
    );
    serve(listener, WORKERS, connections)?;
    Ok(())
}
