//! [`Notifier`]: systemd's notify protocol (`sd_notify(3)`), without
//! libsystemd.
//!
//! The protocol is one datagram per state change, sent to the `AF_UNIX`
//! socket named by `$NOTIFY_SOCKET`: newline-separated `KEY=value`
//! assignments (`READY=1`, `STATUS=…`, `WATCHDOG=1`…). It is small
//! enough to write here, and writing it keeps the hot path (a watchdog
//! ping, a status line) to one `sendto(2)` from a stack buffer: no
//! allocation, no registry crate.

use std::os::fd::OwnedFd;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Resource, Result, SegmentName};
use crate::process::Pid;
use crate::sys::{Errno, socket, systemd};

/// The longest message systemd reads (its receive buffer is `PIPE_BUF`,
/// 4096 bytes; a longer datagram is ignored there), and so the most a
/// [`Notifier`] sends at once.
pub const NOTIFY_MAX: usize = 4096;

/// How long a send waits for room in the receiver's queue before it fails
/// with [`ErrorKind::Timeout`] (systemd reads its notify socket at once;
/// a full queue means the manager is wedged, and a daemon's main loop
/// should not hang with it).
pub const NOTIFY_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The environment variable naming the notify socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// What to do with the environment variables a systemd protocol reads,
/// once read (`sd_notify`'s and `sd_watchdog_enabled`'s
/// `unset_environment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Env {
    /// Leave them: programs this process `exec`s (among them a new binary
    /// of its own on an upgrade) see them too. The default.
    #[default]
    Keep,
    /// Remove them from the environment, so nothing `exec`ed from here on
    /// sees them. Allowed in a single-threaded process only (changing the
    /// environment while another thread may read it is undefined
    /// behaviour): elsewhere [`ErrorKind::ThreadsRunning`].
    Remove,
}

/// Removes `names` from the environment (see [`Env::Remove`]).
pub(crate) fn remove_env(op: &'static str, names: &[&str], what: &'static str) -> Result<()> {
    match systemd::remove_env(names) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(threads)) => Err(Error::new(
            op,
            Resource::Environment(what),
            ErrorKind::ThreadsRunning { threads },
        )),
        Err(e) => Err(Error::os(op, Resource::Environment(what), e)),
    }
}

/// The longest notify socket address (`@` and an abstract name, or a
/// path).
const ADDRESS_LEN: usize = socket::ADDRESS_MAX + 1;

/// A sender of systemd's notify protocol (`sd_notify(3)`): tells the
/// service manager that the daemon is ready, reloading or stopping, what
/// it is doing (`STATUS=`), and that it is alive (`WATCHDOG=1`).
///
/// Made from `$NOTIFY_SOCKET` ([`Notifier::from_env`]) or an explicit
/// address ([`Notifier::to`]): a path (`/run/systemd/notify`) or a name in
/// Linux's abstract namespace (`@name`). Outside systemd, where the
/// variable is absent, it is a no-op notifier ([`Notifier::is_enabled`]
/// says which) whose calls check their input and succeed, so a daemon
/// runs the same code under systemd and in a terminal.
///
/// It holds one unbound `SOCK_DGRAM` socket (close-on-exec), opened once;
/// each call builds its message on the stack and sends one datagram to
/// the address, looked up afresh each time (a manager that re-executes
/// itself re-binds its socket). Sending allocates nothing.
///
/// systemd accepts messages from the service's main process only, unless
/// the unit says `NotifyAccess=all`: a forked worker inherits the
/// notifier, but its messages are ignored under `NotifyAccess=main`.
///
/// ```no_run
/// use mproc::daemon::Notifier;
///
/// let notifier = Notifier::from_env()?;
/// // … open the listeners, fork the workers …
/// notifier.ready_with_status("serving on :8000 with 4 workers")?;
/// # Ok::<(), mproc::Error>(())
/// ```
#[derive(Debug)]
#[doc(alias = "sd_notify")]
pub struct Notifier {
    target: Option<Target>,
}

#[derive(Debug)]
struct Target {
    socket: OwnedFd,
    /// As given: `/path` or `@name`.
    address: heapless::String<ADDRESS_LEN>,
}

