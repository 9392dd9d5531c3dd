//! The example daemon (`examples/daemon/`) steered from outside, as an
//! operator steers it: the built binary is started on names of its own,
//! jobs go in through the `submit` binary, signals are sent with the
//! system's `kill` command, and what is checked is what an operator sees:
//! the log file, the status segment, `/proc`, the exit code, and what is
//! left behind.
//!
//! Nothing is sequenced by sleeping: each step waits for observable state
//! (a log line, a counter, a worker pid), bounded by a 30 s watchdog. A
//! daemon left by a failing check is killed with its whole process group,
//! and its names removed, when its guard drops.
//!
//! The binaries are the examples next to this test's executable;
//! `cargo test` builds them, and `cargo test --test operator` (which does
//! not) gets them built here, once, by `cargo build --example …`. Under
//! qemu-user (`MPROC_UNDER_QEMU`, set by scripts/cross-test.sh) a binary of
//! the emulated architecture cannot be spawned: every test says so on
//! stderr and passes without running.

#[path = "../common/examples.rs"]
mod examples;
#[allow(dead_code)]
#[path = "../common/procs.rs"]
mod procs;

mod restart;
mod steer;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::daemon::{Snapshot, State, Status};
use mproc::ipc::MessageQueue;
use mproc::shm::SharedMemory;

/// The longest any one step may take.
const WATCHDOG: Duration = Duration::from_secs(30);

/// `Status::user` indexes, as `examples/daemon/` documents them.
const ACCEPTED: usize = 0;
const STARTED: usize = 1;
const TIMEOUTS: usize = 2;

fn note(text: &str) {
    // Straight to the process's stderr, past libtest's capture.
    let _ = writeln!(std::io::stderr(), "{text}");
}

struct Binaries {
    daemon: PathBuf,
    submit: PathBuf,
    status: PathBuf,
}

/// The example binaries, built if need be; `None` where they cannot run.
fn binaries() -> Option<&'static Binaries> {
    static BINARIES: OnceLock<Option<Binaries>> = OnceLock::new();
    BINARIES
        .get_or_init(|| {
            if std::env::var_os("MPROC_UNDER_QEMU").is_some() {
                return None;
            }
            let exe = std::env::current_exe().expect("current_exe");
            // target/[<triple>/]<profile>/deps/operator-<hash>
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("the test executable lives in <target>/<profile>/deps");
            examples::build(profile_dir, &["daemon", "submit", "status"]);
            let dir = profile_dir.join("examples");
            let b = Binaries {
                daemon: dir.join("daemon"),
                submit: dir.join("submit"),
                status: dir.join("status"),
            };
            for bin in [&b.daemon, &b.submit, &b.status] {
                assert!(
                    bin.exists(),
                    "{} is missing: build the examples (cargo build --examples)",
                    bin.display()
                );
            }
            Some(b)
        })
        .as_ref()
}

/// One daemon started from its binary, on names of its own. Dropping it
/// kills what is left of it (its process group) and removes its names.
struct Daemon {
    child: Child,
    pid: u32,
    dir: PathBuf,
    pidfile: PathBuf,
    log: PathBuf,
    queue: String,
    status: String,
    board: Option<SharedMemory<Status>>,
    exited: Option<ExitStatus>,
    /// Whether dropping the guard removes the names and the scratch
    /// directory (not when a new daemon takes them over: see `restart`).
    owns_names: bool,
}

