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

#[path = "common/examples.rs"]
mod examples;
#[allow(dead_code)]
#[path = "common/procs.rs"]
mod procs;

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

#[test]
fn usr1_writes_an_accurate_status_line_into_a_log_recreated_after_rotation() {
    let Some(mut d) = Daemon::start("usr1", &[]) else {
        return;
    };
    d.submit(&["--id", "1", "--count", "5", "sleep", "1"]);
    d.submit(&["--id", "6", "fail"]);
    d.until("six jobs to end", |d| {
        let s = d.snap();
        s.done == 5 && s.failed == 1 && s.queued == 0
    });
    // logrotate's move, then its signal.
    let rotated = d.log.with_extension("log.1");
    std::fs::rename(&d.log, &rotated).unwrap();
    d.kill("USR1");
    d.until("a recreated log with the status line", |d| {
        d.line("status #1 ").is_some()
    });
    let line = d.line("status #1 ").unwrap();
    let expected = format!(
        "status #1 pid={} state=running workers=2/2 queued=0 done=5 failed=1 forks=2 ",
        d.pid
    );
    assert!(line.starts_with(&expected), "{line}\nexpected {expected}");
    assert!(
        line.contains(" accepted=6 started=6 timeouts=0 waiting=0 "),
        "{line}"
    );
    assert!(line.contains(" rss="), "{line}");
    d.until("the report counted", |d| d.snap().reports == 1);
    assert_eq!(d.log_lines().len(), 1, "the new file holds only the report");
    let old = read_log(&rotated);
    let mut done = jobs(&old, "done");
    done.sort_unstable();
    assert_eq!(done, [1, 2, 3, 4, 5]);
    assert_eq!(jobs(&old, "failed"), [6]);
    assert!(!old.iter().any(|l| l.starts_with("status")));
    // A second report, no rotation: the same file.
    d.kill("USR1");
    d.until("the second status line", |d| d.line("status #2 ").is_some());
    assert_eq!(d.log_lines().len(), 2);
    let _ = std::fs::remove_file(&rotated);
}

#[test]
fn a_second_daemon_on_the_same_pidfile_is_refused() {
    let Some(d) = Daemon::start("pidfile", &[]) else {
        return;
    };
    let bins = binaries().unwrap();
    let out = Command::new(&bins.daemon)
        .arg("--pidfile")
        .arg(&d.pidfile)
        .arg("--log")
        .arg(d.dir.join("other.log"))
        .args(["--queue", &format!("{}-other", d.queue)])
        .args(["--status", &format!("{}-other", d.status)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("already running: the pidfile names pid {}", d.pid)),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&d.pidfile).unwrap().trim(),
        d.pid.to_string()
    );
    // The status tool reads the running one.
    let out = Command::new(&bins.status)
        .args(["--status", &d.status])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("pid={} state=running workers=2/2 ", d.pid)),
        "{text}"
    );
}

#[test]
fn jobs_of_every_kind_end_with_one_line_each() {
    let Some(mut d) = Daemon::start("kinds", &[]) else {
        return;
    };
    let file = d.dir.join("nine.txt");
    std::fs::write(&file, "123456789").unwrap();
    let missing = d.dir.join("missing.txt");
    d.submit(&["--id", "1", "checksum", file.to_str().unwrap()]);
    d.submit(&["--id", "2", "fail"]);
    d.submit(&["--id", "3", "crash"]);
    d.submit(&["--id", "4", "checksum", missing.to_str().unwrap()]);
    d.submit(&["--id", "5", "sleep", "3"]);
    d.until("five jobs to end", |d| {
        let s = d.snap();
        (s.done, s.failed, s.queued) == (2, 3, 0)
    });
    let lines = d.log_lines();
    let one = |prefix: &str| {
        let found: Vec<_> = lines.iter().filter(|l| l.starts_with(prefix)).collect();
        assert_eq!(found.len(), 1, "{prefix}: {lines:#?}");
        found[0].clone()
    };
    one(&format!(
        "job 1 done crc32=cbf43926 bytes=9 {} (pid ",
        file.display()
    ));
    one("job 2 failed as asked (kind fail) (pid ");
    assert!(one("job 3 failed its worker (pid ").contains("was killed by signal 9"));
    assert!(
        one(&format!("job 4 failed checksum {}: ", missing.display())).contains("No such file")
    );
    one("job 5 done slept 3 ms (pid ");
    d.until("the crashed worker's replacement", |d| {
        d.workers().len() == 2 && d.snap().workers == 2
    });
}

