//! The C interface's pool round trip against Rust's, in one run:
//! `mproc_pool_apply` from C (`benches/c/bench_pool.c`: an 8-byte task,
//! `x + 1` on a `uint64_t`, through the serde route the C interface
//! takes) against Rust's `Pool::apply(inc, x)` (the typed route) and
//! `Pool::apply_value` of the same 8 bytes as a `Vec<u8>` (the route the C
//! call takes, without the C boundary), each on a pool of 2 workers.
//!
//! Each round runs the three in turn, each on a pool of its own made for
//! its turn and stopped after it (so no other pool's workers spin beside
//! it; the C one as a program that times its own loop: neither its start
//! nor any pool's fork is counted); the table shows medians over the
//! rounds (and their 90th percentile) and the median of the per-round
//! ratios. The first round is a
//! warm-up.
//!
//! `cargo bench -p mproc-ffi --bench pool_c`; `MPROC_BENCH_QUICK=1` for a
//! smoke run. The harness is not libtest: the pools fork before any thread.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use mproc_rs::pool::Pool;

fn inc(x: u64) -> u64 {
    x + 1
}

fn inc_bytes(v: Vec<u8>) -> Vec<u8> {
    let x = u64::from_le_bytes(v.try_into().unwrap_or([0; 8])) + 1;
    x.to_le_bytes().to_vec()
}

/// The `q`-quantile (0.5: the median) of `v`, by the nearest rank.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

fn main() {
    let quick = std::env::var_os("MPROC_BENCH_QUICK").is_some();
    let (rounds, n) = if quick { (2, 200u64) } else { (11, 20_000u64) };
    let program = common::compile("benches/c/bench_pool.c", "bench_pool");
    let (mut rust, mut value, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let mut ratio_typed = Vec::new();
    let mut ratio_value = Vec::new();
    for _ in 0..=rounds {
        let typed = Pool::new(2).expect("Pool::new");
        for i in 0..n / 10 {
            assert_eq!(typed.apply(inc, i).expect("apply"), i + 1);
        }
        let t = Instant::now();
        let mut sum = 0;
        for i in 0..n {
            sum += typed.apply(inc, i).expect("apply");
        }
        let r = t.elapsed().as_nanos() as f64 / n as f64;
        assert_eq!(sum, n * (n + 1) / 2);
        typed.terminate().expect("terminate");
        drop(typed);

        let bytes = Pool::new(2).expect("Pool::new");
        for i in 0..n / 10 {
            let out = bytes
                .apply_value(inc_bytes, i.to_le_bytes().to_vec())
                .expect("apply_value");
            assert_eq!(out.len(), 8);
        }
        let t = Instant::now();
        let mut sum = 0;
        for i in 0..n {
            let out = bytes
                .apply_value(inc_bytes, i.to_le_bytes().to_vec())
                .expect("apply_value");
            sum += u64::from_le_bytes(out.try_into().expect("8 bytes"));
        }
        let v = t.elapsed().as_nanos() as f64 / n as f64;
        assert_eq!(sum, n * (n + 1) / 2);
        bytes.terminate().expect("terminate");
        drop(bytes);

        let arg = n.to_string();
        let (status, out, err) =
            common::finish(common::spawn(&program, &[&arg]), Duration::from_secs(300));
        assert!(status.success(), "bench_pool failed: {status}: {err}");
        let ns: f64 = out
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bench_pool said {out:?}"));
        rust.push(r);
        value.push(v);
        c.push(ns);
        ratio_typed.push(ns / r);
        ratio_value.push(ns / v);
    }
    // The first round is a warm-up.
    for v in [
        &mut rust,
        &mut value,
        &mut c,
        &mut ratio_typed,
        &mut ratio_value,
    ] {
        v.remove(0);
    }
    println!(
        "pool round trip, Pool(2), x + 1 on 8 bytes, {rounds} rounds of {n} (µs/op over the rounds; ratios: median of per-round ratios)"
    );
    println!("| contender | median µs/op | p90 |");
    println!("|---|--:|--:|");
    for (name, v) in [
        ("Rust `Pool::apply(inc, u64)`", &mut rust),
        ("Rust `Pool::apply_value(f, Vec<u8>)`", &mut value),
        ("C `mproc_pool_apply` (8 bytes)", &mut c),
    ] {
        println!(
            "| {name} | {:.3} | {:.3} |",
            median(v) / 1000.0,
            quantile(v, 0.9) / 1000.0
        );
    }
    println!(
        "C / Rust apply: {:.2}; C / Rust apply_value: {:.2}",
        median(&mut ratio_typed),
        median(&mut ratio_value)
    );
}
