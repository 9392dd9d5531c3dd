//! An `Event`: one process waits for it without a limit, the other with a
//! timeout; the second, seeing it still clear, sets it and frees the first.
//!
//! ```python
//! import multiprocessing, time
//!
//! def wait_for_event(e):
//!     print("wait_for_event: starting")
//!     e.wait()
//!     print("wait_for_event: e.is_set()->" + str(e.is_set()))
//!
//! def wait_for_event_timeout(e, t):
//!     print("wait_for_event_timeout: starting")
//!     e.wait(t)
//!     print("wait_for_event_timeout: e.is_set()->" + str(e.is_set()))
//!     e.set()
//!
//! if __name__ == "__main__":
//!     e = multiprocessing.Event()
//!     w1 = multiprocessing.Process(name="block", target=wait_for_event, args=(e,))
//!     w2 = multiprocessing.Process(name="non-block", target=wait_for_event_timeout, args=(e, 2))
//!     w1.start(); w2.start()
//!     time.sleep(3)
//!     print("main: event is set")
//! ```
//!
//! The timeout is 200 ms, not 2 s. Instead of sleeping for longer than it,
//! the parent joins both waiters; each exits with what it saw (`SAW_SET`
//! or `SAW_CLEAR`), and the parent checks that the blocking one saw the
//! event set and the timed one saw it clear after its whole timeout.

use std::time::{Duration, Instant};

use mproc::process::{self, Process};
use mproc::shm::Shared;
use mproc::sync::Event;

/// `e.wait(t)`: Python's 2 s, scaled down.
const TIMEOUT: Duration = Duration::from_millis(200);
/// How long the parent waits for a waiter before it gives up on it.
const PATIENCE: Duration = Duration::from_secs(10);

/// Exit codes of a waiter: what `e.is_set()` said after its wait.
const SAW_SET: i32 = 10;
const SAW_CLEAR: i32 = 11;
/// The timed waiter found the event clear before its timeout had passed.
const WOKE_EARLY: i32 = 12;

fn seen(is_set: bool) -> i32 {
    if is_set { SAW_SET } else { SAW_CLEAR }
}

fn wait_for_event(e: &Event) -> i32 {
    println!("wait_for_event: starting");
    e.wait();
    let is_set = e.is_set();
    println!("wait_for_event: e.is_set()->{is_set}");
    seen(is_set)
}

fn wait_for_event_timeout(e: &Event, t: Duration) -> i32 {
    println!("wait_for_event_timeout: starting");
    let begun = Instant::now();
    e.wait_timeout(t);
    let waited = begun.elapsed();
    let is_set = e.is_set();
    println!("wait_for_event_timeout: e.is_set()->{is_set} after {waited:.0?}");
    e.set();
    if !is_set && waited < t {
        return WOKE_EARLY;
    }
    seen(is_set)
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let e = Shared::new(Event::new())?;
    let mut w1 = Process::new(|| process::exit(wait_for_event(&e))).with_name("block")?;
    let mut w2 = Process::new(|| process::exit(wait_for_event_timeout(&e, TIMEOUT)))
        .with_name("non-block")?;
    w1.start()?;
    if let Err(err) = w2.start() {
        e.set(); // nobody else will: free the blocking waiter
        w1.join()?;
        return Err(err.into());
    }

    // Python sleeps past the timeout; joining is enough, in this order:
    // non-block sets the event, which ends block.
    let non_block = join(&w2);
    if non_block.is_err() {
        e.set(); // nobody else will: free the blocking waiter
    }
    let block = join(&w1)?;
    let non_block = non_block?;
    println!("main: event is set: {}", e.is_set());

    let said = |code| match code {
        SAW_SET => "saw it set".to_string(),
        SAW_CLEAR => format!("saw it clear after {TIMEOUT:?}"),
        WOKE_EARLY => format!("saw it clear before {TIMEOUT:?} had passed"),
        other => format!("exited with {other}"),
    };
    println!("block {}; non-block {}", said(block), said(non_block));
    if block != SAW_SET || non_block != SAW_CLEAR {
        return Err(format!(
            "block {}, non-block {}: expected set, and clear after {TIMEOUT:?}",
            said(block),
            said(non_block)
        )
        .into());
    }
    Ok(())
}

/// `p.join()`, killing `p` if it still runs after `PATIENCE`.
fn join<F>(p: &Process<F>) -> Result<i32, Box<dyn std::error::Error>> {
    match p.join_timeout(PATIENCE)? {
        Some(code) => Ok(code),
        None => {
            p.kill()?;
            p.join()?;
            Err(format!("{} still waits after {PATIENCE:?}", p.name()).into())
        }
    }
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
