//! Memory at rest and after jobs: USS and PSS from /proc.

use super::*;

/// The master and a worker (the one of larger `Rss`), asleep.
#[derive(Clone, Copy)]
pub(super) struct Snapshot {
    pub(super) master: Option<Footprint>,
    pub(super) worker: Option<Footprint>,
}

impl Snapshot {
    pub(super) fn of(d: &Daemon) -> Snapshot {
        let worker = d
            .worker_pids()
            .into_iter()
            .filter_map(|pid| Footprint::of("daemon", pid))
            .max_by(|a, b| a.rss.total_cmp(&b.rss));
        Snapshot {
            master: Footprint::of("daemon", d.pid.as_raw()),
            worker,
        }
    }
}

/// A fresh daemon's footprint after start-up and after the jobs.
pub(super) struct Memory {
    pub(super) started: Snapshot,
    pub(super) after_jobs: Snapshot,
}

pub(super) fn bench_memory(
    plan: &Plan,
    binary: &str,
    bin: &Path,
    stalls: &mut Vec<String>,
) -> Result<Memory> {
    let mut d = Daemon::start(bin, 2, None)?;
    d.settle(plan.settle)?;
    let started = Snapshot::of(&d);
    let q = MessageQueue::open(&d.queue)?;
    let mut id = 1;
    if let Some(s) = run_jobs(&d, &q, plan.memory_jobs, &mut id)?.stall {
        stalls.push(format!("memory, {binary} binary: {s}"));
    }
    d.settle(plan.settle)?;
    let after_jobs = Snapshot::of(&d);
    drop(q);
    d.stop()?;
    Ok(Memory {
        started,
        after_jobs,
    })
}
