//! `Pool.map` over instances of a class of your own (seed 002's shape):
//! each object goes to a worker, which returns a string about it.
//!
//! ```python
//! from multiprocessing import Pool
//! import os
//!
//! class Student:
//!     def __init__(self, name, scores):
//!         self.name = name
//!         self.scores = scores
//!
//! def report(student):
//!     avg = sum(student.scores) / len(student.scores)
//!     return "%s: %.1f (worker %d)" % (student.name, avg, os.getpid())
//!
//! if __name__ == "__main__":
//!     students = [Student("alice", [90, 85, 77]), Student("bob", [60, 72]),
//!                 Student("carol", [88]), Student("dave", [70, 80, 90, 100])]
//!     with Pool(3) as pool:
//!         for line in pool.map(report, students):
//!             print(line)
//! ```
//!
//! The same shape, with the crate's `serde` feature (`cargo run --features
//! serde --example pool_map_objects`): the class is a struct that derives
//! `Serialize` and `Deserialize`, so `map_values` can move it to a worker
//! as Python's pickle does (encoded with postcard into the task's slot),
//! and the `String` it returns comes back the same way. The task is a
//! plain `fn`: the worker is a fork of this program and already has it.

use mproc::pool::Pool;
use mproc::process;
use serde::{Deserialize, Serialize};

/// Python's `Student`: a name and any number of scores.
#[derive(Serialize, Deserialize, Debug)]
struct Student {
    name: String,
    scores: Vec<u32>,
}

impl Student {
    fn new(name: &str, scores: &[u32]) -> Student {
        Student {
            name: name.to_string(),
            scores: scores.to_vec(),
        }
    }
}

/// The task: a line about one student, with the worker's pid.
fn report(student: Student) -> String {
    let avg = student.scores.iter().sum::<u32>() as f64 / student.scores.len().max(1) as f64;
    format!("{}: {avg:.1} (worker {})", student.name, process::getpid())
}

/// Maps the students to their lines with `Pool(3)`.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let students = vec![
        Student::new("alice", &[90, 85, 77]),
        Student::new("bob", &[60, 72]),
        Student::new("carol", &[88]),
        Student::new("dave", &[70, 80, 90, 100]),
    ];
    let pool = Pool::new(3)?;
    let lines = pool.map_values(report, students, None)?;
    for line in &lines {
        println!("{line}");
    }
    let names: Vec<&str> = lines.iter().filter_map(|l| l.split(':').next()).collect();
    if names != ["alice", "bob", "carol", "dave"] || !lines[0].starts_with("alice: 84.0") {
        return Err(format!("unexpected results: {lines:?}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
