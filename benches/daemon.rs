//! Daemon benchmarks: the example daemon (`examples/daemon/`) as an
//! operator runs it, from its release binary, steered from this process
//! the way `tests/operator/` steers it; the numbers a firmware team asks
//! first.
//!
//! 1. **`USR1` → status report latency**: this process sends `SIGUSR1`
//!    ([`mproc::signal::kill`]) to an idle daemon (2 workers, default
//!    flags) and times, in one tight poll loop, until the log file has
//!    grown by the `status #n` line (`fstat` of a descriptor open on the
//!    log: its size; the line is then read back and checked) and until the
//!    status segment's `reports` counter reads `n` (the daemon stores it
//!    right after writing the line). Each poll iteration does both checks,
//!    so the resolution is one iteration (its median length is reported).
//!    The daemon is left idle for a few milliseconds before each signal, so
//!    every signal finds it parked in its one wait (`MainLoop::wait_pool`).
//!    Median, p90 (nearest rank) and min–max over the signals, in two
//!    placements: unpinned (the woken master usually takes this process's
//!    CPU at once, so the first poll, when this process runs again, finds
//!    the line already: the figure is then when the master went back to
//!    sleep, an upper bound; the output counts those signals), and apart
//!    (this process pinned to the CPU it runs on, the daemon to the others:
//!    a cross-CPU wake-up, and a poll resolution under a microsecond). Also
//!    the master's CPU time per report: its CPU clock
//!    (`clock_getcpuclockid`) read before each signal.
//! 2. **Job throughput**: `N` tiny jobs (`sleep 0`: the worker's task is a
//!    zero sleep, which makes no system call) sent by this process with
//!    [`MessageQueue::send`] straight to the daemon's queue (the job layout
//!    of `examples/daemon/`, included here as a module), timed from the
//!    first send until the status segment's `done` counter has grown by
//!    `N` (polled every 50 µs while this process is not blocked in
//!    `mq_send`). One daemon with 1 worker and one with 2, started once,
//!    measured in turn every round (the order swapped every round), default
//!    flags otherwise (queue depth 10, backlog 1024, task timeout 2 s). Every
//!    run checks that no job failed and that no worker was replaced. A second
//!    table shows where the time went: the CPU time (per job) of the master
//!    (its CPU clock, `clock_getcpuclockid`), of the workers and of this
//!    sending process over the run.
//! 3. **Memory**: `Rss`, `Pss`, USS (`Private_Clean + Private_Dirty`) and
//!    `Private_Dirty` of the master and of a worker (the larger of the two
//!    by `Rss`), from
//!    `/proc/<pid>/smaps_rollup`, on a fresh daemon (2 workers) once it has
//!    started and every process sleeps, and again once it has run `M`
//!    `sleep 0` jobs and sleeps again. For the release binary and, where it
//!    builds, the static one.
//! 4. **Binary size**: the release `daemon` and `submit` binaries as built
//!    and stripped (a copy, by `strip`, or `objcopy --strip-all`), and the
//!    shared libraries they need (`readelf -d`). The static variant: built
//!    with `RUSTFLAGS=-C target-feature=+crt-static` for the host's
//!    `*-linux-gnu` triple into `target/bench-static` (its own target
//!    directory, so the ordinary release build is not invalidated); on a
//!    `*-linux-musl` host the release binary is static already; elsewhere
//!    the table says why there is none. A quick run skips that build.
//!
//! The binaries are `target/release/examples/{daemon,submit}`, built from
//! here by `cargo build --release --example daemon --example submit` (a
//! no-op when they are fresh), as `tests/operator/` does for its
//! profile. Each daemon runs on names of its own (`/mproc-bd-<pid>-<n>-q`
//! and `-s`, a scratch directory for its pidfile and log), in its own
//! process group, with `PR_SET_PDEATHSIG` = `SIGTERM` (if this bench dies,
//! its daemons drain and clean up). Each is stopped with `SIGTERM` and must
//! exit 0 and leave no pidfile, status segment, queue or process; a guard
//! kills what is left of one that misbehaves and removes its names.
//!
//! **Stalls.** A run whose daemon does no job for 250 ms while its master
//! and every worker sleep has stalled: jobs a worker finished are not
//! collected by the master until something else wakes it. The bench
//! records the daemon's counters, wakes the master with `SIGUSR1` (which
//! collects them), runs the sample again (at most 5 tries), prints every
//! stall after the tables, and then fails (exit status 1): a stall is the
//! daemon misbehaving, not noise.
//!
//! Nothing is pinned but the second `USR1` placement: the daemon needs the
//! machine's cores.
//!
//! Run it with `cargo bench --bench daemon` (or `scripts/bench.sh`).
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test of a
//! few seconds (and skips the static build).
//!
//! The harness is not libtest (`harness = false`): this process stays
//! single-threaded.

#![allow(unsafe_code)] // The watchdog, the CPU clocks of `common` and the daemon's PR_SET_PDEATHSIG call libc directly.

#[path = "common/mod.rs"]
#[allow(dead_code)] // This bench uses a few of the helpers, not all.
mod common;

#[allow(dead_code)]
#[path = "../tests/common/procs.rs"]
mod procs;

#[path = "../examples/daemon/main.rs"]
#[allow(dead_code)] // the daemon's own `main`, and what only it uses
mod daemon;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use daemon::Job;
use mproc::ErrorKind;
use mproc::daemon::{State, Status};
use mproc::ipc::MessageQueue;
use mproc::process::Pid;
use mproc::shm::SharedMemory;
use mproc::signal::{self, Signal};