impl Daemon {
    /// Starts the daemon with `extra` flags and waits until it runs;
    /// `None` (said on stderr) where its binary cannot run.
    fn start(tag: &str, extra: &[&str]) -> Option<Daemon> {
        if binaries().is_none() {
            note(&format!(
                "SKIPPED under qemu-user (cannot spawn the example daemon): operator::{tag}"
            ));
            return None;
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mproc-op-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let (pidfile, log) = (dir.join("daemon.pid"), dir.join("daemon.log"));
        let (queue, status) = (format!("/{name}-q"), format!("/{name}-s"));
        Daemon::start_on(tag, dir, pidfile, log, queue, status, extra)
    }

    /// Starts a daemon on these names; as `start`.
    fn start_on(
        tag: &str,
        dir: PathBuf,
        pidfile: PathBuf,
        log: PathBuf,
        queue: String,
        status: String,
        extra: &[&str],
    ) -> Option<Daemon> {
        let bins = binaries()?;
        let stderr = std::fs::File::create(dir.join("stderr")).expect("stderr file");
        let spawned = Command::new(&bins.daemon)
            .arg("--pidfile")
            .arg(&pidfile)
            .arg("--log")
            .arg(&log)
            .args(["--queue", &queue, "--status", &status])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own process group: the workers join it, and the guard
            // kills the whole group.
            .process_group(0)
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
                note(&format!(
                    "SKIPPED: the example daemon is not a native binary ({e}): operator::{tag}"
                ));
                let _ = std::fs::remove_dir_all(&dir);
                return None;
            }
            Err(e) => panic!("spawning {}: {e}", bins.daemon.display()),
        };
        let mut d = Daemon {
            pid: child.id(),
            child,
            dir,
            pidfile,
            log,
            queue,
            status,
            board: None,
            exited: None,
            owns_names: true,
        };
        d.until("the pidfile", |d| {
            std::fs::read_to_string(&d.pidfile).is_ok_and(|t| t.trim() == d.pid.to_string())
        });
        let status = d.status.clone();
        d.until("the status segment", |_| {
            SharedMemory::<Status>::open(&status).is_ok_and(|b| b.state() == State::Running)
        });
        d.board = Some(SharedMemory::<Status>::open(&d.status).expect("status segment"));
        Some(d)
    }

    /// Starts a new daemon on this one's names (after it exited), with
    /// `extra` flags; this guard then leaves the names to the new one.
    fn restart(mut self, extra: &[&str]) -> Option<Daemon> {
        assert!(self.exited.is_some(), "restart after the daemon exited");
        self.owns_names = false;
        let (dir, pidfile, log) = (self.dir.clone(), self.pidfile.clone(), self.log.clone());
        let (queue, status) = (self.queue.clone(), self.status.clone());
        drop(self);
        Daemon::start_on("restart", dir, pidfile, log, queue, status, extra)
    }

    /// Runs the daemon binary on this one's names (and another pidfile
    /// if `pidfile` says so) and waits for it to exit (it is meant to be
    /// refused: killed, with a failure, if it runs past the watchdog);
    /// its exit code and stderr.
    fn run_again(&self, pidfile: &Path) -> (Option<i32>, String) {
        let bins = binaries().expect("binaries");
        let stderr = self.dir.join("again.stderr");
        let mut child = Command::new(&bins.daemon)
            .arg("--pidfile")
            .arg(pidfile)
            .arg("--log")
            .arg(self.dir.join("again.log"))
            .args(["--queue", &self.queue, "--status", &self.status])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .process_group(0)
            .spawn()
            .expect("run the daemon");
        let deadline = Instant::now() + WATCHDOG;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                panic!(
                    "the second daemon was not refused: it ran for {WATCHDOG:?}\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        (
            status.code(),
            std::fs::read_to_string(&stderr).unwrap_or_default(),
        )
    }

    /// The status board, read now.
    fn snap(&self) -> Snapshot {
        self.board.as_ref().expect("open").snapshot()
    }

    /// `kill -SIG <pid>`, with the system's `kill`.
    fn kill(&self, sig: &str) {
        signal_pid(sig, self.pid);
    }

    /// Runs `submit` on this daemon's queue; returns its output.
    fn submit(&self, args: &[&str]) -> String {
        let bins = binaries().expect("binaries");
        let out = Command::new(&bins.submit)
            .args(["--queue", &self.queue])
            .args(args)
            .output()
            .expect("run submit");
        assert!(
            out.status.success(),
            "submit {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The log, every line without its timestamp.
    fn log_lines(&self) -> Vec<String> {
        read_log(&self.log)
    }

    /// The first log line that starts with `prefix` (after the timestamp).
    fn line(&self, prefix: &str) -> Option<String> {
        self.log_lines().into_iter().find(|l| l.starts_with(prefix))
    }

    /// The daemon's live workers, as the kernel lists them.
    fn workers(&self) -> BTreeSet<u32> {
        procs::live_children(self.pid as i32)
            .into_iter()
            .map(|p| p as u32)
            .collect()
    }

    /// Waits until `cond` holds; fails (with the log) after the watchdog
    /// or if the daemon exits meanwhile.
    fn until(&mut self, what: &str, cond: impl Fn(&Daemon) -> bool) {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            if cond(self) {
                return;
            }
            if self.exited.is_none()
                && let Ok(Some(status)) = self.child.try_wait()
            {
                self.exited = Some(status);
                // One more look: the state may have come with the exit.
                if cond(self) {
                    return;
                }
                panic!(
                    "the daemon exited ({status}) while waiting for {what}\n{}",
                    self.dump()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out ({WATCHDOG:?}) waiting for {what}\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the daemon to exit, at most `within`.
    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited {
                return status;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = Some(status);
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {within:?}\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Processes of the daemon's group still running (workers included).
    fn group_left(&self) -> Vec<u32> {
        procs::live_group(self.pid as i32)
            .into_iter()
            .map(|p| p as u32)
            .collect()
    }

    /// Checks that an exited daemon left nothing behind: pidfile, status
    /// segment, queue, processes.
    fn assert_nothing_left(&self) {
        assert!(!self.pidfile.exists(), "pidfile left");
        let shm = Path::new("/dev/shm").join(&self.status[1..]);
        assert!(!shm.exists(), "{} left", shm.display());
        assert_eq!(
            SharedMemory::<Status>::open(&self.status)
                .map(|_| ())
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            MessageQueue::open(&self.queue)
                .map(|_| ())
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound,
            "queue left"
        );
        assert!(
            !Path::new(&owner_record(&self.queue)).exists(),
            "the queue's owner record left"
        );
        assert_eq!(self.group_left(), Vec::<u32>::new(), "processes left");
    }

    fn dump(&self) -> String {
        let stderr = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        let s = self.board.as_ref().map(|b| b.snapshot().to_string());
        format!(
            "status: {s:?}\nstderr: {stderr}\nlog:\n{}",
            self.log_lines().join("\n")
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited.is_none() && !matches!(self.child.try_wait(), Ok(Some(_))) {
            // The whole group: the daemon and its workers.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.pid)])
                .status();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.board = None;
        if !self.owns_names {
            return;
        }
        let _ = SharedMemory::<Status>::reclaim(&self.status);
        let _ = MessageQueue::reclaim(&self.queue);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where the owner record of queue `name` is, as `mproc::ipc::mq`
/// documents it: `/dev/shm/mproc-mq-owner-<FNV-1a 64 of the name, hex>`.
fn owner_record(name: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("/dev/shm/mproc-mq-owner-{hash:016x}")
}

/// Waits until `cond` holds, at most the watchdog.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out ({WATCHDOG:?}) waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn signal_pid(sig: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid}: {status}");
}

fn read_log(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_string())
        .collect()
}

/// The ids of the jobs with a `job <id> <verb> …` line.
fn jobs(lines: &[String], verb: &str) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| {
            let mut w = l.split(' ');
            match (w.next(), w.next(), w.next()) {
                (Some("job"), Some(id), Some(v)) if v == verb => id.parse().ok(),
                _ => None,
            }
        })
        .collect()
}
