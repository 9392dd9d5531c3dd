//! The tour (`examples/tour.rs`) SIGKILLed in every scenario leaves
//! nothing behind: no process, no `/dev/shm` or `/dev/mqueue` name, no
//! file of the scenario's in the temporary directory.
//!
//! For each scenario the built `tour` binary is started on that scenario
//! alone, in a session of its own (so that every process it makes can be
//! found in `/proc`, whatever process group it moves to), and SIGKILLed —
//! the tour alone, or every other time its whole process group — a few
//! milliseconds (2 to 20, spread over the scenarios) after the
//! scenario's header line, the scenario's own signal that it has
//! started. Within one second every process of the session must be gone,
//! and every name carrying the pid of the tour or of a scenario runner
//! (the tour's examples name what they create after the process that
//! runs them).
//!
//! The binary is the example next to this test's executable; `cargo test`
//! builds it, and `cargo test --test tour` (which does not) gets it built
//! here by `cargo build --example tour`. Under qemu-user
//! (`MPROC_UNDER_QEMU`, set by scripts/cross-test.sh) a binary of the
//! emulated architecture cannot be spawned: the test says so on stderr and
//! passes without running.
#![allow(unsafe_code)] // setsid in pre_exec, waitpid of orphans.

mod common;
#[path = "common/examples.rs"]
mod examples;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::isolated;

/// How long the processes and names of a killed tour may take to go.
const CLEANUP: Duration = Duration::from_secs(1);

