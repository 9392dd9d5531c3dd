//! Processes: `fork`, [`Process`], and the process-wide queries of Python's
//! `multiprocessing` (`current_process`, `parent_process`,
//! `active_children`, `cpu_count`).
//!
//! # Python names
//!
//! `multiprocessing.Process(target=f, name=…, daemon=…)` is
//! [`Process::new`]`(f)` with [`Process::with_name`] and [`Process::daemon`];
//! `os.fork` is [`fork`]; `os.waitpid` is [`waitpid`]. The target is a Rust
//! closure run in the forked child: whatever it captures travels by `fork`
//! (the child has a copy of the parent's memory), so nothing is pickled and
//! no `'static` or `Send` bound applies.
//!
//! # A process defined by a type
//!
//! Python's other way to make a process, a subclass of `Process` that
//! overrides `run()`, is a type of your own implementing [`Run`]:
//! [`Process::from_run`] (or [`Run::into_process`]) makes it a
//! [`Process`] whose target is its `run`, and calling `run` directly runs
//! it in the current process, as Python's `p.run()` does.
//!
//! ```python
//! class Greeter(Process):
//!     def __init__(self, n):
//!         super().__init__()
//!         self.n = n
//!     def run(self):
//!         print("hello", self.n, "from", os.getpid())
//!
//! p = Greeter(3); p.start(); p.join()   # in a child
//! Greeter(4).run()                      # here
//! ```
//!
//! ```no_run
//! use mproc::process::{self, Process, Run};
//!
//! struct Greeter {
//!     n: u32,
//! }
//!
//! impl Run for Greeter {
//!     fn run(&mut self) {
//!         println!("hello {} from {}", self.n, process::getpid());
//!     }
//! }
//!
//! let mut p = Process::from_run(Greeter { n: 3 }); // or Greeter { n: 3 }.into_process()
//! p.start()?;
//! assert_eq!(p.join()?, 0);
//! Greeter { n: 4 }.run();
//! # Ok::<(), mproc::Error>(())
//! ```
//!
//! `super().__init__(name=…, daemon=…)` becomes
//! [`with_name`](Process::with_name) and [`daemon`](Process::daemon) on the
//! handle. The value moves into the handle and, at
//! [`start`](Process::start), into the child; the parent's copy is
//! dropped, so what the child computes comes back the way a target's
//! result does (shared memory, a pipe, a queue), as in Python, where the
//! child's changes to `self` are not seen by the parent either.
//!
//! # The thread policy
//!
//! [`fork`] and [`Process::start`] refuse, with
//! [`ErrorKind::ThreadsRunning`], to fork a process that runs more than one
//! thread: the child would inherit every lock those threads held at that
//! instant (the allocator's arenas are safe with glibc, but stdout's lock,
//! `std::env`'s lock, a logger's mutex are not) and could deadlock on its
//! first `println!`. Fork the workers first, then start threads — the shape
//! of a pre-fork daemon. A program that must fork with threads running opts
//! in with the `unsafe` [`fork_with_threads`] or
//! [`Process::start_with_threads`], promising that the child takes no lock
//! another thread may hold.
//!
//! # When a process ends: its children first
//!
//! Python's `multiprocessing` registers an `atexit` handler that, when the
//! main program ends, terminates the daemonic children and joins the
//! others, and a child runs the same after its target: a parent does not
//! end while the children it did not stop still run. Here:
//!
//! - The first [`Process::start`] of a process registers a C `atexit`
//!   hook. When the process exits normally — `main` returns, a panic
//!   unwinds out of `main` (after the panic message), or
//!   `std::process::exit` — the hook sends `SIGTERM` to the daemonic
//!   children, joins the non-daemonic ones for as long as they run, then
//!   joins the daemonic ones, `SIGKILL`ing those still there after one
//!   second (Python joins them without a limit; a daemon that blocks
//!   `SIGTERM` would hold the exit for ever).
//! - A [`Process`] child does the same when its target returns or panics,
//!   before its `_exit`.
//! - [`exit`] (`_exit`, Python's `os._exit`), `panic = "abort"`, and death
//!   by a signal skip it. Children of a plain [`fork`] are not joined (as
//!   Python's `os.fork` children are not).
//! - It covers every child this process tracks — handles dropped
//!   included, and so a [`Pool`](crate::pool::Pool)'s workers and a
//!   [`Manager`](crate::manager::Manager)'s server still running (both
//!   daemonic children). A forked child has its own table, so the hook it
//!   inherits joins only the children it started itself.
//! - The opt-out is [`set_join_at_exit`]`(false)`: the process then ends
//!   at once and its non-daemonic children run on, as with
//!   `std::process::Child`.
//!
//! The hook allocates nothing and takes only the child table's spin lock
//! (never held across a blocking call), so threads still running at exit
//! cannot deadlock it.
//!
//! # Daemonic processes
//!
//! A [`daemon`](Process::daemon) child is `SIGKILL`ed when its parent dies,
//! by any cause (`PR_SET_PDEATHSIG`). Linux sends that signal when the
//! parent *thread* that forked the child ends, not the parent process:
//! start daemonic children — and so pools and managers — from the main
//! thread or a thread that lives as long as they should. Python's rule
//! "daemonic processes are not allowed to have children" holds:
//! [`Process::start`] in a daemonic process fails with
//! [`ErrorKind::DaemonicParent`], and so do [`Pool`](crate::pool::Pool)
//! and [`Manager`](crate::manager::Manager), whose workers and server are
//! daemonic children (Python refuses them there too). A plain [`fork`]
//! stays allowed.

