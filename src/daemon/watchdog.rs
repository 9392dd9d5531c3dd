//! [`Watchdog`]: when to send systemd's `WATCHDOG=1`, and only while the
//! daemon is healthy.

use std::time::{Duration, Instant};

use super::notify::{Env, Notifier, remove_env};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys;

/// The environment variable with the watchdog interval in µs.
pub const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// The environment variable naming the process the watchdog is for.
pub const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// What [`Watchdog::ping_if`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ping {
    /// `WATCHDOG=1` went out; the next is due in half the interval.
    Sent,
    /// Not due yet: nothing sent.
    NotDue,
    /// Due, but the caller said the daemon is not healthy: nothing sent.
    /// The next look is due in an eighth of the period, so a daemon that
    /// recovers in time still pings before systemd's deadline, and one
    /// that does not is restarted.
    Withheld,
}

/// The timing of systemd's software watchdog (`WatchdogSec=` in the unit,
/// `sd_watchdog_enabled(3)`): a daemon must send `WATCHDOG=1` at least
/// once per interval or systemd kills and (with `Restart=`) restarts it.
/// This helper pings every half interval, as systemd recommends — and
/// only when the caller vouches for the daemon's health at that moment.
///
/// Nothing pings in the background: no thread, no timer. The daemon's
/// main loop calls [`Watchdog::ping_if`] with what it knows (a pre-fork
/// server: every worker alive and none past its timeout), and uses
/// [`Watchdog::next_due`] as the longest it waits (e.g. the timeout of
/// [`MainLoop::wait`](super::MainLoop::wait)). A wedged loop therefore
/// stops pinging, and so does a loop that finds the daemon unhealthy:
/// either way systemd restarts the service, instead of being told it is
/// alive forever.
///
/// ```no_run
/// use std::time::Duration;
/// use mproc::daemon::{MainLoop, Notifier, Watchdog};
/// use mproc::signal::{SigSet, Signal};
///
/// let notifier = Notifier::from_env()?;
/// let mut watchdog = Watchdog::from_env()?;
/// let main = MainLoop::new(SigSet::from_signals(&[Signal::TERM]))?;
/// notifier.ready()?;
/// loop {
///     let wait = Watchdog::timeout(watchdog.as_ref(), Some(Duration::from_secs(5)));
///     let woke = main.wait(&[], wait)?;
///     if !woke.signals().is_empty() {
///         notifier.stopping()?;
///         return Ok(());
///     }
///     if let Some(w) = watchdog.as_mut() {
///         let healthy = true; // every worker alive, none overran its timeout
///         w.ping_if(&notifier, healthy)?;
///     }
/// }
/// # Ok::<(), mproc::Error>(())
/// ```
// Not `Copy`: a copy would keep its own schedule.
#[derive(Clone, Debug)]
#[doc(alias = "sd_watchdog_enabled")]
pub struct Watchdog {
    interval: Duration,
    next: Instant,
}

/// Parses a decimal variable; `None` when absent.
fn parse_var(op: &'static str, name: &'static str) -> Result<Option<u64>> {
    let Some(value) = std::env::var_os(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Some)
        .ok_or(Error::new(
            op,
            Resource::Environment(name),
            ErrorKind::InvalidArgument("not a decimal number"),
        ))
}

impl Watchdog {
    /// The watchdog systemd asks of this process: `$WATCHDOG_USEC`, when
    /// `$WATCHDOG_PID` is absent or names this process. `None` when there
    /// is none for this process (no `WatchdogSec=`, or the variables were
    /// meant for another process, e.g. inherited from a parent). The
    /// variables stay in the environment ([`Env::Keep`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] naming the variable when
    /// `WATCHDOG_USEC` is not a decimal number or is 0, or `WATCHDOG_PID`
    /// is not a decimal number (systemd's `sd_watchdog_enabled` refuses
    /// these too: a malformed setting is a broken unit, better reported
    /// than silently run without a watchdog).
    pub fn from_env() -> Result<Option<Watchdog>> {
        Watchdog::from_env_with(Env::Keep)
    }

