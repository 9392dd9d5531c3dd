//! Five processes, each writing a file of 100 lines.
//!
//! ```python
//! def write(i):
//!     with open(f"out-{i}.txt", "w") as f:
//!         for line in range(100):
//!             f.write(f"process {i} line {line}\n")
//! ps = [Process(target=write, args=(i,)) for i in range(5)]
//! for p in ps: p.start()
//! for p in ps: p.join()
//! ```

use std::io::Write as _;

use mproc::process::{self, Process};

/// Runs the scenario in a fresh temporary directory, removed at the end.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("mproc-write-files-{}", process::getpid()));
    std::fs::create_dir(&dir)?;
    let result = write_and_check(&dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn write_and_check(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut writers: Vec<_> = (0..5)
        .map(|i| {
            let path = dir.join(format!("out-{i}.txt"));
            Process::new(move || {
                let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
                for line in 0..100 {
                    writeln!(file, "process {i} line {line}").unwrap();
                }
                file.flush().unwrap();
            })
        })
        .collect();
    for p in &mut writers {
        p.start()?;
    }
    for p in &writers {
        if p.join()? != 0 {
            return Err(format!("{} failed", p.name()).into());
        }
    }
    for i in 0..5 {
        let text = std::fs::read_to_string(dir.join(format!("out-{i}.txt")))?;
        let lines = text.lines().count();
        println!(
            "out-{i}.txt: {lines} lines, first: {:?}",
            text.lines().next().unwrap_or("")
        );
        if lines != 100 {
            return Err(format!("out-{i}.txt has {lines} lines").into());
        }
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
