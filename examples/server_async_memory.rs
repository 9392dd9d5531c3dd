//! What an async-worker server costs in memory with 1,000 idle
//! connections: the master's and the worker's USS (the pages only that
//! process holds: `Private_Clean + Private_Dirty`), PSS (its share of
//! every page it maps) and RSS, from `/proc/<pid>/smaps_rollup`, before
//! the connections and with them open. Seed 001's gevent server holds
//! its connections the same way, one coroutine each in one process.
//!
//! The server is seed 001's echo ([`AsyncWorker`], one worker); the
//! clients are this process's, each connection checked with one echo
//! (so the worker has accepted it and its task runs) and then left idle.
//! [`measure`] is the part a benchmark calls.
//!
//! ```text
//! cargo run --release --features tokio --example server_async_memory          # 1000
//! cargo run --release --features tokio --example server_async_memory -- 5000
//! ```
//!
//! The client side needs a descriptor per connection: `ulimit -n` above
//! the count.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mproc::daemon::MainLoop;
use mproc::process::Process;
use mproc::server::{AsyncWorker, Command, Event, Listener, Server};
use mproc::signal::{self, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One process's memory, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Resident pages.
    pub rss_kib: u64,
    /// Proportional share of the resident pages.
    pub pss_kib: u64,
    /// Pages only this process holds (`Private_Clean + Private_Dirty`).
    pub uss_kib: u64,
}

/// The server's memory, idle and with the connections open.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Connections held open.
    pub connections: usize,
    /// The master, before the connections.
    pub master_idle: Usage,
    /// The worker, before the connections.
    pub worker_idle: Usage,
    /// The master, with the connections open.
    pub master: Usage,
    /// The worker, with the connections open.
    pub worker: Usage,
}

/// `/proc/<pid>/smaps_rollup` read into a [`Usage`].
pub fn usage(pid: i32) -> std::io::Result<Usage> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    let mut u = Usage::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(kib)) = (words.next(), words.next()) else {
            continue;
        };
        let kib: u64 = kib.parse().unwrap_or(0);
        match key {
            "Rss:" => u.rss_kib = kib,
            "Pss:" => u.pss_kib = kib,
            "Private_Clean:" | "Private_Dirty:" => u.uss_kib += kib,
            _ => {}
        }
    }
    Ok(u)
}

/// Seed 001's `handle_request`, quiet.
pub async fn echo(mut conn: mproc::server::AsyncConn) {
    let mut data = [0u8; 1024];
    while let Ok(n @ 1..) = conn.read(&mut data).await {
        if conn.write_all(&data[..n]).await.is_err() {
            return;
        }
    }
    let _ = conn.shutdown().await;
}

/// Starts a one-worker async server (its master a child of this
/// process), reads its memory, opens `connections` idle connections,
/// reads it again, and stops the server.
pub fn measure(connections: usize) -> Result<Measured, Box<dyn std::error::Error>> {
    let listener = Listener::tcp_with("127.0.0.1:0", false, 4096)?;
    let addr = listener.local_addr().ok_or("no address")?;
    let (mut out, lines) = UnixStream::pair()?;
    lines.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut listener = Some(listener);
    let mut master = Process::new(move || {
        let Ok(main) = MainLoop::new(Server::signals()) else {
            return;
        };
        let worker = AsyncWorker::new(echo).max_connections(connections.max(1));
        let Some(l) = listener.take() else { return };
        let Ok(mut server) = Server::builder().listener(l).build_with(worker) else {
            return;
        };
        let _ = server.serve_with(&main, |server, event| {
            if event == Event::Ready
                && let Some(w) = server.workers().next()
            {
                let _ = writeln!(out, "{}", w.pid.as_raw());
            }
            Command::Continue
        });
    });
    master.start()?;
    let master_pid = master.pid().ok_or("no master pid")?;
    let mut line = String::new();
    BufReader::new(lines).read_line(&mut line)?;
    let worker_pid: i32 = line.trim().parse()?;
    let master_idle = usage(master_pid.as_raw())?;
    let worker_idle = usage(worker_pid)?;
    let mut open = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut c = TcpStream::connect(addr)?;
        c.set_read_timeout(Some(Duration::from_secs(20)))?;
        c.write_all(b"x")?;
        let mut b = [0u8; 1];
        c.read_exact(&mut b)?;
        open.push(c);
    }
    let measured = Measured {
        connections,
        master_idle,
        worker_idle,
        master: usage(master_pid.as_raw())?,
        worker: usage(worker_pid)?,
    };
    drop(open);
    signal::kill(master_pid, Signal::TERM)?;
    master.join()?;
    Ok(measured)
}

#[allow(dead_code)] // unused when a bench includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1000,
    };
    let m = measure(n)?;
    let per = |with: u64, idle: u64| with.saturating_sub(idle) as f64 * 1024.0 / n.max(1) as f64;
    println!("| process | connections | USS KiB | PSS KiB | RSS KiB |");
    println!("|---|---|---|---|---|");
    for (who, idle, with) in [
        ("master", m.master_idle, m.master),
        ("worker", m.worker_idle, m.worker),
    ] {
        for (k, u) in [(0, idle), (n, with)] {
            println!(
                "| {who} | {k} | {} | {} | {} |",
                u.uss_kib, u.pss_kib, u.rss_kib
            );
        }
    }
    println!(
        "worker: {:.0} bytes of USS per idle connection",
        per(m.worker.uss_kib, m.worker_idle.uss_kib)
    );
    Ok(())
}
