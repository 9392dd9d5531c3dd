//! Integration tests of `mproc::server`: the pre-fork socket server. Each
//! body runs isolated in its own forked process (see tests/common/mod.rs),
//! and the server's master is a [`Process`] child of that body, steered
//! with real signals, so the body's own signal mask is never touched.
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/examples.rs"]
mod examples;
#[path = "../common/seeds.rs"]
#[allow(dead_code)] // each binary uses a part of it
mod seeds_py;

mod example;
mod limits;
mod listeners;
mod seeds;
mod steer;
mod systemd;
mod upgrade;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mproc::daemon::{MainLoop, Status};
use mproc::process::{self, Process};
use mproc::server::{Command, Conn, Event, Listener, Server, Stopped, WorkerState};
use mproc::shm::Shared;
use mproc::signal::{self, Signal};
use mproc::{Pid, process::Run};

/// The exit code of a master that ended with `Stopped::Drained`, ...
pub const DRAINED: i32 = 0;
/// ... `Stopped::GraceRanOut`,
pub const GRACE_RAN_OUT: i32 = 3;
/// ... `Stopped::Now`,
pub const NOW: i32 = 4;
/// ... `Stopped::Upgraded`.
pub const UPGRADED: i32 = 5;

/// The tests' handler: upper-cases what the client sends, except for a
/// few commands: `pid` answers the worker's pid, `sleep MS` sleeps then
/// answers `SLEPT`, `die` kills the worker (`SIGKILL`), `panic` panics.
pub fn handler(mut conn: Conn) {
    let mut msg = [0u8; 1024];
    loop {
        let n = match conn.read(&mut msg) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let text = std::str::from_utf8(&msg[..n]).unwrap_or("");
        let reply = if text == "pid" {
            process::getpid().to_string()
        } else if let Some(ms) = text.strip_prefix("sleep ") {
            std::thread::sleep(Duration::from_millis(ms.trim().parse().unwrap_or(0)));
            "SLEPT".to_owned()
        } else if text == "die" {
            let _ = signal::kill(process::getpid(), Signal::KILL);
            return;
        } else if text == "panic" {
            panic!("the handler panics on purpose");
        } else {
            text.to_uppercase()
        };
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A server's settings for a test.
#[derive(Clone, Copy)]
pub struct Opts {
    /// Workers.
    pub workers: usize,
    /// The drain's grace.
    pub grace: Duration,
    /// The connection timeout.
    pub timeout: Option<Duration>,
    /// Whether a worker past the timeout is killed.
    pub kill_on_timeout: bool,
    /// The answer for a client beyond the busy workers (none: it waits).
    pub overflow: Option<&'static [u8]>,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            workers: 2,
            grace: Duration::from_secs(20),
            timeout: None,
            kill_on_timeout: true,
            overflow: None,
        }
    }
}

/// A master forked by the test body, and the lines its hook writes:
/// `workers P1,P2,...` (the pids of the workers that accept, sorted)
/// each time that set changes, `healthy` or `unhealthy` each time
/// `Server::healthy` changes, `serving N` each time the number of workers
/// serving a connection changes (seen promptly only with an overflow
/// answer, which has workers report each connection), `ready`, `reloading`, `stopping`, and
/// `marked` for the marker signal.
pub struct Master {
    /// Its handle.
    pub process: Process<Box<dyn FnOnce()>>,
    /// Its pid.
    pub pid: Pid,
    /// The status board its hook fills (`Server::report`) at every event
    /// (leaked: it lives as long as the test's isolated process).
    pub status: &'static Shared<Status>,
    lines: BufReader<UnixStream>,
    /// The last `workers` line read, not yet matched by `workers_until`.
    last_workers: Option<String>,
}

/// The master's body: serves `listener` with `opts`, writing its lines to
/// `out`; exits with the code of how it stopped.
struct MasterBody {
    status: &'static Shared<Status>,
    listeners: Vec<Listener>,
    opts: Opts,
    out: UnixStream,
}

