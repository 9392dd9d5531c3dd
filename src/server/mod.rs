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
//! | `CHLD` | not taken: the workers' pidfds are in the master's wait | — |
//!
//! A worker that dies (killed, crashed) is reaped and replaced; only the
//! connection it served is lost. How a worker is told to stop without
//! ever dropping a connection it accepted: see [`WorkerBody`]'s module,
//! in short a `SIGTERM` the worker reads from its own `signalfd` before
//! each `accept`.
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
//! - Beyond the backlog, the kernel drops the TCP handshake (the client
//!   retries `SYN`s and its `connect` eventually times out) or refuses a
//!   Unix `connect` (`EAGAIN` for a non-blocking client, a wait for a
//!   blocking one).
//! - A connection served past the [`connection
//!   timeout`](Builder::connection_timeout) loses its worker (killed and
//!   replaced), and so the connection.
//! - An async worker (feature `tokio`) serves up to its
//!   `max_connections` at once (1,000 by default); the server, workers ×
//!   that. Beyond it, as above: the backlog, then the kernel's refusal.
//!   It cuts a connection past the timeout itself (the worker stays); it
//!   is killed and replaced when its event loop stops beating for longer
//!   than the timeout (a handler blocking its thread), with every
//!   connection it had.
//! - On `TERM`, connections accepted are finished (within the grace);
//!   those still in the backlog are reset by the kernel when the listener
//!   is shut.
//!
//! # Where the later pieces plug in
//!
//! - systemd's notify protocol: the hook of [`Server::serve_with`]
//!   ([`Event::Ready`], [`Event::Reloading`], [`Event::Stopping`],
//!   [`Event::Tick`] with [`Server::healthy`]).
//! - Socket activation and a re-executed master: [`Listener::from_fd`]
//!   takes the descriptors; [`Server::listeners`] gives them to pass on.
//! - Async workers (feature `tokio`): a [`WorkerBody`] of their own,
//!   given the listeners, the stop descriptor, the connection timeout and
//!   the board's slot, where they count their open connections and beat
//!   from their event loop ([`WorkerContext`]).

#[cfg(feature = "tokio")]
mod async_conn;
#[cfg(feature = "tokio")]
pub mod async_worker;
mod board;
mod conn;
mod listener;
mod master;
mod worker;

pub use board::{MAX_WORKERS, WorkerInfo, WorkerState};
pub use conn::{Conn, Peer, Stream};
pub use listener::{DEFAULT_BACKLOG, Family, Listener};
pub use master::{
    Builder, Command, DEFAULT_GRACE, DEFAULT_TICK, Event, MAX_LISTENERS, Server, Stopped,
};
pub use worker::{SyncWorker, WorkerBody, WorkerContext};

#[cfg(feature = "tokio")]
pub use async_conn::{AsyncConn, AsyncStream};
#[cfg(feature = "tokio")]
pub use async_worker::{AsyncWorker, DEFAULT_MAX_CONNECTIONS};
