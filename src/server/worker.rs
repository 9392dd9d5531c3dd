//! The worker side: what a forked worker runs ([`WorkerBody`]), what it
//! gets from the master ([`WorkerContext`]), and the sync worker
//! ([`SyncWorker`]), gunicorn's: one connection at a time, handed to a
//! plain function.
//!
//! # How a worker is told to stop, without dropping a connection
//!
//! The master sends the worker `SIGTERM`. The worker blocks it and reads
//! it from its own `signalfd`, which sits in the same `epoll` wait as the
//! listeners (level-triggered, every idle worker woken: see
//! [`SyncWorker`] for why not `EPOLLEXCLUSIVE`). After each wake-up the
//! worker looks at the signal first and
//! calls `accept` only when none is pending. A `SIGTERM` that comes while
//! it serves stays pending until the connection is finished. So a worker
//! never accepts a connection it then drops: each connection it accepts
//! is served to its end. One that the kernel holds in a listener's backlog
//! is accepted by another worker (`HUP`, `TTOU`), or reset when the
//! listener closes (`TERM`). A `SIGTERM` that arrives before the worker has
//! blocked it (between the fork and its set-up) ends it by the default
//! action, before it has accepted anything.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use super::board::{Slot, WorkerState};
use super::conn::Conn;
use super::listener::Listener;
use crate::signal::{SigSet, Signal, SignalFd};
use crate::sys::{self, Errno, epoll::Epoll, listen as sysl};

/// What a forked worker runs: the sync accept loop ([`SyncWorker`]), or a
/// body of your own (an async runtime serving many connections, say),
/// given to [`Builder::build_with`](super::Builder::build_with).
///
/// `run` is called once, in the worker, right after the fork; the worker
/// exits with the code it returns (`_exit`, after flushing stdout). The
/// body must stop accepting when [`WorkerContext::stop_requested`] says
/// so (watch [`WorkerContext::stop_fd`] beside the listeners), finish the
/// connections it accepted, and return.
pub trait WorkerBody {
    /// The worker's life. Call [`WorkerContext::ready`] once it waits for
    /// connections: the master counts the workers up from that.
    fn run(&mut self, ctx: &mut WorkerContext<'_>) -> i32;
}

/// What a worker gets from its master: the listeners it inherited, its
/// stop signal, its slot on the board.
#[derive(Debug)]
pub struct WorkerContext<'a> {
    listeners: &'a [Listener],
    slot: &'a Slot,
    ready: BorrowedFd<'a>,
    /// Whether the master wants to hear of each connection's start and
    /// end (an overflow policy answers while every worker is busy).
    busy_news: bool,
    stop: SignalFd,
    stopping: bool,
    connection_timeout: Option<Duration>,
}

impl<'a> WorkerContext<'a> {
    pub(crate) fn new(
        listeners: &'a [Listener],
        slot: &'a Slot,
        ready: BorrowedFd<'a>,
        busy_news: bool,
    ) -> crate::Result<WorkerContext<'a>> {
        Ok(WorkerContext {
            listeners,
            slot,
            ready,
            busy_news,
            stop: SignalFd::new(SigSet::from_signals(&[Signal::TERM]))?,
            stopping: false,
            connection_timeout: None,
        })
    }

    pub(crate) fn with_connection_timeout(mut self, t: Option<Duration>) -> WorkerContext<'a> {
        self.connection_timeout = t;
        self
    }

    /// The master's [connection
    /// timeout](super::Builder::connection_timeout), if it has one. A body
    /// that serves many connections at once cuts each one past it
    /// itself, and [beats](WorkerContext::heartbeat) more often than it.
    pub fn connection_timeout(&self) -> Option<Duration> {
        self.connection_timeout
    }

    /// The listeners, inherited from the master (non-blocking).
    pub fn listeners(&self) -> &'a [Listener] {
        self.listeners
    }

    /// A descriptor that becomes readable when the master asks this
    /// worker to stop (its `signalfd` for `SIGTERM`).
    pub fn stop_fd(&self) -> BorrowedFd<'_> {
        self.stop.as_fd()
    }

    /// Whether the master has asked this worker to stop (once asked,
    /// always `true`); marks the slot `Stopping`.
    pub fn stop_requested(&mut self) -> bool {
        if !self.stopping && matches!(self.stop.try_recv(), Ok(Some(_))) {
            self.stopping = true;
            self.slot.set_state(WorkerState::Stopping);
        }
        self.stopping
    }

    /// Tells the master this worker waits for connections.
    pub fn ready(&self) {
        self.slot.set_state(WorkerState::Accepting);
        sys::event::raise(self.ready);
    }

    /// Records that a connection was accepted now (the master's
    /// connection timeout counts from here).
    pub fn begin_connection(&self) {
        self.slot.begin();
        if self.busy_news {
            sys::event::raise(self.ready);
        }
    }

    /// Records that the current connection ended.
    pub fn end_connection(&self) {
        self.slot.end();
        if self.busy_news {
            sys::event::raise(self.ready);
        }
    }

    /// Records that one more connection is open, in a body that serves
    /// many at once (the master's timeout is then on the
    /// [heartbeat](WorkerContext::heartbeat), not on this connection).
    pub fn connection_opened(&self) {
        self.slot.opened();
    }

    /// Records that one of the connections open ended (see
    /// [`WorkerContext::connection_opened`]).
    pub fn connection_closed(&self) {
        self.slot.closed();
    }

    /// Tells the master this worker's event loop runs: a body that
    /// serves many connections at once calls it from its loop, at least
    /// a few times per [connection
    /// timeout](WorkerContext::connection_timeout). Once it has beaten,
    /// a worker whose beats stop for longer than the timeout is taken for
    /// wedged: killed and replaced, or reported by
    /// [`Server::healthy`](super::Server::healthy).
    pub fn heartbeat(&self) {
        self.slot.beat();
    }
}

