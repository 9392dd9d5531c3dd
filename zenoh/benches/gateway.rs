//! The gateway's cost, in one run: throughput and round-trip latency of
//! 64-byte records through two gateways (a `RecordQueue` on each side),
//! against zenoh's own pub/sub between the same two processes without
//! mproc, and a local `RecordQueue` between two processes for scale.
//! Each contender runs in processes of its own, forked before any zenoh
//! thread; rounds interleave the contenders; medians and p90 over the
//! rounds, ratios as medians of per-round ratios.
//!
//! `cargo bench -p mproc-zenoh --bench gateway`; `MPROC_BENCH_QUICK=1` for
//! a smoke run. Loopback only (the namespaces test shows the same path
//! across a veth pair).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mproc::Process;
use mproc::ipc::RecordQueue;
use mproc::shm::{Shared, Value};
use mproc::sync::Event;
use mproc_zenoh::zenoh::{self, Wait as _};
use mproc_zenoh::{Gateway, OnFull};

const RECORD: usize = 64;
const LONG: Duration = Duration::from_secs(60);

fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn event() -> &'static Event {
    Box::leak(Box::new(Shared::new(Event::new()).unwrap()))
}

fn config(listen: Option<u16>, connect: Option<u16>) -> zenoh::Config {
    let mut c = zenoh::Config::default();
    c.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    if let Some(p) = listen {
        c.insert_json5("listen/endpoints", &format!("[\"tcp/127.0.0.1:{p}\"]"))
            .unwrap();
    }
    if let Some(p) = connect {
        c.insert_json5("connect/endpoints", &format!("[\"tcp/127.0.0.1:{p}\"]"))
            .unwrap();
    }
    c
}

