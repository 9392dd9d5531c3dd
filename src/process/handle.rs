//! [`Process`]: a child that runs a closure, and its handle.

use core::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::lineage::{Name, next_default_name, prepare_lineage};
use super::{
    DAEMONIC, Pid, after_fork_in_child, at_exit, check_single_threaded, exit, exitcode_of,
    flush_stdio, is_daemon, registry,
};
use crate::config::MAX_CHILDREN;
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::signal::Signal;
use crate::sys::process::{self as sysproc, ForkPermit};
use crate::sys::{self, Errno};

/// Whether the kernel has `pidfd_open` (0: not probed yet, 1: yes, 2: no).
static PIDFD: AtomicU8 = AtomicU8::new(0);

fn pidfd_supported() -> bool {
    match PIDFD.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let ok = !matches!(sysproc::pidfd_open(sysproc::getpid()), Err(Errno::ENOSYS));
            PIDFD.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// A started child.
#[derive(Debug)]
struct Child {
    pid: Pid,
    /// Its slot in the registry.
    slot: usize,
    /// Readable once the child has ended, and whether it is a pidfd (which
    /// can also send signals). On kernels before 5.3, the read end of a pipe
    /// whose write end only the child holds, made before the fork.
    /// Otherwise made on first use ([`Process::sentinel`],
    /// [`Process::join_timeout`]): a pidfd while the child is unreaped, else
    /// a pipe with no writer (readable at once). Not at start: `pidfd_open`
    /// and its `close` cost about a tenth of a bare fork+wait.
    sentinel: OnceLock<(OwnedFd, bool)>,
    /// The process that started it: only that one may wait for it.
    owner: i32,
}

impl Child {
    /// The child's sentinel and whether it is a pidfd, made on first use.
    fn sentinel(&self, op: &'static str) -> Result<(BorrowedFd<'_>, bool)> {
        if self.sentinel.get().is_none() {
            // Not reaped (a zombie included), the pid is still the child's: a
            // pidfd. Reaped: a pipe with no writer, readable at once. Reaps
            // nothing, as Python's sentinel does not.
            let made = match registry::with_unreaped(self.slot, self.pid.as_raw(), || {
                sysproc::pidfd_open(self.pid.as_raw())
            }) {
                Some(Ok(fd)) => Ok((fd, true)),
                // ESRCH: reaped elsewhere (ChildLost), so it has ended too.
                None | Some(Err(Errno::ESRCH)) => {
                    sysproc::pipe().map(|(read, _write)| (read, false))
                }
                Some(Err(e)) => Err(e),
            }
            .map_err(|e| Error::os(op, Resource::Pid(self.pid), e))?;
            // Another thread may have made one meanwhile: keep the first.
            let _ = self.sentinel.set(made);
        }
        match self.sentinel.get() {
            Some((fd, pidfd)) => Ok((fd.as_fd(), *pidfd)),
            None => Err(Error::new(
                op,
                Resource::Pid(self.pid),
                ErrorKind::NotStarted,
            )),
        }
    }
}

/// A child process that runs a closure: Python's `multiprocessing.Process`
/// with the fork start method.
///
/// ```no_run
/// use mproc::process::Process;
/// let greeting = String::from("hello");
/// let mut p = Process::new(move || println!("{greeting} from the child"))
///     .with_name("greeter")?;
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// # Lifecycle
///
/// - [`start`](Process::start) forks; the child runs the target, joins the
///   children it started (unless [`set_join_at_exit`](super::set_join_at_exit)`(false)`), flushes
///   stdout and stderr, and exits with `_exit` — it never returns into the
///   parent's code. A target that returns exits with 0; one that calls
///   [`exit`]`(n)` (Python's `sys.exit(n)`, but joining nothing) with `n`.
///   A panic in the target exits with code 1 after the panic message is
///   printed to stderr (with `panic = "abort"` it dies of `SIGABRT`: exit
///   code -6).
/// - [`exitcode`](Process::exitcode) is `None` while running, then the exit
///   status, or minus the signal that killed it (-9 after
///   [`kill`](Process::kill), -15 after [`terminate`](Process::terminate)),
///   exactly as in Python.
/// - Every started child is reaped: by [`join`](Process::join), by
///   [`is_alive`](Process::is_alive)/[`exitcode`](Process::exitcode) once it
///   has ended, by [`active_children`](super::active_children), or when the handle is dropped.
/// - **Dropping the handle of a running child** does not stop it (as in
///   Python, and as `std::process::Child`): the child runs on, detached, and
///   is reaped by the next [`active_children`](super::active_children) or [`Process::start`] after it
///   ends, or by the parent's exit, which joins it (see the module docs,
///   "When a process ends"). Call [`terminate`](Process::terminate) or
///   [`kill`](Process::kill) and [`join`](Process::join) first to stop it. A
///   child marked [`daemon`](Process::daemon) still dies with its parent.
pub struct Process<F> {
    target: Option<F>,
    name: Name,
    /// The number path behind a default name (see [`Identity::path`]).
    path: Name,
    daemon: bool,
    child: Option<Child>,
}

impl<F> fmt::Debug for Process<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("daemon", &self.daemon)
            .finish()
    }
}

