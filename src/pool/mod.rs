//! The static worker pool: Python's `multiprocessing.Pool` with the fork
//! start method, allocation-free, and never hung by a dying worker.
//!
//! ```no_run
//! use mproc::pool::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! // Python: with Pool(3) as p: p.apply(square, (7,)); p.map(square, range(10))
//! let pool = Pool::new(3)?;
//! assert_eq!(pool.apply(square, 7)?, 49);
//! let squares = pool.map(square, 0..10u64, 1)?;
//! assert_eq!(squares[9], 81);
//! let r = pool.apply_async(square, 5)?;
//! assert_eq!(r.get()?, 25);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Shape
//!
//! - **Workers are forked once**, when the pool is made ([`Pool::new`],
//!   [`Pool::builder`]), and are the only processes that ever run its tasks
//!   (Python: "Pool(3) creates three processes and uses those three from
//!   start to end"). A worker is replaced only when it dies, or after
//!   [`maxtasksperchild`](PoolBuilder::maxtasksperchild) tasks.
//! - **Workers are daemonic children** of the process that made the pool:
//!   they die with it even when it is `SIGKILL`ed (`PR_SET_PDEATHSIG`),
//!   are stopped and reaped if it exits with the pool still up (see
//!   [`crate::process`], "When a process ends"), and, as in
//!   Python, a daemonic process cannot make a pool
//!   ([`ErrorKind::DaemonicParent`]). Linux fires the death signal when
//!   the *thread* that forked a worker ends: make and drive the pool from
//!   the main thread (or a thread that lives as long as the pool), since
//!   replacements are forked by the thread that calls into the pool.
//! - **A fixed ring of task slots** lives in one anonymous shared segment
//!   made before the fork: `SLOTS` slots of `BYTES` bytes each (const
//!   generics, by default the build-time `MPROC_POOL_SLOTS` = 64 and
//!   `MPROC_POOL_TASK_BYTES` = 2048). A slot carries a task's argument,
//!   then its result (or a chunk of a `map`'s items). Handing a task to a
//!   busy worker and its result back costs no system call: both sides
//!   watch the slot for a few microseconds before they park.
//!
//! # Tasks are `fn`s, not pickled closures
//!
//! Python pickles the function and its arguments and sends them to a
//! worker. Here the worker is a forked copy of the program, so a task is
//! named by its code alone: a `fn` item or a closure that captures nothing
//! (`|x: u64| x * x`), checked at compile time to be zero-sized. A closure
//! that captured a reference would point into the parent's memory as it
//! was at the fork, not as it is now, so it is refused. Arguments and
//! results are [`TaskData`] values (numbers, arrays, tuples, `Option`,
//! fixed-capacity strings and vectors, `#[repr(C)]` structs of those),
//! copied by their bytes into the slot: no serialisation, no allocation.
//!
//! ```compile_fail
//! # use mproc::pool::Pool;
//! let pool = Pool::new(1)?;
//! let offset = 5u64;
//! // Refused when the program is built: the closure captures `offset`.
//! // Pass it as the argument instead: `pool.apply(|(x, o)| x + o, (1, offset))`.
//! pool.apply(move |x: u64| x + offset, 1)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A struct or enum of your own becomes a task argument or result by
//! deriving [`TaskData`], which checks its contract when the program is
//! built (every field `TaskData`: no pointers, no descriptors, and no
//! `Drop` of its own):
//!
//! ```no_run
//! use mproc::pool::{Pool, TaskData};
//!
//! #[derive(TaskData, Clone, Copy)]
//! struct Job {
//!     id: u32,
//!     weight: f64,
//! }
//!
//! fn cost(job: Job) -> (u32, f64) {
//!     (job.id, job.weight * 2.0)
//! }
//!
//! let pool = Pool::new(2)?;
//! assert_eq!(pool.apply(cost, Job { id: 7, weight: 1.5 })?, (7, 3.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Callbacks, and when the pool does its work
//!
//! There is no handler thread. The pool acts — collects results, runs
//! callbacks, reaps dead workers and forks their replacements — whenever
//! the parent calls into it: a wait ([`AsyncResult::get`],
//! [`AsyncResult::wait`], [`Pool::join`], [`Pool::apply`], a `map`, an
//! `imap` step), a submission, or [`Pool::poll`]. `callback` and
//! `error_callback` ([`Pool::apply_async_with`],
//! [`Pool::apply_async_callback`]) run then, in the parent,
//! on the parent's stack: never in a worker, never inside a signal
//! handler. A daemon puts [`Pool::sentinel`] into its
//! [`wait`](crate::ipc::wait) set and calls [`Pool::poll`] when it fires.
//! A `map_async`'s callbacks ([`Pool::map_async_with`]) are run by its
//! [`MapResult`], in the call on it that sees the map end.
//!
//! # Faults
//!
//! - A task that panics fails with [`ErrorKind::Panicked`] and its message
//!   (cut to 120 bytes); the worker lives on.
//! - A worker killed mid-task (by any signal, the OOM killer included)
//!   fails exactly that task with [`ErrorKind::WorkerDied`]; a replacement
//!   is forked, and every other task completes. Nothing waits forever: not
//!   `get`, not `join`, not `map` (Python's Pool hangs here).
//! - [`AsyncResult::get_timeout`] returns [`ErrorKind::Timeout`] while the
//!   task runs on; its result can still be fetched later.
//!
//! - A worker that dies before its first task again and again (a crash
//!   loop at start-up) is re-forked ever more slowly: after two such
//!   deaths in a row each re-fork waits, 10 ms doubling up to 2 s; an
//!   initializer that fails three times in a row stops the pool.
//!
//! # Steering a running pool (a pre-fork daemon's master)
//!
//! - [`Pool::resize`] grows or shrinks it within `MPROC_POOL_MAX_WORKERS`
//!   (to 0, too): new workers are forked at once, surplus ones finish
//!   their task and exit.
//! - [`Pool::replace_workers`] replaces every worker gracefully: each
//!   finishes its task, exits, and a fresh fork takes its place.
//! - [`Pool::drain`] stops taking tasks, lets the accepted ones end within
//!   a grace period, then terminates the rest.
//! - [`PoolBuilder::task_timeout`] stops a worker whose task overruns
//!   (`SIGTERM`, then `SIGKILL`): the task fails with
//!   [`ErrorKind::TaskTimedOut`] and a replacement is forked.
//!   [`PoolBuilder::maxtasksperchild_jitter`] spreads the recycling of
//!   workers made together.
//! - A daemon's loop waits on [`Pool::sentinel`] and [`Pool::sentinels`]
//!   for at most [`Pool::poll_timeout`], then calls [`Pool::poll`].
//!
//! | Python | here |
//! |---|---|
//! | `Pool(processes, initializer, initargs, maxtasksperchild)` | [`Pool::new`], [`Pool::builder`] |
//! | `apply(f, (x,))` | [`Pool::apply`] |
//! | `apply_async(f, (x,), callback, error_callback)` | [`Pool::apply_async`], [`Pool::apply_async_with`] |
//! | `apply_async(f, (x,), callback=cb)` (no `error_callback`) | [`Pool::apply_async_callback`] |
//! | `AsyncResult.get/wait/ready/successful` | [`AsyncResult`] |
//! | `map(f, xs, chunksize)`, `map_async` | [`Pool::map`], [`Pool::map_into`], [`Pool::map_async`] |
//! | `map_async(f, xs, chunksize, callback, error_callback)` | [`Pool::map_async_with`] |
//! | `imap`, `imap_unordered` | [`Pool::imap`], [`Pool::imap_unordered`] |
//! | `starmap(f, [(a, b), …])` | [`Pool::starmap`], [`Pool::starmap_into`] |
//! | `close`, `terminate`, `join`, `with Pool() as p` | [`Pool::close`], [`Pool::terminate`], [`Pool::join`], drop |

