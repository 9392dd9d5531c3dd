//! Ticket grabbing: a hundred buyers, three tickets in a file — oversold
//! without a lock, sold exactly with one.
//!
//! ```python
//! import json, os, sys, time
//! from multiprocessing import Process, Lock
//!
//! def buy():
//!     with open("ticket.json") as f:
//!         count = json.load(f)["count"]
//!     time.sleep(0.004)                        # the network, the payment
//!     if count > 0:
//!         with open("ticket.json", "w") as f:
//!             json.dump({"count": count - 1}, f)
//!         print(f"pid {os.getpid()} bought a ticket")
//!         sys.exit(0)
//!     sys.exit(1)
//!
//! def buy_locked(lock):
//!     with lock:
//!         buy()
//!
//! def sell(target, args=()):
//!     with open("ticket.json", "w") as f:
//!         json.dump({"count": 3}, f)
//!     ps = [Process(target=target, args=args) for i in range(100)]
//!     for p in ps: p.start()
//!     for p in ps: p.join()
//!     return sum(p.exitcode == 0 for p in ps)
//!
//! print(sell(buy), "bought")                   # often more than 3
//! print(sell(buy_locked, (Lock(),)), "bought") # exactly 3
//! ```
//!
//! Python's `sys.exit` inside `with lock:` unwinds and releases the lock;
//! `process::exit` ends the process at once, so the buyer leaves the
//! guard's scope first and exits after.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::shm::Shared;
use mproc::sync::Lock;

const TICKETS: u32 = 3;
const BUYERS: usize = 100;
/// Between reading the count and writing it back.
const PAYMENT: Duration = Duration::from_millis(4);

/// Exit codes of a buyer.
const BOUGHT: i32 = 0;
const SOLD_OUT: i32 = 1;
const BAD_FILE: i32 = 2;

/// Runs the scenario in a fresh temporary directory, removed at the end.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("mproc-tickets-{}", process::getpid()));
    std::fs::create_dir(&dir)?;
    let result = without_and_with_lock(&dir.join("ticket.json"));
    std::fs::remove_dir_all(&dir)?;
    result
}

fn without_and_with_lock(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("without a lock: {BUYERS} buyers, {TICKETS} tickets");
    let sale = sell(path, None)?;
    let left = read_count(path).map_or_else(|_| "?".to_string(), |n| n.to_string());
    println!(
        "without a lock: {} believe they bought, {} found none, \
         {} read the file mid-write; {left} left",
        sale.bought, sale.sold_out, sale.bad_file
    );

    println!("with a lock: {BUYERS} buyers, {TICKETS} tickets");
    let lock = Shared::new(Lock::new())?;
    let sale = sell(path, Some(&lock))?;
    let left = read_count(path)?;
    println!(
        "with a lock: {} bought a ticket, {} found none; {left} left",
        sale.bought, sale.sold_out
    );
    if sale.bought != TICKETS as usize || sale.bad_file != 0 || left != 0 {
        return Err(format!(
            "with a lock: {} bought, {} read a bad file, {left} left",
            sale.bought, sale.bad_file
        )
        .into());
    }
    Ok(())
}

/// How the buyers of one sale ended.
struct Sale {
    bought: usize,
    sold_out: usize,
    bad_file: usize,
}

/// Puts `TICKETS` on sale and lets `BUYERS` processes at them, all at once.
fn sell(path: &Path, lock: Option<&Lock>) -> Result<Sale, Box<dyn std::error::Error>> {
    write_count(path, TICKETS)?;
    let mut buyers: Vec<_> = (0..BUYERS)
        .map(|_| {
            Process::new(move || {
                let code = match lock {
                    Some(lock) => {
                        let _held = lock.lock().unwrap_or_else(|died| died.into_guard());
                        buy(path)
                    } // released here, before the exit
                    None => buy(path),
                };
                process::exit(code);
            })
        })
        .collect();
    // Join every buyer that started, even when a later start failed.
    let started = buyers.iter_mut().try_for_each(Process::start);
    let joined: Vec<_> = buyers
        .iter()
        .filter(|p| p.pid().is_some())
        .map(Process::join)
        .collect();
    started?;
    let codes = joined.into_iter().collect::<Result<Vec<i32>, _>>()?;
    let count = |code| codes.iter().filter(|&&c| c == code).count();
    let sale = Sale {
        bought: count(BOUGHT),
        sold_out: count(SOLD_OUT),
        bad_file: count(BAD_FILE),
    };
    if sale.bought + sale.sold_out + sale.bad_file != BUYERS {
        return Err(format!("buyers exited with {codes:?}").into());
    }
    Ok(sale)
}

/// One buyer: read the count, pay, write the count less one back. A file
/// caught between another buyer's truncation and its write reads empty:
/// the buyer gives up quietly (Python's would die of a `JSONDecodeError`)
/// and the parent counts it.
fn buy(path: &Path) -> i32 {
    let Ok(count) = read_count(path) else {
        return BAD_FILE;
    };
    std::thread::sleep(PAYMENT);
    if count == 0 {
        return SOLD_OUT;
    }
    if write_count(path, count - 1).is_err() {
        return BAD_FILE;
    }
    let _ = writeln!(
        std::io::stdout(),
        "pid {} bought a ticket",
        process::getpid()
    );
    BOUGHT
}

/// `json.load(f)["count"]` for a file holding `{"count": N}`.
fn read_count(path: &Path) -> Result<u32, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.trim()
        .strip_prefix("{\"count\":")
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("{}: not a ticket count: {text:?}", path.display()))
}

/// `json.dump({"count": n}, f)`.
fn write_count(path: &Path, n: u32) -> std::io::Result<()> {
    std::fs::write(path, format!("{{\"count\": {n}}}"))
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