impl<F: FnOnce()> Process<F> {
    /// A process that will run `target` once started; named `Process-N`,
    /// not a daemon. Python's `Process(target=f)`; arguments are whatever the
    /// closure captures.
    pub fn new(target: F) -> Process<F> {
        let (name, path) = next_default_name();
        Process {
            target: Some(target),
            name,
            path,
            daemon: false,
            child: None,
        }
    }

    /// Names the process (Python's `name=`), builder style.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] when `name` is longer than
    /// `MPROC_NAME_LEN` bytes. The process is consumed either way; to keep
    /// it on failure, use [`Process::set_name`].
    pub fn with_name(mut self, name: &str) -> Result<Process<F>> {
        self.set_name(name)?;
        Ok(self)
    }

    /// Renames the process (Python's `p.name = ...`); allowed after the
    /// start too, as in Python, where it changes only this handle's name.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] when `name` is longer than
    /// `MPROC_NAME_LEN` bytes; the old name stays.
    pub fn set_name(&mut self, name: &str) -> Result<()> {
        self.name = Name::new(name)?;
        Ok(())
    }

    /// Marks the process as a daemon (Python's `daemon=True`): it is killed
    /// with `SIGKILL` when its parent dies, by any cause, including
    /// `SIGKILL` (`PR_SET_PDEATHSIG`, plus a check of the parent's pid right
    /// after, for a parent that died during the fork).
    ///
    /// Linux ties this to the *thread* that forked: start daemons from the
    /// main thread or a thread that lives as long as the process.
    ///
    /// A daemonic process may not start children of its own
    /// ([`ErrorKind::DaemonicParent`], see [`is_daemon`]); when its parent
    /// exits normally, it is sent `SIGTERM` and joined (see the module
    /// docs, "When a process ends").
    pub fn daemon(mut self, daemon: bool) -> Process<F> {
        self.daemon = daemon;
        self
    }

    /// Forks the child, which runs the target and exits. Python's
    /// `Process.start`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyStarted`] on a second call;
    /// [`ErrorKind::DaemonicParent`] in a daemonic process ([`is_daemon`]);
    /// [`ErrorKind::ThreadsRunning`] when the process runs other threads
    /// (see the module docs); [`ErrorKind::CapacityExceeded`] when
    /// `MPROC_MAX_CHILDREN` children are already tracked; `EAGAIN` when the
    /// kernel refuses a new process (`RLIMIT_NPROC`, `pid_max`).
    pub fn start(&mut self) -> Result<()> {
        if self.target.is_none() {
            return Err(self.error("Process::start", ErrorKind::AlreadyStarted));
        }
        let permit = check_single_threaded("Process::start")?;
        self.start_permitted(permit)
    }

    /// [`Process::start`] without the thread check.
    ///
    /// # Safety
    ///
    /// As [`fork_with_threads`](super::fork_with_threads): if other threads run, the target must take
    /// no lock they may have held (no `println!`; write with
    /// `std::io::Write` on a raw descriptor instead), and neither may
    /// anything it calls. The runtime's own child set-up takes none.
    ///
    /// # Errors
    ///
    /// As [`Process::start`], less `ThreadsRunning`.
    #[allow(unsafe_code)] // A public unsafe opt-in: its contract goes to ForkPermit::assume.
    pub unsafe fn start_with_threads(&mut self) -> Result<()> {
        // SAFETY: forwarded from this function's contract.
        self.start_permitted(unsafe { ForkPermit::assume() })
    }

