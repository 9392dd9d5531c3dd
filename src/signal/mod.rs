//! Signals: `kill`, `alarm`, `pause`, masks, synchronous waits, and handlers
//! that compose with the host program's.
//!
//! Python's `os.kill`, `signal.alarm`, `signal.setitimer`, `signal.pause`,
//! `signal.pthread_sigmask`, `signal.sigwait`/`sigtimedwait` and
//! `signal.signal` map onto [`kill`], [`alarm`], [`set_alarm`], [`pause`],
//! [`SigSet::block`], [`SigSet::wait`]/[`SigSet::wait_timeout`], [`flag`] and
//! [`register`].
//!
//! # How a daemon should take signals
//!
//! Do no real work inside a signal handler. Either let a handler set a flag
//! ([`flag`]) and look at it from the main loop, or block the signals and
//! receive them synchronously: [`SignalFd`] is a pollable descriptor that
//! yields each signal with its sender's pid, and [`SigSet::wait`] blocks on a
//! set.
//!
//! # What this module touches
//!
//! Nothing, until asked: the crate never installs a handler or changes a
//! disposition on its own. Handlers are registered through `signal-hook`'s
//! registry, which chains to the handler installed before (the host
//! program's stays in force). A child forked by this crate starts with an
//! empty signal mask and with every signal that had a handler registered
//! through this module set back to its default action; registering again in
//! the child reinstalls the handler.

mod number;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use number::Signal;

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::process::Pid;
use crate::sys::signal as sys;
use crate::sys::{self as rawsys, process as sysproc};

/// `kill(2)`: sends `sig` to the process `pid`. Python's `os.kill`.
///
/// # Errors
///
/// [`ErrorKind::NoSuchProcess`] when there is no such process,
/// [`ErrorKind::PermissionDenied`] when it belongs to another user.
///
/// This is async-signal-safe.
#[doc(alias = "os.kill")]
pub fn kill(pid: Pid, sig: Signal) -> Result<()> {
    sysproc::kill(pid.as_raw(), sig.as_raw()).map_err(|e| Error::os("kill", Resource::Pid(pid), e))
}

/// `killpg(3)`: sends `sig` to every process in the process group `pgrp`.
/// Python's `os.killpg`.
///
/// # Errors
///
/// As [`kill`], for the group.
#[doc(alias = "os.killpg")]
pub fn killpg(pgrp: Pid, sig: Signal) -> Result<()> {
    sysproc::killpg(pgrp.as_raw(), sig.as_raw())
        .map_err(|e| Error::os("killpg", Resource::ProcessGroup(pgrp), e))
}

/// `raise(3)`: sends `sig` to the calling thread.
///
/// # Errors
///
/// Only if the kernel refuses, which it does not for a valid signal.
pub fn raise(sig: Signal) -> Result<()> {
    sys::raise(sig.as_raw()).map_err(|e| Error::os("raise", Resource::Signal(sig.as_raw()), e))
}

/// `sigqueue(3)`: sends `sig` to `pid` with an integer payload, which the
/// receiver sees in [`SigInfo`]. Real-time signals sent this way queue.
///
/// # Errors
///
/// As [`kill`]; `EAGAIN` when the receiver's queue of pending real-time
/// signals is full (`RLIMIT_SIGPENDING`).
pub fn sigqueue(pid: Pid, sig: Signal, value: i32) -> Result<()> {
    sys::sigqueue(pid.as_raw(), sig.as_raw(), value)
        .map_err(|e| Error::os("sigqueue", Resource::Pid(pid), e))
}

/// `alarm(2)`: delivers `SIGALRM` to this process in `secs` seconds, and
/// returns the seconds that were left of the previous alarm (0 if none).
/// Python's `signal.alarm`.
///
/// There is one alarm per process: a new one replaces the old, and
/// `alarm(0)` cancels it. [`set_alarm`] sets the same timer with sub-second
/// precision. Unless a handler is registered for `SIGALRM` (see [`flag`]) or
/// it is blocked, its default action ends the process.
///
/// This is async-signal-safe.
#[doc(alias = "signal.alarm")]
pub fn alarm(secs: u32) -> u32 {
    sys::alarm(secs)
}

