//! The example daemon (`examples/daemon/`) run from its binary as systemd
//! runs a `Type=notify` service with `WatchdogSec=`: `$NOTIFY_SOCKET`
//! pointing at a datagram socket bound here, `WATCHDOG_USEC` set. It says
//! `READY=1` with its status line, pings while its pool is healthy, sends
//! a `STATUS=` line on `USR1`, `RELOADING=1` then `READY=1` on `HUP`, and
//! `STOPPING=1` on `TERM`.

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mproc::daemon::NOTIFY_MAX;

use crate::{common, examples, serial};

/// Kills the daemon (its process group) if the test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// The datagrams that come within `span`, or until one satisfies `until`.
fn collect(rx: &UnixDatagram, span: Duration, until: impl Fn(&str) -> bool) -> Vec<String> {
    let end = Instant::now() + span;
    let mut got = Vec::new();
    let mut buf = [0u8; NOTIFY_MAX + 1];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        rx.set_read_timeout(Some(left)).unwrap();
        match rx.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = until(&text);
                got.push(text);
                if done {
                    return got;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return got,
            Err(e) => panic!("{e}"),
        }
    }
}

/// The lines that are not pings.
fn states(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(String::as_str)
        .filter(|l| *l != "WATCHDOG=1")
        .collect()
}

fn kill(sig: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn the_example_daemon_tells_systemd_its_states_and_pings_its_watchdog() {
    let _turn = serial();
    if common::under_qemu() {
        common::raw_stderr("SKIPPED under qemu-user (the example daemon is not spawned there)\n");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    examples::build(profile_dir, &["daemon"]);
    let bin = profile_dir.join("examples").join("daemon");
    let tag = format!("mproc-test-sd-daemon-{}", std::process::id());
    let dir = std::env::temp_dir().join(&tag);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("notify");
    let rx = UnixDatagram::bind(&socket).unwrap();
    let child = Command::new(&bin)
        .arg("--pidfile")
        .arg(dir.join("pid"))
        .arg("--log")
        .arg(dir.join("log"))
        .args([
            "--queue",
            &format!("/{tag}-q"),
            "--status",
            &format!("/{tag}-s"),
        ])
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let daemon = Running(child);
    let pid = daemon.0.id();

    let lines = collect(&rx, Duration::from_secs(20), |l| l.starts_with("READY=1"));
    let ready = states(&lines);
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert!(
        ready[0].starts_with(&format!("READY=1\nSTATUS=pid={pid} state=running workers=")),
        "{ready:?}"
    );
    // WATCHDOG_USEC=400 ms: a ping every 200 ms while the pool is healthy.
    let lines = collect(&rx, Duration::from_millis(1200), |_| false);
    let pings = lines.iter().filter(|l| *l == "WATCHDOG=1").count();
    assert!(pings >= 3, "{pings} pings in 1.2 s: {lines:?}");

    kill("USR1", pid);
    let lines = collect(&rx, Duration::from_secs(20), |l| l.starts_with("STATUS="));
    let s = states(&lines);
    assert!(s.len() == 1 && s[0].contains("state=running"), "{s:?}");

    kill("HUP", pid);
    let lines = collect(&rx, Duration::from_secs(20), |l| l.starts_with("READY=1"));
    let s = states(&lines);
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s[0].starts_with("RELOADING=1\nMONOTONIC_USEC="), "{s:?}");
    assert!(s[1].starts_with("READY=1\nSTATUS="), "{s:?}");

    kill("TERM", pid);
    let lines = collect(&rx, Duration::from_secs(20), |l| l == "STOPPING=1");
    assert_eq!(states(&lines), ["STOPPING=1"]);
    let mut daemon = daemon;
    let status = daemon.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}
