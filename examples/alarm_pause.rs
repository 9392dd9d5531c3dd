//! `signal.alarm` then `signal.pause`; a second alarm replaces the first;
//! a sub-second alarm.
//!
//! ```python
//! signal.signal(signal.SIGALRM, handler)
//! signal.alarm(1)
//! signal.pause()
//! ```

use std::time::{Duration, Instant};

use mproc::signal::{self, SigSet, Signal};

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let alarmed = signal::flag(Signal::ALRM)?;
    // Block SIGALRM so that it cannot slip in between the check and the
    // sleep; `pause` on the guard unblocks and sleeps in one step.
    let blocked = SigSet::from(Signal::ALRM).block()?;
    let wait = || {
        let start = Instant::now();
        while !alarmed.take() {
            blocked.pause();
        }
        start.elapsed()
    };

    println!("alarm(1), then pause ...");
    signal::alarm(1);
    println!("SIGALRM after {:.2?}", wait());

    signal::alarm(5);
    let left = signal::alarm(1);
    println!("alarm(5) then alarm(1): the first had {left} s left and is replaced");
    println!("SIGALRM after {:.2?}", wait());

    signal::set_alarm(Duration::from_millis(200))?;
    println!("sub-second alarm: SIGALRM after {:.2?}", wait());
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