/// `setitimer(ITIMER_REAL)`: delivers `SIGALRM` once after `after` (with
/// microsecond precision) and returns what was left of the previous alarm.
/// A zero duration cancels. Python's
/// `signal.setitimer(signal.ITIMER_REAL, seconds)`.
///
/// This is the timer behind [`alarm`]: setting one replaces the other.
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`] when `after` does not fit the kernel's
/// `timeval`.
#[doc(alias = "setitimer", alias = "ualarm", alias = "signal.setitimer")]
pub fn set_alarm(after: Duration) -> Result<Duration> {
    sys::set_real_timer(after).map_err(|e| Error::os("setitimer", Resource::AlarmTimer, e))
}

/// `pause(2)`: sleeps until a signal handler has run, or a signal ends the
/// process. Python's `signal.pause`.
///
/// On its own, `pause` has the classic race: a signal that arrives between
/// checking a flag and calling `pause` is missed, and `pause` sleeps on. To
/// close it, block the signal first, check, then pause with
/// [`MaskGuard::pause`], which unblocks and sleeps in one atomic step
/// (`sigsuspend`):
///
/// ```no_run
/// use mproc::signal::{self, SigSet, Signal};
/// let alarmed = signal::flag(Signal::ALRM)?;
/// let blocked = SigSet::from(Signal::ALRM).block()?;
/// signal::alarm(1);
/// while !alarmed.take() {
///     blocked.pause(); // cannot miss the SIGALRM
/// }
/// # Ok::<(), mproc::Error>(())
/// ```
#[doc(alias = "signal.pause", alias = "sigsuspend")]
pub fn pause() {
    // The current mask: unlike pause(2), a signal blocked now stays blocked.
    match sys::current_mask() {
        Ok(mask) => sys::sigsuspend(mask),
        // Reading the mask does not fail; if it ever did, sleep with nothing
        // blocked, as pause(2) would.
        Err(_) => sys::sigsuspend(0),
    }
}

/// A set of signals.
///
/// ```
/// use mproc::signal::{SigSet, Signal};
/// let set = SigSet::from_signals(&[Signal::USR1, Signal::TERM]);
/// assert!(set.contains(Signal::USR1));
/// assert_eq!(set.iter().count(), 2);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SigSet(u64);

impl SigSet {
    /// The empty set.
    pub const fn empty() -> SigSet {
        SigSet(0)
    }

    /// The set of `signals`.
    pub fn from_signals(signals: &[Signal]) -> SigSet {
        signals.iter().fold(SigSet::empty(), |set, &s| set.with(s))
    }

    /// This set with `sig` added.
    #[must_use]
    pub fn with(self, sig: Signal) -> SigSet {
        SigSet(self.0 | bit(sig))
    }

    /// Adds `sig`.
    pub fn insert(&mut self, sig: Signal) {
        self.0 |= bit(sig);
    }

    /// Removes `sig`.
    pub fn remove(&mut self, sig: Signal) {
        self.0 &= !bit(sig);
    }

