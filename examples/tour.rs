//! The tour: every scenario implemented so far, end to end, in a few
//! seconds. Each is also its own example (`cargo run --example <name>`).
//!
//! `tour` runs them all, `tour <name>…` only those named, `tour --list`
//! names them.
//!
//! # Nothing outlives the tour
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

#[path = "alarm_pause.rs"]
mod alarm_pause;
#[path = "baozi.rs"]
mod baozi;
#[path = "condition.rs"]
mod condition;
#[path = "consumer_task.rs"]
mod consumer_task;
#[path = "counter.rs"]
mod counter;
#[path = "daemon.rs"]
mod daemon;
#[path = "daemon_child.rs"]
mod daemon_child;
#[path = "echo_server.rs"]
mod echo_server;
#[path = "event.rs"]
mod event;
#[path = "event_loop.rs"]
mod event_loop;
#[path = "five_processes.rs"]
mod five_processes;
#[path = "fork_pids.rs"]
mod fork_pids;
#[path = "full_queue.rs"]
mod full_queue;
#[path = "joinable_queue.rs"]
mod joinable_queue;
#[path = "kill_between.rs"]
mod kill_between;
#[path = "manager_counter.rs"]
mod manager_counter;
#[path = "manager_dict_list.rs"]
mod manager_dict_list;
#[path = "manager_lock.rs"]
mod manager_lock;
#[path = "manager_server.rs"]
mod manager_server;
#[path = "manager_string.rs"]
mod manager_string;
#[path = "message_queue.rs"]
mod message_queue;
#[path = "pipe.rs"]
mod pipe;
#[path = "pool_apply.rs"]
mod pool_apply;
#[path = "pool_apply_async.rs"]
mod pool_apply_async;
#[path = "pool_callbacks.rs"]
mod pool_callbacks;
#[path = "pool_map.rs"]
mod pool_map;
#[path = "pool_starmap.rs"]
mod pool_starmap;
#[path = "queue_writer_reader.rs"]
mod queue_writer_reader;
#[path = "semaphore.rs"]
mod semaphore;
#[path = "terminate.rs"]
mod terminate;
#[path = "tickets.rs"]
mod tickets;
#[path = "value_array.rs"]
mod value_array;
#[path = "wait_server.rs"]
mod wait_server;
#[path = "write_files.rs"]
mod write_files;

type Scenario = fn() -> Result<(), Box<dyn std::error::Error>>;