// `TaskError` carries its panic message inline (about 250 bytes) so that
// failing allocates nothing; results carrying it are that big by design.
#![allow(clippy::result_large_err)]

mod callback;
mod fd;
mod map;
mod result;
mod ring;
mod steer;

pub use crate::sys::task::TaskData;
pub use map::{Call, Direct, Imap, MapResult, Star, StarFn};
/// `#[derive(TaskData)]`: the compile-time checks instead of an `unsafe impl`.
#[cfg(feature = "derive")]
pub use mproc_derive::TaskData;
pub use result::{AsyncResult, PanicMessage, TaskError};

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::config::{POOL_MAX_WORKERS, POOL_SLOTS, POOL_TASK_BYTES};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::process::{self, Process};
use crate::shm::Shared;
use crate::sys::task::{self as erased, Callbacks, Mask, Outcome};
use crate::sys::{self, event};
use ring::Ring;

/// A worker process: its target is the worker loop, boxed once per fork.
type WorkerProcess = Process<Box<dyn FnOnce()>>;

/// Drops the untaken results of a slot (typed at submission).
type DropResults = unsafe fn(*mut u8, usize, usize, Mask, Mask);

/// The exit code [`ErrorKind::WorkerDied`] reports for a worker whose
/// status the program took itself (`SIGCHLD` ignored, or a `waitpid(-1)`
/// elsewhere): `i32::MIN`.
pub const LOST_STATUS: i32 = i32::MIN;

/// Deaths before the first task, in a row, that stop the pool.
const INIT_FAILURES: u32 = 3;

/// How long [`Pool::terminate`] lets workers end after `SIGTERM` before it
/// sends `SIGKILL`.
const TERMINATE_GRACE: Duration = Duration::from_millis(500);

/// The parent's record of one slot (the shared state says how far the task
/// got; this says who will collect it).
struct Local {
    /// Submitted and not yet freed.
    busy: Cell<bool>,
    /// A handle ([`AsyncResult`], a map) will collect it; otherwise the
    /// pool frees it once it ends.
    held: Cell<bool>,
    seq: Cell<u64>,
    count: Cell<usize>,
    /// Results not taken yet (bit per item).
    untaken: Cell<Mask>,
    /// Set when the pool failed the task itself (terminated, broken).
    failure: Cell<Option<ErrorKind>>,
    /// Its end was seen by a [`Pool::wait_with`] (which wakes for ends it
    /// has not seen).
    end_seen: Cell<bool>,
    drop_results: Cell<Option<DropResults>>,
    callbacks: RefCell<Option<Callbacks<TaskError>>>,
}

impl Local {
    fn new() -> Local {
        Local {
            busy: Cell::new(false),
            held: Cell::new(false),
            seq: Cell::new(0),
            count: Cell::new(0),
            untaken: Cell::new(Mask::default()),
            failure: Cell::new(None),
            end_seen: Cell::new(false),
            drop_results: Cell::new(None),
            callbacks: RefCell::new(None),
        }
    }
}

/// Whether the pool takes tasks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    Closed,
    Terminated,
}

/// How a slot's task ended, item by item.
pub(crate) enum Ended {
    /// Not yet.
    Running,
    /// The worker finished: bit `i` of `failed` set when item `i` panicked.
    Done { failed: Mask },
    /// The pool or the worker's death failed the whole chunk.
    Failed(ErrorKind),
}

/// Python's `multiprocessing.Pool`: a fixed set of forked workers and a
/// fixed ring of `SLOTS` task slots of `BYTES` bytes (see the
/// [module docs](self)). Used from the process that made it; a forked
/// child's copy refuses every call, and its drop leaves the workers alone.
///
/// Methods take `&self`, so results can be waited for while more tasks
/// are submitted; the pool is not `Sync` (it belongs to one thread of one
/// process).
pub struct Pool<const SLOTS: usize = POOL_SLOTS, const BYTES: usize = POOL_TASK_BYTES> {
    ring: Rc<Shared<Ring<SLOTS, BYTES>>>,
    /// Raised by a worker that finishes a task while the parent is parked.
    wake: OwnedFd,
    /// Seals the entries the parent stores; only this pool's processes
    /// know it (it is not in the shared segment).
    key: u64,
    owner: i32,
    /// The workers wanted: indexes from here up are retired.
    size: Cell<usize>,
    workers: RefCell<heapless::Vec<WorkerProcess, POOL_MAX_WORKERS>>,
    /// Forks so far (names the workers `ForkPoolWorker-<n>`, as Python).
    forked: Cell<u64>,
    initializer: Option<Rc<dyn Fn()>>,
    max_tasks: u64,
    /// Up to this many more tasks per worker before it is replaced, drawn
    /// per fork.
    jitter: u64,
    task_timeout: Option<Duration>,
    /// Bit `w`: worker `w` was sent `SIGTERM` for overrunning the task
    /// timeout (when: `term_sent[w]`).
    timed_out: Cell<u64>,
    term_sent: RefCell<[Option<Instant>; POOL_MAX_WORKERS]>,
    /// When each worker was forked: a death soon after is a crash loop's.
    forked_at: RefCell<[Option<Instant>; POOL_MAX_WORKERS]>,
    /// Quick deaths in a row, and when the next fork may happen.
    crash_streak: Cell<u32>,
    respawn_at: Cell<Option<Instant>>,
    local: [Local; SLOTS],
    free: RefCell<heapless::Vec<u16, SLOTS>>,
    next_seq: Cell<u64>,
    /// `head` as last read: it only grows.
    head_seen: Cell<u64>,
    phase: Cell<Phase>,
    /// Busy slots with callbacks or without a handle: what `service` scans.
    unattended: Cell<usize>,
    /// Workers in a row whose initializer failed.
    init_failures: Cell<u32>,
    /// Bit `w`: worker `w` is dead (reaped) and not yet replaced.
    dead: Cell<u64>,
    broken: Cell<Option<ErrorKind>>,
    /// The descriptor queue of [`Pool::apply_async_fd`] (see `fd.rs`).
    fds: fd::FdQueue<SLOTS>,
}

