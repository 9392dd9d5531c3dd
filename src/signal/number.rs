//! The [`Signal`] newtype: every standard and real-time signal, named as
//! `kill -l` prints them.

use core::fmt;
use core::num::NonZeroI32;
use core::str::FromStr;

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys::signal::{self as sys, num};

/// A signal number, 1 to 64: the standard signals and the real-time ones.
///
/// A newtype, not an enum, because the real-time range is open-ended.
/// Displays as `kill -l` prints it (`SIGUSR1`, `SIGRTMIN+3`, `SIGRTMAX-2`)
/// and parses from the same names, with or without `SIG`, in any case, or
/// from the number.
///
/// ```
/// use mproc::signal::Signal;
/// assert_eq!(Signal::USR1.to_string(), "SIGUSR1");
/// assert_eq!("usr1".parse::<Signal>().unwrap(), Signal::USR1);
/// assert_eq!("SIGRTMIN+2".parse::<Signal>().unwrap(), Signal::rtmin_plus(2).unwrap());
/// assert!(Signal::from_raw(0).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(NonZeroI32);

macro_rules! standard_signals {
    ($($konst:ident = $num:ident, $name:literal, $doc:literal;)*) => {
        impl Signal {
            $(
                #[doc = $doc]
                pub const $konst: Signal = Signal::from_const(num::$num);
            )*
        }
        /// (number, name without `SIG`) for every standard signal.
        const STANDARD: &[(i32, &str)] = &[$((num::$num, $name)),*];
    };
}

standard_signals! {
    HUP = SIGHUP, "HUP", "`SIGHUP`: hangup; daemons reload or replace workers.";
    INT = SIGINT, "INT", "`SIGINT`: interrupt from the keyboard (Ctrl-C).";
    QUIT = SIGQUIT, "QUIT", "`SIGQUIT`: quit from the keyboard, with a core dump.";
    ILL = SIGILL, "ILL", "`SIGILL`: illegal instruction.";
    TRAP = SIGTRAP, "TRAP", "`SIGTRAP`: trace or breakpoint trap.";
    ABRT = SIGABRT, "ABRT", "`SIGABRT`: abort (`abort(3)`).";
    BUS = SIGBUS, "BUS", "`SIGBUS`: bad memory access (e.g. past the end of a mapped file).";
    FPE = SIGFPE, "FPE", "`SIGFPE`: arithmetic exception.";
    KILL = SIGKILL, "KILL", "`SIGKILL`: kill; cannot be caught, blocked or ignored.";
    USR1 = SIGUSR1, "USR1", "`SIGUSR1`: user-defined signal 1.";
    SEGV = SIGSEGV, "SEGV", "`SIGSEGV`: invalid memory reference.";
    USR2 = SIGUSR2, "USR2", "`SIGUSR2`: user-defined signal 2.";
    PIPE = SIGPIPE, "PIPE", "`SIGPIPE`: write to a pipe with no reader.";
    ALRM = SIGALRM, "ALRM", "`SIGALRM`: timer from `alarm`/`set_alarm`.";
    TERM = SIGTERM, "TERM", "`SIGTERM`: termination request (`Process::terminate`).";
    STKFLT = SIGSTKFLT, "STKFLT", "`SIGSTKFLT`: stack fault (unused by Linux).";
    CHLD = SIGCHLD, "CHLD", "`SIGCHLD`: a child stopped or terminated.";
    CONT = SIGCONT, "CONT", "`SIGCONT`: continue if stopped.";
    STOP = SIGSTOP, "STOP", "`SIGSTOP`: stop; cannot be caught, blocked or ignored.";
    TSTP = SIGTSTP, "TSTP", "`SIGTSTP`: stop typed at the terminal (Ctrl-Z).";
    TTIN = SIGTTIN, "TTIN", "`SIGTTIN`: background read from the terminal; pre-fork masters add a worker.";
    TTOU = SIGTTOU, "TTOU", "`SIGTTOU`: background write to the terminal; pre-fork masters remove a worker.";
    URG = SIGURG, "URG", "`SIGURG`: urgent data on a socket.";
    XCPU = SIGXCPU, "XCPU", "`SIGXCPU`: CPU time limit exceeded.";
    XFSZ = SIGXFSZ, "XFSZ", "`SIGXFSZ`: file size limit exceeded.";
    VTALRM = SIGVTALRM, "VTALRM", "`SIGVTALRM`: virtual alarm clock.";
    PROF = SIGPROF, "PROF", "`SIGPROF`: profiling timer expired.";
    WINCH = SIGWINCH, "WINCH", "`SIGWINCH`: window resize; pre-fork masters stop their workers.";
    IO = SIGIO, "IO", "`SIGIO` (also `SIGPOLL`): I/O now possible.";
    PWR = SIGPWR, "PWR", "`SIGPWR`: power failure.";
    SYS = SIGSYS, "SYS", "`SIGSYS`: bad system call.";
}

/// Other names `FromStr` accepts, as aliases of a standard signal.
const ALIASES: &[(&str, Signal)] = &[
    ("POLL", Signal::IO),
    ("IOT", Signal::ABRT),
    ("CLD", Signal::CHLD),
];

impl Signal {
    const fn from_const(n: i32) -> Signal {
        match NonZeroI32::new(n) {
            Some(n) => Signal(n),
            None => panic!("signal constants are non-zero"),
        }
    }

