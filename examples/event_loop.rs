//! A daemon's main loop: one `wait()` over a results queue, the signals an
//! operator sends (`kill -USR1` for a status line, `kill -TERM` to stop),
//! and the sentinels of its worker processes. No threads, no polling.
//!
//! ```python
//! import multiprocessing as mp, os, signal, socket
//! from multiprocessing.connection import wait
//!
//! def worker(q, first, n):
//!     for i in range(first, first + n):
//!         q.put(i)
//!
//! if __name__ == "__main__":
//!     rsock, wsock = socket.socketpair()
//!     wsock.setblocking(False)
//!     signal.set_wakeup_fd(wsock.fileno())
//!     signal.signal(signal.SIGUSR1, lambda *a: None)
//!     signal.signal(signal.SIGTERM, lambda *a: None)
//!     q = mp.Queue(16)
//!     workers = [mp.Process(target=worker, args=(q, w * 50, 50)) for w in range(2)]
//!     for w in workers: w.start()
//!     mp.Process(target=os.kill, args=(os.getpid(), signal.SIGUSR1)).start()
//!     total = received = 0
//!     while workers or not q.empty():
//!         ready = wait([q._reader, rsock] + [w.sentinel for w in workers])
//!         if q._reader in ready:
//!             while not q.empty():
//!                 total += q.get(); received += 1
//!         if rsock in ready:
//!             for sig in rsock.recv(64):
//!                 if sig == signal.SIGUSR1:
//!                     print("status:", received, "results,", len(workers), "workers")
//!         for w in [w for w in workers if w.sentinel in ready]:
//!             w.join(); workers.remove(w)
//!     print("total", total, "from", received, "results")
//! ```
//!
//! Here the queue takes part through [`Queue::watch`], and the signals
//! through a [`SignalFd`], which blocks them first: make it before any
//! process that might signal exists.
//!
//! [`Queue::watch`]: mproc::ipc::Queue::watch

use std::os::fd::{AsFd as _, BorrowedFd};

use mproc::ipc::{Queue, wait};
use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal, SignalFd};

const WORKERS: u64 = 2;
const PER_WORKER: u64 = 50;

/// Two workers feed the loop; an operator asks for one status line.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let signals = SignalFd::new(SigSet::from(Signal::USR1).with(Signal::TERM))?;
    let results = Queue::<u64, 16>::new()?;
    let watch = results.watch()?;

    let q = &*results;
    let mut workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            Process::new(move || {
                for i in w * PER_WORKER..(w + 1) * PER_WORKER {
                    if q.put(i).is_err() {
                        std::process::exit(1);
                    }
                }
            })
        })
        .collect();
    for w in &mut workers {
        w.start()?;
    }
    // An operator asks for a status line, as `kill -USR1 <pid>` would.
    let daemon = process::getpid();
    let mut operator = Process::new(move || {
        let _ = signal::kill(daemon, Signal::USR1);
    });
    operator.start()?;
    operator.join()?;

    let (mut total, mut received, mut stop) = (0u64, 0u64, false);
    while !stop && (!workers.is_empty() || !results.empty()) {
        let mut ended = Vec::new();
        {
            let mut sources: Vec<BorrowedFd<'_>> = vec![watch.as_fd(), signals.as_fd()];
            for w in &workers {
                sources.push(w.sentinel()?);
            }
            let ready = wait(&sources, None)?;
            if ready.contains(0) {
                while let Ok(v) = results.get_nowait() {
                    total += v;
                    received += 1;
                }
            }
            if ready.contains(1) {
                while let Some(info) = signals.try_recv()? {
                    match info.signal {
                        Signal::USR1 => println!("status: {received} results so far"),
                        _ => stop = true,
                    }
                }
            }
            ended.extend((0..workers.len()).filter(|&i| ready.contains(2 + i)));
        }
        for i in ended.into_iter().rev() {
            let w = workers.remove(i);
            println!("{} ended with {}", w.name(), w.join()?);
        }
    }
    let n = WORKERS * PER_WORKER;
    println!("total {total} from {received} results");
    if total != n * (n - 1) / 2 || received != n {
        return Err(format!("expected {} from {n} results", n * (n - 1) / 2).into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
