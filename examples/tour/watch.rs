//! How the tour runs a scenario so that nothing outlives it.
//!
//! Each scenario runs in a forked *runner* that leads a process group of
//! its own, which every process of the scenario joins (they are forked
//! from the runner or its descendants, and none changes group). A second
//! child of the tour, the *watcher*, leads a third group (so a signal to
//! the tour's group, from a terminal or a supervisor, leaves it be),
//! blocks `INT`, `QUIT`, `HUP` and `TERM`, and holds the read end of a
//! pipe whose only writer is the tour. When the scenario succeeds the tour
//! writes it a byte and it exits. When the tour dies — `SIGKILL`, Ctrl-C,
//! anything — or the scenario fails, the pipe ends without that byte, and
//! the watcher `SIGKILL`s the scenario's group, waits until none of it
//! runs, and removes what the scenario named after its runner's pid:
//! `/dev/shm`, `/dev/mqueue` and temporary-directory entries starting
//! with `mproc-`, and the scenarios' message queues by name (where
//! `/dev/mqueue` is not mounted).
//!
//! Why a group and a watcher rather than `PR_SET_PDEATHSIG`: the death
//! signal reaches only a direct child of the dying process, and only if
//! it asked for it; the scenarios' processes are Python's `Process`es,
//! mostly non-daemonic (they outlive their parent by design), and their
//! own children (a daemon's pool workers, a manager's server) are a
//! generation further. A group holds them all, and `killpg` reaches them
//! wherever they are in the tree. The runner waits for the watcher to be
//! up before it runs anything: a tour killed before that leaves a runner
//! that exits at once and no scenario process.
//!
//! The scenario's group is not the terminal's foreground group: a
//! terminal set to `stty tostop` stops its output.
//!
//! Only a `SIGKILL` of the watcher itself as well (`pkill -9 tour` kills
//! every process of the tour at once) leaves names behind. The next tour
//! removes them at its start: segments through
//! [`SharedMemory::reclaim`](mproc::shm::SharedMemory::reclaim) (their
//! owner is dead), message queues and files when the pid they are named
//! after is gone (a message queue records no owner to check).

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use mproc::process::{self, Fork, Pid};
use mproc::signal::{self, SigSet, Signal};

use crate::Scenario;

/// Prefixes of what the scenarios name after their runner's pid, for the
/// start-up sweep.
const PREFIXES: &[&str] = &[
    "mproc-example-jobs-",
    "mproc-tour-daemon-",
    "mproc-tickets-",
    "mproc-write-files-",
    "mproc-heard-",
];

/// Runs one scenario in a runner of its own, watched (see the module
/// docs); whether it succeeded.
pub fn run_watched(title: &str, run: Scenario) -> Result<bool, Box<dyn std::error::Error>> {
    let (mut go_rx, mut go_tx) = std::io::pipe()?;
    let runner = match process::fork()? {
        Fork::Child(_) => {
            drop(go_tx);
            let _ = process::setpgrp();
            // Nothing runs before the watcher is up: no byte means the
            // tour died first.
            if go_rx.read_exact(&mut [0u8; 1]).is_err() {
                process::exit(1);
            }
            drop(go_rx);
            println!("\n== {title} ==");
            match run() {
                // A return from `main`: children still running are joined.
                Ok(()) => {
                    let _ = std::io::stdout().flush();
                    std::process::exit(0)
                }
                // Whatever the scenario left is the watcher's.
                Err(e) => {
                    eprintln!("error: {e}");
                    process::exit(1)
                }
            }
        }
        Fork::Parent(pid) => pid,
    };
    // Also here, so the group exists whichever of the two runs first.
    let _ = process::setpgid(runner, runner);
    drop(go_rx);
    let (life_rx, mut life_tx) = std::io::pipe()?;
    let watcher = match process::fork()? {
        Fork::Child(_) => {
            drop((life_tx, go_tx));
            let _ = process::setpgrp();
            watch(runner, life_rx)
        }
        Fork::Parent(pid) => pid,
    };
    drop(life_rx);
    go_tx.write_all(b"g")?;
    drop(go_tx);
    let ok = process::waitpid(runner)? == 0;
    if ok {
        life_tx.write_all(b"d")?;
    }
    drop(life_tx);
    process::waitpid(watcher)?;
    Ok(ok)
}

/// The watcher: see the module docs.
fn watch(runner: Pid, mut life: std::io::PipeReader) -> ! {
    let blocked = SigSet::from_signals(&[Signal::INT, Signal::QUIT, Signal::HUP, Signal::TERM]);
    let _blocked = blocked.block();
    if life.read_exact(&mut [0u8; 1]).is_ok() {
        process::exit(0);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_runs(runner) && Instant::now() < deadline {
        let _ = signal::killpg(runner, Signal::KILL);
        std::thread::sleep(Duration::from_millis(1));
    }
    remove_names(runner);
    process::exit(0)
}

/// Whether a process of the group `pgrp` still runs (a zombie does not:
/// it has ended, and only waits for its parent).
fn group_runs(pgrp: Pid) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // After the command: state ppid pgrp …
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        state != "Z" && state != "X" && group == Some(pgrp.as_raw())
    })
}

/// Removes what earlier tours left when their watcher was killed too:
/// names with a prefix of [`PREFIXES`] whose pid is gone, and segments
/// whose owner is dead.
pub fn sweep_leftovers() {
    let dead = |name: &str| {
        PREFIXES
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok())
            .and_then(Pid::from_raw)
            .is_some_and(|pid| !process::exists(pid).unwrap_or(true))
    };
    for dir in [
        Path::new("/dev/shm"),
        Path::new("/dev/mqueue"),
        &std::env::temp_dir(),
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !PREFIXES.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            if dir == Path::new("/dev/shm") {
                // The library's own check: the owner in the header is dead.
                let _ = mproc::shm::SharedMemory::<mproc::daemon::Status>::reclaim(&name);
            } else if dead(&name) {
                let path = entry.path();
                let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
            }
        }
    }
}

/// Removes what a killed scenario named after its runner `pid`.
fn remove_names(pid: Pid) {
    let digits = pid.to_string();
    let ours = |name: &str| {
        name.starts_with("mproc-")
            && name
                .split(|c: char| !c.is_ascii_digit())
                .any(|run| run == digits)
    };
    for dir in [
        Path::new("/dev/shm"),
        Path::new("/dev/mqueue"),
        &std::env::temp_dir(),
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_str().is_some_and(ours) {
                let path = entry.path();
                let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
            }
        }
    }
    // Without /dev/mqueue mounted, the queues are removed by name: the
    // message_queue scenario's, and the daemon's (examples/daemon/
    // names it `/mproc-tour-daemon-<pid>-jobs`).
    for queue in [
        crate::message_queue::queue_name(pid),
        format!("/mproc-tour-daemon-{pid}-jobs"),
    ] {
        if let Ok(mut q) = mproc::ipc::MessageQueue::open(&queue) {
            let _ = q.unlink();
        }
    }
}
