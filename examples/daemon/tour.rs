//! The tour's scenario: the daemon forked, an operator's process
//! steering it.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mproc::Pid;
use mproc::daemon::{State, Status};
use mproc::ipc::MessageQueue;
use mproc::process::{self, Process};
use mproc::shm::SharedMemory;
use mproc::signal::{self, Signal};

use super::config::Config;
use super::jobs::{Job, Kind};
use super::master::serve;

/// The tour's scenario: the daemon, forked rather than run from its
/// binary, on names of its own; an operator's process submits four jobs,
/// asks for a status line with `USR1` and drains it with `TERM`.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let tag = format!("mproc-tour-daemon-{}", process::getpid());
    let dir = std::env::temp_dir();
    let cfg = Config {
        pidfile: dir.join(format!("{tag}.pid")),
        log: dir.join(format!("{tag}.log")),
        queue: format!("/{tag}-jobs"),
        status: format!("/{tag}-status"),
        ..Config::default()
    };
    let file = dir.join(format!("{tag}.txt"));
    std::fs::write(&file, "123456789")?;
    let _ = std::fs::remove_file(&cfg.log);

    let served = cfg.clone();
    let mut daemon = Process::new(move || {
        if let Err(e) = serve(&served) {
            eprintln!("daemon: {e}");
            process::exit(1);
        }
    });
    daemon.start()?;
    let pid = daemon.pid().ok_or("no pid")?;
    let result = operate(&cfg, pid, &file);
    if result.is_err() {
        let _ = daemon.kill();
    }
    let code = daemon.join()?;
    let log = std::fs::read_to_string(&cfg.log).unwrap_or_default();
    for line in log.lines() {
        // Without the timestamp.
        println!("  {}", line.split_once(' ').map_or(line, |(_, l)| l));
    }
    let _ = std::fs::remove_file(&cfg.log);
    let _ = std::fs::remove_file(&file);
    result?;
    if code != 0 || cfg.pidfile.exists() {
        return Err(format!(
            "the daemon exited with {code}, pidfile left: {}",
            cfg.pidfile.exists()
        )
        .into());
    }
    if !log.contains("crc32=cbf43926 bytes=9") || !log.contains("status #1 ") {
        return Err("the log lacks the checksum or the status line".into());
    }
    Ok(())
}

/// The operator's side of the tour.
fn operate(cfg: &Config, pid: Pid, file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let until = |what: &str, cond: &dyn Fn() -> bool| -> Result<(), String> {
        while !cond() {
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    };
    let open = || SharedMemory::<Status>::open(&cfg.status).ok();
    until("the daemon to run", &|| {
        open().is_some_and(|b| b.state() == State::Running)
    })?;
    let board = open().ok_or("no status segment")?;
    let queue = MessageQueue::open(&cfg.queue)?;
    let jobs = [
        Job::checksum(1, file).ok_or("path too long")?,
        Job::sleep(2, 20),
        Job::new(3, Kind::Fail),
        Job::new(4, Kind::Crash),
    ];
    for job in &jobs {
        queue.send(&job.encode(), 0)?;
    }
    until("four jobs to end", &|| {
        board.done.load(Relaxed) + board.failed.load(Relaxed) == 4
    })?;
    signal::kill(pid, Signal::USR1)?;
    until("the status line", &|| board.reports.load(Relaxed) == 1)?;
    signal::kill(pid, Signal::TERM)?;
    Ok(())
}
