//! Seed 001's gevent shape, `spawn`, `joinall` and `sleep`, as async
//! tasks on a tokio current-thread runtime: ten tasks that each sleep a
//! random few milliseconds run together on one thread, and finish in
//! the order their sleeps end, not the order they were spawned
//! (gevent's tutorial, "Synchronous & Asynchronous Execution"):
//!
//! ```python
//! import gevent
//! import random
//!
//! def task(pid):
//!     """
//!     Some non-deterministic task
//!     """
//!     gevent.sleep(random.randint(0,2)*0.001)
//!     print('Task %s done' % pid)
//!
//! def synchronous():
//!     for i in range(1,10):
//!         task(i)
//!
//! def asynchronous():
//!     threads = [gevent.spawn(task, i) for i in range(10)]
//!     gevent.joinall(threads)
//!
//! print('Synchronous:')
//! synchronous()
//!
//! print('Asynchronous:')
//! asynchronous()
//! ```
//!
//! `gevent.spawn` is `tokio::task::spawn_local` (a task on this thread;
//! it need not be `Send`, as a greenlet need not be), `gevent.joinall`
//! awaits every handle, `gevent.sleep` is `tokio::time::sleep`. As in
//! an async worker of `mproc::server`, the runtime is built in a forked
//! [`Process`], after the fork: the crate forks only a single-threaded
//! process, and the current-thread runtime starts no thread (the child
//! prints its `Threads:` count from `/proc/self/status`: 1).
//!
//! ```text
//! cargo run --features tokio --example gevent_tasks
//! ```

use std::time::Duration;

use mproc::process::Process;

/// Python's `task(pid)`: sleeps 0, 1 or 2 ms, then says it is done.
async fn task(pid: u32) {
    tokio::time::sleep(Duration::from_millis(random_ms(pid))).await;
    println!("Task {pid} done");
}

/// `random.randint(0, 2)`, from the clock and the task's number (no
/// crate for randomness needed in an example).
fn random_ms(pid: u32) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(
        nanos
            .wrapping_mul(2_654_435_761)
            .wrapping_add(pid.wrapping_mul(40_503))
            >> 7,
    ) % 3
}

/// Python's `synchronous()`: one task after the other.
async fn synchronous() {
    for i in 1..10 {
        task(i).await;
    }
}

/// Python's `asynchronous()`: ten tasks spawned, then joined.
async fn asynchronous() {
    let threads: Vec<_> = (0..10).map(|i| tokio::task::spawn_local(task(i))).collect();
    // gevent.joinall(threads)
    for t in threads {
        let _ = t.await;
    }
}

/// The threads of this process, from `/proc/self/status`.
fn threads() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map_or_else(|| "?".to_owned(), |n| n.trim().to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Fork first, then build the runtime in the child.
    let mut child = Process::new(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            println!("Synchronous:");
            synchronous().await;
            println!("Asynchronous:");
            asynchronous().await;
        });
        println!("Threads: {}", threads());
    });
    child.start()?;
    let code = child.join()?;
    std::process::exit(code);
}
