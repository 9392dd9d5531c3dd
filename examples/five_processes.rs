//! Five processes started, then joined.
//!
//! ```python
//! from multiprocessing import Process, current_process
//! def work(i):
//!     print(f"{current_process().name} (pid {os.getpid()}) runs task {i}")
//! ps = [Process(target=work, args=(i,)) for i in range(5)]
//! for p in ps: p.start()
//! for p in ps: p.join()
//! ```

use mproc::process::{self, Process};

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut workers: Vec<_> = (0..5)
        .map(|i| {
            Process::new(move || {
                let me = process::current_process();
                println!("{} (pid {}) runs task {i}", me.name, me.pid);
            })
        })
        .collect();
    for p in &mut workers {
        p.start()?;
    }
    for p in &workers {
        let code = p.join()?;
        println!("{} joined, exit code {code}", p.name());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
