//! [`Builder`]: a [`Server`]'s settings, checked before anything is
//! forked.

use std::time::Duration;

use super::board::{Board, MAX_WORKERS};
use super::conn::Conn;
use super::listener::Listener;
use super::master::{Phase, Server};
use super::upgrade::{Takeover, Upgrade};
use super::worker::{SyncWorker, WorkerBody};
use crate::daemon::Pidfile;
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::Shared;
use crate::signal::Signal;
use crate::sys;

/// The most listeners one server waits on.
pub const MAX_LISTENERS: usize = 16;

/// The grace period of a drain (`TERM`) when none is set: gunicorn's
/// `graceful_timeout`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// How often the master looks at its workers when nothing wakes it.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

/// Sets up a [`Server`]: `Server::builder().workers(4).listener(l).build(handler)`.
#[derive(Debug)]
pub struct Builder {
    pub(super) workers: usize,
    pub(super) listeners: Vec<Listener>,
    pub(super) grace: Duration,
    pub(super) connection_timeout: Option<Duration>,
    pub(super) kill_on_timeout: bool,
    pub(super) tick: Duration,
    pub(super) overflow: Overflow,
    pub(super) upgrade: Upgrade,
}

/// What a client gets when every worker is busy
/// ([`Builder::overflow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// It waits in the listen backlog until a worker is free (the
    /// default; seed 004's `Pool(4)`: a fifth client is served when one of
    /// the first four leaves).
    Wait,
    /// The master accepts it, writes these bytes without waiting (what
    /// fits in the socket's send buffer: keep it short, a line), and
    /// closes it: a "busy, try later" answer instead of a wait. A client
    /// that sends before it reads may see a reset instead of the line.
    Answer(&'static [u8]),
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            workers: 1,
            listeners: Vec::new(),
            grace: DEFAULT_GRACE,
            connection_timeout: None,
            kill_on_timeout: true,
            tick: DEFAULT_TICK,
            overflow: Overflow::Wait,
            upgrade: Upgrade::new(),
        }
    }
}

