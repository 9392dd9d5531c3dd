//! The async worker (feature `tokio`): gunicorn's async workers, seed
//! 001's gevent server done pre-fork. Each forked worker builds a tokio
//! *current-thread* runtime and serves many connections cooperatively,
//! one task per connection running the handler you give.
//!
//! # The fork comes first
//!
//! The master never starts a runtime: it forks its workers from a single
//! thread (the crate refuses a fork with other threads running), and each
//! worker builds its own runtime after the fork (gunicorn's shape). The
//! runtime runs on the worker's one thread: tokio's I/O driver (`epoll`)
//! and timer wheel turn inside `block_on`, and the worker stays a single
//! thread, as `/proc/<pid>/status` says (`Threads: 1`; a test checks it).
//! Only tokio's blocking pool would start threads: a handler that calls
//! `tokio::task::spawn_blocking`, `tokio::fs` (not enabled by this
//! feature), or connects by host name (`TcpStream::connect("host:port")`
//! resolves in the blocking pool) starts one, and from then on a
//! [`Process`](crate::process::Process) forked in that worker is refused.
//!
//! # The worker's loop
//!
//! The worker watches its stop descriptor ([`WorkerContext::stop_fd`]),
//! its listeners and a heartbeat timer, in that order of precedence:
//!
//! - a listener ready: `accept4`, the connection registered with the
//!   runtime ([`AsyncConn`]), the handler's future spawned as a local
//!   task (it need not be `Send`), cut at the connection timeout
//!   (`tokio::time::timeout`: the future is dropped and the connection
//!   closed);
//! - [`max_connections`](AsyncWorker::max_connections) open: the worker
//!   stops accepting until one ends; new connections wait in the listen
//!   backlog, where any other worker with room takes them;
//! - the heartbeat: a few times per connection timeout (every second
//!   without one) the loop writes the time to its slot on the board
//!   ([`WorkerContext::heartbeat`]). A handler that blocks the thread
//!   (a `std::thread::sleep`, a busy loop, a blocking call) wedges every
//!   connection of the worker; its beats stop, and once they have stopped
//!   for longer than the connection timeout, the master kills the worker
//!   and forks another (or, with
//!   [`kill_on_timeout(false)`](super::Builder::kill_on_timeout), reports
//!   it: [`Server::healthy`](super::Server::healthy) is `false`);
//! - the stop signal (`HUP`, `TTOU`, `TERM`): the worker stops accepting
//!   at once, lets the connections it accepted run to their end (still
//!   cut at the timeout, and within the master's grace on `TERM`), and
//!   exits.
//!
//! # Allocation
//!
//! The master allocates nothing in steady state, as with sync workers.
//! An async worker allocates per connection: tokio boxes each task (the
//! handler's future, its buffers inside), and frees it when the
//! connection ends; about 2 KiB of the worker's private memory per idle
//! connection with a 1 KiB buffer (`examples/server_async_memory.rs`
//! measures it). Its loop allocates nothing between connections.
//!
//! # Limits, and what a client beyond them gets
//!
//! A server of `W` async workers serves at most `W ×
//! max_connections` connections at once. A client beyond that is
//! completed by the kernel and waits in the listen backlog (its `connect`
//! succeeds, its first reply comes when a worker has room), as a client
//! beyond the sync workers does; beyond the backlog, the kernel drops its
//! handshake (see [`server`](super)'s limits). Descriptors count too: a
//! worker out of them (`EMFILE`) leaves the connection in the backlog and
//! looks again 10 ms later.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::task::{JoinSet, LocalSet};
use tokio::time::{Interval, MissedTickBehavior};

use super::async_conn::AsyncConn;
use super::builder::Builder;
use super::master::Server;
use super::worker::{WorkerBody, WorkerContext};
use crate::error::Result;
use crate::sys::{Errno, listen as sysl, reactor};

/// The connections one async worker serves at once when none is set:
/// gunicorn's `worker_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;

/// How often an async worker beats without a connection timeout.
const BEAT_IDLE: Duration = Duration::from_secs(1);

