//! Process syscalls: fork, wait, pidfd, prctl, kill, and /proc reads.

use std::io::Read as _;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use std::sync::atomic::Ordering;

use super::mem::WipeOnFork;
use super::{Errno, cvt, cvt_long, retry_on_intr};

/// Which side of a `fork(2)` the caller is on.
pub(crate) enum RawFork {
    /// The new process. `masked`: its signal mask is not empty (the fork
    /// blocked every signal, or the parent had some blocked); pass it to
    /// [`super::signal::reset_claimed_in_child`].
    Child {
        /// Whether the child's mask still has to be emptied.
        masked: bool,
    },
    /// The calling process; the new child's pid.
    Parent(i32),
}

/// Permission to fork: the process is single-threaded, or the caller of an
/// `unsafe` opt-in has promised what the child will and will not do.
pub(crate) struct ForkPermit(());

impl ForkPermit {
    /// A permit for a single-threaded process; otherwise the thread count.
    pub(crate) fn single_threaded() -> Result<Result<ForkPermit, u32>, Errno> {
        // Fastest path (one load): glibc keeps `__libc_single_threaded` true
        // until the first thread is created, and resets it in a fork child.
        // False only means "maybe not": then count.
        if libc_single_threaded() {
            return Ok(Ok(ForkPermit(())));
        }
        // Fast path (one stat(2), a few µs): procfs gives /proc/self/task one
        // link per thread plus two. Under qemu-user that counts the emulator's
        // own threads too, so a count above one is confirmed with the slower,
        // emulated /proc/self/stat before refusing.
        if let Ok(meta) = std::fs::metadata("/proc/self/task") {
            use std::os::unix::fs::MetadataExt as _;
            if meta.nlink() == 3 {
                return Ok(Ok(ForkPermit(())));
            }
        }
        let threads = match thread_count() {
            // The count is hidden (qemu-user reports 0): nothing to check.
            Err(Errno::ENOTSUP) => return Ok(Ok(ForkPermit(()))),
            other => other?,
        };
        Ok(if threads > 1 {
            Err(threads)
        } else {
            Ok(ForkPermit(()))
        })
    }

    /// A permit without the check.
    ///
    /// # Safety
    ///
    /// When the calling process has more than one thread, the child holds a
    /// copy of every lock those threads held at the instant of the fork, and
    /// nobody will ever release them. The caller must make sure the child only
    /// calls functions that take no lock another thread may have held (in
    /// particular no stdout/stderr locks, `std::env`, or locks of the caller's
    /// own), or that the process is single-threaded.
    pub(crate) unsafe fn assume() -> ForkPermit {
        ForkPermit(())
    }
}

#[cfg(target_env = "gnu")]
unsafe extern "C" {
    /// glibc (2.32 and later): non-zero while the process has never had a
    /// second thread (and again in the child of a fork).
    static __libc_single_threaded: libc::c_char;
}

/// Whether glibc knows the process to be single-threaded. `false` means
/// "it may not be" (it stays false after the other threads have ended).
fn libc_single_threaded() -> bool {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: glibc defines this byte for the life of the process; it is
        // only written by the C library while creating a first thread or
        // forking, and a stale read only sends us to the slow path.
        unsafe { std::ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
    }
    #[cfg(not(target_env = "gnu"))]
    {
        false
    }
}

