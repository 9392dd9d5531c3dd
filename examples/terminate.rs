//! `terminate` and `is_alive`, as in Python's documentation.
//!
//! ```python
//! p = Process(target=time.sleep, args=(1000,))
//! p.start(); print(p, p.is_alive())      # True
//! p.terminate(); p.join()
//! print(p, p.is_alive(), p.exitcode)     # False -15
//! ```

use std::time::Duration;

use mproc::process::Process;

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(1000)));
    println!("before start: is_alive = {}", p.is_alive());
    p.start()?;
    println!("{p:?} is_alive = {}", p.is_alive());
    p.terminate()?;
    p.join()?;
    println!(
        "after terminate: is_alive = {}, exitcode = {:?}",
        p.is_alive(),
        p.exitcode()
    );
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
