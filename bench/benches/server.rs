//! Echo servers under one client load: mproc's pre-fork server kit
//! against the seeds' Python servers, in one run.
//!
//! Contenders, each serving seed 004's protocol (a client sends a
//! message, the server answers it upper-cased; gevent's echoes it as is):
//!
//! - mproc `server::Server` with four sync workers (the `Pool(4)` shape of
//!   `examples/server_echo.rs`), and with one async worker (tokio's
//!   current-thread runtime, seed 001's echo: `examples/server_gevent.rs`,
//!   one process as gevent's), their masters forked here before any
//!   client thread exists;
//! - Python: `seed004_pool4_echo_server.py` (the parent accepts, a
//!   `Pool(4)` worker serves each connection through `apply_async`) and
//!   `seed001_gevent_echo_server.py` (one process, a greenlet per
//!   connection; gevent from PyPI), run unedited but for the port, which
//!   is substituted in a copy of the file, and with their prints sent to
//!   `/dev/null`.
//!
//! Loads, from client threads of this process on the loopback address:
//!
//! - echo: [`CONNS`] connections at once (what every contender serves at
//!   once: four workers), each sending a 32-byte message and reading the
//!   reply, over and over; requests per second, and each request's time;
//! - connection setups: [`CONNS`] clients at once, each connecting,
//!   sending one message, reading the reply and closing, over and over.
//!
//! Memory: with [`IDLE`] idle connections open (each answered once), the
//! USS and PSS of the async server's master and worker and of gevent's
//! process, from `/proc/<pid>/smaps_rollup`.
//!
//! Each round runs every load against every contender; the table shows
//! the median and p90 (the slowest tenth) of the rounds' rates, and p50
//! and p99 of every request's (or set-up's) time over all rounds. Every
//! reply is checked. `MPROC_BENCH_QUICK=1` shrinks the run to a smoke
//! test; `MPROC_BENCH_PYTHON` names the interpreter (default `python3`);
//! a contender that cannot start (no Python, no gevent) is reported as
//! n/a with the reason.

#![allow(unsafe_code)] // The shared bench helpers (watchdog, CPU usage) call libc directly.

#[path = "../../benches/common/mod.rs"]
#[allow(dead_code)] // This bench uses a few of the helpers, not all.
mod common;

/// The async server's echo and the memory readings, from the example.
#[path = "../../examples/server_async_memory.rs"]
#[allow(dead_code)] // the example's own `measure` and `main`
mod memory;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use common::{
    Result, Stage, cell, exit_code, machine_with_load, median, paired_ratio, percentile,
    print_report, quick_note, quick_run, ratio_cell,
};
use mproc::daemon::MainLoop;
use mproc::process::Process;
use mproc::server::{AsyncWorker, Command as Steer, Conn, Event, Listener, Server};
use mproc::shm::Shared;

/// Connections served at once: what every contender serves at once.
const CONNS: usize = 4;
/// The message each request sends.
const MSG: &[u8; 32] = b"hello from the bench, 32 bytes.\n";
/// How long a contender may take to start listening.
const START_PATIENCE: Duration = Duration::from_secs(20);
/// The most one client operation may wait before the bench calls it hung.
const IO_PATIENCE: Duration = Duration::from_secs(20);
/// Idle connections held open for the memory readings.
const IDLE: usize = 1000;

fn main() -> ExitCode {
    exit_code("server", run())
}

/// A server under test.
struct Contender {
    name: &'static str,
    /// Its address, or why it is not running.
    addr: std::result::Result<SocketAddr, String>,
    /// Whether it answers upper-cased (gevent's echoes as is).
    upper: bool,
    echo: Vec<f64>,
    echo_times: Vec<Duration>,
    setups: Vec<f64>,
    setup_times: Vec<Duration>,
    stop: Stop,
    /// Whose memory to read with idle connections open (async servers).
    memory: Option<Pids>,
}

