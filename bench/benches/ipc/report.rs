//! The report: tables of medians and p90, ratios and their targets.

use super::*;

/// A row of the targets table: mproc's samples, what they are compared
/// with, and the target on the paired ratio `num / den` (or, without
/// one, on mproc's median).
pub(super) struct Target<'a> {
    pub(super) bench: &'a str,
    pub(super) ours: &'a [f64],
    pub(super) with: Option<(&'a str, &'a [f64])>,
    pub(super) ratio: Option<(&'a [f64], &'a [f64])>,
    pub(super) name: &'a str,
    pub(super) at_most: bool,
    pub(super) limit: f64,
}

/// The smallest and largest of per-round ratios.
pub(super) fn ratio_spread(s: &[f64]) -> String {
    let lo = s.iter().copied().reduce(f64::min);
    let hi = s.iter().copied().reduce(f64::max);
    match (lo, hi) {
        (Some(lo), Some(hi)) => format!("{}–{}", ratio(Some(lo)), ratio(Some(hi))),
        _ => "n/a".into(),
    }
}

/// A ratio: two decimals below 10, fewer above.
pub(super) fn ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => cell(Some(r)),
        r => ratio_cell(r),
    }
}

pub(super) fn verdict(c: &(String, Option<bool>)) -> &'static str {
    match c.1 {
        Some(true) => "**met**",
        Some(false) => "**not met**",
        None => "n/a",
    }
}

pub(super) fn report(out: &mut String, placement: &str, t: &TripSamples, s: &StreamSamples) {
    // 1. The targets.
    let targets = [
        Target {
            bench: "Queue<[u8; 64], 64> round trip",
            ours: &t.queue,
            with: None,
            ratio: None,
            name: "µs",
            at_most: true,
            limit: 1.0,
        },
        Target {
            bench: "Queue<[u8; 64], 64> round trip",
            ours: &t.queue,
            with: Some(("iceoryx2 pub-sub, polling", &t.iceoryx2)),
            ratio: Some((&t.queue, &t.iceoryx2)),
            name: "Queue/iceoryx2",
            at_most: true,
            limit: 1.0,
        },
        Target {
            bench: "Queue<[u8; 64], 64> round trip",
            ours: &t.queue,
            with: Some(("Python Queue()", &t.py_queue)),
            ratio: Some((&t.py_queue, &t.queue)),
            name: "Python/mproc",
            at_most: false,
            limit: 100.0,
        },
        Target {
            bench: "Pipe::duplex round trip",
            ours: &t.pipe,
            with: Some(("raw SOCK_SEQPACKET pair", &t.seqpacket)),
            ratio: Some((&t.pipe, &t.seqpacket)),
            name: "mproc/raw",
            at_most: true,
            limit: 1.1,
        },
        Target {
            bench: "MessageQueue round trip",
            ours: &t.mq,
            with: Some(("raw POSIX mq pair", &t.raw_mq)),
            ratio: Some((&t.mq, &t.raw_mq)),
            name: "mproc/raw",
            at_most: true,
            limit: 1.1,
        },
    ];
    let _ = writeln!(
        out,
        "| benchmark ({SIZE} bytes, {placement}) | mproc µs | compared with | its µs | ratio | per-round ratios min–max | target | result |"
    );
    let _ = writeln!(out, "|---|--:|---|--:|--:|--:|---|---|");
    for t in targets {
        let ratios: Vec<f64> = t
            .ratio
            .map(|(num, den)| num.iter().zip(den).map(|(n, d)| n / d).collect())
            .unwrap_or_default();
        let value = match t.ratio {
            Some(_) => median(&ratios),
            None => median(t.ours),
        };
        let target = check(t.name, value, t.at_most, t.limit);
        let (with, theirs) = t.with.unwrap_or(("—", &[]));
        let dash = |s: String| if t.ratio.is_some() { s } else { "—".into() };
        let _ = writeln!(
            out,
            "| {} | {} | {with} | {} | {} | {} | {} | {} |",
            t.bench,
            cell(median(t.ours)),
            dash(cell(median(theirs))),
            dash(ratio(value)),
            dash(ratio_spread(&ratios)),
            target.0,
            verdict(&target),
        );
    }

    // 2. Every round trip.
    let _ = writeln!(
        out,
        "\n| round trip, {SIZE} bytes, {placement} | µs (median) | min–max | ÷ raw spin (floor) | ÷ mproc Queue |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|");
    let trips: [(&str, &[f64]); 12] = [
        ("raw spin ping-pong (the floor)", &t.spin),
        (
            "raw spin ping-pong carrying the message (64 bytes on a line of their own, then a flag)",
            &t.spin_message,
        ),
        ("**mproc `Queue<[u8; 64], 64>`** (put/get)", &t.queue),
        ("iceoryx2 pub-sub, polling", &t.iceoryx2),
        ("raw `SOCK_SEQPACKET` pair (send/recv)", &t.seqpacket),
        ("**mproc `Pipe::duplex`** (send_bytes/recv_bytes)", &t.pipe),
        ("raw POSIX mq pair (mq_send/mq_receive)", &t.raw_mq),
        ("**mproc `MessageQueue`** pair (send/receive)", &t.mq),
        ("raw pipe pair (write/read)", &t.raw_pipe),
        ("ipc-channel `bytes_channel` pair", &t.ipc_channel),
        ("Python `Pipe()` (send_bytes/recv_bytes)", &t.py_pipe),
        ("Python `Queue()` pair (put/get)", &t.py_queue),
    ];
    for (name, v) in trips {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            cell(median(v)),
            spread(v),
            ratio(paired_ratio(v, &t.spin)),
            ratio(paired_ratio(v, &t.queue)),
        );
    }

    // 3. One-way throughput.
    let _ = writeln!(
        out,
        "\n| one-way, {SIZE} bytes, {placement} | M messages/s (median) | min–max | mproc Queue ÷ this |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|");
    let streams: [(&str, &[f64]); 9] = [
        ("raw spin ring, 64 slots (the floor)", &s.ring),
        ("**mproc `Queue<[u8; 64], 64>`**", &s.queue),
        ("iceoryx2 pub-sub, buffer 64, polling", &s.iceoryx2),
        ("raw `SOCK_SEQPACKET` pair", &s.seqpacket),
        ("**mproc `Pipe::simplex`**", &s.pipe),
        ("raw POSIX mq, depth 8", &s.raw_mq),
        ("**mproc `MessageQueue`**, depth 8", &s.mq),
        ("ipc-channel `bytes_channel`", &s.ipc_channel),
        ("Python `Queue()`", &s.py_queue),
    ];
    for (name, v) in streams {
        let m: Vec<f64> = v.iter().map(|r| r / 1e6).collect();
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            cell(median(&m)),
            spread(&m),
            ratio(paired_ratio(&s.queue, v)),
        );
    }
}