    /// The signal with number `n`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidSignal`] unless `1 <= n <= 64`. Signal 0, which
    /// `kill(2)` uses to test for existence, is not a signal: use
    /// [`process::exists`](crate::process::exists) for that.
    pub fn from_raw(n: i32) -> Result<Signal> {
        match NonZeroI32::new(n) {
            Some(nz) if (1..=sys::MAX_SIGNAL).contains(&n) => Ok(Signal(nz)),
            _ => Err(Error::new(
                "Signal::from_raw",
                Resource::Signal(n),
                ErrorKind::InvalidSignal,
            )),
        }
    }

    /// The signal number, as the C API takes it.
    pub const fn as_raw(self) -> i32 {
        self.0.get()
    }

    /// `SIGRTMIN`, the first real-time signal the C library leaves to
    /// programs (34 with glibc).
    pub fn rtmin() -> Signal {
        Signal::from_const(sys::sigrtmin())
    }

    /// `SIGRTMAX`, the last real-time signal (64).
    pub fn rtmax() -> Signal {
        Signal::from_const(sys::sigrtmax())
    }

    /// `SIGRTMIN+n`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidSignal`] when `SIGRTMIN+n` is past `SIGRTMAX`.
    pub fn rtmin_plus(n: u32) -> Result<Signal> {
        let raw = i32::try_from(n)
            .ok()
            .and_then(|n| sys::sigrtmin().checked_add(n));
        match raw {
            Some(raw) if raw <= sys::sigrtmax() => Ok(Signal::from_const(raw)),
            _ => Err(Error::new(
                "Signal::rtmin_plus",
                Resource::Signal(raw.unwrap_or(i32::MAX)),
                ErrorKind::InvalidSignal,
            )),
        }
    }

    /// Whether this is a real-time signal (`SIGRTMIN..=SIGRTMAX`). Real-time
    /// signals queue: each one sent is delivered, in order.
    pub fn is_realtime(self) -> bool {
        (sys::sigrtmin()..=sys::sigrtmax()).contains(&self.as_raw())
    }

    /// Every signal `kill -l` lists, in number order: the standard signals,
    /// then `SIGRTMIN..=SIGRTMAX` (the C library's reserved numbers between
    /// them are left out).
    pub fn all() -> impl Iterator<Item = Signal> {
        STANDARD
            .iter()
            .map(|&(n, _)| Signal::from_const(n))
            .chain((sys::sigrtmin()..=sys::sigrtmax()).map(Signal::from_const))
    }

    /// The name of a standard signal without `SIG` (`"USR1"`), or `None` for
    /// a real-time or reserved one (whose [`Display`](fmt::Display) form is
    /// computed: `SIGRTMIN+3`).
    pub fn standard_name(self) -> Option<&'static str> {
        STANDARD
            .iter()
            .find(|&&(n, _)| n == self.as_raw())
            .map(|&(_, name)| name)
    }
}

impl fmt::Display for Signal {
    /// The name as bash's `kill -l` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.standard_name() {
            return write!(f, "SIG{name}");
        }
        let (n, min, max) = (self.as_raw(), sys::sigrtmin(), sys::sigrtmax());
        // bash names the lower half from SIGRTMIN up and the upper half from
        // SIGRTMAX down.
        match n {
            n if n == min => f.write_str("SIGRTMIN"),
            n if n == max => f.write_str("SIGRTMAX"),
            n if n > min && n <= min + (max - min) / 2 => write!(f, "SIGRTMIN+{}", n - min),
            n if n > min && n < max => write!(f, "SIGRTMAX-{}", max - n),
            n => write!(f, "SIG{n}"),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}({})", self.as_raw())
    }
}

impl FromStr for Signal {
    type Err = Error;

    /// Parses `"USR1"`, `"SIGUSR1"`, `"sigusr1"`, `"10"`, `"RTMIN+2"` or
    /// `"SIGRTMAX-1"`.
    fn from_str(s: &str) -> Result<Signal> {
        let bad = || {
            Error::new(
                "Signal::from_str",
                Resource::Text {
                    what: "signal name",
                    len: s.len(),
                },
                ErrorKind::InvalidSignal,
            )
        };
        if let Ok(n) = s.parse::<i32>() {
            return Signal::from_raw(n);
        }
        let upper = |b: &u8| b.to_ascii_uppercase();
        let bytes = s.as_bytes();
        let body = if bytes.len() > 3 && bytes[..3].iter().map(upper).eq(*b"SIG") {
            &s[3..]
        } else {
            s
        };
        let eq = |name: &str| body.eq_ignore_ascii_case(name);
        if let Some(&(n, _)) = STANDARD.iter().find(|(_, name)| eq(name)) {
            return Ok(Signal::from_const(n));
        }
        if let Some(&(_, sig)) = ALIASES.iter().find(|(name, _)| eq(name)) {
            return Ok(sig);
        }
        let (min, max) = (sys::sigrtmin(), sys::sigrtmax());
        let offset = |prefix: &str| -> Option<Option<i32>> {
            let head = body.get(..prefix.len())?;
            if !head.eq_ignore_ascii_case(prefix) {
                return None;
            }
            let rest = &body[prefix.len()..];
            if rest.is_empty() {
                return Some(Some(0));
            }
            Some(rest.parse::<i32>().ok())
        };
        let raw = if let Some(off) = offset("RTMIN") {
            off.and_then(|o| min.checked_add(o))
        } else if let Some(off) = offset("RTMAX") {
            off.and_then(|o| max.checked_add(o))
        } else {
            None
        };
        match raw {
            Some(n) if (min..=max).contains(&n) => Ok(Signal::from_const(n)),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<i32> for Signal {
    type Error = Error;
    fn try_from(n: i32) -> Result<Signal> {
        Signal::from_raw(n)
    }
}

impl From<Signal> for i32 {
    fn from(s: Signal) -> i32 {
        s.as_raw()
    }
}