/// `fork(2)`, with every signal blocked across it.
///
/// When this crate has registered a signal handler, every signal is blocked
/// across the fork: the parent's mask is restored before this returns in
/// the parent, and the child returns with **every signal blocked**, so that
/// no signal sent to it early can run a handler it inherited before it has
/// reset them. Otherwise the mask is left alone (two syscalls and the
/// child's trip through the C library's signal code saved) and only read.
/// Either way the caller must, in the child, call
/// [`super::signal::reset_claimed_in_child`] with the returned `masked`.
pub(crate) fn fork(_permit: ForkPermit) -> Result<RawFork, Errno> {
    use super::signal::{How, any_claimed, sigmask};
    let guard = any_claimed();
    let old = if guard {
        sigmask(How::SetMask, u64::MAX)?
    } else {
        sigmask(How::Block, 0)?
    };
    // SAFETY: the permit proves the process is single-threaded, or that the
    // caller promised the child takes no lock another thread may hold; fork
    // itself has no memory-safety preconditions.
    let pid = cvt(unsafe { libc::fork() });
    if guard && pid != Ok(0) {
        // Restoring a mask that was in force a moment ago cannot fail.
        let _ = sigmask(How::SetMask, old);
    }
    Ok(match pid? {
        0 => RawFork::Child {
            masked: guard || old != 0,
        },
        child => RawFork::Parent(child),
    })
}

/// `_exit(2)`: ends the process now, without running atexit handlers or
/// destructors, and without flushing stdio buffers.
///
/// This is async-signal-safe.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// Where [`getpid`] caches the pid: a word that every forked child sees as
/// 0 again ("not known yet"), so the cache never outlives a fork.
static PID_CACHE: WipeOnFork = WipeOnFork::new();

/// `getpid(2)`, cached: one load instead of a syscall (the lock word of a
/// process-shared lock holds the owner's pid, so this is on hot paths).
/// The cache lives in `MADV_WIPEONFORK` memory, which the kernel zeroes in a
/// child made by `fork` or by a `clone` without `CLONE_VM`; where that advice
/// is not available (qemu-user), every call is a syscall. A child of a raw
/// `clone(CLONE_VM)` that calls into this crate is not supported.
pub(crate) fn getpid() -> i32 {
    match PID_CACHE.words(1) {
        Some(words) if PID_CACHE.wiped() => {
            let cached = words[0].load(Ordering::Relaxed);
            if cached != 0 {
                return cached;
            }
            let pid = getpid_uncached();
            words[0].store(pid, Ordering::Relaxed);
            pid
        }
        _ => getpid_uncached(),
    }
}

fn getpid_uncached() -> i32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// `getppid(2)`. Always succeeds.
pub(crate) fn getppid() -> i32 {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }
}

/// How a reaped child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It called `exit`/`_exit` (or returned from `main`) with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

/// Decodes a raw `waitpid` status of a terminated child.
pub(crate) fn decode_status(status: i32) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

/// `waitpid(pid, WNOHANG?)` for one child that terminated. Returns the raw
/// status, or `None` when `block` is false and the child still runs. Stopped
/// and continued children are not reported. Retries `EINTR`.
pub(crate) fn waitpid(pid: i32, block: bool) -> Result<Option<i32>, Errno> {
    let flags = if block { 0 } else { libc::WNOHANG };
    retry_on_intr(|| {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer for the duration of the call.
        let ret = cvt(unsafe { libc::waitpid(pid, &mut status, flags) })?;
        Ok(if ret == 0 { None } else { Some(status) })
    })
}

/// `pidfd_open(2)`: a file descriptor that refers to `pid` and becomes
/// readable when it terminates. Close-on-exec.
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags by value; no pointers.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: on success the kernel returned a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `pidfd_send_signal(2)` with no siginfo.
pub(crate) fn pidfd_send_signal(fd: BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    let null = std::ptr::null::<libc::siginfo_t>();
    // SAFETY: a valid fd, a signal number, a null info pointer (allowed) and 0 flags.
    cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, null, 0) })?;
    Ok(())
}

/// `kill(2)`. `sig` may be 0 to test for existence.
///
/// This is async-signal-safe.
pub(crate) fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: kill takes plain integers.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `killpg(3)`.
pub(crate) fn killpg(pgrp: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: killpg takes plain integers.
    cvt(unsafe { libc::killpg(pgrp, sig) }).map(drop)
}

/// `getpgrp(2)`. Always succeeds.
pub(crate) fn getpgrp() -> i32 {
    // SAFETY: getpgrp has no preconditions and cannot fail.
    unsafe { libc::getpgrp() }
}

