//! Integration tests of `mproc::server`'s async workers (feature
//! `tokio`; run with `cargo test --features tokio --test server_async`).
//! Each body runs isolated in its own forked process (see
//! tests/common/mod.rs), and the server's master is a [`Process`] child
//! of that body, steered with real signals.
#![cfg(feature = "tokio")]
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/seeds.rs"]
#[allow(dead_code)] // each binary uses a part of it
mod seeds_py;

mod seeds;
mod serve;
mod steer;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mproc::daemon::MainLoop;
use mproc::process::{self, Process};
use mproc::server::{AsyncConn, AsyncWorker, Command, Event, Listener, Server, Stopped};
use mproc::signal::{self, Signal};
use mproc::{Pid, process::Run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The exit code of a master that ended with `Stopped::Drained`, ...
pub const DRAINED: i32 = 0;
/// ... `Stopped::GraceRanOut`,
pub const GRACE_RAN_OUT: i32 = 3;
/// ... `Stopped::Now`,
pub const NOW: i32 = 4;
/// ... `Stopped::Upgraded`.
pub const UPGRADED: i32 = 5;

/// The threads of this process, from `/proc/self/status`.
pub fn threads() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map_or_else(|| "?".to_owned(), |n| n.trim().to_owned())
}

/// The tests' async handler: seed 001's echo (what comes in goes back as
/// is; at the end of the stream the write side is shut), except for a
/// few commands: `pid` answers the worker's pid, `threads` its thread
/// count, `sleep MS` sleeps in the runtime then answers `SLEPT`, `block
/// MS` blocks the worker's thread (wedging its event loop) then answers
/// `BLOCKED`, `panic` panics.
pub async fn handler(mut conn: AsyncConn) {
    let mut data = [0u8; 1024];
    loop {
        let n = match conn.read(&mut data).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let text = std::str::from_utf8(&data[..n]).unwrap_or("");
        let reply = if text == "pid" {
            process::getpid().to_string()
        } else if text == "threads" {
            threads()
        } else if let Some(ms) = text.strip_prefix("sleep ") {
            tokio::time::sleep(Duration::from_millis(ms.trim().parse().unwrap_or(0))).await;
            "SLEPT".to_owned()
        } else if text == "panic" {
            panic!("the handler panics on purpose");
        } else if let Some(ms) = text.strip_prefix("block ") {
            std::thread::sleep(Duration::from_millis(ms.trim().parse().unwrap_or(0)));
            "BLOCKED".to_owned()
        } else {
            String::new()
        };
        let reply = if reply.is_empty() {
            &data[..n]
        } else {
            reply.as_bytes()
        };
        if conn.write_all(reply).await.is_err() {
            return;
        }
    }
    let _ = conn.shutdown().await;
}

/// A server's settings for a test.
#[derive(Clone, Copy)]
pub struct Opts {
    /// Workers.
    pub workers: usize,
    /// Connections per worker.
    pub max_connections: usize,
    /// The drain's grace.
    pub grace: Duration,
    /// The master's connection timeout.
    pub timeout: Option<Duration>,
    /// Whether a worker past the timeout is killed.
    pub kill_on_timeout: bool,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            workers: 1,
            max_connections: 100,
            grace: Duration::from_secs(20),
            timeout: None,
            kill_on_timeout: true,
        }
    }
}

/// A master forked by the test body, and the lines its hook writes:
/// `workers P1,P2,...` (the pids of the workers that are up and not
/// stopping, sorted) each time that set changes, `healthy` or
/// `unhealthy` each time `Server::healthy` changes, `ready`,
/// `reloading`, `stopping`, and `timeouts N` when that count changes.
pub struct Master {
    /// Its handle.
    pub process: Process<Box<dyn FnOnce()>>,
    /// Its pid.
    pub pid: Pid,
    lines: BufReader<UnixStream>,
    last_workers: Option<String>,
}

struct MasterBody {
    listener: Option<Listener>,
    opts: Opts,
    out: UnixStream,
}