/// Builds a [`Pool`] with Python's optional arguments: `processes`,
/// `initializer` with its argument, `maxtasksperchild`.
///
/// ```no_run
/// use mproc::pool::Pool;
/// fn init(tag: u32) {
///     println!("worker {} ready ({tag})", mproc::process::getpid());
/// }
/// let pool = Pool::builder().processes(2).initializer(init, 7).maxtasksperchild(100).build()?;
/// # Ok::<(), mproc::Error>(())
/// ```
#[must_use = "a builder does nothing until `build`"]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<Rc<dyn Fn()>>,
    max_tasks: u64,
    jitter: u64,
    task_timeout: Option<Duration>,
}

impl PoolBuilder {
    /// The number of workers (Python's `processes`); by default
    /// [`cpu_count`](crate::process::cpu_count), capped at
    /// `MPROC_POOL_MAX_WORKERS`.
    pub fn processes(mut self, n: usize) -> PoolBuilder {
        self.processes = Some(n);
        self
    }

    /// Runs `f(arg)` once in each worker when it starts, before its first
    /// task (Python's `initializer` and `initargs`). If it panics in three
    /// workers in a row, the pool stops with
    /// [`ErrorKind::InitializerFailed`] instead of forking forever.
    pub fn initializer<A: Clone + 'static>(mut self, f: fn(A), arg: A) -> PoolBuilder {
        self.initializer = Some(Rc::new(move || f(arg.clone())));
        self
    }

    /// Replaces each worker after it has run `n` tasks (a map chunk counts
    /// as one), as Python's `maxtasksperchild`; 0 (the default) never.
    pub fn maxtasksperchild(mut self, n: u64) -> PoolBuilder {
        self.max_tasks = n;
        self
    }

    /// Adds up to `n` tasks, drawn at random for each worker, to
    /// `maxtasksperchild`, so workers forked together are not all replaced
    /// at once (gunicorn's `max_requests_jitter`).
    pub fn maxtasksperchild_jitter(mut self, n: u64) -> PoolBuilder {
        self.jitter = n;
        self
    }

    /// Stops a worker whose task runs longer than `timeout` (`SIGTERM`,
    /// then `SIGKILL` half a second later): the task fails with
    /// [`ErrorKind::TaskTimedOut`] and a replacement is forked. Python's
    /// pool has no such limit. The parent enforces it when it acts: in its
    /// waits, and in [`Pool::poll`] (a daemon's loop bounds its wait with
    /// [`Pool::poll_timeout`]). A chunk of a `map` counts as one task.
    pub fn task_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.task_timeout = Some(timeout);
        self
    }

    /// Forks the workers: a pool with the default ring.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build_sized`].
    pub fn build(self) -> Result<Pool> {
        self.build_sized()
    }

    /// Forks the workers: a pool of `SLOTS` slots of `BYTES` bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for 0 workers or `SLOTS` over
    /// 65535; [`ErrorKind::CapacityExceeded`] for more workers than
    /// `MPROC_POOL_MAX_WORKERS`; [`ErrorKind::DaemonicParent`] in a
    /// daemonic process (Python's rule: the workers would be its
    /// children); the errors of
    /// [`Process::start`](crate::process::Process::start) (other threads
    /// running, the kernel refusing a process) and of the mapping.
    pub fn build_sized<const SLOTS: usize, const BYTES: usize>(self) -> Result<Pool<SLOTS, BYTES>> {
        let op = "Pool::new";
        let size = match self.processes {
            Some(n) => n,
            None => process::cpu_count()?.clamp(1, POOL_MAX_WORKERS),
        };
        let resource = Resource::Pool { workers: size };
        if process::is_daemon() {
            return Err(Error::new(op, resource, ErrorKind::DaemonicParent));
        }
        if size == 0 {
            return Err(Error::new(
                op,
                resource,
                ErrorKind::InvalidArgument("a pool needs at least one worker"),
            ));
        }
        if size > POOL_MAX_WORKERS {
            return Err(Error::new(
                op,
                Resource::Capacity("MPROC_POOL_MAX_WORKERS"),
                ErrorKind::CapacityExceeded {
                    limit: POOL_MAX_WORKERS,
                },
            ));
        }
        if SLOTS == 0 || SLOTS > usize::from(u16::MAX) {
            return Err(Error::new(
                op,
                resource,
                ErrorKind::InvalidArgument("a pool has 1 to 65535 slots"),
            ));
        }
        let wake = event::eventfd().map_err(|e| Error::os("eventfd", resource, e))?;
        let fds = fd::FdQueue::new(resource)?;
        let ring = Rc::new(Shared::<Ring<SLOTS, BYTES>>::zeroed()?);
        // Half the CPUs may spin for work (at least one): the parent and
        // the workers running tasks need the others.
        let cpus = process::cpu_count().unwrap_or(1);
        ring.control
            .0
            .max_spinning
            .store((cpus / 2).clamp(1, size) as u32, Ordering::Relaxed);
        let mut free = heapless::Vec::new();
        for s in (0..SLOTS).rev() {
            // Cannot fail: SLOTS entries in a vector of capacity SLOTS.
            let _ = free.push(s as u16);
        }
        let pool = Pool {
            ring,
            wake,
            key: random_key(),
            owner: sys::process::getpid(),
            size: Cell::new(size),
            workers: RefCell::new(heapless::Vec::new()),
            forked: Cell::new(0),
            initializer: self.initializer,
            max_tasks: self.max_tasks,
            jitter: self.jitter,
            task_timeout: self.task_timeout,
            timed_out: Cell::new(0),
            term_sent: RefCell::new([None; POOL_MAX_WORKERS]),
            forked_at: RefCell::new([None; POOL_MAX_WORKERS]),
            crash_streak: Cell::new(0),
            respawn_at: Cell::new(None),
            local: core::array::from_fn(|_| Local::new()),
            free: RefCell::new(free),
            next_seq: Cell::new(0),
            head_seen: Cell::new(0),
            phase: Cell::new(Phase::Running),
            unattended: Cell::new(0),
            init_failures: Cell::new(0),
            dead: Cell::new(0),
            broken: Cell::new(None),
            fds,
        };
        for me in 0..size {
            let worker = pool.fork_worker(me)?;
            // Cannot fail: at most POOL_MAX_WORKERS (checked above).
            let _ = pool.workers.borrow_mut().push(worker);
        }
        Ok(pool)
    }
}

/// A key for sealing task entries: random per pool (std's hasher keys come
/// from the OS's random source), mixed with the pid and the time.
/// A 64-bit mix (splitmix64's finaliser): spreads a counter over the bits.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn random_key() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i32(sys::process::getpid());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() | 1
}

