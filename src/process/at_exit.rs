//! Joining children when a process ends: Python's
//! `multiprocessing.util._exit_function`.
//!
//! Python registers `_exit_function` with `atexit` when `multiprocessing`
//! is imported, and a child process runs it when its target returns. It
//! terminates the daemonic children and joins every child, so a main
//! program that starts processes and returns ends after them. Here the
//! first [`Process::start`](super::Process::start) of a process registers
//! [`hook`] with the C library's `atexit` (the registration and the
//! [`ARMED`] flag are inherited together by a forked child, and dropped
//! together by `execve`), and a [`Process`](super::Process) child runs
//! [`join_children`] when its target returns or panics. `_exit`
//! ([`process::exit`](super::exit)) and death by a signal skip it.
//!
//! [`join_children`]:
//! 1. sends `SIGTERM` to every daemonic child still running (Python's
//!    `p.terminate()`);
//! 2. joins every non-daemonic child, without a time limit (Python's
//!    `p.join()`);
//! 3. joins the daemonic children, allowing them [`DAEMON_GRACE`] from
//!    there, then `SIGKILL`s and reaps those left (Python joins them
//!    without a limit; a daemonic child that blocks `SIGTERM`, as a
//!    daemon's own loop does, would hold the exit for ever, and its
//!    `PR_SET_PDEATHSIG` would `SIGKILL` it a moment later anyway).
//!
//! It allocates nothing and takes only the child table's spin lock, which
//! no thread holds across a blocking call, so it is safe to run from
//! `exit` while other threads still run; it reaps only the children in
//! this process's table (those started by [`Process`](super::Process),
//! the pool's workers and the manager's server among them; never a child
//! of a plain [`fork`](super::fork)).

use std::os::fd::AsFd as _;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use super::registry;
use crate::config::MAX_CHILDREN;
use crate::signal::Signal;
use crate::sys;
use crate::sys::process as sysproc;

/// How long daemonic children have, after the non-daemonic ones are
/// joined, to end of the `SIGTERM` sent at the start of the exit.
pub(super) const DAEMON_GRACE: Duration = Duration::from_secs(1);

/// The switch of [`super::set_join_at_exit`]: inherited by forked children.
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Whether [`hook`] is registered with `atexit` in this process (a forked
/// child inherits both the flag and the registration).
static ARMED: AtomicBool = AtomicBool::new(false);

/// The process that last started a child through the table: a child that
/// inherits another pid here has started none, and its exit need not look
/// at the table (nor fault its pages in).
static STARTER: AtomicI32 = AtomicI32::new(0);

/// Sets the switch.
pub(super) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Reads the switch.
pub(super) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Called by the parent before each fork of a child it tracks: registers
/// the hook once per process and notes that this process has children.
/// Writes nothing when both are done already (copy-on-write memory).
pub(super) fn arm(me: i32) {
    if STARTER.load(Ordering::Relaxed) != me {
        STARTER.store(me, Ordering::Relaxed);
    }
    if !ARMED.load(Ordering::Relaxed) && !ARMED.swap(true, Ordering::Relaxed) {
        // Without room in the C library's table (ENOMEM) the program ends
        // without joining, as before: nothing better to do here.
        if sysproc::at_exit(hook).is_err() {
            ARMED.store(false, Ordering::Relaxed);
        }
    }
}

/// The `atexit` hook. Must not panic (a panic through `extern "C"` aborts):
/// nothing below indexes out of bounds or unwraps.
extern "C" fn hook() {
    join_children();
}

/// [`join_children`] at the end of a [`Process`](super::Process) child
/// forked by `parent`: nothing to do, without even a `getpid`, when the
/// mark of the last starter is still the parent's (the child started no
/// child of its own).
pub(super) fn join_children_of_child(parent: i32) {
    if STARTER.load(Ordering::Relaxed) != parent {
        join_children();
    }
}

/// Python's `_exit_function`: see the module docs.
pub(super) fn join_children() {
    if !enabled() || STARTER.load(Ordering::Relaxed) != sysproc::getpid() {
        return;
    }
    for index in 0..MAX_CHILDREN {
        if let Some((pid, true)) = registry::running(index) {
            // Under the table lock: the child is not reaped, so the pid is
            // still its own.
            registry::with_unreaped(index, pid, || {
                let _ = sysproc::kill(pid, Signal::TERM.as_raw());
            });
        }
    }
    for index in 0..MAX_CHILDREN {
        if let Some((pid, false)) = registry::running(index) {
            let _ = registry::reap(index, pid, true);
            registry::forget_if_detached(index);
        }
    }
    let deadline = Instant::now() + DAEMON_GRACE;
    for index in 0..MAX_CHILDREN {
        if let Some((pid, true)) = registry::running(index) {
            reap_by(index, pid, deadline);
            registry::forget_if_detached(index);
        }
    }
}

/// Reaps the child in slot `index`, `SIGKILL`ing it at `deadline`.
fn reap_by(index: usize, pid: i32, deadline: Instant) {
    let pidfd = registry::with_unreaped(index, pid, || sysproc::pidfd_open(pid).ok()).flatten();
    loop {
        match registry::reap(index, pid, false) {
            Ok(registry::Status::Running) => {}
            _ => return,
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            registry::with_unreaped(index, pid, || {
                let _ = sysproc::kill(pid, Signal::KILL.as_raw());
            });
            let _ = registry::reap(index, pid, true);
            return;
        }
        match &pidfd {
            Some(fd) => {
                let _ = sys::poll_readable(fd.as_fd(), Some(left));
            }
            // No pidfd (a kernel before 5.3): look again in a millisecond.
            None => std::thread::sleep(left.min(Duration::from_millis(1))),
        }
    }
}
