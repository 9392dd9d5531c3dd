//! The Consumer/Task worker pattern: consumers take `Task`s from a
//! `JoinableQueue`, put their answers on a result `Queue`, and stop at a
//! poison pill; the main process joins the task queue, then collects.
//!
//! ```python
//! import multiprocessing
//!
//! class Consumer(multiprocessing.Process):
//!     def __init__(self, task_queue, result_queue):
//!         multiprocessing.Process.__init__(self)
//!         self.task_queue, self.result_queue = task_queue, result_queue
//!     def run(self):
//!         while True:
//!             next_task = self.task_queue.get()
//!             if next_task is None:           # poison pill
//!                 self.task_queue.task_done()
//!                 break
//!             answer = next_task()
//!             self.task_queue.task_done()
//!             self.result_queue.put(answer)
//!
//! class Task:
//!     def __init__(self, a, b): self.a, self.b = a, b
//!     def __call__(self): return "%s * %s = %s" % (self.a, self.b, self.a * self.b)
//!
//! if __name__ == "__main__":
//!     tasks, results = multiprocessing.JoinableQueue(), multiprocessing.Queue()
//!     consumers = [Consumer(tasks, results) for _ in range(multiprocessing.cpu_count() * 2)]
//!     for w in consumers: w.start()
//!     for i in range(10): tasks.put(Task(i, i))
//!     for _ in consumers: tasks.put(None)
//!     tasks.join()
//!     for _ in range(10): print("Result:", results.get())
//! ```
//!
//! A `Task` crosses processes as it is, so it is a `#[repr(C)]` struct of
//! fixed-width fields that derives [`Shareable`] (which checks, when the
//! program is built, that every field is shareable and nothing is padding);
//! `None` is a task with `stop` set.

use mproc::ipc::{JoinableQueue, Queue};
use mproc::process::{self, Process};
use mproc::shm::{FixedStr, Shareable};

#[repr(C)]
#[derive(Shareable, Clone, Copy)]
struct Task {
    a: u64,
    b: u64,
    /// Nonzero: the poison pill (a `u64`: a `u32` would leave 4 bytes of
    /// padding, which the derive refuses).
    stop: u64,
}

impl Task {
    const NONE: Task = Task {
        a: 0,
        b: 0,
        stop: 1,
    };

    fn call(self) -> Answer {
        format!("{} * {} = {}", self.a, self.b, self.a * self.b)
            .parse()
            .unwrap_or_default()
    }
}

type Answer = FixedStr<40>;
const JOBS: u64 = 10;

fn consumer(tasks: &JoinableQueue<Task, 8>, results: &Queue<Answer, 16>) -> mproc::Result<()> {
    loop {
        let task = tasks.get()?;
        if task.stop != 0 {
            return tasks.task_done();
        }
        let answer = task.call();
        tasks.task_done()?;
        results.put(answer)?;
    }
}

/// `cpu_count() * 2` consumers work through 10 tasks.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let tasks = JoinableQueue::<Task, 8>::new()?;
    let results = Queue::<Answer, 16>::new()?;
    let (t, r) = (&*tasks, &*results);
    let n = process::cpu_count()? * 2;
    let mut consumers: Vec<_> = (0..n)
        .map(|_| Process::new(move || process::exit(i32::from(consumer(t, r).is_err()))))
        .collect();
    for c in &mut consumers {
        c.start()?;
    }
    for i in 0..JOBS {
        tasks.put(Task {
            a: i,
            b: i,
            stop: 0,
        })?;
    }
    for _ in 0..n {
        tasks.put(Task::NONE)?;
    }
    tasks.join();
    let mut seen = Vec::new();
    for _ in 0..JOBS {
        let answer = results.get()?;
        println!("Result: {answer}");
        seen.push(answer.as_str().to_owned());
    }
    for c in &mut consumers {
        if c.join()? != 0 {
            return Err(format!("{} failed", c.name()).into());
        }
    }
    seen.sort();
    let mut expected: Vec<String> = (0..JOBS)
        .map(|i| format!("{i} * {i} = {}", i * i))
        .collect();
    expected.sort();
    if seen != expected {
        return Err(format!("results {seen:?}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
