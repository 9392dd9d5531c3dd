//! The `mproc-zenoh` program: two of them on loopback bridge two POSIX
//! message queues; `SIGUSR1` prints the counters, `SIGTERM` drains and
//! exits 0.

mod common;

use std::time::Duration;

use common::{signal, start, status};
use mproc::ipc::MessageQueue;

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
    // The counter moves just after the put the last receive saw: ask
    // again until it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut status = status(&pb, &mut out_b);
    while !status.contains(" received=100 ") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        status = common::status(&pb, &mut out_b);
    }
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
