//! The report: the tables, ratios and targets.

use super::*;

/// Python's default `map` chunksize for `n` items on `k` workers
/// (`multiprocessing.pool.Pool._map_async`).
pub(super) fn python_chunksize(n: u32, k: usize) -> u32 {
    n.div_ceil(k as u32 * 4)
}

pub(super) fn report(out: &mut String, plan: &Plan, m: &Measured) {
    // 1–3: per task, against Python.
    let a = &m.apply;
    let t = &m.tasks;
    let mp = &m.map;
    let _ = writeln!(
        out,
        "| benchmark (Pool({WORKERS}), task x + 1) | mproc ns/task | Python ns/task | Python/mproc | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|---|");
    let rows: [(String, &[f64], &[f64], f64); 4] = [
        (
            "`apply` round trip, one task at a time".into(),
            &a.mproc,
            &a.python,
            100.0,
        ),
        (
            format!(
                "`apply_async` + `get`, {} tasks (mproc: window of {WINDOW}; Python: all \
                 submitted, then all got)",
                plan.tasks
            ),
            &t.mproc,
            &t.python,
            60.0,
        ),
        (
            format!(
                "`map`, {} items: mproc `map_into` chunksize None; Python default \
                 chunksize ({})",
                plan.items,
                python_chunksize(plan.items, WORKERS)
            ),
            &mp.auto,
            &mp.python,
            10.0,
        ),
        (
            format!(
                "`map`, {} items: mproc `map_into` chunksize {CHUNK}; Python default \
                 chunksize ({})",
                plan.items,
                python_chunksize(plan.items, WORKERS)
            ),
            &mp.chunked,
            &mp.python,
            10.0,
        ),
    ];
    for (bench, ours, py, limit) in rows {
        let r = paired_ratio(py, ours);
        let target = check("Python/mproc", r, false, limit);
        let _ = writeln!(
            out,
            "| {bench} | {} | {} | {} | {} | {} |",
            cell(median(ours)),
            cell(median(py)),
            ratio_cell(r),
            target.0,
            verdict(&target),
        );
    }

    // 1 again: against the floor.
    let r = paired_ratio(&a.mproc, &a.spin);
    let target = check("mproc/spin", r, true, 3.0);
    let _ = writeln!(
        out,
        "\n| benchmark | mproc `apply` ns/rt | raw spin ns/rt | mproc/spin | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|---|");
    let _ = writeln!(
        out,
        "| round trip to another process: `Pool({WORKERS}).apply(inc, i)` vs a raw \
         `Shared<AtomicU64>` spin echo | {} | {} | {} | {} | {} |",
        cell(median(&a.mproc)),
        cell(median(&a.spin)),
        ratio_cell(r),
        target.0,
        verdict(&target),
    );

    // 4: oversubscription.
    let o = &m.over;
    let _ = writeln!(
        out,
        "\n| oversubscription on {} CPUs: `apply_async` + `get` | {WORKERS} workers tasks/s | \
         {MANY} workers tasks/s | {MANY}w/{WORKERS}w | target | result |",
        mproc::process::cpu_count().map_or_else(|_| "?".into(), |n| n.to_string()),
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|---|");
    let r = paired_ratio(&o.many, &o.two);
    let target = check(&format!("{MANY}w/{WORKERS}w"), r, false, 0.5);
    let _ = writeln!(
        out,
        "| mproc, {} tasks per run, window of {WINDOW} | {} | {} | {} | no collapse: {} | {} |",
        plan.over,
        cell(median(&o.two)),
        cell(median(&o.many)),
        ratio_cell(r),
        target.0,
        verdict(&target),
    );
    let _ = writeln!(
        out,
        "| Python (reference), {} tasks per run, all submitted then all got | {} | {} | {} | — | — |",
        plan.py_over,
        cell(median(&o.py_two)),
        cell(median(&o.py_many)),
        ratio_cell(paired_ratio(&o.py_many, &o.py_two)),
    );
    let _ = writeln!(
        out,
        "\nWhere mproc's time goes (per run: the CPU clocks (clock_getcpuclockid) and \
         /proc/<pid>/status context switches of the bench and the pool's workers, read \
         before and after the timed loop; medians over the rounds; CPUs busy = CPU time / \
         wall time; preempted = involuntary switches, parks = voluntary ones):\n"
    );
    let _ = writeln!(
        out,
        "| workers | tasks/s | parent CPUs busy | workers CPUs busy | CPU ns per task (all) | parent preempted per 1000 tasks | worker parks per 1000 tasks |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|");
    for (k, tps, rates) in [
        (WORKERS, &o.two, &o.two_sched),
        (MANY, &o.many, &o.many_sched),
    ] {
        let pick = |f: fn(&SchedRates) -> f64| median(&rates.iter().map(f).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "| {k} | {} | {} | {} | {} | {} | {} |",
            cell(median(tps)),
            ratio_cell(pick(|r| r.parent_busy)),
            ratio_cell(pick(|r| r.workers_busy)),
            cell(pick(|r| r.cpu_per_task)),
            cell(pick(|r| r.parent_preempted)),
            cell(pick(|r| r.workers_parked)),
        );
    }

    // 5: memory.
    let mem = &m.memory;
    let ratio = |py: Option<Footprint>, ours: Option<Footprint>, f: fn(Footprint) -> f64| match (
        py, ours,
    ) {
        (Some(p), Some(o)) => Some(f(p) / f(o)),
        _ => None,
    };
    let _ = writeln!(
        out,
        "\n| memory (KiB, /proc/<pid>/smaps_rollup) after {WARM_TASKS} `apply`, {WARM_TASKS} \
         `apply_async` + `get` and a `map` of {WARM_ITEMS} items | mproc USS | Python USS | \
         Python/mproc | mproc PSS | Python PSS | Python/mproc |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
    for (who, ours, py) in [
        ("one pool worker", mem.worker, mem.py_worker),
        ("the pool's owner (parent)", mem.parent, mem.py_parent),
    ] {
        let _ = writeln!(
            out,
            "| {who} | {} | {} | {} | {} | {} | {} |",
            cell(ours.map(|u| u.uss)),
            cell(py.map(|u| u.uss)),
            ratio_cell(ratio(py, ours, |u| u.uss)),
            cell(ours.map(|u| u.pss)),
            cell(py.map(|u| u.pss)),
            ratio_cell(ratio(py, ours, |u| u.pss)),
        );
    }
    let _ = writeln!(
        out,
        "\nUSS = Private_Clean + Private_Dirty (pages no other process maps); PSS shares \
         each page among the processes mapping it. Every worker is a fork of its owner, so \
         pages neither has written since the fork count in PSS, not in USS. Processes per \
         side: mproc {}, Python {} (the owner and its workers; the mproc owner is this \
         bench, the Python owner the peer with the pool's three handler threads).",
        mem.processes.0,
        mem.processes
            .1
            .map_or_else(|| "n/a".to_owned(), |n| n.to_string()),
    );

    // Spread.
    let over = "oversubscription (tasks/s)";
    let rows: [(&str, String, &[f64]); 12] = [
        ("apply (ns/rt)", "mproc".into(), &a.mproc),
        ("apply (ns/rt)", "raw spin".into(), &a.spin),
        ("apply (ns/rt)", "Python".into(), &a.python),
        ("apply_async + get (ns/task)", "mproc".into(), &t.mproc),
        ("apply_async + get (ns/task)", "Python".into(), &t.python),
        ("map (ns/item)", "mproc chunksize None".into(), &mp.auto),
        (
            "map (ns/item)",
            format!("mproc chunksize {CHUNK}"),
            &mp.chunked,
        ),
        ("map (ns/item)", "Python".into(), &mp.python),
        (over, format!("mproc {WORKERS} workers"), &o.two),
        (over, format!("mproc {MANY} workers"), &o.many),
        (over, format!("Python {WORKERS} workers"), &o.py_two),
        (over, format!("Python {MANY} workers"), &o.py_many),
    ];
    spread_table(out, "Spread over the rounds (min–max):", rows);
}
