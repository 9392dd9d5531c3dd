//! The `mproc-zenoh` program: two of them on loopback bridge two POSIX
//! message queues; `SIGUSR1` prints the counters, `SIGTERM` drains and
//! exits 0.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use mproc::ipc::MessageQueue;

fn start(args: &[&str]) -> (Reaped, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mproc-zenoh"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start mproc-zenoh");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("its first line");
    assert!(line.starts_with("mproc-zenoh: ready"), "{line:?}");
    (Reaped(child), out)
}

/// Kills the program if the test ends (or fails) with it still running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

#[test]
fn two_programs_bridge_two_message_queues() {
    let me = std::process::id();
    let (a_name, b_name) = (format!("/mproc-zt-a-{me}"), format!("/mproc-zt-b-{me}"));
    let (a, b) = match (
        MessageQueue::create(&a_name, 8, 64),
        MessageQueue::create(&b_name, 8, 64),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            eprintln!(
                "skipped: no POSIX message queues here ({:?}, {:?})",
                a.err(),
                b.err()
            );
            return;
        }
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let (mut pa, _out_a) = start(&[
        "--listen",
        &listen,
        "--out",
        &format!("jobs={a_name}:test/program/jobs"),
    ]);
    let (mut pb, mut out_b) = start(&[
        "--connect",
        &listen,
        "--in",
        &format!("jobs=test/program/jobs:{b_name}"),
    ]);
    for i in 0..100u32 {
        a.send_timeout(format!("job {i}").as_bytes(), 0, Duration::from_secs(20))
            .unwrap();
    }
    let mut buf = [0u8; 64];
    for i in 0..100u32 {
        let (n, _) = b
            .receive_timeout(&mut buf, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(&buf[..n], format!("job {i}").as_bytes());
    }
    signal(&pb.0, "USR1");
    let mut status = String::new();
    out_b.read_line(&mut status).unwrap();
    assert!(
        status.starts_with(
            "jobs test/program/jobs: sent=0 resent=0 received=100 full=0 refused_type=0"
        ),
        "{status:?}"
    );
    signal(&pa.0, "TERM");
    signal(&pb.0, "TERM");
    assert!(pa.0.wait().unwrap().success());
    assert!(pb.0.wait().unwrap().success());
}