/// How a contender is stopped at the end.
enum Stop {
    Mproc(Box<dyn FnOnce()>),
    Python(Child),
    Nothing,
}

impl Contender {
    fn new(
        name: &'static str,
        upper: bool,
        started: Result<(SocketAddr, Stop, Option<Pids>)>,
    ) -> Contender {
        let (addr, stop, memory) = match started {
            Ok((addr, stop, pids)) => (Ok(addr), stop, pids),
            Err(e) => {
                eprintln!("bench server: {name} not run: {e}");
                (Err(e.to_string()), Stop::Nothing, None)
            }
        };
        Contender {
            name,
            addr,
            upper,
            echo: Vec::new(),
            echo_times: Vec::new(),
            setups: Vec::new(),
            setup_times: Vec::new(),
            stop,
            memory,
        }
    }
}

fn run() -> Result<()> {
    let started = Instant::now();
    let load = common::load_average();
    let (round_count, requests, setups) = if quick_run() {
        (1, 50, 10)
    } else {
        (5, 4_000, 400)
    };
    raise_descriptor_limit();
    // The mproc masters are forked first: no thread of this process runs
    // yet (the crate refuses to fork then).
    let mut contenders = vec![
        Contender::new(
            "mproc Server, 4 sync workers",
            true,
            start_mproc(Shape::Sync(CONNS)).map(|(a, s, _)| (a, s, None)),
        ),
        Contender::new(
            "mproc Server, 1 async worker",
            false,
            start_mproc(Shape::Async(1)).map(|(a, s, p)| (a, s, Some(p))),
        ),
    ];
    let python = std::env::var("MPROC_BENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let python_version = Command::new(&python)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    contenders.push(Contender::new(
        "Python Pool(4) server (seed 004)",
        true,
        start_python(&python, "seed004_pool4_echo_server.py", "8080").map(|(a, s, _)| (a, s, None)),
    ));
    contenders.push(Contender::new(
        "Python gevent server (seed 001)",
        false,
        start_python(&python, "seed001_gevent_echo_server.py", "9001").map(|(a, s, pid)| {
            let pids = Pids {
                master: pid,
                worker: None,
            };
            (a, s, Some(pids))
        }),
    ));

    let result = (0..=round_count).try_for_each(|round| -> Result<()> {
        let warm = round == 0;
        for c in &mut contenders {
            let Ok(addr) = c.addr else { continue };
            let n = if warm { requests / 10 + 1 } else { requests };
            let (rate, times) = clients(addr, c.upper, n, false)?;
            let m = if warm { setups / 10 + 1 } else { setups };
            let (setup_rate, setup_times) = clients(addr, c.upper, m, true)?;
            if !warm {
                c.echo.push(rate);
                c.echo_times.extend(times);
                c.setups.push(setup_rate);
                c.setup_times.extend(setup_times);
            }
        }
        Ok(())
    });
    // Memory with idle connections open: the async server and gevent's.
    let idle = if quick_run() { 50 } else { IDLE };
    let memory: Vec<_> = contenders
        .iter()
        .filter_map(|c| Some((c.name, c.addr.as_ref().ok()?, c.memory.as_ref()?, c.upper)))
        .map(|(name, addr, pids, upper)| (name, with_idle(*addr, pids, idle, upper)))
        .collect();
    for c in &mut contenders {
        stop(std::mem::replace(&mut c.stop, Stop::Nothing));
    }
    result?;

    let mut out = String::new();
    machine_with_load(&mut out, "echo servers", python_version.as_deref(), &load);
    let _ = writeln!(
        out,
        "- method: {round_count} rounds after a warm-up round; each round runs both loads \
         against every contender. Echo: {CONNS} connections at once, each sending a \
         32-byte message and reading the reply {requests} times. Set-ups: {CONNS} clients \
         at once, each connecting, sending one message, reading the reply and closing, \
         {setups} times. Clients are threads of the bench on the loopback address, every \
         reply checked. Rates: median and p90 (the slowest tenth) over the rounds; \
         times: p50 and p99 of every request (set-up) of every round; ratios: median of \
         the per-round ratios.{}\n",
        quick_note()
    );
    table(&mut out, "echo", &contenders, |c| (&c.echo, &c.echo_times));
    table(&mut out, "connection set-ups", &contenders, |c| {
        (&c.setups, &c.setup_times)
    });
    let _ = writeln!(out, "| ratio | median |");
    let _ = writeln!(out, "|---|---:|");
    for (mine, theirs) in [(0, 2), (1, 3), (0, 3)] {
        let (Some(mproc), Some(other)) = (contenders.get(mine), contenders.get(theirs)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| echo requests/s, {} / {} | {} |",
            mproc.name,
            other.name,
            ratio_cell(paired_ratio(&mproc.echo, &other.echo))
        );
        let _ = writeln!(
            out,
            "| set-ups/s, {} / {} | {} |",
            mproc.name,
            other.name,
            ratio_cell(paired_ratio(&mproc.setups, &other.setups))
        );
    }
    let _ = writeln!(
        out,
        "\n| memory (KiB) with {idle} idle connections | process | USS idle | USS | PSS idle | PSS |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    for (name, m) in &memory {
        match m {
            Ok(rows) => {
                for (who, before, after) in rows {
                    let _ = writeln!(
                        out,
                        "| {name} | {who} | {} | {} | {} | {} |",
                        before.uss_kib, after.uss_kib, before.pss_kib, after.pss_kib
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(out, "| {name} | n/a ({e}) | | | | |");
            }
        }
    }
    for c in &contenders {
        if let Err(why) = &c.addr {
            let _ = writeln!(out, "\n{}: n/a ({why})", c.name);
        }
    }
    print_report(out, started);
    Ok(())
}

/// One table: each contender's rates and times.
fn table(
    out: &mut String,
    what: &str,
    contenders: &[Contender],
    pick: impl Fn(&Contender) -> (&Vec<f64>, &Vec<Duration>),
) {
    let _ = writeln!(
        out,
        "| {what} | per second, median | p90 | time p50 (µs) | time p99 (µs) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for c in contenders {
        let (rates, times) = pick(c);
        let us: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e6).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            c.name,
            cell(median(rates)),
            cell(percentile(rates, 10.0)),
            cell(percentile(&us, 50.0)),
            cell(percentile(&us, 99.0)),
        );
    }
    let _ = writeln!(out);
}