mod at_exit;
mod handle;
mod lineage;
mod registry;
mod run;

pub use handle::Process;
pub use lineage::{Name, ParentProcess, ProcessInfo, current_process, parent_process};
pub use run::Run;

use lineage::prepare_lineage;

use core::fmt;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::MAX_CHILDREN;
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys::process::{self as sysproc, ForkPermit};
use crate::sys::{self, Errno};

/// A process id: always positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(i32);

impl Pid {
    /// The pid `raw`, or `None` unless it is positive (0 and negative
    /// numbers name process groups or "every process" in `kill(2)`, not a
    /// process).
    pub const fn from_raw(raw: i32) -> Option<Pid> {
        if raw > 0 { Some(Pid(raw)) } else { None }
    }

    /// The number, as the C API takes it.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    pub(crate) fn from_kernel(raw: i32) -> Pid {
        // The kernel only hands out positive pids.
        Pid(raw.max(1))
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `getpid(2)`: the calling process's pid. Python's `os.getpid`.
#[doc(alias = "os.getpid")]
pub fn getpid() -> Pid {
    Pid::from_kernel(sysproc::getpid())
}

/// `getppid(2)`: the parent's pid. Python's `os.getppid`. After the parent
/// dies this is the pid of the process that adopted this one (init or a
/// subreaper).
#[doc(alias = "os.getppid")]
pub fn getppid() -> Pid {
    Pid::from_kernel(sysproc::getppid())
}

/// `getpgrp(2)`: the calling process's process group, for
/// [`killpg`](crate::signal::killpg).
pub fn getpgrp() -> Pid {
    Pid::from_kernel(sysproc::getpgrp())
}

/// `setpgid(2)`: moves the process `pid` — the caller or one of its
/// children that has not called `exec` — into the process group `pgid`
/// of the same session (`pgid == pid`: a new group that `pid` leads).
/// Python's `os.setpgid`. A supervisor puts a child and everything the
/// child forks in a group of their own, to signal them all at once with
/// [`killpg`](crate::signal::killpg); calling it in both the parent and
/// the child, as shells do, closes the race with the parent's first
/// `killpg`.
///
/// # Errors
///
/// [`ErrorKind::NoSuchProcess`] when `pid` is neither the caller nor one
/// of its children; [`ErrorKind::PermissionDenied`] for a child that has
/// called `exec` or is in another session, or a group of another session.
#[doc(alias = "os.setpgid")]
pub fn setpgid(pid: Pid, pgid: Pid) -> Result<()> {
    sysproc::setpgid(pid.as_raw(), pgid.as_raw())
        .map_err(|e| Error::os("setpgid", Resource::Pid(pid), e))
}

/// `setpgid(0, 0)`: makes the calling process the leader of a new process
/// group, which the children it forks from now on join. Python's
/// `os.setpgrp`.
///
/// # Errors
///
/// [`ErrorKind::PermissionDenied`] for a session leader, which cannot
/// leave its group.
#[doc(alias = "os.setpgrp")]
pub fn setpgrp() -> Result<()> {
    sysproc::setpgid(0, 0).map_err(|e| Error::os("setpgid", Resource::CurrentProcess, e))
}

/// `prctl(PR_SET_CHILD_SUBREAPER)`: makes the calling process adopt its
/// orphaned descendants (instead of init), so it can reap them with
/// [`waitpid`] and learn how they ended. A supervisor's tool: a daemon
/// whose worker dies leaves the worker's own children to it.
///
/// # Errors
///
/// Only if the kernel refuses, which Linux 3.4 and later do not.
pub fn set_child_subreaper(on: bool) -> Result<()> {
    sysproc::set_child_subreaper(on)
        .map_err(|e| Error::os("prctl(PR_SET_CHILD_SUBREAPER)", Resource::CurrentProcess, e))
}

/// Whether a process with this pid exists (`kill(pid, 0)`), including one
/// that belongs to another user and zombies not yet reaped.
///
/// # Errors
///
/// Only for an errno other than `ESRCH` and `EPERM`, which the kernel does
/// not return here.
pub fn exists(pid: Pid) -> Result<bool> {
    match sysproc::kill(pid.as_raw(), 0) {
        Ok(()) | Err(Errno::EPERM) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(Error::os("kill(0)", Resource::Pid(pid), e)),
    }
}

/// The number of CPUs online, as Python's `multiprocessing.cpu_count()`
/// and `os.cpu_count()` report it (`sysconf(_SC_NPROCESSORS_ONLN)`; not
/// reduced by CPU affinity).
///
/// # Errors
///
/// When the C library cannot tell.
#[doc(alias = "multiprocessing.cpu_count")]
pub fn cpu_count() -> Result<usize> {
    sysproc::cpu_count()
        .map_err(|e| Error::os("cpu_count", Resource::Path("/sys/devices/system/cpu"), e))
}

/// The number of threads in the calling process (from `/proc/self/stat`).
///
/// # Errors
///
/// When `/proc` is not mounted, and `ENOTSUP` under qemu-user, which hides
/// the count (there, the fork thread policy cannot check and lets the fork
/// through).
pub fn thread_count() -> Result<u32> {
    sysproc::thread_count()
        .map_err(|e| Error::os("thread_count", Resource::Path("/proc/self/stat"), e))
}

fn check_single_threaded(op: &'static str) -> Result<ForkPermit> {
    sysproc::ForkPermit::single_threaded()
        .map_err(|e| Error::os(op, Resource::Path("/proc/self/stat"), e))?
        .map_err(|threads| {
            Error::new(
                op,
                Resource::CurrentProcess,
                ErrorKind::ThreadsRunning { threads },
            )
        })
}

/// The children started by [`Process`] that are still running, after
/// reaping every one that has ended (including those whose handle was
/// dropped). Python's `multiprocessing.active_children()`.
///
/// Allocation-free: the list has the capacity `MPROC_MAX_CHILDREN`.
#[doc(alias = "multiprocessing.active_children")]
pub fn active_children() -> heapless::Vec<Pid, MAX_CHILDREN> {
    let mut alive = heapless::Vec::new();
    // The table holds at most MAX_CHILDREN pids, so every push fits.
    registry::active_children(|pid| {
        let _ = alive.push(Pid::from_kernel(pid));
    });
    alive
}

// ------------------------------------------------------------------- fork

/// Which side of a [`fork`] the caller is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// The new process; its own pid.
    Child(Pid),
    /// The calling process; the new child's pid.
    Parent(Pid),
}

