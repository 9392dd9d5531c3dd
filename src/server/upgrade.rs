//! The binary upgrade on `USR2`, nginx's and unicorn's way: the master
//! re-executes its binary with its listeners, and hands over to the new
//! master once that one's workers accept ([`Takeover`] is the new
//! master's side).
//!
//! # The sequence
//!
//! 1. `USR2` (or [`Command::Upgrade`]): the old master renames its
//!    pidfile ([`Builder::pidfile`](super::Builder::pidfile)) to
//!    `<pidfile>.oldbin` and starts its binary again (the path it was
//!    started from, with the same arguments) in a child, the listeners
//!    at descriptors 3.. with systemd's socket-activation variables
//!    (`LISTEN_FDS`, `LISTEN_FDNAMES` from
//!    [`Listener::named`](super::Listener::named), `LISTEN_PID` = the
//!    child's pid),
//!    so the new master takes them with
//!    [`ListenFds::from_env`](crate::daemon::ListenFds::from_env) as it
//!    would under systemd. Beside them: [`UPGRADE_FROM`] (the old
//!    master's pid), [`UPGRADE_READY_FD`] (a pipe's write end) and
//!    [`UPGRADE_NAMES`] (the names of the segments and queues the
//!    application passes, [`Builder::pass_name`](super::Builder::pass_name)),
//!    read by [`Takeover::from_env`]. The old master serves on.
//! 2. The new master writes its own pidfile (the name is free) and forks
//!    its workers; once they all accept ([`Event::Ready`]) it writes to
//!    the pipe ([`Builder::takeover`](super::Builder::takeover)).
//! 3. The old master tells its hook [`Event::Upgraded`] (a
//!    [`Systemd`](super::Systemd) sends `MAINPID=<new pid>` then, and
//!    nothing after), retires ([`Command::Retire`]: its workers finish
//!    their connections while the sockets listen on in the new master),
//!    removes `<pidfile>.oldbin` and returns [`Stopped::Upgraded`].
//!
//! **Rollback.** A new master that exits, closes the pipe, or is not
//! ready within the [deadline](super::Builder::upgrade_deadline) is
//! stopped (`TERM`, then `KILL` five seconds later), `<pidfile>.oldbin`
//! goes back to `<pidfile>`, a line on standard error (the `log`
//! facade's `warn!` with the `log` feature) says why, the hook hears
//! [`Event::UpgradeFailed`], and the old master serves on as before.
//! A `USR2` while an upgrade runs or is rolled back, or while the server
//! drains, is ignored with a line; a `TERM`, `INT` or `QUIT` during an
//! upgrade rolls it back first.

use std::ffi::{OsStr, OsString};
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::master::{Phase, Server};
use super::steer::{Command, Event, Stopped};
use super::worker::WorkerBody;
use crate::daemon::{LISTEN_FDNAMES, LISTEN_FDS, LISTEN_PID, Pidfile, WATCHDOG_PID, WATCHDOG_USEC};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::process::{self, Pid};
use crate::signal::Signal;
use crate::sys::{self, exec, process as sysproc};

/// How long a new master has to become ready when none is set
/// ([`Builder::upgrade_deadline`](super::Builder::upgrade_deadline)).
pub const DEFAULT_UPGRADE_DEADLINE: Duration = Duration::from_secs(30);

/// How long a new master that failed has between `TERM` and `KILL`.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long a new master that closed its readiness pipe unready has to
/// exit before it is stopped.
const CLOSED_GRACE: Duration = Duration::from_secs(1);

/// The variable naming the old master, in a new master's environment.
pub const UPGRADE_FROM: &str = "MPROC_UPGRADE_FROM";
/// The variable with the descriptor a new master signals its readiness
/// on (a pipe's write end, after the listeners).
pub const UPGRADE_READY_FD: &str = "MPROC_UPGRADE_READY_FD";
/// The variable with the names the old master passes, separated by `:`.
pub const UPGRADE_NAMES: &str = "MPROC_UPGRADE_NAMES";

