//! `fork` then `execve` of a program with descriptors placed at 3..
//! and its own pid in some of its environment variables (systemd's
//! `LISTEN_PID`): the re-execution of a server's master on `USR2`.
//!
//! Everything that allocates is done before the fork ([`ExecPlan::new`]);
//! between the fork and the `execve`, the child makes only
//! async-signal-safe system calls and writes into memory it already has,
//! so the parent may run other threads.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt as _;

use super::{Errno, cvt};

/// The first descriptor the program finds its descriptors at
/// (`SD_LISTEN_FDS_START`).
pub(crate) const FIRST_FD: RawFd = 3;

/// The most descriptors one plan places.
pub(crate) const MAX_FDS: usize = 64;

/// The bytes reserved for a pid's digits and the NUL after them.
const PID_ROOM: usize = 11;

/// A program, its arguments, its environment and its descriptors, ready
/// to be started by [`ExecPlan::spawn`] without allocating.
pub(crate) struct ExecPlan {
    program: CString,
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    /// Each `NAME=value` and a NUL; a pid variable has [`PID_ROOM`] bytes
    /// after its `=`, filled in the child.
    env: Vec<Box<[u8]>>,
    envp: Vec<*const libc::c_char>,
    /// Which entries of `env` take the child's pid, and where the digits go.
    pid_slots: Vec<(usize, usize)>,
    fds: Vec<RawFd>,
}

impl core::fmt::Debug for ExecPlan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExecPlan")
            .field("program", &self.program)
            .field("fds", &self.fds)
            .finish_non_exhaustive()
    }
}

