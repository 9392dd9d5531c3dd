//! The inventory's client: an unrelated program that connects to the
//! manager of `examples/manager_server.rs` by its address, opens the dict
//! it published as `"inventory"`, changes it, and tells the server it is
//! done.
//!
//! ```python
//! from multiprocessing.managers import BaseManager, DictProxy
//!
//! class InventoryManager(BaseManager):
//!     pass
//!
//! InventoryManager.register('inventory', proxytype=DictProxy)
//!
//! if __name__ == '__main__':
//!     m = InventoryManager(address=('127.0.0.1', 50000), authkey=b'inventory')
//!     m.connect()
//!     d = m.inventory()
//!     print('inventory:', dict(d))             # {'apples': 3, 'pears': 5, 'plums': 0}
//!     d['apples'] -= 1
//!     d['plums'] = d.get('plums', 0) + 4
//!     d['done'] = 1                            # the server stops waiting
//!     print('now:', dict(d))
//! ```
//!
//! `m.connect()` is [`Manager::connect`]`(address)`, and `m.inventory()`
//! is [`Client::open`](mproc::manager::Client::open) by the name the server
//! published, with the proxy's types: a dict of `FixedStr<16>` keys and
//! `i64` values (the server refuses other types with `LayoutMismatch`).
//! No `authkey`: the server serves processes of its own uid, which the
//! kernel vouches for.
//!
//! Each line is one request; `d['apples'] -= 1` is two (a get and a set),
//! which is fine with one client at a time (several would need a lock, as
//! in `examples/manager_lock.rs`).
//!
//! `cargo run --example manager_client -- [ADDR]`, against
//! `cargo run --example manager_server -- [ADDR]` (both default to the
//! abstract address `@mproc-example-inventory`). The client waits up to
//! five seconds for the server to come up, so the two can be started
//! together.

use std::thread;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::manager::{DictProxy, Manager};
use mproc::shm::FixedStr;

/// Where the server listens unless told otherwise: an abstract socket
/// name (no file).
pub const DEFAULT_ADDR: &str = "@mproc-example-inventory";

/// The name the server publishes the dict under.
pub const NAME: &str = "inventory";

/// A key of the inventory.
pub type Key = FixedStr<16>;

/// The inventory's proxy: `FixedStr<16>` keys, `i64` values.
pub type Inventory = DictProxy<Key, i64>;

/// The key the client sets when it is done.
pub const DONE: &str = "done";

/// How long the client waits for the server by default.
pub const WAIT: Duration = Duration::from_secs(5);

/// A key.
///
/// # Errors
///
/// `CapacityExceeded` past 16 bytes.
pub fn key(name: &str) -> mproc::Result<Key> {
    name.parse()
}

/// `dict(d)` as Python prints it: `{'apples': 3, ...}`.
pub fn show(items: &[(Key, i64)]) -> String {
    let entries: Vec<String> = items.iter().map(|(k, v)| format!("'{k}': {v}")).collect();
    format!("{{{}}}", entries.join(", "))
}

/// Connects to the manager at `addr` and opens the published inventory,
/// retrying for up to `wait` while the server is not up yet or has not
/// published it yet.
///
/// # Errors
///
/// `NotFound` once `wait` has passed; any other error at once.
pub fn open(addr: &str, wait: Duration) -> mproc::Result<Inventory> {
    let deadline = Instant::now() + wait;
    let retry = |e: mproc::Error| {
        if e.kind() == ErrorKind::NotFound && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
            Ok(())
        } else {
            Err(e)
        }
    };
    let m = loop {
        match Manager::connect(addr) {
            Ok(m) => break m,
            Err(e) => retry(e)?, // nobody listens there yet
        }
    };
    loop {
        match m.open::<Inventory>(NAME) {
            Ok(d) => return Ok(d),
            Err(e) => retry(e)?, // not published yet
        }
    }
}

/// The client's visit: prints the inventory, takes an apple, adds four
/// plums, sets `done`. Returns the inventory as it found it.
///
/// # Errors
///
/// As [`open`]; the manager's errors (`ManagerGone` if the server ends).
pub fn visit(addr: &str, wait: Duration) -> mproc::Result<Vec<(Key, i64)>> {
    let d = open(addr, wait)?;
    let found = d.items()?;
    println!("client: inventory: {}", show(&found));
    let (apples, plums) = (key("apples")?, key("plums")?);
    let left = d.get(&apples)?.unwrap_or(0);
    d.set(&apples, &(left - 1))?;
    d.set(&plums, &(d.get(&plums)?.unwrap_or(0) + 4))?;
    d.set(&key(DONE)?, &1)?;
    println!("client: now: {}", show(&d.items()?));
    Ok(found)
}

/// Visits the server at the address given on the command line.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    visit(&addr, WAIT)?;
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
