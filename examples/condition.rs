//! A `Condition`: two stage-2 processes wait until stage 1 is done and
//! notifies them all.
//!
//! ```python
//! import multiprocessing, time
//!
//! def stage_1(cond):
//!     name = multiprocessing.current_process().name
//!     print('Starting', name)
//!     with cond:
//!         print('{} done and ready for stage 2'.format(name))
//!         cond.notify_all()
//!
//! def stage_2(cond):
//!     name = multiprocessing.current_process().name
//!     print('Starting', name)
//!     with cond:
//!         cond.wait()
//!         print('{} running'.format(name))
//!
//! if __name__ == '__main__':
//!     condition = multiprocessing.Condition()
//!     s1 = multiprocessing.Process(name='s1', target=stage_1, args=(condition,))
//!     s2_clients = [
//!         multiprocessing.Process(name='stage_2[{}]'.format(i), target=stage_2, args=(condition,))
//!         for i in range(1, 3)
//!     ]
//!     for c in s2_clients:
//!         c.start()
//!         time.sleep(1)
//!     s1.start()
//!     s1.join()
//!     for c in s2_clients:
//!         c.join()
//! ```
//!
//! A notification reaches only the processes waiting at that moment: if
//! `s1` ran its `notify_all()` before a stage-2 process reached `wait()`,
//! that process would wait for ever. Python's version counts on its
//! `time.sleep(1)` to get the stage-2 processes waiting first, which a
//! loaded machine does not promise. Here stage 1 also records that it is
//! done, in shared memory and under the condition's lock, and stage 2
//! waits with `wait_for` on that record (Python's
//! `cond.wait_for(lambda: done.value)`): a stage-2 process that comes late
//! finds stage 1 done and does not wait at all; one that comes early waits
//! and is notified. The short sleeps are kept only so the output usually
//! comes in Python's order; nothing depends on them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::shm::Shared;
use mproc::sync::Condition;

/// Python's `time.sleep(1)` between the stage-2 starts, scaled down.
const PAUSE: Duration = Duration::from_millis(20);
/// How long the parent waits for a process before it gives up on it.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the processes share: the condition, and the state it is about.
struct Stages {
    cond: Shared<Condition>,
    /// 1 once stage 1 is done. Changed only under `cond`'s lock.
    stage_1_done: Shared<AtomicU32>,
    /// Stage-2 processes that ran.
    stage_2_ran: Shared<AtomicU32>,
}

fn stage_1(s: &Stages) {
    let name = process::current_process().name;
    println!("Starting {name}");
    let with_cond = s.cond.acquire().unwrap_or_else(|died| died.into_guard());
    s.stage_1_done.store(1, Ordering::Relaxed);
    println!("{name} done and ready for stage 2");
    let woken = with_cond.notify_all();
    println!("{name} notified {woken} waiting");
}

fn stage_2(s: &Stages) {
    let name = process::current_process().name;
    println!("Starting {name}");
    let with_cond = s.cond.acquire().unwrap_or_else(|died| died.into_guard());
    let (_with_cond, done) = with_cond
        .wait_for(|| s.stage_1_done.load(Ordering::Relaxed) == 1, None)
        .unwrap_or_else(|died| died.into_guard());
    if done {
        s.stage_2_ran.fetch_add(1, Ordering::Relaxed);
        println!("{name} running");
    }
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let s = Stages {
        cond: Shared::new(Condition::new())?,
        stage_1_done: Shared::new(AtomicU32::new(0))?,
        stage_2_ran: Shared::new(AtomicU32::new(0))?,
    };
    let mut s1 = Process::new(|| stage_1(&s)).with_name("s1")?;
    let mut s2_clients = (1..=2)
        .map(|i| Process::new(|| stage_2(&s)).with_name(&format!("stage_2[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;

    // Join every process that started, even when a later start failed.
    let started: mproc::Result<()> = s2_clients.iter_mut().try_for_each(|c| {
        c.start()?;
        std::thread::sleep(PAUSE);
        Ok(())
    });
    let started = started.and_then(|()| s1.start());
    if s1.pid().is_none() {
        // s1 did not start: do its part, or the stage-2 processes would
        // wait for it for ever.
        stage_1(&s);
    }
    let mut joined = Vec::new();
    if s1.pid().is_some() {
        joined.push(join(&s1));
    }
    joined.extend(s2_clients.iter().filter(|c| c.pid().is_some()).map(join));
    started?;
    let codes = joined.into_iter().collect::<Result<Vec<i32>, _>>()?;

    let ran = s.stage_2_ran.load(Ordering::Relaxed);
    println!(
        "s1 and {} stage-2 processes joined: {ran} ran",
        s2_clients.len()
    );
    if codes.iter().any(|&code| code != 0) || ran != 2 {
        return Err(format!("exit codes {codes:?}; {ran} of 2 stage-2 processes ran").into());
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