/// Runs [`CONNS`] client threads against `addr`, each making `n`
/// requests on one connection (`setups`: `n` connections of one request
/// each). Returns the requests per second and every request's time.
fn clients(addr: SocketAddr, upper: bool, n: u32, setups: bool) -> Result<(f64, Vec<Duration>)> {
    let start = Instant::now();
    let per_thread = std::thread::scope(|s| {
        let threads: Vec<_> = (0..CONNS)
            .map(|_| s.spawn(move || client(addr, upper, n, setups).map_err(|e| e.to_string())))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err("a client panicked".into())))
            .collect::<std::result::Result<Vec<_>, String>>()
    })?;
    let elapsed = start.elapsed();
    let times: Vec<Duration> = per_thread.into_iter().flatten().collect();
    Ok((times.len() as f64 / elapsed.as_secs_f64(), times))
}

/// One client: `n` requests on one connection, or `n` connections of one
/// request (`setups`); each request's time.
fn client(addr: SocketAddr, upper: bool, n: u32, setups: bool) -> Result<Vec<Duration>> {
    let mut expected = *MSG;
    if upper {
        expected.make_ascii_uppercase();
    }
    let mut times = Vec::with_capacity(n as usize);
    let mut reply = [0u8; MSG.len()];
    let mut conn = None;
    for _ in 0..n {
        let t = Instant::now();
        if setups || conn.is_none() {
            conn = Some(connect(addr)?);
        }
        let Some(c) = conn.as_mut() else { continue };
        c.write_all(MSG)?;
        c.read_exact(&mut reply)?;
        if reply != expected {
            return Err(format!(
                "{addr} answered {:?} to {:?}",
                String::from_utf8_lossy(&reply),
                String::from_utf8_lossy(MSG)
            )
            .into());
        }
        if setups {
            conn = None; // closed here, inside the timed set-up
        }
        times.push(t.elapsed());
    }
    Ok(times)
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let c = TcpStream::connect_timeout(&addr, IO_PATIENCE)?;
    c.set_nodelay(true)?;
    c.set_read_timeout(Some(IO_PATIENCE))?;
    c.set_write_timeout(Some(IO_PATIENCE))?;
    Ok(c)
}

