//! What a pre-fork daemon's master needs besides its [`Pool`]: a main
//! loop that waits on signals, job sources and workers at once
//! ([`MainLoop`]), a [`Pidfile`], a status board other processes read
//! ([`Status`] in a named segment), and a log file that follows log
//! rotation ([`LogFile`]).
//!
//! And what systemd asks of a daemon, without libsystemd: its notify
//! protocol ([`Notifier`], from `$NOTIFY_SOCKET`; a no-op outside
//! systemd), the watchdog's timing ([`Watchdog`], which pings only while
//! the caller says the daemon is healthy), socket activation
//! ([`ListenFds`], the descriptors systemd opened, taken once at start and
//! removed from the environment), and with the `log` feature a logger
//! that writes journald priorities when stderr is the journal
//! (`journal`).
//!
//! The crate claims no signal: the daemon chooses which signals its loop
//! takes (they are blocked and read from a `signalfd`, never handled
//! asynchronously) and what each one does. `examples/daemon/` follows
//! the conventions of gunicorn's and nginx's masters (`USR1` reopens the
//! log and writes a status line, `HUP` replaces the workers, `TTIN`/`TTOU`
//! grow and shrink, `WINCH` stops the workers, `TERM` drains, `INT`/`QUIT`
//! stop at once).
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use std::time::Duration;
//! use mproc::daemon::{MainLoop, Pidfile};
//! use mproc::pool::Pool;
//! use mproc::signal::{SigSet, Signal};
//!
//! let _pidfile = Pidfile::create("/tmp/mydaemon.pid")?;
//! let main = MainLoop::new(SigSet::from_signals(&[Signal::TERM, Signal::TTIN, Signal::TTOU]))?;
//! let pool = Pool::new(2)?;
//! loop {
//!     let woke = main.wait_pool(&pool, &[], Some(Duration::from_secs(1)))?;
//!     for info in woke.signals() {
//!         match info.signal {
//!             Signal::TTIN => pool.resize(pool.processes() + 1)?,
//!             Signal::TTOU => pool.resize(pool.processes().saturating_sub(1).max(1))?,
//!             _ => {
//!                 pool.drain(Duration::from_secs(30))?;
//!                 return Ok(());
//!             }
//!         }
//!     }
//! }
//! # Ok::<(), mproc::Error>(())
//! ```

mod activation;
#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub mod journal;
mod log;
mod notify;
mod pidfile;
mod status;
mod watchdog;

pub use activation::{
    FdKind, KindMismatch, LISTEN_FDNAMES, LISTEN_FDS, LISTEN_FDS_MAX, LISTEN_FDS_START, LISTEN_PID,
    ListenFd, ListenFds, UNKNOWN_NAME,
};
pub use log::{LogFile, UtcTime};
pub use notify::{Env, NOTIFY_MAX, NOTIFY_SEND_TIMEOUT, NOTIFY_SOCKET, Notifier};
pub use pidfile::Pidfile;
pub use status::{Snapshot, State, Status};
pub use watchdog::{Ping, WATCHDOG_PID, WATCHDOG_USEC, Watchdog};

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::ipc::{self, Ready, WAIT_MAX};
use crate::pool::Pool;
use crate::signal::{SigInfo, SigSet, SignalFd};

/// The most signals one [`Wake`] carries; more stay pending for the next
/// wait.
pub const WAKE_SIGNALS: usize = 32;

/// A daemon's main loop: the signals it takes, read synchronously from a
/// `signalfd`, waited for together with the daemon's job sources and,
/// with [`MainLoop::wait_pool`], its workers.
///
/// Make it before forking anything that may signal the daemon: the
/// signals are blocked from then on in this thread (children start with
/// an empty mask, see the crate docs' fork contract).
#[derive(Debug)]
pub struct MainLoop {
    signals: SignalFd,
}

/// What woke a [`MainLoop`]: the signals received (in order) and which of
/// the caller's sources are ready. Empty both ways when the time ran out.
#[derive(Debug, Default)]
pub struct Wake {
    signals: heapless::Vec<SigInfo, WAKE_SIGNALS>,
    ready: Ready,
}

impl Wake {
    /// The signals received, oldest first (standard signals do not queue:
    /// two `SIGUSR1` before the loop looked come as one).
    pub fn signals(&self) -> &[SigInfo] {
        &self.signals
    }

    /// Which of the sources passed to the wait are ready, by position.
    pub fn ready(&self) -> Ready {
        self.ready
    }

    /// Whether nothing happened: the wait's time ran out.
    pub fn is_timeout(&self) -> bool {
        self.signals.is_empty() && self.ready.is_empty()
    }
}

impl MainLoop {
    /// Blocks `signals` in this thread and opens the descriptor the loop
    /// reads them from.
    ///
    /// # Errors
    ///
    /// As [`SignalFd::new`].
    pub fn new(signals: SigSet) -> Result<MainLoop> {
        Ok(MainLoop {
            signals: SignalFd::new(signals)?,
        })
    }

    /// The signal descriptor.
    pub fn signal_fd(&self) -> &SignalFd {
        &self.signals
    }

    /// Waits until a signal comes, one of `sources` is ready, or `timeout`
    /// passes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] past
    /// [`WAIT_MAX`]` - 1` sources; as [`ipc::wait`].
    pub fn wait(&self, sources: &[BorrowedFd<'_>], timeout: Option<Duration>) -> Result<Wake> {
        let fds = self.with_signal_fd("MainLoop::wait", sources)?;
        let ready = ipc::wait(&fds, timeout)?;
        self.woke(ready)
    }

    /// [`MainLoop::wait`] that also watches `pool`'s workers (bounded by
    /// [`Pool::poll_timeout`]) and does the pool's pending work before it
    /// returns: reaping, replacing, stopping overdue tasks, callbacks.
    ///
    /// # Errors
    ///
    /// As [`Pool::wait_with`].
    pub fn wait_pool<const S: usize, const B: usize>(
        &self,
        pool: &Pool<S, B>,
        sources: &[BorrowedFd<'_>],
        timeout: Option<Duration>,
    ) -> Result<Wake> {
        let fds = self.with_signal_fd("MainLoop::wait_pool", sources)?;
        let ready = pool.wait_with(&fds, timeout)?;
        self.woke(ready)
    }

    fn with_signal_fd<'a>(
        &'a self,
        op: &'static str,
        sources: &[BorrowedFd<'a>],
    ) -> Result<heapless::Vec<BorrowedFd<'a>, WAIT_MAX>> {
        let mut fds = heapless::Vec::new();
        let _ = fds.push(self.signals.as_fd());
        for fd in sources {
            fds.push(*fd).map_err(|_| {
                Error::new(
                    op,
                    Resource::Capacity("WAIT_MAX"),
                    ErrorKind::CapacityExceeded {
                        limit: WAIT_MAX - 1,
                    },
                )
            })?;
        }
        Ok(fds)
    }

    /// The caller's view of a wait over `[signal fd, sources…]`.
    fn woke(&self, ready: Ready) -> Result<Wake> {
        let mut wake = Wake {
            signals: heapless::Vec::new(),
            ready: Ready::from_bits(
                ready
                    .iter()
                    .filter(|&i| i > 0)
                    .fold(0, |m, i| m | 1 << (i - 1)),
            ),
        };
        while !wake.signals.is_full() {
            match self.signals.try_recv()? {
                Some(info) => {
                    let _ = wake.signals.push(info);
                }
                None => break,
            }
        }
        Ok(wake)
    }
}