/// The new master's side of an upgrade: the old master's pid, the names
/// it passed, and the descriptor to tell it "ready" on. Taken from the
/// environment once, first thing in `main`; given to the server with
/// [`Builder::takeover`](super::Builder::takeover), which signals
/// readiness when its workers all accept.
///
/// ```no_run
/// use mproc::daemon::{ListenFds, Pidfile};
/// use mproc::server::{Listener, Server, Takeover};
///
/// let takeover = Takeover::from_env()?; // None: not started by an upgrade
/// let mut fds = ListenFds::from_env()?; // the old master's listeners
/// let listener = match fds.take_kind(mproc::daemon::FdKind::TcpListener) {
///     Some(fd) => Listener::from_fd(fd.into_fd())?,
///     None => Listener::tcp("127.0.0.1:8080")?,
/// };
/// if let Some(t) = &takeover {
///     for name in t.names() {
///         println!("the old master passed {name}"); // open it here
///     }
/// }
/// let mut builder = Server::builder()
///     .listener(listener)
///     .pidfile(Pidfile::create("/run/echo.pid")?);
/// if let Some(t) = takeover {
///     builder = builder.takeover(t);
/// }
/// # Ok::<(), mproc::Error>(())
/// ```
#[derive(Debug)]
pub struct Takeover {
    from: Pid,
    ready: Option<OwnedFd>,
    names: Vec<String>,
}

impl Takeover {
    /// Reads [`UPGRADE_FROM`], [`UPGRADE_READY_FD`] and
    /// [`UPGRADE_NAMES`], takes the descriptor, and removes the three
    /// variables from the environment (children and programs `exec`ed
    /// later do not see them). `None` when this process was not started
    /// by an upgrade: no [`UPGRADE_FROM`], or one that does not name
    /// this process's parent (variables inherited from further up).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ThreadsRunning`] when other threads run (call it
    /// first in `main`); [`ErrorKind::InvalidArgument`] naming the
    /// variable for a value that is not a number or a descriptor that is
    /// not a pipe; `EBADF` naming the descriptor when it is not open.
    pub fn from_env() -> Result<Option<Takeover>> {
        const OP: &str = "Takeover::from_env";
        let read = |name: &'static str| std::env::var(name).ok();
        let (from, fd, names) = (
            read(UPGRADE_FROM),
            read(UPGRADE_READY_FD),
            read(UPGRADE_NAMES),
        );
        match sys::systemd::remove_env(&[UPGRADE_FROM, UPGRADE_READY_FD, UPGRADE_NAMES]) {
            Ok(Ok(())) => {}
            Ok(Err(threads)) => {
                return Err(Error::new(
                    OP,
                    Resource::Environment(UPGRADE_FROM),
                    ErrorKind::ThreadsRunning { threads },
                ));
            }
            Err(e) => return Err(Error::os(OP, Resource::Environment(UPGRADE_FROM), e)),
        }
        let Some(from) = from else { return Ok(None) };
        let bad = |name, rule| {
            Error::new(
                OP,
                Resource::Environment(name),
                ErrorKind::InvalidArgument(rule),
            )
        };
        let from = from
            .parse::<i32>()
            .ok()
            .and_then(Pid::from_raw)
            .ok_or(bad(UPGRADE_FROM, "not a pid"))?;
        if from.as_raw() != sysproc::getppid() {
            return Ok(None);
        }
        let fd = fd
            .ok_or(bad(UPGRADE_READY_FD, "absent beside MPROC_UPGRADE_FROM"))?
            .parse::<i32>()
            .map_err(|_| bad(UPGRADE_READY_FD, "not a descriptor number"))?;
        let ready = exec::take_inherited_pipe(fd).map_err(|e| match e {
            sys::Errno::EINVAL => bad(UPGRADE_READY_FD, "the descriptor is not a pipe"),
            e => Error::os(OP, Resource::Descriptor(fd), e),
        })?;
        let names = match names.as_deref() {
            None | Some("") => Vec::new(),
            Some(n) => n.split(':').map(str::to_owned).collect(),
        };
        Ok(Some(Takeover {
            from,
            ready: Some(ready),
            names,
        }))
    }

