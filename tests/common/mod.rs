//! Test support shared by the integration test binaries.
//!
//! # Why every test body runs in its own forked process
//!
//! Signals, the alarm timer, the signal mask of the waiting thread, and the
//! set of children a process can wait for are all per process, while the
//! libtest harness runs tests on several threads of one process. So each test
//! that forks or touches signals runs its body through [`isolated`]: the body
//! runs in a forked child that is single-threaded (so `mproc`'s fork policy
//! applies as it would in a daemon), owns its signals and children, is a child
//! subreaper (orphans of its children come back to it, so nothing escapes to
//! init), and sits in its own process group. The harness thread waits with a
//! watchdog and kills the whole group if the body hangs. A body that leaves a
//! live process behind fails.
//!
//! This keeps plain `cargo test` reliable natively and under qemu-user.
#![allow(unsafe_code, dead_code)]

use std::io::Read as _;
use std::time::{Duration, Instant};

/// How long one isolated body may run before the watchdog kills it.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `body` in a fresh, single-threaded, forked process and panics here
/// if it panics, fails, hangs, or leaves a process behind.
pub fn isolated(body: impl FnOnce()) {
    // Hold std's stdout and stderr locks across the fork: another thread of
    // the harness (libtest's main thread printing results) may hold them at
    // the instant of the fork, and the child would inherit them locked
    // forever (mproc flushes stdout before each fork and exit). Held by this
    // thread, they are re-entrant for the child's only thread, and released
    // in both processes right after.
    let out = std::io::stdout().lock();
    let err = std::io::stderr().lock();
    // SAFETY: the child only runs `body` (test code that takes no lock held
    // by libtest's other threads: its output goes through the child's own
    // copy of this thread's capture buffer) and then `_exit`s.
    let pid = unsafe { libc::fork() };
    drop((out, err));
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        run_isolated_child(body);
    }
    let outcome = wait_with_watchdog(pid);
    // Whatever the body left in its process group goes now.
    // SAFETY: kill takes plain integers; the group is the child's own.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    match outcome {
        Some(0) => {}
        Some(101) => panic!("the isolated test body panicked (its message is above, on stderr)"),
        Some(102) => panic!("the isolated test body left processes running"),
        Some(code) if code >= 0 => panic!("the isolated test body exited with {code}"),
        Some(code) => panic!("the isolated test body was killed by signal {}", -code),
        None => panic!("the isolated test body hung for {WATCHDOG:?} and was killed"),
    }
}

fn run_isolated_child(body: impl FnOnce()) -> ! {
    // SAFETY: plain integer arguments: a new process group for this child,
    // and adopt orphaned descendants.
    let subreaper = unsafe {
        libc::setpgid(0, 0);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0)
    };
    SUBREAPER.store(subreaper == 0, std::sync::atomic::Ordering::Relaxed);
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(()) => reap_all(Duration::from_secs(5)),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".into());
            raw_stderr(&format!("isolated test body panicked: {msg}\n"));
            101
        }
    };
    // SAFETY: _exit ends the child without running the harness's code.
    unsafe { libc::_exit(code) }
}

/// Whether this isolated body adopts orphans (qemu-user refuses
/// `PR_SET_CHILD_SUBREAPER` with `EINVAL`).
static SUBREAPER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How an orphaned descendant `pid` ended, waiting up to `timeout`:
/// `Some(code)` when this isolated body adopted it (as subreaper) and reaped
/// it; where the platform refuses subreapers (qemu-user), `Some(i32::MIN)`
/// once it is gone or a zombie of someone else; `None` while it runs.
pub fn orphan_exit(pid: mproc::Pid, timeout: Duration) -> Option<i32> {
    if SUBREAPER.load(std::sync::atomic::Ordering::Relaxed) {
        return mproc::process::waitpid_timeout(pid, timeout).unwrap();
    }
    raw_stderr("note: no subreaper here (qemu-user); checking /proc instead of the exit code\n");
    let gone = || matches!(proc_state(pid.as_raw()), None | Some('Z'));
    eventually(timeout, gone).then_some(i32::MIN)
}

