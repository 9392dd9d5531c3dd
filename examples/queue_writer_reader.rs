//! A writer process puts values on a `Queue`, a reader process gets them.
//!
//! ```python
//! from multiprocessing import Process, Queue
//!
//! def write(q):
//!     for value in ["A", "B", "C"]:
//!         print("Put %s to queue..." % value)
//!         q.put(value)
//!
//! def read(q):
//!     while True:
//!         value = q.get(True)
//!         print("Get %s from queue." % value)
//!
//! if __name__ == "__main__":
//!     q = Queue()
//!     pw = Process(target=write, args=(q,))
//!     pr = Process(target=read, args=(q,))
//!     pw.start(); pr.start()
//!     pw.join()
//!     pr.terminate()          # the reader loops for ever
//! ```
//!
//! Instead of terminating the reader, the main process closes the queue
//! once the writer is done: the reader takes what is left, then its `get`
//! reports the end of the stream and it returns, with nothing lost.

use mproc::ipc::Queue;
use mproc::process::{self, Process};
use mproc::shm::FixedStr;

type Value = FixedStr<8>;

/// Writer and reader over one queue; checks the reader got A, B, C.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Value, 4>::new()?;
    let got = Queue::<Value, 4>::new()?; // what the reader saw, for the check
    let (q_ref, got_ref) = (&*q, &*got);
    let mut writer = Process::new(move || {
        for value in ["A", "B", "C"] {
            println!("Put {value} to queue...");
            let ok = value.parse().is_ok_and(|v| q_ref.put(v).is_ok());
            if !ok {
                process::exit(1);
            }
        }
    });
    let mut reader = Process::new(move || {
        // Ends with EndOfStream once the queue is closed and empty.
        while let Ok(value) = q_ref.get() {
            println!("Get {value} from queue.");
            let _ = got_ref.put(value);
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
    let mut seen = String::new();
    while let Ok(v) = got.get_nowait() {
        seen.push_str(v.as_str());
    }
    if seen != "ABC" {
        return Err(format!("the reader got {seen:?}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
