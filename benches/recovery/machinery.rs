//! The machinery: one clock for every process, process states from `/proc`, a pipe for go signals, and forked children joined on drop.

use super::*;

/// `CLOCK_MONOTONIC` now, ns: the same clock in every process.
pub(super) fn mono_ns() -> u64 {
    // SAFETY: a zeroed timespec is valid storage that clock_gettime fills.
    let t = unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t);
        t
    };
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// The state letter of `/proc/<pid>/stat` (`S`: asleep, `Z`: zombie).
pub(super) fn proc_state(pid: i32) -> Option<u8> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// Waits until every process of `pids` is asleep (state `S`) and `ready()`
/// holds, `PARK_PATIENCE` at most; whether they were all seen asleep.
pub(super) fn wait_asleep(pids: &[i32], ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + PARK_PATIENCE;
    loop {
        if ready() && pids.iter().all(|&p| proc_state(p) == Some(b'S')) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// A pipe through which a child says it is ready (one byte).
pub(super) struct Pipe {
    pub(super) read: i32,
    pub(super) write: i32,
}

impl Pipe {
    pub(super) fn new() -> Result<Pipe> {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is storage for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(os_error("pipe2"));
        }
        Ok(Pipe {
            read: fds[0],
            write: fds[1],
        })
    }

    /// In a child: says it is ready.
    pub(super) fn signal(&self) {
        // SAFETY: writes one byte from a live buffer to our pipe.
        unsafe { libc::write(self.write, b"r".as_ptr().cast(), 1) };
    }

    /// In the bench: waits for one child's byte, `PATIENCE` at most.
    pub(super) fn wait(&self, who: &str) -> Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.read,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = PATIENCE.as_millis() as libc::c_int;
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n != 1 {
            return Err(format!("{who} never said it was ready").into());
        }
        let mut byte = 0u8;
        // SAFETY: reads one byte into a live u8.
        if unsafe { libc::read(self.read, (&raw mut byte).cast(), 1) } != 1 {
            return Err(os_error("reading the ready pipe"));
        }
        Ok(())
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: closes the two descriptors this pipe owns.
        unsafe {
            libc::close(self.read);
            libc::close(self.write);
        }
    }
}

/// One child process; killed and reaped if dropped unreaped (an error).
/// A daemon, so it dies with the bench even if the bench is killed.
pub(super) struct Kid<F: FnOnce()>(Process<F>);

impl<F: FnOnce()> Kid<F> {
    pub(super) fn start(f: F) -> Result<Kid<F>> {
        let mut p = Process::new(f).daemon(true);
        p.start()?;
        Ok(Kid(p))
    }

    pub(super) fn pid(&self) -> Result<i32> {
        Ok(self.0.pid().ok_or("a started child has no pid")?.as_raw())
    }

    /// SIGKILL, right after the stamp the latency is measured from.
    pub(super) fn kill_stamped(&self) -> Result<u64> {
        let pid = self.pid()?;
        let t0 = mono_ns();
        // SAFETY: kill has no memory preconditions; `pid` is our unreaped
        // child, so it cannot name another process.
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            return Err(os_error("kill(SIGKILL)"));
        }
        Ok(t0)
    }

    /// Reaps it (it must end within `PATIENCE`); its exit code.
    pub(super) fn reap(&self) -> Result<i32> {
        match self.0.join_timeout(PATIENCE)? {
            Some(code) => Ok(code),
            None => Err(format!("a child hung for {PATIENCE:?}").into()),
        }
    }
}

impl<F: FnOnce()> Drop for Kid<F> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.join();
    }
}