impl Target {
    fn parsed(&self) -> socket::Address<'_> {
        match self.address.as_bytes() {
            [b'@', name @ ..] => socket::Address::Abstract(name),
            path => socket::Address::Path(path),
        }
    }

    fn resource(&self) -> Resource {
        Resource::Socket(SegmentName::new(&self.address))
    }
}

/// A message being built, on the stack.
struct Message {
    buf: [u8; NOTIFY_MAX],
    len: usize,
    /// The length it would have had (past `NOTIFY_MAX` when it did not
    /// fit).
    wanted: usize,
}

impl Message {
    fn new() -> Message {
        Message {
            buf: [0; NOTIFY_MAX],
            len: 0,
            wanted: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl core::fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.wanted += s.len();
        let room = NOTIFY_MAX - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

fn text_error(op: &'static str, what: &'static str, len: usize, rule: &'static str) -> Error {
    Error::new(
        op,
        Resource::Text { what, len },
        ErrorKind::InvalidArgument(rule),
    )
}

/// Refuses a `STATUS=` text that would break the message apart.
fn check_status(op: &'static str, text: &str) -> Result<()> {
    if text.contains('\n') {
        return Err(text_error(
            op,
            "a STATUS= text",
            text.len(),
            "a status may not hold a newline (it would end the assignment; \
             replace it, e.g. with \"; \")",
        ));
    }
    if text.contains('\0') {
        return Err(text_error(
            op,
            "a STATUS= text",
            text.len(),
            "a status may not hold a NUL byte (systemd ignores such messages)",
        ));
    }
    Ok(())
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names, or a no-op one when the
    /// variable is absent or empty (not started by systemd, or the unit
    /// is not `Type=notify`). The variable stays in the environment
    /// ([`Env::Keep`]): a program this process `exec`s, such as its own
    /// new binary on a zero-downtime upgrade, needs it to report its
    /// `MAINPID` and readiness.
    ///
    /// # Errors
    ///
    /// As [`Notifier::to`], naming the variable's value; the socket's
    /// creation.
    #[doc(alias = "sd_notify")]
    pub fn from_env() -> Result<Notifier> {
        Notifier::from_env_with(Env::Keep)
    }

    /// [`Notifier::from_env`], then removes `NOTIFY_SOCKET` from the
    /// environment if `env` says so (`sd_notify`'s `unset_environment`).
    ///
    /// # Errors
    ///
    /// As [`Notifier::from_env`]; with [`Env::Remove`],
    /// [`ErrorKind::ThreadsRunning`] when other threads run (nothing is
    /// removed; the notifier is not made).
    pub fn from_env_with(env: Env) -> Result<Notifier> {
        const OP: &str = "Notifier::from_env";
        let notifier = match std::env::var_os(NOTIFY_SOCKET) {
            None => Notifier::disabled(),
            Some(v) if v.is_empty() => Notifier::disabled(),
            Some(v) => {
                let Some(address) = v.to_str() else {
                    return Err(Error::new(
                        OP,
                        Resource::Environment(NOTIFY_SOCKET),
                        ErrorKind::InvalidArgument("the address is not UTF-8"),
                    ));
                };
                Notifier::to(address)?
            }
        };
        if env == Env::Remove {
            remove_env(OP, &[NOTIFY_SOCKET], NOTIFY_SOCKET)?;
        }
        Ok(notifier)
    }

    /// A notifier that sends to `address`: a path that starts with `/`, or
    /// `@name` for a name in the abstract namespace (systemd's two
    /// spellings in `$NOTIFY_SOCKET`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an address of neither form (an
    /// empty one, a relative path, `vsock:`, which this crate does not
    /// speak) or with a NUL byte; [`ErrorKind::CapacityExceeded`] past 107
    /// bytes of name or path; the kernel's refusal of a socket.
    pub fn to(address: &str) -> Result<Notifier> {
        const OP: &str = "Notifier::to";
        let resource = Resource::Socket(SegmentName::new(address));
        let name = match address.as_bytes() {
            [b'/', ..] => address.as_bytes(),
            [b'@', name @ ..] if !name.is_empty() => name,
            _ => {
                return Err(Error::new(
                    OP,
                    resource,
                    ErrorKind::InvalidArgument(
                        "a notify socket is a path (/…) or an abstract name (@…)",
                    ),
                ));
            }
        };
        if name.contains(&0) {
            return Err(Error::new(
                OP,
                resource,
                ErrorKind::InvalidArgument("a notify socket address may not hold a NUL byte"),
            ));
        }
        if name.len() > socket::ADDRESS_MAX {
            return Err(Error::new(
                OP,
                resource,
                ErrorKind::CapacityExceeded {
                    limit: socket::ADDRESS_MAX,
                },
            ));
        }
        let mut kept = heapless::String::new();
        // Fits: checked against ADDRESS_MAX (+1 for the '@') just above.
        let _ = kept.push_str(address);
        let socket =
            systemd::notify_socket(NOTIFY_SEND_TIMEOUT).map_err(|e| Error::os(OP, resource, e))?;
        Ok(Notifier {
            target: Some(Target {
                socket,
                address: kept,
            }),
        })
    }

    /// The no-op notifier: every call checks its input and sends nothing.
    pub const fn disabled() -> Notifier {
        Notifier { target: None }
    }

    /// Whether messages go anywhere: `false` for the no-op notifier (no
    /// `$NOTIFY_SOCKET`).
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The address messages go to, as given (`/path` or `@name`).
    pub fn address(&self) -> Option<&str> {
        self.target.as_ref().map(|t| t.address.as_str())
    }

    /// Sends `READY=1`: start-up is finished (for `Type=notify`, systemd
    /// starts the units ordered after this one now). Also after a reload,
    /// once [`Notifier::reloading`] was sent.
    ///
    /// # Errors
    ///
    /// As [`Notifier::notify`].
    pub fn ready(&self) -> Result<()> {
        self.send("Notifier::ready", format_args!("READY=1"))
    }

    /// Sends `READY=1` and `STATUS=<status>` in one message.
    ///
    /// # Errors
    ///
    /// As [`Notifier::status`].
    pub fn ready_with_status(&self, status: &str) -> Result<()> {
        const OP: &str = "Notifier::ready_with_status";
        check_status(OP, status)?;
        self.send(OP, format_args!("READY=1\nSTATUS={status}"))
    }

    /// Sends `STATUS=<text>`: a line `systemctl status` shows.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a text with a newline (which
    /// would end the assignment and start another: the caller replaces it,
    /// the notifier does not guess how) or a NUL byte; as
    /// [`Notifier::notify`].
    pub fn status(&self, text: &str) -> Result<()> {
        const OP: &str = "Notifier::status";
        check_status(OP, text)?;
        self.send(OP, format_args!("STATUS={text}"))
    }

    /// Sends `RELOADING=1` with `MONOTONIC_USEC=<now>` (`CLOCK_MONOTONIC`
    /// in µs, which `Type=notify-reload` requires): the daemon reloads its
    /// configuration; [`Notifier::ready`] says when it is done.
    ///
    /// # Errors
    ///
    /// As [`Notifier::notify`].
    pub fn reloading(&self) -> Result<()> {
        let now = systemd::monotonic_us();
        self.send(
            "Notifier::reloading",
            format_args!("RELOADING=1\nMONOTONIC_USEC={now}"),
        )
    }

    /// Sends `STOPPING=1`: the daemon is shutting down.
    ///
    /// # Errors
    ///
    /// As [`Notifier::notify`].
    pub fn stopping(&self) -> Result<()> {
        self.send("Notifier::stopping", format_args!("STOPPING=1"))
    }

    /// Sends `MAINPID=<pid>`: the service's main process is now `pid`
    /// (after a binary upgrade, the new master). Under `NotifyAccess=main`
    /// only the current main process is heard, so the old master names the
    /// new one; the new master's `READY=1` counts from then on.
    ///
    /// # Errors
    ///
    /// As [`Notifier::notify`].
    pub fn mainpid(&self, pid: Pid) -> Result<()> {
        self.send("Notifier::mainpid", format_args!("MAINPID={pid}"))
    }

    /// Sends `WATCHDOG=1`: the daemon is alive. [`Watchdog`](super::Watchdog)
    /// says when, and only while the caller says the daemon is healthy.
    ///
    /// # Errors
    ///
    /// As [`Notifier::notify`].
    pub fn watchdog(&self) -> Result<()> {
        self.send("Notifier::watchdog", format_args!("WATCHDOG=1"))
    }

    /// Sends `EXTEND_TIMEOUT_USEC=<µs>`: asks for `timeout` more to finish
    /// starting, reloading or stopping.
    ///
    /// # Errors
    ///
    /// As [`Notifier::notify`].
    pub fn extend_timeout(&self, timeout: Duration) -> Result<()> {
        let us = timeout.as_micros();
        self.send(
            "Notifier::extend_timeout",
            format_args!("EXTEND_TIMEOUT_USEC={us}"),
        )
    }

    /// Sends `state` as it is: one or more `KEY=value` lines separated by
    /// newlines, for assignments without a method here (`ERRNO=`,
    /// `FDSTORE=1` without descriptors, `NOTIFYACCESS=`…).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an empty state or one with a NUL
    /// byte; [`ErrorKind::MessageSize`] past [`NOTIFY_MAX`] bytes;
    /// [`ErrorKind::NotFound`] when nobody is bound at the address (the
    /// manager is gone); [`ErrorKind::Timeout`] when the manager's queue
    /// stayed full for [`NOTIFY_SEND_TIMEOUT`]; the kernel's other
    /// refusals, each naming the socket. Nothing is sent on an error.
    pub fn notify(&self, state: &str) -> Result<()> {
        const OP: &str = "Notifier::notify";
        if state.is_empty() || state.contains('\0') {
            return Err(text_error(
                OP,
                "a notify state",
                state.len(),
                "a state is one or more KEY=value lines, without NUL bytes",
            ));
        }
        self.send(OP, format_args!("{state}"))
    }

    /// Builds the message on the stack and sends it as one datagram.
    fn send(&self, op: &'static str, args: core::fmt::Arguments<'_>) -> Result<()> {
        let mut msg = Message::new();
        let _ = core::fmt::Write::write_fmt(&mut msg, args);
        let resource = || match &self.target {
            Some(t) => t.resource(),
            None => Resource::Environment(NOTIFY_SOCKET),
        };
        if msg.wanted > NOTIFY_MAX {
            return Err(Error::new(
                op,
                resource(),
                ErrorKind::MessageSize {
                    size: msg.wanted,
                    capacity: NOTIFY_MAX,
                },
            ));
        }
        let Some(target) = &self.target else {
            return Ok(());
        };
        systemd::send_to(&target.socket, target.parsed(), msg.bytes()).map_err(|e| match e {
            Errno::EAGAIN => Error::new(op, target.resource(), ErrorKind::Timeout),
            Errno::ECONNREFUSED | Errno::ENOENT => {
                Error::new(op, target.resource(), ErrorKind::NotFound)
            }
            e => Error::os(op, target.resource(), e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_neither_form_are_refused() {
        for bad in ["", "@", "relative/path", "vsock:2:1234", "/a\0b"] {
            let e = Notifier::to(bad).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::InvalidArgument(_)),
                "{bad:?}: {e}"
            );
        }
        let long = format!("/{}", "x".repeat(socket::ADDRESS_MAX));
        assert_eq!(
            Notifier::to(&long).unwrap_err().kind(),
            ErrorKind::CapacityExceeded {
                limit: socket::ADDRESS_MAX
            }
        );
        let n = Notifier::to("@mproc-unit").unwrap();
        assert!(n.is_enabled());
        assert_eq!(n.address(), Some("@mproc-unit"));
    }

    #[test]
    fn a_disabled_notifier_checks_its_input_and_sends_nothing() {
        let n = Notifier::disabled();
        assert!(!n.is_enabled());
        assert_eq!(n.address(), None);
        n.ready().unwrap();
        n.status("fine").unwrap();
        assert!(matches!(
            n.status("two\nlines").unwrap_err().kind(),
            ErrorKind::InvalidArgument(_)
        ));
        assert!(matches!(
            n.notify("").unwrap_err().kind(),
            ErrorKind::InvalidArgument(_)
        ));
        let big = "x".repeat(NOTIFY_MAX);
        assert_eq!(
            n.status(&big).unwrap_err().kind(),
            ErrorKind::MessageSize {
                size: NOTIFY_MAX + "STATUS=".len(),
                capacity: NOTIFY_MAX
            }
        );
    }

    #[test]
    fn nobody_bound_at_the_address_is_not_found() {
        let n = Notifier::to("@mproc-nobody-listens-here-0f3a").unwrap();
        let e = n.ready().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(
            e.to_string().contains("@mproc-nobody-listens-here-0f3a"),
            "{e}"
        );
    }
}