/// Sizes of one run.
struct Plan {
    /// `USR1` signals measured.
    signals: usize,
    /// `USR1` signals sent first, not recorded.
    warm_signals: usize,
    /// Idle time before each signal.
    gap: Duration,
    /// Measured throughput rounds (each runs both daemons once).
    rounds: usize,
    /// Jobs per throughput run (a tenth in the warm-up round).
    jobs: u32,
    /// Jobs between the two memory snapshots.
    memory_jobs: u32,
    /// How long every process of a daemon must have been asleep before a
    /// memory snapshot.
    settle: Duration,
    /// Whether to build the static variant.
    static_build: bool,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                signals: 10,
                warm_signals: 2,
                gap: Duration::from_millis(5),
                rounds: 1,
                jobs: 500,
                memory_jobs: 1_000,
                settle: Duration::from_millis(20),
                static_build: false,
            }
        } else {
            Plan {
                signals: 200,
                warm_signals: 10,
                gap: Duration::from_millis(5),
                rounds: 7,
                jobs: 50_000,
                memory_jobs: 10_000,
                settle: Duration::from_millis(200),
                static_build: true,
            }
        }
    }
}

/// Worker counts of the throughput daemons.
const WORKER_COUNTS: [usize; 2] = [1, 2];
/// How long one run may take before the watchdog ends the bench.
const PATIENCE: Duration = Duration::from_secs(120);
/// How long a build of the binaries may take.
const BUILD_PATIENCE: Duration = Duration::from_secs(900);
/// The longest wait for one observable step (start-up, a report, an exit).
const STEP: Duration = Duration::from_secs(30);
/// The poll interval while waiting for the jobs of a throughput run.
const JOB_POLL: Duration = Duration::from_micros(50);
/// No job done for this long, every process of the daemon asleep: a stall.
const STALL: Duration = Duration::from_millis(250);
/// Runs tried for one throughput sample before a stalling daemon fails the
/// bench.
const TRIES: usize = 5;

fn main() -> ExitCode {
    exit_code("daemon", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let plan = Plan::from_env();
    let load = load_average();
    watchdog::install("daemon")?;
    let bins = guarded("building the daemon binaries", BUILD_PATIENCE, || {
        binaries(&plan)
    })?;
    let m = benches(&plan, &bins)?;

    let mut out = String::new();
    machine_with_load(&mut out, "daemon", Some("not used by this bench"), &load);
    let _ = writeln!(
        out,
        "- method: the release binary `{}` (the example daemon), started from this process \
         on names of its own, default flags unless said. USR1: {} signals after {} unrecorded \
         ones, each after {} ms idle, sent with kill(2) from this process to a daemon with 2 \
         workers; the time until the log file's size grows by the `status #n` line (fstat of a \
         descriptor on the log, the line read back and checked) and until the status \
         segment's `reports` counter reads n, both in one tight poll loop; unpinned, then \
         apart (this process on its CPU, the daemon on the others). Throughput: {} \
         rounds after a warm-up round (a tenth of the size); {} `sleep 0` jobs per run sent \
         with `MessageQueue::send` (256-byte messages, queue depth 10, blocking when full), \
         timed from the first send until `done` has grown by that many (polled every {} µs); \
         a daemon with 1 worker and one with 2, in turn, the order swapped every round; \
         medians over the rounds. Memory: /proc/<pid>/smaps_rollup of a fresh 2-worker \
         daemon once every process has slept {} ms, before and after {} `sleep 0` jobs. Every \
         daemon is stopped with SIGTERM and must exit 0 leaving nothing behind. Not pinned \
         but for the USR1 placement \"apart\". A run with no job done for {} ms while every \
         process of the daemon sleeps is a stall: reported below, made again, and the bench \
         fails.{}\n",
        bins.daemon.display(),
        plan.signals,
        plan.warm_signals,
        plan.gap.as_millis(),
        plan.rounds,
        plan.jobs,
        JOB_POLL.as_micros(),
        plan.settle.as_millis(),
        plan.memory_jobs,
        STALL.as_millis(),
        quick_note(),
    );
    report(&mut out, &plan, &bins, &m);
    print_report(out, started);
    if m.stalls.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the daemon stalled {} time(s): jobs its workers had finished were not collected \
             until a signal woke its master (see \"Stalls\" above)",
            m.stalls.len()
        )
        .into())
    }
}

