//! Seed 004's echo servers done the pre-fork way: the master opens the
//! listener, forks the workers, and each worker accepts on the listener
//! it inherited and upper-cases what its client sends (`msg.upper()`,
//! the same bytes as the Python servers), until the client hangs up.
//!
//! The `Pool(4)` shape (`seed004_pool4_echo_server.py`, whose server is
//! seed 000's with `Pool(4)`): four sync workers, each serving one client
//! at a time; a fifth client waits in the listen backlog until one of
//! the first four hangs up.
//!
//! ```python
//! server=socket(AF_INET,SOCK_STREAM)
//! server.setsockopt(SOL_SOCKET,SO_REUSEADDR,1)
//! server.bind(('127.0.0.1',8080))
//! server.listen(5)
//!
//! def talk(conn,client_addr):
//!     while True:
//!         try:
//!             msg=conn.recv(1024)
//!             if not msg:break
//!             conn.send(msg.upper())
//!         except Exception:
//!             break
//!
//! if __name__ == '__main__':
//!     p=Pool(4)
//!     while True:
//!         conn,client_addr=server.accept()
//!         p.apply_async(talk,args=(conn,client_addr))
//! ```
//!
//! The "one process per connection" shape
//! (`seed004_process_per_conn_server.py`), with
//! `--process-per-connection`: one worker accepts, and starts a
//! [`Process`] per connection that runs `talk` (the worker goes back to
//! `accept` at once, so there is no limit but `MPROC_MAX_CHILDREN`
//! connection processes per worker):
//!
//! ```python
//! if __name__ == '__main__':
//!     while True:
//!         conn,client_addr=server.accept()
//!         p=Process(target=talk,args=(conn,client_addr))
//!         p.start()
//! ```
//!
//! Here the accept loop is the workers' ([`Server`]), not `__main__`'s:
//! the master only steers (`HUP` replaces the workers, `TTIN`/`TTOU`
//! grow and shrink, `TERM` drains, `INT`/`QUIT` stop now; see
//! [`mproc::server`]).
//!
//! ```text
//! cargo run --example server_echo                          # 127.0.0.1:8080, 4 workers
//! cargo run --example server_echo -- 127.0.0.1:0 --workers 2
//! cargo run --example server_echo -- 127.0.0.1:0 --process-per-connection
//! python3 tests/seeds-py/echo_load_client.py PORT 6
//! ```
//!
//! It prints `serving on ADDR (pid P, N workers)` once every worker
//! accepts (a test waits for that line), and serves until `TERM`, `INT`
//! or `QUIT`. The address may also come from `MPROC_SERVER_ECHO_ADDR`.
//!
//! Under systemd (`examples/systemd/mproc-echo.{socket,service}`) it
//! serves on the listener the socket unit passed (the one named `web`, or
//! the first stream listener; `LISTEN_FDS`), and tells systemd how it is
//! doing ([`Systemd`]): `READY=1` once its workers accept, `RELOADING=1`
//! on `HUP`, `STOPPING=1` on `TERM`, `WATCHDOG=1` while every worker is
//! alive. Outside systemd both are no-ops. To try socket activation
//! without systemd:
//!
//! ```text
//! systemd-socket-activate -l 127.0.0.1:8000 --fdname=web target/debug/examples/server_echo
//! ```
//!
//! With `--pidfile PATH` it writes its pid there, and `USR2` upgrades it
//! without a refused connection (nginx's and unicorn's way; see
//! [`mproc::server`]'s "Binary upgrade"): it starts its binary again on
//! the same listener, the pidfile renamed to `PATH.oldbin` meanwhile;
//! once the new master's workers accept, the old one finishes its
//! connections and exits (`stopped: Upgraded …`), and `PATH` names the
//! new master.
//!
//! ```text
//! cargo run --example server_echo -- 127.0.0.1:8000 --pidfile /tmp/echo.pid &
//! kill -USR2 $(cat /tmp/echo.pid)
//! ```
//!
//! `--pass-name NAME` (again for more) passes the name of a named segment
//! or queue to the new master, which says what it got on stderr (this
//! example has none of its own: a daemon opens them there).
//!
//! A test hook: a new master started by an upgrade (`MPROC_UPGRADE_FROM`
//! set) reads `MPROC_SERVER_ECHO_FAIL_UPGRADE` once it has written its
//! pidfile: `exit` exits with status 1 before it is ready, `hang` says
//! `test hook: new master P hangs` and never becomes ready (the old master stops it at its deadline,
//! `--upgrade-deadline MS`); either way the upgrade is rolled back.

use std::io::{Read, Write};

use mproc::daemon::{FdKind, ListenFds, MainLoop, Pidfile};
use mproc::process::Process;
use mproc::server::{
    Builder, Command, Conn, DEFAULT_TICK, Event, Listener, Server, Stopped, Systemd, Takeover,
    WorkerBody,
};

/// Python's `talk(conn, client_addr)`: answers each message upper-cased
/// until the client hangs up (or the connection fails).
pub fn talk(conn: &mut Conn) {
    let mut msg = [0u8; 1024];
    loop {
        let n = match conn.read(&mut msg) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        msg[..n].make_ascii_uppercase();
        if conn.write_all(&msg[..n]).is_err() {
            break;
        }
    }
}

/// The process-per-connection handler: a [`Process`] runs `talk` on the
/// connection; the worker closes its copy and goes back to `accept`.
pub fn talk_in_a_process(conn: Conn) {
    let mut conn = Some(conn);
    let mut p = Process::new(move || {
        if let Some(mut c) = conn.take() {
            talk(&mut c);
        }
    });
    // Refused (MPROC_MAX_CHILDREN running): the connection is closed.
    let _ = p.start();
}

