//! A daemon under test: started, steered with signals, its status read, stopped.

use super::*;

/// One daemon started from a binary, on names of its own. Dropping it
/// kills what is left of it (its process group) and removes its names and
/// its scratch directory.
pub(super) struct Daemon {
    pub(super) child: Child,
    pub(super) pid: Pid,
    pub(super) workers: usize,
    pub(super) dir: PathBuf,
    pub(super) pidfile: PathBuf,
    pub(super) log: PathBuf,
    pub(super) queue: String,
    pub(super) status: String,
    pub(super) board: Option<SharedMemory<Status>>,
    pub(super) exited: bool,
}

impl Daemon {
    /// Starts `bin` with `workers` workers (and default flags otherwise),
    /// on the CPUs `cpus` (`None`: this process's), and waits until it runs
    /// with all of them.
    pub(super) fn start(
        bin: &Path,
        workers: usize,
        cpus: Option<libc::cpu_set_t>,
    ) -> Result<Daemon> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mproc-bd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        let (pidfile, log) = (dir.join("daemon.pid"), dir.join("daemon.log"));
        let (queue, status) = (format!("/{name}-q"), format!("/{name}-s"));
        let stderr = File::create(dir.join("stderr"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("--pidfile")
            .arg(&pidfile)
            .arg("--log")
            .arg(&log)
            .args(["--queue", &queue, "--status", &status])
            .args(["--workers", &workers.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own group: the workers join it, and the guard kills the
            // whole group.
            .process_group(0);
        // SAFETY: between fork and exec the child only makes two system
        // calls, prctl(2) and sched_setaffinity(2), which are
        // async-signal-safe; the latter reads the set copied into the
        // closure.
        unsafe {
            cmd.pre_exec(move || {
                // If the bench dies (its watchdog), the daemon drains and
                // removes its names.
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGTERM as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(set) = &cpus
                    && libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("spawning {}: {e}", bin.display()).into());
            }
        };
        let pid = Pid::from_raw(child.id() as i32).ok_or("the daemon has no pid")?;
        let mut d = Daemon {
            child,
            pid,
            workers,
            dir,
            pidfile,
            log,
            queue,
            status,
            board: None,
            exited: false,
        };
        d.until("its pidfile and status segment", |d| {
            std::fs::read_to_string(&d.pidfile).is_ok_and(|t| t.trim() == d.pid.to_string())
                && SharedMemory::<Status>::open(&d.status)
                    .is_ok_and(|b| b.state() == State::Running)
        })?;
        d.board = Some(SharedMemory::<Status>::open(&d.status)?);
        d.until("all its workers", |d| {
            d.board().workers.load(Relaxed) as usize == d.workers
                && d.worker_pids().len() == d.workers
        })?;
        Ok(d)
    }

    /// The status segment.
    pub(super) fn board(&self) -> &Status {
        self.board.as_ref().expect("opened by Daemon::start")
    }

    /// The daemon's live workers, as the kernel lists them, lowest pid
    /// first.
    pub(super) fn worker_pids(&self) -> Vec<i32> {
        procs::live_children(self.pid.as_raw())
    }

    /// Whether the master and all its workers sleep (`S` in
    /// `/proc/<pid>/stat`).
    pub(super) fn all_asleep(&self) -> bool {
        let all = procs::processes();
        let master = all
            .iter()
            .any(|p| p.pid == self.pid.as_raw() && p.state == 'S');
        let workers: Vec<char> = all
            .iter()
            .filter(|p| p.ppid == self.pid.as_raw() && p.state != 'Z')
            .map(|p| p.state)
            .collect();
        master && workers.len() == self.workers && workers.iter().all(|&s| s == 'S')
    }

    /// Waits until every process of the daemon has slept for `settle`
    /// (looked at before and after).
    pub(super) fn settle(&mut self, settle: Duration) -> Result<()> {
        let deadline = Instant::now() + STEP;
        loop {
            self.until("every process asleep", Daemon::all_asleep)?;
            std::thread::sleep(settle);
            if self.all_asleep() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the daemon's processes did not stay asleep for {settle:?} within {STEP:?}\n{}",
                    self.dump()
                )
                .into());
            }
        }
    }

    /// Waits until `cond` holds; fails (with what the daemon said) after
    /// [`STEP`] or if the daemon exits meanwhile.
    pub(super) fn until(&mut self, what: &str, cond: impl Fn(&Daemon) -> bool) -> Result<()> {
        let deadline = Instant::now() + STEP;
        loop {
            if cond(self) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = true;
                return Err(format!(
                    "the daemon exited ({status}) while the bench waited for {what}\n{}",
                    self.dump()
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out ({STEP:?}) waiting for {what} of the daemon\n{}",
                    self.dump()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops it with `SIGTERM`: it must exit 0 and leave no pidfile,
    /// status segment, queue or process.
    pub(super) fn stop(mut self) -> Result<()> {
        signal::kill(self.pid, Signal::TERM)?;
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                break status;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the daemon did not exit within {STEP:?} of SIGTERM\n{}",
                    self.dump()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let mut left = Vec::new();
        if status.code() != Some(0) {
            left.push(format!("exit status {status}"));
        }
        if self.pidfile.exists() {
            left.push("its pidfile".to_owned());
        }
        if still_there(SharedMemory::<Status>::open(&self.status)) {
            left.push(format!("its status segment {}", self.status));
        }
        if still_there(MessageQueue::open(&self.queue)) {
            left.push(format!("its queue {}", self.queue));
        }
        let group = procs::live_group(self.pid.as_raw());
        if !group.is_empty() {
            left.push(format!("processes {group:?}"));
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "after SIGTERM the daemon left: {}\n{}",
                left.join(", "),
                self.dump()
            )
            .into())
        }
    }

    /// Its stderr, status and the end of its log, for an error message.
    pub(super) fn dump(&self) -> String {
        let stderr = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        let status = self.board.as_ref().map(|b| b.snapshot().to_string());
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        format!("status: {status:?}\nstderr: {stderr}\nlast log lines:\n{tail}")
    }
}

/// Whether what `opened` tried to open is there (any answer but
/// `NotFound`).
pub(super) fn still_there<T>(opened: mproc::Result<T>) -> bool {
    !matches!(opened, Err(e) if e.kind() == ErrorKind::NotFound)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.exited && !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = signal::killpg(self.pid, Signal::KILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.board = None;
        let _ = SharedMemory::<Status>::reclaim(&self.status);
        if let Ok(mut q) = MessageQueue::open(&self.queue) {
            let _ = q.unlink();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