/// Everything [`benches`] measured.
struct Measured {
    usr1: Vec<Latency>,
    throughput: Vec<Throughput>,
    /// Per binary (the release one, then the static one if any).
    memory: Vec<(&'static str, Memory)>,
    /// Every stall of the daemon the bench saw.
    stalls: Vec<String>,
}

fn benches(plan: &Plan, bins: &Binaries) -> Result<Measured> {
    let mut stalls = Vec::new();
    let usr1 = bench_usr1(plan, bins)?;
    let throughput = bench_throughput(plan, bins, &mut stalls)?;
    let mut memory = vec![(
        "release",
        guarded("memory, release binary", PATIENCE, || {
            bench_memory(plan, "release", &bins.daemon, &mut stalls)
        })?,
    )];
    if let Ok((path, _)) = &bins.static_bins {
        memory.push((
            "static",
            guarded("memory, static binary", PATIENCE, || {
                bench_memory(plan, "static", path, &mut stalls)
            })?,
        ));
    }
    Ok(Measured {
        usr1,
        throughput,
        memory,
        stalls,
    })
}

// ------------------------------------------------------------- binaries

/// The binaries measured.
struct Binaries {
    daemon: PathBuf,
    submit: PathBuf,
    /// The static `daemon` and `submit`, or why there are none.
    static_bins: std::result::Result<(PathBuf, PathBuf), String>,
}

/// Builds (if need be) and finds the release binaries, and the static ones
/// unless `plan` says not to.
fn binaries(plan: &Plan) -> Result<Binaries> {
    let exe = std::env::current_exe()?;
    // target/[<triple>/]<profile>/deps/daemon-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the bench executable does not live in <target>/<profile>/deps")?
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .unwrap_or("release")
        .to_owned();
    let parent = profile_dir.parent().ok_or("no target directory")?;
    let (target_dir, triple) = if parent.join("CACHEDIR.TAG").exists() {
        (parent.to_path_buf(), None)
    } else {
        let triple = parent.file_name().map(|t| t.to_owned());
        let dir = parent.parent().ok_or("no target directory")?.to_path_buf();
        (dir, triple)
    };
    if let Some(cargo) = cargo() {
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--quiet",
            "--example",
            "daemon",
            "--example",
            "submit",
        ]);
        match profile.as_str() {
            "release" => {
                cmd.arg("--release");
            }
            "debug" => {}
            other => {
                cmd.args(["--profile", other]);
            }
        }
        cmd.arg("--target-dir").arg(&target_dir);
        if let Some(triple) = &triple {
            cmd.arg("--target").arg(triple);
        }
        let out = cmd.output()?;
        if !out.status.success() {
            return Err(format!(
                "building the examples failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
    } else {
        eprintln!("bench daemon: no cargo to build the examples; using them as built");
    }
    let dir = profile_dir.join("examples");
    let (daemon, submit) = (dir.join("daemon"), dir.join("submit"));
    for bin in [&daemon, &submit] {
        if !bin.exists() {
            return Err(format!(
                "{} is missing: cargo build --release --example daemon --example submit",
                bin.display()
            )
            .into());
        }
    }
    let static_bins = if plan.static_build {
        build_static(&target_dir)
    } else {
        Err("not built in a quick run".to_owned())
    };
    Ok(Binaries {
        daemon,
        submit,
        static_bins,
    })
}

fn cargo() -> Option<OsString> {
    std::env::var_os("CARGO").or_else(|| option_env!("CARGO").map(Into::into))
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> std::result::Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV names no host".to_owned())
}

/// The `+crt-static` release build of `daemon` and `submit` for the host,
/// in `<target>/bench-static`; or why there is none.
fn build_static(target_dir: &Path) -> std::result::Result<(PathBuf, PathBuf), String> {
    let host = host_triple()?;
    if host.ends_with("-linux-musl") || host.contains("-linux-musl") {
        return Err(format!(
            "{host}: the release binaries above are static already (musl)"
        ));
    }
    if !host.contains("-linux-gnu") {
        return Err(format!(
            "{host}: no static variant is tried for this target"
        ));
    }
    let cargo = cargo().ok_or("no cargo to build it")?;
    let dir = target_dir.join("bench-static");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "--release",
            "--example",
            "daemon",
            "--example",
            "submit",
            "--target",
            &host,
        ])
        .arg("--target-dir")
        .arg(&dir);
    // The user's flags, plus static linking; `--target` keeps them off the
    // build scripts.
    match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(flags) if !flags.is_empty() => {
            cmd.env(
                "CARGO_ENCODED_RUSTFLAGS",
                format!("{flags}\x1f-C\x1ftarget-feature=+crt-static"),
            );
        }
        _ => {
            let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
            cmd.env_remove("CARGO_ENCODED_RUSTFLAGS").env(
                "RUSTFLAGS",
                format!("{flags} -C target-feature=+crt-static").trim(),
            );
        }
    }
    let out = cmd.output().map_err(|e| format!("cargo build: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("cargo build failed");
        return Err(format!("`+crt-static` for {host} did not build: {why}"));
    }
    let examples = dir.join(&host).join("release").join("examples");
    let (daemon, submit) = (examples.join("daemon"), examples.join("submit"));
    if !daemon.exists() || !submit.exists() {
        return Err(format!("{} is missing after the build", daemon.display()));
    }
    if needed_libraries(&daemon).is_some_and(|libs| !libs.is_empty()) {
        return Err(format!(
            "`+crt-static` for {host} built, but {} still needs shared libraries",
            daemon.display()
        ));
    }
    Ok((daemon, submit))
}

/// The shared libraries `bin` needs (its `NEEDED` entries, `readelf -d`);
/// `None` without `readelf`.
fn needed_libraries(bin: &Path) -> Option<Vec<String>> {
    let out = Command::new("readelf").arg("-d").arg(bin).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .filter_map(|l| {
                let (_, rest) = l.split_once('[')?;
                Some(rest.split_once(']')?.0.to_owned())
            })
            .collect(),
    )
}

