//! A manager at a known address, shared by two unrelated programs: this
//! server publishes an inventory dict, and `examples/manager_client.rs`,
//! started on its own, connects by the address, opens the dict by name
//! and changes it.
//!
//! ```python
//! import time
//! from multiprocessing.managers import BaseManager, DictProxy
//!
//! inventory = {'apples': 3, 'pears': 5, 'plums': 0}
//!
//! class InventoryManager(BaseManager):
//!     pass
//!
//! InventoryManager.register('inventory', callable=lambda: inventory, proxytype=DictProxy)
//!
//! if __name__ == '__main__':
//!     m = InventoryManager(address=('127.0.0.1', 50000), authkey=b'inventory')
//!     m.start()
//!     d = m.inventory()
//!     print('serving', dict(d))
//!     deadline = time.monotonic() + 60
//!     while 'done' not in d and time.monotonic() < deadline:
//!         time.sleep(0.05)                     # until a client says it is done
//!     print('final', dict(d))
//!     m.shutdown()
//! ```
//!
//! - `InventoryManager(address=...).start()` is
//!   `Manager::builder().address(addr).start()`: it forks the server,
//!   listening on `addr`, an abstract socket name such as
//!   `@mproc-example-inventory` (no file; a path works too) instead of a
//!   TCP port. Instead of an `authkey`, the server serves processes of its
//!   own uid only (the kernel tells it who connected).
//! - `register('inventory', callable=lambda: inventory)` is a dict made on
//!   the manager and [`publish`](mproc::manager::DictProxy::publish)ed
//!   under `"inventory"`, which the client
//!   [`open`](mproc::manager::Client::open)s. It is filled before it is
//!   published, so a client never sees it half made.
//! - The dict has `FixedStr<16>` keys and `i64` values, and room for 8.
//!
//! `cargo run --example manager_server -- [ADDR [SECONDS]]` serves until a
//! client sets `done` (or `SECONDS`, default 60, pass, or it is killed:
//! the manager's server process dies with it, and an abstract address is
//! free again at once, while a socket file at a path stays behind, as in
//! Python, and must be removed before the next start); then, in another
//! terminal,
//! `cargo run --example manager_client -- [ADDR]`. With no arguments both
//! use `@mproc-example-inventory`. The tour runs the two, the client as a
//! child process that connects by the address alone, and checks what each
//! saw.

#[path = "manager_client.rs"]
#[allow(dead_code)] // the client's own `main` and `run`
pub mod manager_client;

use std::thread;
use std::time::{Duration, Instant};

use manager_client::{DONE, Key, NAME, key, show};
use mproc::manager::Manager;
use mproc::process::{self, Process};

/// What the server holds at first.
pub const STOCK: [(&str, i64); 3] = [("apples", 3), ("pears", 5), ("plums", 0)];

/// The inventory once the client has been: an apple fewer, four plums
/// more, and `done`.
pub const AFTER_CLIENT: [(&str, i64); 4] = [("apples", 2), ("pears", 5), ("plums", 4), (DONE, 1)];

/// How long the standalone server waits for a client by default.
const SERVE_FOR: Duration = Duration::from_secs(60);

/// How long the tour waits for its client.
const TOUR_WAIT: Duration = Duration::from_secs(10);

/// How often the server looks for `done` (Python's `time.sleep(0.05)`).
const POLL: Duration = Duration::from_millis(20);

fn items_of(pairs: &[(&str, i64)]) -> mproc::Result<Vec<(Key, i64)>> {
    pairs.iter().map(|&(k, v)| Ok((key(k)?, v))).collect()
}

/// Starts a manager at `addr`, publishes the inventory, and waits up to
/// `wait` for a client to set `done`; then shuts the manager down.
/// Returns the inventory at the end, and whether a client said it was
/// done.
///
/// # Errors
///
/// `AlreadyExists` when `addr` is taken (another server runs there); the
/// manager's errors.
pub fn serve(addr: &str, wait: Duration) -> mproc::Result<(Vec<(Key, i64)>, bool)> {
    let m = Manager::builder().address(addr).start()?;
    let d = m.dict::<Key, i64>(8)?;
    for (k, v) in items_of(&STOCK)? {
        d.set(&k, &v)?;
    }
    d.publish(NAME)?;
    println!(
        "server: manager at {addr} (pid {}), serving {NAME:?}: {}",
        m.pid().map_or(0, |p| p.as_raw()),
        show(&d.items()?)
    );
    let done = key(DONE)?;
    let deadline = Instant::now() + wait;
    let mut told = d.contains(&done)?;
    while !told && Instant::now() < deadline {
        thread::sleep(POLL);
        told = d.contains(&done)?;
    }
    let last = d.items()?;
    if told {
        println!("server: a client is done; final: {}", show(&last));
    } else {
        println!(
            "server: no client was done within {wait:?}; final: {}",
            show(&last)
        );
    }
    drop(d);
    m.shutdown()?;
    Ok((last, told))
}

/// The server, and a client process that finds it by its address alone
/// (it is forked before the manager starts, so it inherits nothing of
/// it); checks what the client found and what the server ends with.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    // An address of this run's own, so two tours do not collide.
    let addr = format!("{}-{}", manager_client::DEFAULT_ADDR, process::getpid());
    let mut client = Process::new(|| match manager_client::visit(&addr, TOUR_WAIT) {
        Ok(found) if items_of(&STOCK).is_ok_and(|stock| found == stock) => {}
        Ok(found) => {
            eprintln!("client: found {}, not the stock", show(&found));
            process::exit(1);
        }
        Err(e) => {
            eprintln!("client: {e}");
            process::exit(1);
        }
    })
    .with_name("manager_client")?;
    client.start()?;
    let served = serve(&addr, TOUR_WAIT);
    let code = client.join()?;
    let (last, told) = served?;
    if code != 0 {
        return Err(format!("the client exited with {code}").into());
    }
    if !told || last != items_of(&AFTER_CLIENT)? {
        return Err(format!("the server ended with {}", show(&last)).into());
    }
    Ok(())
}

/// `manager_server`: serves at the default address for a minute;
/// `manager_server ADDR [SECONDS]`: at `ADDR`, for `SECONDS`.
#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| manager_client::DEFAULT_ADDR.to_owned());
    let wait = match args.next() {
        Some(s) => Duration::from_secs(s.parse()?),
        None => SERVE_FOR,
    };
    println!("server: try `cargo run --example manager_client -- {addr}`");
    serve(&addr, wait)?;
    Ok(())
}