/// `atexit(3)`: runs `hook` when the process ends through `exit(3)`
/// (a return from `main`, `std::process::exit`), after the handlers
/// registered later and before those registered earlier; never on `_exit`
/// ([`exit_now`]) or death by a signal. The registration is inherited by
/// a forked child (its copy runs in the child if the child calls `exit`)
/// and dropped by `execve`. `ENOMEM` when the C library has no room.
///
/// The hook runs with the process otherwise intact (other threads may
/// still run), must not panic (it is an `extern "C"` function: a panic
/// aborts), and should take no lock that code still running might hold.
pub(crate) fn at_exit(hook: extern "C" fn()) -> Result<(), Errno> {
    // SAFETY: `hook` is a plain function with the C ABI and no arguments,
    // valid for the life of the program (it is code, not a closure).
    match unsafe { libc::atexit(hook) } {
        0 => Ok(()),
        _ => Err(Errno::ENOMEM),
    }
}

/// `setpgid(2)`: moves process `pid` (0: the caller) into the process
/// group `pgid` (0: a new group led by `pid`).
pub(crate) fn setpgid(pid: i32, pgid: i32) -> Result<(), Errno> {
    // SAFETY: setpgid takes plain integers.
    cvt(unsafe { libc::setpgid(pid, pgid) }).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: deliver `sig` to this process when the
/// thread that forked it exits (the *thread*, not the whole process: a
/// child forked from a thread that ends before the process is signalled
/// then). Cleared in a child of this process; kept across `execve` except
/// of a set-user-ID program.
pub(crate) fn set_parent_death_signal(sig: i32) -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes the signal as an unsigned long argument.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// `prctl(PR_SET_CHILD_SUBREAPER, on)`.
pub(crate) fn set_child_subreaper(on: bool) -> Result<(), Errno> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes a flag as an unsigned long argument.
    cvt(unsafe {
        libc::prctl(
            libc::PR_SET_CHILD_SUBREAPER,
            libc::c_ulong::from(on),
            0,
            0,
            0,
        )
    })
    .map(drop)
}

/// Number of threads in the calling process, from field 20 of
/// `/proc/self/stat`. Allocation-free. `ENOTSUP` where the field is hidden:
/// qemu-user fakes `/proc/self/stat` with zeros there.
pub(crate) fn thread_count() -> Result<u32, Errno> {
    let mut buf = [0u8; 1024];
    let mut file = std::fs::File::open("/proc/self/stat").map_err(io_errno)?;
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_errno(e)),
        }
    }
    match parse_stat_threads(&buf[..len]) {
        // Every process has a thread; qemu-user fills the field with 0.
        Some(0) => Err(Errno::ENOTSUP),
        Some(n) => Ok(n),
        None => Err(Errno::EIO),
    }
}