/// The size of `bin` stripped: a copy stripped by `strip` (or `objcopy
/// --strip-all`), measured and removed; `None` without either tool.
fn stripped_size(bin: &Path, scratch: &Path) -> Option<u64> {
    let copy = scratch.join(format!("{}.stripped", bin.file_name()?.to_string_lossy()));
    let tools: [(&str, &[&str]); 2] = [("strip", &["-o"]), ("objcopy", &["--strip-all"])];
    for (tool, args) in tools {
        let mut cmd = Command::new(tool);
        if tool == "strip" {
            cmd.args(args).arg(&copy).arg(bin);
        } else {
            cmd.args(args).arg(bin).arg(&copy);
        }
        let ok = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let size = std::fs::metadata(&copy).ok().map(|m| m.len());
            let _ = std::fs::remove_file(&copy);
            return size;
        }
    }
    None
}

// --------------------------------------------------------------- a daemon

/// One daemon started from a binary, on names of its own. Dropping it
/// kills what is left of it (its process group) and removes its names and
/// its scratch directory.
struct Daemon {
    child: Child,
    pid: Pid,
    workers: usize,
    dir: PathBuf,
    pidfile: PathBuf,
    log: PathBuf,
    queue: String,
    status: String,
    board: Option<SharedMemory<Status>>,
    exited: bool,
}

impl Daemon {
    /// Starts `bin` with `workers` workers (and default flags otherwise),
    /// on the CPUs `cpus` (`None`: this process's), and waits until it runs
    /// with all of them.
    fn start(bin: &Path, workers: usize, cpus: Option<libc::cpu_set_t>) -> Result<Daemon> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mproc-bd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        let (pidfile, log) = (dir.join("daemon.pid"), dir.join("daemon.log"));
        let (queue, status) = (format!("/{name}-q"), format!("/{name}-s"));
        let stderr = File::create(dir.join("stderr"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("--pidfile")
            .arg(&pidfile)
            .arg("--log")
            .arg(&log)
            .args(["--queue", &queue, "--status", &status])
            .args(["--workers", &workers.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own group: the workers join it, and the guard kills the
            // whole group.
            .process_group(0);
        // SAFETY: between fork and exec the child only makes two system
        // calls, prctl(2) and sched_setaffinity(2), which are
        // async-signal-safe; the latter reads the set copied into the
        // closure.
        unsafe {
            cmd.pre_exec(move || {
                // If the bench dies (its watchdog), the daemon drains and
                // removes its names.
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGTERM as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(set) = &cpus
                    && libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("spawning {}: {e}", bin.display()).into());
            }
        };
        let pid = Pid::from_raw(child.id() as i32).ok_or("the daemon has no pid")?;
        let mut d = Daemon {
            child,
            pid,
            workers,
            dir,
            pidfile,
            log,
            queue,
            status,
            board: None,
            exited: false,
        };
        d.until("its pidfile and status segment", |d| {
            std::fs::read_to_string(&d.pidfile).is_ok_and(|t| t.trim() == d.pid.to_string())
                && SharedMemory::<Status>::open(&d.status)
                    .is_ok_and(|b| b.state() == State::Running)
        })?;
        d.board = Some(SharedMemory::<Status>::open(&d.status)?);
        d.until("all its workers", |d| {
            d.board().workers.load(Relaxed) as usize == d.workers
                && d.worker_pids().len() == d.workers
        })?;
        Ok(d)
    }

    /// The status segment.
    fn board(&self) -> &Status {
        self.board.as_ref().expect("opened by Daemon::start")
    }

    /// The daemon's live workers, as the kernel lists them, lowest pid
    /// first.
    fn worker_pids(&self) -> Vec<i32> {
        procs::live_children(self.pid.as_raw())
    }

    /// Whether the master and all its workers sleep (`S` in
    /// `/proc/<pid>/stat`).
    fn all_asleep(&self) -> bool {
        let all = procs::processes();
        let master = all
            .iter()
            .any(|p| p.pid == self.pid.as_raw() && p.state == 'S');
        let workers: Vec<char> = all
            .iter()
            .filter(|p| p.ppid == self.pid.as_raw() && p.state != 'Z')
            .map(|p| p.state)
            .collect();
        master && workers.len() == self.workers && workers.iter().all(|&s| s == 'S')
    }

    /// Waits until every process of the daemon has slept for `settle`
    /// (looked at before and after).
    fn settle(&mut self, settle: Duration) -> Result<()> {
        let deadline = Instant::now() + STEP;
        loop {
            self.until("every process asleep", Daemon::all_asleep)?;
            std::thread::sleep(settle);
            if self.all_asleep() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the daemon's processes did not stay asleep for {settle:?} within {STEP:?}\n{}",
                    self.dump()
                )
                .into());
            }
        }
    }