#[test]
fn ttin_and_ttou_change_the_worker_count_never_below_one() {
    let Some(mut d) = Daemon::start("ttin", &["--workers", "2"]) else {
        return;
    };
    d.until("two workers", |d| d.workers().len() == 2);
    d.kill("TTIN");
    d.until("three workers", |d| {
        let s = d.snap();
        s.workers == 3 && s.target_workers == 3 && d.workers().len() == 3
    });
    // USR2: one line per worker, naming the pids the kernel lists.
    d.kill("USR2");
    d.until("the worker list", |d| {
        d.log_lines()
            .iter()
            .filter(|l| l.starts_with("worker #1 pid="))
            .count()
            == 3
    });
    assert!(d.line("workers #1 live=3 target=3").is_some());
    let listed: BTreeSet<u32> = d
        .log_lines()
        .iter()
        .filter_map(|l| l.strip_prefix("worker #1 pid="))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(listed, d.workers());
    for expected in [2, 1] {
        d.kill("TTOU");
        d.until("one worker fewer", |d| {
            let s = d.snap();
            s.target_workers == expected
                && s.workers == expected
                && d.workers().len() == expected as usize
        });
    }
    d.kill("TTOU");
    d.until("the refusal to go below one", |d| {
        d.line("TTOU: 1 worker(s): never fewer than 1").is_some()
    });
    let s = d.snap();
    assert_eq!((s.workers, s.target_workers), (1, 1));
    assert_eq!(d.workers().len(), 1);
}

#[test]
fn hup_replaces_every_worker_and_loses_no_accepted_job() {
    let Some(mut d) = Daemon::start("hup", &["--workers", "2"]) else {
        return;
    };
    d.until("two workers", |d| d.workers().len() == 2);
    let before = d.workers();
    d.submit(&["--id", "100", "--count", "40", "sleep", "10"]);
    d.until("the first job to start", |d| d.snap().user[STARTED] >= 1);
    d.kill("HUP");
    d.until("all forty jobs to end", |d| {
        d.snap().done + d.snap().failed == 40
    });
    let s = d.snap();
    assert_eq!((s.done, s.failed), (40, 0), "{s}");
    let mut done = jobs(&d.log_lines(), "done");
    done.sort_unstable();
    assert_eq!(done, (100..140).collect::<Vec<u64>>());
    d.until("two fresh workers", |d| {
        let now = d.workers();
        let s = d.snap();
        now.len() == 2 && now.is_disjoint(&before) && s.workers == 2 && s.forks >= 4
    });
    assert!(d.line("HUP: replacing 2 workers").is_some());
}

#[test]
fn a_worker_killed_with_kill_9_fails_its_job_and_is_replaced() {
    let Some(mut d) = Daemon::start("kill9", &["--workers", "1", "--task-timeout", "0"]) else {
        return;
    };
    d.until("one worker", |d| d.workers().len() == 1);
    let victim = *d.workers().iter().next().unwrap();
    d.submit(&["--id", "7", "sleep", "60000"]);
    d.until("the job to start", |d| d.snap().user[STARTED] == 1);
    signal_pid("KILL", victim);
    let expected =
        format!("job 7 failed its worker (pid {victim}) was killed by signal 9 (not retried)");
    d.until("the job's failure", |d| d.line(&expected).is_some());
    d.until("a replacement worker, counted", |d| {
        let now = d.workers();
        let s = d.snap();
        now.len() == 1 && !now.contains(&victim) && (s.workers, s.forks) == (1, 2)
    });
    let s = d.snap();
    assert_eq!((s.done, s.failed, s.queued), (0, 1, 0), "{s}");
}