/// `fork(2)`: Python's `os.fork`. The child is a copy of the caller and
/// continues from here; the parent must reap it ([`waitpid`]).
///
/// The child starts as described in the crate docs ("The fork contract"):
/// an empty signal mask, handlers this crate registered reset to the
/// default, no tracked children, and [`parent_process`] set. For a child
/// that runs one function and exits, use [`Process`].
///
/// # Errors
///
/// [`ErrorKind::ThreadsRunning`] when the process runs more than one
/// thread (see "The thread policy" above); `EAGAIN`/`ENOMEM` when the
/// kernel cannot create the process.
#[doc(alias = "os.fork")]
pub fn fork() -> Result<Fork> {
    fork_permitted(check_single_threaded("fork")?)
}

/// [`fork`] without the thread check.
///
/// # Safety
///
/// If the process runs other threads, the child inherits every lock they
/// held at the instant of the fork, held forever. Until it calls `exec` or
/// `_exit`, the child must take no lock another thread may have held: no
/// `println!`/`eprintln!` (stdout and stderr locks), no `std::env`, no
/// mutex of the program's own. The allocator is safe with glibc.
#[allow(unsafe_code)] // A public unsafe opt-in: its contract goes to ForkPermit::assume.
pub unsafe fn fork_with_threads() -> Result<Fork> {
    // SAFETY: forwarded from this function's contract.
    fork_permitted(unsafe { ForkPermit::assume() })
}

