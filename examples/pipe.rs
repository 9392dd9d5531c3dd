//! Two processes talking over a `Pipe`, each writing what it hears to one
//! file under a `Lock`.
//!
//! ```python
//! import multiprocessing, os
//!
//! def log(lock, path, line):
//!     with lock:
//!         with open(path, "a") as f:
//!             f.write(line + "\n")
//!
//! def proc_1(conn, lock, path):
//!     for i in range(10):
//!         conn.send("msg_%d" % i)
//!         log(lock, path, "proc_1 heard: " + conn.recv())
//!     conn.send(None)
//!
//! def proc_2(conn, lock, path):
//!     while True:
//!         msg = conn.recv()
//!         if msg is None:
//!             break
//!         log(lock, path, "proc_2 heard: " + msg)
//!         conn.send("ack " + msg)
//!
//! if __name__ == "__main__":
//!     end_1, end_2 = multiprocessing.Pipe()
//!     lock = multiprocessing.Lock()
//!     p1 = multiprocessing.Process(target=proc_1, args=(end_1, lock, "heard.txt"))
//!     p2 = multiprocessing.Process(target=proc_2, args=(end_2, lock, "heard.txt"))
//!     p1.start(); p2.start(); p1.join(); p2.join()
//! ```
//!
//! Messages are `FixedStr<24>` values: fixed-size, sent as they are (no
//! pickling); an empty one plays Python's `None`.

use std::io::Write as _;
use std::path::Path;

use mproc::ipc::{Connection, Pipe};
use mproc::process::{self, Process};
use mproc::shm::{FixedStr, Shared};
use mproc::sync::Lock;

type Msg = FixedStr<24>;
const ROUNDS: usize = 10;

/// Appends `line` to the file at `path`, holding `lock`.
fn log(lock: &Lock, path: &Path, line: &str) -> std::io::Result<()> {
    let _held = lock.lock().unwrap_or_else(|died| died.into_guard());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

fn proc_1(conn: &Connection, lock: &Lock, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    for i in 0..ROUNDS {
        let msg: Msg = format!("msg_{i}").parse()?;
        conn.send(&msg)?;
        let heard: Msg = conn.recv()?;
        log(lock, path, &format!("proc_1 heard: {heard}"))?;
    }
    conn.send(&Msg::new())?; // None
    Ok(())
}

fn proc_2(conn: &Connection, lock: &Lock, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        let msg: Msg = conn.recv()?;
        if msg.is_empty() {
            return Ok(());
        }
        log(lock, path, &format!("proc_2 heard: {msg}"))?;
        conn.send(&format!("ack {msg}").parse::<Msg>()?)?;
    }
}

/// Runs both processes, then checks the file: every line whole, each
/// process's lines in order.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("mproc-heard-{}.txt", process::getpid()));
    let result = talk(&path);
    let _ = std::fs::remove_file(&path);
    result
}

fn talk(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (end_1, end_2) = Pipe::duplex()?;
    let lock = Shared::new(Lock::new())?;
    let exit_code = |r: Result<(), Box<dyn std::error::Error>>| match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{}: {e}", process::current_process().name);
            1
        }
    };
    let mut p1 = Process::new(|| process::exit(exit_code(proc_1(&end_1, &lock, path))))
        .with_name("proc_1")?;
    let mut p2 = Process::new(|| process::exit(exit_code(proc_2(&end_2, &lock, path))))
        .with_name("proc_2")?;
    p1.start()?;
    p2.start()?;
    let (c1, c2) = (p1.join()?, p2.join()?);
    if (c1, c2) != (0, 0) {
        return Err(format!("proc_1 exited with {c1}, proc_2 with {c2}").into());
    }
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines {
        println!("{line}");
    }
    let heard =
        |who: &str| -> Vec<&str> { lines.iter().filter_map(|l| l.strip_prefix(who)).collect() };
    let want_2: Vec<String> = (0..ROUNDS).map(|i| format!("msg_{i}")).collect();
    let want_1: Vec<String> = want_2.iter().map(|m| format!("ack {m}")).collect();
    if lines.len() != 2 * ROUNDS
        || heard("proc_1 heard: ") != want_1
        || heard("proc_2 heard: ") != want_2
    {
        return Err(format!("the file does not hold the conversation:\n{text}").into());
    }
    println!("{} lines, each whole, each side's in order", lines.len());
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