    /// Waits until `cond` holds; fails (with what the daemon said) after
    /// [`STEP`] or if the daemon exits meanwhile.
    fn until(&mut self, what: &str, cond: impl Fn(&Daemon) -> bool) -> Result<()> {
        let deadline = Instant::now() + STEP;
        loop {
            if cond(self) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = true;
                return Err(format!(
                    "the daemon exited ({status}) while the bench waited for {what}\n{}",
                    self.dump()
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out ({STEP:?}) waiting for {what} of the daemon\n{}",
                    self.dump()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops it with `SIGTERM`: it must exit 0 and leave no pidfile,
    /// status segment, queue or process.
    fn stop(mut self) -> Result<()> {
        signal::kill(self.pid, Signal::TERM)?;
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                break status;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the daemon did not exit within {STEP:?} of SIGTERM\n{}",
                    self.dump()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let mut left = Vec::new();
        if status.code() != Some(0) {
            left.push(format!("exit status {status}"));
        }
        if self.pidfile.exists() {
            left.push("its pidfile".to_owned());
        }
        if still_there(SharedMemory::<Status>::open(&self.status)) {
            left.push(format!("its status segment {}", self.status));
        }
        if still_there(MessageQueue::open(&self.queue)) {
            left.push(format!("its queue {}", self.queue));
        }
        let group = procs::live_group(self.pid.as_raw());
        if !group.is_empty() {
            left.push(format!("processes {group:?}"));
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "after SIGTERM the daemon left: {}\n{}",
                left.join(", "),
                self.dump()
            )
            .into())
        }
    }

    /// Its stderr, status and the end of its log, for an error message.
    fn dump(&self) -> String {
        let stderr = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        let status = self.board.as_ref().map(|b| b.snapshot().to_string());
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        format!("status: {status:?}\nstderr: {stderr}\nlast log lines:\n{tail}")
    }
}

/// Whether what `opened` tried to open is there (any answer but
/// `NotFound`).
fn still_there<T>(opened: mproc::Result<T>) -> bool {
    !matches!(opened, Err(e) if e.kind() == ErrorKind::NotFound)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.exited && !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = signal::killpg(self.pid, Signal::KILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.board = None;
        let _ = SharedMemory::<Status>::reclaim(&self.status);
        if let Ok(mut q) = MessageQueue::open(&self.queue) {
            let _ = q.unlink();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ------------------------------------------------------------------- USR1

/// Per signal: µs to the line, µs to the counter, ns per poll iteration.
#[derive(Default)]
struct Latency {
    /// Where the bench and the daemon ran.
    placement: String,
    line: Vec<f64>,
    counter: Vec<f64>,
    poll_ns: Vec<f64>,
    /// Signals whose line the first poll found already (the bench was off
    /// its CPU while the daemon answered).
    first_look: usize,
    /// The master's CPU time per report, µs: its CPU clock read before
    /// each signal, after the gap (by then it sleeps again).
    master_us: Vec<f64>,
}

/// Both placements: unpinned, then (with 2 CPUs or more) the bench on its
/// CPU and the daemon on the others.
fn bench_usr1(plan: &Plan, bins: &Binaries) -> Result<Vec<Latency>> {
    let mut all = vec![guarded("USR1 latency, unpinned", PATIENCE, || {
        usr1_run(plan, bins, "unpinned: bench and daemon on any CPU", None)
    })?];
    let cpus = get_affinity()?;
    // SAFETY: sched_getcpu has no preconditions.
    let here = usize::try_from(unsafe { libc::sched_getcpu() }).ok();
    let others: Vec<usize> = cpus_of(&cpus)
        .into_iter()
        .filter(|&c| Some(c) != here)
        .collect();
    if let (Some(here), false) = (here, others.is_empty()) {
        let mut set = empty_cpu_set();
        for &c in &others {
            // SAFETY: CPU_SET writes inside the set for c < CPU_SETSIZE
            // (cpus_of lists no other).
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        let mut mine = empty_cpu_set();
        // SAFETY: as above; `here` is a CPU this process runs on.
        unsafe { libc::CPU_SET(here, &mut mine) };
        set_affinity(&mine)?;
        let placement = format!("apart: the bench on CPU {here}, the daemon on CPU {others:?}");
        let run = guarded("USR1 latency, apart", PATIENCE, || {
            usr1_run(plan, bins, &placement, Some(set))
        });
        set_affinity(&cpus)?;
        all.push(run?);
    }
    Ok(all)
}

fn usr1_run(
    plan: &Plan,
    bins: &Binaries,
    placement: &str,
    cpus: Option<libc::cpu_set_t>,
) -> Result<Latency> {
    let mut d = Daemon::start(&bins.daemon, 2, cpus)?;
    d.settle(plan.settle)?;
    let mut log = File::open(&d.log)?;
    let mut s = Latency {
        placement: placement.to_owned(),
        ..Latency::default()
    };
    let mut text = String::new();
    let master = d.pid.as_raw();
    let mut cpu_before: Option<Usage> = None;
    for i in 0..=plan.warm_signals + plan.signals {
        std::thread::sleep(plan.gap);
        // What the master used since the last signal: the last report.
        let cpu = Usage::of_pid(master);
        if i > plan.warm_signals
            && let (Some(now), Some(then)) = (cpu, cpu_before)
        {
            s.master_us.push(now.since(then).cpu_ns as f64 / 1e3);
        }
        cpu_before = cpu;
        if i == plan.warm_signals + plan.signals {
            break;
        }
        let board = d.board();
        let n = board.reports.load(Relaxed) + 1;
        let before = log.metadata()?.len();
        let start = Instant::now();
        signal::kill(d.pid, Signal::USR1)?;
        let (mut line, mut counter, mut polls, mut first) = (None, None, 0u64, false);
        while line.is_none() || counter.is_none() {
            polls += 1;
            if line.is_none() && log.metadata()?.len() > before {
                line = Some(start.elapsed());
                first = polls == 1;
            }
            if counter.is_none() && board.reports.load(Relaxed) >= n {
                counter = Some(start.elapsed());
            }
            if start.elapsed() > STEP {
                return Err(format!(
                    "no status line {n} within {STEP:?} of SIGUSR1\n{}",
                    d.dump()
                )
                .into());
            }
        }
        let polled = start.elapsed();
        log.seek(SeekFrom::Start(before))?;
        text.clear();
        log.read_to_string(&mut text)?;
        if !text.contains(&format!(" status #{n} pid={} ", d.pid)) {
            return Err(format!("after SIGUSR1 #{n} the log grew by {text:?}").into());
        }
        if i >= plan.warm_signals {
            let us = |t: Option<Duration>| t.map_or(f64::NAN, |t| t.as_secs_f64() * 1e6);
            s.line.push(us(line));
            s.counter.push(us(counter));
            s.poll_ns.push(ns_per_op(polled, polls as f64));
            s.first_look += usize::from(first);
        }
    }
    if d.board().reports.load(Relaxed) != (plan.warm_signals + plan.signals) as u64 {
        return Err(format!("the daemon counted other reports\n{}", d.dump()).into());
    }
    d.stop()?;
    Ok(s)
}

fn empty_cpu_set() -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is the empty set.
    unsafe { std::mem::zeroed() }
}

fn get_affinity() -> Result<libc::cpu_set_t> {
    let mut set = empty_cpu_set();
    // SAFETY: `set` is valid storage; sched_getaffinity writes at most its
    // size.
    if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Err(os_error("sched_getaffinity"));
    }
    Ok(set)
}

fn set_affinity(set: &libc::cpu_set_t) -> Result<()> {
    // SAFETY: `set` is a live cpu_set_t; the kernel reads its size.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(os_error("sched_setaffinity"));
    }
    Ok(())
}

/// The CPUs in `set`.
fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads inside the set for i < CPU_SETSIZE.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, set) })
        .collect()
}

