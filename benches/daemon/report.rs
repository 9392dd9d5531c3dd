//! The report: the tables and their readings.

use super::*;

pub(super) fn report(out: &mut String, plan: &Plan, bins: &Binaries, m: &Measured) {
    // 1: USR1.
    let _ = writeln!(
        out,
        "| `kill -USR1` → status report, idle daemon (2 workers), {} signals | placement | \
         median µs | p90 µs | min–max µs |",
        plan.signals
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|");
    for l in &m.usr1 {
        for (what, s) in [
            (
                "until the `status #n` line is in the log (its size, polled)",
                &l.line,
            ),
            (
                "until the status segment's `reports` counter reads n",
                &l.counter,
            ),
        ] {
            let _ = writeln!(
                out,
                "| {what} | {} | {} | {} | {} |",
                l.placement,
                cell(median(s)),
                cell(percentile(s, 90.0)),
                spread(s),
            );
        }
    }
    for l in &m.usr1 {
        let _ = writeln!(
            out,
            "\n{}: one poll iteration (an fstat of the log, then a load of the counter) took \
             {} ns (median over the signals); in {} of {} signals the first poll found the \
             line already (the bench was off its CPU while the daemon answered).",
            l.placement,
            cell(median(&l.poll_ns)),
            l.first_look,
            l.line.len(),
        );
        let _ = writeln!(
            out,
            "The master's CPU time per report (its CPU clock, read before each signal): \
             median {} µs, p90 {} µs.",
            cell(median(&l.master_us)),
            cell(percentile(&l.master_us, 90.0)),
        );
    }

    // 2: throughput.
    let _ = writeln!(
        out,
        "\n| jobs through the message queue (`sleep 0`, {} per run, sent with \
         `MessageQueue::send`, until `done` counts them) | jobs/s (median) | µs/job | \
         min–max jobs/s |",
        plan.jobs
    );
    let _ = writeln!(out, "|---|--:|--:|--:|");
    for t in &m.throughput {
        let per_s = median(&t.per_s);
        let _ = writeln!(
            out,
            "| {} worker{} | {} | {} | {} |",
            t.workers,
            if t.workers == 1 { "" } else { "s" },
            cell(per_s),
            cell(per_s.map(|r| 1e6 / r)),
            spread(&t.per_s),
        );
    }
    let _ = writeln!(
        out,
        "\nWhere the time went (CPU µs per job, medians over the rounds; CPUs busy = all \
         three / wall time):\n"
    );
    let _ = writeln!(
        out,
        "| workers | µs/job (wall) | master CPU µs/job | ÷ the bare receiver's | workers CPU \
         µs/job | sender CPU µs/job | CPUs busy |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|");
    for t in &m.throughput {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            t.workers,
            cell(median(&t.per_s).map(|r| 1e6 / r)),
            cell(median(&t.master_us)),
            ratio_cell(median(&t.master_to_floor)),
            cell(median(&t.workers_us)),
            cell(median(&t.sender_us)),
            ratio_cell(median(&t.busy)),
        );
    }
    let _ = writeln!(
        out,
        "| the bare receiver (the floor) | | {} (p90 {}) | 1.00 | | {} | |",
        cell(median(&m.floor.us)),
        cell(percentile(&m.floor.us, 90.0)),
        cell(median(&m.floor.sender_us)),
    );
    let _ = writeln!(
        out,
        "\nThe bare receiver: a process that only waits for a queue of the daemon's depth \
         and job size to be readable and drains it (`ipc::wait`, `try_receive` until empty), \
         sent the same jobs the same way in each round; its CPU per message is what the \
         system calls a job needs cost, the kernel's wake of the sender blocked on the full \
         queue included. The ratio is the master's over the receiver's in the same round \
         (median over rounds)."
    );

    // 3: memory.
    let _ = writeln!(
        out,
        "\n| memory (KiB, /proc/<pid>/smaps_rollup), daemon with 2 workers, every process asleep \
         | binary | when | Rss | Pss | USS | Private_Dirty |"
    );
    let _ = writeln!(out, "|---|---|---|--:|--:|--:|--:|");
    let after = format!("after {} jobs", plan.memory_jobs);
    for (who, pick) in [
        (
            "master",
            (|s: &Snapshot| s.master) as fn(&Snapshot) -> Option<Footprint>,
        ),
        ("a worker (the larger by Rss)", |s: &Snapshot| s.worker),
    ] {
        for (binary, mem) in &m.memory {
            for (when, snap) in [
                ("after start-up", &mem.started),
                (after.as_str(), &mem.after_jobs),
            ] {
                let f = pick(snap);
                let _ = writeln!(
                    out,
                    "| {who} | {binary} | {when} | {} | {} | {} | {} |",
                    cell(f.map(|f| f.rss)),
                    cell(f.map(|f| f.pss)),
                    cell(f.map(|f| f.uss)),
                    cell(f.map(|f| f.dirty)),
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nUSS = Private_Clean + Private_Dirty (pages no other process maps); Pss shares each \
         page among the processes mapping it (the workers are forks of the master; the \
         dynamic binary's libc pages are shared with every process using libc). \
         Private_Clean pages are file pages the kernel can drop and read again; \
         Private_Dirty is what only swap could free."
    );

    // 4: size.
    let _ = writeln!(
        out,
        "\n| binary (release) | size KiB | stripped KiB | shared libraries needed |"
    );
    let _ = writeln!(out, "|---|--:|--:|---|");
    let scratch = std::env::temp_dir();
    let mut rows: Vec<(String, PathBuf)> = vec![
        ("`daemon`".to_owned(), bins.daemon.clone()),
        ("`submit`".to_owned(), bins.submit.clone()),
    ];
    if let Ok((d, s)) = &bins.static_bins {
        rows.push(("`daemon`, `+crt-static`".to_owned(), d.clone()));
        rows.push(("`submit`, `+crt-static`".to_owned(), s.clone()));
    }
    for (what, path) in rows {
        let kib = |b: Option<u64>| cell(b.map(|b| b as f64 / 1024.0));
        let size = std::fs::metadata(&path).ok().map(|m| m.len());
        let libs = match needed_libraries(&path) {
            None => "n/a (no readelf)".to_owned(),
            Some(l) if l.is_empty() => "none (static)".to_owned(),
            Some(l) => l.join(", "),
        };
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {libs} |",
            kib(size),
            kib(stripped_size(&path, &scratch)),
        );
    }
    if let Err(why) = &bins.static_bins {
        let _ = writeln!(out, "\nStatic variant: {why}.");
    }

    // The daemon's misbehaviour, if any.
    let _ = writeln!(
        out,
        "\nStalls (no job done for {} ms, master and workers asleep): {}",
        STALL.as_millis(),
        m.stalls.len()
    );
    for s in &m.stalls {
        let _ = writeln!(out, "- {s}");
    }
    if !m.stalls.is_empty() {
        let _ = writeln!(
            out,
            "\nA stalled run is not counted: the run is made again (the table's samples are \
             all runs without a stall)."
        );
    }
}
