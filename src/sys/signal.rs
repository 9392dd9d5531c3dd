//! Signal syscalls: masks, waits, timers, signalfd, dispositions, and the
//! signal-hook registry.
//!
//! Signal sets cross this boundary as a `u64` bit mask (bit `n - 1` is signal
//! `n`; Linux has signals 1 to 64 on every supported target) so that nothing
//! above this module handles a `sigset_t`.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Errno, cvt, remaining};

/// Highest signal number on Linux (`SIGRTMAX`, 64 on every supported target).
pub(crate) const MAX_SIGNAL: i32 = 64;

/// Numbers of the standard signals, for the constants of `crate::signal`.
pub(crate) mod num {
    pub(crate) use libc::{
        SIGABRT, SIGALRM, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGHUP, SIGILL, SIGINT, SIGIO, SIGKILL,
        SIGPIPE, SIGPROF, SIGPWR, SIGQUIT, SIGSEGV, SIGSTKFLT, SIGSTOP, SIGSYS, SIGTERM, SIGTRAP,
        SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGUSR1, SIGUSR2, SIGVTALRM, SIGWINCH, SIGXCPU, SIGXFSZ,
    };
}

/// The C library's first real-time signal (`SIGRTMIN`; 34 with glibc, which
/// keeps 32 and 33 for itself).
pub(crate) fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

/// The last real-time signal (`SIGRTMAX`).
pub(crate) fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
}

fn to_sigset(mask: u64) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set it is given; an all-zero
    // sigset_t is valid storage for it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid storage for a sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    // The C library keeps the signals between 31 and SIGRTMIN for itself:
    // sigaddset refuses them and writes errno, a store that would cost a
    // copy-on-write fault on every fork (the mask is set around each one).
    let first_rt = libc::SIGRTMIN();
    for sig in (1..=MAX_SIGNAL).filter(|&s| s <= 31 || s >= first_rt) {
        if mask & (1 << (sig - 1)) != 0 {
            // SAFETY: `set` is an initialised sigset_t and `sig` is in 1..=64.
            unsafe { libc::sigaddset(&mut set, sig) };
        }
    }
    set
}

fn from_sigset(set: &libc::sigset_t) -> u64 {
    let mut mask = 0;
    for sig in 1..=MAX_SIGNAL {
        // SAFETY: `set` is an initialised sigset_t and `sig` is in 1..=64.
        if unsafe { libc::sigismember(set, sig) } == 1 {
            mask |= 1 << (sig - 1);
        }
    }
    mask
}

/// How `sigmask` changes the calling thread's mask.
#[derive(Clone, Copy)]
pub(crate) enum How {
    /// Add the set to the mask.
    Block,
    /// Remove the set from the mask.
    Unblock,
    /// Replace the mask with the set.
    SetMask,
}

/// `pthread_sigmask(2)` for the calling thread. Returns the previous mask.
pub(crate) fn sigmask(how: How, mask: u64) -> Result<u64, Errno> {
    let how = match how {
        How::Block => libc::SIG_BLOCK,
        How::Unblock => libc::SIG_UNBLOCK,
        How::SetMask => libc::SIG_SETMASK,
    };
    let set = to_sigset(mask);
    // SAFETY: zeroed storage for the old set, overwritten by the call.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live sigset_t values.
    let ret = unsafe { libc::pthread_sigmask(how, &set, &mut old) };
    if ret != 0 {
        return Err(Errno::from_raw(ret));
    }
    Ok(from_sigset(&old))
}

/// The calling thread's current signal mask.
pub(crate) fn current_mask() -> Result<u64, Errno> {
    sigmask(How::Block, 0)
}

/// `sigsuspend(2)`: replaces the mask with `mask` and sleeps until a signal
/// handler has run (or a signal ends the process), then restores the mask.
pub(crate) fn sigsuspend(mask: u64) {
    let set = to_sigset(mask);
    // SAFETY: `set` is an initialised sigset_t. sigsuspend always returns -1
    // with EINTR after a handler ran, which is its success.
    unsafe { libc::sigsuspend(&set) };
}

