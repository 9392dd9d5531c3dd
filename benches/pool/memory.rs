//! Memory of a pool and its workers (USS, PSS) after a warm-up, against Python's.

use super::*;

/// `apply` round trips and `apply_async` tasks of the warm-up before the
/// memory snapshot.
pub(super) const WARM_TASKS: u32 = 1_000;
/// `map` items of that warm-up.
pub(super) const WARM_ITEMS: u32 = 10_000;

/// The same small workload on both pools before the memory snapshot:
/// [`WARM_TASKS`] `apply`, [`WARM_TASKS`] `apply_async` + `get`, one `map`
/// of [`WARM_ITEMS`] items; every result checked, nothing timed.
pub(super) fn warm_up(pool: &DefaultPool, python: &mut Option<Peer>) -> Result<()> {
    mproc_apply(pool, WARM_TASKS)?;
    mproc_tasks(pool, WARM_TASKS)?;
    mproc_map(pool, &mut vec![0; WARM_ITEMS as usize], None)?;
    python_run(python, "apply", WORKERS, WARM_TASKS)?;
    python_run(python, "async", WORKERS, WARM_TASKS)?;
    python_run(python, "map", WORKERS, WARM_ITEMS)?;
    Ok(())
}

/// The memory snapshot: one worker and the owner of each pool.
pub(super) struct Memory {
    pub(super) worker: Option<Footprint>,
    pub(super) parent: Option<Footprint>,
    pub(super) py_worker: Option<Footprint>,
    pub(super) py_parent: Option<Footprint>,
    /// How many processes each side had (owner + workers).
    pub(super) processes: (usize, Option<usize>),
}

impl Memory {
    pub(super) fn snapshot(pool: &DefaultPool, python: &mut Option<Peer>) -> Memory {
        let pids = pool.pids();
        let worker = pids.first().and_then(|p| Footprint::of("pool", p.as_raw()));
        let parent = Footprint::of("pool", mproc::process::getpid().as_raw());
        let py_pids: Option<Vec<i32>> = ask_or_drop(python, &format!("pids {WORKERS}"))
            .and_then(|a| a.split_whitespace().map(|w| w.parse().ok()).collect());
        let (py_parent, py_worker) = match py_pids.as_deref() {
            Some([parent, first, ..]) => (
                Footprint::of("pool", *parent),
                Footprint::of("pool", *first),
            ),
            _ => (None, None),
        };
        Memory {
            worker,
            parent,
            py_worker,
            py_parent,
            processes: (pids.len() + 1, py_pids.map(|p| p.len())),
        }
    }
}
