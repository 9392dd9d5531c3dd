//! What the tests of the `mproc-zenoh` program share: starting it (its
//! `ready` line read), killing it when a test ends early, signalling it,
//! and reading numbered messages off a message queue.

#![allow(dead_code)] // Each test binary uses part of it.

pub mod netns;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use mproc::ipc::MessageQueue;

/// The program, killed if the test ends (or fails) with it still running.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `command` (the program, or `ip netns exec … program`) with its
/// standard output piped, and reads its first line, which must say it is
/// ready.
pub fn ready(mut command: Command) -> (Reaped, BufReader<ChildStdout>) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("start mproc-zenoh");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("its first line");
    assert!(line.starts_with("mproc-zenoh: ready"), "{line:?}");
    (Reaped(child), out)
}

/// `mproc-zenoh args`, ready.
pub fn start(args: &[&str]) -> (Reaped, BufReader<ChildStdout>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mproc-zenoh"));
    command.args(args);
    ready(command)
}

/// `kill -SIG pid`.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success() || sig == "KILL", "kill -{sig}");
}

/// Its status line (after a `SIGUSR1`).
pub fn status(p: &Reaped, out: &mut BufReader<ChildStdout>) -> String {
    signal(&p.0, "USR1");
    let mut line = String::new();
    out.read_line(&mut line).expect("its status line");
    line
}

/// The message `item NNNNN` for number `i`.
pub fn msg(i: u32) -> Vec<u8> {
    format!("item {i:05}").into_bytes()
}

/// Takes one `item NNNNN` message off `q` into `got`, waiting at most
/// `wait`: whether one came.
pub fn take(q: &MessageQueue, got: &mut Vec<u32>, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    match q.receive_timeout(&mut buf, wait) {
        Ok((n, _)) => {
            let s = std::str::from_utf8(&buf[..n]).expect("utf-8");
            got.push(s["item ".len()..].parse().expect("a number"));
            true
        }
        Err(_) => false,
    }
}

/// A free loopback port (the system's pick, released for the program).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Message queues named for this test, removed when it ends; `None` (the
/// test skips) where the system has none.
pub struct Queues(Vec<(String, MessageQueue)>);

impl Queues {
    /// `/mproc-zt-<name>-<pid>` for each name, holding `depth` messages
    /// of up to 64 bytes.
    pub fn new(names: &[&str], depth: usize) -> Option<Queues> {
        let me = std::process::id();
        let mut v = Vec::new();
        for n in names {
            let name = format!("/mproc-zt-{n}-{me}");
            match MessageQueue::create(&name, depth, 64) {
                Ok(q) => v.push((name, q)),
                Err(e) => {
                    eprintln!("skipped: no POSIX message queues here ({e})");
                    return None;
                }
            }
        }
        Some(Queues(v))
    }

    /// The name of queue `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.0[i].0
    }

    /// Queue `i`.
    pub fn queue(&self, i: usize) -> &MessageQueue {
        &self.0[i].1
    }
}
