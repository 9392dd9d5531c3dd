//! The binary upgrade on `USR2`, from the example's binary, as an
//! operator does it (`kill -USR2 $(cat pidfile)`): clients hammer the
//! server throughout a successful upgrade and failed ones, and none is
//! refused or reset, every request is answered; the pidfile is right at
//! every step.
//!
//! Each body runs isolated (a child subreaper): the new master, orphaned
//! when the old one exits, comes back to the body, which reaps it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mproc::Pid;
use mproc::signal::{self, Signal};

use crate::common::{isolated, under_qemu};
use crate::{ask, client, examples};

/// How long a line, or progress of the load, may take: a watchdog.
const PATIENCE: Duration = Duration::from_secs(20);

/// The example's binary, built for this profile; `None` under qemu-user.
fn binary() -> Option<PathBuf> {
    if under_qemu() {
        eprintln!("SKIPPED: the example binaries are not run (nor re-executed) under qemu-user");
        return None;
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    examples::build(profile_dir, &["server_echo"]);
    let bin = profile_dir.join("examples").join("server_echo");
    assert!(bin.exists(), "{} is missing", bin.display());
    Some(bin)
}

/// The example running: its stdout and stderr lines (the old master's
/// and the new one's: the new master inherits them).
struct Echo {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    pidfile: PathBuf,
    addr: SocketAddr,
    pid: Pid,
}

fn lines(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Echo {
    fn start(bin: &Path, tag: &str, args: &[&str], env: &[(&str, &str)]) -> Echo {
        let pidfile = std::env::temp_dir().join(format!(
            "mproc-test-upgrade-{tag}-{}.pid",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&pidfile);
        let _ = std::fs::remove_file(oldbin(&pidfile));
        let mut child = Command::new(bin)
            .args(["127.0.0.1:0", "--workers", "2", "--pidfile"])
            .arg(&pidfile)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = lines(child.stdout.take().unwrap());
        let err = lines(child.stderr.take().unwrap());
        let first = next(&out);
        let addr = first
            .strip_prefix("serving on ")
            .and_then(|l| l.split(' ').next())
            .unwrap_or_else(|| panic!("{first}"))
            .parse()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        assert!(
            first.ends_with(&format!("(pid {pid}, 2 workers)")),
            "{first}"
        );
        Echo {
            child,
            out,
            err,
            pidfile,
            addr,
            pid,
        }
    }

    /// The next stderr line that holds `needle`.
    fn stderr_with(&self, needle: &str) -> String {
        loop {
            let line = next(&self.err);
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// `TERM` to the master `pid`: drained, exit status 0.
    fn term(&mut self, pid: Pid) {
        signal::kill(pid, Signal::TERM).unwrap();
        assert_eq!(next(&self.out), "stopped: Drained");
        if pid == self.pid {
            let status = self.child.wait().unwrap();
            assert!(status.success(), "{status}");
        } else {
            assert_eq!(reap(pid), 0);
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.pidfile);
        let _ = std::fs::remove_file(oldbin(&self.pidfile));
    }
}

fn next(rx: &Receiver<String>) -> String {
    rx.recv_timeout(PATIENCE).expect("a line from the example")
}

fn oldbin(pidfile: &Path) -> PathBuf {
    let mut p = pidfile.as_os_str().to_owned();
    p.push(".oldbin");
    PathBuf::from(p)
}

/// The pid a pidfile names; `None` when there is no such file.
fn pid_in(path: &Path) -> Option<Pid> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(Pid::from_raw(text.trim_end().parse().unwrap()).unwrap()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// Waits for `pid` (an orphan adopted by this subreaper), its exit code.
fn reap(pid: Pid) -> i32 {
    let mut status = 0;
    // SAFETY: a pid and a live out-pointer.
    let ret = unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) };
    assert_eq!(
        ret,
        pid.as_raw(),
        "waitpid: {}",
        std::io::Error::last_os_error()
    );
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    libc::WEXITSTATUS(status)
}

/// Clients that connect, send, read the upper-cased reply and close, in a
/// loop, from several threads.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..threads)
            .map(|t| {
                let (stop, answered, failures) = (stop.clone(), answered.clone(), failures.clone());
                std::thread::spawn(move || {
                    let mut k = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        k += 1;
                        let msg = format!("request {k} of client {t}");
                        match request(addr, &msg) {
                            Ok(reply) if reply == msg.to_uppercase() => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(reply) => failures.lock().unwrap().push(format!("{msg}: {reply:?}")),
                            Err(e) => failures.lock().unwrap().push(format!("{msg}: {e}")),
                        }
                        // Pacing, so the client ports in TIME_WAIT do not
                        // run out.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        Load {
            stop,
            answered,
            failures,
            threads,
        }
    }

    /// Waits until `more` requests beyond those answered so far are
    /// answered (the load goes on through this step).
    fn progress(&self, more: u64) {
        let target = self.answered.load(Ordering::Relaxed) + more;
        let until = Instant::now() + PATIENCE;
        while self.answered.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < until, "the load made no progress");
            assert!(
                self.failures.lock().unwrap().is_empty(),
                "{:?}",
                self.failures
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the clients: every request answered, none refused or reset.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "{} failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(10)]
        );
        self.answered.load(Ordering::Relaxed)
    }
}

/// One request on a connection of its own.
fn request(addr: SocketAddr, msg: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(PATIENCE))?;
    s.write_all(msg.as_bytes())?;
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[test]
fn usr2_hands_over_to_the_new_binary_without_refusing_a_connection() {
    let Some(bin) = binary() else { return };
    isolated(|| {
        let mut echo = Echo::start(
            &bin,
            "ok",
            &[
                "--pass-name",
                "/mproc-echo-board",
                "--pass-name",
                "/mproc-echo-jobs",
            ],
            &[],
        );
        let old = echo.pid;
        assert_eq!(pid_in(&echo.pidfile), Some(old));
        // A connection an old worker serves, held open across the
        // hand-over: the old master waits for it, so the step where both
        // masters run can be looked at.
        let mut held = client(echo.addr);
        assert_eq!(ask(&mut held, "held"), "HELD");
        let load = Load::start(echo.addr, 3);
        load.progress(100);

        signal::kill(old, Signal::USR2).unwrap();
        let line = next(&echo.out);
        let new: Pid = line
            .strip_prefix(&format!("serving on {} (pid ", echo.addr))
            .and_then(|l| l.strip_suffix(", 2 workers)"))
            .unwrap_or_else(|| panic!("{line}"))
            .parse::<i32>()
            .ok()
            .and_then(Pid::from_raw)
            .unwrap();
        assert_ne!(new, old);
        // Both run: the new master wrote its pidfile, the old one's is
        // .oldbin until it exits.
        assert_eq!(pid_in(&echo.pidfile), Some(new));
        assert_eq!(pid_in(&oldbin(&echo.pidfile)), Some(old));
        assert_eq!(
            echo.stderr_with("took over"),
            format!(
                "server_echo: took over from pid {old} the listener Some(\"web\"); \
                 names passed: \
                 [\"/mproc-echo-board\", \"/mproc-echo-jobs\"]"
            )
        );
        // One upgrade at a time: the new master ignores USR2 while the
        // old one runs.
        signal::kill(new, Signal::USR2).unwrap();
        assert_eq!(
            echo.stderr_with("USR2 ignored"),
            format!("mproc: upgrade: the old master {old} still runs: USR2 ignored")
        );
        assert_eq!(pid_in(&echo.pidfile), Some(new));
        assert_eq!(pid_in(&oldbin(&echo.pidfile)), Some(old));
        load.progress(100);
        // The old worker finishes its connection.
        assert_eq!(ask(&mut held, "still here"), "STILL HERE");
        drop(held);
        assert_eq!(
            next(&echo.out),
            format!("stopped: Upgraded {{ new_master: Pid({new}), killed: 0 }}")
        );
        let status = echo.child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert_eq!(pid_in(&echo.pidfile), Some(new));
        assert_eq!(pid_in(&oldbin(&echo.pidfile)), None);
        load.progress(100);
        let answered = load.finish();
        eprintln!("{answered} requests answered through the upgrade");

        let mut c = client(echo.addr);
        assert_eq!(ask(&mut c, "after"), "AFTER");
        drop(c);
        echo.term(new);
        assert_eq!(pid_in(&echo.pidfile), None);
    });
}

#[test]
fn a_new_binary_that_exits_is_rolled_back_and_the_old_master_serves_on() {
    let Some(bin) = binary() else { return };
    isolated(|| {
        let mut echo = Echo::start(
            &bin,
            "exit",
            &[],
            &[("MPROC_SERVER_ECHO_FAIL_UPGRADE", "exit")],
        );
        let old = echo.pid;
        let load = Load::start(echo.addr, 3);
        load.progress(100);
        signal::kill(old, Signal::USR2).unwrap();
        let line = echo.stderr_with("rolled back");
        assert!(
            line.contains("exited (code 1) before it was ready"),
            "{line}"
        );
        assert_eq!(pid_in(&echo.pidfile), Some(old));
        assert_eq!(pid_in(&oldbin(&echo.pidfile)), None);
        load.progress(100);
        load.finish();
        let mut c = client(echo.addr);
        assert_eq!(ask(&mut c, "still the old one"), "STILL THE OLD ONE");
        drop(c);
        echo.term(old);
        assert_eq!(pid_in(&echo.pidfile), None);
    });
}

#[test]
fn a_new_binary_never_ready_is_stopped_at_the_deadline_and_a_second_usr2_is_ignored() {
    let Some(bin) = binary() else { return };
    isolated(|| {
        let mut echo = Echo::start(
            &bin,
            "hang",
            &["--upgrade-deadline", "1500"],
            &[("MPROC_SERVER_ECHO_FAIL_UPGRADE", "hang")],
        );
        let old = echo.pid;
        let load = Load::start(echo.addr, 3);
        load.progress(100);
        signal::kill(old, Signal::USR2).unwrap();
        let line = next(&echo.out);
        let new: Pid = line
            .strip_prefix("test hook: new master ")
            .and_then(|l| l.strip_suffix(" hangs"))
            .unwrap_or_else(|| panic!("{line}"))
            .parse::<i32>()
            .ok()
            .and_then(Pid::from_raw)
            .unwrap();
        assert_eq!(pid_in(&echo.pidfile), Some(new));
        assert_eq!(pid_in(&oldbin(&echo.pidfile)), Some(old));
        signal::kill(old, Signal::USR2).unwrap();
        let ignored = echo.stderr_with("USR2 ignored");
        assert!(ignored.contains(&format!("new master {new}")), "{ignored}");
        let line = echo.stderr_with("rolled back");
        assert!(line.contains("not ready within 1.5s"), "{line}");
        assert_eq!(pid_in(&echo.pidfile), Some(old));
        assert_eq!(pid_in(&oldbin(&echo.pidfile)), None);
        load.progress(100);
        load.finish();
        echo.term(old);
        assert_eq!(pid_in(&echo.pidfile), None);
    });
}

#[test]
fn names_to_pass_and_the_deadline_are_checked_when_the_server_is_built() {
    let refused = |b: mproc::server::Builder| {
        b.listener(mproc::server::Listener::tcp("127.0.0.1:0").unwrap())
            .build(|_| {})
            .unwrap_err()
    };
    let e = refused(mproc::server::Server::builder().pass_name("/a:b"));
    assert!(
        matches!(e.kind(), mproc::ErrorKind::InvalidArgument(_)),
        "{e}"
    );
    assert!(e.to_string().contains("a name passed on upgrade"), "{e}");
    let e = refused(mproc::server::Server::builder().pass_name(""));
    assert!(
        matches!(e.kind(), mproc::ErrorKind::InvalidArgument(_)),
        "{e}"
    );
    let e = refused(mproc::server::Server::builder().upgrade_deadline(Duration::ZERO));
    assert!(e.to_string().contains("upgrade deadline"), "{e}");
}

/// `Takeover::from_env` takes the variables only when they name this
/// process's parent, and removes them either way.
#[test]
fn a_takeover_is_only_for_the_child_of_the_master_it_names() {
    use mproc::server::{Takeover, UPGRADE_FROM, UPGRADE_NAMES, UPGRADE_READY_FD};
    isolated(|| {
        let set = |from: &str, fd: &str| {
            // SAFETY: the isolated body runs one thread.
            unsafe {
                std::env::set_var(UPGRADE_FROM, from);
                std::env::set_var(UPGRADE_READY_FD, fd);
                std::env::set_var(UPGRADE_NAMES, "/seg:/queue");
            }
        };
        let gone = || {
            [UPGRADE_FROM, UPGRADE_READY_FD, UPGRADE_NAMES]
                .iter()
                .all(|v| std::env::var_os(v).is_none())
        };
        // Inherited from further up: not for this process.
        set("1", "3");
        assert!(Takeover::from_env().unwrap().is_none());
        assert!(gone());
        // From the parent, with a pipe's write end.
        let (mut rx, tx) = std::io::pipe().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&tx);
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        set(&parent.to_string(), &fd.to_string());
        let mut t = Takeover::from_env().unwrap().expect("a takeover");
        std::mem::forget(tx); // owned by the takeover now
        assert!(gone());
        assert_eq!(t.old_master().as_raw(), parent);
        assert_eq!(t.names(), ["/seg", "/queue"]);
        t.ready().unwrap();
        t.ready().unwrap(); // once
        drop(t);
        let mut got = Vec::new();
        rx.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"R");
        // Not a number: refused, naming the variable, and removed.
        set("me", "3");
        let e = Takeover::from_env().unwrap_err();
        assert!(e.to_string().contains(UPGRADE_FROM), "{e}");
        assert!(gone());
    });
}

/// What systemd hears across an upgrade (`NOTIFY_SOCKET` bound here):
/// the new master's `READY=1`, then `MAINPID=` from the old master (the
/// main process, heard under `NotifyAccess=main`), and nothing more from
/// the old one: no `STOPPING=1` for its retirement.
#[test]
fn systemd_hears_mainpid_from_the_old_master_and_no_stopping() {
    let Some(bin) = binary() else { return };
    isolated(|| {
        let notify =
            std::env::temp_dir().join(format!("mproc-test-upgrade-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&notify);
        let rx = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
        /// Removes the socket's path, whatever happens.
        struct Gone<'a>(&'a Path);
        impl Drop for Gone<'_> {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(self.0);
            }
        }
        let _gone = Gone(&notify);
        rx.set_read_timeout(Some(PATIENCE)).unwrap();
        let heard = || {
            let mut buf = [0u8; 4096];
            let n = rx.recv(&mut buf).expect("a notify datagram");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let notify_env = notify.to_str().unwrap().to_owned();
        let mut echo = Echo::start(&bin, "notify", &[], &[("NOTIFY_SOCKET", &notify_env)]);
        let old = echo.pid;
        assert!(heard().starts_with("READY=1\nSTATUS=serving: 2 workers"));
        signal::kill(old, Signal::USR2).unwrap();
        let line = next(&echo.out);
        let new = line
            .strip_prefix(&format!("serving on {} (pid ", echo.addr))
            .and_then(|l| l.strip_suffix(", 2 workers)"))
            .unwrap_or_else(|| panic!("{line}"));
        assert_eq!(heard(), format!("STATUS=upgrading: new master {new}"));
        assert!(heard().starts_with("READY=1\nSTATUS=serving: 2 workers"));
        assert_eq!(heard(), format!("MAINPID={new}"));
        assert!(next(&echo.out).starts_with("stopped: Upgraded"));
        assert!(echo.child.wait().unwrap().success());
        // The old master is gone: all it said is queued, and it said
        // nothing after MAINPID.
        rx.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        match rx.recv(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!(
                "heard after MAINPID: {:?}",
                other.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            ),
        }
        rx.set_nonblocking(false).unwrap();
        let new = Pid::from_raw(new.parse().unwrap()).unwrap();
        echo.term(new);
        assert_eq!(heard(), "STOPPING=1");
        assert_eq!(heard(), "STATUS=stopping");
    });
}

#[test]
fn a_listener_name_follows_systemds_rules() {
    use mproc::server::Listener;
    let l = Listener::tcp("127.0.0.1:0").unwrap();
    assert_eq!(l.name(), "unknown");
    assert_eq!(l.named("web").unwrap().name(), "web");
    for bad in ["", "a:b", "tab\there", &"x".repeat(256)] {
        let e = Listener::tcp("127.0.0.1:0")
            .unwrap()
            .named(bad)
            .unwrap_err();
        assert!(
            matches!(e.kind(), mproc::ErrorKind::InvalidArgument(_)),
            "{e}"
        );
    }
}
