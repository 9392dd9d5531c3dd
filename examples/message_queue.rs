//! A POSIX message queue between a producer and a consumer, with
//! priorities: urgent jobs overtake routine ones.
//!
//! Python has no POSIX queues in its standard library; with the
//! `posix_ipc` package the same program reads:
//!
//! ```python
//! import posix_ipc, multiprocessing
//!
//! def producer():
//!     q = posix_ipc.MessageQueue("/jobs")
//!     for i in range(6):
//!         urgent = i % 3 == 2
//!         q.send(("urgent %d" if urgent else "routine %d") % i, priority=9 if urgent else 1)
//!     q.send("", priority=0)                       # done, after everything else
//!
//! def consumer():
//!     q = posix_ipc.MessageQueue("/jobs")
//!     while True:
//!         msg, prio = q.receive()
//!         if not msg:
//!             break
//!         print("got", msg.decode(), "priority", prio)
//!
//! q = posix_ipc.MessageQueue("/jobs", posix_ipc.O_CREX, max_messages=8, max_message_size=32)
//! p = multiprocessing.Process(target=producer); p.start(); p.join()
//! c = multiprocessing.Process(target=consumer); c.start(); c.join()
//! q.unlink()
//! ```
//!
//! The producer fills the queue before the consumer starts, so the order
//! the consumer sees is the kernel's: by priority, then first in first out.

use mproc::ipc::MessageQueue;
use mproc::process::{self, Process};

const JOBS: usize = 6;

fn producer(name: &str) -> mproc::Result<()> {
    let q = MessageQueue::open(name)?;
    for i in 0..JOBS {
        let urgent = i % 3 == 2;
        let msg = if urgent {
            format!("urgent {i}")
        } else {
            format!("routine {i}")
        };
        q.send(msg.as_bytes(), if urgent { 9 } else { 1 })?;
    }
    q.send(b"\0", 0) // done, after everything else
}

fn consumer(
    name: &str,
    order: &mproc::shm::Shared<[std::sync::atomic::AtomicU32; JOBS]>,
) -> mproc::Result<()> {
    let q = MessageQueue::open(name)?;
    let mut buf = [0u8; 32];
    for slot in order.iter() {
        let (n, prio) = q.receive(&mut buf)?;
        let msg = std::str::from_utf8(&buf[..n]).unwrap_or("?");
        println!("got {msg:<10} priority {prio}");
        let job: u32 = msg
            .rsplit(' ')
            .next()
            .and_then(|d| d.parse().ok())
            .unwrap_or(99);
        slot.store(job, std::sync::atomic::Ordering::Relaxed);
    }
    let (n, prio) = q.receive(&mut buf)?;
    println!("got the end marker ({n} byte, priority {prio})");
    Ok(())
}

/// The queue's name in the process `pid` that runs the example (the
/// tour removes it after a scenario killed before it could).
pub fn queue_name(pid: process::Pid) -> String {
    format!("/mproc-example-jobs-{pid}")
}

/// Runs producer then consumer; checks the order: urgent jobs (2, 5) first.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let name = queue_name(process::getpid());
    let q = MessageQueue::create(&name, 8, 32)?;
    let order = mproc::shm::Shared::new([const { std::sync::atomic::AtomicU32::new(0) }; JOBS])?;
    let status = |r: mproc::Result<()>| match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    };
    let mut p = Process::new(|| process::exit(status(producer(&name))));
    p.start()?;
    let code = p.join()?;
    println!(
        "producer exited with {code}; {} messages queued",
        q.attributes()?.current
    );
    let mut c = Process::new(|| process::exit(status(consumer(&name, &order))));
    c.start()?;
    let code = c.join()?;
    if code != 0 {
        return Err(format!("the consumer exited with {code}").into());
    }
    let seen: Vec<u32> = order
        .iter()
        .map(|j| j.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    if seen != [2, 5, 0, 1, 3, 4] {
        return Err(format!("jobs arrived as {seen:?}, not urgent first then in order").into());
    }
    drop(q); // the creator's drop unlinks the name
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
