//! A pre-fork socket server: the master opens the listeners (or is handed
//! them), forks workers that inherit them and accept on them, and steers
//! the workers with signals as gunicorn's and nginx's masters do.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use mproc::daemon::MainLoop;
//! use mproc::server::{Listener, Server};
//!
//! // Make the main loop first: the signals are blocked from here on.
//! let main = MainLoop::new(Server::signals())?;
//! let mut server = Server::builder()
//!     .listener(Listener::tcp("127.0.0.1:8080")?)
//!     .workers(4)
//!     .build(|mut conn| {
//!         // Seed 004's talk(conn, client_addr): msg.upper() back.
//!         let mut msg = [0u8; 1024];
//!         while let Ok(n @ 1..) = conn.read(&mut msg) {
//!             msg[..n].make_ascii_uppercase();
//!             if conn.write_all(&msg[..n]).is_err() {
//!                 break;
//!             }
//!         }
//!     })?;
//! server.serve(&main)?; // until TERM, INT or QUIT
//! # Ok::<(), mproc::Error>(())
//! ```
//!
//! # The pieces
//!
//! - [`Listener`]: TCP (`SO_REUSEADDR`, optionally `SO_REUSEPORT`, a
//!   backlog) or Unix stream, made here before the fork, or any
//!   listening descriptor handed in ([`Listener::from_fd`], checked with
//!   `SO_ACCEPTCONN`: systemd's socket activation, a re-executed master).
//! - [`Server`] ([`Builder`]): the workers, the listeners, the grace
//!   period of a drain, the connection timeout. [`Server::serve`] forks
//!   the workers and runs the master's loop on a [`MainLoop`](crate::daemon::MainLoop)
//!   (`signalfd` and the workers' pidfds in one wait);
//!   [`Server::serve_with`] adds a hook called at each [`Event`] (ready,
//!   reloading, stopping, every tick, signals the server does not take),
//!   which may steer it ([`Command`]).
//! - Workers run a [`WorkerBody`]: the [`SyncWorker`] (gunicorn's sync
//!   worker) calls a plain function with one [`Conn`] at a time; with
//!   the `tokio` feature, the `AsyncWorker` (gunicorn's async workers,
//!   seed 001's gevent server; see the `async_worker` module) runs a
//!   tokio current-thread runtime in each worker and spawns a task per
//!   connection (`Builder::build_async`); another body plugs in through
//!   [`Builder::build_with`].
//! - The board: one slot per worker in shared memory, written by the
//!   worker, read by the master ([`Server::workers`]: pid, state, how
//!   long the current connection has been served, connections served).
//!   [`Server::healthy`] is the watchdog's question.
//!
//! # Signals
//!
//! The crate claims none: the master takes the signals of the
//! [`MainLoop`](crate::daemon::MainLoop) it is given. [`Server::signals`] is the conventional
//! set; a signal outside it that the loop takes comes to the hook.
//!
//! | signal | what the master does | convention |
//! |---|---|---|
//! | `HUP` | replaces every worker gracefully: new ones are forked; once they all accept, the old ones are told to stop, each finishing its connection | gunicorn `HUP`, nginx `HUP` |
//! | `TTIN` / `TTOU` | one worker more / fewer (1 to [`MAX_WORKERS`]); the one leaving finishes its connection | gunicorn `TTIN`/`TTOU` |
//! | `TERM` | drains: stops accepting (a listener made here is shut, so new connections are refused at once; a Unix socket's path goes), tells every worker to stop, waits for the connections being served within the grace period, then kills the workers left | gunicorn `TERM`, nginx `QUIT` |
//! | `INT`, `QUIT` | stops now: every worker is killed (`SIGKILL`) with its connection | gunicorn `INT`/`QUIT`, nginx `TERM`/`INT` |
//! | `USR2` | binary upgrade: starts its binary again on the same listening sockets, the pidfile renamed to `<pidfile>.oldbin`; once the new master's workers accept, this one finishes its connections and exits; a new master that fails is stopped and this one serves on (see [Binary upgrade](#binary-upgrade-usr2)) | nginx `USR2`, unicorn `USR2` |
//! | `CHLD` | not taken: the workers' pidfds are in the master's wait | — |
//!
//! Signals that are pending together are taken lowest number first (the
//! kernel's order): a `TTIN` and a `TTOU` sent at once grow then shrink.
//!
//! A worker that dies (killed, crashed) is reaped and replaced; only the
//! connection it served is lost; one that dies before it ever accepted
//! is forked again at the next tick, not in a loop.
//!
//! **How a worker is told to stop without dropping a connection.** The
//! master sends it `SIGTERM`, which the worker blocks and reads from its
//! own `signalfd`, in the same `epoll` wait as the listeners. After each
//! wake-up it looks at the signal first and calls `accept` only when none
//! is pending; a `SIGTERM` that comes while it serves waits until the
//! connection is finished. So every connection a worker accepts is served
//! to its end, and one still in a listener's backlog is accepted by
//! another worker (`HUP`, `TTOU`) or, on `TERM`, reset by the kernel when
//! the listener is shut. The listeners are watched level-triggered, not
//! with `EPOLLEXCLUSIVE`: with it the kernel hands a connection's wake-up
//! to one worker alone, and a worker told to stop in that instant would
//! leave the connection in the backlog with nobody woken for it.
//!
//! # Workers
//!
//! Each worker is a plain fork of the master (which must run no other
//! thread then: [`ErrorKind::ThreadsRunning`](crate::ErrorKind::ThreadsRunning)),
//! killed with it if the master dies (`PR_SET_PDEATHSIG`). It blocks
//! `SIGTERM`, its stop signal, and reads it from its own `signalfd`;
//! every other signal has its default action there (a terminal's
//! `Ctrl-C` reaches the whole process group: the workers die at once and
//! the master stops now, as on `INT`). Before it exits, a worker joins the
//! [`Process`](crate::process::Process) children it started (the
//! process-per-connection shape), as a `Process` does after its target.
//!
//! # Limits, and what a client beyond them gets
//!
//! - A sync worker serves **one connection at a time**; the server serves
//!   at most [`workers`](Builder::workers) at once.
//! - Beyond that, a connection **waits in the kernel's listen backlog**
//!   (completed by the kernel, not yet accepted; [`DEFAULT_BACKLOG`], or
//!   the backlog given to [`Listener::tcp_with`]) until a worker is free:
//!   the fifth client of four workers is served when one of the first
//!   four hangs up, as with seed 004's `Pool(4)`. Its `connect` succeeds
//!   at once; its first reply comes when a worker takes it.
//! - Or, with [`Overflow::Answer`] ([`Builder::overflow`]), the master
//!   takes the connections that come while every worker is busy, writes
//!   them a short answer (a "busy" line) and closes them.
//! - Beyond the backlog, the kernel drops the TCP handshake (the client
//!   retries `SYN`s and its `connect` eventually times out) or refuses a
//!   Unix `connect` (`EAGAIN` for a non-blocking client, a wait for a
//!   blocking one).
//! - A connection served past the [`connection
//!   timeout`](Builder::connection_timeout) loses its worker (killed and
//!   replaced), and so the connection. The timeout counts the whole
//!   connection, from `accept` to close, not one request on it: a
//!   client that keeps a connection open longer (seed 004's interactive
//!   client) needs a longer timeout or none. With
//!   [`kill_on_timeout(false)`](Builder::kill_on_timeout) it is only
//!   reported ([`Server::healthy`] is `false`).
//! - A client that connects and sends nothing, or never reads, holds its
//!   worker until it leaves or the connection timeout ends it; set
//!   read and write timeouts on the [`Stream`] for a per-call limit.
//! - An async worker (feature `tokio`) serves up to its
//!   `max_connections` at once (1,000 by default); the server, workers ×
//!   that. Beyond it, as above: the backlog, then the kernel's refusal.
//!   It cuts a connection past the timeout itself (the worker stays); it
//!   is killed and replaced when its event loop stops beating for longer
//!   than the timeout (a handler blocking its thread), with every
//!   connection it had.
//! - On `TERM`, connections accepted are finished (within the grace);
//!   those still in the backlog of a listener made here are reset by the
//!   kernel when it is shut. A listener handed in (systemd's) is only
//!   closed: its owner keeps it listening, and what waits in its backlog
//!   is there for the next start.
//!
//! # Where the other pieces plug in
//!
//! - systemd: [`Systemd::on`] in the hook of [`Server::serve_with`]
//!   sends `READY=1`, `RELOADING=1`, `STOPPING=1` and `STATUS=` at the
//!   master's [`Event`]s and pings the watchdog only while
//!   [`Server::healthy`]; [`ListenFds`](crate::daemon::ListenFds) takes
//!   the listeners systemd opened (socket activation), and
//!   [`Listener::from_fd`] serves on them (`examples/server_echo.rs`
//!   does both).
//! - A re-executed master: `USR2` does it all (below); the pieces, for
//!   another shape: [`Listener::from_fd`] takes the descriptors;
//!   [`Server::listeners`] gives them to pass on; [`Command::Retire`]
//!   lets the old master's workers finish while the sockets go on
//!   listening in the new master.
//! - Async workers (feature `tokio`): a [`WorkerBody`] of their own,
//!   given the listeners, the stop descriptor, the connection timeout and
//!   the board's slot, where they count their open connections and beat
//!   from their event loop ([`WorkerContext`]).
//!
//! # Binary upgrade (`USR2`)
//!
//! nginx's and unicorn's way: no connection refused, none reset, and a
//! new binary that does not come up changes nothing.
//!
//! 1. On `USR2` ([`Command::Upgrade`]) the master renames its pidfile
//!    ([`Builder::pidfile`]) to `<pidfile>.oldbin` and starts its binary
//!    again in a child: the path it was started from (a binary replaced
//!    there since is the one started; [`Builder::upgrade_program`] for
//!    another), the same arguments, the environment it has. The
//!    listeners are at descriptors 3.. with systemd's variables
//!    (`LISTEN_FDS`, `LISTEN_FDNAMES`, and `LISTEN_PID` set to the
//!    child's own pid, written between `fork` and `execve` without
//!    allocating), so the new master takes them with
//!    [`ListenFds::from_env`](crate::daemon::ListenFds::from_env)
//!    exactly as under systemd socket activation (`WATCHDOG_PID` too,
//!    when systemd set a watchdog). Beside them [`Takeover::from_env`]
//!    reads [`UPGRADE_FROM`] (the old master's pid), [`UPGRADE_READY_FD`]
//!    (a pipe's write end, after the listeners) and [`UPGRADE_NAMES`]
//!    (the names of the named segments and queues given to
//!    [`Builder::pass_name`]: the new master opens them). The old master
//!    serves on meanwhile ([`Event::Upgrading`]).
//! 2. The new master writes its own `<pidfile>` (the name is free; the
//!    old one is `.oldbin`), forks its workers, and once they all
//!    accept, tells the old master on the pipe ([`Builder::takeover`]).
//!    A program that does not hand its [`Takeover`] to its server never
//!    says so: it is stopped at the deadline and the old master serves
//!    on (and one that binds its port afresh instead of taking the
//!    listeners fails with `EADDRINUSE` and is rolled back at once). A
//!    new master ignores `USR2` until its old master is gone: one
//!    upgrade at a time.
//! 3. The old master hears [`Event::Upgraded`]: [`Systemd`] sends
//!    `MAINPID=<new pid>` (and nothing more from this master), then it
//!    retires ([`Command::Retire`]): its workers finish their
//!    connections, the sockets listen on in the new master; it removes
//!    `<pidfile>.oldbin`, and [`Server::serve`] returns
//!    [`Stopped::Upgraded`] (the passed segments and queues are the new
//!    master's now: do not unlink them).
//!
//! **Rollback.** A new master that exits, closes the pipe, or is not
//! ready within [`Builder::upgrade_deadline`]
//! ([`DEFAULT_UPGRADE_DEADLINE`], 30 s) is stopped (`TERM`, `KILL` five
//! seconds later), `<pidfile>.oldbin` is renamed back to `<pidfile>`
//! (over what the new master wrote), a line on standard error (with the
//! `log` feature, the `log` facade's `warn!`) says why, the hook hears
//! [`Event::UpgradeFailed`], and the old master serves on as if nothing
//! had happened. A second `USR2` during an upgrade, and a `USR2` while
//! the server drains, are ignored with a line; `TERM`, `INT` or `QUIT`
//! during an upgrade roll it back first.
//!
//! **Under systemd** (`Type=notify`): `NotifyAccess=main` is enough, as
//! the old master (the main process) names the new one with `MAINPID=`
//! before it goes; the new master's `READY=1` is heard from then on
//! (`NotifyAccess=all` works too). Keep `ExecReload=` on `HUP` (kill
//! -HUP $MAINPID: the workers replaced); the upgrade is an operator's
//! `systemctl kill -s USR2 --kill-whom=main <unit>`. The new master is
//! in the unit's cgroup, a child of the old one, adopted by systemd when
//! the old one exits. `PIDFile=` is not needed with `Type=notify`.

