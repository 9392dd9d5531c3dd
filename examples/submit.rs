//! Sends jobs to `examples/daemon/` through its POSIX message queue:
//!
//! ```text
//! submit [--queue NAME] [--count N] [--id FIRST] [--priority P] KIND [ARG]
//! submit checksum /etc/hosts        # CRC-32 and length of a file
//! submit --count 100 sleep 50       # 100 jobs of 50 ms each
//! submit fail | crash | overrun     # an error, a worker's SIGKILL, a timeout
//! ```
//!
//! Each job is one 256-byte message (the layout is in the daemon's docs).
//! Ids run from `--id` (by default this process's pid times 1,000,000, so
//! that two submitters do not collide) and appear in the daemon's log as
//! `job <id> done …` or `job <id> failed …`. A relative path is made
//! absolute here: the daemon does not share our working directory.
//!
//! While the queue is full (the daemon's backlog is full too) this waits,
//! as `mq_send` does; if the daemon stops taking jobs meanwhile (`TERM`
//! removes the queue's name), it says how many jobs were not sent and
//! exits with 1.

#[path = "daemon/main.rs"]
#[allow(dead_code)] // the daemon's own `main`, and what only it uses
pub mod daemon;

use std::path::PathBuf;
use std::time::Duration;

use daemon::{DEFAULT_QUEUE, Job, Kind};
use mproc::ErrorKind;
use mproc::ipc::MessageQueue;
use mproc::process;

const USAGE: &str = "usage: submit [--queue NAME] [--count N] [--id FIRST] [--priority P] \
checksum FILE | sleep MS | fail | crash | overrun";

struct Args {
    queue: String,
    count: u64,
    first: u64,
    priority: u32,
    job: Job,
}

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut queue = DEFAULT_QUEUE.to_string();
    let mut count = 1u64;
    let mut first = u64::from(process::getpid().as_raw() as u32) * 1_000_000;
    let mut priority = 0u32;
    let number = |flag: &str, v: Option<String>| {
        v.as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("{flag} takes a number\n{USAGE}"))
    };
    let kind = loop {
        let Some(arg) = args.next() else {
            return Err(USAGE.into());
        };
        match arg.as_str() {
            "--queue" => queue = args.next().ok_or(USAGE)?,
            "--count" => count = number("--count", args.next())?,
            "--id" => first = number("--id", args.next())?,
            "--priority" => {
                priority = u32::try_from(number("--priority", args.next())?)
                    .map_err(|_| "--priority is 0 to 32767")?;
            }
            "--help" | "-h" => return Err(USAGE.into()),
            name => break Kind::from_name(name).ok_or(format!("unknown kind {name}\n{USAGE}"))?,
        }
    };
    let job = match kind {
        Kind::Checksum => {
            let path = PathBuf::from(args.next().ok_or("checksum needs a FILE")?);
            let path =
                std::path::absolute(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Job::checksum(0, &path).ok_or("the path is longer than 232 bytes")?
        }
        Kind::Sleep => Job::sleep(0, number("sleep", args.next())?),
        k => Job::new(0, k),
    };
    if let Some(extra) = args.next() {
        return Err(format!("unexpected {extra}\n{USAGE}"));
    }
    Ok(Args {
        queue,
        count,
        first,
        priority,
        job,
    })
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let queue = match MessageQueue::open(&args.queue) {
        Ok(q) => q,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            eprintln!(
                "submit: no queue {}: the daemon is not running (or is draining)",
                args.queue
            );
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("submit: {e}");
            std::process::exit(1);
        }
    };
    let mut sent = 0u64;
    let mut job = args.job;
    while sent < args.count {
        job.id = args.first + sent;
        match queue.send_timeout(&job.encode(), args.priority, Duration::from_millis(200)) {
            Ok(()) => sent += 1,
            Err(e) if e.kind() == ErrorKind::Full => {
                // Full: the daemon is busy, or gone. Its name tells.
                if MessageQueue::open(&args.queue).is_err_and(|e| e.kind() == ErrorKind::NotFound) {
                    eprintln!(
                        "submit: the daemon stopped taking jobs (its queue {} is gone); \
                         {} of {} jobs not sent",
                        args.queue,
                        args.count - sent,
                        args.count
                    );
                    std::process::exit(1);
                }
            }
            Err(e) => {
                eprintln!(
                    "submit: {e}; {} of {} jobs not sent",
                    args.count - sent,
                    args.count
                );
                std::process::exit(1);
            }
        }
    }
    if sent == 1 {
        println!("sent job {} ({}) to {}", args.first, args.job, args.queue);
    } else {
        println!(
            "sent {sent} jobs ({}) to {}: ids {}..={}",
            args.job,
            args.queue,
            args.first,
            args.first + sent.saturating_sub(1)
        );
    }
}