// ------------------------------------------------------------- throughput

/// Per round: jobs/s and CPU µs per job.
#[derive(Default)]
struct Throughput {
    workers: usize,
    per_s: Vec<f64>,
    master_us: Vec<f64>,
    workers_us: Vec<f64>,
    sender_us: Vec<f64>,
    /// (master + workers + sender) CPU time / wall time.
    busy: Vec<f64>,
}

fn bench_throughput(
    plan: &Plan,
    bins: &Binaries,
    stalls: &mut Vec<String>,
) -> Result<Vec<Throughput>> {
    let mut daemons = Vec::new();
    for k in WORKER_COUNTS {
        let mut d = guarded("starting a throughput daemon", PATIENCE, || {
            Daemon::start(&bins.daemon, k, None)
        })?;
        d.settle(Duration::ZERO)?;
        let q = MessageQueue::open(&d.queue)?;
        daemons.push((d, q));
    }
    let mut s: Vec<Throughput> = WORKER_COUNTS
        .iter()
        .map(|&workers| Throughput {
            workers,
            ..Throughput::default()
        })
        .collect();
    let mut next_id = 1u64;
    rounds_indexed(plan.rounds, |warm, i| {
        let n = size(warm, plan.jobs);
        for j in 0..daemons.len() {
            let k = if i % 2 == 0 { j } else { daemons.len() - 1 - j };
            let (d, q) = &daemons[k];
            let what = format!(
                "throughput, {} worker(s), {}",
                WORKER_COUNTS[k],
                if warm {
                    "warm-up round".to_owned()
                } else {
                    format!("round {}", i + 1)
                }
            );
            let run = guarded("a throughput run", PATIENCE, || {
                run_jobs_retrying(&what, d, q, n, &mut next_id, stalls)
            })?;
            if !warm {
                let t = &mut s[k];
                let wall = run.elapsed.as_secs_f64();
                let per_job = |ns: u64| ns as f64 / 1e3 / f64::from(n);
                t.per_s.push(f64::from(n) / wall);
                t.sender_us.push(per_job(run.sender.cpu_ns));
                if let (Some(m), Some(w)) = (run.master, run.workers) {
                    t.master_us.push(per_job(m.cpu_ns));
                    t.workers_us.push(per_job(w.cpu_ns));
                    t.busy
                        .push((m.cpu_ns + w.cpu_ns + run.sender.cpu_ns) as f64 / 1e9 / wall);
                }
            }
        }
        Ok(())
    })?;
    for (d, q) in daemons {
        drop(q);
        d.stop()?;
    }
    Ok(s)
}

/// One throughput run: its wall time and the CPU used meanwhile, and
/// what the bench saw if the daemon stalled.
struct Run {
    elapsed: Duration,
    sender: Usage,
    master: Option<Usage>,
    workers: Option<Usage>,
    stall: Option<String>,
}

/// The workers' usage, summed (`None` if one cannot be read).
fn workers_usage(pids: &[i32]) -> Option<Usage> {
    let mut sum = Usage::default();
    for &pid in pids {
        let u = Usage::of_pid(pid)?;
        sum.cpu_ns += u.cpu_ns;
        sum.parks += u.parks;
        sum.preempted += u.preempted;
    }
    Some(sum)
}