    fn start_permitted(&mut self, permit: ForkPermit) -> Result<()> {
        if self.target.is_none() {
            return Err(self.error("Process::start", ErrorKind::AlreadyStarted));
        }
        if is_daemon() {
            return Err(Error::new(
                "Process::start",
                Resource::CurrentProcess,
                ErrorKind::DaemonicParent,
            ));
        }
        let Some(target) = self.target.take() else {
            return Err(self.error("Process::start", ErrorKind::AlreadyStarted));
        };
        let Some(slot) = registry::reserve(self.daemon) else {
            self.target = Some(target);
            return Err(Error::new(
                "Process::start",
                Resource::Capacity("MPROC_MAX_CHILDREN"),
                ErrorKind::CapacityExceeded {
                    limit: MAX_CHILDREN,
                },
            ));
        };
        let use_pidfd = pidfd_supported();
        let pipe = if use_pidfd {
            None
        } else {
            match sysproc::pipe() {
                Ok(p) => Some(p),
                Err(e) => {
                    registry::unreserve(slot);
                    self.target = Some(target);
                    return Err(Error::os("pipe", Resource::CurrentProcess, e));
                }
            }
        };
        flush_stdio();
        prepare_lineage(Some((slot, &self.name, &self.path)));
        let parent = sysproc::getpid();
        at_exit::arm(parent);
        match sysproc::fork(permit) {
            Err(e) => {
                registry::unreserve(slot);
                self.target = Some(target);
                Err(Error::os("fork", Resource::CurrentProcess, e))
            }
            Ok(sysproc::RawFork::Child { masked }) => {
                // Keep the pipe's write end open until _exit: its closing is
                // what the parent's sentinel sees.
                if let Some((read, write)) = pipe {
                    drop(read);
                    std::mem::forget(write);
                }
                run_child(parent, self.daemon, masked, target)
            }
            Ok(sysproc::RawFork::Parent(raw)) => {
                registry::assign(slot, raw);
                let pid = Pid::from_kernel(raw);
                let sentinel = OnceLock::new();
                if let Some((read, write)) = pipe {
                    drop(write);
                    let _ = sentinel.set((read, false));
                }
                self.child = Some(Child {
                    pid,
                    slot,
                    sentinel,
                    owner: parent,
                });
                Ok(())
            }
        }
    }
}

/// The child side of [`Process::start`]: never returns.
fn run_child<F: FnOnce()>(parent: i32, daemon: bool, masked: bool, target: F) -> ! {
    after_fork_in_child(masked);
    // Written only when it changes: a store to inherited memory costs a
    // copy-on-write fault.
    if DAEMONIC.load(Ordering::Relaxed) != daemon {
        DAEMONIC.store(daemon, Ordering::Relaxed);
    }
    if daemon {
        let armed = sysproc::set_parent_death_signal(Signal::KILL.as_raw()).is_ok();
        // The parent may have died between fork and prctl; then no signal
        // will ever come, so behave as if it had.
        if !armed || sysproc::getppid() != parent {
            let _ = sysproc::kill(sysproc::getpid(), Signal::KILL.as_raw());
            sysproc::exit_now(1);
        }
    }
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(target)) {
        Ok(()) => 0,
        Err(payload) => {
            // The panic hook has printed the message; dropping the payload
            // could panic again, and the process ends now anyway.
            std::mem::forget(payload);
            1
        }
    };
    // Python's `_bootstrap` runs `_exit_function` after the target, also
    // when it raised: the child's own children are joined here.
    at_exit::join_children_of_child(parent);
    exit(code)
}

impl<F> Process<F> {
    fn error(&self, op: &'static str, kind: ErrorKind) -> Error {
        let resource = match &self.child {
            Some(child) => Resource::Pid(child.pid),
            None => Resource::UnstartedProcess,
        };
        Error::new(op, resource, kind)
    }

    /// The started child owned by the calling process.
    fn child(&self, op: &'static str) -> Result<&Child> {
        match &self.child {
            None => Err(self.error(op, ErrorKind::NotStarted)),
            Some(child) if child.owner != sysproc::getpid() => Err(Error::new(
                op,
                Resource::Pid(child.pid),
                ErrorKind::InvalidArgument("can only wait for a child of the calling process"),
            )),
            Some(child) => Ok(child),
        }
    }

    /// The child's pid once started (Python's `pid`, `None` before).
    pub fn pid(&self) -> Option<Pid> {
        self.child.as_ref().map(|c| c.pid)
    }

