//! The report: the tables, ratios and targets.

use super::*;

pub(super) fn report_semaphore(out: &mut String, s: &SemSamples) {
    let _ = writeln!(
        out,
        "| benchmark (one process, uncontended) | ns/pair | p90 | previous algorithm ns/pair | new/previous | new/floor | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|---|---|");
    for (name, new, old) in [
        ("Semaphore acquire + drop", &s.new, &s.old),
        (
            "BoundedSemaphore acquire + drop",
            &s.new_bounded,
            &s.old_bounded,
        ),
    ] {
        let ratio = paired_ratio(new, old);
        let target = check("new/previous", ratio, true, SEM_TARGET);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            cell(median(new)),
            cell(percentile(new, 90.0)),
            cell(median(old)),
            ratio_cell(ratio),
            ratio_cell(paired_ratio(new, &s.floor)),
            target.0,
            verdict(&target),
        );
    }
    let _ = writeln!(
        out,
        "| floor: AtomicU32 fetch_sub + fetch_add | {} | {} | n/a | n/a | 1.00 | n/a | n/a |",
        cell(median(&s.floor)),
        cell(percentile(&s.floor, 90.0)),
    );
    spread_table(
        out,
        "Spread over the rounds (min–max ns/pair):",
        [
            ("Semaphore", "mproc", &s.new[..]),
            ("Semaphore", "previous algorithm", &s.old[..]),
            ("BoundedSemaphore", "mproc", &s.new_bounded[..]),
            ("BoundedSemaphore", "previous algorithm", &s.old_bounded[..]),
            ("AtomicU32 pair", "floor", &s.floor[..]),
        ],
    );
}

/// ns as µs, for a cell.
pub(super) fn us(v: Option<f64>) -> Option<f64> {
    v.map(|ns| ns / 1e3)
}

pub(super) fn report_takeover(out: &mut String, t: &[Takeover]) {
    let _ = writeln!(
        out,
        "\n| take-over after SIGKILL of the holder, {WAITERS} waiters | kills | median µs | p90 µs | p99 µs | max µs | not 1 OwnerDied | killed before all asleep | median ≤ 1 ms | p99 ≤ 1 ms |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|---|---|");
    for v in t {
        let med = median(&v.latency);
        let p99 = percentile(&v.latency, 99.0);
        let ms = |x: Option<f64>| x.map(|ns| ns / TAKEOVER_TARGET_NS);
        let (m, p) = (
            check("median", ms(med), true, 1.0),
            check("p99", ms(p99), true, 1.0),
        );
        let max = v.latency.iter().copied().reduce(f64::max);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            v.label,
            v.kills,
            cell(us(med)),
            cell(us(percentile(&v.latency, 90.0))),
            cell(us(p99)),
            cell(us(max)),
            v.wrong_count,
            v.not_asleep,
            verdict(&m),
            verdict(&p),
        );
    }
}

pub(super) fn report_condition(out: &mut String, d: &[DeadWaiter]) {
    let _ = writeln!(
        out,
        "\n| Condition: A killed while waiting, then notify(1); B waits | runs | B notified | median µs (notified runs) | p99 µs | not woken within 100 ms | dropped (notify > 90 ms after B's wait began) | not both asleep | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|---|---|");
    for v in d {
        let target = (String::new(), (v.runs > 0).then_some(v.missed == 0));
        let _ = writeln!(
            out,
            "| dead waiter {} | {} | {} | {} | {} | {} | {} | {} | runs not woken = 0 | {} |",
            v.reap.label(),
            v.runs,
            v.latency.len(),
            cell(us(median(&v.latency))),
            cell(us(percentile(&v.latency, 99.0))),
            v.missed,
            v.late,
            v.not_asleep,
            verdict(&target),
        );
    }
}