#[test]
fn term_with_a_thousand_queued_jobs_finishes_them_all_and_leaves_nothing_behind() {
    let Some(mut d) = Daemon::start("term", &["--workers", "4"]) else {
        return;
    };
    // 1,000 jobs of 2 ms on 4 workers: half a second of work at least.
    let out = d.submit(&["--id", "1", "--count", "1000", "sleep", "2"]);
    assert!(out.starts_with("sent 1000 jobs"), "{out}");
    let at_term = d.snap();
    assert!(at_term.done < 1000, "the jobs ended before TERM: {at_term}");
    d.kill("TERM");
    let status = d.wait_exit(WATCHDOG);
    assert_eq!(status.code(), Some(0), "{}", d.dump());
    let lines = d.log_lines();
    let mut done = jobs(&lines, "done");
    done.sort_unstable();
    assert_eq!(done, (1..=1000).collect::<Vec<u64>>(), "{}", d.dump());
    assert!(jobs(&lines, "failed").is_empty());
    assert!(
        lines.iter().any(|l| l.starts_with("TERM: draining ")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "TERM: drained, every accepted job ended")
    );
    // The board outlives its name in our mapping: its last words.
    let s = d.snap();
    assert_eq!(
        (s.state, s.done, s.failed, s.queued, s.workers),
        (State::Stopped, 1000, 0, 0, 0)
    );
    assert_eq!(s.user[ACCEPTED], 1000);
    d.assert_nothing_left();
}

#[test]
fn quit_and_int_stop_promptly_and_clean_up() {
    for sig in ["QUIT", "INT"] {
        let Some(mut d) = Daemon::start(&sig.to_lowercase(), &["--task-timeout", "0"]) else {
            return;
        };
        d.submit(&["--id", "9", "sleep", "60000"]);
        d.until("the job to start", |d| d.snap().user[STARTED] == 1);
        let asked = Instant::now();
        d.kill(sig);
        let status = d.wait_exit(Duration::from_secs(10));
        let took = asked.elapsed();
        assert_eq!(status.code(), Some(0), "{}", d.dump());
        assert!(took < Duration::from_secs(3), "{sig} took {took:?}");
        assert!(
            d.line(&format!(
                "job 9 failed stopped unfinished: the daemon was stopped at once ({sig})"
            ))
            .is_some(),
            "{}",
            d.dump()
        );
        assert!(d.line(&format!("{sig}: stopping now")).is_some());
        d.assert_nothing_left();
    }
}

#[test]
fn winch_leaves_no_workers_and_ttin_brings_one_back() {
    let Some(mut d) = Daemon::start("winch", &["--workers", "2"]) else {
        return;
    };
    d.until("two workers", |d| d.workers().len() == 2);
    d.kill("WINCH");
    d.until("no workers, the master idle", |d| {
        let s = d.snap();
        s.state == State::Idle && s.workers == 0 && s.target_workers == 0 && d.workers().is_empty()
    });
    // Jobs are still accepted; they wait for a worker.
    d.submit(&["--id", "5", "sleep", "1"]);
    d.until("the job accepted", |d| d.snap().user[ACCEPTED] == 1);
    // No worker can have taken it.
    let s = d.snap();
    assert_eq!((s.queued, s.done, s.user[STARTED]), (1, 0, 0), "{s}");
    d.kill("TTIN");
    d.until("one worker, running, the job done", |d| {
        let s = d.snap();
        s.state == State::Running && s.workers == 1 && s.done == 1 && d.workers().len() == 1
    });
    assert!(d.line("job 5 done slept 1 ms").is_some());
}

#[test]
fn an_overrunning_job_fails_as_timed_out_and_its_worker_is_replaced() {
    let Some(mut d) = Daemon::start("overrun", &["--workers", "1", "--task-timeout", "200"]) else {
        return;
    };
    d.until("one worker", |d| d.workers().len() == 1);
    let victim = *d.workers().iter().next().unwrap();
    let asked = Instant::now();
    d.submit(&["--id", "3", "overrun"]);
    let expected =
        format!("job 3 failed timed out after 200 ms (worker pid {victim} stopped and replaced)");
    d.until("the timeout", |d| d.line(&expected).is_some());
    assert!(asked.elapsed() < Duration::from_secs(10));
    d.until("a replacement worker, the timeout counted", |d| {
        let now = d.workers();
        let s = d.snap();
        now.len() == 1
            && !now.contains(&victim)
            && (s.workers, s.forks, s.failed, s.user[TIMEOUTS], s.queued) == (1, 2, 1, 1, 0)
    });
    // The replacement works.
    d.submit(&["--id", "4", "sleep", "1"]);
    d.until("the next job", |d| d.snap().done == 1);
}

