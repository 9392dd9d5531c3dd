//! [`PoolBuilder`]: Python's optional arguments of `Pool(...)`, and the
//! forking of the first workers.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::ring::Ring;
use super::{Knobs, Local, Phase, Pool, fd};
use crate::config::POOL_MAX_WORKERS;
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::process;
use crate::sys::{self, event};

/// Builds a [`Pool`] with Python's optional arguments: `processes`,
/// `initializer` with its argument, `maxtasksperchild`; and the sizes of
/// its ring of task slots chosen at run time ([`slots`](Self::slots),
/// [`task_bytes`](Self::task_bytes); see the module docs, "Ring sizes").
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
    slots: Option<usize>,
    task_bytes: Option<usize>,
}

/// The most task slots a pool's ring has (its slot numbers are 16 bits),
/// for [`PoolBuilder::slots`] and `build_sized`'s `SLOTS` alike.
pub const SLOTS_MAX: usize = 65_535;
/// The fewest bytes [`PoolBuilder::task_bytes`] takes (as
/// `MPROC_POOL_TASK_BYTES`): a `u64` argument.
pub const TASK_BYTES_MIN: usize = 8;
/// The most bytes [`PoolBuilder::task_bytes`] takes (as
/// `MPROC_POOL_TASK_BYTES`): 1 MiB per slot.
pub const TASK_BYTES_MAX: usize = 1 << 20;