/// What a synchronous wait tells about a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawSigInfo {
    /// The signal number.
    pub(crate) signo: i32,
    /// `si_code`: where it came from (`SI_USER` for kill, `SI_QUEUE`, …).
    pub(crate) code: i32,
    /// The sending process, for signals sent by a process; 0 otherwise.
    pub(crate) pid: i32,
    /// The real uid of the sender, for signals sent by a process.
    pub(crate) uid: u32,
}

/// `sigtimedwait(2)` over `mask` (which the caller has blocked). `None` as a
/// timeout waits forever; a zero timeout polls. Returns `None` when the time
/// ran out. `EINTR` (a handler for another signal ran) restarts the wait with
/// the time that is left.
pub(crate) fn sigtimedwait(
    mask: u64,
    timeout: Option<Duration>,
) -> Result<Option<RawSigInfo>, Errno> {
    let set = to_sigset(mask);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        // SAFETY: zeroed storage for the siginfo the kernel fills in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let ret = match remaining(deadline) {
            // SAFETY: `set` and `info` are live and valid for the call.
            None => unsafe { libc::sigwaitinfo(&set, &mut info) },
            Some(left) => {
                let ts = libc::timespec {
                    tv_sec: left.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                    // Below 10^9, so it fits the c_long of every target.
                    tv_nsec: left.subsec_nanos() as libc::c_long,
                };
                // SAFETY: `set`, `info` and `ts` are live and valid for the call.
                unsafe { libc::sigtimedwait(&set, &mut info, &ts) }
            }
        };
        match cvt(ret) {
            Ok(signo) => {
                // SAFETY: si_pid/si_uid are read as the kernel filled them; for
                // signals not sent by a process they hold zeros or other
                // fields' bytes, which is still a plain integer.
                let (pid, uid) = unsafe { (info.si_pid(), info.si_uid()) };
                return Ok(Some(RawSigInfo {
                    signo,
                    code: info.si_code,
                    pid,
                    uid,
                }));
            }
            Err(Errno::EAGAIN) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `alarm(2)`: schedules `SIGALRM` in `secs` seconds (0 cancels) and returns
/// the whole seconds that were left of the previous alarm (rounded as
/// alarm(2) does).
///
/// This is async-signal-safe.
pub(crate) fn alarm(secs: u32) -> u32 {
    // SAFETY: alarm takes a plain integer and cannot fail.
    unsafe { libc::alarm(secs) }
}

/// `setitimer(ITIMER_REAL)` as a one-shot timer (the timer behind `alarm`).
/// A zero duration cancels. Returns the time that was left of the previous
/// one.
pub(crate) fn set_real_timer(after: Duration) -> Result<Duration, Errno> {
    let new = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: after.as_secs().try_into().map_err(|_| Errno::EINVAL)?,
            // Round up so that a sub-microsecond request still arms the timer.
            // At most 10^6, so it fits suseconds_t on every target.
            tv_usec: after.subsec_nanos().div_ceil(1000) as libc::suseconds_t,
        },
    };
    let new = if new.it_value.tv_usec == 1_000_000 {
        libc::itimerval {
            it_interval: new.it_interval,
            it_value: libc::timeval {
                tv_sec: new.it_value.tv_sec + 1,
                tv_usec: 0,
            },
        }
    } else {
        new
    };
    // SAFETY: zeroed storage for the old value the kernel fills in.
    let mut old: libc::itimerval = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live itimerval values.
    cvt(unsafe { libc::setitimer(libc::ITIMER_REAL, &new, &mut old) })?;
    let secs = u64::try_from(old.it_value.tv_sec).unwrap_or(0);
    let micros = u32::try_from(old.it_value.tv_usec).unwrap_or(0);
    Ok(Duration::from_secs(secs) + Duration::from_micros(micros.into()))
}