    /// Whether `sig` is in the set.
    pub fn contains(self, sig: Signal) -> bool {
        self.0 & bit(sig) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The signals in the set, in number order.
    pub fn iter(self) -> impl Iterator<Item = Signal> {
        (1..=sys::MAX_SIGNAL)
            .filter(move |n| self.0 & (1 << (n - 1)) != 0)
            .filter_map(|n| Signal::from_raw(n).ok())
    }

    fn check_blockable(self, op: &'static str) -> Result<()> {
        match self
            .iter()
            .find(|&s| s == Signal::KILL || s == Signal::STOP)
        {
            Some(s) => Err(Error::new(
                op,
                Resource::Signal(s.as_raw()),
                ErrorKind::UncatchableSignal,
            )),
            None => Ok(()),
        }
    }

    /// `pthread_sigmask(SIG_BLOCK)`: blocks the set in the calling thread
    /// until the returned guard is dropped. Blocked signals stay pending
    /// until unblocked or taken with [`SigSet::wait`] or a [`SignalFd`].
    ///
    /// Only the calling thread's mask changes; a signal sent to the process
    /// is delivered to any thread that does not block it. Block in the main
    /// thread before starting other threads (they inherit the mask).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UncatchableSignal`] for `SIGKILL` or `SIGSTOP`, which
    /// cannot be blocked.
    #[doc(alias = "pthread_sigmask", alias = "sigprocmask")]
    pub fn block(self) -> Result<MaskGuard> {
        self.check_blockable("pthread_sigmask")?;
        let old = sys::sigmask(sys::How::Block, self.0)
            .map_err(|e| Error::os("pthread_sigmask", Resource::SignalSet, e))?;
        Ok(MaskGuard {
            old,
            added: self.0 & !old,
            _not_send: std::marker::PhantomData,
        })
    }

    /// `pthread_sigmask(SIG_UNBLOCK)`: unblocks the set in the calling
    /// thread, delivering what is pending. Prefer dropping the
    /// [`MaskGuard`] of [`SigSet::block`], which undoes exactly its own
    /// change.
    ///
    /// # Errors
    ///
    /// Only if the kernel refuses, which it does not.
    pub fn unblock(self) -> Result<()> {
        sys::sigmask(sys::How::Unblock, self.0)
            .map(drop)
            .map_err(|e| Error::os("pthread_sigmask", Resource::SignalSet, e))
    }

    /// The calling thread's blocked signals.
    ///
    /// # Errors
    ///
    /// Only if the kernel refuses, which it does not.
    pub fn blocked() -> Result<SigSet> {
        sys::current_mask()
            .map(SigSet)
            .map_err(|e| Error::os("pthread_sigmask", Resource::SignalSet, e))
    }

    /// The signals pending for the calling thread or process that are in
    /// this set, taken one at a time: `sigwait(3)`. Blocks until one
    /// arrives. Python's `signal.sigwait`.
    ///
    /// The set must be blocked (see [`SigSet::block`]) in every thread, or a
    /// signal may be delivered normally instead.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an empty set.
    #[doc(alias = "sigwait", alias = "sigwaitinfo", alias = "signal.sigwait")]
    pub fn wait(self) -> Result<SigInfo> {
        self.wait_inner(None)?
            .ok_or_else(|| Error::new("sigwaitinfo", Resource::SignalSet, ErrorKind::Timeout))
    }

    /// [`SigSet::wait`] for at most `timeout`; `None` when it ran out.
    /// Python's `signal.sigtimedwait`.
    ///
    /// # Errors
    ///
    /// As [`SigSet::wait`].
    #[doc(alias = "sigtimedwait", alias = "signal.sigtimedwait")]
    pub fn wait_timeout(self, timeout: Duration) -> Result<Option<SigInfo>> {
        self.wait_inner(Some(timeout))
    }

    /// Takes one pending signal of the set without waiting; `None` when none
    /// is pending.
    ///
    /// # Errors
    ///
    /// As [`SigSet::wait`].
    pub fn try_wait(self) -> Result<Option<SigInfo>> {
        self.wait_inner(Some(Duration::ZERO))
    }

    fn wait_inner(self, timeout: Option<Duration>) -> Result<Option<SigInfo>> {
        if self.is_empty() {
            return Err(Error::new(
                "sigtimedwait",
                Resource::SignalSet,
                ErrorKind::InvalidArgument("the signal set is empty"),
            ));
        }
        sys::sigtimedwait(self.0, timeout)
            .map(|info| info.and_then(SigInfo::from_raw))
            .map_err(|e| Error::os("sigtimedwait", Resource::SignalSet, e))
    }
}

impl From<Signal> for SigSet {
    fn from(sig: Signal) -> SigSet {
        SigSet(bit(sig))
    }
}

impl FromIterator<Signal> for SigSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> SigSet {
        iter.into_iter().fold(SigSet::empty(), SigSet::with)
    }
}

