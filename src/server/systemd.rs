//! A [`Server`] as systemd sees it: the notify protocol at each of the
//! master's [`Event`]s and the watchdog at each tick, in one call from the
//! hook of [`Server::serve_with`].
//!
//! ```no_run
//! use mproc::daemon::MainLoop;
//! use mproc::server::{Command, Listener, Server, Systemd};
//!
//! let main = MainLoop::new(Server::signals())?;
//! let mut systemd = Systemd::from_env()?; // does nothing outside systemd
//! let mut server = Server::builder()
//!     .listener(Listener::tcp("127.0.0.1:8080")?)
//!     .tick(systemd.tick(mproc::server::DEFAULT_TICK))
//!     .build(|_conn| {})?;
//! server.serve_with(&main, |server, event| {
//!     if let Err(e) = systemd.on(server, &event) {
//!         eprintln!("systemd: {e}");
//!     }
//!     Command::Continue
//! })?;
//! # Ok::<(), mproc::Error>(())
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use super::{Event, Server, WorkerBody};
use crate::daemon::{Notifier, Ping, Watchdog};
use crate::error::Result;

/// What a server tells systemd, and when (`Type=notify`, `WatchdogSec=`):
///
/// | the master's event | the lines sent |
/// |---|---|
/// | [`Event::Ready`] | `READY=1` and `STATUS=serving: N workers, M connections served` (after a `HUP`, the same: systemd's reload is over) |
/// | [`Event::Reloading`] (`HUP`) | `RELOADING=1` with `MONOTONIC_USEC` (`Type=notify-reload` wants it) and `STATUS=replacing the workers` |
/// | [`Event::Stopping`] (`TERM`, `INT`, `QUIT`) | `STOPPING=1` and `STATUS=stopping` |
/// | [`Event::Upgrading`] (`USR2`) | `STATUS=upgrading: new master N` |
/// | [`Event::Upgraded`] | `MAINPID=N` (the new master, heard under `NotifyAccess=main` since it comes from the main process), then **nothing more** from this master: no `STOPPING=1` for its retirement, no ping |
/// | [`Event::UpgradeFailed`] | `STATUS=upgrade to N failed; serving` |
/// | every event, [`Event::Tick`] at least every tick | `WATCHDOG=1` every half of `WatchdogSec=`, **only while [`Server::healthy`]**: every worker alive, none past its connection timeout |
///
/// So a wedged server (a worker stuck on a connection past the timeout, a
/// master that no longer runs its loop) stops pinging, and systemd
/// restarts it instead of being pinged for ever. Nothing pings from a
/// thread of its own.
///
/// Each line is one datagram built on the stack (see [`Notifier`]): no
/// allocation.
#[derive(Debug)]
pub struct Systemd {
    notifier: Notifier,
    watchdog: Option<Watchdog>,
    /// The last ping withheld because the server was unhealthy.
    withheld: bool,
    /// A new master took over (`MAINPID=` sent): nothing more is said.
    handed_over: bool,
}

impl Systemd {
    /// From the environment systemd gives a service: `$NOTIFY_SOCKET`
    /// (absent: every call does nothing, so the same program runs in a
    /// terminal) and `WATCHDOG_USEC`/`WATCHDOG_PID` (absent or meant for
    /// another process: no watchdog).
    ///
    /// # Errors
    ///
    /// As [`Notifier::from_env`] and [`Watchdog::from_env`]: a malformed
    /// variable, a socket that cannot be made.
    pub fn from_env() -> Result<Systemd> {
        Ok(Systemd::new(Notifier::from_env()?, Watchdog::from_env()?))
    }

    /// From a notifier and a watchdog of your own.
    pub fn new(notifier: Notifier, watchdog: Option<Watchdog>) -> Systemd {
        Systemd {
            notifier,
            watchdog,
            withheld: false,
            handed_over: false,
        }
    }

    /// The notifier, for lines of your own (`STATUS=`, `MAINPID=`).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The watchdog, if systemd asked for one.
    pub fn watchdog(&self) -> Option<&Watchdog> {
        self.watchdog.as_ref()
    }

    /// The master's tick that keeps the pings on time: `default`, or
    /// less when the watchdog's period (half of `WatchdogSec=`) is shorter.
    /// Give it to [`Builder::tick`](super::Builder::tick).
    pub fn tick(&self, default: Duration) -> Duration {
        match &self.watchdog {
            // A fourth of the interval: a ping is sent at most a tick late.
            Some(w) => default.min(w.period() / 2).max(Duration::from_millis(1)),
            None => default,
        }
    }

    /// Whether the last ping due was withheld because the server was not
    /// healthy.
    pub fn withheld(&self) -> bool {
        self.withheld
    }

    /// Tells systemd about `event` (see the table above), then pings the
    /// watchdog if a ping is due and `server` is healthy.
    ///
    /// # Errors
    ///
    /// A datagram the manager refused or did not take within a second
    /// ([`Notifier`]'s errors). The server goes on; a hook logs it.
    pub fn on<B: WorkerBody>(&mut self, server: &Server<B>, event: &Event) -> Result<()> {
        if self.handed_over {
            return Ok(());
        }
        let mut status = heapless::String::<128>::new();
        match event {
            Event::Upgrading { new_master } => {
                let _ = write!(status, "upgrading: new master {new_master}");
                self.notifier.status(&status)?;
            }
            Event::Upgraded { new_master } => {
                self.handed_over = true;
                return self.notifier.mainpid(*new_master);
            }
            Event::UpgradeFailed { new_master } => {
                let _ = write!(status, "upgrade to {new_master} failed; serving");
                self.notifier.status(&status)?;
            }
            Event::Ready => {
                let _ = write!(
                    status,
                    "serving: {} workers, {} connections served",
                    server.target(),
                    server.served()
                );
                self.notifier.ready_with_status(&status)?;
            }
            Event::Reloading => {
                self.notifier.reloading()?;
                self.notifier.status("replacing the workers")?;
            }
            Event::Stopping => {
                self.notifier.stopping()?;
                self.notifier.status("stopping")?;
            }
            Event::Tick | Event::Signal(_) => {}
        }
        // The health is looked at only when a ping is due.
        if let Some(w) = &mut self.watchdog
            && w.is_due()
        {
            match w.ping_if(&self.notifier, server.healthy())? {
                Ping::Sent => self.withheld = false,
                Ping::Withheld => self.withheld = true,
                Ping::NotDue => {}
            }
        }
        Ok(())
    }
}
