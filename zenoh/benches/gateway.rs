//! The gateway's cost, in one run: throughput and round-trip latency of
//! 64-byte records through two gateways (a `RecordQueue` on each side),
//! against zenoh's own pub/sub between the same two processes without
//! mproc, and a local `RecordQueue` between two processes for scale.
//! Each contender runs in processes of its own, forked before any zenoh
//! thread; rounds interleave the contenders; medians and p90 over the
//! rounds, ratios as medians of per-round ratios.
//!
//! Two places: loopback, and two network namespaces joined by a veth
//! pair (the two hosts of the namespaces test), each forked host entering
//! its namespace before it opens zenoh; the local queues are shared
//! memory, as the bench's. The namespaces need root and `ip` (iproute2):
//! without them the bench says so and measures loopback only.
//!
//! `cargo bench -p mproc-zenoh --bench gateway`; `MPROC_BENCH_QUICK=1` for
//! a smoke run.

#[path = "../tests/common/netns.rs"]
mod netns;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mproc::Process;
use mproc::ipc::RecordQueue;
use mproc::shm::{Shared, Value};
use mproc::sync::Event;
use mproc_zenoh::zenoh::qos::CongestionControl;
use mproc_zenoh::zenoh::{self, Wait as _};
use mproc_zenoh::{Builder, Gateway, OnFull};

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

/// Where the two hosts run: their network namespaces (none: this one),
/// and host A's address there.
#[derive(Clone)]
struct Place {
    name: &'static str,
    a: Option<String>,
    b: Option<String>,
    addr: String,
}

impl Place {
    /// Moves this (forked, single-threaded) host into host `b`'s or
    /// `a`'s namespace.
    fn enter(&self, b: bool) {
        if let Some(ns) = if b { &self.b } else { &self.a } {
            let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        }
    }

    fn endpoint(&self, port: u16) -> String {
        format!("tcp/{}:{port}", self.addr)
    }
}