impl core::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

fn bit(sig: Signal) -> u64 {
    1 << (sig.as_raw() - 1)
}

/// Signals blocked by [`SigSet::block`] in the calling thread; dropping the
/// guard unblocks exactly the signals it blocked.
///
/// Tied to its thread (the mask is per thread), so it is not `Send`.
#[must_use = "dropping the guard unblocks the signals at once"]
#[derive(Debug)]
pub struct MaskGuard {
    /// The thread's mask before the guard.
    old: u64,
    /// The signals the guard added (those that were not blocked before).
    added: u64,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl MaskGuard {
    /// Sleeps until a handler has run for a signal, with the mask that was in
    /// force before the guard (`sigsuspend(2)`): a signal this guard blocked
    /// that is already pending is delivered at once, so none is missed. The
    /// guard's signals are blocked again when it returns. See [`pause`].
    ///
    /// A signal whose disposition is the default action and which ends the
    /// process ends it here; register a handler ([`flag`]) first.
    #[doc(alias = "sigsuspend")]
    pub fn pause(&self) {
        sys::sigsuspend(self.old);
    }

    /// The signals this guard blocked (those already blocked before it are
    /// not included, and stay blocked after it).
    pub fn signals(&self) -> SigSet {
        SigSet(self.added)
    }
}

impl Drop for MaskGuard {
    fn drop(&mut self) {
        // Unblocking never fails for a valid set; nothing useful to do if it did.
        let _ = sys::sigmask(sys::How::Unblock, self.added);
    }
}

/// What a synchronous wait reports about a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigInfo {
    /// The signal.
    pub signal: Signal,
    /// The sending process, when a process sent it (`kill`, `sigqueue`).
    pub sender: Option<Pid>,
    /// The sender's real uid, when a process sent it.
    pub sender_uid: Option<u32>,
    /// `si_code`: `SI_USER` (0) for `kill`, `SI_QUEUE` (-1) for `sigqueue`,
    /// `SI_KERNEL` (0x80), `SI_TKILL` (-6) for `raise`, and so on.
    pub code: i32,
}

impl SigInfo {
    fn from_raw(raw: sys::RawSigInfo) -> Option<SigInfo> {
        let signal = Signal::from_raw(raw.signo).ok()?;
        // si_pid/si_uid are meaningful for signals sent by a process:
        // SI_USER (0), SI_QUEUE (-1), SI_TKILL (-6).
        let from_process = matches!(raw.code, 0 | -1 | -6);
        let sender = if from_process {
            Pid::from_raw(raw.pid)
        } else {
            None
        };
        let sender_uid = if from_process { Some(raw.uid) } else { None };
        Some(SigInfo {
            signal,
            sender,
            sender_uid,
            code: raw.code,
        })
    }
}

fn check_catchable(op: &'static str, sig: Signal) -> Result<()> {
    if sig == Signal::KILL || sig == Signal::STOP || sys::is_forbidden(sig.as_raw()) {
        return Err(Error::new(
            op,
            Resource::Signal(sig.as_raw()),
            ErrorKind::UncatchableSignal,
        ));
    }
    Ok(())
}

/// A flag that a signal handler sets; see [`flag`].
///
/// Dropping it removes the registration, with the caveat of
/// [`Registration`]: the signal does not get its default action back.
#[derive(Debug)]
pub struct SignalFlag {
    signal: Signal,
    raised: Arc<AtomicBool>,
    id: sys::SigId,
}

