//! Two gateways in zenoh's client mode, everything through a router (the
//! `mproc-zenoh` program in router mode: zenoh's own router), which is
//! killed with `SIGKILL` mid-stream and started again on the same port:
//! every item arrives, once, in order (what the router lost goes again
//! when the gateways are back).

mod common;

use std::time::{Duration, Instant};

use common::{msg, signal, start, status, take};

#[test]
fn a_router_killed_and_started_again_mid_stream_loses_nothing() {
    const N: u32 = 3_000;
    let Some(q) = common::Queues::new(&["zr-a", "zr-b"], 8) else {
        return;
    };
    let (qa, qb) = (q.name(0), q.name(1));
    let (a, b) = (q.queue(0), q.queue(1));
    let port = common::free_port();
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
    for i in 0..N {
        while a.try_send(&msg(i), 0).is_err() {
            take(b, &mut got, Duration::from_millis(1));
        }
        if i == N / 2 {
            signal(&router.0, "KILL");
            let _ = router.0.wait();
            router = start(&router_args).0;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < N as usize && Instant::now() < deadline {
        take(b, &mut got, Duration::from_millis(100));
    }
    while take(b, &mut got, Duration::from_millis(300)) {}
    let status = status(&pb, &mut out_b);
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