    /// The old master, which started this process and serves until this
    /// one is ready.
    pub fn old_master(&self) -> Pid {
        self.from
    }

    /// The names of the named segments and queues the old master passed
    /// ([`Builder::pass_name`](super::Builder::pass_name)), in its order:
    /// open them here instead of creating them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Tells the old master that this one is ready (one byte on the
    /// pipe, then closed): it hands over and retires. The server does it
    /// at its first [`Event::Ready`] when given the takeover; a second
    /// call does nothing.
    ///
    /// # Errors
    ///
    /// The write's refusal (`EPIPE`: the old master is gone).
    pub fn ready(&mut self) -> Result<()> {
        let Some(fd) = self.ready.take() else {
            return Ok(());
        };
        let raw = fd.as_raw_fd();
        std::fs::File::from(fd)
            .write_all(b"R")
            .map_err(|e| Error::os("Takeover::ready", Resource::Descriptor(raw), io_errno(&e)))
    }
}

fn io_errno(e: &std::io::Error) -> sys::Errno {
    e.raw_os_error()
        .map_or(sys::Errno::EIO, sys::Errno::from_raw)
}

/// A line about the upgrade: the `log` facade with the `log` feature,
/// standard error otherwise.
fn say(args: core::fmt::Arguments<'_>) {
    #[cfg(feature = "log")]
    ::log::warn!("upgrade: {args}");
    #[cfg(not(feature = "log"))]
    {
        // One write: stderr is unbuffered, and the other master's lines
        // go to the same place at the same time.
        let mut line = heapless::String::<512>::new();
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!("mproc: upgrade: {args}"));
        if line.len() == line.capacity() {
            line.pop();
        }
        let _ = line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// The old master's settings and the state of an upgrade.
#[derive(Debug)]
pub(super) struct Upgrade {
    pub(super) pidfile: Option<Pidfile>,
    pub(super) deadline: Duration,
    pub(super) names: Vec<String>,
    /// The binary and arguments to start again (those this process was
    /// started with: the path, not `/proc/self/exe`, so a binary
    /// replaced on disk is the one started).
    pub(super) program: Option<PathBuf>,
    pub(super) args: Vec<OsString>,
    pub(super) takeover: Option<Takeover>,
    state: State,
}

/// The `.oldbin` file, by path and identity (device, inode).
#[derive(Debug)]
struct OldBin {
    path: PathBuf,
    id: (u64, u64),
}

#[derive(Debug)]
enum State {
    Idle,
    /// The new master runs, not yet ready.
    Starting {
        pid: Pid,
        pidfd: Option<OwnedFd>,
        /// The pipe's read end, until it ends.
        ready: Option<std::fs::File>,
        until: Instant,
        oldbin: Option<OldBin>,
    },
    /// A failed new master is being stopped.
    Stopping {
        pid: Pid,
        pidfd: Option<OwnedFd>,
        kill_at: Instant,
    },
    /// Handed over: this master retires.
    HandedOver {
        pid: Pid,
        oldbin: Option<OldBin>,
    },
}

impl Upgrade {
    pub(super) fn new() -> Upgrade {
        Upgrade {
            pidfile: None,
            deadline: DEFAULT_UPGRADE_DEADLINE,
            names: Vec::new(),
            program: std::env::current_exe().ok(),
            args: std::env::args_os().collect(),
            takeover: None,
            state: State::Idle,
        }
    }

    /// The descriptors the master's wait watches for the upgrade.
    pub(super) fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        let (a, b) = match &self.state {
            State::Starting { pidfd, ready, .. } => (
                pidfd.as_ref().map(AsFd::as_fd),
                ready.as_ref().map(AsFd::as_fd),
            ),
            State::Stopping { pidfd, .. } => (pidfd.as_ref().map(AsFd::as_fd), None),
            _ => (None, None),
        };
        a.into_iter().chain(b)
    }

    /// The longest the master may wait before it looks at the upgrade.
    pub(super) fn timeout(&self) -> Option<Duration> {
        let at = match &self.state {
            State::Starting { until, .. } => *until,
            State::Stopping { kill_at, .. } => *kill_at,
            _ => return None,
        };
        Some(at.saturating_duration_since(Instant::now()))
    }

    /// The new master's readiness, told to the old one (at the server's
    /// first [`Event::Ready`]).
    pub(super) fn signal_ready(&mut self) {
        if let Some(t) = &mut self.takeover
            && let Err(e) = t.ready()
        {
            say(format_args!(
                "cannot tell the old master {} we are ready: {e}",
                t.from
            ));
        }
    }
}

