//! examples/server_echo run from its binary, as an operator runs it:
//! the ready line on stdout, a client served, `HUP` (workers replaced,
//! a second line), `TERM` (drained, exit status 0).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mproc::signal::{self, Signal};

use crate::common::under_qemu;
use crate::{ask, client, examples};

/// Kills the server if the test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_example_binary_serves_reloads_on_hup_and_drains_on_term() {
    if under_qemu() {
        eprintln!("SKIPPED: the example binaries are not run under qemu-user");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    examples::build(profile_dir, &["server_echo"]);
    let bin = profile_dir.join("examples").join("server_echo");
    assert!(bin.exists(), "{} is missing", bin.display());
    let child = Command::new(bin)
        .args(["127.0.0.1:0", "--workers", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Running(child);
    let pid = mproc::Pid::from_raw(server.0.id() as i32).unwrap();
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("serving on ")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"));
    assert!(
        first.ends_with(&format!("(pid {pid}, 2 workers)")),
        "{first}"
    );
    let mut c = client(addr.parse().unwrap());
    assert_eq!(ask(&mut c, "hello from a client"), "HELLO FROM A CLIENT");
    drop(c);

    signal::kill(pid, Signal::HUP).unwrap();
    let second = lines.next().unwrap().unwrap();
    assert!(
        second.starts_with(&format!("workers replaced; serving on {addr} ")),
        "{second}"
    );
    signal::kill(pid, Signal::TERM).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "stopped: Drained");
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}");
}