impl Pool {
    /// A pool of `processes` workers with the default ring (Python's
    /// `Pool(processes)`); [`Pool::builder`] for the other arguments.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build_sized`].
    pub fn new(processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for Python's optional arguments (`initializer`,
    /// `maxtasksperchild`, the default worker count).
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            initializer: None,
            max_tasks: 0,
            jitter: 0,
            task_timeout: None,
        }
    }
}

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    fn resource(&self) -> Resource {
        Resource::Pool {
            workers: self.size.get(),
        }
    }

    /// Workers forked since the pool was made (replacements included).
    pub fn forks(&self) -> u64 {
        self.forked.get()
    }

    /// The number of workers wanted (Python's `pool._processes`), as made
    /// or as last [`resize`](Pool::resize)d.
    pub fn processes(&self) -> usize {
        self.size.get()
    }

    /// Tasks submitted and not yet taken by a worker (a map chunk counts
    /// once).
    pub fn queued(&self) -> usize {
        let tail = self.ring.tail_count(Ordering::Acquire);
        let head = self.ring.head.0.load(Ordering::Acquire);
        tail.saturating_sub(head) as usize
    }

    /// The pids of the live workers, in worker order.
    pub fn pids(&self) -> heapless::Vec<crate::Pid, POOL_MAX_WORKERS> {
        let workers = self.workers.borrow();
        self.live(&workers).filter_map(|w| w.pid()).collect()
    }

    /// The workers not known dead.
    fn live<'w>(&self, workers: &'w [WorkerProcess]) -> impl Iterator<Item = &'w WorkerProcess> {
        let dead = self.dead.get();
        workers
            .iter()
            .enumerate()
            .filter(move |(w, _)| dead & (1 << w) == 0)
            .map(|(_, worker)| worker)
    }

    /// `poll(2)` on the live workers' sentinels, after the eventfd when
    /// `wake` (then bit 0 is the eventfd's).
    fn poll_workers(&self, wake: bool, timeout: Option<Duration>) -> Result<u64> {
        let workers = self.workers.borrow();
        let mut fds = heapless::Vec::<BorrowedFd<'_>, { POOL_MAX_WORKERS + 1 }>::new();
        if wake {
            let _ = fds.push(self.wake.as_fd());
        }
        for fd in self.live(&workers).filter_map(|w| w.sentinel().ok()) {
            let _ = fds.push(fd);
        }
        sys::poll_many(&fds, timeout).map_err(|e| Error::os("poll", self.resource(), e))
    }

    /// The number of tasks submitted and not yet collected (each map chunk
    /// counts once): at most `SLOTS`.
    pub fn outstanding(&self) -> usize {
        SLOTS - self.free.borrow().len()
    }

    /// The pool's eventfd, readable when a worker finished a task while
    /// the parent was parked in a pool wait. For a daemon's
    /// [`wait`](crate::ipc::wait) set, together with the workers'
    /// sentinels ([`Pool::sentinels`]): when either fires, call
    /// [`Pool::poll`].
    pub fn sentinel(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    fn check_owner(&self, op: &'static str) -> Result<()> {
        if sys::process::getpid() != self.owner {
            return Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("a pool is used only by the process that made it"),
            ));
        }
        Ok(())
    }

    fn fork_worker(&self, me: usize) -> Result<WorkerProcess> {
        let ring = Rc::clone(&self.ring);
        let initializer = self.initializer.clone();
        let n = self.forked.get() + 1;
        let max_tasks = if self.max_tasks == 0 || self.jitter == 0 {
            self.max_tasks
        } else {
            self.max_tasks + splitmix(self.key ^ n) % (self.jitter + 1)
        };
        let (key, wake_fd) = (self.key, self.wake.as_raw_fd());
        let target: Box<dyn FnOnce()> = Box::new(move || {
            if let Some(init) = initializer
                && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init())).is_err()
            {
                process::exit(1);
            }
            ring.started[me].store(1, Ordering::Release);
            ring::work(ring::WorkerSpec {
                ring: &ring,
                me,
                key,
                wake_fd,
                max_tasks,
            });
        });
        self.ring.started[me].store(0, Ordering::Relaxed);
        self.ring.busy_since[me].store(0, Ordering::Relaxed);
        self.ring
            .control
            .0
            .retire
            .fetch_and(!(1 << me), Ordering::SeqCst);
        self.forked.set(n);
        let mut name = heapless::String::<32>::new();
        let _ = core::fmt::Write::write_fmt(&mut name, format_args!("ForkPoolWorker-{n}"));
        let mut p = Process::new(target).daemon(true).with_name(&name)?;
        p.start()?;
        // Made now, while the pid is surely the worker's (see
        // `Process::sentinel`).
        p.sentinel()?;
        self.forked_at.borrow_mut()[me] = Some(Instant::now());
        Ok(p)
    }

    // ------------------------------------------------------------ submitting

    /// A free slot for a new task, waiting for an unattended one to end
    /// if every slot is busy.
    fn take_slot(&self, op: &'static str) -> Result<usize> {
        loop {
            self.check_running(op)?;
            if let Some(s) = self.free.borrow_mut().pop() {
                return Ok(usize::from(s));
            }
            if self.unattended.get() == 0 {
                // Every slot waits for a handle the caller holds: waiting
                // would never end.
                return Err(Error::new(
                    op,
                    Resource::Capacity("MPROC_POOL_SLOTS"),
                    ErrorKind::CapacityExceeded { limit: SLOTS },
                ));
            }
            // `wait_until` runs `service` once this holds: it frees the
            // slot, or runs its callbacks (then the slot waits for its
            // handle, and the next turn may find none unattended).
            self.wait_until(None, |p| {
                !p.free.borrow().is_empty() || p.unattended_ended()
            })?;
        }
    }

    /// Whether a slot `service` would act on has ended (a worker's commit
    /// alone makes this true, as a parked wait needs).
    fn unattended_ended(&self) -> bool {
        self.local.iter().enumerate().any(|(s, l)| {
            l.busy.get()
                && (!l.held.get() || l.callbacks.borrow().is_some())
                && !matches!(self.ended(s), Ended::Running)
        })
    }

    fn check_running(&self, op: &'static str) -> Result<()> {
        self.check_owner(op)?;
        if let Some(kind) = self.broken.get() {
            return Err(Error::new(op, self.resource(), kind));
        }
        if self.phase.get() != Phase::Running {
            return Err(Error::new(op, self.resource(), ErrorKind::PoolNotRunning));
        }
        Ok(())
    }

    /// Takes a free slot, moves up to `max` items of `items` into it (as
    /// they come: nothing is taken from the iterator before a slot is
    /// there for it) and queues them as a chunk of tasks `C`. Returns the
    /// slot and the item count, or `None` (the slot given back) when
    /// `items` had none.
    fn submit<C, A, R>(
        &self,
        op: &'static str,
        task: C,
        items: &mut impl Iterator<Item = A>,
        max: usize,
        held: bool,
        callbacks: Option<Callbacks<TaskError>>,
    ) -> Result<Option<(usize, usize)>>
    where
        C: erased::Call<A, R>,
        A: TaskData,
        R: TaskData,
    {
        let capacity = erased::chunk_capacity::<A, R>(BYTES);
        if capacity == 0 {
            return Err(Error::new(
                op,
                Resource::Capacity("MPROC_POOL_TASK_BYTES"),
                ErrorKind::CapacityExceeded { limit: BYTES },
            ));
        }
        let entry = erased::entry_of::<C, A, R>(task);
        let s = self.take_slot(op)?;
        let ring: &Ring<SLOTS, BYTES> = &self.ring;
        let slot = &ring.slots[s];
        let mut count = 0;
        for item in items.take(max.min(capacity)) {
            // SAFETY: the slot is FREE (it came off the free list), so its
            // payload is ours; `count` stays below the capacity.
            #[allow(unsafe_code)]
            unsafe {
                erased::put_arg::<A, R>(slot.payload.ptr(), BYTES, count, item)
            };
            count += 1;
        }
        if count == 0 {
            let _ = self.free.borrow_mut().push(s as u16);
            return Ok(None);
        }
        let t = self.next_seq.get();
        // The order ring has SLOTS entries; a claimed submission whose
        // worker died before advancing `head` is skipped here. `head` is
        // read only when the last value seen would not do (it lives on a
        // line the workers write).
        while t - self.head_seen.get() >= SLOTS as u64 {
            let h = ring.head.0.load(Ordering::Acquire);
            self.head_seen.set(h);
            if t - h < SLOTS as u64 {
                break;
            }
            ring.help_head();
        }
        slot.entry.store(entry, Ordering::Relaxed);
        slot.check
            .store(ring::seal(entry, t, self.key), Ordering::Relaxed);
        slot.count.store(count as u32, Ordering::Relaxed);
        slot.store_failed(Mask::default());
        let l = &self.local[s];
        l.busy.set(true);
        l.held.set(held);
        l.seq.set(t);
        l.end_seen.set(false);
        l.count.set(count);
        l.untaken.set(Mask::first(count));
        l.failure.set(None);
        l.drop_results
            .set(Some(erased::drop_results::<A, R> as DropResults));
        let attended = held && callbacks.is_none();
        *l.callbacks.borrow_mut() = callbacks;
        if !attended {
            self.unattended.set(self.unattended.get() + 1);
        }
        // SYNC POINT: Release pairs with the claiming worker's Acquire CAS:
        // the arguments, entry and count are visible to it.
        slot.state
            .store(ring::state(t, ring::QUEUED, 0), Ordering::Release);
        ring.order[(t % SLOTS as u64) as usize].store(s as u32, Ordering::Release);
        self.next_seq.set(t + 1);
        // SYNC POINT: SeqCst, then the loads of `spinning` and `parked`
        // in `wake_worker`
        // (see `Ring::park`).
        ring.publish(t, s);
        ring.wake_worker();
        Ok(Some((s, count)))
    }

    // ----------------------------------------------------------- collecting

    /// How slot `s`'s task ended.
    pub(crate) fn ended(&self, s: usize) -> Ended {
        let l = &self.local[s];
        if let Some(kind) = l.failure.get() {
            return Ended::Failed(kind);
        }
        let slot = &self.ring.slots[s];
        // SYNC POINT: Acquire pairs with the worker's commit (or the
        // parent's own DIED store): the results are visible.
        let st = slot.state.load(Ordering::Acquire);
        if ring::seq(st) != l.seq.get() & ((1 << 40) - 1) {
            return Ended::Running;
        }
        match ring::kind(st) {
            ring::DONE => Ended::Done {
                failed: slot.load_failed(),
            },
            ring::DIED => Ended::Failed(ErrorKind::WorkerDied {
                pid: slot.died_pid.load(Ordering::Relaxed),
                exitcode: slot.died_code.load(Ordering::Relaxed),
            }),
            ring::TIMED_OUT => Ended::Failed(ErrorKind::TaskTimedOut {
                pid: slot.died_pid.load(Ordering::Relaxed),
                timeout_ms: self
                    .task_timeout
                    .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            }),
            _ => Ended::Running,
        }
    }

    /// The error of item `index` of slot `s`, which ended and failed.
    pub(crate) fn item_error(&self, op: &'static str, s: usize, kind: ErrorKind) -> TaskError {
        let l = &self.local[s];
        let error = Error::new(op, Resource::Task(l.seq.get()), kind);
        let message = if kind == ErrorKind::Panicked {
            let slot = &self.ring.slots[s];
            let bytes = slot.message.load();
            let len = (slot.message_len.load(Ordering::Relaxed) as usize).min(bytes.len());
            PanicMessage::from_bytes(&bytes[..len])
        } else {
            PanicMessage::default()
        };
        TaskError::new(error, message)
    }

    /// Item `index` of slot `s` (ended): its result, moved out, or its
    /// error. `take` is `sys::task::take_result` for the slot's types.
    pub(crate) fn take<R>(
        &self,
        op: &'static str,
        s: usize,
        index: usize,
        take: unsafe fn(*mut u8, usize, usize) -> R,
    ) -> core::result::Result<R, TaskError> {
        let l = &self.local[s];
        match self.ended(s) {
            Ended::Running => Err(TaskError::new(
                Error::new(op, Resource::Task(l.seq.get()), ErrorKind::NotReady),
                PanicMessage::default(),
            )),
            Ended::Failed(kind) => Err(self.item_error(op, s, kind)),
            Ended::Done { failed } if failed.has(index) => {
                Err(self.item_error(op, s, ErrorKind::Panicked))
            }
            Ended::Done { .. } => {
                let mut untaken = l.untaken.get();
                if !untaken.has(index) {
                    return Err(TaskError::new(
                        Error::new(
                            op,
                            Resource::Task(l.seq.get()),
                            ErrorKind::InvalidArgument("the result was taken already"),
                        ),
                        PanicMessage::default(),
                    ));
                }
                untaken.clear(index);
                l.untaken.set(untaken);
                // SAFETY: the slot ended DONE (Acquire in `ended`), so the
                // payload is ours and holds the worker's results; item
                // `index` did not fail and was not taken (its bit was set,
                // now cleared); `take` is `take_result` for the types the
                // slot was submitted with (the caller's handle recorded it).
                #[allow(unsafe_code)]
                Ok(unsafe { take(self.ring.slots[s].payload.ptr(), BYTES, index) })
            }
        }
    }

    /// Hands every untaken item of slot `s` (ended) to `sink` with its
    /// index in the chunk, in order — results moved out, failures as
    /// errors — then frees the slot. The bulk path of the map family.
    pub(crate) fn drain_results<R>(
        &self,
        op: &'static str,
        s: usize,
        take: unsafe fn(*mut u8, usize, usize) -> R,
        mut sink: impl FnMut(usize, core::result::Result<R, TaskError>),
    ) {
        let l = &self.local[s];
        let count = l.count.get();
        let untaken = l.untaken.get();
        match self.ended(s) {
            Ended::Running => return,
            Ended::Failed(kind) => {
                let e = self.item_error(op, s, kind);
                l.untaken.set(Mask::default());
                for i in (0..count).filter(|&i| untaken.has(i)) {
                    sink(i, Err(e));
                }
            }
            Ended::Done { failed } => {
                let payload = self.ring.slots[s].payload.ptr();
                l.untaken.set(Mask::default());
                for i in (0..count).filter(|&i| untaken.has(i)) {
                    if failed.has(i) {
                        sink(i, Err(self.item_error(op, s, ErrorKind::Panicked)));
                    } else {
                        // SAFETY: as in `take`: DONE, so the payload is
                        // ours; item `i` did not fail and was not taken
                        // (its bit was set; all bits are now cleared, so
                        // `free_slot` drops none of these); `take` is
                        // `take_result` for the slot's types.
                        #[allow(unsafe_code)]
                        sink(i, Ok(unsafe { take(payload, BYTES, i) }));
                    }
                }
            }
        }
        self.free_slot(s);
    }

    /// Gives slot `s` back: its untaken results are dropped.
    pub(crate) fn free_slot(&self, s: usize) {
        let l = &self.local[s];
        if !l.busy.get() {
            return;
        }
        if let Ended::Done { failed } = self.ended(s)
            && let Some(drop_results) = l.drop_results.get()
        {
            // SAFETY: DONE, so the payload is ours and holds results of
            // the types `drop_results` was made for; only untaken,
            // non-failed ones are dropped.
            #[allow(unsafe_code)]
            unsafe {
                drop_results(
                    self.ring.slots[s].payload.ptr(),
                    BYTES,
                    l.count.get(),
                    failed,
                    l.untaken.get(),
                )
            };
        }
        // Counted in `unattended` (see `submit`) until now.
        if !l.held.get() || l.callbacks.borrow().is_some() {
            self.unattended.set(self.unattended.get().saturating_sub(1));
        }
        // A callback never run is dropped here.
        drop(l.callbacks.borrow_mut().take());
        l.busy.set(false);
        l.held.set(false);
        l.untaken.set(Mask::default());
        l.drop_results.set(None);
        let _ = self.free.borrow_mut().push(s as u16);
    }

    /// A handle lets go of slot `s`: freed now if it ended, else when it
    /// does.
    pub(crate) fn release(&self, s: usize) {
        let l = &self.local[s];
        if !l.busy.get() || !l.held.get() {
            return;
        }
        let running = matches!(self.ended(s), Ended::Running);
        let has_callbacks = l.callbacks.borrow().is_some();
        if running || has_callbacks {
            l.held.set(false);
            if !has_callbacks {
                self.unattended.set(self.unattended.get() + 1);
            }
            if !running {
                self.service();
            }
        } else {
            self.free_slot(s);
        }
    }

    /// Runs the callbacks of ended tasks and frees ended slots nobody
    /// holds.
    fn service(&self) {
        if self.unattended.get() == 0 {
            return;
        }
        for s in 0..SLOTS {
            let l = &self.local[s];
            if !l.busy.get() || (l.held.get() && l.callbacks.borrow().is_none()) {
                continue;
            }
            let ended = self.ended(s);
            if matches!(ended, Ended::Running) {
                continue;
            }
            let callbacks = l.callbacks.borrow_mut().take();
            if let Some(callbacks) = callbacks {
                if l.held.get() {
                    // Attended from now on: its handle collects it.
                    self.unattended.set(self.unattended.get().saturating_sub(1));
                }
                match ended {
                    Ended::Done { failed } if !failed.has(0) => {
                        // SAFETY: DONE, so the payload is ours and holds
                        // the result the callbacks were made for (item 0:
                        // callbacks go with single tasks), not taken yet
                        // (a handle takes it only after the callback ran,
                        // and this runs before any other parent code
                        // touches the slot).
                        #[allow(unsafe_code)]
                        unsafe {
                            callbacks.run(Outcome::Done {
                                payload: self.ring.slots[s].payload.ptr(),
                                bytes: BYTES,
                                index: 0,
                            })
                        }
                    }
                    Ended::Done { .. } => {
                        let e = self.item_error("Pool::apply_async", s, ErrorKind::Panicked);
                        // SAFETY: a failure outcome touches no payload.
                        #[allow(unsafe_code)]
                        unsafe {
                            callbacks.run(Outcome::Failed(&e))
                        }
                    }
                    Ended::Failed(kind) => {
                        let e = self.item_error("Pool::apply_async", s, kind);
                        // SAFETY: as above.
                        #[allow(unsafe_code)]
                        unsafe {
                            callbacks.run(Outcome::Failed(&e))
                        }
                    }
                    Ended::Running => {}
                }
            }
            // The callback may have submitted, freed or released slots;
            // look at this one afresh.
            if l.busy.get() && !l.held.get() && l.callbacks.borrow().is_none() {
                self.free_slot(s);
            }
        }
    }

    // -------------------------------------------------------------- waiting

    /// Waits until `ready` holds or `deadline` passes, running the pool
    /// meanwhile: spins briefly, then parks in `poll` on the eventfd and
    /// the workers' sentinels, reaping dead workers and forking their
    /// replacements. Returns whether `ready` held.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        ready: impl Fn(&Self) -> bool,
    ) -> Result<bool> {
        self.service();
        if ready(self) {
            return Ok(true);
        }
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            if ready(self) {
                self.service();
                return Ok(true);
            }
            spins += 1;
            if spins.is_multiple_of(64) {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    self.service();
                    return Ok(ready(self));
                }
                let spent = now - start;
                if spent > ring::PARENT_SPIN_FOR {
                    break;
                }
                if spent > ring::YIELD_AFTER {
                    std::thread::yield_now();
                }
            }
            std::hint::spin_loop();
        }
        loop {
            let done = self.park(deadline, &ready)?;
            self.service();
            if done || ready(self) {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// One park: `poll` on the eventfd and the sentinels until something
    /// happens or `deadline`; then reaps and replaces dead workers.
    fn park(&self, deadline: Option<Instant>, ready: &impl Fn(&Self) -> bool) -> Result<bool> {
        let control = &self.ring.control.0;
        // SYNC POINT: flag, then look: a worker commits (SeqCst) and then
        // reads the flag (SeqCst), so it raises the eventfd or we see its
        // commit. Both sides' stores in these store-then-load pairs are
        // read-modify-writes: a full barrier on every target and under
        // qemu-user too, which may emulate a releasing store followed by
        // an acquiring load without the store-load fence between them.
        control.parent_parked.swap(1, Ordering::SeqCst);
        if ready(self) {
            control.parent_parked.store(0, Ordering::SeqCst);
            return Ok(true);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timeout = match (left, self.poll_timeout()) {
            (Some(l), Some(r)) => Some(l.min(r)),
            (l, r) => l.or(r),
        };
        let ready_bits = self.poll_workers(true, timeout)?;
        control.parent_parked.store(0, Ordering::SeqCst);
        if ready_bits & 1 != 0 {
            event::lower(self.wake.as_fd());
        }
        self.check_timeouts();
        if ready_bits & !1 != 0 {
            self.supervise();
        } else if self.dead.get() != 0 {
            self.refork();
        }
        Ok(ready(self))
    }

    /// Reaps dead workers: fails the task each was running with
    /// `WorkerDied`, and forks replacements while work remains.
    fn supervise(&self) {
        let count = self.workers.borrow().len();
        for w in 0..count {
            if self.dead.get() & (1 << w) != 0 {
                continue;
            }
            let (status, pid) = {
                let workers = self.workers.borrow();
                (workers[w].join_timeout(Duration::ZERO), workers[w].pid())
            };
            let code = match status {
                Ok(Some(code)) => code,
                Ok(None) => continue,
                // Reaped by the program itself (SIGCHLD ignored, or a
                // waitpid(-1) elsewhere): dead, its status lost.
                Err(e) if e.kind() == ErrorKind::ChildLost => LOST_STATUS,
                Err(_) => continue,
            };
            self.dead.set(self.dead.get() | 1 << w);
            self.ring.forget_worker(w);
            self.ring.busy_since[w].store(0, Ordering::Relaxed);
            let pid = pid.map(|p| p.as_raw()).unwrap_or(0);
            let timed_out = self.timed_out.get() & (1 << w) != 0;
            if timed_out {
                self.timed_out.set(self.timed_out.get() & !(1 << w));
                self.term_sent.borrow_mut()[w] = None;
                self.fail_running(w, pid, code, ring::TIMED_OUT);
            } else {
                self.fail_running(w, pid, code, ring::DIED);
            }
            // Only a death before the first task can repeat forever (a
            // task that kills its worker is consumed with it).
            let took_task = self.ring.started[w].load(Ordering::Acquire) == 2;
            self.back_off(w, code != 0 && !timed_out && !took_task);
            if self.ring.started[w].load(Ordering::Acquire) != 0 {
                self.init_failures.set(0);
            } else if self.initializer.is_some() && code > 0 {
                // The initializer panicked (exit 1) or exited.
                self.init_failures.set(self.init_failures.get() + 1);
                if self.init_failures.get() >= INIT_FAILURES {
                    self.break_pool(ErrorKind::InitializerFailed { exitcode: code });
                    return;
                }
            }
        }
        self.refork();
    }

    /// Forks replacements for dead workers while work remains; one that
    /// cannot be forked now is retried at the next park (within 100 ms).
    fn refork(&self) {
        if self.respawn_at.get().is_some_and(|t| Instant::now() < t) {
            return;
        }
        let count = self.workers.borrow().len();
        for w in 0..count {
            if self.dead.get() & (1 << w) == 0 || w >= self.size.get() || !self.wants_workers() {
                continue;
            }
            if let Ok(p) = self.fork_worker(w) {
                self.workers.borrow_mut()[w] = p;
                self.dead.set(self.dead.get() & !(1 << w));
            }
        }
    }

    /// Whether replacements are needed: running, or closed with tasks
    /// still queued.
    fn wants_workers(&self) -> bool {
        if self.broken.get().is_some() {
            return false;
        }
        match self.phase.get() {
            Phase::Running => true,
            Phase::Closed => {
                self.ring.head.0.load(Ordering::Acquire) < self.ring.tail_count(Ordering::Acquire)
            }
            Phase::Terminated => false,
        }
    }

    /// Marks the slots worker `w` was running as ended by its death
    /// (`kind`: `DIED` or `TIMED_OUT`).
    fn fail_running(&self, w: usize, pid: i32, code: i32, kind: u64) {
        for (s, slot) in self.ring.slots.iter().enumerate() {
            let st = slot.state.load(Ordering::Acquire);
            if ring::kind(st) == ring::RUNNING && ring::worker(st) == w {
                self.fds.lost(s);
                slot.died_pid.store(pid, Ordering::Relaxed);
                slot.died_code.store(code, Ordering::Relaxed);
                slot.state.store(
                    ring::state(ring::seq(st), kind, w as u64),
                    Ordering::Release,
                );
            }
        }
    }

    /// Stops the pool for good: kills and reaps the workers and fails every
    /// task not ended with `kind`.
    fn break_pool(&self, kind: ErrorKind) {
        if kind != ErrorKind::Terminated {
            self.broken.set(Some(kind));
        }
        self.ring.control.0.stop.swap(1, Ordering::SeqCst);
        self.ring.wake_all_workers();
        self.stop_workers();
        self.fds.clear();
        for s in 0..SLOTS {
            let l = &self.local[s];
            if l.busy.get() && matches!(self.ended(s), Ended::Running) {
                l.failure.set(Some(kind));
            }
        }
        self.service();
    }

    /// `SIGTERM` to every worker, `SIGKILL` to those left after the grace
    /// period, then reaps them all.
    fn stop_workers(&self) {
        let workers = self.workers.borrow();
        for w in workers.iter() {
            let _ = w.terminate();
        }
        let deadline = Instant::now() + TERMINATE_GRACE;
        for w in workers.iter() {
            let left = deadline.saturating_duration_since(Instant::now());
            if !matches!(w.join_timeout(left), Ok(Some(_))) {
                let _ = w.kill();
                let _ = w.join();
            }
        }
        // All reaped: none is live any more (`pids`, the sentinels).
        self.dead.set(u64::MAX >> (64 - POOL_MAX_WORKERS.max(1)));
    }

    /// Does the pool's pending work without waiting: reaps dead workers
    /// (failing their tasks, forking replacements), runs the callbacks of
    /// ended tasks, frees slots nobody holds. Call it when
    /// [`Pool::sentinel`] or a worker sentinel fires in a daemon's loop.
    ///
    /// # Errors
    ///
    /// A forked child's copy of the pool refuses (`InvalidArgument`).
    pub fn poll(&self) -> Result<()> {
        self.check_owner("Pool::poll")?;
        event::lower(self.wake.as_fd());
        self.check_timeouts();
        // A failed poll counts as a death: `supervise` looks at each worker.
        let any_dead = !matches!(self.poll_workers(false, Some(Duration::ZERO)), Ok(0));
        if any_dead {
            self.supervise();
        } else if self.dead.get() != 0 {
            self.refork();
        }
        self.service();
        Ok(())
    }

    /// The descriptors that become readable when a worker ends, for a
    /// daemon's [`wait`](crate::ipc::wait) set (with [`Pool::sentinel`]).
    /// A worker's descriptor changes when it is replaced: take them afresh
    /// after each [`Pool::poll`].
    pub fn sentinels(&self) -> heapless::Vec<std::os::fd::RawFd, POOL_MAX_WORKERS> {
        let workers = self.workers.borrow();
        self.live(&workers)
            .filter_map(|w| w.sentinel().ok().map(|fd| fd.as_raw_fd()))
            .collect()
    }

    // ------------------------------------------------------------ operations

    /// Runs `f(arg)` in a worker and waits for the result (Python's
    /// `apply(f, (arg,))`).
    ///
    /// # Errors
    ///
    /// The task's failure ([`ErrorKind::Panicked`],
    /// [`ErrorKind::WorkerDied`], [`ErrorKind::Terminated`]); as
    /// [`Pool::apply_async`] for the submission.
    pub fn apply<F, A, R>(&self, f: F, arg: A) -> core::result::Result<R, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Queues `f(arg)` for a worker and returns at once (Python's
    /// `apply_async(f, (arg,))`). Allocation-free.
    ///
    /// At most `SLOTS` tasks can be outstanding (submitted, with their
    /// [`AsyncResult`] not yet collected or dropped). When every slot is
    /// taken by a task whose handle is dropped or which has callbacks, this
    /// waits for one to end; when every slot waits for a handle the caller
    /// holds, waiting could never end, and this fails instead.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PoolNotRunning`] after [`Pool::close`] or
    /// [`Pool::terminate`]; [`ErrorKind::CapacityExceeded`] naming
    /// `MPROC_POOL_SLOTS` (see above) or `MPROC_POOL_TASK_BYTES` (the
    /// argument or the result does not fit a slot); nothing is queued then.
    pub fn apply_async<F, A, R>(&self, f: F, arg: A) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
    {
        self.submit_one(f, arg, None)
    }

    /// [`Pool::apply_async`] with Python's `callback` and `error_callback`:
    /// exactly one of them runs, once, in this process, when the pool next
    /// acts after the task ended (see the [module docs](self#callbacks-and-when-the-pool-does-its-work)):
    /// `callback` with a reference to the result (which the
    /// [`AsyncResult`] can still [`get`](AsyncResult::get)), or
    /// `error_callback` with the error. A pool that is terminated or
    /// dropped runs the pending `error_callback`s with
    /// [`ErrorKind::Terminated`].
    ///
    /// The two closures may capture at most 48 bytes together, aligned to
    /// at most 8 (checked at compile time; they are kept inline, not
    /// boxed); share bigger state through one `Rc`.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async`].
    pub fn apply_async_with<F, A, R, C, E>(
        &self,
        f: F,
        arg: A,
        callback: C,
        error_callback: E,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
        C: FnOnce(&R) + 'static,
        E: FnOnce(&TaskError) + 'static,
    {
        let callbacks = Callbacks::new::<A, R, C, E>(callback, error_callback);
        self.submit_one(f, arg, Some(callbacks))
    }

    fn submit_one<F, A, R>(
        &self,
        f: F,
        arg: A,
        callbacks: Option<Callbacks<TaskError>>,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: TaskData,
        R: TaskData,
    {
        let op = "Pool::apply_async";
        let mut arg = core::iter::once(arg);
        match self.submit::<map::Direct<F>, A, R>(
            op,
            map::Direct(f),
            &mut arg,
            1,
            true,
            callbacks,
        )? {
            Some((s, _)) => Ok(AsyncResult::new(self, s, erased::take_result::<A, R>)),
            // Cannot happen: the iterator holds one item.
            None => Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("no argument"),
            )),
        }
    }

    /// Stops taking tasks (Python's `close()`): the workers finish what is
    /// queued, then [`Pool::join`] waits for them to exit. Results stay
    /// fetchable.
    pub fn close(&self) {
        if self.phase.get() == Phase::Running {
            self.phase.set(Phase::Closed);
        }
    }

    /// Stops the workers now (Python's `terminate()`): `SIGTERM`, then
    /// `SIGKILL` after half a second; every task not ended fails with
    /// [`ErrorKind::Terminated`] (and its `error_callback` runs). Results
    /// of ended tasks stay fetchable.
    ///
    /// # Errors
    ///
    /// A forked child's copy of the pool refuses (`InvalidArgument`).
    pub fn terminate(&self) -> Result<()> {
        self.check_owner("Pool::terminate")?;
        if self.phase.get() != Phase::Terminated {
            self.phase.set(Phase::Terminated);
            self.break_pool(ErrorKind::Terminated);
        }
        Ok(())
    }

    /// Waits until every submitted task has ended and the workers have
    /// exited (Python's `join()`), replacing workers that die meanwhile;
    /// runs callbacks as tasks end. Only after [`Pool::close`] or
    /// [`Pool::terminate`], as in Python.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] while the pool is running.
    pub fn join(&self) -> Result<()> {
        self.join_until("Pool::join", None).map(|_| ())
    }

    /// [`Pool::join`] for at most `timeout`: whether everything ended and
    /// every worker exited. On `false` the pool stays closed and a later
    /// call (or [`Pool::terminate`]) goes on from there.
    ///
    /// # Errors
    ///
    /// As [`Pool::join`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.join_until("Pool::join_timeout", Instant::now().checked_add(timeout))
    }

    fn join_until(&self, op: &'static str, deadline: Option<Instant>) -> Result<bool> {
        self.check_owner(op)?;
        if self.phase.get() == Phase::Running {
            return Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("join needs close() or terminate() first"),
            ));
        }
        let ended = self.wait_until(deadline, |p| {
            (0..SLOTS).all(|s| !p.local[s].busy.get() || !matches!(p.ended(s), Ended::Running))
        })?;
        if !ended {
            return Ok(false);
        }
        self.ring.control.0.stop.swap(1, Ordering::SeqCst);
        self.ring.wake_all_workers();
        let mut all = true;
        for (i, w) in self.workers.borrow().iter().enumerate() {
            let joined = match deadline {
                None => {
                    let _ = w.join();
                    true
                }
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    matches!(w.join_timeout(left), Ok(Some(_)) | Err(_))
                }
            };
            if joined {
                self.dead.set(self.dead.get() | 1 << i);
            }
            all &= joined;
        }
        self.service();
        Ok(all)
    }
}

impl<const SLOTS: usize, const BYTES: usize> Drop for Pool<SLOTS, BYTES> {
    /// Python's `with Pool() as p:` exit: terminate, then join. A forked
    /// child's copy leaves the workers alone.
    fn drop(&mut self) {
        if sys::process::getpid() == self.owner {
            let _ = self.terminate();
            for s in 0..SLOTS {
                self.free_slot(s);
            }
        }
    }
}

impl<const SLOTS: usize, const BYTES: usize> core::fmt::Debug for Pool<SLOTS, BYTES> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.size)
            .field("slots", &SLOTS)
            .field("task_bytes", &BYTES)
            .field("outstanding", &self.outstanding())
            .field("phase", &self.phase.get())
            .finish()
    }
}
