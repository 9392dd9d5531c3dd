//! [`Status`]: a daemon's counters in a named segment, for tools that
//! read them from other processes (`examples/status.rs`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::shm::Shareable;

/// What a daemon is doing, as [`Status::state`] says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Setting up.
    Starting,
    /// Taking jobs.
    Running,
    /// Taking no new jobs, finishing the accepted ones (`SIGTERM`).
    Draining,
    /// Workers stopped, the master still there (`SIGWINCH`).
    Idle,
    /// Gone, or about to be.
    Stopped,
}

impl State {
    fn code(self) -> u32 {
        match self {
            State::Starting => 0,
            State::Running => 1,
            State::Draining => 2,
            State::Idle => 3,
            State::Stopped => 4,
        }
    }

    fn from_code(code: u32) -> State {
        match code {
            0 => State::Starting,
            1 => State::Running,
            2 => State::Draining,
            3 => State::Idle,
            _ => State::Stopped,
        }
    }

    /// Its lower-case name, as status lines print it.
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Draining => "draining",
            State::Idle => "idle",
            State::Stopped => "stopped",
        }
    }
}

/// A daemon's status board: fixed layout (`#[repr(C)]`, fixed-width
/// atomics, the same on 32- and 64-bit targets), meant for a named
/// segment ([`SharedMemory<Status>`](crate::shm::SharedMemory)) that
/// other programs open to read it. Every field is its own atomic: a reader
/// sees each counter whole, though not all of them at one instant.
///
/// ```no_run
/// use mproc::daemon::{State, Status};
/// use mproc::shm::SharedMemory;
///
/// // In the daemon:
/// let board = SharedMemory::create("/mydaemon-status", Status::new())?;
/// board.set_state(State::Running);
/// board.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
/// // In a tool:
/// let seen = SharedMemory::<Status>::open("/mydaemon-status")?;
/// println!("{}", seen.snapshot());
/// # Ok::<(), mproc::Error>(())
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct Status {
    /// The daemon's pid.
    pub pid: AtomicU32,
    state: AtomicU32,
    /// When it started, seconds since the Unix epoch.
    pub started: AtomicU64,
    /// When a field was last updated on purpose, milliseconds since the
    /// Unix epoch ([`Status::touch`]).
    pub updated_ms: AtomicU64,
    /// Live workers.
    pub workers: AtomicU32,
    /// Workers wanted.
    pub target_workers: AtomicU32,
    /// Jobs accepted and not yet ended.
    pub queued: AtomicU64,
    /// Jobs ended well.
    pub done: AtomicU64,
    /// Jobs that failed (an error, a panic, a worker's death, a timeout).
    pub failed: AtomicU64,
    /// Workers forked since the start.
    pub forks: AtomicU64,
    /// Status reports written (`SIGUSR1`).
    pub reports: AtomicU64,
    /// The master's resident set, KiB.
    pub rss_kib: AtomicU64,
    /// The daemon's own counters, as it documents them.
    pub user: [AtomicU64; 4],
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of fixed-width atomics (and an array of them): no
// pointers, no drop glue, every bit pattern valid (an unknown state code
// reads as `Stopped`).
unsafe impl Shareable for Status {
    fn type_identity() -> &'static str {
        "mproc::daemon::Status v1"
    }
}

static_assertions::const_assert_eq!(core::mem::size_of::<Status>(), 112);
static_assertions::const_assert_eq!(core::mem::align_of::<Status>(), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(Status, started), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(Status, user), 80);

impl Default for Status {
    fn default() -> Status {
        Status::new()
    }
}

impl Status {
    /// A board for this process, `Starting`, started now.
    pub fn new() -> Status {
        let now = unix_ms();
        Status {
            pid: AtomicU32::new(crate::sys::process::getpid() as u32),
            state: AtomicU32::new(State::Starting.code()),
            started: AtomicU64::new(now / 1000),
            updated_ms: AtomicU64::new(now),
            workers: AtomicU32::new(0),
            target_workers: AtomicU32::new(0),
            queued: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            forks: AtomicU64::new(0),
            reports: AtomicU64::new(0),
            rss_kib: AtomicU64::new(0),
            user: Default::default(),
        }
    }

    /// What the daemon is doing.
    pub fn state(&self) -> State {
        State::from_code(self.state.load(Ordering::Acquire))
    }

    /// Sets the state (and [`Status::touch`]es).
    pub fn set_state(&self, state: State) {
        self.state.store(state.code(), Ordering::Release);
        self.touch();
    }

    /// Records the time of an update, and the master's resident set.
    pub fn touch(&self) {
        self.updated_ms.store(unix_ms(), Ordering::Relaxed);
        if let Some(kib) = crate::sys::process::resident_kib() {
            self.rss_kib.store(kib, Ordering::Relaxed);
        }
    }

    /// Every field, read now, as plain numbers.
    pub fn snapshot(&self) -> Snapshot {
        let r = Ordering::Relaxed;
        Snapshot {
            pid: self.pid.load(r),
            state: self.state(),
            uptime_s: (unix_ms() / 1000).saturating_sub(self.started.load(r)),
            updated_ms: self.updated_ms.load(r),
            workers: self.workers.load(r),
            target_workers: self.target_workers.load(r),
            queued: self.queued.load(r),
            done: self.done.load(r),
            failed: self.failed.load(r),
            forks: self.forks.load(r),
            reports: self.reports.load(r),
            rss_kib: self.rss_kib.load(r),
            user: core::array::from_fn(|i| self.user[i].load(r)),
        }
    }
}

/// A [`Status`] read at one moment: its `Display` is the one-line report
/// a daemon writes on `SIGUSR1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The daemon's pid.
    pub pid: u32,
    /// What it is doing.
    pub state: State,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// Its last update, milliseconds since the Unix epoch.
    pub updated_ms: u64,
    /// Live workers.
    pub workers: u32,
    /// Workers wanted.
    pub target_workers: u32,
    /// Jobs accepted and not yet ended.
    pub queued: u64,
    /// Jobs ended well.
    pub done: u64,
    /// Jobs that failed.
    pub failed: u64,
    /// Workers forked since the start.
    pub forks: u64,
    /// Reports written.
    pub reports: u64,
    /// The master's resident set, KiB.
    pub rss_kib: u64,
    /// The daemon's own counters.
    pub user: [u64; 4],
}

impl core::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "pid={} state={} workers={}/{} queued={} done={} failed={} forks={} uptime={}s rss={}KiB",
            self.pid,
            self.state.name(),
            self.workers,
            self.target_workers,
            self.queued,
            self.done,
            self.failed,
            self.forks,
            self.uptime_s,
            self.rss_kib
        )
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
