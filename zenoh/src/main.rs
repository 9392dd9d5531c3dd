//! `mproc-zenoh`: the gateway as a program of its own, bridging POSIX
//! message queues that local programs made to zenoh key expressions.
//!
//! ```text
//! mproc-zenoh [--config FILE] [--mode peer|client|router] [--listen EP]...
//!             [--connect EP]... [--keep DIR] [--out NAME=/QUEUE:KEY]...
//!             [--in NAME=KEY:/QUEUE[:drop]]...
//! ```
//!
//! `--out` publishes every message of the message queue `/QUEUE` on `KEY`;
//! `--in` puts every item published on `KEY` (wildcards allowed) into
//! `/QUEUE`, waiting up to 100 ms for room, or not waiting with `:drop`;
//! either way an item that found no room is counted (`full`) and left
//! unacknowledged, so its sender sends it again (back-pressure: nothing
//! is lost). Both queues must
//! exist (their programs made them). Without `--listen` it listens on
//! loopback only, on a port the system picks (unless `--config` names
//! endpoints). `--config` reads a zenoh configuration file (JSON5, as
//! `zenohd -c` does): TLS certificates, user/password authentication,
//! anything zenoh takes; `--listen`, `--connect` and `--mode` are added to
//! it. `--keep DIR` keeps each outbound bridge's unacknowledged items in
//! `DIR/NAME.window`, so that the program killed and started again with
//! the same `DIR` sends them again (`Builder::keep_windows`; systemd's
//! `StateDirectory=` is the place for it). `--mode router` with no bridge
//! is a zenoh router for other gateways (`--mode client`).
//!
//! Steered like the mproc daemon kit: `SIGTERM` drains (the outbound
//! bridges publish what their queues hold for up to 5 s) and exits 0,
//! `SIGINT`/`SIGQUIT` stop at once, `SIGUSR1` prints one status line per
//! bridge (its counters) on standard output. It prints
//! `mproc-zenoh: ready` once every bridge runs.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use mproc::ipc::MessageQueue;
use mproc::signal::{SigSet, Signal, SignalFd};
use mproc_zenoh::{Gateway, OnFull};

const USAGE: &str = "usage: mproc-zenoh [--config FILE] [--mode peer|client|router] [--listen EP]... [--connect EP]... \
[--keep DIR] [--out NAME=/QUEUE:KEY]... [--in NAME=KEY:/QUEUE[:drop]]...";

/// How long `SIGTERM` lets the outbound bridges drain.
const DRAIN: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mproc-zenoh: {e}");
            ExitCode::FAILURE
        }
    }
}

fn split2<'a>(s: &'a str, sep: char, what: &str) -> Result<(&'a str, &'a str), String> {
    s.split_once(sep)
        .ok_or_else(|| format!("{what} {s:?}: no {sep:?} in it\n{USAGE}"))
}

fn run() -> Result<(), String> {
    // Before zenoh starts its threads: they inherit the mask, so these
    // signals come only through the descriptor.
    let sigs = SignalFd::new(SigSet::from_signals(&[
        Signal::TERM,
        Signal::INT,
        Signal::QUIT,
        Signal::USR1,
    ]))
    .map_err(|e| e.to_string())?;
    let mut b = Gateway::builder();
    let mut bridges = 0;
    let mut router = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} wants a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--config" => b = b.config_file(value()?).map_err(|e| e.to_string())?,
            "--listen" => b = b.listen(&value()?),
            "--mode" => {
                let mode = value()?;
                router = mode == "router";
                b = b.mode(&mode);
            }
            "--connect" => b = b.connect(&value()?),
            "--keep" => b = b.keep_windows(value()?),
            "--out" => {
                let v = value()?;
                let (name, rest) = split2(&v, '=', "--out")?;
                let (queue, key) = split2(rest, ':', "--out")?;
                let mq = MessageQueue::open(queue).map_err(|e| e.to_string())?;
                b = b.outbound(name, key, mq);
                bridges += 1;
            }
            "--in" => {
                let v = value()?;
                let (name, rest) = split2(&v, '=', "--in")?;
                let (key, rest) = split2(rest, ':', "--in")?;
                let (queue, on_full) = match rest.strip_suffix(":drop") {
                    Some(q) => (q, OnFull::Drop),
                    None => (rest, OnFull::default()),
                };
                let mq = MessageQueue::open(queue).map_err(|e| e.to_string())?;
                b = b.inbound(name, key, mq, on_full);
                bridges += 1;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if bridges == 0 && !router {
        return Err(format!("no bridge given\n{USAGE}"));
    }
    let gw = b.start().map_err(|e| e.to_string())?;
    println!("mproc-zenoh: ready ({bridges} bridges)");
    let _ = std::io::stdout().flush();
    loop {
        let info = sigs.recv().map_err(|e| e.to_string())?;
        match info.signal {
            Signal::USR1 => {
                print!("{}", gw.status());
                let _ = std::io::stdout().flush();
            }
            Signal::TERM => return gw.stop(DRAIN).map_err(|e| e.to_string()),
            _ => return gw.stop(Duration::ZERO).map_err(|e| e.to_string()),
        }
    }
}