/// Serves on `listener` with `workers` sync workers (or one worker that
/// starts a process per connection), steered by the signals of `main`,
/// telling `systemd` each change; `ready` is called each time every
/// worker accepts.
pub fn serve(
    main: &MainLoop,
    listener: Listener,
    workers: usize,
    process_per_connection: bool,
    systemd: &mut Systemd,
    ready: impl FnMut(&str),
) -> mproc::Result<Stopped> {
    let with = Server::builder();
    serve_from(
        with,
        main,
        listener,
        workers,
        process_per_connection,
        systemd,
        ready,
    )
}

/// [`serve`] with settings of `builder` (a pidfile, an upgrade's
/// takeover).
pub fn serve_from(
    builder: Builder,
    main: &MainLoop,
    listener: Listener,
    workers: usize,
    process_per_connection: bool,
    systemd: &mut Systemd,
    mut ready: impl FnMut(&str),
) -> mproc::Result<Stopped> {
    let addr = listener
        .local_addr()
        .map_or_else(|| "a Unix socket".to_owned(), |a| a.to_string());
    let builder = builder.listener(listener).tick(systemd.tick(DEFAULT_TICK));
    if process_per_connection {
        let mut server = builder.workers(1).build(talk_in_a_process)?;
        run(&mut server, main, &addr, systemd, &mut ready)
    } else {
        let mut server = builder.workers(workers).build(|mut conn| talk(&mut conn))?;
        run(&mut server, main, &addr, systemd, &mut ready)
    }
}

/// Serves with a hook that tells systemd and says when every worker
/// accepts.
fn run<B: WorkerBody>(
    server: &mut Server<B>,
    main: &MainLoop,
    addr: &str,
    systemd: &mut Systemd,
    ready: &mut impl FnMut(&str),
) -> mproc::Result<Stopped> {
    server.serve_with(main, |server, event| {
        if let Err(e) = systemd.on(server, &event) {
            eprintln!("server_echo: systemd: {e}");
        }
        if event == Event::Ready {
            ready(&format!(
                "serving on {addr} (pid {}, {} workers)",
                mproc::process::getpid(),
                server.target()
            ));
        }
        Command::Continue
    })
}

/// The listener systemd passed (the one named `web`, or the first
/// stream listener), if it started this program by socket activation.
fn activated() -> Result<Option<Listener>, Box<dyn std::error::Error>> {
    // First thing: it removes LISTEN_* from the environment, sound only
    // while this is the process's one thread.
    let mut fds = ListenFds::from_env()?;
    let fd = match fds.take_name("web") {
        Some(fd) => Some(fd),
        None => fds
            .take_kind(FdKind::TcpListener)
            .or_else(|| fds.take_kind(FdKind::UnixListener)),
    };
    Ok(match fd {
        Some(fd) => {
            let name = fd.name().to_owned();
            Some(Listener::from_fd(fd.into_fd())?.named(&name)?)
        }
        None => None,
    })
}

#[allow(dead_code)] // unused when a test includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First, while this is the one thread: a new master of an upgrade
    // takes what the old one passed.
    let takeover = Takeover::from_env()?;
    let mut addr = std::env::var("MPROC_SERVER_ECHO_ADDR").unwrap_or("127.0.0.1:8080".into());
    let (mut workers, mut per_connection) = (4, false);
    let (mut pidfile, mut deadline, mut names) = (None, None, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workers" => workers = args.next().ok_or("--workers N")?.parse()?,
            "--process-per-connection" => per_connection = true,
            "--pidfile" => pidfile = Some(args.next().ok_or("--pidfile PATH")?),
            "--pass-name" => names.push(args.next().ok_or("--pass-name NAME")?),
            "--upgrade-deadline" => {
                let ms = args.next().ok_or("--upgrade-deadline MS")?.parse()?;
                deadline = Some(std::time::Duration::from_millis(ms));
            }
            _ => addr = arg,
        }
    }
    let activated = activated()?;
    let mut builder = Server::builder();
    if let Some(path) = pidfile {
        builder = builder.pidfile(Pidfile::create(path)?);
    }
    if let Some(deadline) = deadline {
        builder = builder.upgrade_deadline(deadline);
    }
    for name in names {
        builder = builder.pass_name(name);
    }
    if let Some(takeover) = takeover {
        // The test hook (see the module docs).
        match std::env::var("MPROC_SERVER_ECHO_FAIL_UPGRADE").as_deref() {
            Ok("exit") => std::process::exit(1),
            Ok("hang") => {
                println!("test hook: new master {} hangs", mproc::process::getpid());
                loop {
                    std::thread::park();
                }
            }
            _ => {}
        }
        // One write (stderr is unbuffered; the old master writes there too).
        let line = format!(
            "server_echo: took over from pid {} the listener {:?}; names passed: {:?}\n",
            takeover.old_master(),
            activated.as_ref().map(Listener::name),
            takeover.names()
        );
        std::io::stderr().write_all(line.as_bytes())?;
        builder = builder.takeover(takeover);
    }
    // The signals are blocked from here on, and the workers start with an
    // empty mask.
    let main = MainLoop::new(Server::signals())?;
    let listener = match activated {
        Some(listener) => listener,
        // Named as the socket unit names it: after an upgrade, the new
        // master finds it by that name.
        None => Listener::tcp(addr.as_str())?.named("web")?,
    };
    let mut systemd = Systemd::from_env()?;
    let mut first = true;
    let end = serve_from(
        builder,
        &main,
        listener,
        workers,
        per_connection,
        &mut systemd,
        |line| {
            if std::mem::take(&mut first) {
                println!("{line}");
            } else {
                println!("workers replaced; {line}");
            }
        },
    )?;
    println!("stopped: {end:?}");
    Ok(())
}