/// Sends `n` `sleep 0` jobs to `d` through `q` and waits until its `done`
/// counter has grown by `n`; no job may fail and no worker be replaced.
///
/// A daemon that makes no progress for [`STALL`] while its master and
/// every worker sleep has stalled: the bench records its counters, sends
/// it `SIGUSR1` (which makes its master run the pool's work) and waits on;
/// the run then says so in [`Run::stall`].
fn run_jobs(d: &Daemon, q: &MessageQueue, n: u32, next_id: &mut u64) -> Result<Run> {
    let board = d.board();
    let (done0, failed0) = (board.done.load(Relaxed), board.failed.load(Relaxed));
    let workers = d.worker_pids();
    let (master0, workers0) = (Usage::of_pid(d.pid.as_raw()), workers_usage(&workers));
    let sender0 = Usage::of_self();
    let start = Instant::now();
    for _ in 0..n {
        q.send(&Job::sleep(*next_id, 0).encode(), 0)?;
        *next_id += 1;
    }
    let want = done0 + u64::from(n);
    let (mut seen, mut since) = (board.done.load(Relaxed), Instant::now());
    let mut stall: Option<(String, Instant)> = None;
    loop {
        let done = board.done.load(Relaxed);
        if done >= want {
            break;
        }
        if board.failed.load(Relaxed) != failed0 {
            return Err(format!("sleep 0 jobs failed\n{}", d.dump()).into());
        }
        if done != seen {
            (seen, since) = (done, Instant::now());
        } else if stall.is_none() && since.elapsed() > STALL && d.all_asleep() {
            let s = board.snapshot();
            let what = format!(
                "{} of {n} jobs done, then none for {} ms with the master and all {} workers \
                 asleep (the board: queued={} accepted={} started={} done={} waiting={})",
                done - done0,
                since.elapsed().as_millis(),
                workers.len(),
                s.queued,
                s.user[daemon::ACCEPTED],
                s.user[daemon::STARTED],
                s.done,
                s.user[daemon::WAITING],
            );
            signal::kill(d.pid, Signal::USR1)?;
            stall = Some((what, Instant::now()));
        }
        if start.elapsed() > PATIENCE {
            return Err(format!(
                "{} of {n} jobs done after {PATIENCE:?}\n{}",
                done - done0,
                d.dump()
            )
            .into());
        }
        std::thread::sleep(JOB_POLL);
    }
    let elapsed = start.elapsed();
    let sender = Usage::of_self().since(sender0);
    let master = Usage::of_pid(d.pid.as_raw())
        .zip(master0)
        .map(|(a, b)| a.since(b));
    let used = workers_usage(&workers)
        .zip(workers0)
        .map(|(a, b)| a.since(b));
    if board.done.load(Relaxed) != want || board.failed.load(Relaxed) != failed0 {
        return Err(format!("more jobs ended than were sent\n{}", d.dump()).into());
    }
    if d.worker_pids() != workers {
        return Err(format!(
            "the workers changed during the run: {workers:?} → {:?}\n{}",
            d.worker_pids(),
            d.dump()
        )
        .into());
    }
    Ok(Run {
        elapsed,
        sender,
        master,
        workers: used,
        stall: stall.map(|(what, nudged)| {
            format!(
                "{what}; after a SIGUSR1 the rest were done {} ms later",
                nudged.elapsed().as_millis()
            )
        }),
    })
}

/// [`run_jobs`] until a run does not stall (at most [`TRIES`] runs); each
/// stall is added to `stalls`, naming `what`.
fn run_jobs_retrying(
    what: &str,
    d: &Daemon,
    q: &MessageQueue,
    n: u32,
    next_id: &mut u64,
    stalls: &mut Vec<String>,
) -> Result<Run> {
    for _ in 0..TRIES {
        let run = run_jobs(d, q, n, next_id)?;
        match &run.stall {
            Some(s) => stalls.push(format!("{what}: {s}")),
            None => return Ok(run),
        }
    }
    Err(format!("{what}: the daemon stalled in {TRIES} runs in a row").into())
}

// ----------------------------------------------------------------- memory

/// The master and a worker (the one of larger `Rss`), asleep.
#[derive(Clone, Copy)]
struct Snapshot {
    master: Option<Footprint>,
    worker: Option<Footprint>,
}

impl Snapshot {
    fn of(d: &Daemon) -> Snapshot {
        let worker = d
            .worker_pids()
            .into_iter()
            .filter_map(|pid| Footprint::of("daemon", pid))
            .max_by(|a, b| a.rss.total_cmp(&b.rss));
        Snapshot {
            master: Footprint::of("daemon", d.pid.as_raw()),
            worker,
        }
    }
}

/// A fresh daemon's footprint after start-up and after the jobs.
struct Memory {
    started: Snapshot,
    after_jobs: Snapshot,
}

fn bench_memory(plan: &Plan, binary: &str, bin: &Path, stalls: &mut Vec<String>) -> Result<Memory> {
    let mut d = Daemon::start(bin, 2, None)?;
    d.settle(plan.settle)?;
    let started = Snapshot::of(&d);
    let q = MessageQueue::open(&d.queue)?;
    let mut id = 1;
    if let Some(s) = run_jobs(&d, &q, plan.memory_jobs, &mut id)?.stall {
        stalls.push(format!("memory, {binary} binary: {s}"));
    }
    d.settle(plan.settle)?;
    let after_jobs = Snapshot::of(&d);
    drop(q);
    d.stop()?;
    Ok(Memory {
        started,
        after_jobs,
    })
}

// ----------------------------------------------------------------- report

