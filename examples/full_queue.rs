//! A full queue: `put_nowait` raises `Full` (and `get_nowait` on an empty
//! one raises `Empty`) instead of waiting.
//!
//! ```python
//! import queue
//! from multiprocessing import Queue
//!
//! q = Queue(maxsize=3)
//! for i in range(3):
//!     q.put_nowait(i)
//! print("full:", q.full(), "size:", q.qsize())
//! try:
//!     q.put_nowait(3)
//! except queue.Full:
//!     print("queue full")
//! while not q.empty():
//!     print("got", q.get_nowait())
//! try:
//!     q.get_nowait()
//! except queue.Empty:
//!     print("queue empty")
//! ```

use mproc::ErrorKind;
use mproc::ipc::Queue;

/// Fills a `Queue(maxsize=3)`, overfills it, drains it, over-drains it.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<u32, 3>::new()?;
    for i in 0..3 {
        q.put_nowait(i)?;
    }
    println!("full: {} size: {}", q.full(), q.qsize());
    match q.put_nowait(3) {
        Err(e) if e.kind() == ErrorKind::Full => println!("queue full ({e})"),
        other => return Err(format!("put_nowait on a full queue gave {other:?}").into()),
    }
    let mut got = Vec::new();
    while !q.empty() {
        let v = q.get_nowait()?;
        println!("got {v}");
        got.push(v);
    }
    match q.get_nowait() {
        Err(e) if e.kind() == ErrorKind::Empty => println!("queue empty ({e})"),
        other => return Err(format!("get_nowait on an empty queue gave {other:?}").into()),
    }
    if got != [0, 1, 2] {
        return Err(format!("got {got:?}, and the refused put must add nothing").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