/// Runs `body` in a forked child; joins it, panicking if it failed.
fn child(body: impl FnOnce() + 'static) -> Process<impl FnOnce() + 'static> {
    let mut p = Process::new(body);
    p.start().unwrap();
    p
}

/// Two gateways: A takes `a_out` to `ping`, puts `pong` into `a_in`; B
/// the other way round. Returns the two host processes (they stop when
/// `stop` is set).
fn gateways(
    a_out: Arc<RecordQueue>,
    a_in: Arc<RecordQueue>,
    b_in: Arc<RecordQueue>,
    b_out: Arc<RecordQueue>,
    stop: &'static Event,
) -> (Process<impl FnOnce()>, Process<impl FnOnce()>) {
    let p = port();
    let (up_a, up_b) = (event(), event());
    let a = child(move || {
        let gw = Gateway::builder()
            .listen(&format!("tcp/127.0.0.1:{p}"))
            .outbound("ping", "bench/ping", a_out)
            .inbound("pong", "bench/pong", a_in, OnFull::default())
            .start()
            .unwrap();
        up_a.set();
        stop.wait_timeout(LONG * 10);
        drop(gw);
    });
    let b = child(move || {
        let gw = Gateway::builder()
            .connect(&format!("tcp/127.0.0.1:{p}"))
            .inbound("ping", "bench/ping", b_in, OnFull::default())
            .outbound("pong", "bench/pong", b_out)
            .start()
            .unwrap();
        up_b.set();
        stop.wait_timeout(LONG * 10);
        drop(gw);
    });
    assert!(up_a.wait_timeout(LONG) && up_b.wait_timeout(LONG));
    (a, b)
}

fn queues() -> Arc<RecordQueue> {
    Arc::new(RecordQueue::with_capacity(1 << 20).unwrap())
}

/// Gateways: `n` records one way (µs for all), then `pings` round trips
/// (µs each, median).
fn through_gateways(n: usize, pings: usize) -> (f64, f64) {
    let (a_out, a_in, b_in, b_out) = (queues(), queues(), queues(), queues());
    let stop = event();
    // Host B's program: echoes every ping after the first `n` (those are
    // the one-way run, counted).
    let (bi, bo) = (Arc::clone(&b_in), Arc::clone(&b_out));
    let echo = child(move || {
        let mut buf = Vec::new();
        for _ in 0..n {
            bi.get_into(&mut buf).unwrap();
        }
        bo.put(b"one-way done").unwrap();
        for _ in 0..pings {
            bi.get_into(&mut buf).unwrap();
            bo.put(&buf).unwrap();
        }
    });
    let (a, b) = gateways(Arc::clone(&a_out), Arc::clone(&a_in), b_in, b_out, stop);
    let mut buf = Vec::new();
    // Warm the path.
    let record = [7u8; RECORD];
    let t = Instant::now();
    for _ in 0..n {
        a_out.put(&record).unwrap();
    }
    a_in.get_into(&mut buf).unwrap();
    let one_way = t.elapsed().as_secs_f64() * 1e6;
    let mut rtts = Vec::with_capacity(pings);
    for _ in 0..pings {
        let t = Instant::now();
        a_out.put(&record).unwrap();
        a_in.get_into(&mut buf).unwrap();
        rtts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    echo.join().unwrap();
    stop.set();
    a.join().unwrap();
    b.join().unwrap();
    (one_way, median(&mut rtts))
}

/// zenoh alone: a publisher and a subscriber in two processes, the same
/// records; one way then round trips, timed in the sending process.
fn through_zenoh(n: usize, pings: usize) -> (f64, f64) {
    let p = port();
    let (up, stop) = (event(), event());
    let one_way: &'static Value<f64> = Box::leak(Box::new(Value::new(0f64).unwrap()));
    let rtt: &'static Value<f64> = Box::leak(Box::new(Value::new(0f64).unwrap()));
    let b = child(move || {
        let s = zenoh::open(config(None, Some(p))).wait().unwrap();
        let pong = s.declare_publisher("zbench/pong").wait().unwrap();
        let sub = s.declare_subscriber("zbench/ping").wait().unwrap();
        up.set();
        for _ in 0..n {
            sub.recv().unwrap();
        }
        pong.put(b"one-way done".to_vec()).wait().unwrap();
        for _ in 0..pings {
            let sample = sub.recv().unwrap();
            pong.put(sample.payload().to_bytes().to_vec())
                .wait()
                .unwrap();
        }
        stop.wait_timeout(LONG);
    });
    let (ow, rt) = (one_way, rtt);
    let a = child(move || {
        let s = zenoh::open(config(Some(p), None)).wait().unwrap();
        let ping = s.declare_publisher("zbench/ping").wait().unwrap();
        let sub = s.declare_subscriber("zbench/pong").wait().unwrap();
        assert!(up.wait_timeout(LONG));
        while !ping.matching_status().wait().unwrap().matching() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let record = vec![7u8; RECORD];
        let t = Instant::now();
        for _ in 0..n {
            ping.put(record.clone()).wait().unwrap();
        }
        sub.recv().unwrap();
        ow.set(t.elapsed().as_secs_f64() * 1e6);
        let mut rtts = Vec::with_capacity(pings);
        for _ in 0..pings {
            let t = Instant::now();
            ping.put(record.clone()).wait().unwrap();
            sub.recv().unwrap();
            rtts.push(t.elapsed().as_secs_f64() * 1e6);
        }
        rt.set(median(&mut rtts));
        stop.set();
    });
    a.join().unwrap();
    b.join().unwrap();
    (one_way.get(), rtt.get())
}

/// A local `RecordQueue` between two processes: the same, for scale.
fn through_local(n: usize, pings: usize) -> (f64, f64) {
    let (to, back) = (queues(), queues());
    let (t2, b2) = (Arc::clone(&to), Arc::clone(&back));
    let echo = child(move || {
        let mut buf = Vec::new();
        for _ in 0..n {
            t2.get_into(&mut buf).unwrap();
        }
        b2.put(b"one-way done").unwrap();
        for _ in 0..pings {
            t2.get_into(&mut buf).unwrap();
            b2.put(&buf).unwrap();
        }
    });
    let record = [7u8; RECORD];
    let mut buf = Vec::new();
    let t = Instant::now();
    for _ in 0..n {
        to.put(&record).unwrap();
    }
    back.get_into(&mut buf).unwrap();
    let one_way = t.elapsed().as_secs_f64() * 1e6;
    let mut rtts = Vec::with_capacity(pings);
    for _ in 0..pings {
        let t = Instant::now();
        to.put(&record).unwrap();
        back.get_into(&mut buf).unwrap();
        rtts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    echo.join().unwrap();
    (one_way, median(&mut rtts))
}

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn main() {
    let quick = std::env::var_os("MPROC_BENCH_QUICK").is_some();
    let (rounds, n, pings) = if quick {
        (1, 2_000, 200)
    } else {
        (5, 50_000, 2_000)
    };
    let names = ["mproc gateways", "zenoh pub/sub alone", "local RecordQueue"];
    let mut rate: [Vec<f64>; 3] = Default::default();
    let mut rtt: [Vec<f64>; 3] = Default::default();
    let mut ratio_rate = Vec::new();
    let mut ratio_rtt = Vec::new();
    for round in 0..=rounds {
        let runs = [
            through_gateways(n, pings),
            through_zenoh(n, pings),
            through_local(n, pings),
        ];
        if round == 0 {
            continue; // warm-up
        }
        for (i, (one_way, rt)) in runs.iter().enumerate() {
            rate[i].push(n as f64 / one_way * 1e6);
            rtt[i].push(*rt);
        }
        ratio_rate.push(runs[1].0 / runs[0].0);
        ratio_rtt.push(runs[0].1 / runs[1].1);
    }
    println!(
        "## mproc-zenoh gateway: {RECORD}-byte records on loopback, {rounds} rounds of {n} one way and {pings} round trips"
    );
    println!("| contender | records/s median | p90 (slowest tenth) | round trip µs median | p90 |");
    println!("|---|--:|--:|--:|--:|");
    for i in 0..3 {
        let (r50, r10) = (median(&mut rate[i]), quantile(&mut rate[i], 0.1));
        let (t50, t90) = (median(&mut rtt[i]), quantile(&mut rtt[i], 0.9));
        println!(
            "| {} | {:.0} | {:.0} | {:.1} | {:.1} |",
            names[i], r50, r10, t50, t90
        );
    }
    println!(
        "gateway throughput / zenoh alone: {:.2}; gateway round trip / zenoh alone: {:.2}",
        median(&mut ratio_rate),
        median(&mut ratio_rtt)
    );
}
