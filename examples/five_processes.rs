//! Five processes started, then joined.
//!
//! ```python
//! from multiprocessing import Process, current_process
//! def work(i):
//!     print(f"{current_process().name} (pid {os.getpid()}) runs task {i}")
//!     time.sleep(0.01 * i)
//! ps = [Process(target=work, args=(i,)) for i in range(5)]
//! for p in ps: p.start()
//! for p in ps: p.join(); print(p.name, p.exitcode)
//! ```

use std::time::Duration;

use mproc::process::{self, Process};

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut workers: Vec<_> = (0..5u32)
        .map(|i| {
            Process::new(move || {
                let me = process::current_process();
                println!("{} (pid {}) runs task {i}", me.name, me.pid);
                std::thread::sleep(Duration::from_millis(10) * i);
            })
        })
        .collect();
    for p in &mut workers {
        p.start()?;
    }
    for p in &workers {
        let code = p.join()?;
        println!("{} joined, exitcode {code}", p.name());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