fn note(text: &str) {
    // Straight to the process's stderr, past libtest's capture.
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The `tour` binary, built if need be; `None` where it cannot run.
fn tour_binary() -> Option<PathBuf> {
    if common::under_qemu() {
        return None;
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/[<triple>/]<profile>/deps/tour-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target>/<profile>/deps");
    examples::build(profile_dir, &["tour"]);
    let bin = profile_dir.join("examples").join("tour");
    assert!(
        bin.exists(),
        "{} is missing: build the examples (cargo build --examples)",
        bin.display()
    );
    Some(bin)
}

/// A process as `/proc/<pid>/stat` shows it.
struct Stat {
    pid: i32,
    state: char,
    pgrp: i32,
    session: i32,
    comm: String,
}

fn processes() -> Vec<Stat> {
    let mut all = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return all;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        // After the command: state ppid pgrp session …
        let mut f = stat[close + 1..].split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let _ppid = f.next();
        let pgrp = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let session = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        all.push(Stat {
            pid,
            state,
            pgrp,
            session,
            comm: stat[open + 1..close].to_owned(),
        });
    }
    all
}

/// The live (not zombie) processes of the session `sid`.
fn session(sid: i32) -> Vec<Stat> {
    processes()
        .into_iter()
        .filter(|p| p.session == sid && p.state != 'Z')
        .collect()
}

/// Whether `name` holds `pid` as a run of digits of its own.
fn names_pid(name: &str, pid: i32) -> bool {
    let pid = pid.to_string();
    name.split(|c: char| !c.is_ascii_digit())
        .any(|run| run == pid)
}

/// The names in `/dev/shm`, `/dev/mqueue` and the temporary directory
/// that start with `mproc-` and carry one of `pids`. Where `/dev/mqueue`
/// is not mounted, the message queues the tour's scenarios make are
/// looked for by name.
fn names_of(pids: &[i32]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if !Path::new("/dev/mqueue").is_dir() {
        for pid in pids {
            for queue in [
                format!("/mproc-example-jobs-{pid}"),
                format!("/mproc-tour-daemon-{pid}-jobs"),
            ] {
                if mproc::ipc::MessageQueue::open(&queue)
                    .is_err_and(|e| e.kind() == mproc::ErrorKind::NotFound)
                {
                    continue;
                }
                found.push(PathBuf::from(format!("/dev/mqueue{queue}")));
            }
        }
    }
    for dir in [
        PathBuf::from("/dev/shm"),
        PathBuf::from("/dev/mqueue"),
        std::env::temp_dir(),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("mproc-") && pids.iter().any(|&p| names_pid(&name, p)) {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Removes a leftover name: a file, a directory, or (where `/dev/mqueue`
/// is not mounted) a message queue.
fn remove(path: &Path) {
    if std::fs::remove_file(path).is_ok() || std::fs::remove_dir_all(path).is_ok() {
        return;
    }
    if let Some(queue) = path.to_str().and_then(|p| p.strip_prefix("/dev/mqueue"))
        && let Ok(mut q) = mproc::ipc::MessageQueue::open(queue)
    {
        let _ = q.unlink();
    }
}

/// Reaps whatever orphans this body (a subreaper) has been given.
fn reap_orphans() {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } <= 0 {
            return;
        }
    }
}

/// Runs `tour <name>`, SIGKILLs it (`group`: its whole process group, as
/// a terminal's Ctrl-C or a supervisor would) `delay` after the scenario's
/// header and says what is left after [`CLEANUP`] (empty: nothing).
fn kill_in(tour: &Path, name: &str, delay: Duration, group: bool) -> Vec<String> {
    let mut cmd = Command::new(tour);
    cmd.arg(name).stdout(Stdio::piped()).stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn the tour");
    let sid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("== ") {
                let _ = tx.send(());
            }
        }
    });
    let started = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    // A watchdog-free pause: the kill lands inside the scenario.
    std::thread::sleep(delay);
    // The scenario's runners: the tour, and any process of its session
    // that leads a group of its own.
    let runners: Vec<i32> = std::iter::once(sid)
        .chain(
            session(sid)
                .iter()
                .filter(|p| p.pgrp == p.pid && p.pid != sid)
                .map(|p| p.pid),
        )
        .collect();
    let target = if group { -sid } else { sid };
    // SAFETY: plain integers; the tour is our child, not yet reaped (and
    // leads its group).
    unsafe { libc::kill(target, libc::SIGKILL) };
    let _ = child.wait();
    // Not joined: a process left behind may hold the pipe open; the
    // reader ends when the last one is gone.
    drop(reader);
    let deadline = Instant::now() + CLEANUP;
    let mut left = Vec::new();
    loop {
        reap_orphans();
        let procs = session(sid);
        let names = names_of(&runners);
        if procs.is_empty() && names.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for p in &procs {
                left.push(format!("process {} ({}, state {})", p.pid, p.comm, p.state));
                // SAFETY: plain integers: a leftover of this test's tour.
                unsafe { libc::kill(p.pid, libc::SIGKILL) };
            }
            for n in &names {
                left.push(format!("name {}", n.display()));
                remove(n);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if !started {
        left.push("no scenario header within 20 s".into());
    }
    // Leftovers killed above come to this body: reap them.
    let _ = common::eventually(Duration::from_secs(5), || {
        reap_orphans();
        session(sid).is_empty()
    });
    reap_orphans();
    left
}

#[test]
fn a_tour_sigkilled_in_any_scenario_leaves_no_process_and_no_name() {
    let Some(tour) = tour_binary() else {
        note(
            "SKIPPED under qemu-user (cannot spawn the tour): tour::a_tour_sigkilled_in_any_scenario_leaves_no_process_and_no_name",
        );
        return;
    };
    let list = Command::new(&tour)
        .arg("--list")
        .output()
        .expect("tour --list");
    assert!(list.status.success());
    let names: Vec<String> = String::from_utf8(list.stdout)
        .expect("utf-8 names")
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(names.len() > 20, "tour --list named {names:?}");
    isolated(move || {
        let mut failures = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let delay = Duration::from_millis(2 + (i as u64 * 7) % 19);
            let group = i % 2 == 1;
            let left = kill_in(&tour, name, delay, group);
            if !left.is_empty() {
                let whom = if group { "its group" } else { "the tour" };
                failures.push(format!(
                    "{name} ({whom} killed {delay:?} in): {}",
                    left.join(", ")
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "a SIGKILLed tour left, {CLEANUP:?} later:\n  {}",
            failures.join("\n  ")
        );
    });
}

#[test]
fn a_tour_removes_at_its_start_what_a_tour_killed_outright_left() {
    use mproc::process::{self, Fork};
    use mproc::shm::SharedMemory;
    let Some(tour) = tour_binary() else {
        note(
            "SKIPPED under qemu-user (cannot spawn the tour): tour::a_tour_removes_at_its_start_what_a_tour_killed_outright_left",
        );
        return;
    };
    isolated(move || {
        // A runner that is gone: a child, reaped.
        let dead = match process::fork().unwrap() {
            Fork::Child(_) => process::exit(0),
            Fork::Parent(pid) => {
                process::waitpid(pid).unwrap();
                pid
            }
        };
        let tmp = std::env::temp_dir();
        let pidfile = tmp.join(format!("mproc-tour-daemon-{dead}.pid"));
        std::fs::write(&pidfile, "1").unwrap();
        let tickets = tmp.join(format!("mproc-tickets-{dead}"));
        std::fs::create_dir_all(&tickets).unwrap();
        std::fs::write(tickets.join("tickets"), "3").unwrap();
        // A segment whose owner ended without removing it.
        let segment = format!("/mproc-tour-daemon-{dead}-status");
        match process::fork().unwrap() {
            Fork::Child(_) => {
                let board = SharedMemory::create(&segment, mproc::daemon::Status::new()).unwrap();
                std::mem::forget(board);
                process::exit(0)
            }
            Fork::Parent(pid) => assert_eq!(process::waitpid(pid).unwrap(), 0),
        }
        // A queue likewise, where /dev/mqueue can be listed.
        let queue = format!("/mproc-example-jobs-{dead}");
        let mounted = Path::new("/dev/mqueue").is_dir();
        if mounted {
            match process::fork().unwrap() {
                Fork::Child(_) => {
                    let q = mproc::ipc::MessageQueue::create(&queue, 1, 8).unwrap();
                    std::mem::forget(q);
                    process::exit(0)
                }
                Fork::Parent(pid) => assert_eq!(process::waitpid(pid).unwrap(), 0),
            }
        }
        // One of a live runner (this body): it stays.
        let live = tmp.join(format!("mproc-heard-{}.txt", process::getpid()));
        std::fs::write(&live, "").unwrap();

        let out = Command::new(&tour).arg("fork_pids").output().unwrap();
        assert!(out.status.success(), "{out:?}");

        let left: Vec<_> = [&pidfile, &tickets]
            .into_iter()
            .filter(|p| p.exists())
            .collect();
        assert!(left.is_empty(), "the tour left {left:?}");
        let open = SharedMemory::<mproc::daemon::Status>::open(&segment);
        assert_eq!(
            open.as_ref().err().map(|e| e.kind()),
            Some(mproc::ErrorKind::NotFound),
            "the segment was not reclaimed"
        );
        if mounted {
            let open = mproc::ipc::MessageQueue::open(&queue);
            assert_eq!(
                open.as_ref().err().map(|e| e.kind()),
                Some(mproc::ErrorKind::NotFound),
                "the queue was not removed"
            );
        }
        assert!(live.exists(), "the tour removed a live runner's file");
        std::fs::remove_file(&live).unwrap();
    });
}