fn report(out: &mut String, plan: &Plan, bins: &Binaries, m: &Measured) {
    // 1: USR1.
    let _ = writeln!(
        out,
        "| `kill -USR1` → status report, idle daemon (2 workers), {} signals | placement | \
         median µs | p90 µs | min–max µs |",
        plan.signals
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|");
    for l in &m.usr1 {
        for (what, s) in [
            (
                "until the `status #n` line is in the log (its size, polled)",
                &l.line,
            ),
            (
                "until the status segment's `reports` counter reads n",
                &l.counter,
            ),
        ] {
            let _ = writeln!(
                out,
                "| {what} | {} | {} | {} | {} |",
                l.placement,
                cell(median(s)),
                cell(percentile(s, 90.0)),
                spread(s),
            );
        }
    }
    for l in &m.usr1 {
        let _ = writeln!(
            out,
            "\n{}: one poll iteration (an fstat of the log, then a load of the counter) took \
             {} ns (median over the signals); in {} of {} signals the first poll found the \
             line already (the bench was off its CPU while the daemon answered).",
            l.placement,
            cell(median(&l.poll_ns)),
            l.first_look,
            l.line.len(),
        );
        let _ = writeln!(
            out,
            "The master's CPU time per report (its CPU clock, read before each signal): \
             median {} µs, p90 {} µs.",
            cell(median(&l.master_us)),
            cell(percentile(&l.master_us, 90.0)),
        );
    }

    // 2: throughput.
    let _ = writeln!(
        out,
        "\n| jobs through the message queue (`sleep 0`, {} per run, sent with \
         `MessageQueue::send`, until `done` counts them) | jobs/s (median) | µs/job | \
         min–max jobs/s |",
        plan.jobs
    );
    let _ = writeln!(out, "|---|--:|--:|--:|");
    for t in &m.throughput {
        let per_s = median(&t.per_s);
        let _ = writeln!(
            out,
            "| {} worker{} | {} | {} | {} |",
            t.workers,
            if t.workers == 1 { "" } else { "s" },
            cell(per_s),
            cell(per_s.map(|r| 1e6 / r)),
            spread(&t.per_s),
        );
    }
    let _ = writeln!(
        out,
        "\nWhere the time went (CPU µs per job, medians over the rounds; CPUs busy = all \
         three / wall time):\n"
    );
    let _ = writeln!(
        out,
        "| workers | µs/job (wall) | master CPU µs/job | workers CPU µs/job | sender CPU µs/job | CPUs busy |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|");
    for t in &m.throughput {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            t.workers,
            cell(median(&t.per_s).map(|r| 1e6 / r)),
            cell(median(&t.master_us)),
            cell(median(&t.workers_us)),
            cell(median(&t.sender_us)),
            ratio_cell(median(&t.busy)),
        );
    }

    // 3: memory.
    let _ = writeln!(
        out,
        "\n| memory (KiB, /proc/<pid>/smaps_rollup), daemon with 2 workers, every process asleep \
         | binary | when | Rss | Pss | USS | Private_Dirty |"
    );
    let _ = writeln!(out, "|---|---|---|--:|--:|--:|--:|");
    let after = format!("after {} jobs", plan.memory_jobs);
    for (who, pick) in [
        (
            "master",
            (|s: &Snapshot| s.master) as fn(&Snapshot) -> Option<Footprint>,
        ),
        ("a worker (the larger by Rss)", |s: &Snapshot| s.worker),
    ] {
        for (binary, mem) in &m.memory {
            for (when, snap) in [
                ("after start-up", &mem.started),
                (after.as_str(), &mem.after_jobs),
            ] {
                let f = pick(snap);
                let _ = writeln!(
                    out,
                    "| {who} | {binary} | {when} | {} | {} | {} | {} |",
                    cell(f.map(|f| f.rss)),
                    cell(f.map(|f| f.pss)),
                    cell(f.map(|f| f.uss)),
                    cell(f.map(|f| f.dirty)),
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nUSS = Private_Clean + Private_Dirty (pages no other process maps); Pss shares each \
         page among the processes mapping it (the workers are forks of the master; the \
         dynamic binary's libc pages are shared with every process using libc). \
         Private_Clean pages are file pages the kernel can drop and read again; \
         Private_Dirty is what only swap could free."
    );

    // 4: size.
    let _ = writeln!(
        out,
        "\n| binary (release) | size KiB | stripped KiB | shared libraries needed |"
    );
    let _ = writeln!(out, "|---|--:|--:|---|");
    let scratch = std::env::temp_dir();
    let mut rows: Vec<(String, PathBuf)> = vec![
        ("`daemon`".to_owned(), bins.daemon.clone()),
        ("`submit`".to_owned(), bins.submit.clone()),
    ];
    if let Ok((d, s)) = &bins.static_bins {
        rows.push(("`daemon`, `+crt-static`".to_owned(), d.clone()));
        rows.push(("`submit`, `+crt-static`".to_owned(), s.clone()));
    }
    for (what, path) in rows {
        let kib = |b: Option<u64>| cell(b.map(|b| b as f64 / 1024.0));
        let size = std::fs::metadata(&path).ok().map(|m| m.len());
        let libs = match needed_libraries(&path) {
            None => "n/a (no readelf)".to_owned(),
            Some(l) if l.is_empty() => "none (static)".to_owned(),
            Some(l) => l.join(", "),
        };
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {libs} |",
            kib(size),
            kib(stripped_size(&path, &scratch)),
        );
    }
    if let Err(why) = &bins.static_bins {
        let _ = writeln!(out, "\nStatic variant: {why}.");
    }

    // The daemon's misbehaviour, if any.
    let _ = writeln!(
        out,
        "\nStalls (no job done for {} ms, master and workers asleep): {}",
        STALL.as_millis(),
        m.stalls.len()
    );
    for s in &m.stalls {
        let _ = writeln!(out, "- {s}");
    }
    if !m.stalls.is_empty() {
        let _ = writeln!(
            out,
            "\nA stalled run is not counted: the run is made again (the table's samples are \
             all runs without a stall)."
        );
    }
}
