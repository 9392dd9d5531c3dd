//! Reads the status segment of `examples/daemon/` from an unrelated
//! process and prints it as one line, the same line the daemon writes to
//! its log on `SIGUSR1`:
//!
//! ```text
//! status [--status NAME] [--watch [MS]]
//! pid=4242 state=running workers=2/2 queued=0 done=17 failed=2 forks=3 uptime=41s rss=2316KiB accepted=19 started=19 timeouts=1 waiting=0
//! ```
//!
//! `--watch` prints a line every `MS` milliseconds (default 1000) until the
//! daemon stops. Nothing is asked of the daemon: the segment is a fixed
//! layout of atomics ([`mproc::daemon::Status`]) that it keeps current,
//! and opening it checks its header (magic, version, layout fingerprint)
//! before anything is read. A daemon killed without cleaning up leaves a
//! stale segment, which this reports rather than reads.

#[path = "daemon/main.rs"]
#[allow(dead_code)] // the daemon's own `main`, and what only it uses
pub mod daemon;

use std::time::Duration;

use daemon::{DEFAULT_STATUS, StatusLine};
use mproc::daemon::{State, Status};
use mproc::shm::SharedMemory;
use mproc::{Pid, process};

const USAGE: &str = "usage: status [--status NAME] [--watch [MS]]";

fn main() {
    let mut name = DEFAULT_STATUS.to_string();
    let mut watch: Option<u64> = None;
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--status" => match args.next() {
                Some(n) => name = n,
                None => usage(),
            },
            "--watch" => {
                let ms = args.peek().and_then(|v| v.parse::<u64>().ok());
                if ms.is_some() {
                    args.next();
                }
                watch = Some(ms.unwrap_or(1000).max(10));
            }
            _ => usage(),
        }
    }
    let board = match SharedMemory::<Status>::open(&name) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("status {name}: {e}");
            std::process::exit(1);
        }
    };
    loop {
        let s = board.snapshot();
        println!("{}", StatusLine(s));
        let Some(ms) = watch else { break };
        if s.state == State::Stopped {
            break;
        }
        if Pid::from_raw(s.pid as i32).is_some_and(|p| !process::exists(p).unwrap_or(true)) {
            eprintln!(
                "status {name}: the daemon (pid {}) is gone without cleaning up",
                s.pid
            );
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(ms));
    }
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}