fn c_string(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

impl ExecPlan {
    /// `program` run with `args` (the first one is its `argv[0]`), the
    /// environment `env` (each `(name, value)`), plus one variable per
    /// name of `pid_vars` whose value is the child's pid, and `fds`
    /// placed at [`FIRST_FD`] onwards, in order. `EINVAL` for a NUL
    /// inside a string or a `=` in a name, `E2BIG` past [`MAX_FDS`].
    pub(crate) fn new(
        program: &OsStr,
        args: &[OsString],
        env: &[(OsString, OsString)],
        pid_vars: &[&str],
        fds: &[RawFd],
    ) -> Result<ExecPlan, Errno> {
        if fds.len() > MAX_FDS {
            return Err(Errno::E2BIG);
        }
        let program = c_string(program.as_bytes())?;
        let args = args
            .iter()
            .map(|a| c_string(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut entries: Vec<Box<[u8]>> = Vec::with_capacity(env.len() + pid_vars.len());
        let mut pid_slots = Vec::with_capacity(pid_vars.len());
        for (name, value) in env {
            let (name, value) = (name.as_bytes(), value.as_bytes());
            if name.is_empty() || name.contains(&b'=') || name.contains(&0) || value.contains(&0) {
                return Err(Errno::EINVAL);
            }
            let mut e = Vec::with_capacity(name.len() + value.len() + 2);
            e.extend_from_slice(name);
            e.push(b'=');
            e.extend_from_slice(value);
            e.push(0);
            entries.push(e.into_boxed_slice());
        }
        for name in pid_vars {
            let name = name.as_bytes();
            if name.is_empty() || name.contains(&b'=') || name.contains(&0) {
                return Err(Errno::EINVAL);
            }
            let mut e = Vec::with_capacity(name.len() + 1 + PID_ROOM);
            e.extend_from_slice(name);
            e.push(b'=');
            pid_slots.push((entries.len(), e.len()));
            e.resize(name.len() + 1 + PID_ROOM, 0);
            entries.push(e.into_boxed_slice());
        }
        let mut envp: Vec<*const libc::c_char> =
            entries.iter().map(|e| e.as_ptr().cast()).collect();
        envp.push(std::ptr::null());
        Ok(ExecPlan {
            program,
            _args: args,
            argv,
            env: entries,
            envp,
            pid_slots,
            fds: fds.to_vec(),
        })
    }

    /// Writes `pid` into every pid variable. Async-signal-safe: no
    /// allocation, no lock.
    fn fill_pid(&mut self, pid: i32) {
        for &(entry, at) in &self.pid_slots {
            write_decimal(&mut self.env[entry][at..], pid);
        }
    }

    /// The environment as the program would get it for `pid` (for
    /// tests: what the child fills in).
    #[cfg(test)]
    fn env_for(&mut self, pid: i32) -> Vec<String> {
        self.fill_pid(pid);
        self.env
            .iter()
            .map(|e| {
                let end = e.iter().position(|&b| b == 0).unwrap_or(e.len());
                String::from_utf8_lossy(&e[..end]).into_owned()
            })
            .collect()
    }

    /// `fork`, then in the child: the descriptors placed at
    /// [`FIRST_FD`].. (without close-on-exec; every other descriptor of
    /// the crate has it), the child's pid written into the pid variables,
    /// the signal handlers reset to their default (ignored ones stay
    /// ignored) and the signal mask emptied, then `execve`. A child whose
    /// `execve` fails writes a line to standard error and exits with 127.
    /// Returns the child's pid. Every signal is blocked in the parent
    /// across the fork (its mask is restored), so no handler of the
    /// parent's runs in the child.
    pub(crate) fn spawn(&mut self) -> Result<i32, Errno> {
        use super::signal::{How, sigmask};
        let old = sigmask(How::SetMask, u64::MAX)?;
        // SAFETY: the child only runs `exec_child`, which makes
        // async-signal-safe calls and writes to memory it owns, so it is
        // sound even if the parent runs other threads.
        let pid = cvt(unsafe { libc::fork() });
        if pid == Ok(0) {
            self.exec_child()
        }
        let _ = sigmask(How::SetMask, old);
        pid
    }

    /// The child's side of [`ExecPlan::spawn`]: async-signal-safe only.
    fn exec_child(&mut self) -> ! {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        self.fill_pid(pid);
        // Out of the way first (a source may sit where another one goes),
        // then in place: dup2 clears close-on-exec on the copy.
        let n = self.fds.len();
        let mut high = [-1 as RawFd; MAX_FDS];
        for (i, &fd) in self.fds.iter().enumerate() {
            // SAFETY: plain integer arguments.
            let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, FIRST_FD + n as RawFd) };
            if copy < 0 {
                fail(b"mproc: upgrade: a descriptor to pass is not open\n");
            }
            high[i] = copy;
        }
        for (i, &copy) in high.iter().take(n).enumerate() {
            // SAFETY: plain integer arguments.
            if unsafe { libc::dup2(copy, FIRST_FD + i as RawFd) } < 0 {
                fail(b"mproc: upgrade: dup2 failed\n");
            }
        }
        // 1 to 64: every signal number of Linux (invalid ones are refused).
        for sig in 1..65 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            // SAFETY: zeroed storage for a sigaction the call fills in.
            let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a null new action only reads the current one.
            if unsafe { libc::sigaction(sig, std::ptr::null(), &mut act) } == 0
                && act.sa_sigaction != libc::SIG_DFL
                && act.sa_sigaction != libc::SIG_IGN
            {
                // SAFETY: zeroed storage is an empty mask and no flags.
                let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
                dfl.sa_sigaction = libc::SIG_DFL;
                // SAFETY: `dfl` is a valid action for the call.
                unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
            }
        }
        // SAFETY: zeroed storage for a set sigemptyset initialises.
        let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `empty` is live storage for a signal set.
        unsafe { libc::sigemptyset(&mut empty) };
        // SAFETY: `empty` is an initialised set; the old mask is not asked for.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) };
        // SAFETY: the program, argv and envp are NUL-terminated strings
        // and null-terminated arrays built before the fork, alive here.
        unsafe {
            libc::execve(
                self.program.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            )
        };
        fail(b"mproc: upgrade: execve of the new binary failed\n")
    }
}