/// `raise(3)`: sends `sig` to the calling thread.
pub(crate) fn raise(sig: i32) -> Result<(), Errno> {
    // SAFETY: raise takes a plain integer.
    let ret = unsafe { libc::raise(sig) };
    if ret != 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `sigqueue(3)`: sends `sig` with an integer payload.
pub(crate) fn sigqueue(pid: i32, sig: i32, value: i32) -> Result<(), Errno> {
    let value = libc::sigval {
        sival_ptr: value as usize as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes its arguments by value; the "pointer" is an
    // integer payload that the kernel copies and never dereferences.
    cvt(unsafe { libc::sigqueue(pid, sig, value) }).map(drop)
}

/// `signalfd(2)` for `mask` (which the caller has blocked), non-blocking and
/// close-on-exec.
pub(crate) fn signalfd(mask: u64) -> Result<OwnedFd, Errno> {
    let set = to_sigset(mask);
    // SAFETY: -1 asks for a new descriptor; `set` is an initialised sigset_t.
    let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) })?;
    // SAFETY: the new descriptor is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one pending signal from a non-blocking signalfd; `None` when there
/// is none.
pub(crate) fn signalfd_read(fd: BorrowedFd<'_>) -> Result<Option<RawSigInfo>, Errno> {
    // SAFETY: an all-zero signalfd_siginfo is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: `info` is live, writable, and exactly `size` bytes long.
        let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut info).cast(), size) };
        match n {
            n if n == size as isize => {
                return Ok(Some(RawSigInfo {
                    signo: info.ssi_signo as i32,
                    code: info.ssi_code,
                    pid: info.ssi_pid as i32,
                    uid: info.ssi_uid,
                }));
            }
            -1 => match Errno::last() {
                Errno::EAGAIN => return Ok(None),
                Errno::EINTR => continue,
                e => return Err(e),
            },
            // A signalfd never returns a partial record.
            _ => return Err(Errno::EIO),
        }
    }
}

// ---------------------------------------------------------------- handlers

/// Signals with a handler registered through this crate, in this process.
static CLAIMED: AtomicU64 = AtomicU64::new(0);
/// Signals whose claimed handler was reset to the default in a forked child;
/// their signal-hook handler must be put back when the child registers again.
static RESET_IN_CHILD: AtomicU64 = AtomicU64::new(0);
/// The handler address and flags that were installed for each signal before
/// the child reset it, indexed by signal number.
static SAVED_HANDLER: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];
static SAVED_FLAGS: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// Whether signal-hook forbids a handler for `sig` (it panics for these).
pub(crate) fn is_forbidden(sig: i32) -> bool {
    signal_hook::consts::FORBIDDEN.contains(&sig)
}

/// An action registration in signal-hook's registry.
pub(crate) type SigId = signal_hook::SigId;

/// Registers `action` to run inside the handler of `sig`, through
/// signal-hook's registry, which chains to whatever handler was installed
/// before (so handlers of the host program keep working).
///
/// # Safety
///
/// `action` runs inside a signal handler: it must be async-signal-safe (no
/// allocation, no locks, no I/O but raw syscalls) and must not panic.
pub(crate) unsafe fn register<F>(sig: i32, action: F) -> Result<SigId, Errno>
where
    F: Fn() + Sync + Send + 'static,
{
    debug_assert!(!is_forbidden(sig), "callers check forbidden signals first");
    // SAFETY: the caller guarantees `action` is async-signal-safe and does not
    // panic; `sig` is not one signal-hook forbids (checked by our callers).
    let id = unsafe { signal_hook::low_level::register(sig, action) }
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)))?;
    claimed(sig)?;
    Ok(id)
}

/// Registers a handler that stores `true` in `flag` (signal-hook's safe
/// `flag::register`), chaining to the handler installed before.
pub(crate) fn register_flag(
    sig: i32,
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<SigId, Errno> {
    debug_assert!(!is_forbidden(sig), "callers check forbidden signals first");
    let id = signal_hook::flag::register(sig, flag)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)))?;
    claimed(sig)?;
    Ok(id)
}

/// Records that `sig` now has a handler of this crate's, and in a forked
/// child puts back a handler the child's reset had removed.
fn claimed(sig: i32) -> Result<(), Errno> {
    CLAIMED.fetch_or(bit(sig), Ordering::Relaxed);
    restore_after_child_reset(sig)
}

