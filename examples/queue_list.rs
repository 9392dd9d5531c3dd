//! A writer process puts lists of strings on a `Queue`, a reader process
//! gets them (feature `serde`): the seeds' writer/reader with a list for a
//! value.
//!
//! ```python
//! from multiprocessing import Process, Queue
//! import os
//!
//! def write(q):
//!     print('Process to write: %s' % os.getpid())
//!     for value in [['A', 'B', 'C'], ['a list', 'of any length'], []]:
//!         print('Put %s to queue...' % value)
//!         q.put(value)
//!
//! def read(q):
//!     print('Process to read: %s' % os.getpid())
//!     while True:
//!         value = q.get(True)
//!         print('Get %s from queue.' % value)
//!
//! if __name__ == '__main__':
//!     q = Queue()
//!     pw = Process(target=write, args=(q,))
//!     pr = Process(target=read, args=(q,))
//!     pw.start(); pr.start()
//!     pw.join()
//!     pr.terminate()          # the reader loops for ever
//! ```
//!
//! `ValueQueue::new()` is Python's `Queue()`: any serde value, each one
//! costing its encoded length in a 1 MiB shared ring (touched only as
//! used). Instead of terminating the reader, the main process closes the
//! queue once the writer is done: the reader takes what is left, then its
//! `get` reports the end of the stream and it returns, with nothing lost.
//!
//! Run with `cargo run --example queue_list --features serde`.

use mproc::ipc::ValueQueue;
use mproc::process::{self, Process};

/// Writer and reader over one queue; checks the reader got every list.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let q = ValueQueue::<Vec<String>>::new()?;
    let got = ValueQueue::<Vec<String>>::with_capacity(4096)?; // for the check
    let (q, got_ref) = (&q, &got);
    let mut writer = Process::new(move || {
        println!("Process to write: {}", process::getpid());
        let lists: [&[&str]; 3] = [&["A", "B", "C"], &["a list", "of any length"], &[]];
        for value in lists {
            println!("Put {value:?} to queue...");
            let value: Vec<String> = value.iter().map(|s| s.to_string()).collect();
            if q.put(&value).is_err() {
                process::exit(1);
            }
        }
    });
    let mut reader = Process::new(move || {
        println!("Process to read: {}", process::getpid());
        // Ends with EndOfStream once the queue is closed and empty.
        while let Ok(value) = q.get() {
            println!("Get {value:?} from queue.");
            let _ = got_ref.put(&value);
        }
    });
    writer.start()?;
    reader.start()?;
    let code = writer.join()?;
    q.close();
    let code = code.max(reader.join()?);
    if code != 0 {
        return Err(format!("a process exited with {code}").into());
    }
    let seen: Vec<Vec<String>> = std::iter::from_fn(|| got.get_nowait().ok()).collect();
    if seen != [vec!["A", "B", "C"], vec!["a list", "of any length"], vec![]] {
        return Err(format!("the reader got {seen:?}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
