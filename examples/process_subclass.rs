//! A subclass of `Process` that overrides `run()`: three started as
//! children, one run in the current process.
//!
//! ```python
//! import os
//! from multiprocessing import Process
//!
//! class Counter(Process):
//!     def __init__(self, n):
//!         super().__init__()
//!         self.n = n
//!
//!     def run(self):
//!         total = sum(range(self.n + 1))
//!         print(f"{self.name} (pid {os.getpid()}) counts to {self.n}: {total}")
//!
//! if __name__ == "__main__":
//!     ps = [Counter(n) for n in (10, 100, 1000)]
//!     for p in ps:
//!         p.start()
//!     for p in ps:
//!         p.join()
//!         print(p.name, "exitcode", p.exitcode)
//!     Counter(5).run()        # no start(): runs here, in this process
//! ```
//!
//! The subclass is a struct that implements [`Run`]; `Process::from_run`
//! makes it a [`Process`] (Python's instance of the subclass), and
//! calling `run` on the struct runs it here, as `p.run()` does in Python.
//! `self.name` inside `run` is [`process::current_process`]'s name.

use mproc::process::{self, Process, Run};

/// Python's `class Counter(Process)`: its fields are the subclass's
/// attributes.
struct Counter {
    n: u64,
    /// What the last `run` computed (in the process that ran it).
    total: u64,
}

impl Counter {
    /// Python's `Counter(n)`.
    fn new(n: u64) -> Counter {
        Counter { n, total: 0 }
    }
}

impl Run for Counter {
    fn run(&mut self) {
        self.total = (0..=self.n).sum();
        let me = process::current_process();
        println!(
            "{} (pid {}) counts to {}: {}",
            me.name, me.pid, self.n, self.total
        );
    }
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut children: Vec<_> = [10, 100, 1000]
        .into_iter()
        .map(|n| Process::from_run(Counter::new(n)))
        .collect();
    for p in &mut children {
        p.start()?;
    }
    for p in &children {
        let code = p.join()?;
        println!("{} exitcode {code}", p.name());
        if code != 0 {
            return Err(format!("{} exited with {code}", p.name()).into());
        }
    }
    // Python's `Counter(5).run()`: here, with this process's name.
    let mut here = Counter::new(5);
    here.run();
    if here.total != 15 {
        return Err(format!("run() here computed {}", here.total).into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
