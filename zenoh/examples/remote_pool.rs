//! A remote pool: jobs submitted on host B run in host A's `Pool`, and
//! the results come back, through two gateways.
//!
//! ```text
//!   host B                                        host A
//!   submit ─▶ ValueQueue<Job> ─▶ gateway B ══ zenoh ══▶ gateway A ─▶ ValueQueue<Job> ─▶ Pool(2)
//!   print  ◀─ ValueQueue<Done> ◀─ gateway B ◀══ zenoh ══ gateway A ◀─ ValueQueue<Done> ◀─┘
//! ```
//!
//! ```text
//! cargo run -p mproc-zenoh --example remote_pool                   # both hosts here, on loopback
//! cargo run -p mproc-zenoh --example remote_pool -- a 7447         # host A, listening on port 7447
//! cargo run -p mproc-zenoh --example remote_pool -- b HOST_A:7447  # host B
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use mproc::Process;
use mproc::ipc::ValueQueue;
use mproc::pool::Pool;
use mproc_zenoh::{Gateway, OnFull};
use serde::{Deserialize, Serialize};

/// A job: count the primes below `below`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Job {
    id: u64,
    below: u64,
}

/// Its result.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Done {
    id: u64,
    primes: u64,
    worker: u32,
}

/// The work, in a worker process of host A's pool.
fn count_primes(job: Job) -> Done {
    let primes = (2..job.below)
        .filter(|&n| (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u64;
    Done {
        id: job.id,
        primes,
        worker: std::process::id(),
    }
}

/// The job that tells host A to stop.
const STOP: u64 = u64::MAX;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Host A: a pool fed from the network.
fn host_a(port: u16) -> Res<()> {
    let jobs = Arc::new(ValueQueue::<Job>::new()?);
    let results = Arc::new(ValueQueue::<Done>::new()?);
    // Fork the workers first: zenoh starts threads.
    let pool = Pool::new(2)?;
    let gw = Gateway::builder()
        .listen(&format!("tcp/127.0.0.1:{port}"))
        .inbound("jobs", "pool/jobs", jobs.clone(), OnFull::default())
        .outbound("results", "pool/results", results.clone())
        .start()?;
    println!(
        "host A: serving on port {port} with {} workers",
        pool.processes()
    );
    // Jobs go to the workers as they come; results go back as they end,
    // in order.
    let mut running = std::collections::VecDeque::new();
    let mut stopping = false;
    while !(stopping && running.is_empty()) {
        let job = if running.is_empty() {
            Some(jobs.get()?)
        } else if running.len() < 32 && !stopping {
            jobs.get_nowait().ok()
        } else {
            None
        };
        match job {
            Some(job) if job.id == STOP => stopping = true,
            Some(job) => running.push_back(pool.apply_async_value(count_primes, job)?),
            None => {
                if let Some(r) = running.pop_front() {
                    results.put(&r.get()?)?;
                }
            }
        }
    }
    gw.stop(Duration::from_secs(5))?;
    Ok(())
}

/// Host B: submits jobs, prints what comes back.
fn host_b(host_a: &str, n: u64) -> Res<()> {
    let jobs = Arc::new(ValueQueue::<Job>::new()?);
    let results = Arc::new(ValueQueue::<Done>::new()?);
    let gw = Gateway::builder()
        .connect(&format!("tcp/{host_a}"))
        .outbound("jobs", "pool/jobs", jobs.clone())
        .inbound(
            "results",
            "pool/results",
            results.clone(),
            OnFull::default(),
        )
        .start()?;
    let start = Instant::now();
    for id in 0..n {
        jobs.put(&Job {
            id,
            below: 20_000 + id * 1_000,
        })?;
    }
    let mut total = 0;
    for _ in 0..n {
        let done = results.get_timeout(Duration::from_secs(30))?;
        println!(
            "job {:2}: {} primes (worker {})",
            done.id, done.primes, done.worker
        );
        total += done.primes;
    }
    println!("{n} jobs, {total} primes in all, in {:?}", start.elapsed());
    jobs.put(&Job { id: STOP, below: 0 })?;
    gw.stop(Duration::from_secs(5))?;
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("a") => host_a(args.get(1).map_or(Ok(7447), |p| p.parse())?),
        Some("b") => host_b(args.get(1).map_or("127.0.0.1:7447", String::as_str), 16),
        _ => {
            // Both hosts here: host A in a forked child (before any zenoh
            // thread), host B in this process.
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let mut a = Process::new(move || {
                if let Err(e) = host_a(port) {
                    eprintln!("host A: {e}");
                    mproc::process::exit(1);
                }
            });
            a.start()?;
            host_b(&format!("127.0.0.1:{port}"), 16)?;
            let code = a.join()?;
            if code != 0 {
                return Err(format!("host A exited with {code}").into());
            }
            Ok(())
        }
    }
}