/// Seed 004's `talk`: each message back upper-cased, until the client
/// hangs up.
fn talk(conn: &mut Conn) {
    let mut msg = [0u8; 1024];
    while let Ok(n @ 1..) = conn.read(&mut msg) {
        msg[..n].make_ascii_uppercase();
        if conn.write_all(&msg[..n]).is_err() {
            break;
        }
    }
}

/// The shape of an mproc server under test.
#[derive(Clone, Copy)]
enum Shape {
    /// Sync workers, one connection each, upper-casing (seed 004's).
    Sync(usize),
    /// Async workers, echoing as is (seed 001's gevent server).
    Async(usize),
}

/// A server's processes, for the memory readings: its master, and the
/// first worker (written by the master's hook once every worker accepts).
struct Pids {
    master: i32,
    worker: Option<&'static Shared<AtomicI32>>,
}

/// The master's hook: once every worker accepts, the first worker's pid
/// and the go.
fn ready_hook<B>(
    stage: &'static Stage,
    worker: &'static Shared<AtomicI32>,
) -> impl FnMut(&Server<B>, Event) -> Steer {
    move |server, event| {
        if event == Event::Ready {
            if let Some(w) = server.workers().next() {
                worker.store(w.pid.as_raw(), Ordering::Release);
            }
            stage.reach(1);
        }
        Steer::Continue
    }
}

/// Forks an mproc master of `shape` serving on a fresh loopback port;
/// returns once every worker accepts.
fn start_mproc(shape: Shape) -> Result<(SocketAddr, Stop, Pids)> {
    let listener = Listener::tcp_with("127.0.0.1:0", false, 4096)?;
    let addr = listener.local_addr().ok_or("the listener has no address")?;
    let stage: &'static Stage = Box::leak(Box::new(Stage::new()?));
    let worker: &'static Shared<AtomicI32> = Box::leak(Box::new(Shared::new(AtomicI32::new(0))?));
    let mut master = Process::new(move || {
        let served = (|| -> mproc::Result<()> {
            let main = MainLoop::new(Server::signals())?;
            let builder = Server::builder().listener(listener);
            match shape {
                Shape::Sync(n) => {
                    let mut server = builder.workers(n).build(|mut conn| talk(&mut conn))?;
                    server.serve_with(&main, ready_hook(stage, worker))?;
                }
                Shape::Async(n) => {
                    let body = AsyncWorker::new(memory::echo).max_connections(2 * IDLE);
                    let mut server = builder.workers(n).build_with(body)?;
                    server.serve_with(&main, ready_hook(stage, worker))?;
                }
            }
            Ok(())
        })();
        if let Err(e) = served {
            eprintln!("bench server: the mproc master: {e}");
            mproc::process::exit(1);
        }
    });
    master.start()?;
    let pid = master.pid().ok_or("no pid")?.as_raw();
    if let Err(e) = stage.wait(1) {
        let _ = master.kill();
        let _ = master.join();
        return Err(e);
    }
    let stop = move || {
        let _ = master.terminate();
        if !matches!(master.join_timeout(Duration::from_secs(10)), Ok(Some(_))) {
            let _ = master.kill();
            let _ = master.join();
        }
    };
    Ok((
        addr,
        Stop::Mproc(Box::new(stop)),
        Pids {
            master: pid,
            worker: Some(worker),
        },
    ))
}

