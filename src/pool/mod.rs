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
//!   made before the fork: by default the build-time `MPROC_POOL_SLOTS` =
//!   64 slots of `MPROC_POOL_TASK_BYTES` = 2048 bytes each, or the sizes
//!   chosen when the pool is built (see "Ring sizes" below). A slot
//!   carries a task's argument, then its result (or a chunk of a `map`'s
//!   items). Handing a task to a busy worker and its result back costs no
//!   system call: both sides watch the slot for a few microseconds before
//!   they park.
//!
//! # Ring sizes: at build time, by const generics, or at run time
//!
//! How many tasks may be outstanding (the slots) and how big a task's
//! argument and result may be (a slot's bytes) are chosen in one of
//! three ways, the latest winning:
//!
//! | where | slots | bytes per slot |
//! |---|---|---|
//! | the crate's build (`build.rs`) | `MPROC_POOL_SLOTS` (1 to 4096, default 64) | `MPROC_POOL_TASK_BYTES` (8 to 1 MiB, default 2048) |
//! | the pool's type, `Pool<SLOTS, BYTES>` with [`PoolBuilder::build_sized`] | `SLOTS` (1 to [`SLOTS_MAX`]) | `BYTES` |
//! | the running program, [`PoolBuilder::slots`], [`PoolBuilder::task_bytes`] | 1 to [`SLOTS_MAX`] | [`TASK_BYTES_MIN`] to [`TASK_BYTES_MAX`] |
//!
//! ```no_run
//! use mproc::pool::Pool;
//! # fn value_size_from_config() -> usize { 64 * 1024 }
//! // Learnt when the program runs: values up to 64 KiB, 16 in flight.
//! let pool = Pool::builder()
//!     .processes(4)
//!     .slots(16)
//!     .task_bytes(value_size_from_config())
//!     .build()?;
//! assert_eq!((pool.slots(), pool.task_bytes()), (16, 64 * 1024));
//! # Ok::<(), mproc::Error>(())
//! ```
//!
//! There is one ring either way: it is always laid out when the pool is
//! built (a header, then the slots, each a fixed header and its bytes,
//! on cache lines of their own), and the const generics are the sizes it
//! gets when the run-time knobs are not given. So the const-generic and
//! `MPROC_*` forms that firmware builds use keep their meaning and their
//! costs: the ring is an anonymous mapping, not heap, whatever its size,
//! and a pool's construction already allocates (the handle of the ring
//! shared with the workers, each worker's boxed target when it is
//! forked), so the parent's per-slot tables (a record and a free-list
//! entry per slot, a key per slot for descriptor tasks) are allocated
//! there too, once, sized to the ring. After that the pool allocates
//! nothing, whichever form made it (`tests/alloc/` checks a run-time
//! sized pool too). A separate run-time-only type would have doubled
//! every handle type ([`AsyncResult`], [`Imap`], [`MapResult`]); keeping
//! the tables inline in the `Pool` for the const form would have kept
//! two layouts of every per-slot access for a saving of one allocation
//! at start-up. `SLOTS` still bounds one thing at compile time: how many
//! chunks one `imap` keeps in flight (its table is on the caller's stack,
//! so that a map allocates nothing), at most
//! `min(4 × processes, slots, SLOTS)`.
//!
//! Bad sizes are refused by `build` before any worker is forked, naming
//! the knob and its limit in [`Resource::Capacity`]: 0 slots or fewer than
//! [`TASK_BYTES_MIN`] bytes with [`ErrorKind::InvalidArgument`], more than
//! [`SLOTS_MAX`] slots or [`TASK_BYTES_MAX`] bytes with
//! [`ErrorKind::CapacityExceeded`], and a ring the kernel will not map
//! (the address space, `RLIMIT_AS`, overcommit) with [`ErrorKind::Os`].
//! Later refusals name the knob that sized the pool: a task too big for
//! a slot (`MPROC_POOL_TASK_BYTES` or `PoolBuilder::task_bytes`), every
//! slot held by the caller's handles (`MPROC_POOL_SLOTS` or
//! `PoolBuilder::slots`). Memory: the ring takes about
//! `slots × (232 + bytes)` bytes of address space (a slot's 32-byte
//! header, 32 bytes of room to align a payload to 64, and 168 bytes for
//! what a failed task leaves), and pages cost memory only once a task has
//! written them.
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
//! # Values of any type (feature `serde`)
//!
//! Python's pool pickles whatever it is given. With the crate's `serde`
//! feature, any `Serialize + DeserializeOwned` value (a `String`, a
//! `Vec`, a struct of yours with `#[derive(Serialize, Deserialize)]`…)
//! is an argument or a result, through each entry point's `_value`
//! form: `Pool::apply_value`, `Pool::apply_async_value` (and its
//! `_with` and `_callback` forms, the callbacks given the decoded
//! result), and the map family's `_values` forms:
//! `Pool::map_values`, `Pool::map_async_values`,
//! `Pool::imap_values`, `Pool::imap_unordered_values`,
//! `Pool::starmap_values`. The plain names stay the copy-by-bytes
//! route of [`TaskData`] values; a separate name, not a blanket impl,
//! keeps the two apart (a type may be both), as
//! `Connection::send_value` does beside `send`. The task is still a plain `fn(A) -> R`.
//!
//! ```no_run
//! # #[cfg(feature = "serde")] {
//! use mproc::pool::Pool;
//!
//! fn stem(path: String) -> String {
//!     path.rsplit('/').next().unwrap_or("").trim_end_matches(".txt").to_string()
//! }
//!
//! // Python: with Pool(4) as p: p.map(stem, paths)
//! let pool = Pool::new(4)?;
//! let paths: Vec<String> = (0..1000).map(|i| format!("/srv/data/file-{i:05}.txt")).collect();
//! let stems = pool.map_values(stem, paths, None)?;
//! assert_eq!(stems[42], "file-00042");
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Values are encoded with postcard straight into the task's slot, and
//! the worker encodes the result into the same slot: the transport
//! allocates nothing (only building the values does). Sizes stay
//! bounded and named: an argument whose encoding does not fit a slot
//! ([`Pool::task_bytes`] less an 8-byte header; a program that learns
//! its values' size at run time sizes the slots with
//! [`PoolBuilder::task_bytes`]) is refused when submitted with
//! [`ErrorKind::EncodedSize`] (its size, the room,
//! `TASK_BYTES_KNOB`), losing nothing already submitted; a result that
//! does not fit fails its own task with that error (the chunks of a map
//! share a slot: its results share the room, `CHUNK_KNOB`); a result that
//! does not decode fails its task with [`ErrorKind::InvalidData`].
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
//! An event loop or an async runtime that waits for results without
//! calling into the pool takes [`Pool::watch`]: a descriptor readable
//! while a result is ready to collect or a worker died, raised by the
//! workers only while a watch is held.
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
//! | any picklable argument or result | the `_value`/`_values` forms (feature `serde`): `apply_value`, `apply_async_value`, `map_values`, `imap_values`, `imap_unordered_values`, `starmap_values`… |
//! | `close`, `terminate`, `join`, `with Pool() as p` | [`Pool::close`], [`Pool::terminate`], [`Pool::join`], drop |
//! | `await loop.run_in_executor(pool, f, x)` (asyncio with a `ProcessPoolExecutor`) | `pool.apply_async(f, x)?.await` (feature `tokio`: `mproc::aio`); any event loop: [`Pool::watch`] |

