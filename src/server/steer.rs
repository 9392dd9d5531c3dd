//! The vocabulary between the master and its hook: [`Event`] (what
//! happened), [`Command`] (what the hook asks for), [`Stopped`] (how
//! [`Server::serve`](super::Server::serve) ended).

use crate::signal::SigInfo;

/// What happened, told to the hook of [`Server::serve_with`](super::Server::serve_with): the points
/// where a systemd notifier says `READY=1`, `RELOADING=1`,
/// `STOPPING=1`, and pings its watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Every worker waits for connections: after the start, and again
    /// once a replacement (`HUP`) has its new workers up.
    Ready,
    /// A replacement (`HUP`) begins.
    Reloading,
    /// A drain (`TERM`) or a quick stop (`INT`, `QUIT`) begins.
    Stopping,
    /// The master looked at its workers (at least every
    /// [`tick`](super::Builder::tick)): the watchdog's moment, with
    /// [`Server::healthy`](super::Server::healthy).
    Tick,
    /// A binary upgrade (`USR2`) started this new master; the old one
    /// serves on until it is ready (see [`Takeover`](super::Takeover)).
    Upgrading {
        /// The new master.
        new_master: crate::Pid,
    },
    /// The new master is ready: this one hands over (a systemd notifier
    /// sends `MAINPID=` now) and retires.
    Upgraded {
        /// The new master, the service's main process from now on.
        new_master: crate::Pid,
    },
    /// The new master exited, closed its readiness pipe or was not ready
    /// in time: it is stopped, the pidfile is back, this master serves on.
    UpgradeFailed {
        /// The new master that failed.
        new_master: crate::Pid,
    },
    /// A signal of the main loop's set that the server does not take
    /// (`USR1`, say): the hook's to handle.
    Signal(SigInfo),
}

/// What the hook of [`Server::serve_with`](super::Server::serve_with) asks for: the same steering as
/// the signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Nothing.
    Continue,
    /// Replace every worker gracefully (`HUP`).
    Reload,
    /// One worker more (`TTIN`).
    Grow,
    /// One worker fewer, never fewer than one (`TTOU`).
    Shrink,
    /// This many workers (1 to [`MAX_WORKERS`](super::MAX_WORKERS)).
    SetWorkers(usize),
    /// Stop accepting, finish the connections within the grace period
    /// (`TERM`).
    Drain,
    /// [`Drain`](Command::Drain) without shutting the listening sockets:
    /// this master closes its copies and its workers finish, while the
    /// sockets go on listening in every other process that holds them
    /// (a new master after a binary upgrade, another server on the same
    /// sockets), and no Unix socket's path is removed.
    Retire,
    /// Stop now: the workers are killed (`INT`, `QUIT`).
    StopNow,
    /// Re-execute the binary and hand over to it once it is ready
    /// (`USR2`; see [`Builder::pidfile`](super::Builder::pidfile) and the
    /// module docs' "Binary upgrade").
    Upgrade,
}

/// How [`Server::serve`](super::Server::serve) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stopped {
    /// Drained: every connection accepted was finished.
    Drained,
    /// The grace period ran out: this many workers were killed with the
    /// connection they served.
    GraceRanOut {
        /// Workers killed.
        killed: usize,
    },
    /// Stopped at once (`INT`, `QUIT`, [`Command::StopNow`]).
    Now,
    /// Handed over to a new master (`USR2`) and retired: the sockets
    /// listen on there. Named segments and queues passed to it
    /// ([`Builder::pass_name`](super::Builder::pass_name)) are its own
    /// now: do not unlink them.
    Upgraded {
        /// The new master.
        new_master: crate::Pid,
        /// Workers killed because the grace period ran out (0: every
        /// connection was finished).
        killed: usize,
    },
}