fn oldbin_path(pidfile: &Path) -> PathBuf {
    let mut p = pidfile.as_os_str().to_owned();
    p.push(".oldbin");
    PathBuf::from(p)
}

/// Puts `<pidfile>.oldbin` back at `<pidfile>` (over what a new master
/// wrote there), if it is still the file this master renamed.
fn restore(oldbin: Option<OldBin>, pidfile: Option<&Pidfile>) {
    let (Some(old), Some(pidfile)) = (oldbin, pidfile) else {
        return;
    };
    let same = std::fs::symlink_metadata(&old.path).is_ok_and(|m| (m.dev(), m.ino()) == old.id);
    if same && let Err(e) = std::fs::rename(&old.path, pidfile.path()) {
        say(format_args!(
            "cannot rename {} back to {}: {e}",
            old.path.display(),
            pidfile.path().display()
        ));
    }
}

impl<B: WorkerBody> Server<B> {
    /// `USR2`: starts the new master (see the module docs).
    pub(super) fn begin_upgrade(&mut self, hook: &mut impl FnMut(&Server<B>, Event) -> Command) {
        match (&self.upgrade.state, self.phase) {
            (_, Phase::Draining(_)) => {
                say(format_args!("USR2 while the server drains: ignored"));
                return;
            }
            (State::Starting { pid, .. }, _) => {
                say(format_args!(
                    "an upgrade runs already (new master {pid}): USR2 ignored"
                ));
                return;
            }
            (State::Stopping { pid, .. }, _) => {
                say(format_args!(
                    "a failed upgrade is being stopped (new master {pid}): USR2 ignored"
                ));
                return;
            }
            (State::HandedOver { .. }, _) => return,
            (State::Idle, _) => {}
        }
        // A new master whose old one still runs (not yet told, or still
        // finishing its connections): one upgrade at a time, as nginx.
        if let Some(t) = &self.upgrade.takeover
            && (t.ready.is_some() || sysproc::getppid() == t.from.as_raw())
        {
            say(format_args!(
                "the old master {} still runs: USR2 ignored",
                t.from
            ));
            return;
        }
        match self.start_new_master() {
            Ok(pid) => {
                let _ = hook(self, Event::Upgrading { new_master: pid });
            }
            Err(e) => say(format_args!("not started: {e}")),
        }
    }