#[test]
fn a_daemon_killed_with_kill_9_restarts_on_its_names_and_takes_them_over() {
    let Some(mut d) = Daemon::start("kill9-restart", &["--workers", "2"]) else {
        return;
    };
    d.until("two workers", |d| d.workers().len() == 2);
    let old = d.pid;
    d.submit(&["--id", "1", "sleep", "1"]);
    d.until("the first job", |d| d.snap().done == 1);
    signal_pid("KILL", old);
    let status = d.wait_exit(WATCHDOG);
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(9));
    // Its workers die with it (the pool forks them with PR_SET_PDEATHSIG).
    wait_for("the killed daemon's workers to die", || {
        d.group_left().is_empty()
    });
    // It left everything behind.
    assert_eq!(
        std::fs::read_to_string(&d.pidfile).unwrap().trim(),
        old.to_string()
    );
    assert!(Path::new("/dev/shm").join(&d.status[1..]).exists());
    assert!(MessageQueue::open(&d.queue).is_ok());
    assert!(Path::new(&owner_record(&d.queue)).exists());
    let (pidfile, status_name, queue) = (d.pidfile.clone(), d.status.clone(), d.queue.clone());

    // Started again on the same names: it takes each over, one line each.
    let Some(mut d) = d.restart(&["--workers", "2"]) else {
        return;
    };
    assert_ne!(d.pid, old);
    let took: Vec<String> = d
        .log_lines()
        .into_iter()
        .filter(|l| l.starts_with("took over "))
        .collect();
    assert_eq!(
        took,
        [
            format!(
                "took over the pidfile {} of pid {old}, which is gone",
                pidfile.display()
            ),
            format!("took over the status segment {status_name} of pid {old}, which is gone"),
            format!("took over the job queue {queue} of pid {old}, which is gone"),
        ],
        "{}",
        d.dump()
    );
    // It serves.
    d.submit(&["--id", "2", "sleep", "1"]);
    d.until("the job after the restart", |d| d.snap().done == 1);
    assert!(d.line("job 2 done slept 1 ms").is_some());
    // A second one on the same names is still refused: the pidfile's
    // daemon lives.
    let (code, stderr) = d.run_again(&d.pidfile);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("already running: the pidfile names pid {}", d.pid)),
        "{stderr}"
    );
    // So are its segment and queue, under another pidfile.
    let (code, stderr) = d.run_again(&d.dir.join("other.pid"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("status segment"), "{stderr}");
    // Stopped normally, it leaves no name behind.
    d.kill("TERM");
    let status = d.wait_exit(WATCHDOG);
    assert_eq!(status.code(), Some(0), "{}", d.dump());
    d.assert_nothing_left();
}

#[test]
#[allow(unsafe_code)] // mq_open as another program would call it
fn a_restarted_daemon_refuses_a_queue_name_that_is_not_its_own() {
    let Some(mut d) = Daemon::start("foreign-queue", &["--workers", "1"]) else {
        return;
    };
    signal_pid("KILL", d.pid);
    d.wait_exit(WATCHDOG);
    wait_for("the killed daemon's workers to die", || {
        d.group_left().is_empty()
    });
    // Another program has since made a queue under the daemon's queue
    // name (its own: the old queue and record are gone).
    MessageQueue::reclaim(&d.queue).unwrap();
    let c = std::ffi::CString::new(d.queue.as_str()).unwrap();
    // SAFETY: a NUL-terminated name; a null attr asks for the defaults.
    let fd = unsafe {
        libc::mq_open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            0o600 as libc::mode_t,
            std::ptr::null::<libc::mq_attr>(),
        )
    };
    assert!(fd >= 0, "mq_open: {}", std::io::Error::last_os_error());
    // SAFETY: the descriptor just made, closed once.
    unsafe { libc::close(fd) };
    let (code, stderr) = d.run_again(&d.pidfile);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("a queue without an mproc owner record; left untouched"),
        "{stderr}"
    );
    assert!(
        MessageQueue::open(&d.queue).is_ok(),
        "the daemon removed a queue that is not its own"
    );
    // (The guard removes the foreign queue: it has no record to check.)
    // SAFETY: a NUL-terminated name.
    unsafe { libc::mq_unlink(c.as_ptr()) };
}
