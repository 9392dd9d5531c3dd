//! The report: the tables, ratios and targets.

use super::*;

pub(super) fn report(
    out: &mut String,
    c: &CounterSamples,
    k: &ContendedSamples,
    pings: &[(Placement, PingSamples)],
) {
    // 1. The 2-process counter.
    let (m, a, py) = (median(&c.mproc), median(&c.atomic), median(&c.python));
    let (ma, pm) = (
        paired_ratio(&c.mproc, &c.atomic),
        paired_ratio(&c.python, &c.mproc),
    );
    let target = check("Python/mproc", pm, false, 5.0);
    let _ = writeln!(
        out,
        "| benchmark | mproc ns/op | atomic ns/op | Python ns/op | mproc/atomic | Python/mproc | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|---|---|");
    let _ = writeln!(
        out,
        "| Lock-protected counter, 2 processes (per increment) | {} | {} | {} | {} | {} | {} | {} |",
        cell(m),
        cell(a),
        cell(py),
        ratio_cell(ma),
        ratio_cell(pm),
        target.0,
        verdict(&target),
    );

    // 2. Contended: 2 vs MANY processes, unpinned.
    let collapse = paired_ratio(&k.many, &k.two);
    let target = check(&format!("{MANY}p/2p"), collapse, true, 4.0);
    let _ = writeln!(
        out,
        "\n| benchmark (unpinned) | mproc 2 processes ns/op | mproc {MANY} processes ns/op | {MANY}p/2p | Python 2 processes ns/op | Python/mproc (2 processes) | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|---|---|");
    let _ = writeln!(
        out,
        "| Contended Value<u64> lock counter (per increment) | {} | {} | {} | {} | {} | no collapse: {} | {} |",
        cell(median(&k.two)),
        cell(median(&k.many)),
        ratio_cell(collapse),
        cell(median(&k.python)),
        ratio_cell(paired_ratio(&k.python, &k.two)),
        target.0,
        verdict(&target),
    );
    let _ = writeln!(
        out,
        "\nWhere the contended mproc time goes (getrusage in each child from the release to \
         its last increment, summed over the children; medians over the rounds; voluntary \
         switches are parks on a futex, involuntary ones preemptions and sched_yield):\n"
    );
    let _ = writeln!(
        out,
        "| processes | wall ns/incr | CPU ns/incr | CPUs busy (CPU/wall) | voluntary switches per run | involuntary switches per run |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|");
    for (procs, wall, usage) in [(2, &k.two, &k.two_use), (MANY, &k.many, &k.many_use)] {
        let pick = |f: fn(&UsageRates) -> f64| median(&usage.iter().map(f).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "| {procs} | {} | {} | {} | {} | {} |",
            cell(median(wall)),
            cell(pick(|u| u.cpu_per_op)),
            ratio_cell(pick(|u| u.busy)),
            count_cell(pick(|u| u.vcsw)),
            count_cell(pick(|u| u.ivcsw)),
        );
    }

    // 3. Ping-pong.
    let _ = writeln!(
        out,
        "\n| benchmark | mproc µs/rt | futex raw µs/rt | spin raw µs/rt | Python µs/rt | mproc/futex | mproc/spin | Python/mproc |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
    let placements: Vec<(String, &PingSamples)> =
        pings.iter().map(|(place, q)| (place.label(), q)).collect();
    for (place, q) in &placements {
        let _ = writeln!(
            out,
            "| Event ping-pong round trip, 2 processes, {place} | {} | {} | {} | {} | {} | {} | {} |",
            cell(median(&q.mproc)),
            cell(median(&q.futex)),
            if q.spin.is_empty() {
                "n/a (a preemption per hop)".to_owned()
            } else {
                cell(median(&q.spin))
            },
            cell(median(&q.python)),
            ratio_cell(paired_ratio(&q.mproc, &q.futex)),
            ratio_cell(paired_ratio(&q.mproc, &q.spin)),
            ratio_cell(paired_ratio(&q.python, &q.mproc)),
        );
    }
    let _ = writeln!(
        out,
        "\nParks per round trip (voluntary context switches of A and B, getrusage; medians): {}.",
        placements
            .iter()
            .map(|(place, q)| format!(
                "{place}: futex raw {}, mproc {}",
                ratio_cell(median(&q.futex_parks)),
                ratio_cell(median(&q.mproc_parks))
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );

    let many = format!("mproc {MANY} processes");
    let mut rows: Vec<(String, &str, &[f64])> = vec![
        ("counter, 2 processes (ns)".into(), "mproc", &c.mproc),
        ("counter, 2 processes (ns)".into(), "atomic", &c.atomic),
        ("counter, 2 processes (ns)".into(), "Python", &c.python),
        (
            "contended, unpinned (ns)".into(),
            "mproc 2 processes",
            &k.two,
        ),
        ("contended, unpinned (ns)".into(), &many, &k.many),
        (
            "contended, unpinned (ns)".into(),
            "Python 2 processes",
            &k.python,
        ),
    ];
    for (place, q) in &placements {
        let bench = format!("ping-pong, {place} (µs)");
        rows.push((bench.clone(), "mproc", &q.mproc));
        rows.push((bench.clone(), "futex raw", &q.futex));
        if !q.spin.is_empty() {
            rows.push((bench.clone(), "spin raw", &q.spin));
        }
        rows.push((bench, "Python", &q.python));
    }
    spread_table(out, "Spread over the rounds (min–max per op):", rows);
}

pub(super) fn count_cell(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.0}"))
}