// `TaskError` carries its panic message inline (about 250 bytes) so that
// failing allocates nothing; results carrying it are that big by design.
#![allow(clippy::result_large_err)]

mod apply;
#[cfg(feature = "tokio")]
mod awaited;
mod builder;
mod callback;
mod collect;
mod fd;
pub(crate) mod map;
#[cfg(feature = "serde")]
mod map_value;
mod result;
mod ring;
mod route;
mod shutdown;
mod steer;
#[cfg(feature = "serde")]
mod value;
mod watch;
mod worker;
mod workers;

pub use crate::sys::task::TaskData;
pub use builder::{PoolBuilder, SLOTS_MAX, TASK_BYTES_MAX, TASK_BYTES_MIN};
pub use map::{Call, Direct, Imap, MapResult, Star, StarFn};
/// `#[derive(TaskData)]`: the compile-time checks instead of an `unsafe impl`.
#[cfg(feature = "derive")]
pub use mproc_derive::TaskData;
pub use result::{AsyncResult, PanicMessage, TaskError};
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use value::{CHUNK_KNOB, Encoded, TASK_BYTES_KNOB};
pub use watch::PoolWatch;

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::config::{POOL_MAX_WORKERS, POOL_SLOTS, POOL_TASK_BYTES};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::process::Process;
use crate::sys;
use crate::sys::task::{Callbacks, Mask};
use ring::Ring;

