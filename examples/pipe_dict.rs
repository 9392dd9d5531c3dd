//! A `Pipe` carrying a dict-like value each way (feature `serde`):
//! `cargo run --example pipe_dict --features serde`.
//!
//! ```python
//! from multiprocessing import Process, Pipe
//!
//! def worker(conn):
//!     job = conn.recv()
//!     conn.send({"name": job["name"], "total": sum(job["values"]),
//!                "note": None if job["values"] else "empty"})
//!     conn.close()
//!
//! if __name__ == "__main__":
//!     parent_conn, child_conn = Pipe()
//!     p = Process(target=worker, args=(child_conn,))
//!     p.start()
//!     parent_conn.send({"name": "job-1", "values": [42, 7, 1]})
//!     print(parent_conn.recv())
//!     p.join()
//! ```
//!
//! Python pickles the dicts; here they are a map of `String` keys to a
//! small enum of values (what a dict of mixed values holds), sent with
//! `send_value` and read with `recv_value`, encoded with postcard into a
//! reused buffer. A struct with named fields works the same way when the
//! keys are known.

use std::collections::BTreeMap;

use mproc::ipc::Pipe;
use mproc::process::{self, Process};
use serde::{Deserialize, Serialize};

/// A value of the dict: what the Python program puts in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Py {
    None,
    Int(i64),
    Str(String),
    List(Vec<Py>),
}

type Dict = BTreeMap<String, Py>;

fn worker(conn: &mproc::ipc::Connection) -> mproc::Result<()> {
    let job: Dict = conn.recv_value()?;
    let values = match job.get("values") {
        Some(Py::List(items)) => items.clone(),
        _ => Vec::new(),
    };
    let total = values
        .iter()
        .map(|v| if let Py::Int(n) = v { *n } else { 0 })
        .sum();
    let mut reply = Dict::new();
    reply.insert("name".into(), job.get("name").cloned().unwrap_or(Py::None));
    reply.insert("total".into(), Py::Int(total));
    let note = if values.is_empty() {
        Py::Str("empty".into())
    } else {
        Py::None
    };
    reply.insert("note".into(), note);
    conn.send_value(&reply)
}

/// Sends the job, prints and checks the reply.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (parent_conn, child_conn) = Pipe::duplex()?;
    let mut p = Process::new(|| {
        if let Err(e) = worker(&child_conn) {
            eprintln!("worker: {e}");
            process::exit(1);
        }
    });
    p.start()?;

    let mut job = Dict::new();
    job.insert("name".into(), Py::Str("job-1".into()));
    job.insert(
        "values".into(),
        Py::List(vec![Py::Int(42), Py::Int(7), Py::Int(1)]),
    );
    parent_conn.send_value(&job)?;
    let reply: Dict = parent_conn.recv_value()?;
    println!("{reply:?}");
    if reply.get("total") != Some(&Py::Int(50)) || reply.get("note") != Some(&Py::None) {
        return Err(format!("unexpected reply {reply:?}").into());
    }
    let code = p.join()?;
    if code != 0 {
        return Err(format!("the worker exited with {code}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