/// The sync worker: waits on every listener and its stop signal at once
/// (level-triggered `epoll`), accepts one connection
/// (`accept4`, close-on-exec; the connection blocks), calls the handler
/// with it, closes it when the handler returns, and waits again.
///
/// A handler that panics loses its connection only (it is closed); the
/// worker goes on. A connection that a client resets or abandons is the
/// handler's to notice (reads return 0 or an error; writes fail with
/// `EPIPE`, never `SIGPIPE` in a Rust program, which ignores it).
pub struct SyncWorker<H> {
    handler: H,
}

impl<H: FnMut(Conn)> SyncWorker<H> {
    /// The worker body that calls `handler` for each connection.
    pub fn new(handler: H) -> SyncWorker<H> {
        SyncWorker { handler }
    }
}

impl<H> std::fmt::Debug for SyncWorker<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncWorker")
    }
}

/// The epoll token of the stop signal (listeners are their index).
const STOP: u64 = u64::MAX;

impl<H: FnMut(Conn)> WorkerBody for SyncWorker<H> {
    fn run(&mut self, ctx: &mut WorkerContext<'_>) -> i32 {
        let Ok(epoll) = Epoll::new() else { return 70 };
        if epoll.add(ctx.stop_fd(), STOP).is_err() {
            return 70;
        }
        let listeners = ctx.listeners();
        for (i, l) in listeners.iter().enumerate() {
            // Not EPOLLEXCLUSIVE: the kernel would hand a new connection's
            // wake-up to one waiting worker alone, and if that worker is
            // told to stop in the same instant it leaves without
            // accepting, the connection stays in the backlog with nobody
            // woken for it (seen as a client stranded across a HUP). Every
            // idle worker wakes; those that lose the race get EAGAIN.
            if epoll.add(l.as_fd(), i as u64).is_err() {
                return 70;
            }
        }
        let mut open = listeners.len();
        ctx.ready();
        let mut events = [sys::epoll::Ready {
            token: 0,
            hung_up: false,
        }; 16];
        'wait: loop {
            let n = match epoll.wait(&mut events, None) {
                Ok(n) => n,
                Err(_) => return 70,
            };
            // The stop signal first: never accept once told to stop.
            if ctx.stop_requested() {
                return 0;
            }
            for ev in &events[..n] {
                if ev.token == STOP {
                    continue;
                }
                let Some(l) = listeners.get(ev.token as usize) else {
                    continue;
                };
                match sysl::accept_stream(l.as_fd()) {
                    Ok((fd, peer)) => {
                        ctx.begin_connection();
                        let conn = Conn::new(fd, peer);
                        let handler = &mut self.handler;
                        // A panic loses this connection (closed with the
                        // unwound frame), not the worker.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            handler(conn)
                        }));
                        ctx.end_connection();
                        // Back to the wait: the stop signal is looked at
                        // before the next accept.
                        continue 'wait;
                    }
                    // Another worker took it, or the client went away
                    // before it was accepted.
                    Err(Errno::EAGAIN | Errno::ECONNABORTED | Errno::EPROTO | Errno::EPERM) => {}
                    // Shut by the master's drain: stop watching it.
                    Err(Errno::EINVAL) => {
                        let _ = epoll.delete(l.as_fd());
                        open -= 1;
                        if open == 0 {
                            return 0;
                        }
                    }
                    // Out of descriptors or memory: the connection waits
                    // in the backlog; look again shortly rather than spin.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }
}