    /// The name (Python's `name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the process is a daemon (Python's `daemon`).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    fn status(&self, child: &Child, block: bool, op: &'static str) -> Result<Option<i32>> {
        match registry::reap(child.slot, child.pid.as_raw(), block) {
            Ok(registry::Status::Running) => Ok(None),
            Ok(registry::Status::Ended(exit)) => Ok(Some(exitcode_of(exit))),
            Ok(registry::Status::Lost) => Err(Error::new(
                op,
                Resource::Pid(child.pid),
                ErrorKind::ChildLost,
            )),
            Err(e) => Err(Error::os(op, Resource::Pid(child.pid), e)),
        }
    }

    /// Waits until the child ends, reaps it, and returns its exit code
    /// (Python's `join()` followed by `exitcode`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`];
    /// [`ErrorKind::ChildLost`] when the program reaped the child elsewhere.
    pub fn join(&self) -> Result<i32> {
        let child = self.child("Process::join")?;
        match self.status(child, true, "Process::join")? {
            Some(code) => Ok(code),
            None => Err(Error::new(
                "Process::join",
                Resource::Pid(child.pid),
                ErrorKind::Timeout,
            )),
        }
    }

    /// Waits at most `timeout` for the child to end: its exit code, or
    /// `None` if it still runs (Python's `join(timeout)`).
    ///
    /// # Errors
    ///
    /// As [`Process::join`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<i32>> {
        let op = "Process::join";
        let child = self.child(op)?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.status(child, false, op)? {
                return Ok(Some(code));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let (sentinel, pidfd) = child.sentinel(op)?;
            sys::poll_readable(sentinel, Some(left))
                .map_err(|e| Error::os(op, Resource::Pid(child.pid), e))?;
            if !pidfd && self.status(child, false, op)?.is_none() {
                // The pipe closed but the child has not ended (it exec'd or
                // closed the descriptor): fall back to waiting out the time.
                let left = deadline.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(Duration::from_millis(1)));
            }
        }
    }

    /// The exit code (Python's `exitcode`): `None` before the start and while
    /// the child runs; reaps the child if it has ended.
    pub fn exitcode(&self) -> Option<i32> {
        let child = self.child("Process::exitcode").ok()?;
        self.status(child, false, "Process::exitcode")
            .ok()
            .flatten()
    }

    /// Whether the child has been started and has not ended (Python's
    /// `is_alive()`); reaps it if it has ended.
    pub fn is_alive(&self) -> bool {
        match self.child("Process::is_alive") {
            Ok(child) => matches!(self.status(child, false, "Process::is_alive"), Ok(None)),
            Err(_) => false,
        }
    }

    /// Sends `SIGTERM` (Python's `terminate()`). Does nothing if the child
    /// has already ended.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`].
    pub fn terminate(&self) -> Result<()> {
        self.send_signal(Signal::TERM)
    }

    /// Sends `SIGKILL` (Python's `kill()`). Does nothing if the child has
    /// already ended.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`].
    pub fn kill(&self) -> Result<()> {
        self.send_signal(Signal::KILL)
    }

    /// Sends `sig` to the child. Does nothing if the child has already
    /// ended.
    ///
    /// The signal cannot reach another process that reused the pid: it goes
    /// through the child's pidfd when one is open, and otherwise by `kill(2)`
    /// right after checking that the child is not reaped yet (a pid is not
    /// reused before its process is reaped, and this crate reaps its
    /// children only through their handles and [`active_children`](super::active_children); a
    /// program that reaps them elsewhere gets [`ErrorKind::ChildLost`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`].
    pub fn send_signal(&self, sig: Signal) -> Result<()> {
        let op = "Process::send_signal";
        let child = self.child(op)?;
        if self.status(child, false, op)?.is_some() {
            return Ok(());
        }
        let sent = match child.sentinel.get() {
            Some((fd, true)) => sysproc::pidfd_send_signal(fd.as_fd(), sig.as_raw()),
            _ => sysproc::kill(child.pid.as_raw(), sig.as_raw()),
        };
        match sent {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(Error::os(op, Resource::Pid(child.pid), e)),
        }
    }

    /// A descriptor that becomes readable when the child ends (Python's
    /// `sentinel`): a pidfd, or on kernels before 5.3 a pipe. Poll it with
    /// other descriptors; it stays readable after the child is reaped. Made
    /// on the first call (then a pipe with no writer if the child was
    /// already reaped) and kept for the handle's life.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`]; `EMFILE` and the
    /// like when no descriptor can be made.
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>> {
        let op = "Process::sentinel";
        let child = self.child(op)?;
        Ok(child.sentinel(op)?.0)
    }
}

impl<F> Drop for Process<F> {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A copy of the handle inherited by a forked child is not the
            // owner; the table it would touch was cleared there.
            if child.owner == sysproc::getpid() {
                registry::release(child.slot, child.pid.as_raw());
            }
        }
    }
}