fn fork_permitted(permit: ForkPermit) -> Result<Fork> {
    flush_stdio();
    prepare_lineage(None);
    match sysproc::fork(permit) {
        Ok(sysproc::RawFork::Parent(child)) => Ok(Fork::Parent(Pid::from_kernel(child))),
        Ok(sysproc::RawFork::Child { masked }) => {
            after_fork_in_child(masked);
            Ok(Fork::Child(getpid()))
        }
        Err(e) => Err(Error::os("fork", Resource::CurrentProcess, e)),
    }
}

/// Flushes Rust's stdout (its stderr has no buffer) so that buffered output
/// is not written twice, once by each side of a fork (as Python flushes
/// before it forks).
fn flush_stdio() {
    // Only stdout: std's stderr is unbuffered, and locking it to flush
    // nothing would write its lock word, a copy-on-write fault per fork.
    let _ = std::io::stdout().flush();
}

/// The runtime's part of a new child, before anything else runs in it.
fn after_fork_in_child(masked: bool) {
    registry::clear_in_child();
    if sys::signal::reset_claimed_in_child(masked).is_err() {
        // Cannot happen for valid signals; say so and stop rather than run
        // with handlers meant for the parent.
        sysproc::write_stderr_raw(b"mproc: could not reset signal handlers in a forked child\n");
        sysproc::exit_now(1);
    }
}

/// Turns a raw wait status into Python's exit code: the exit status, or
/// minus the signal that killed the process.
fn exitcode_of(exit: sysproc::Exit) -> i32 {
    match exit {
        sysproc::Exit::Code(code) => code,
        sysproc::Exit::Signal(sig) => -sig,
    }
}

/// `waitpid(2)`: waits until the child `pid` ends, reaps it, and returns its
/// exit code as Python reports it (negative: killed by that signal). For
/// children of [`fork`]; a [`Process`] is reaped by its own methods.
///
/// # Errors
///
/// [`ErrorKind::NoSuchProcess`] (`ECHILD`) when `pid` is not an unreaped
/// child of this process.
#[doc(alias = "os.waitpid")]
pub fn waitpid(pid: Pid) -> Result<i32> {
    match sysproc::waitpid(pid.as_raw(), true) {
        Ok(Some(raw)) => Ok(exitcode_of(sysproc::decode_status(raw))),
        Ok(None) => unreachable_wait(pid),
        Err(e) => Err(wait_error(pid, e)),
    }
}

/// [`waitpid`] without blocking: `None` while the child runs.
///
/// # Errors
///
/// As [`waitpid`].
pub fn try_waitpid(pid: Pid) -> Result<Option<i32>> {
    match sysproc::waitpid(pid.as_raw(), false) {
        Ok(raw) => Ok(raw.map(|raw| exitcode_of(sysproc::decode_status(raw)))),
        Err(e) => Err(wait_error(pid, e)),
    }
}

/// [`waitpid`] for at most `timeout`: `None` when the child still runs.
///
/// # Errors
///
/// As [`waitpid`].
pub fn waitpid_timeout(pid: Pid, timeout: Duration) -> Result<Option<i32>> {
    if let Some(code) = try_waitpid(pid)? {
        return Ok(Some(code));
    }
    let pidfd = sysproc::pidfd_open(pid.as_raw()).map_err(|e| wait_error(pid, e))?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        sys::poll_readable(pidfd.as_fd(), Some(left)).map_err(|e| wait_error(pid, e))?;
        if let Some(code) = try_waitpid(pid)? {
            return Ok(Some(code));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
    }
}

