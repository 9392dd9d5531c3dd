//! Two gateways in zenoh's client mode, everything through a router (the
//! `mproc-zenoh` program in router mode: zenoh's own router), which is
//! killed with `SIGKILL` mid-stream and started again on the same port:
//! every item arrives, once, in order (what the router lost goes again
//! when the gateways are back).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use mproc::ipc::MessageQueue;

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

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status();
}

#[test]
fn a_router_killed_and_started_again_mid_stream_loses_nothing() {
    const N: u32 = 3_000;
    let me = std::process::id();
    let (qa, qb) = (format!("/mproc-zr-a-{me}"), format!("/mproc-zr-b-{me}"));
    let (a, b) = match (
        MessageQueue::create(&qa, 8, 64),
        MessageQueue::create(&qb, 8, 64),
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
    let router_ep = format!("tcp/127.0.0.1:{port}");
    let router_args = ["--mode", "router", "--listen", router_ep.as_str()];
    let mut router = start(&router_args).0;
    let out_arg = format!("jobs={qa}:routed/jobs");
    let in_arg = format!("jobs=routed/jobs:{qb}");
    let (mut pb, mut out_b) =
        start(&["--mode", "client", "--connect", &router_ep, "--in", &in_arg]);
    let pa = start(&[
        "--mode",
        "client",
        "--connect",
        &router_ep,
        "--out",
        &out_arg,
    ])
    .0;

    let mut got: Vec<u32> = Vec::new();
    let mut buf = [0u8; 64];
    let mut take = |got: &mut Vec<u32>, wait: Duration| -> bool {
        match b.receive_timeout(&mut buf, wait) {
            Ok((n, _)) => {
                let s = std::str::from_utf8(&buf[..n]).expect("utf-8");
                got.push(s["item ".len()..].parse().expect("a number"));
                true
            }
            Err(_) => false,
        }
    };
    for i in 0..N {
        while a.try_send(format!("item {i:05}").as_bytes(), 0).is_err() {
            take(&mut got, Duration::from_millis(1));
        }
        if i == N / 2 {
            signal(&router.0, "KILL");
            let _ = router.0.wait();
            router = start(&router_args).0;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < N as usize && Instant::now() < deadline {
        take(&mut got, Duration::from_millis(100));
    }
    while take(&mut got, Duration::from_millis(300)) {}
    signal(&pb.0, "USR1");
    let mut status = String::new();
    out_b.read_line(&mut status).unwrap();
    eprintln!(
        "router killed: {N} sent, {} received; B: {status}",
        got.len()
    );
    assert_eq!(
        got,
        (0..N).collect::<Vec<_>>(),
        "every item once, in order: {status}"
    );
    for p in [&pa, &pb, &router] {
        signal(&p.0, "TERM");
    }
    drop(pa);
    drop(router);
    assert!(pb.0.wait().unwrap().success());
}