impl Run for MasterBody {
    fn run(&mut self) {
        // Two real-time signals too: the tests' marker (`mark`), and the
        // one that asks for `Command::Retire`.
        let main = MainLoop::new(
            Server::signals()
                .with(Signal::rtmin())
                .with(retire_signal()),
        )
        .unwrap();
        let mut b = Server::builder()
            .workers(self.opts.workers)
            .grace(self.opts.grace)
            .tick(Duration::from_millis(20));
        if let Some(line) = self.opts.overflow {
            b = b.overflow(mproc::server::Overflow::Answer(line));
        }
        for l in self.listeners.drain(..) {
            b = b.listener(l);
        }
        if let Some(t) = self.opts.timeout {
            b = b
                .connection_timeout(t)
                .kill_on_timeout(self.opts.kill_on_timeout);
        }
        let mut server = b.build(handler).unwrap();
        let out = &mut self.out;
        let status = self.status;
        let mut last = String::new();
        let mut was_healthy = None;
        let mut was_serving = None;
        let end = server
            .serve_with(&main, |server, event| {
                server.report(status);
                let mut pids: Vec<i32> = server
                    .workers()
                    .filter(|w| !w.stopping && w.state != WorkerState::Starting)
                    .map(|w| w.pid.as_raw())
                    .collect();
                pids.sort();
                let now = format!(
                    "workers {}",
                    pids.iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                );
                if now != last {
                    let _ = writeln!(out, "{now}");
                    last = now;
                }
                let serving = server
                    .workers()
                    .filter(|w| w.state == WorkerState::Serving)
                    .count();
                if was_serving != Some(serving) {
                    let _ = writeln!(out, "serving {serving}");
                    was_serving = Some(serving);
                }
                let healthy = server.healthy();
                if was_healthy != Some(healthy) {
                    let _ = writeln!(out, "{}", if healthy { "healthy" } else { "unhealthy" });
                    was_healthy = Some(healthy);
                }
                match event {
                    Event::Ready => {
                        let _ = writeln!(out, "ready");
                    }
                    Event::Reloading => {
                        let _ = writeln!(out, "reloading");
                    }
                    Event::Stopping => {
                        let _ = writeln!(out, "stopping");
                    }
                    Event::Signal(info) if info.signal == retire_signal() => {
                        return Command::Retire;
                    }
                    Event::Signal(_) => {
                        let _ = writeln!(out, "marked");
                    }
                    _ => {}
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
        Master::start_many([listener], opts)
    }

    /// [`Master::start`] with several listeners.
    pub fn start_many(listeners: impl IntoIterator<Item = Listener>, opts: Opts) -> Master {
        let (out, lines) = UnixStream::pair().unwrap();
        // A watchdog, not a readiness guess: a line comes well before.
        lines
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let status: &'static Shared<Status> =
            Box::leak(Box::new(Shared::new(Status::new()).unwrap()));
        let mut body = MasterBody {
            status,
            listeners: listeners.into_iter().collect(),
            opts,
            out,
        };
        let mut process: Process<Box<dyn FnOnce()>> = Process::new(Box::new(move || body.run()));
        process.start().unwrap();
        let pid = process.pid().unwrap();
        let mut m = Master {
            process,
            pid,
            status,
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
        loop {
            if self.line() == want {
                return;
            }
        }
    }

    /// Skips lines up to a `workers` line that satisfies `cond`; its pids.
    pub fn workers_until(&mut self, cond: impl Fn(&[i32]) -> bool) -> Vec<i32> {
        loop {
            let line = match self.last_workers.take() {
                Some(line) => line,
                None => {
                    self.line();
                    continue;
                }
            };
            if let Some(list) = line.strip_prefix("workers ") {
                let pids: Vec<i32> = list
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|p| p.parse().unwrap())
                    .collect();
                if cond(&pids) {
                    return pids;
                }
            } else if line == "workers" && cond(&[]) {
                return Vec::new();
            }
        }
    }

    /// Returns once the master has taken every signal sent before: the
    /// kernel hands pending signals over lowest number first, and the
    /// marker is a real-time signal, numbered above every standard one.
    pub fn mark(&mut self) {
        self.signal(Signal::rtmin());
        self.expect("marked");
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

/// The signal the tests' master answers with `Command::Retire`.
pub fn retire_signal() -> Signal {
    Signal::rtmin_plus(1).unwrap()
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

/// How many descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