impl SignalFlag {
    /// Whether the signal arrived since the last [`SignalFlag::take`],
    /// leaving the flag as it is.
    pub fn is_set(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Whether the signal arrived since the last call, clearing the flag.
    pub fn take(&self) -> bool {
        self.raised.swap(false, Ordering::AcqRel)
    }

    /// The signal this flag watches.
    pub fn signal(&self) -> Signal {
        self.signal
    }
}

impl Drop for SignalFlag {
    fn drop(&mut self) {
        sys::unregister(self.id);
    }
}

/// Registers a handler for `sig` that only sets a flag, for a main loop to
/// look at: the safe way to catch a signal. Python's
/// `signal.signal(sig, handler)` where the handler records the signal.
///
/// Goes through `signal-hook`'s registry, which chains to the handler that
/// was installed before, so the host program's handlers keep running.
///
/// # Errors
///
/// [`ErrorKind::UncatchableSignal`] for `SIGKILL`, `SIGSTOP`, and the fault
/// signals (`SIGILL`, `SIGFPE`, `SIGSEGV`) that signal-hook refuses.
#[doc(alias = "signal.signal", alias = "sigaction")]
pub fn flag(sig: Signal) -> Result<SignalFlag> {
    check_catchable("signal::flag", sig)?;
    let raised = Arc::new(AtomicBool::new(false));
    let id = sys::register_flag(sig.as_raw(), Arc::clone(&raised))
        .map_err(|e| Error::os("sigaction", Resource::Signal(sig.as_raw()), e))?;
    Ok(SignalFlag {
        signal: sig,
        raised,
        id,
    })
}

/// A handler registration made by [`register`]; dropping it removes the
/// action.
///
/// signal-hook never uninstalls its own handler, so afterwards the signal
/// runs only the handler the host had installed before, if any. **Where the
/// disposition before was the default action, the signal is now ignored, not
/// acted on by default** (a later `SIGALRM` or `SIGTERM` does not end the
/// process). Keep a registration for as long as the program needs the
/// signal, or block the signal after dropping it. Children forked by this
/// crate start with the default action either way.
#[derive(Debug)]
#[must_use = "dropping the registration removes the handler at once"]
pub struct Registration {
    id: sys::SigId,
}

impl Registration {
    /// Keeps the handler for the rest of the process's life.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        sys::unregister(self.id);
    }
}

/// Registers `action` to run inside the handler of `sig`, through
/// `signal-hook`'s registry, which chains to the handler installed before.
///
/// # Safety
///
/// `action` runs inside a signal handler, interrupting any code of this
/// process: it must be async-signal-safe (only atomics and async-signal-safe
/// syscalls such as `write(2)`; no allocation, no locks, no `println!`) and
/// must not panic.
///
/// # Errors
///
/// As [`flag`].
#[allow(unsafe_code)] // A public unsafe API: its contract goes to sys::signal::register.
pub unsafe fn register<F>(sig: Signal, action: F) -> Result<Registration>
where
    F: Fn() + Sync + Send + 'static,
{
    check_catchable("signal::register", sig)?;
    // SAFETY: forwarded from this function's contract; `sig` is catchable.
    let id = unsafe { sys::register(sig.as_raw(), action) }
        .map_err(|e| Error::os("sigaction", Resource::Signal(sig.as_raw()), e))?;
    Ok(Registration { id })
}

/// Whether `sig` has its default disposition in this process (no handler
/// installed, not ignored).
///
/// # Errors
///
/// Only if the kernel refuses, which it does not for a valid signal.
pub fn is_default(sig: Signal) -> Result<bool> {
    sys::is_default_disposition(sig.as_raw())
        .map_err(|e| Error::os("sigaction", Resource::Signal(sig.as_raw()), e))
}