/// A worker process: its target is the worker loop, boxed once per fork.
type WorkerProcess = Process<Box<dyn FnOnce()>>;

/// Drops the untaken results of a slot (typed at submission).
type DropResults = unsafe fn(*mut u8, usize, usize, Mask, Mask);

/// The exit code [`ErrorKind::WorkerDied`] reports for a worker whose
/// status the program took itself (`SIGCHLD` ignored, or a `waitpid(-1)`
/// elsewhere): `i32::MIN`.
pub const LOST_STATUS: i32 = i32::MIN;

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
    /// Its values are encoded (the serde route): failed items say why in
    /// the slot's bytes (see `value.rs`).
    value: Cell<bool>,
    /// Where the last result read from an encoded chunk left off (see
    /// `value.rs`): the index and offset of the next record.
    cursor: Cell<(usize, usize)>,
    callbacks: RefCell<Option<Callbacks<TaskError>>>,
    /// The task awaiting this slot's result (feature `tokio`: see
    /// `aio::pool`), woken by the pool's async driver when it ends.
    #[cfg(feature = "tokio")]
    waker: RefCell<Option<std::task::Waker>>,
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
            value: Cell::new(false),
            cursor: Cell::new((0, 0)),
            callbacks: RefCell::new(None),
            #[cfg(feature = "tokio")]
            waker: RefCell::new(None),
        }
    }
}