const SCENARIOS: &[(&str, &str, Scenario)] = &[
    (
        "fork_pids",
        "os.fork: parent and child pids",
        fork_pids::run,
    ),
    (
        "five_processes",
        "multiprocessing: 5 processes started, then joined",
        five_processes::run,
    ),
    (
        "write_files",
        "multiprocessing: 5 processes each write a file of 100 lines",
        write_files::run,
    ),
    (
        "daemon_child",
        "daemon=True: a daemon child dies with its SIGKILLed parent",
        daemon_child::run,
    ),
    (
        "terminate",
        "Process.terminate and is_alive",
        terminate::run,
    ),
    (
        "alarm_pause",
        "signal.alarm, then signal.pause",
        alarm_pause::run,
    ),
    (
        "kill_between",
        "os.kill between two processes",
        kill_between::run,
    ),
    (
        "value_array",
        "Value('d') and Array('i') changed by a child, run twice; Value(c_char_p)",
        value_array::run,
    ),
    (
        "counter",
        "a Counter of Value('i') + Lock: 10 processes x 50 increments",
        counter::run,
    ),
    (
        "tickets",
        "100 processes grab 3 tickets from a file, without and with a Lock",
        tickets::run,
    ),
    (
        "semaphore",
        "Semaphore(3): 5 processes, at most 3 inside at a time",
        semaphore::run,
    ),
    (
        "event",
        "Event: one process wait()s, one wait(t)s, sees it clear and set()s it",
        event::run,
    ),
    (
        "condition",
        "Condition: 2 stage-2 processes wait until stage 1 notify_all()s",
        condition::run,
    ),
    (
        "pipe",
        "Pipe: two processes talk, each logs what it hears to one file under a Lock",
        pipe::run,
    ),
    (
        "message_queue",
        "POSIX message queue: a producer's urgent jobs overtake its routine ones",
        message_queue::run,
    ),
    (
        "wait_server",
        "connection.wait: one loop serves 3 clients cooperatively, no threads",
        wait_server::run,
    ),
    (
        "queue_writer_reader",
        "Queue: a writer puts A, B, C; a reader gets them until the queue is closed",
        queue_writer_reader::run,
    ),
    (
        "full_queue",
        "Queue(maxsize=3): put_nowait raises Full, get_nowait raises Empty",
        full_queue::run,
    ),
    (
        "baozi",
        "Queue + poison pill: 1 cook and 1 eater, then 3 cooks and 2 eaters",
        baozi::run,
    ),
    (
        "joinable_queue",
        "JoinableQueue: daemon workers, join() until every task_done()",
        joinable_queue::run,
    ),
    (
        "consumer_task",
        "Consumer/Task: cpu_count()*2 consumers, a task and a result queue",
        consumer_task::run,
    ),
    (
        "event_loop",
        "a daemon's loop: one wait() over a watched Queue, SIGUSR1/SIGTERM and sentinels",
        event_loop::run,
    ),
    (
        "pool_apply",
        "Pool(3).apply: 10 squares, only the pool's 3 workers ever compute",
        pool_apply::run,
    ),
    (
        "pool_apply_async",
        "Pool.apply_async: 10 tasks, close(), join(), then get() each result",
        pool_apply_async::run,
    ),
    (
        "pool_callbacks",
        "apply_async(callback=print_result, error_callback=...): once each, in the parent",
        pool_callbacks::run,
    ),
    (
        "pool_map",
        "Pool(cpu_count()).map against a loop: primes below 1,000,000, both timed",
        pool_map::run,
    ),
    (
        "pool_starmap",
        "Pool.starmap: a method and u64::pow as multi-argument tasks, no pickling helper",
        pool_starmap::run,
    ),
    (
        "echo_server",
        "a pre-fork TCP echo server: Pool(4) serves 6 echo_client processes, 4 at a time",
        echo_server::run,
    ),
    (
        "daemon",
        "a pre-fork daemon: 4 jobs through a message queue, kill -USR1 for a status line, kill -TERM drains",
        daemon::run,
    ),
    (
        "manager_dict_list",
        "Manager: a child sets d[1], d['2'], d[0.25] and reverses l; the parent prints both",
        manager_dict_list::run,
    ),
    (
        "manager_lock",
        "Manager dict + Lock: 100 processes each do `with lock: d['count'] -= 1`",
        manager_lock::run,
    ),
    (
        "manager_string",
        "Manager Value: 3 processes append \", World!\" to \"Hello\" under a manager Lock",
        manager_string::run,
    ),
    (
        "manager_counter",
        "BaseManager.register('Counter'): Pool(5).map(work, [c] * 5), 50 increments each",
        manager_counter::run,
    ),
    (
        "manager_server",
        "Manager at an address: a server publishes a dict, a client opens it by name and changes it",
        manager_server::run,
    ),
];

/// Prefixes of what the scenarios name after their runner's pid, for the
/// start-up sweep.
const PREFIXES: &[&str] = &[
    "mproc-example-jobs-",
    "mproc-tour-daemon-",
    "mproc-tickets-",
    "mproc-write-files-",
    "mproc-heard-",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _, _) in SCENARIOS {
            println!("{name}");
        }
        return Ok(());
    }
    if let Some(unknown) = args
        .iter()
        .find(|a| !SCENARIOS.iter().any(|(name, _, _)| name == a))
    {
        return Err(format!("no scenario {unknown:?} (`tour --list` names them)").into());
    }
    let chosen: Vec<_> = SCENARIOS
        .iter()
        .filter(|(name, _, _)| args.is_empty() || args.iter().any(|a| a == name))
        .collect();
    sweep_leftovers();
    let start = Instant::now();
    for (example, title, run) in &chosen {
        let t = Instant::now();
        if !run_watched(title, *run)? {
            return Err(format!("the scenario {example} failed").into());
        }
        println!("-- ok in {:.2?} (examples/{example}.rs)", t.elapsed());
    }
    println!(
        "\ntour: {} scenarios ran in {:.2?}",
        chosen.len(),
        start.elapsed()
    );
    Ok(())
}

/// Runs one scenario in a runner of its own, watched (see the module
/// docs); whether it succeeded.
fn run_watched(title: &str, run: Scenario) -> Result<bool, Box<dyn std::error::Error>> {
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
fn sweep_leftovers() {
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
    // message_queue scenario's, and the daemon's (examples/daemon.rs
    // names it `/mproc-tour-daemon-<pid>-jobs`).
    for queue in [
        message_queue::queue_name(pid),
        format!("/mproc-tour-daemon-{pid}-jobs"),
    ] {
        if let Ok(mut q) = mproc::ipc::MessageQueue::open(&queue) {
            let _ = q.unlink();
        }
    }
}