    fn start_new_master(&mut self) -> Result<Pid> {
        const OP: &str = "Server::upgrade";
        let up = &mut self.upgrade;
        let Some(program) = up.program.clone() else {
            return Err(Error::new(
                OP,
                Resource::CurrentProcess,
                ErrorKind::InvalidArgument("the path of this program's binary is unknown"),
            ));
        };
        let n = self.listeners.len();
        // The environment: this one, less what belongs to this process.
        let ours = [
            LISTEN_PID,
            LISTEN_FDS,
            LISTEN_FDNAMES,
            WATCHDOG_PID,
            UPGRADE_FROM,
            UPGRADE_READY_FD,
            UPGRADE_NAMES,
        ];
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| !ours.iter().any(|o| k == OsStr::new(o)))
            .collect();
        let watchdog = env.iter().any(|(k, _)| k == WATCHDOG_USEC);
        let mut set = |k: &str, v: String| env.push((k.into(), v.into()));
        set(LISTEN_FDS, n.to_string());
        let names: Vec<&str> = self.listeners.iter().map(|l| l.name()).collect();
        set(LISTEN_FDNAMES, names.join(":"));
        set(UPGRADE_FROM, sysproc::getpid().to_string());
        set(UPGRADE_READY_FD, (exec::FIRST_FD + n as i32).to_string());
        set(UPGRADE_NAMES, up.names.join(":"));
        let pid_vars: &[&str] = if watchdog {
            &[LISTEN_PID, WATCHDOG_PID]
        } else {
            &[LISTEN_PID]
        };
        let (rx, tx) = sysproc::pipe().map_err(|e| Error::os(OP, Resource::CurrentProcess, e))?;
        let mut fds: Vec<i32> = self.listeners.iter().map(AsRawFd::as_raw_fd).collect();
        fds.push(tx.as_raw_fd());
        let mut plan = exec::ExecPlan::new(program.as_os_str(), &up.args, &env, pid_vars, &fds)
            .map_err(|e| {
                Error::os(
                    OP,
                    Resource::Path("the new master's command line or environment"),
                    e,
                )
            })?;
        // The pidfile's name is the new master's from here on.
        let oldbin = match &up.pidfile {
            Some(p) => {
                let path = oldbin_path(p.path());
                std::fs::rename(p.path(), &path).map_err(|e| {
                    Error::os(
                        OP,
                        Resource::Path("the pidfile (renamed to .oldbin)"),
                        io_errno(&e),
                    )
                })?;
                let id = std::fs::symlink_metadata(&path)
                    .map(|m| (m.dev(), m.ino()))
                    .unwrap_or((0, 0));
                Some(OldBin { path, id })
            }
            None => None,
        };
        let pid = match plan.spawn() {
            Ok(pid) => Pid::from_kernel(pid),
            Err(e) => {
                restore(oldbin, up.pidfile.as_ref());
                return Err(Error::os(OP, Resource::CurrentProcess, e));
            }
        };
        drop(tx);
        say(format_args!(
            "started the new master {pid} ({})",
            program.display()
        ));
        up.state = State::Starting {
            pid,
            pidfd: sysproc::pidfd_open(pid.as_raw()).ok(),
            ready: Some(std::fs::File::from(rx)),
            until: Instant::now() + up.deadline,
            oldbin,
        };
        Ok(pid)
    }

    /// Looks at a running upgrade: the hand-over ([`Command::Retire`] to
    /// apply), a failure (rolled back), a failed master's end.
    pub(super) fn watch_upgrade(
        &mut self,
        hook: &mut impl FnMut(&Server<B>, Event) -> Command,
    ) -> Command {
        let now = Instant::now();
        match &mut self.upgrade.state {
            State::Idle | State::HandedOver { .. } => Command::Continue,
            State::Stopping { pid, kill_at, .. } => {
                match process::try_waitpid(*pid) {
                    Ok(None) if now >= *kill_at => {
                        let _ = sysproc::kill(pid.as_raw(), Signal::KILL.as_raw());
                        *kill_at = now + STOP_GRACE;
                    }
                    Ok(None) => {}
                    Ok(Some(_)) | Err(_) => self.upgrade.state = State::Idle,
                }
                Command::Continue
            }
            State::Starting {
                pid, ready, until, ..
            } => {
                let pid = *pid;
                let why: heapless::String<96>;
                let mut byte = [0u8; 1];
                let got = match ready {
                    Some(r) if sys::poll_readable(r.as_fd(), Some(Duration::ZERO)) == Ok(true) => {
                        Some(matches!(r.read(&mut byte), Ok(1)))
                    }
                    _ => None,
                };
                if got == Some(false) {
                    // Closed without a word: an exit under way (its
                    // descriptors close before it can be reaped), or a
                    // master that closed it and runs on. The exit is
                    // waited for a moment on the pidfd.
                    *ready = None;
                    *until = (*until).min(now + CLOSED_GRACE);
                }
                if got == Some(true) {
                    let State::Starting { oldbin, .. } =
                        std::mem::replace(&mut self.upgrade.state, State::Idle)
                    else {
                        return Command::Continue;
                    };
                    self.upgrade.state = State::HandedOver { pid, oldbin };
                    say(format_args!(
                        "the new master {pid} is ready: this one retires"
                    ));
                    let _ = hook(self, Event::Upgraded { new_master: pid });
                    return Command::Retire;
                }
                match process::try_waitpid(pid) {
                    Ok(Some(code)) => {
                        why = fmt96(format_args!(
                            "the new master exited (code {code}) before it was ready"
                        ));
                        self.fail_upgrade(&why, true, hook);
                    }
                    Err(_) => {
                        why = fmt96(format_args!("the new master is gone before it was ready"));
                        self.fail_upgrade(&why, true, hook);
                    }
                    Ok(None) if now >= *until && ready.is_none() => {
                        why = fmt96(format_args!(
                            "the new master closed its readiness pipe without being ready"
                        ));
                        self.fail_upgrade(&why, false, hook);
                    }
                    Ok(None) if now >= *until => {
                        why = fmt96(format_args!(
                            "the new master was not ready within {:?}",
                            self.upgrade.deadline
                        ));
                        self.fail_upgrade(&why, false, hook);
                    }
                    Ok(None) => {}
                }
                Command::Continue
            }
        }
    }

    /// Rolls a running upgrade back, if one runs: the server stops.
    pub(super) fn abort_upgrade(&mut self, hook: &mut impl FnMut(&Server<B>, Event) -> Command) {
        if matches!(self.upgrade.state, State::Starting { .. }) {
            self.fail_upgrade("this master was told to stop", false, hook);
        }
    }

    /// The rollback: the pidfile back, the new master stopped (`reaped`:
    /// it is gone already).
    fn fail_upgrade(
        &mut self,
        why: &str,
        reaped: bool,
        hook: &mut impl FnMut(&Server<B>, Event) -> Command,
    ) {
        let State::Starting {
            pid, pidfd, oldbin, ..
        } = std::mem::replace(&mut self.upgrade.state, State::Idle)
        else {
            return;
        };
        restore(oldbin, self.upgrade.pidfile.as_ref());
        say(format_args!(
            "rolled back, this master ({}) serves on: {why}",
            sysproc::getpid()
        ));
        if !reaped {
            let _ = sysproc::kill(pid.as_raw(), Signal::TERM.as_raw());
            self.upgrade.state = State::Stopping {
                pid,
                pidfd,
                kill_at: Instant::now() + STOP_GRACE,
            };
        }
        let _ = hook(self, Event::UpgradeFailed { new_master: pid });
    }

    /// At the end of `serve`: after a hand-over, `<pidfile>.oldbin`
    /// removed and the end told as [`Stopped::Upgraded`]; a failed new
    /// master still running is killed and reaped.
    pub(super) fn finish_upgrade(&mut self, end: Stopped) -> Stopped {
        match std::mem::replace(&mut self.upgrade.state, State::Idle) {
            State::HandedOver { pid, oldbin } => {
                if let Some(old) = oldbin
                    && std::fs::symlink_metadata(&old.path)
                        .is_ok_and(|m| (m.dev(), m.ino()) == old.id)
                {
                    let _ = std::fs::remove_file(&old.path);
                }
                let killed = match end {
                    Stopped::GraceRanOut { killed } => killed,
                    _ => 0,
                };
                Stopped::Upgraded {
                    new_master: pid,
                    killed,
                }
            }
            State::Starting { pid, oldbin, .. } => {
                restore(oldbin, self.upgrade.pidfile.as_ref());
                let _ = sysproc::kill(pid.as_raw(), Signal::KILL.as_raw());
                let _ = process::waitpid(pid);
                end
            }
            State::Stopping { pid, .. } => {
                let _ = sysproc::kill(pid.as_raw(), Signal::KILL.as_raw());
                let _ = process::waitpid(pid);
                end
            }
            State::Idle => end,
        }
    }
}

/// A reason, formatted on the stack.
fn fmt96(args: core::fmt::Arguments<'_>) -> heapless::String<96> {
    let mut s = heapless::String::new();
    let _ = core::fmt::Write::write_fmt(&mut s, args);
    s
}
