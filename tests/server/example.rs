//! examples/server_echo run from its binary, as an operator runs it:
//! the ready line on stdout, a client served, `HUP` (workers replaced,
//! a second line), `TERM` (drained, exit status 0).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mproc::signal::{self, Signal};

use crate::common::under_qemu;
use crate::{ask, client, examples};

/// Kills the server if the test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_example_binary_serves_reloads_on_hup_and_drains_on_term() {
    if under_qemu() {
        eprintln!("SKIPPED: the example binaries are not run under qemu-user");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    examples::build(profile_dir, &["server_echo"]);
    let bin = profile_dir.join("examples").join("server_echo");
    assert!(bin.exists(), "{} is missing", bin.display());
    let child = Command::new(bin)
        .args(["127.0.0.1:0", "--workers", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Running(child);
    let pid = mproc::Pid::from_raw(server.0.id() as i32).unwrap();
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("serving on ")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"));
    assert!(
        first.ends_with(&format!("(pid {pid}, 2 workers)")),
        "{first}"
    );
    let mut c = client(addr.parse().unwrap());
    assert_eq!(ask(&mut c, "hello from a client"), "HELLO FROM A CLIENT");
    drop(c);

    signal::kill(pid, Signal::HUP).unwrap();
    let second = lines.next().unwrap().unwrap();
    assert!(
        second.starts_with(&format!("workers replaced; serving on {addr} ")),
        "{second}"
    );
    signal::kill(pid, Signal::TERM).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "stopped: Drained");
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// The systemd side, for real where it can run: `systemd-socket-activate`
/// (Debian's `systemd` package) opens the listener and starts the example
/// on it at the first connection, with `$NOTIFY_SOCKET` pointing at a
/// datagram socket bound here; the example serves on the listener it was
/// passed and says `READY=1`, then `STOPPING=1` on `TERM`.
#[test]
fn the_example_serves_on_a_socket_systemd_passed_and_notifies() {
    if under_qemu() {
        eprintln!("SKIPPED: systemd-socket-activate cannot exec an emulated binary");
        return;
    }
    let Some(activator) = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.exists()) else {
        eprintln!("SKIPPED: systemd-socket-activate is not installed (Debian's systemd package)");
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    examples::build(profile_dir, &["server_echo"]);
    let bin = profile_dir.join("examples").join("server_echo");
    let notify =
        std::env::temp_dir().join(format!("mproc-test-echo-notify-{}", std::process::id()));
    let _ = std::fs::remove_file(&notify);
    let rx = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let next = || {
        let mut buf = [0u8; 4096];
        let n = rx.recv(&mut buf).expect("a notify datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // A free port (the activator takes no port 0); taken meanwhile by
    // another program, another one.
    for attempt in 0.. {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(activator)
            .arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--fdname=web")
            .arg(format!("-ENOTIFY_SOCKET={}", notify.display()))
            .arg(&bin)
            .args(["--workers", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Running(child);
        let mut said = String::new();
        let mut stderr = BufReader::new(server.0.stderr.take().unwrap());
        stderr.read_line(&mut said).unwrap();
        if !said.starts_with("Listening on") {
            let status = server.0.wait().unwrap();
            assert!(
                attempt < 5,
                "systemd-socket-activate failed ({status}): {said}"
            );
            continue;
        }
        // The first connection starts the server (in the activator's
        // process: it execs), which takes it from the passed listener.
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let mut c = client(addr);
        assert_eq!(ask(&mut c, "hello, systemd"), "HELLO, SYSTEMD");
        drop(c);
        let pid = mproc::Pid::from_raw(server.0.id() as i32).unwrap();
        let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
        assert_eq!(
            lines.next().unwrap().unwrap(),
            format!("serving on 127.0.0.1:{port} (pid {pid}, 2 workers)")
        );
        // The client's connection may be served before the master sees
        // the last worker ready: 0 or 1 served then.
        let ready = next();
        assert!(
            ready.starts_with("READY=1\nSTATUS=serving: 2 workers, "),
            "{ready:?}"
        );
        signal::kill(pid, Signal::TERM).unwrap();
        assert_eq!(next(), "STOPPING=1");
        assert_eq!(next(), "STATUS=stopping");
        assert_eq!(lines.next().unwrap().unwrap(), "stopped: Drained");
        let status = server.0.wait().unwrap();
        assert!(status.success(), "{status}");
        break;
    }
    let _ = std::fs::remove_file(&notify);
}