/// A line for the `log` facade (feature `log`; nothing without it).
macro_rules! note {
    ($level:ident, $($arg:tt)+) => {
        #[cfg(feature = "log")]
        ::log::$level!(target: "mproc::server", $($arg)+);
    };
}

#[cfg(feature = "tokio")]
mod async_conn;
#[cfg(feature = "tokio")]
pub mod async_worker;
mod board;
mod builder;
mod conn;
mod listener;
mod master;
mod steer;
mod systemd;
mod upgrade;
mod worker;

pub use board::{MAX_WORKERS, WorkerInfo, WorkerState};
pub use builder::{Builder, DEFAULT_GRACE, DEFAULT_TICK, MAX_LISTENERS, Overflow};
pub use conn::{Conn, Peer, Stream};
pub use listener::{DEFAULT_BACKLOG, Family, Listener};
pub use master::Server;
pub use steer::{Command, Event, Stopped};
pub use systemd::Systemd;
pub use upgrade::{
    DEFAULT_UPGRADE_DEADLINE, Takeover, UPGRADE_FROM, UPGRADE_NAMES, UPGRADE_READY_FD,
};
pub use worker::{SyncWorker, WorkerBody, WorkerContext};

#[cfg(feature = "tokio")]
pub use async_conn::{AsyncConn, AsyncStream};
#[cfg(feature = "tokio")]
pub use async_worker::{AsyncWorker, DEFAULT_MAX_CONNECTIONS};