fn config(listen: Option<String>, connect: Option<String>) -> zenoh::Config {
    let mut c = zenoh::Config::default();
    c.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    if let Some(e) = listen {
        c.insert_json5("listen/endpoints", &format!("[{e:?}]"))
            .unwrap();
    }
    if let Some(e) = connect {
        c.insert_json5("connect/endpoints", &format!("[{e:?}]"))
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
    place: &Place,
    a_out: Arc<RecordQueue>,
    a_in: Arc<RecordQueue>,
    b_in: Arc<RecordQueue>,
    b_out: Arc<RecordQueue>,
    stop: &'static Event,
    keep: Option<std::path::PathBuf>,
) -> (Process<impl FnOnce()>, Process<impl FnOnce()>) {
    let endpoint = place.endpoint(port());
    let (up_a, up_b) = (event(), event());
    let (pa, pb, ea) = (place.clone(), place.clone(), endpoint.clone());
    // Each host keeps its outbound window in a directory of its own.
    let kept = move |b: Builder, host: &str| match &keep {
        Some(dir) => {
            let dir = dir.join(host);
            std::fs::create_dir_all(&dir).unwrap();
            b.keep_windows(dir)
        }
        None => b,
    };
    let kept_b = kept.clone();
    let a = child(move || {
        pa.enter(false);
        let gw = kept(Gateway::builder(), "a")
            .listen(&ea)
            .outbound("ping", "bench/ping", a_out)
            .inbound("pong", "bench/pong", a_in, OnFull::default())
            .start()
            .unwrap();
        up_a.set();
        stop.wait_timeout(LONG * 10);
        drop(gw);
    });
    let b = child(move || {
        pb.enter(true);
        let gw = kept_b(Gateway::builder(), "b")
            .connect(&endpoint)
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
fn through_gateways(place: &Place, n: usize, pings: usize, keep: bool) -> (f64, f64) {
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
    // Kept windows on tmpfs, where a daemon's state would be for speed
    // (the file survives the gateway, not the machine).
    let dir =
        std::path::PathBuf::from(format!("/dev/shm/mproc-zenoh-bench-{}", std::process::id()));
    let (a, b) = gateways(
        place,
        Arc::clone(&a_out),
        Arc::clone(&a_in),
        b_in,
        b_out,
        stop,
        keep.then(|| dir.clone()),
    );
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
    let _ = std::fs::remove_dir_all(&dir);
    (one_way, median(&mut rtts))
}

/// The next sample, or a panic (not a hang) after [`LONG`].
fn recv(
    sub: &zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
) -> zenoh::sample::Sample {
    sub.recv_timeout(LONG)
        .unwrap()
        .expect("a sample within a minute")
}

/// zenoh alone: a publisher and a subscriber in two processes, the same
/// records; one way then round trips, timed in the sending process.
fn through_zenoh(place: &Place, n: usize, pings: usize) -> (f64, f64) {
    let endpoint = place.endpoint(port());
    let (pa, pb, ea) = (place.clone(), place.clone(), endpoint.clone());
    let (up, stop) = (event(), event());
    let one_way: &'static Value<f64> = Box::leak(Box::new(Value::new(0f64).unwrap()));
    let rtt: &'static Value<f64> = Box::leak(Box::new(Value::new(0f64).unwrap()));
    let b = child(move || {
        pb.enter(true);
        let s = zenoh::open(config(None, Some(endpoint))).wait().unwrap();
        // Blocking under congestion, as the gateway's publishers: the
        // default drops, and a dropped ping would stall the run.
        let pong = s
            .declare_publisher("zbench/pong")
            .congestion_control(CongestionControl::Block)
            .wait()
            .unwrap();
        let sub = s.declare_subscriber("zbench/ping").wait().unwrap();
        up.set();
        for _ in 0..n {
            recv(&sub);
        }
        pong.put(b"one-way done".to_vec()).wait().unwrap();
        for _ in 0..pings {
            let sample = recv(&sub);
            pong.put(sample.payload().to_bytes().to_vec())
                .wait()
                .unwrap();
        }
        stop.wait_timeout(LONG);
    });
    let (ow, rt) = (one_way, rtt);
    let a = child(move || {
        pa.enter(false);
        let s = zenoh::open(config(Some(ea), None)).wait().unwrap();
        let ping = s
            .declare_publisher("zbench/ping")
            .congestion_control(CongestionControl::Block)
            .wait()
            .unwrap();
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
        recv(&sub);
        ow.set(t.elapsed().as_secs_f64() * 1e6);
        let mut rtts = Vec::with_capacity(pings);
        for _ in 0..pings {
            let t = Instant::now();
            ping.put(record.clone()).wait().unwrap();
            recv(&sub);
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
    let tag = std::process::id() % 10_000 + 30_000;
    let hosts = netns::Hosts::make(tag)
        .inspect_err(|e| {
            println!("namespaces skipped, loopback only: {e}");
            let _ = netns::ip(&["netns", "del", &format!("mpz-a-{tag}")]);
            let _ = netns::ip(&["netns", "del", &format!("mpz-b-{tag}")]);
        })
        .ok();
    let mut places = vec![Place {
        name: "loopback",
        a: None,
        b: None,
        addr: "127.0.0.1".into(),
    }];
    if let Some(h) = &hosts {
        places.push(Place {
            name: "two namespaces (veth)",
            a: Some(h.a.clone()),
            b: Some(h.b.clone()),
            addr: format!("10.213.{}.1", tag % 250),
        });
    }
    let names = [
        "mproc gateways",
        "zenoh pub/sub alone",
        "local RecordQueue",
        "mproc gateways, windows kept (tmpfs)",
    ];
    // Per place and contender: rates and round trips; per place, the
    // per-round ratios.
    let mut rate = vec![<[Vec<f64>; 4]>::default(); places.len()];
    let mut rtt = vec![<[Vec<f64>; 4]>::default(); places.len()];
    let mut ratio_kept = vec![Vec::new(); places.len()];
    let mut ratio_rate = vec![Vec::new(); places.len()];
    let mut ratio_rtt = vec![Vec::new(); places.len()];
    for round in 0..=rounds {
        for (p, place) in places.iter().enumerate() {
            let runs = [
                through_gateways(place, n, pings, false),
                through_zenoh(place, n, pings),
                through_local(n, pings),
                through_gateways(place, n, pings, true),
            ];
            if round == 0 {
                continue; // warm-up
            }
            for (i, (one_way, rt)) in runs.iter().enumerate() {
                rate[p][i].push(n as f64 / one_way * 1e6);
                rtt[p][i].push(*rt);
            }
            ratio_rate[p].push(runs[1].0 / runs[0].0);
            ratio_rtt[p].push(runs[0].1 / runs[1].1);
            ratio_kept[p].push(runs[0].0 / runs[3].0);
        }
    }
    println!(
        "## mproc-zenoh gateway: {RECORD}-byte records, {rounds} rounds of {n} one way and {pings} round trips"
    );
    println!(
        "| place | contender | records/s median | p90 (slowest tenth) | round trip µs median | p90 |"
    );
    println!("|---|---|--:|--:|--:|--:|");
    for (p, place) in places.iter().enumerate() {
        for (i, name) in names.iter().enumerate() {
            let (r50, r10) = (median(&mut rate[p][i]), quantile(&mut rate[p][i], 0.1));
            let (t50, t90) = (median(&mut rtt[p][i]), quantile(&mut rtt[p][i], 0.9));
            println!(
                "| {} | {name} | {r50:.0} | {r10:.0} | {t50:.1} | {t90:.1} |",
                place.name
            );
        }
    }
    for (p, place) in places.iter().enumerate() {
        println!(
            "{}: gateway throughput / zenoh alone: {:.2}; gateway round trip / zenoh alone: {:.2}",
            place.name,
            median(&mut ratio_rate[p]),
            median(&mut ratio_rtt[p])
        );
        println!(
            "{}: gateway throughput, windows kept / not kept: {:.2}",
            place.name,
            median(&mut ratio_kept[p])
        );
    }
}