impl Run for MasterBody {
    fn run(&mut self) {
        let main = MainLoop::new(Server::signals()).unwrap();
        let mut b = Server::builder()
            .workers(self.opts.workers)
            .grace(self.opts.grace)
            .tick(Duration::from_millis(20))
            .listener(self.listener.take().unwrap());
        if let Some(t) = self.opts.timeout {
            b = b
                .connection_timeout(t)
                .kill_on_timeout(self.opts.kill_on_timeout);
        }
        let worker = AsyncWorker::new(handler).max_connections(self.opts.max_connections);
        let mut server = b.build_with(worker).unwrap();
        let out = &mut self.out;
        let (mut last, mut was_healthy, mut timeouts) = (String::new(), None, 0);
        let end = server
            .serve_with(&main, |server, event| {
                let mut pids: Vec<i32> = server
                    .workers()
                    .filter(|w| !w.stopping && w.beat_age.is_some())
                    .map(|w| w.pid.as_raw())
                    .collect();
                pids.sort();
                let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
                let now = format!("workers {}", list.join(","));
                if now != last {
                    let _ = writeln!(out, "{now}");
                    last = now;
                }
                let healthy = server.healthy();
                if was_healthy != Some(healthy) {
                    let _ = writeln!(out, "{}", if healthy { "healthy" } else { "unhealthy" });
                    was_healthy = Some(healthy);
                }
                if server.timeouts() != timeouts {
                    timeouts = server.timeouts();
                    let _ = writeln!(out, "timeouts {timeouts}");
                }
                let word = match event {
                    Event::Ready => "ready",
                    Event::Reloading => "reloading",
                    Event::Stopping => "stopping",
                    _ => "",
                };
                if !word.is_empty() {
                    let _ = writeln!(out, "{word}");
                }
                Command::Continue
            })
            .unwrap();
        process::exit(match end {
            Stopped::Drained => DRAINED,
            Stopped::GraceRanOut { .. } => GRACE_RAN_OUT,
            Stopped::Now => NOW,
            Stopped::Upgraded { .. } => UPGRADED,
            _ => 1,
        });
    }
}

impl Master {
    /// Forks a master serving `listener`, and waits until it is ready.
    pub fn start(listener: Listener, opts: Opts) -> Master {
        let (out, lines) = UnixStream::pair().unwrap();
        // A watchdog, not a readiness guess: a line comes well before.
        lines
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut body = MasterBody {
            listener: Some(listener),
            opts,
            out,
        };
        let mut process: Process<Box<dyn FnOnce()>> = Process::new(Box::new(move || body.run()));
        process.start().unwrap();
        let pid = process.pid().unwrap();
        let mut m = Master {
            process,
            pid,
            lines: BufReader::new(lines),
            last_workers: None,
        };
        m.expect("ready");
        m
    }

    /// The next line (a watchdog fails the test after 20 s).
    pub fn line(&mut self) -> String {
        let mut s = String::new();
        let line = match self.lines.read_line(&mut s) {
            Ok(n) if n > 0 => s.trim_end().to_owned(),
            other => panic!("no line from the master: {other:?}"),
        };
        if std::env::var_os("MPROC_TEST_TRACE").is_some() {
            crate::common::raw_stderr(&format!("master: {line}\n"));
        }
        if line.starts_with("workers") {
            self.last_workers = Some(line.clone());
        }
        line
    }

    /// Skips lines up to `want`.
    pub fn expect(&mut self, want: &str) {
        while self.line() != want {}
    }

    /// Skips lines up to a `workers` line that satisfies `cond`; its pids.
    pub fn workers_until(&mut self, cond: impl Fn(&[i32]) -> bool) -> Vec<i32> {
        loop {
            let Some(line) = self.last_workers.take() else {
                self.line();
                continue;
            };
            let list = line.strip_prefix("workers").unwrap_or("").trim();
            let pids: Vec<i32> = list
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|p| p.parse().unwrap())
                .collect();
            if cond(&pids) {
                return pids;
            }
        }
    }

    /// Sends it `sig`.
    pub fn signal(&self, sig: Signal) {
        signal::kill(self.pid, sig).unwrap();
    }

    /// Joins the master (a watchdog kills it after 20 s).
    pub fn join(self) -> i32 {
        match self.process.join_timeout(Duration::from_secs(20)).unwrap() {
            Some(code) => code,
            None => {
                let _ = self.process.kill();
                panic!("the master did not end");
            }
        }
    }
}

/// A TCP listener on a free loopback port, and its address.
pub fn tcp() -> (Listener, SocketAddr) {
    let l = Listener::tcp("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A client: connects, with a 20 s watchdog on reads.
pub fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Sends `msg` and reads the reply (one read: the replies are short).
pub fn ask(s: &mut (impl Read + Write), msg: &str) -> String {
    s.write_all(msg.as_bytes()).unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Whether the peer closed or reset the connection (a read gives 0 or an
/// error other than the watchdog's timeout).
pub fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// How many descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