/// Field 20 (`num_threads`) of a `/proc/<pid>/stat` line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after the
/// last `)`.
pub(crate) fn parse_stat_threads(stat: &[u8]) -> Option<u32> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After ')' come fields 3 (state), 4, ...; field 20 is the 18th of them.
    rest.split_ascii_whitespace().nth(17)?.parse().ok()
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Online CPUs, `sysconf(_SC_NPROCESSORS_ONLN)` (what Python's
/// `os.cpu_count()` reports).
pub(crate) fn cpu_count() -> Result<usize, Errno> {
    // SAFETY: sysconf takes a plain integer name.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n < 1 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: on success both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Writes all of `bytes` to standard error with `write(2)`, taking no lock.
/// Errors are ignored: this is the last word of a dying child.
///
/// This is async-signal-safe.
pub(crate) fn write_stderr_raw(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        match n {
            n if n > 0 => bytes = &bytes[n as usize..],
            -1 if Errno::last() == Errno::EINTR => continue,
            _ => return,
        }
    }
}

/// Whether `pid` names no live process: it does not exist, or it has ended
/// and waits to be reaped (a zombie, which `kill(pid, 0)` still accepts).
/// The owner checks of the process-shared locks rest on this.
///
/// Allocation-free: `kill(2)`, then `/proc/<pid>/stat` read into a stack
/// buffer. A pid that exists but cannot be inspected counts as alive.
pub(crate) fn is_dead(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    if kill(pid, 0) == Err(Errno::ESRCH) {
        return true;
    }
    let mut buf = [0u8; 512];
    match read_stat(pid, &mut buf) {
        // "pid (comm) S ...": the state follows the last ')'.
        Some(fields) => matches!(fields.first(), Some(b'Z' | b'X' | b'x')),
        // Gone between the two looks, or /proc is not mounted.
        None => kill(pid, 0) == Err(Errno::ESRCH),
    }
}

/// When `pid` started, in clock ticks since boot (`/proc/<pid>/stat` field
/// 22): with the pid, it names a process even after the pid is reused.
/// `None` when it cannot be read; 0 where procfs hides it (qemu-user).
/// Allocation-free.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let mut buf = [0u8; 512];
    let fields = read_stat(pid, &mut buf)?;
    // Fields after the command: state is field 3, start time field 22.
    let field = fields.split(|&b| b == b' ').nth(22 - 3)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// `/proc/<pid>/stat` read into `buf`, from the field after the command
/// (`pid (comm) ` skipped: a command may hold spaces and parentheses).
///
/// The path is spelt `/proc//<pid>/stat`: the kernel reads it as
/// `/proc/<pid>/stat`, while qemu-user, which answers a process's reads of
/// its own `/proc/<pid>/stat` with made-up values (its own start time among
/// them), does not recognise it; so a process and the others agree on what
/// the file says about it.
fn read_stat(pid: i32, buf: &mut [u8]) -> Option<&[u8]> {
    let mut path = [0u8; 32];
    let prefix = b"/proc//";
    path[..prefix.len()].copy_from_slice(prefix);
    let mut n = prefix.len();
    let mut digits = [0u8; 10];
    let mut d = 0;
    let mut v = pid.unsigned_abs();
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in (0..d).rev() {
        path[n] = digits[i];
        n += 1;
    }
    let suffix = b"/stat";
    path[n..n + suffix.len()].copy_from_slice(suffix);
    n += suffix.len();
    let path = std::str::from_utf8(&path[..n]).ok()?;
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.read(buf).ok()?;
    let stat = &buf[..len];
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2..)
}

std::thread_local! {
    /// This thread's id and the process it was read in (0, 0: not yet).
    static TID: std::cell::Cell<(i32, i32)> = const { std::cell::Cell::new((0, 0)) };
}

/// `gettid(2)`, cached per thread. The cache is keyed on [`getpid`]: a
/// forked child's only thread inherits its parent's thread-local copy, and
/// sees the pid change.
pub(crate) fn gettid() -> i32 {
    let pid = getpid();
    TID.with(|cell| {
        let (cached_pid, tid) = cell.get();
        if cached_pid == pid && tid != 0 {
            return tid;
        }
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
        cell.set((pid, tid));
        tid
    })
}

/// This process's resident set in KiB, from `/proc/self/statm` (its second
/// field, in pages); `None` when it cannot be read. Allocation-free.
pub(crate) fn resident_kib() -> Option<u64> {
    use std::io::Read as _;
    let mut buf = [0u8; 128];
    let n = std::fs::File::open("/proc/self/statm")
        .and_then(|mut f| f.read(&mut buf))
        .ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf takes a constant and reads no memory of ours.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = u64::try_from(page).ok().filter(|p| *p > 0)?;
    Some(pages * page / 1024)
}

#[cfg(test)]
mod tests {
    use super::parse_stat_threads;

    #[test]
    fn thread_count_is_field_20_even_with_parentheses_in_the_name() {
        let line = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 100 1000 200";
        assert_eq!(parse_stat_threads(line), Some(7));
        assert_eq!(parse_stat_threads(b"42 (x) S 1"), None);
        assert_eq!(parse_stat_threads(b"no parenthesis"), None);
    }
}