fn wait_error(pid: Pid, e: Errno) -> Error {
    let e = if e == Errno::ECHILD { Errno::ESRCH } else { e };
    Error::os("waitpid", Resource::Pid(pid), e)
}

fn unreachable_wait(pid: Pid) -> Result<i32> {
    // A blocking waitpid returns a pid or an error, never 0.
    Err(Error::os("waitpid", Resource::Pid(pid), Errno::EINVAL))
}

// ---------------------------------------------------------------- Process

/// Ends the calling process now with exit status `code`, after flushing
/// Rust's stdout and stderr: `_exit(2)`, so no destructors or `atexit`
/// handlers run, and the process does not join its children (unlike a
/// return from the target or from `main`: see the module docs, "When a
/// process ends"). In a [`Process`] target this is Python's `sys.exit(code)`
/// (a target that returns normally exits with 0); elsewhere it is
/// `os._exit(code)` with a flush. Only the low 8 bits reach the parent.
///
/// No destructor runs, so a lock guard still in scope is **not** released
/// (Python's `sys.exit` inside `with lock:` would release it): the next
/// process to take that lock gets [`OwnerDied`](crate::sync::OwnerDied).
/// Drop guards before calling this.
#[doc(alias = "sys.exit", alias = "os._exit", alias = "_exit")]
pub fn exit(code: i32) -> ! {
    flush_stdio();
    sysproc::exit_now(code)
}

/// Joins the [`Process`] children the calling process started, as a
/// [`Process`] child does after its target (Python's `_exit_function`:
/// `SIGTERM` to the daemonic ones, then every one joined): for the end of
/// a process forked from `parent` that leaves with [`exit`] (a worker of
/// the [`server`](crate::server) kit; a C interface child whose body
/// returned a non-zero code). Does nothing unless this process started
/// children (or when [`set_join_at_exit`]`(false)`).
pub fn join_children_of_fork(parent: Pid) {
    at_exit::join_children_of_child(parent.as_raw());
}

/// Whether this process is daemonic: a [`Process`] started with
/// [`daemon(true)`](Process::daemon), or a [`fork`] of one (Python's
/// `current_process().daemon`). A daemonic process may not start
/// [`Process`] children, and so no [`Pool`](crate::pool::Pool) or
/// [`Manager`](crate::manager::Manager), which fork theirs through
/// [`Process`]: [`ErrorKind::DaemonicParent`], Python's "daemonic processes
/// are not allowed to have children". It is killed with its parent, with
/// no chance to stop or join children of its own. A plain [`fork`] stays
/// allowed, as `os.fork` is in Python.
pub fn is_daemon() -> bool {
    DAEMONIC.load(Ordering::Relaxed)
}

/// See [`is_daemon`]: set in a [`Process`] child, inherited by its forks.
static DAEMONIC: AtomicBool = AtomicBool::new(false);

/// Whether a process joins its children when it ends (on by default, as in
/// Python): see [`set_join_at_exit`].
pub fn join_at_exit() -> bool {
    at_exit::enabled()
}

/// Turns the join at exit on or off for the calling process (and the
/// children it forks from now on, which inherit the setting).
///
/// On (the default), a process that has started [`Process`] children ends
/// as Python's does: when it exits normally — `main` returns (a panic out
/// of `main` included: the panic message comes first), or
/// `std::process::exit` — and when a [`Process`] target returns or panics,
/// it first sends `SIGTERM` to its daemonic children, then joins the
/// others (for as long as they run), then joins the daemonic ones, which
/// get one second before a `SIGKILL`. This covers every tracked child,
/// handles dropped or not, the [`Pool`](crate::pool::Pool)'s workers and
/// the [`Manager`](crate::manager::Manager)'s server (daemonic children
/// both). [`exit`] (`_exit`) and death by a signal skip it; children of a
/// plain [`fork`] are never joined.
///
/// Off, the process ends at once and its running children go on without
/// it (daemonic ones still die with it, by `PR_SET_PDEATHSIG`), as Rust's
/// `std::process::Child` would: Python's behaviour without its `atexit`
/// handler.
pub fn set_join_at_exit(on: bool) {
    at_exit::set_enabled(on);
}