    /// [`Watchdog::from_env`], then removes `WATCHDOG_USEC` and
    /// `WATCHDOG_PID` from the environment if `env` says so (whatever was
    /// found in them).
    ///
    /// # Errors
    ///
    /// As [`Watchdog::from_env`]; with [`Env::Remove`],
    /// [`ErrorKind::ThreadsRunning`] when other threads run.
    pub fn from_env_with(env: Env) -> Result<Option<Watchdog>> {
        const OP: &str = "Watchdog::from_env";
        let found = Watchdog::read_env(OP);
        if env == Env::Remove {
            remove_env(OP, &[WATCHDOG_USEC, WATCHDOG_PID], WATCHDOG_USEC)?;
        }
        found
    }

    fn read_env(op: &'static str) -> Result<Option<Watchdog>> {
        let Some(usec) = parse_var(op, WATCHDOG_USEC)? else {
            return Ok(None);
        };
        if let Some(pid) = parse_var(op, WATCHDOG_PID)?
            && pid != u64::try_from(sys::process::getpid()).unwrap_or(0)
        {
            return Ok(None);
        }
        if usec == 0 {
            return Err(Error::new(
                op,
                Resource::Environment(WATCHDOG_USEC),
                ErrorKind::InvalidArgument("a watchdog interval of 0"),
            ));
        }
        Watchdog::new(Duration::from_micros(usec)).map(Some)
    }

    /// A watchdog of `interval` (systemd's `WatchdogSec=`), with its first
    /// ping due now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an interval under 2 µs (its half
    /// would be nothing).
    pub fn new(interval: Duration) -> Result<Watchdog> {
        if interval < Duration::from_micros(2) {
            return Err(Error::new(
                "Watchdog::new",
                Resource::Environment(WATCHDOG_USEC),
                ErrorKind::InvalidArgument("a watchdog interval under 2 µs"),
            ));
        }
        Ok(Watchdog {
            interval,
            next: Instant::now(),
        })
    }

    /// The interval systemd allows between pings (`WATCHDOG_USEC`).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The time between pings: half the interval.
    pub fn period(&self) -> Duration {
        self.interval / 2
    }

    /// How long until the next ping (or look, after one was withheld) is
    /// due: zero when it is due now. The longest the main loop should wait
    /// before calling [`Watchdog::ping_if`].
    pub fn next_due(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Whether a ping is due now.
    pub fn is_due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// The shorter of `timeout` and `watchdog`'s [`Watchdog::next_due`]
    /// (`None`, wait forever, only when both are `None`): the timeout for a
    /// main loop's wait.
    pub fn timeout(watchdog: Option<&Watchdog>, timeout: Option<Duration>) -> Option<Duration> {
        match (watchdog.map(Watchdog::next_due), timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends `WATCHDOG=1` through `notifier` if a ping is due and
    /// `healthy` holds; says what it did. Unhealthy, nothing is sent and
    /// the next look is due in an eighth of the period ([`Ping::Withheld`]).
    ///
    /// # Errors
    ///
    /// As [`Notifier::watchdog`]; the ping stays due (the next call tries
    /// again).
    pub fn ping_if(&mut self, notifier: &Notifier, healthy: bool) -> Result<Ping> {
        let now = Instant::now();
        if now < self.next {
            return Ok(Ping::NotDue);
        }
        if !healthy {
            self.next = now + (self.period() / 8).max(Duration::from_micros(1));
            return Ok(Ping::Withheld);
        }
        notifier.watchdog()?;
        self.next = now + self.period();
        Ok(Ping::Sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_are_due_every_half_interval_and_only_when_healthy() {
        let n = Notifier::disabled();
        let mut w = Watchdog::new(Duration::from_secs(10)).unwrap();
        assert_eq!(w.period(), Duration::from_secs(5));
        assert!(w.is_due());
        assert_eq!(w.ping_if(&n, true).unwrap(), Ping::Sent);
        assert!(!w.is_due());
        assert!(w.next_due() > Duration::from_secs(4));
        assert_eq!(w.ping_if(&n, true).unwrap(), Ping::NotDue);
        let mut sick = Watchdog::new(Duration::from_secs(16)).unwrap();
        assert_eq!(sick.ping_if(&n, false).unwrap(), Ping::Withheld);
        let retry = sick.next_due();
        assert!(
            retry <= Duration::from_secs(1) && retry > Duration::ZERO,
            "{retry:?}"
        );
        assert_eq!(
            Watchdog::timeout(Some(&w), Some(Duration::from_millis(5))),
            Some(Duration::from_millis(5))
        );
        assert_eq!(Watchdog::timeout(None, None), None);
        assert!(Watchdog::new(Duration::from_micros(1)).is_err());
    }
}