/// Takes `fd`, left open across `execve` by the program's parent for
/// this program to own: checked to be an open pipe, made close-on-exec.
/// `EBADF` when it is not open, `EINVAL` when it is not a pipe.
pub(crate) fn take_inherited_pipe(fd: RawFd) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd as _;
    if fd < FIRST_FD {
        return Err(Errno::EBADF);
    }
    // SAFETY: zeroed storage for a stat the call fills in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is live storage; a closed fd is refused with EBADF.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(Errno::EINVAL);
    }
    // SAFETY: plain integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
    // SAFETY: the parent left `fd` open for this process to own (the
    // caller read its number from the variable the parent set, once,
    // and removed it); it is open (checked above).
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// A line to standard error and `_exit(127)`. Async-signal-safe.
fn fail(line: &[u8]) -> ! {
    super::process::write_stderr_raw(line);
    super::process::exit_now(127)
}

/// Writes `n` in decimal and a NUL at the start of `out` (at least
/// [`PID_ROOM`] bytes for a pid). Async-signal-safe.
fn write_decimal(out: &mut [u8], n: i32) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut v = n.unsigned_abs();
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if out.len() <= len {
        return;
    }
    for i in 0..len {
        out[i] = digits[len - 1 - i];
    }
    out[len] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn the_pid_variables_get_the_digits_of_the_pid_the_child_has() {
        let mut plan = ExecPlan::new(
            OsStr::new("/bin/true"),
            &[os("true")],
            &[(os("LISTEN_FDS"), os("2")), (os("PATH"), os("/bin"))],
            &["LISTEN_PID", "WATCHDOG_PID"],
            &[7, 9],
        )
        .unwrap();
        assert_eq!(
            plan.env_for(4_194_304),
            [
                "LISTEN_FDS=2",
                "PATH=/bin",
                "LISTEN_PID=4194304",
                "WATCHDOG_PID=4194304"
            ]
        );
        // A shorter pid after a longer one leaves no digit behind.
        assert_eq!(plan.env_for(7)[2], "LISTEN_PID=7");
        assert_eq!(plan.env_for(i32::MAX)[3], "WATCHDOG_PID=2147483647");
    }

    #[test]
    fn bad_names_and_too_many_descriptors_are_refused() {
        let bad = |env: &[(OsString, OsString)], pid: &[&str], fds: &[RawFd]| {
            ExecPlan::new(OsStr::new("/bin/true"), &[os("true")], env, pid, fds).unwrap_err()
        };
        assert_eq!(bad(&[(os("A=B"), os("c"))], &[], &[]), Errno::EINVAL);
        assert_eq!(bad(&[(os("A"), os("c\0"))], &[], &[]), Errno::EINVAL);
        assert_eq!(bad(&[], &["X=Y"], &[]), Errno::EINVAL);
        assert_eq!(bad(&[], &[], &[0; MAX_FDS + 1]), Errno::E2BIG);
    }

    /// A real child: a shell writes its `$LISTEN_PID`, its own pid
    /// (`$$`), and what it finds at fd 4 to the pipe placed at fd 3.
    #[test]
    fn the_child_finds_its_descriptors_at_3_and_its_pid_in_the_environment() {
        let (mut rx, tx) = {
            let (r, w) = super::super::process::pipe().unwrap();
            (std::fs::File::from(r), w)
        };
        let (other_rx, other_tx) = super::super::process::pipe().unwrap();
        {
            use std::io::Write as _;
            std::fs::File::from(other_tx).write_all(b"hello").unwrap();
        }
        let mut plan = ExecPlan::new(
            OsStr::new("/bin/sh"),
            &[
                os("sh"),
                os("-c"),
                os(r#"read -r line <&4; echo "$LISTEN_PID $$ $line" >&3"#),
            ],
            &[(os("PATH"), os("/bin:/usr/bin"))],
            &["LISTEN_PID"],
            // In the order they go: the write end at 3, the other pipe's
            // read end at 4.
            &[tx.as_raw_fd(), other_rx.as_raw_fd()],
        )
        .unwrap();
        let pid = plan.spawn().unwrap();
        drop(tx);
        drop(other_rx);
        let mut out = String::new();
        rx.read_to_string(&mut out).unwrap();
        let mut status = 0;
        // SAFETY: `pid` is this test's child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(out, format!("{pid} {pid} hello\n"));
    }
}