/// The async worker body: a tokio current-thread runtime per forked
/// worker, serving many connections at once, one local task each running
/// the handler's future (see the module docs: `server::async_worker`).
///
/// ```no_run
/// use mproc::daemon::MainLoop;
/// use mproc::server::{AsyncWorker, Listener, Server};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let main = MainLoop::new(Server::signals())?;
/// let worker = AsyncWorker::new(|mut conn| async move {
///     // Seed 001's handle_request: what comes in goes back as is.
///     let mut data = [0u8; 1024];
///     while let Ok(n @ 1..) = conn.read(&mut data).await {
///         if conn.write_all(&data[..n]).await.is_err() {
///             return;
///         }
///     }
///     let _ = conn.shutdown().await;
/// })
/// .max_connections(500);
/// let mut server = Server::builder()
///     .listener(Listener::tcp("localhost:9001")?)
///     .workers(2)
///     .build_with(worker)?;
/// server.serve(&main)?;
/// # Ok::<(), mproc::Error>(())
/// ```
pub struct AsyncWorker<H> {
    handler: H,
    max_connections: usize,
    /// `None`: the master's; `Some(None)`: none.
    connection_timeout: Option<Option<Duration>>,
}

impl<H> std::fmt::Debug for AsyncWorker<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWorker")
            .field("max_connections", &self.max_connections)
            .field("connection_timeout", &self.connection_timeout)
            .finish_non_exhaustive()
    }
}

impl<H, F> AsyncWorker<H>
where
    H: FnMut(AsyncConn) -> F,
    F: Future<Output = ()> + 'static,
{
    /// The worker body that spawns `handler(conn)` as a task for each
    /// connection ([`DEFAULT_MAX_CONNECTIONS`] at once, cut at the
    /// master's connection timeout).
    pub fn new(handler: H) -> AsyncWorker<H> {
        AsyncWorker {
            handler,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connection_timeout: None,
        }
    }

    /// The most connections this worker serves at once (at least 1;
    /// [`DEFAULT_MAX_CONNECTIONS`]). With that many open it stops
    /// accepting until one ends, leaving new ones in the listen backlog
    /// for the other workers.
    pub fn max_connections(mut self, n: usize) -> AsyncWorker<H> {
        self.max_connections = n.max(1);
        self
    }

    /// How long each connection may be served before the worker drops
    /// its handler's future and closes it: `None` for no limit. Without
    /// this call, the master's
    /// [`connection_timeout`](super::Builder::connection_timeout). The
    /// master's timeout still bounds how long the event loop may go
    /// without beating.
    pub fn connection_timeout(mut self, timeout: Option<Duration>) -> AsyncWorker<H> {
        self.connection_timeout = Some(timeout);
        self
    }
}

impl Builder {
    /// The server whose async workers (a tokio current-thread runtime
    /// each, forked first) spawn `handler(conn)` as a task for each
    /// connection, many at once: [`AsyncWorker::new`] with its defaults;
    /// give [`Builder::build_with`] an [`AsyncWorker`] to set them.
    /// Feature `tokio`.
    ///
    /// # Errors
    ///
    /// As [`Builder::build_with`].
    pub fn build_async<H, F>(self, handler: H) -> Result<Server<AsyncWorker<H>>>
    where
        H: FnMut(AsyncConn) -> F,
        F: Future<Output = ()> + 'static,
    {
        self.build_with(AsyncWorker::new(handler))
    }
}

/// What woke the worker's loop.
enum Step {
    /// The stop descriptor is readable.
    Stop,
    /// A connection's task ended.
    Closed,
    /// Time to beat.
    Beat,
    /// A connection was accepted.
    Accepted(OwnedFd, Option<SocketAddr>),
    /// Listener `i` was shut (the master drains).
    Shut(usize),
    /// Out of descriptors or memory: look again shortly.
    Backoff,
    /// The stop descriptor failed.
    Fail,
}

impl<H, F> WorkerBody for AsyncWorker<H>
where
    H: FnMut(AsyncConn) -> F,
    F: Future<Output = ()> + 'static,
{
    fn run(&mut self, ctx: &mut WorkerContext<'_>) -> i32 {
        // Built here, in the worker, after the fork: no thread is started.
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
        else {
            return 70;
        };
        let local = LocalSet::new();
        local.block_on(&rt, self.serve(ctx))
    }
}

