//! `Pool.map` throughput against Python's, with and without a chunk size.

use super::*;

/// Per-round ns/item.
#[derive(Default)]
pub(super) struct MapSamples {
    /// chunksize `None`.
    pub(super) auto: Vec<f64>,
    /// chunksize [`CHUNK`].
    pub(super) chunked: Vec<f64>,
    pub(super) python: Vec<f64>,
}

pub(super) fn bench_map(
    plan: &Plan,
    pool: &DefaultPool,
    python: &mut Option<Peer>,
) -> Result<MapSamples> {
    let mut s = MapSamples::default();
    // One buffer for every run, allocated before the first one.
    let mut out = vec![0u64; plan.items as usize];
    rounds(plan.rounds, |warm| {
        let n = size(warm, plan.items);
        let buf = &mut out[..n as usize];
        let auto = guarded("mproc map_into, chunksize None", PATIENCE, || {
            mproc_map(pool, buf, None)
        })?;
        let chunked = guarded("mproc map_into, chunksize 64", PATIENCE, || {
            mproc_map(pool, buf, Some(CHUNK))
        })?;
        let py = guarded("Python map", PATIENCE, || {
            python_run(python, "map", WORKERS, n)
        })?;
        if !warm {
            s.auto.push(ns_per_op(auto, n));
            s.chunked.push(ns_per_op(chunked, n));
            s.python.extend(py.map(|d| ns_per_op(d, n)));
        }
        Ok(())
    })?;
    Ok(s)
}

/// `map_into(inc, 0..len, out, chunksize)`; checks every item.
pub(super) fn mproc_map(
    pool: &DefaultPool,
    out: &mut [u64],
    chunksize: Option<usize>,
) -> Result<Duration> {
    out.fill(0);
    let n = out.len() as u64;
    let start = Instant::now();
    let written = pool.map_into(inc, 0..n, out, chunksize)?;
    let elapsed = start.elapsed();
    if written as u64 != n {
        return Err(format!("mproc map_into: wrote {written} of {n} results").into());
    }
    if let Some(i) = (0..out.len()).find(|&i| out[i] != i as u64 + 1) {
        return Err(format!(
            "mproc map_into (chunksize {chunksize:?}): item {i} is {}, expected {}",
            out[i],
            i + 1
        )
        .into());
    }
    let sum = out.iter().sum();
    check_results("mproc map_into", n, sum, n as u32)?;
    Ok(elapsed)
}