/// Starts a seed's Python server (a copy with `port` replaced by a free
/// one); returns once it accepts connections.
fn start_python(python: &str, seed: &str, port: &str) -> Result<(SocketAddr, Stop, i32)> {
    let source = seeds().join(seed);
    let text =
        std::fs::read_to_string(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    let free = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let copy = std::env::temp_dir().join(format!("mproc-bench-{}-{seed}", std::process::id()));
    std::fs::write(&copy, text.replace(port, &free.to_string()))?;
    let child = Command::new(python)
        .arg(&copy)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{python}: {e}"))?;
    let addr: SocketAddr = ([127, 0, 0, 1], free).into();
    let deadline = Instant::now() + START_PATIENCE;
    let mut child = child;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            let _ = std::fs::remove_file(&copy);
            let pid = i32::try_from(child.id())?;
            return Ok((addr, Stop::Python(child), pid));
        }
        if let Some(status) = child.try_wait()? {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = std::fs::remove_file(&copy);
            let last = err.lines().last().unwrap_or("").to_owned();
            return Err(format!("{seed} exited ({status}): {last}").into());
        }
        if Instant::now() > deadline {
            stop(Stop::Python(child));
            let _ = std::fs::remove_file(&copy);
            return Err(format!("{seed} did not listen within {START_PATIENCE:?}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The seeds' Python programs: `MPROC_SEEDS_PY`, or the copy in the
/// crate's tests.
fn seeds() -> std::path::PathBuf {
    std::env::var_os("MPROC_SEEDS_PY").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/seeds-py"),
        std::path::PathBuf::from,
    )
}

/// The server's processes' memory before and with `n` idle connections
/// open (each checked with one echo first, so the server holds it).
type Rows = Vec<(&'static str, memory::Usage, memory::Usage)>;

fn with_idle(addr: SocketAddr, pids: &Pids, n: usize, upper: bool) -> Result<Rows> {
    let mut who = vec![("master", pids.master)];
    if let Some(w) = pids.worker {
        who[0].0 = "master";
        who.push(("worker", w.load(Ordering::Acquire)));
    } else {
        who[0].0 = "the process";
    }
    let before: Vec<memory::Usage> = who
        .iter()
        .map(|(_, p)| memory::usage(*p))
        .collect::<std::io::Result<_>>()?;
    let mut open = Vec::with_capacity(n);
    let mut expected = *MSG;
    if upper {
        expected.make_ascii_uppercase();
    }
    for _ in 0..n {
        let mut c = connect(addr)?;
        c.write_all(MSG)?;
        let mut reply = [0u8; MSG.len()];
        c.read_exact(&mut reply)?;
        if reply != expected {
            return Err(format!("{addr}: a wrong reply while opening idle connections").into());
        }
        open.push(c);
    }
    let after: Vec<memory::Usage> = who
        .iter()
        .map(|(_, p)| memory::usage(*p))
        .collect::<std::io::Result<_>>()?;
    drop(open);
    Ok(who
        .iter()
        .zip(before.into_iter().zip(after))
        .map(|((w, _), (b, a))| (*w, b, a))
        .collect())
}

/// Lets this process open the idle connections: the soft descriptor
/// limit raised to the hard one.
fn raise_descriptor_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the live struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Stops a contender: `TERM` to the mproc master (it drains), a kill of
/// the Python server's process group (its pool's workers too).
fn stop(s: Stop) {
    match s {
        Stop::Mproc(stop) => stop(),
        Stop::Python(mut child) => {
            // The server leads a process group of its own: its pool's
            // workers go with it.
            if let Ok(group) = i32::try_from(child.id()) {
                // SAFETY: kill(2) with a negative pid signals that process
                // group; no memory is involved.
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
            }
            let _ = child.wait();
        }
        Stop::Nothing => {}
    }
}