/// Reaps every remaining child (orphans come here: we are a subreaper).
/// Returns 0 when none is left within `grace`, 102 otherwise.
fn reap_all(grace: Duration) -> i32 {
    let deadline = Instant::now() + grace;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r > 0 {
            continue;
        }
        if r < 0 {
            return 0; // ECHILD: no children left
        }
        if Instant::now() >= deadline {
            raw_stderr("isolated test body left live child processes\n");
            return 102;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_with_watchdog(pid: libc::pid_t) -> Option<i32> {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Some(if libc::WIFSIGNALED(status) {
                -libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            });
        }
        assert!(
            r == 0,
            "waitpid failed: {}",
            std::io::Error::last_os_error()
        );
        if Instant::now() >= deadline {
            // SAFETY: plain integers; the group and the child are our own.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Writes to fd 2 directly, bypassing libtest's output capture.
pub fn raw_stderr(s: &str) {
    // SAFETY: pointer and length describe the live string.
    unsafe { libc::write(2, s.as_ptr().cast(), s.len()) };
}

/// The state letter of `/proc/<pid>/stat` (`'Z'` for a zombie), or `None`
/// when no such process exists.
pub fn proc_state(pid: i32) -> Option<char> {
    let mut text = String::new();
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    let close = text.rfind(')')?;
    text[close + 1..].trim_start().chars().next()
}

/// Waits up to `timeout` for `cond` to hold, checking every few ms.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether the tests run under qemu-user (set by scripts/cross-test.sh).
pub fn under_qemu() -> bool {
    std::env::var_os("MPROC_UNDER_QEMU").is_some()
}

/// Points this process's descriptor `target` (1: stdout, 2: stderr) at
/// `to`, e.g. the write end of a pipe whose read end the parent keeps.
pub fn redirect(to: &impl std::os::fd::AsRawFd, target: i32) {
    // SAFETY: both descriptors are valid; dup2 replaces `target`.
    let r = unsafe { libc::dup2(to.as_raw_fd(), target) };
    assert!(r == target, "dup2 failed");
}

/// Set in a test binary that [`reexec`] started.
const REEXEC_VAR: &str = "MPROC_TEST_REEXEC";

/// Whether this process is a re-run made by [`reexec`].
pub fn in_reexec() -> bool {
    std::env::var_os(REEXEC_VAR).is_some()
}

/// Runs the test `name` of this test binary again in a new process, with
/// output capture off (so that what children print reaches the real stdout
/// and stderr, which are returned). `None` under qemu-user, which cannot
/// exec a binary of the emulated architecture without binfmt_misc.
pub fn reexec(name: &str) -> Option<std::process::Output> {
    if under_qemu() {
        raw_stderr(&format!(
            "SKIPPED under qemu-user (cannot re-exec the test binary): {name}\n"
        ));
        return None;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let out = std::process::Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(REEXEC_VAR, "1")
        .output()
        .expect("re-exec the test binary");
    Some(out)
}

/// A one-shot gate between processes: a child waits on it, the parent opens
/// it by writing one byte to the paired writer. (End-of-file cannot serve:
/// the child inherits the write end too.)
pub struct Gate(std::io::PipeReader);

impl Gate {
    /// Waits until the gate is opened.
    pub fn wait(mut self) {
        self.0.read_exact(&mut [0u8; 1]).expect("gate");
    }

    /// Another waiter on the same pipe (each opening lets one through).
    pub fn try_clone(&self) -> Gate {
        Gate(self.0.try_clone().expect("dup"))
    }
}

/// A closed gate and the writer that opens it.
pub fn gate() -> (Gate, std::io::PipeWriter) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    (Gate(reader), writer)
}