/// The knob texts of run-time sizes, as errors name them.
const SLOTS_KNOB: &str = "PoolBuilder::slots (MPROC_POOL_SLOTS): 1 to SLOTS_MAX";
const TASK_BYTES_RANGE: &str =
    "PoolBuilder::task_bytes (MPROC_POOL_TASK_BYTES): TASK_BYTES_MIN to TASK_BYTES_MAX";

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

    /// The ring's task slots, chosen at run time (instead of the build's
    /// `MPROC_POOL_SLOTS`, or `build_sized`'s `SLOTS`), 1 to
    /// [`SLOTS_MAX`]: at most this many tasks (a map chunk counts once)
    /// are submitted and not yet collected. Python's pool has no such
    /// bound (its queue grows); here a submission past it waits for an
    /// unattended task to end, or fails when every slot waits for a
    /// handle the caller holds.
    ///
    /// The slots live in the pool's shared mapping; the parent's table of
    /// them is allocated once, when the pool is built.
    pub fn slots(mut self, n: usize) -> PoolBuilder {
        self.slots = Some(n);
        self
    }

    /// The bytes of one task slot, chosen at run time (instead of the
    /// build's `MPROC_POOL_TASK_BYTES`, or `build_sized`'s `BYTES`),
    /// [`TASK_BYTES_MIN`] to [`TASK_BYTES_MAX`]: a task's argument,
    /// then its result, share them (a map chunk's items too); with the
    /// `serde` feature, an encoded value takes up to this less an 8-byte
    /// header. For a program that learns its values' size only when it
    /// runs (`task_bytes(64 * 1024)` for 64 KiB values). Pages of the
    /// shared mapping cost memory only once a task has written them.
    pub fn task_bytes(mut self, n: usize) -> PoolBuilder {
        self.task_bytes = Some(n);
        self
    }

    /// Forks the workers: a pool whose ring has the sizes given with
    /// [`slots`](PoolBuilder::slots) and
    /// [`task_bytes`](PoolBuilder::task_bytes), by default the build's
    /// `MPROC_POOL_SLOTS` slots of `MPROC_POOL_TASK_BYTES` bytes.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build_sized`].
    pub fn build(self) -> Result<Pool> {
        self.build_sized()
    }

    /// Forks the workers: a pool of type `Pool<SLOTS, BYTES>`, whose ring
    /// has `SLOTS` slots of `BYTES` bytes unless
    /// [`slots`](PoolBuilder::slots) or
    /// [`task_bytes`](PoolBuilder::task_bytes) chose otherwise (the
    /// run-time sizes win; `SLOTS` still bounds how many chunks one
    /// `imap` keeps in flight).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for 0 workers, 0 slots or fewer
    /// than [`TASK_BYTES_MIN`] bytes given to `task_bytes`, and
    /// [`ErrorKind::CapacityExceeded`] for more than [`SLOTS_MAX`] slots
    /// or [`TASK_BYTES_MAX`] bytes given to `task_bytes` (each naming
    /// its knob in [`Resource::Capacity`]);
    /// [`ErrorKind::CapacityExceeded`] for more workers than
    /// `MPROC_POOL_MAX_WORKERS`; [`ErrorKind::Os`] (`ENOMEM`, naming the
    /// knobs) when the kernel refuses to map the ring;
    /// [`ErrorKind::DaemonicParent`] in a daemonic process (Python's
    /// rule: the workers would be its children) — all of these before
    /// any worker is forked; then the errors of
    /// [`Process::start`](crate::process::Process::start) (other threads
    /// running, the kernel refusing a process).
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
        let (slots, bytes, knobs) = self.sizes::<SLOTS, BYTES>(op, resource)?;
        let ring = Ring::new(slots, bytes).map_err(|(e, _)| {
            Error::os(
                op,
                Resource::Capacity(
                    "the ring's mapping: PoolBuilder::slots × PoolBuilder::task_bytes \
                     (MPROC_POOL_SLOTS × MPROC_POOL_TASK_BYTES)",
                ),
                e,
            )
        })?;
        let ring = Rc::new(ring);
        let wake = event::eventfd().map_err(|e| Error::os("eventfd", resource, e))?;
        let watch_event = event::eventfd().map_err(|e| Error::os("eventfd", resource, e))?;
        let fds = fd::FdQueue::new(resource, slots)?;
        // Half the CPUs may spin for work (at least one): the parent and
        // the workers running tasks need the others.
        let cpus = process::cpu_count().unwrap_or(1);
        ring.control
            .0
            .max_spinning
            .store((cpus / 2).clamp(1, size) as u32, Ordering::Relaxed);
        // Room for every slot now: pushing a freed slot never allocates.
        let free: Vec<u16> = (0..slots).rev().map(|s| s as u16).collect();
        let pool = Pool {
            ring,
            wake,
            watch_event,
            watch: RefCell::new(None),
            watchers: Cell::new(0),
            #[cfg(feature = "tokio")]
            driver: RefCell::new(None),
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
            local: (0..slots).map(|_| Local::new()).collect(),
            free: RefCell::new(free),
            knobs,
            next_seq: Cell::new(0),
            head_seen: Cell::new(0),
            peer_cpu: Cell::new(0),
            phase: Cell::new(Phase::Running),
            unattended: Cell::new(0),
            init_failures: Cell::new(0),
            poll_delay: Cell::new(0),
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

impl PoolBuilder {
    /// The ring's slots and bytes (the run-time knobs, else `SLOTS` and
    /// `BYTES`), checked, and the knob names errors give them.
    fn sizes<const SLOTS: usize, const BYTES: usize>(
        &self,
        op: &'static str,
        resource: Resource,
    ) -> Result<(usize, usize, Knobs)> {
        let slots = self.slots.unwrap_or(SLOTS);
        let slots_knob = if self.slots.is_some() {
            SLOTS_KNOB
        } else {
            "MPROC_POOL_SLOTS"
        };
        if slots == 0 {
            let kind = ErrorKind::InvalidArgument("a pool has at least one task slot");
            return Err(match self.slots {
                Some(_) => Error::new(op, Resource::Capacity(slots_knob), kind),
                None => Error::new(op, resource, kind),
            });
        }
        if slots > SLOTS_MAX {
            return Err(Error::new(
                op,
                Resource::Capacity(slots_knob),
                ErrorKind::CapacityExceeded { limit: SLOTS_MAX },
            ));
        }
        let bytes = match self.task_bytes {
            None => BYTES,
            Some(n) if n < TASK_BYTES_MIN => {
                return Err(Error::new(
                    op,
                    Resource::Capacity(TASK_BYTES_RANGE),
                    ErrorKind::InvalidArgument(
                        "a pool's task slot has at least TASK_BYTES_MIN (8) bytes",
                    ),
                ));
            }
            Some(n) if n > TASK_BYTES_MAX => {
                return Err(Error::new(
                    op,
                    Resource::Capacity(TASK_BYTES_RANGE),
                    ErrorKind::CapacityExceeded {
                        limit: TASK_BYTES_MAX,
                    },
                ));
            }
            Some(n) => n,
        };
        let knobs = Knobs {
            slots: if self.slots.is_some() {
                "PoolBuilder::slots"
            } else {
                "MPROC_POOL_SLOTS"
            },
            bytes: if self.task_bytes.is_some() {
                "PoolBuilder::task_bytes"
            } else {
                "MPROC_POOL_TASK_BYTES"
            },
        };
        Ok((slots, bytes, knobs))
    }
}

/// A 64-bit mix (splitmix64's finaliser): spreads a counter over the bits.
pub(super) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A key for sealing task entries: random per pool (std's hasher keys come
/// from the OS's random source), mixed with the pid and the time.
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
            slots: None,
            task_bytes: None,
        }
    }
}