impl<H, F> AsyncWorker<H>
where
    H: FnMut(AsyncConn) -> F,
    F: Future<Output = ()> + 'static,
{
    async fn serve(&mut self, ctx: &mut WorkerContext<'_>) -> i32 {
        // A second descriptor of the same signalfd: reading it (through
        // `stop_requested`) takes the same pending signal.
        let Ok(stop) = ctx
            .stop_fd()
            .try_clone_to_owned()
            .and_then(reactor::watch_owned)
        else {
            return 70;
        };
        let mut listeners: Vec<Option<AsyncFd<BorrowedFd<'_>>>> = Vec::new();
        for l in ctx.listeners() {
            match reactor::watch_borrowed(l.as_fd()) {
                Ok(fd) => listeners.push(Some(fd)),
                Err(_) => return 70,
            }
        }
        let timeout = self.connection_timeout.unwrap_or(ctx.connection_timeout());
        let period = match ctx.connection_timeout() {
            Some(t) => (t / 4).clamp(Duration::from_millis(1), BEAT_IDLE),
            None => BEAT_IDLE,
        };
        let mut beat = tokio::time::interval(period);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut tasks: JoinSet<()> = JoinSet::new();
        ctx.heartbeat();
        ctx.ready();
        loop {
            let accepting = tasks.len() < self.max_connections;
            let step =
                poll_fn(|cx| poll_step(cx, &stop, &mut beat, &mut tasks, &listeners, accepting))
                    .await;
            match step {
                // The stop signal first: never accept once told to stop.
                Step::Stop => {
                    if ctx.stop_requested() {
                        break;
                    }
                }
                Step::Closed => ctx.connection_closed(),
                Step::Beat => ctx.heartbeat(),
                Step::Accepted(fd, peer) => {
                    // Refused by the runtime (out of memory): closed.
                    let Ok(conn) = AsyncConn::new(fd, peer) else {
                        continue;
                    };
                    let handler = &mut self.handler;
                    // A handler that panics before its future runs loses
                    // this connection only (a panic inside the future is
                    // caught by its task).
                    let Ok(fut) =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(conn)))
                    else {
                        continue;
                    };
                    ctx.connection_opened();
                    match timeout {
                        Some(t) => tasks.spawn_local(async move {
                            let _ = tokio::time::timeout(t, fut).await;
                        }),
                        None => tasks.spawn_local(fut),
                    };
                }
                Step::Shut(i) => {
                    listeners[i] = None;
                    if listeners.iter().all(Option::is_none) {
                        break;
                    }
                }
                Step::Backoff => tokio::time::sleep(Duration::from_millis(10)).await,
                Step::Fail => return 70,
            }
        }
        // Stopped: no more accepts; the connections open run to their end.
        drop(listeners);
        while !tasks.is_empty() {
            let closed = poll_fn(|cx| {
                if let Poll::Ready(Some(_)) = tasks.poll_join_next(cx) {
                    return Poll::Ready(true);
                }
                if beat.poll_tick(cx).is_ready() {
                    return Poll::Ready(false);
                }
                Poll::Pending
            })
            .await;
            if closed {
                ctx.connection_closed();
            } else {
                ctx.heartbeat();
            }
        }
        0
    }
}

/// One turn of the worker's loop: the stop signal, a task ended, the
/// heartbeat, then (with room for a connection) the listeners.
fn poll_step(
    cx: &mut Context<'_>,
    stop: &AsyncFd<OwnedFd>,
    beat: &mut Interval,
    tasks: &mut JoinSet<()>,
    listeners: &[Option<AsyncFd<BorrowedFd<'_>>>],
    accepting: bool,
) -> Poll<Step> {
    match stop.poll_read_ready(cx) {
        Poll::Ready(Ok(mut ready)) => {
            ready.clear_ready();
            return Poll::Ready(Step::Stop);
        }
        Poll::Ready(Err(_)) => return Poll::Ready(Step::Fail),
        Poll::Pending => {}
    }
    if let Poll::Ready(Some(_)) = tasks.poll_join_next(cx) {
        return Poll::Ready(Step::Closed);
    }
    if beat.poll_tick(cx).is_ready() {
        return Poll::Ready(Step::Beat);
    }
    if !accepting {
        return Poll::Pending;
    }
    for (i, l) in listeners.iter().enumerate() {
        let Some(l) = l else { continue };
        loop {
            let mut ready = match l.poll_read_ready(cx) {
                Poll::Ready(Ok(ready)) => ready,
                Poll::Ready(Err(_)) => return Poll::Ready(Step::Shut(i)),
                Poll::Pending => break,
            };
            match sysl::accept_stream(l.get_ref().as_fd()) {
                Ok((fd, peer)) => return Poll::Ready(Step::Accepted(fd, peer)),
                // Another worker took it: wait for the next one (polling
                // again registers the wake-up).
                Err(Errno::EAGAIN) => ready.clear_ready(),
                // The client went away before it was accepted.
                Err(Errno::ECONNABORTED | Errno::EPROTO | Errno::EPERM) => {}
                // Shut by the master's drain: stop watching it.
                Err(Errno::EINVAL) => return Poll::Ready(Step::Shut(i)),
                Err(_) => return Poll::Ready(Step::Backoff),
            }
        }
    }
    Poll::Pending
}
