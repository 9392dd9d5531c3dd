//! A pre-fork daemon steered with signals, the way an operator runs one:
//! jobs arrive on a POSIX message queue, a static pool of forked workers
//! runs them, one line per job goes to a log file, counters live in a
//! named status segment that other programs read (`examples/status.rs`),
//! and `kill` steers it as gunicorn's and nginx's masters are steered.
//! `examples/submit.rs` sends it jobs.
//!
//! ```text
//! cargo build --examples && cd target/debug/examples
//! ./daemon --pidfile /tmp/jobs.pid --log /tmp/jobs.log --queue /jobs --status /jobs-status &
//! ./submit --queue /jobs checksum /etc/hosts
//! kill -USR1 $(cat /tmp/jobs.pid); tail -n 2 /tmp/jobs.log
//! kill -TERM $(cat /tmp/jobs.pid)
//! ```
//!
//! Flags (all optional): `--pidfile PATH` (`/tmp/mproc-daemon.pid`),
//! `--log PATH` (`/tmp/mproc-daemon.log`), `--queue NAME`
//! (`/mproc-daemon-jobs`), `--status NAME` (`/mproc-daemon-status`),
//! `--workers N` (2), `--task-timeout MS` (2000; 0: none), `--grace MS`
//! (10000), `--queue-depth N` (10, the kernel's default
//! `/proc/sys/fs/mqueue/msg_max` for an unprivileged user), `--backlog N`
//! (1024), `--max-jobs N` (0: never; otherwise each worker is replaced
//! after N jobs, plus up to N/4 more drawn per worker, gunicorn's
//! `max_requests` and `max_requests_jitter`). It stays in the foreground
//! (run it under systemd, or with `&`); its output is the log file.
//!
//! # Signals
//!
//! | signal | what the daemon does | convention |
//! |---|---|---|
//! | `USR1` | reopens the log file by its path (after logrotate moved it) and writes one status line to it | gunicorn `USR1`, nginx `USR1` |
//! | `USR2` | writes one line per worker: pid, age, jobs run, resident set | (both use `USR2` for a binary upgrade, which a fork-only pool has no use for) |
//! | `HUP` | replaces every worker: each finishes its job, exits, and a fresh fork takes its place; no job is lost | gunicorn `HUP`, nginx `HUP` |
//! | `TTIN` / `TTOU` | one worker more / fewer, within `MPROC_POOL_MAX_WORKERS`, never fewer than 1 | gunicorn `TTIN`/`TTOU` |
//! | `WINCH` | stops every worker (each finishes its job); the master stays, `idle`, and keeps accepting jobs; `TTIN` brings a worker back | gunicorn and nginx `WINCH` |
//! | `TERM` | drains: takes no new jobs, finishes the accepted ones within `--grace`, then `SIGKILL`s what is left; exits 0 and removes its pidfile, status segment and queue | gunicorn `TERM`, nginx `QUIT` |
//! | `INT`, `QUIT` | stops at once: the workers are terminated (`SIGTERM`, `SIGKILL` half a second later), unfinished jobs are reported failed; exits 0 and cleans up | gunicorn `INT`/`QUIT`, nginx `TERM`/`INT` |
//! | `CHLD` | not taken: the pool watches each worker's pidfd in the same wait, reaps a worker that ends and forks its replacement | (the master's `SIGCHLD` handler in gunicorn and nginx) |
//!
//! Signals are blocked and read from a `signalfd` in the one wait of the
//! main loop ([`MainLoop::wait_pool`]), which also watches the job queue
//! and the workers: no handler runs asynchronously, and nothing is
//! polled.
//!
//! # Under systemd
//!
//! Run as a `Type=notify` service, it says `READY=1` with its status line
//! once its pool is up, sends its status line again on `USR1`,
//! `RELOADING=1` then `READY=1` on `HUP`, `STOPPING=1` on `TERM`, `INT` and
//! `QUIT`; with `WatchdogSec=` it pings (`WATCHDOG=1`, every half interval)
//! only while `Pool::healthy` holds: every worker alive, no job past the
//! task timeout. Outside systemd none of this happens.
//!
//! # After `kill -9`
//!
//! A daemon killed with `SIGKILL` (or by the OOM killer) cannot clean up:
//! its pidfile, status segment and job queue stay (its workers die with
//! it: the pool forks them with `PR_SET_PDEATHSIG`). Started again on the
//! same names, the daemon takes each of them over through the library's
//! reclaim paths ([`Pidfile::create`], [`SharedMemory::reclaim`],
//! [`MessageQueue::reclaim`]), which remove only what they recognise as
//! left by an `mproc` process that is gone, and writes one log line for
//! each: `took over the status segment /jobs-status of pid 4242, which is
//! gone`. Jobs that were in the dead daemon's queue are lost with it. A
//! live daemon on the pidfile is still refused (`already running`), and a
//! name held by anything else (another program's queue, a file that is not
//! a pidfile) stops the start with an error that says what was found,
//! leaving it untouched.
//!
//! # Jobs
//!
//! A job is one message of [`JOB_BYTES`] (256) bytes, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | id (`u64`), chosen by the submitter |
//! | 8..12 | kind (`u32`): 1 `checksum`, 2 `sleep`, 3 `fail`, 4 `crash`, 5 `overrun` |
//! | 12..16 | length of the path (`u32`), at most 232 |
//! | 16..24 | milliseconds (`u64`), for `sleep` |
//! | 24..256 | the path, for `checksum` (absolute: the daemon's working directory is not the submitter's) |
//!
//! - `checksum FILE`: the worker reads the file and answers its CRC-32
//!   (the one of zlib, gzip and Python's `zlib.crc32`) and its length.
//! - `sleep MS`: the worker sleeps.
//! - `fail`: the task returns an error.
//! - `crash`: the worker kills itself with `SIGKILL`.
//! - `overrun`: the worker sleeps five seconds past `--task-timeout`; the pool
//!   stops it (`SIGTERM`, then `SIGKILL`), fails the job as timed out and
//!   forks a replacement.
//!
//! Every job that was accepted gets exactly one line in the log:
//! `job <id> done <result> (pid <worker>)` or `job <id> failed <reason>`.
//!
//! # The life of a job, and the choices made
//!
//! - **Accepted** means taken from the message queue. The daemon takes
//!   messages into its own backlog (`--backlog`, allocated once at start)
//!   and hands them to the pool as slots free up: at most
//!   `MPROC_POOL_SLOTS` jobs are in the pool at once (back-pressure; a
//!   submission never waits for a slot). The backlog exists because the
//!   kernel lets an unprivileged user's queue hold only 10 messages
//!   (`msg_max`); when the backlog is full the daemon stops reading, the
//!   queue fills, and submitters wait.
//! - **A worker that dies mid-job** (`kill -9`, the OOM killer, a `crash`
//!   job) fails exactly that job, with the worker's pid and signal in the
//!   reason, and the pool forks a replacement. The job is **not retried**:
//!   a job that kills its worker would kill the next one too (a poison
//!   message); resubmitting is the submitter's decision.
//! - **`TERM`**: the jobs waiting in the message queue at that moment count
//!   as accepted (they are taken, and done); the queue's name is removed at
//!   once, so later submitters are told the daemon is gone, and anything
//!   sent after that by a submitter that had the queue open already is not
//!   accepted (the final log line counts it). If `WINCH` had stopped the
//!   workers, they are brought back for the drain. When the grace period
//!   runs out, the workers still running are sent `SIGKILL` and every
//!   unfinished job is reported failed.
//! - **Counters** in the status segment ([`Status`]): `workers`,
//!   `target_workers`, `queued` (accepted, not ended: backlog and pool),
//!   `done`, `failed`, `forks` (workers forked since the start, `Pool::forks`),
//!   `reports` (`USR1` lines written), `rss_kib` (the master's), and four
//!   of the daemon's own: `user[0]` jobs accepted, `user[1]` jobs started
//!   by a worker (the worker counts it, through the segment it inherited),
//!   `user[2]` jobs timed out, `user[3]` messages waiting in the queue.
//!   A job is counted (`done`, `failed`) after its log line is written,
//!   and a report after its status line: a reader that sees a count sees
//!   the lines. The lines of one turn of the master's loop go out in one
//!   `write`, then their jobs are counted. `rss_kib` and `user[3]` cost
//!   system calls: they are refreshed at most every 100 ms while the
//!   daemon is busy (and once after it goes idle), and at once by a
//!   report; the other counters are always current.
//!
//! # Files
//!
//! `main.rs` (this: the flags' entry), `jobs.rs` (the job message and
//! what a worker does with it), `config.rs` (the flags), `master.rs` (the
//! master's set-up and loop: queue, pool, status segment, systemd),
//! `steer.rs` (what each signal does, and the shut-down after the loop),
//! `state.rs` (what the loop and the pool's callbacks share: the log, the
//! board, the workers seen, and what a job's end, a report and a refresh
//! do to them), `tour.rs` (the tour's scenario).

#[path = "config.rs"]
mod config;
#[path = "jobs.rs"]
mod jobs;
#[path = "master.rs"]
mod master;
#[path = "state.rs"]
mod state;
#[path = "steer.rs"]
mod steer;
#[path = "tour.rs"]
mod tour;

// What the tour, `submit`, `status` and the daemon bench take from here
// (each a part of it).
#[allow(unused_imports)]
pub use config::Config;
#[allow(unused_imports)]
pub use jobs::{
    ACCEPTED, DEFAULT_LOG, DEFAULT_PIDFILE, DEFAULT_QUEUE, DEFAULT_STATUS, JOB_BYTES, Job, Kind,
    PATH_BYTES, Rejected, Reply, STARTED, TIMEOUTS, Text, WAITING, crc32,
};
#[allow(unused_imports)]
pub use master::serve;
#[allow(unused_imports)]
pub use state::StatusLine;
#[allow(unused_imports)]
pub use tour::run;

#[allow(dead_code)] // unused when the tour includes this file
fn main() {
    let cfg = match Config::parse(std::env::args().skip(1)) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = serve(&cfg) {
        eprintln!("daemon: {e}");
        std::process::exit(1);
    }
}