/// A pollable file descriptor that receives a set of signals
/// synchronously: `signalfd(2)`.
///
/// Creating it blocks the set in the calling thread (so the signals queue
/// for the descriptor instead of running handlers or default actions);
/// dropping it unblocks them again. Create it in the main thread before
/// starting any other thread, so that every thread inherits the mask;
/// otherwise a signal sent to the process may be delivered to another
/// thread instead. It is the daemon main loop's signal source: poll it with
/// other descriptors, then drain it with [`SignalFd::try_recv`] or
/// [`SignalFd::pending`]. Each [`SigInfo`] says who sent the signal.
///
/// Standard signals do not queue: two `SIGUSR1` sent before the loop reads
/// arrive as one. Real-time signals queue.
///
/// `AsFd` and `AsRawFd`, readable while a signal of the set is pending:
/// an event loop or a runtime's reactor waits on it (with the `tokio`
/// feature, `mproc::aio` makes it a stream of signals). Neither `Send`
/// nor `Sync`: dropping it unblocks the set in the thread that made it,
/// so it stays with that thread (keep it in a current-thread runtime).
///
/// ```no_run
/// use mproc::signal::{SigSet, SignalFd, Signal};
/// let signals = SignalFd::new(SigSet::from_signals(&[Signal::USR1, Signal::TERM]))?;
/// loop {
///     let info = signals.recv()?;
///     match info.signal {
///         Signal::USR1 => println!("status requested by {:?}", info.sender),
///         _ => break,
///     }
/// }
/// # Ok::<(), mproc::Error>(())
/// ```
#[doc(alias = "signalfd", alias = "signal.set_wakeup_fd")]
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
    set: SigSet,
    // Dropped after `fd`: unblocks the signals once nothing reads them.
    _blocked: MaskGuard,
}

impl SignalFd {
    /// Blocks `set` in the calling thread and opens a descriptor that
    /// receives it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UncatchableSignal`] for `SIGKILL`/`SIGSTOP`;
    /// [`ErrorKind::InvalidArgument`] for an empty set; `EMFILE` when out of
    /// descriptors.
    pub fn new(set: SigSet) -> Result<SignalFd> {
        if set.is_empty() {
            return Err(Error::new(
                "signalfd",
                Resource::SignalSet,
                ErrorKind::InvalidArgument("the signal set is empty"),
            ));
        }
        let blocked = set.block()?;
        let fd = sys::signalfd(set.0).map_err(|e| Error::os("signalfd", Resource::SignalSet, e))?;
        Ok(SignalFd {
            fd,
            set,
            _blocked: blocked,
        })
    }

    /// The signals this descriptor receives.
    pub fn signals(&self) -> SigSet {
        self.set
    }

    /// Takes one pending signal without waiting; `None` when none is
    /// pending.
    ///
    /// # Errors
    ///
    /// Only if the kernel refuses the read.
    pub fn try_recv(&self) -> Result<Option<SigInfo>> {
        loop {
            match sys::signalfd_read(self.fd.as_fd()) {
                Ok(Some(raw)) => match SigInfo::from_raw(raw) {
                    Some(info) => return Ok(Some(info)),
                    None => continue,
                },
                Ok(None) => return Ok(None),
                Err(e) => return Err(Error::os("signalfd read", Resource::SignalSet, e)),
            }
        }
    }

    /// Waits for the next signal.
    ///
    /// # Errors
    ///
    /// As [`SignalFd::try_recv`].
    pub fn recv(&self) -> Result<SigInfo> {
        loop {
            if let Some(info) = self.recv_inner(None)? {
                return Ok(info);
            }
        }
    }

    /// Waits at most `timeout` for the next signal; `None` when it ran out.
    ///
    /// # Errors
    ///
    /// As [`SignalFd::try_recv`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<SigInfo>> {
        self.recv_inner(Some(timeout))
    }

    fn recv_inner(&self, timeout: Option<Duration>) -> Result<Option<SigInfo>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if let Some(info) = self.try_recv()? {
                return Ok(Some(info));
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(None);
            }
            rawsys::poll_readable(self.fd.as_fd(), left)
                .map_err(|e| Error::os("poll", Resource::SignalSet, e))?;
        }
    }

    /// The signals pending now, without waiting: an iterator that ends when
    /// none is left (a read error also ends it).
    pub fn pending(&self) -> impl Iterator<Item = SigInfo> + '_ {
        std::iter::from_fn(move || self.try_recv().ok().flatten())
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
