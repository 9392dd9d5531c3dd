//! `signal.alarm` then `signal.pause`; a second alarm replaces the first;
//! a sub-second alarm.
//!
//! ```python
//! signal.signal(signal.SIGALRM, handler)
//! print("waiting for the alarm")
//! signal.alarm(1)
//! signal.pause()
//!
//! signal.alarm(5)
//! left = signal.alarm(1)      # 5: the first alarm is replaced
//! signal.pause()              # after 1 s, not 5
//!
//! signal.setitimer(signal.ITIMER_REAL, 0.2)
//! signal.pause()
//! ```

use std::time::{Duration, Instant};

use mproc::signal::{self, SigSet, Signal};

/// Runs the scenario (about 2.2 s).
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let alarmed = signal::flag(Signal::ALRM)?;
    // Block SIGALRM so that it cannot slip in between the check of the flag
    // and the sleep: `pause` on the guard unblocks and sleeps in one step.
    let blocked = SigSet::from(Signal::ALRM).block()?;
    let pause = || {
        let start = Instant::now();
        while !alarmed.take() {
            blocked.pause();
        }
        start.elapsed()
    };

    println!("waiting for the alarm");
    signal::alarm(1);
    println!("alarm(1): SIGALRM after {:.2?}", pause());

    signal::alarm(5);
    let left = signal::alarm(1);
    println!("alarm(5) then alarm(1) returns {left}: the first alarm is replaced");
    println!("SIGALRM after {:.2?}", pause());

    signal::set_alarm(Duration::from_millis(200))?;
    println!("set_alarm(200 ms): SIGALRM after {:.2?}", pause());
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
