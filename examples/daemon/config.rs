//! The daemon's flags.

use std::path::PathBuf;

use mproc::config::POOL_MAX_WORKERS;

use super::jobs::{DEFAULT_LOG, DEFAULT_PIDFILE, DEFAULT_QUEUE, DEFAULT_STATUS};

/// The command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// `--pidfile`.
    pub pidfile: PathBuf,
    /// `--log`.
    pub log: PathBuf,
    /// `--queue`.
    pub queue: String,
    /// `--status`.
    pub status: String,
    /// `--workers`.
    pub workers: usize,
    /// `--task-timeout`, ms (0: none).
    pub task_timeout_ms: u64,
    /// `--grace`, ms.
    pub grace_ms: u64,
    /// `--queue-depth`.
    pub queue_depth: usize,
    /// `--backlog`.
    pub backlog: usize,
    /// `--max-jobs` (0: never).
    pub max_jobs: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            pidfile: DEFAULT_PIDFILE.into(),
            log: DEFAULT_LOG.into(),
            queue: DEFAULT_QUEUE.into(),
            status: DEFAULT_STATUS.into(),
            workers: 2,
            task_timeout_ms: 2000,
            grace_ms: 10_000,
            queue_depth: 10,
            backlog: 1024,
            max_jobs: 0,
        }
    }
}

const USAGE: &str = "usage: daemon [--pidfile PATH] [--log PATH] [--queue NAME] [--status NAME] \
[--workers N] [--task-timeout MS] [--grace MS] [--queue-depth N] [--backlog N] [--max-jobs N]";

impl Config {
    /// Parses the flags (without the program name).
    ///
    /// # Errors
    ///
    /// A message naming the flag, or the usage for `--help`.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
        let mut c = Config::default();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.into());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let number = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag} takes a number, not {v:?}"))
            };
            match flag.as_str() {
                "--pidfile" => c.pidfile = value.into(),
                "--log" => c.log = value.into(),
                "--queue" => c.queue = value,
                "--status" => c.status = value,
                "--workers" => c.workers = number(&value)? as usize,
                "--task-timeout" => c.task_timeout_ms = number(&value)?,
                "--grace" => c.grace_ms = number(&value)?,
                "--queue-depth" => c.queue_depth = number(&value)? as usize,
                "--backlog" => c.backlog = number(&value)? as usize,
                "--max-jobs" => c.max_jobs = number(&value)?,
                _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
            }
        }
        if c.workers == 0 || c.workers > POOL_MAX_WORKERS {
            return Err(format!(
                "--workers is 1 to {POOL_MAX_WORKERS} (MPROC_POOL_MAX_WORKERS)"
            ));
        }
        if c.queue_depth == 0 || c.backlog == 0 {
            return Err("--queue-depth and --backlog are at least 1".into());
        }
        Ok(c)
    }
}