/// The names errors give the ring's sizes (see [`Pool::slots`]).
#[derive(Clone, Copy)]
struct Knobs {
    slots: &'static str,
    bytes: &'static str,
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
/// fixed ring of task slots, `SLOTS` slots of `BYTES` bytes unless
/// [`PoolBuilder::slots`] and [`PoolBuilder::task_bytes`] chose other
/// sizes when it was built (see the [module docs](self), "Ring sizes"). Used from the process that made it; a forked
/// child's copy refuses every call, and its drop leaves the workers alone.
///
/// Methods take `&self`, so results can be waited for while more tasks
/// are submitted.
///
/// Neither `Send` nor `Sync`: the pool belongs to the thread that made
/// it. Its bookkeeping is in `Cell`s; the callbacks it runs and its
/// initializer may hold `Rc`s; and the replacements it forks for dead
/// workers die with the thread that forks them (`PR_SET_PDEATHSIG`), so
/// a pool moved to a thread that then ended would lose its workers. An
/// async program keeps it in a current-thread runtime (`block_on`, a
/// `LocalSet`'s `spawn_local`): see `mproc::aio` (feature `tokio`). Its
/// handles ([`AsyncResult`], [`Imap`], [`PoolWatch`]) borrow it and are
/// not `Send` either.
pub struct Pool<const SLOTS: usize = POOL_SLOTS, const BYTES: usize = POOL_TASK_BYTES> {
    ring: Rc<Ring>,
    /// Raised by a worker that finishes a task while the parent is parked.
    wake: OwnedFd,
    /// Raised by a worker that finishes a task while the parent holds a
    /// [`PoolWatch`] (see `watch.rs`).
    watch_event: OwnedFd,
    /// The epoll set of [`Pool::watch`]: `watch_event` and the live
    /// workers' sentinels, made by the first watch.
    watch: RefCell<Option<sys::epoll::Epoll>>,
    /// Live [`PoolWatch`]es (this process's: a pool has one user).
    watchers: Cell<u32>,
    /// The async driver of awaited results (feature `tokio`: see
    /// `aio::pool`): the pool's watch registered with the runtime while
    /// some result is awaited.
    #[cfg(feature = "tokio")]
    driver: RefCell<Option<crate::aio::Driver>>,
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
    /// Per slot (allocated once, when the pool is built).
    local: Box<[Local]>,
    /// The free slots (its room, one per slot, allocated when the pool is
    /// built: pushing never grows it).
    free: RefCell<Vec<u16>>,
    /// The knobs that set the slots and their bytes, as errors name them
    /// (`MPROC_POOL_SLOTS`, or `PoolBuilder::slots` when chosen at run
    /// time; the same for the bytes).
    knobs: Knobs,
    next_seq: Cell<u64>,
    /// `head` as last read: it only grows.
    head_seen: Cell<u64>,
    /// The CPU the last result this process saw was committed on, plus
    /// one (0: not known): where a wait expects the worker (see
    /// `ring::shares_cpu`).
    peer_cpu: Cell<u32>,
    phase: Cell<Phase>,
    /// Busy slots with callbacks or without a handle: what `service` scans.
    unattended: Cell<usize>,
    /// Workers in a row whose initializer failed.
    init_failures: Cell<u32>,
    /// Pauses a wait for the result of a lone task (the only one
    /// outstanding, as `apply`'s) spins before it first looks at the
    /// task's slot, learnt from the waits before: a look while the worker
    /// writes the slot takes the slot's line from it, and the worker's
    /// next write there waits for the line to come back (a cache-line
    /// round trip added to the task's). Adapted by one per wait so that
    /// about every other wait finds the result at its first look; at most
    /// `POLL_DELAY_MAX`. A wait among several outstanding tasks looks at
    /// once: its result is as likely to be there already.
    poll_delay: Cell<u32>,
    /// Bit `w`: worker `w` is dead (reaped) and not yet replaced.
    dead: Cell<u64>,
    broken: Cell<Option<ErrorKind>>,
    /// The descriptor queue of [`Pool::apply_async_fd`] (see `fd.rs`).
    fds: fd::FdQueue,
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
        self.slots() - self.free.borrow().len()
    }

    /// The task slots of the ring: at most this many tasks (a map chunk
    /// counts once) are submitted and not yet collected. `SLOTS` unless
    /// the pool was built with [`PoolBuilder::slots`].
    pub fn slots(&self) -> usize {
        self.ring.slot_count()
    }

    /// The bytes of one task slot: a task's argument, then its result (a
    /// map chunk's items share them). `BYTES` unless the pool was built
    /// with [`PoolBuilder::task_bytes`].
    pub fn task_bytes(&self) -> usize {
        self.ring.bytes()
    }

    /// The error for every slot held by the caller's handles.
    fn slots_exceeded(&self, op: &'static str) -> Error {
        Error::new(
            op,
            Resource::Capacity(self.knobs.slots),
            ErrorKind::CapacityExceeded {
                limit: self.slots(),
            },
        )
    }

    /// The error for a task whose argument or result does not fit a slot.
    fn bytes_exceeded(&self, op: &'static str) -> Error {
        Error::new(
            op,
            Resource::Capacity(self.knobs.bytes),
            ErrorKind::CapacityExceeded {
                limit: self.task_bytes(),
            },
        )
    }

    /// The pool's eventfd, readable when a worker finished a task while
    /// the parent was parked in a pool wait. For a daemon's
    /// [`wait`](crate::ipc::wait) set, together with the workers'
    /// sentinels ([`Pool::sentinels`]): when either fires, call
    /// [`Pool::poll`]. A loop that must learn of a result without calling
    /// a pool wait first (an async runtime, an epoll loop that awaits
    /// results) takes [`Pool::watch`] instead: one descriptor, readable
    /// while a result is ready or a worker died.
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
}

impl<const SLOTS: usize, const BYTES: usize> core::fmt::Debug for Pool<SLOTS, BYTES> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.size)
            .field("slots", &self.slots())
            .field("task_bytes", &self.task_bytes())
            .field("outstanding", &self.outstanding())
            .field("phase", &self.phase.get())
            .finish()
    }
}