impl Builder {
    /// How many workers (1 by default, at most [`MAX_WORKERS`]). A sync
    /// worker serves one connection at a time: this is also how many
    /// connections are served at once.
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = n;
        self
    }

    /// Adds a listener (at most [`MAX_LISTENERS`]); every worker accepts
    /// on all of them.
    pub fn listener(mut self, l: Listener) -> Builder {
        self.listeners.push(l);
        self
    }

    /// How long a drain (`TERM`) waits for the connections being served
    /// before it kills their workers ([`DEFAULT_GRACE`]).
    pub fn grace(mut self, grace: Duration) -> Builder {
        self.grace = grace;
        self
    }

    /// The longest one connection may be served (none by default). A
    /// worker whose connection runs past it is killed (`SIGKILL`), its
    /// connection lost, and a fresh worker forked in its place (gunicorn's
    /// `timeout`): a handler stuck on a client that never reads or never
    /// writes cannot hold a worker for ever. Checked at every
    /// [`tick`](Builder::tick), which is shortened to a quarter of it.
    ///
    /// A worker that serves many connections at once (an async worker)
    /// is given the timeout ([`WorkerContext::connection_timeout`](super::WorkerContext::connection_timeout)) and
    /// cuts each of its connections past it itself; the master kills it
    /// (or reports it) when its event loop stops beating for longer than
    /// the timeout: the loop is wedged, and every connection in it is
    /// past its time.
    pub fn connection_timeout(mut self, timeout: Duration) -> Builder {
        self.connection_timeout = Some(timeout);
        self
    }

    /// Whether a worker that overruns the [connection
    /// timeout](Builder::connection_timeout) is killed and replaced (the
    /// default) or only reported: then [`Server::healthy`] is `false` for
    /// as long as it overruns, and a watchdog that pings only while the
    /// server is healthy lets the service manager restart the wedged
    /// service (systemd's `WatchdogSec=`).
    pub fn kill_on_timeout(mut self, kill: bool) -> Builder {
        self.kill_on_timeout = kill;
        self
    }

    /// What a client gets when every worker is busy: a wait in the
    /// backlog ([`Overflow::Wait`], the default) or a short answer and
    /// the door ([`Overflow::Answer`]). With an answer, each worker tells
    /// the master when it starts and ends a connection (an eventfd), and
    /// the master watches the listeners while all are busy.
    pub fn overflow(mut self, overflow: Overflow) -> Builder {
        self.overflow = overflow;
        self
    }

    /// How often the master looks at its workers when no signal or
    /// worker wakes it ([`DEFAULT_TICK`]); [`Event::Tick`](super::Event::Tick) comes at least
    /// this often.
    pub fn tick(mut self, tick: Duration) -> Builder {
        self.tick = tick;
        self
    }

    /// The server's pidfile, owned by the server from now on: on a binary
    /// upgrade (`USR2`) it is renamed to `<pidfile>.oldbin` while the new
    /// master starts (which writes its own `<pidfile>`), removed once
    /// the new master took over, or renamed back if it failed. Dropped
    /// with the server (removed if it is still this process's file).
    pub fn pidfile(mut self, pidfile: Pidfile) -> Builder {
        self.upgrade.pidfile = Some(pidfile);
        self
    }

    /// How long a new master started by a binary upgrade (`USR2`) has to
    /// become ready before it is stopped and the upgrade rolled back
    /// ([`DEFAULT_UPGRADE_DEADLINE`](super::DEFAULT_UPGRADE_DEADLINE)).
    pub fn upgrade_deadline(mut self, deadline: Duration) -> Builder {
        self.upgrade.deadline = deadline;
        self
    }

    /// Names a named segment or queue (`/name`) that a binary upgrade
    /// passes to the new master, which reads it with
    /// [`Takeover::names`] and opens it instead of creating it. The name
    /// itself travels, in [`UPGRADE_NAMES`](super::UPGRADE_NAMES); the
    /// old master must not unlink it once it has handed over
    /// ([`Stopped::Upgraded`](super::Stopped::Upgraded)).
    pub fn pass_name(mut self, name: impl Into<String>) -> Builder {
        self.upgrade.names.push(name.into());
        self
    }

    /// The program a binary upgrade starts: by default the path this
    /// process was started from (read when the builder is made, from
    /// `/proc/self/exe`; not the link itself at upgrade time, which keeps
    /// naming the old binary once it is replaced on disk), with the
    /// arguments this process got.
    pub fn upgrade_program(mut self, path: impl Into<std::path::PathBuf>) -> Builder {
        self.upgrade.program = Some(path.into());
        self
    }

    /// Makes this server the new master of a binary upgrade: it tells
    /// the old master once its workers all accept (its first
    /// [`Event::Ready`](super::Event::Ready)), and the old one retires.
    pub fn takeover(mut self, takeover: Takeover) -> Builder {
        self.upgrade.takeover = Some(takeover);
        self
    }

    /// The server whose sync workers call `handler` with each connection,
    /// one at a time. Nothing is forked yet.
    ///
    /// # Errors
    ///
    /// As [`Builder::build_with`].
    pub fn build<H: FnMut(Conn)>(self, handler: H) -> Result<Server<SyncWorker<H>>> {
        self.build_with(SyncWorker::new(handler))
    }

    /// The server whose workers run `body` (see [`WorkerBody`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] for 0 or more than [`MAX_WORKERS`]
    /// workers, or more than [`MAX_LISTENERS`] listeners;
    /// [`ErrorKind::InvalidArgument`] without a listener or with a zero
    /// tick, grace or timeout; the kernel's refusal of the board's mapping
    /// or an eventfd.
    pub fn build_with<B: WorkerBody>(self, body: B) -> Result<Server<B>> {
        let op = "Server::build";
        let res = Resource::Server {
            workers: self.workers,
        };
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(Error::new(
                op,
                Resource::Capacity("server::MAX_WORKERS"),
                ErrorKind::CapacityExceeded { limit: MAX_WORKERS },
            ));
        }
        if self.listeners.len() > MAX_LISTENERS {
            return Err(Error::new(
                op,
                Resource::Capacity("server::MAX_LISTENERS"),
                ErrorKind::CapacityExceeded {
                    limit: MAX_LISTENERS,
                },
            ));
        }
        if self.listeners.is_empty() {
            return Err(Error::new(
                op,
                res,
                ErrorKind::InvalidArgument("a server needs at least one listener"),
            ));
        }
        if let Some(bad) = self
            .upgrade
            .names
            .iter()
            .find(|n| n.is_empty() || n.contains(':') || n.contains('\0'))
        {
            return Err(Error::new(
                op,
                Resource::Text {
                    what: "a name passed on upgrade",
                    len: bad.len(),
                },
                ErrorKind::InvalidArgument("a name passed on upgrade is empty or holds ':' or NUL"),
            ));
        }
        if self.tick.is_zero()
            || self.grace.is_zero()
            || self.upgrade.deadline.is_zero()
            || self.connection_timeout.is_some_and(|t| t.is_zero())
        {
            return Err(Error::new(
                op,
                res,
                ErrorKind::InvalidArgument(
                    "the tick, grace, connection timeout and upgrade deadline must not be 0",
                ),
            ));
        }
        let board = Shared::<Board>::zeroed()?;
        let ready = sys::event::eventfd().map_err(|e| Error::os("eventfd", res, e))?;
        let tick = match self.connection_timeout {
            Some(t) => self.tick.min(t / 4).max(Duration::from_millis(1)),
            None => self.tick,
        };
        Ok(Server {
            body,
            listeners: self.listeners,
            board,
            ready,
            table: std::array::from_fn(|_| None),
            target: self.workers,
            generation: 0,
            phase: Phase::Starting,
            grace: self.grace,
            connection_timeout: self.connection_timeout,
            kill_on_timeout: self.kill_on_timeout,
            overflow: self.overflow,
            turned_away: 0,
            hold_forks_until: None,
            tick,
            forks: 0,
            fork_failures: 0,
            timeouts: 0,
            served_by_gone: 0,
            upgrade: self.upgrade,
        })
    }
}

impl Server<()> {
    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The signals a server takes by convention (gunicorn's and nginx's):
    /// `HUP`, `TTIN`, `TTOU`, `TERM`, `INT`, `QUIT`, `USR2`. Make the
    /// [`MainLoop`](crate::daemon::MainLoop) with these (and any of your own, which come to the
    /// hook as [`Event::Signal`](super::Event::Signal)).
    pub fn signals() -> crate::signal::SigSet {
        crate::signal::SigSet::from_signals(&[
            Signal::HUP,
            Signal::TTIN,
            Signal::TTOU,
            Signal::TERM,
            Signal::INT,
            Signal::QUIT,
            Signal::USR2,
        ])
    }
}