/// Removes a registration made by [`register`]. The handler itself stays
/// installed (signal-hook never uninstalls), so the signal now only runs what
/// was installed before; a default action before is not restored (the
/// signal is then ignored).
pub(crate) fn unregister(id: SigId) -> bool {
    signal_hook::low_level::unregister(id)
}

/// In a forked child: puts back the signal-hook handler of `sig` if
/// [`reset_claimed_in_child`] had replaced it with the default action.
fn restore_after_child_reset(sig: i32) -> Result<(), Errno> {
    if RESET_IN_CHILD.fetch_and(!bit(sig), Ordering::Relaxed) & bit(sig) == 0 {
        return Ok(());
    }
    let index = sig as usize;
    // SAFETY: zeroed storage, then every field we rely on is set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = SAVED_HANDLER[index].load(Ordering::Relaxed);
    action.sa_flags = SAVED_FLAGS[index].load(Ordering::Relaxed) as libc::c_int;
    // SAFETY: `action.sa_mask` is valid storage for a sigset_t.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is the handler that was installed in this very address
    // space before the reset, so its address is a valid handler.
    cvt(unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) }).map(drop)
}

/// Whether this crate has registered a handler for any signal (then a
/// fork must block signals until the child has reset them).
pub(crate) fn any_claimed() -> bool {
    CLAIMED.load(Ordering::Relaxed) != 0
}

/// In a forked child, before it runs anything else: sets every signal that
/// had a handler registered through this crate back to its default action,
/// remembering the handler so that a later registration in the child
/// reinstalls it; then, if `masked` (see [`super::process::RawFork`]),
/// empties the signal mask.
///
/// Only call this in the single thread of a freshly forked child.
#[inline]
pub(crate) fn reset_claimed_in_child(masked: bool) -> Result<(), Errno> {
    // Read before writing: a child that has nothing to reset writes nothing
    // (and so copies no page of this module's statics), and, this part
    // being inlined, runs no code on another page either (each code page a
    // child first runs is a page fault of its own).
    let claimed = CLAIMED.load(Ordering::Relaxed);
    if claimed == 0 && !masked {
        return Ok(());
    }
    reset_claimed_slow(claimed, masked)
}

#[cold]
#[inline(never)]
fn reset_claimed_slow(claimed: u64, masked: bool) -> Result<(), Errno> {
    if claimed != 0 {
        CLAIMED.store(0, Ordering::Relaxed);
    }
    let mut reset = 0;
    for sig in 1..=MAX_SIGNAL {
        if claimed & bit(sig) == 0 {
            continue;
        }
        // SAFETY: zeroed storage for a sigaction; handler SIG_DFL (0).
        let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        dfl.sa_sigaction = libc::SIG_DFL;
        // SAFETY: zeroed storage for the old action the kernel fills in.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers refer to live sigaction values.
        cvt(unsafe { libc::sigaction(sig, &dfl, &mut old) })?;
        SAVED_HANDLER[sig as usize].store(old.sa_sigaction, Ordering::Relaxed);
        SAVED_FLAGS[sig as usize].store(old.sa_flags as usize, Ordering::Relaxed);
        reset |= bit(sig);
    }
    if reset != 0 {
        RESET_IN_CHILD.fetch_or(reset, Ordering::Relaxed);
    }
    // Last: a signal that arrived since the fork (blocked until now) meets
    // the default action, not a handler meant for the parent.
    if masked {
        sigmask(How::SetMask, 0)?;
    }
    Ok(())
}

/// The current disposition of `sig`: `Some(true)` when it is the default
/// action, `Some(false)` when ignored or handled.
pub(crate) fn is_default_disposition(sig: i32) -> Result<bool, Errno> {
    // SAFETY: zeroed storage for the action the kernel fills in.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries; `old` is live.
    cvt(unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) })?;
    Ok(old.sa_sigaction == libc::SIG_DFL)
}
