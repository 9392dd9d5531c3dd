//! The pool's shared memory: the ring of task slots, the submission order,
//! and the worker's side of the protocol.
//!
//! # Slot states
//!
//! Each slot's `state` word is `seq << 24 | kind << 16 | worker`, `seq`
//! being the submission number (40 bits). Each transition is one store or
//! one compare-and-swap by the slot's current owner:
//!
//! | kind | owner | next | by |
//! |---|---|---|---|
//! | `FREE` (all zero, before its first task), or an ended state already collected | parent | `QUEUED` | the parent, after writing the arguments (Release) |
//! | `QUEUED` | nobody yet | `RUNNING(w)` | worker `w`'s CAS (Acquire: it then reads the arguments) |
//! | `RUNNING(w)` | worker `w` | `DONE` | worker `w`, after writing the results (Release) |
//! | `RUNNING(w)` | worker `w` | `DIED` (`TIMED_OUT` when the parent stopped `w` for overrunning the task timeout) | the parent, after reaping `w` |
//! | `DONE`, `DIED`, `TIMED_OUT` | parent | — | the parent collects the results and puts the slot on its own free list (its `busy` flag, not this word, says it is free) |
//!
//! A worker killed at any instruction leaves its slot `RUNNING(w)`, which
//! the parent turns into `DIED` once it has reaped the worker; no other
//! slot is affected. Submission order is the `order` ring: `order[t % slots]`
//! is the slot of submission `t` (the newest one's slot is also in `tail`'s
//! low bits); `tail` counts submissions (the parent
//! alone stores it) and `head` the submissions claimed (workers advance it
//! by CAS, and anyone may advance it past a submission whose slot is no
//! longer `QUEUED` with that number, so a worker killed between its claim
//! and its advance stops nobody).

use std::mem::size_of;
use std::sync::atomic::{AtomicI32, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::POOL_MAX_WORKERS;
use crate::shm::Shareable;
use crate::sys::Errno;
use crate::sys::futex;
use crate::sys::mem::SharedCell;
use crate::sys::region::Region;
use crate::sys::task::{self, CHUNK_MAX, MESSAGE_LEN, Mask};

pub(crate) const QUEUED: u64 = 1;
pub(crate) const RUNNING: u64 = 2;
pub(crate) const DONE: u64 = 3;
pub(crate) const DIED: u64 = 4;
/// Like `DIED`, for a worker the parent stopped because its task ran past
/// the pool's task timeout.
pub(crate) const TIMED_OUT: u64 = 5;

const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// A state word.
pub(crate) const fn state(seq: u64, kind: u64, worker: u64) -> u64 {
    (seq & SEQ_MASK) << 24 | (kind & 0xff) << 16 | (worker & 0xffff)
}

/// The kind of a state word.
pub(crate) const fn kind(state: u64) -> u64 {
    (state >> 16) & 0xff
}

/// The worker of a `RUNNING` or `DONE` state word.
pub(crate) const fn worker(state: u64) -> usize {
    (state & 0xffff) as usize
}

/// The submission number of a state word.
pub(crate) const fn seq(state: u64) -> u64 {
    state >> 24
}

/// How long an idle worker watches for work before it parks.
pub(crate) const SPIN_FOR: Duration = Duration::from_micros(20);
/// How long the parent watches for a result before it parks in `poll`:
/// longer than a worker's watch, because on a virtual machine a worker is
/// now and then descheduled for tens of microseconds, and a park turns
/// that into a wake-up through the kernel on top. Only a caller that
/// waits pays it, and only up to this much CPU per wait.
pub(crate) const PARENT_SPIN_FOR: Duration = Duration::from_micros(200);
/// After this long, a watcher yields its CPU between looks, if the
/// process it waits for last ran on its CPU (see [`shares_cpu`]).
pub(crate) const YIELD_AFTER: Duration = Duration::from_micros(2);

/// This thread's CPU plus one, as a slot's CPU fields keep it (0: not
/// known).
pub(crate) fn cpu_hint() -> u16 {
    u16::try_from(crate::sys::cpu_plus_one()).unwrap_or(0)
}

/// Whether a watcher should yield its CPU: the process it waits for last
/// ran on this CPU (`peer`, plus one), or that is not known. A watcher
/// that yields while the other side runs elsewhere hands its CPU to
/// whatever else is runnable; beside a busy process that puts both sides
/// of a pool's round trip on one CPU, each hand-off a context switch. A
/// watcher whose peer shares its CPU must yield, or the peer cannot run.
pub(crate) fn shares_cpu(peer: u32) -> bool {
    peer == 0 || peer == crate::sys::cpu_plus_one()
}

/// A word on a cache line of its own.
#[repr(C, align(64))]
pub(crate) struct Padded<T>(pub(crate) T);

/// One task slot's header: what the parent and a worker exchange for
/// every task. It fills the first half of a cache line whose second half
/// is the start of the slot's payload (see [`Ring::payload`]), so a small
/// task's state, argument and result travel on one line.
#[repr(C, align(32))]
pub(crate) struct Slot {
    pub(crate) state: AtomicU64,
    /// The task's entry (see `sys::task::entry_of`).
    pub(crate) entry: AtomicU64,
    /// `entry` sealed with the pool's key and the submission number: a
    /// worker refuses to call an entry that fails it.
    pub(crate) check: AtomicU64,
    /// Items in the chunk (1 for `apply`).
    pub(crate) count: AtomicU16,
    /// The CPU the parent queued the task on, plus one (0: not known; see
    /// `sys::cpu_plus_one`): where a worker waiting for its next task
    /// expects the parent.
    pub(crate) parent_cpu: AtomicU16,
    /// 1 when an item of the chunk failed: which ones, and the first
    /// panic's message, are in the slot's [`SlotFaults`]. The worker
    /// stores it before every commit.
    pub(crate) failures: AtomicU16,
    /// The CPU the worker committed on, plus one (0: not known): where the
    /// parent waiting for its next result expects the worker.
    pub(crate) worker_cpu: AtomicU16,
}

// A slot's header: half a cache line on every target, the payload taking
// the other half.
const _: () = assert!(std::mem::size_of::<Slot>() == task::PAYLOAD_ALIGN);
// A chunk's item count fits the header's 16 bits.
const _: () = assert!(CHUNK_MAX <= u16::MAX as usize);

#[allow(unsafe_code)]
// SAFETY: repr(C) of atomics (Shareable): no pointers (the `entry` words
// are code addresses of this binary, checked against the pool's key before
// use and only ever in the anonymous segment of one pool's processes), no
// drop glue, all-zero valid (FREE).
unsafe impl Shareable for Slot {}

/// What a slot's task leaves when it fails, read only then: which items
/// failed and the first panic's message (written by the worker), a dead
/// worker's pid and exit code (by the parent). In an array after the
/// slots, off the lines a hand-off moves.
#[repr(C)]
pub(crate) struct SlotFaults {
    /// Bit `i`: item `i` of the chunk panicked (a `Mask`).
    pub(crate) failed: [AtomicU64; CHUNK_MAX / 64],
    pub(crate) message_len: AtomicU32,
    /// `DIED`: the dead worker's pid and exit code.
    pub(crate) died_pid: AtomicI32,
    pub(crate) died_code: AtomicI32,
    pub(crate) message: SharedCell<[u8; MESSAGE_LEN]>,
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of atomics and a SharedCell of bytes (all Shareable): no
// pointers, no drop glue, all-zero valid.
unsafe impl Shareable for SlotFaults {}

impl SlotFaults {
    pub(crate) fn store_failed(&self, m: Mask) {
        for (word, bits) in self.failed.iter().zip(m.0) {
            word.store(bits, Ordering::Relaxed);
        }
    }

    pub(crate) fn load_failed(&self) -> Mask {
        let mut m = Mask::default();
        for (bits, word) in m.0.iter_mut().zip(&self.failed) {
            *bits = word.load(Ordering::Relaxed);
        }
        m
    }
}

/// The fixed part of what the parent and the workers share; the ring's
/// run-time sized part (the `order` words and the slots) follows it.
#[repr(C)]
pub(crate) struct RingHead {
    /// Submissions made, shifted left 16 bits, and the slot of the last
    /// one in the low 16 bits (stored by the parent only): a worker that
    /// claims the newest submission (a lone `apply`) finds its slot here
    /// without reading `order`, one cache line fewer per hand-off.
    pub(crate) tail: Padded<AtomicU64>,
    /// Submissions claimed by workers.
    pub(crate) head: Padded<AtomicU64>,
    pub(crate) control: Padded<Control>,
    /// `started[w]`: 1 once worker `w`'s initializer returned, 2 once it
    /// took a task.
    pub(crate) started: [AtomicU32; POOL_MAX_WORKERS],
    /// `busy_since[w]`: when worker `w` took its current task
    /// (`CLOCK_MONOTONIC` nanoseconds, never 0), 0 while it has none: what
    /// the parent's task timeout measures (kept only in a pool that has
    /// one: 0 otherwise).
    pub(crate) busy_since: [AtomicU64; POOL_MAX_WORKERS],
    /// `running[w]`: 1 while worker `w`, a spinner, runs a task it
    /// claimed (set before its claim, cleared before its commit), each on
    /// a line of its own: what tells an idle spinner from a busy one (see
    /// [`Control`]). Read by others only when work is queued beyond what
    /// the spinners' bits cover.
    pub(crate) running: [Padded<AtomicU32>; POOL_MAX_WORKERS],
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of atomics (Shareable): no pointers, no drop glue,
// all-zero valid (nothing submitted, no worker started).
unsafe impl Shareable for RingHead {}

/// The ring, in one anonymous shared mapping made before the first fork
/// and sized when the pool is built: the [`RingHead`], then
/// `order[slots]` (`order[t % slots]`: the slot of submission `t`), then
/// `slots` slots of `stride` bytes each, a [`Slot`] header followed by
/// its payload, then `slots` [`SlotFaults`]. The order words and every
/// slot start on a cache line.
pub(crate) struct Ring {
    region: Region<RingHead>,
    slots: usize,
    bytes: usize,
    /// Where the first slot starts (after `order`).
    slots_at: usize,
    /// A slot's header and payload, rounded up to a cache line.
    stride: usize,
    /// Where the first slot's faults start (after the slots).
    faults_at: usize,
    /// `slots - 1` when `slots` is a power of two (the default 64): the
    /// order ring's index is then a mask, not a division.
    mask: Option<u64>,
}

/// `x` rounded up to a multiple of 64, or `None` on overflow.
fn line_up(x: usize) -> Option<usize> {
    x.checked_add(63).map(|x| x & !63)
}

impl Ring {
    /// A zero-filled ring of `slots` slots with `bytes` payload bytes
    /// each (the caller checked the ranges; `EINVAL` for 0 slots). `ENOMEM` when the total does
    /// not fit the address space or the kernel refuses the mapping; the
    /// total is returned beside it.
    pub(crate) fn new(slots: usize, bytes: usize) -> Result<Ring, (Errno, usize)> {
        if slots == 0 {
            return Err((Errno::EINVAL, 0));
        }
        let sizes = (|| {
            let slots_at = line_up(slots.checked_mul(4)?)?;
            // The payload: `bytes`, and room to align a type to 64 (see
            // `sys::task::PAYLOAD_ALIGN`).
            let span = bytes.checked_add(task::PAYLOAD_ALIGN)?;
            let stride = line_up(std::mem::size_of::<Slot>().checked_add(span)?)?;
            let faults_at = slots_at.checked_add(slots.checked_mul(stride)?)?;
            let len = faults_at.checked_add(slots.checked_mul(size_of::<SlotFaults>())?)?;
            Some((slots_at, stride, faults_at, len))
        })();
        let Some((slots_at, stride, faults_at, len)) = sizes else {
            return Err((Errno::ENOMEM, usize::MAX));
        };
        let region = Region::zeroed(len).map_err(|e| (e, len))?;
        // The layout's bounds and alignment, checked once here for the
        // last order word, slot, payload and faults (the others lie before
        // them, on the same alignment): `slot`, `order`, `payload` and
        // `faults` rely on it.
        let last = slots_at + (slots - 1) * stride;
        let last_faults = faults_at + (slots - 1) * size_of::<SlotFaults>();
        // SAFETY: nothing else has reached the region yet; these checks
        // only look (the references are dropped at once).
        #[allow(unsafe_code)]
        let fits = unsafe {
            region.get::<AtomicU32>((slots - 1) * 4).is_some()
                && region.get::<Slot>(last).is_some()
                && region.get::<SlotFaults>(last_faults).is_some()
        } && region
            .ptr_at(last + size_of::<Slot>(), bytes + task::PAYLOAD_ALIGN)
            .is_some();
        if !fits {
            return Err((Errno::ENOMEM, len));
        }
        Ok(Ring {
            region,
            slots,
            bytes,
            slots_at,
            stride,
            faults_at,
            mask: slots.is_power_of_two().then(|| slots as u64 - 1),
        })
    }

    /// The number of slots.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots
    }

    /// The payload bytes of each slot.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// `s` if it names a slot, else `s % slots` (a word read from the
    /// shared ring is never trusted as an index): no division on the
    /// way of a valid one.
    pub(crate) fn bound(&self, s: usize) -> usize {
        if s < self.slots { s } else { s % self.slots }
    }

    /// Slot [`Ring::bound`]`(s)`.
    pub(crate) fn slot(&self, s: usize) -> &Slot {
        let at = self.slots_at + self.bound(s) * self.stride;
        // SAFETY: in bounds and aligned, as `new` checked for the last
        // slot; a slot's header is reached only as a `Slot`, here; its
        // payload, reached by pointer, starts after it (`payload`).
        #[allow(unsafe_code)]
        unsafe {
            self.region.get_unchecked::<Slot>(at)
        }
    }

    /// The slots, in order.
    pub(crate) fn slots(&self) -> impl Iterator<Item = &Slot> {
        (0..self.slots).map(|s| self.slot(s))
    }

    /// Slot [`Ring::bound`]`(s)`'s faults.
    pub(crate) fn faults(&self, s: usize) -> &SlotFaults {
        let at = self.faults_at + self.bound(s) * size_of::<SlotFaults>();
        // SAFETY: in bounds and aligned, as `new` checked for the last
        // one; reached only as `SlotFaults`, here.
        #[allow(unsafe_code)]
        unsafe {
            self.region.get_unchecked::<SlotFaults>(at)
        }
    }

    /// The first byte of slot [`Ring::bound`]`(s)`'s payload: right after
    /// its header, on the header's cache line (aligned to
    /// `sys::task::PAYLOAD_ALIGN`), [`Ring::bytes`] `+ PAYLOAD_ALIGN`
    /// long; reached only through this pointer, by the process the slot's
    /// state gives it to.
    pub(crate) fn payload(&self, s: usize) -> *mut u8 {
        let at = self.slots_at + self.bound(s) * self.stride + size_of::<Slot>();
        match self.region.ptr_at(at, self.bytes + task::PAYLOAD_ALIGN) {
            Some(p) => p.as_ptr(),
            None => unreachable!("a pool slot's payload outside its ring"),
        }
    }

    /// `order[t % slots]`: the slot of submission `t`.
    pub(crate) fn order(&self, t: u64) -> &AtomicU32 {
        let i = match self.mask {
            Some(mask) => t & mask,
            None => t % self.slots as u64,
        };
        let at = i as usize * 4;
        // SAFETY: `i < slots`: in bounds and aligned, as `new` checked for
        // the last word; the `order` words are reached only as
        // `AtomicU32`s, here.
        #[allow(unsafe_code)]
        unsafe {
            self.region.get_unchecked::<AtomicU32>(at)
        }
    }
}

impl std::ops::Deref for Ring {
    type Target = RingHead;
    fn deref(&self) -> &RingHead {
        self.region.header()
    }
}

/// Parking and stopping.
///
/// Idle workers either spin (watch `tail` for up to [`SPIN_FOR`]) or park
/// on `work`. At most `max_spinning` spin at once: on a machine with few
/// CPUs, more spinners would take the CPU from the parent and from the
/// workers that run tasks (eight workers on two CPUs would otherwise
/// collapse). A submission wakes a parked worker only when no spinner is
/// idle, and a worker that claims a task wakes one for the work still
/// queued when no other spinner is idle, so a hand-off to a spinning
/// worker costs no system call.
///
/// A spinner keeps its bit while it runs the task it claimed, and spins
/// again after it without touching the mask: a task handed to a spinning
/// worker writes nothing on the mask's line, which the parent reads at
/// every submission (a write there on the way to the commit cost the
/// round trip a cache-line transfer). A bit may therefore stand for a
/// busy worker: a submission with as many bits set as tasks outstanding
/// (the new one included) leaves an idle spinner for each task queued and
/// wakes nobody without looking further; otherwise the submission, like a
/// claim with work still queued, wakes a parked worker unless a spinner's
/// `running` word says it is idle. A busy spinner does not spin, so it
/// does not hold a place among the `max_spinning`: an idle worker that
/// finds no room takes the bit of one that runs a task, and the one
/// displaced, back from its task, joins again only if there is room.
///
/// Who spins and who is parked are bit masks by worker index, not counts:
/// the parent clears a dead worker's bits, so a worker killed while
/// spinning or parked leaves no phantom behind.
#[repr(C)]
pub(crate) struct Control {
    /// Moved by a submission while a worker is parked: idle workers park
    /// on it.
    pub(crate) work: AtomicU32,
    /// Who wants the pool's eventfd raised when a task ends: bit
    /// [`PARKED`] while the parent is parked in `poll`, bit [`WATCHED`]
    /// while the parent holds a [`PoolWatch`](super::PoolWatch). A worker
    /// that finishes a task raises the eventfd when the word is not 0 (one
    /// load, as before the watch existed; nobody watching, nobody parked:
    /// no system call).
    pub(crate) notify: AtomicU32,
    /// 1: workers exit once nothing is queued (`close` then `join`).
    pub(crate) stop: AtomicU32,
    /// How many workers may spin at once (set before the first fork).
    pub(crate) max_spinning: AtomicU32,
    /// 1 while a wake-up is on its way to a parked worker: no second one
    /// is sent until a worker leaves (or enters) its park, so a fast
    /// worker passing work on does not pay a system call per task while a
    /// woken one is still being scheduled.
    pub(crate) waking: AtomicU32,
    /// Bit `w`: worker `w` is spinning, or running a task it claimed
    /// while spinning (it spins again after it).
    pub(crate) spinning: AtomicU64,
    /// Bit `w`: worker `w` is parked (or about to park).
    pub(crate) parked: AtomicU64,
    /// Bit `w`: worker `w` is to exit before its next task (the pool
    /// shrank, or replaces its workers).
    pub(crate) retire: AtomicU64,
}

/// [`Control::notify`]: the parent is parked in `poll`.
pub(crate) const PARKED: u32 = 1;
/// [`Control::notify`]: the parent holds a [`PoolWatch`](super::PoolWatch).
pub(crate) const WATCHED: u32 = 2;

/// Seals `entry` for submission `seq` with the pool's `key`.
pub(crate) fn seal(entry: u64, seq: u64, key: u64) -> u64 {
    (entry ^ key).rotate_left((seq % 61) as u32 + 1) ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Ring {
    /// Submissions made so far.
    pub(crate) fn tail_count(&self, order: Ordering) -> u64 {
        self.tail.0.load(order) >> 16
    }

    /// Publishes submission `t` (in slot `s`): `tail` becomes `t + 1`.
    /// A swap, not a store: it must be ordered before the loads of
    /// `wake_worker` on every target (see `Pool::park`).
    pub(crate) fn publish(&self, t: u64, s: usize) {
        self.tail.0.swap((t + 1) << 16 | s as u64, Ordering::SeqCst);
    }

    /// The slot of submission `h`, if it is still `QUEUED` as `h`; `tail`
    /// is the tail word the caller read.
    fn claim(&self, h: u64, me: usize, tail: u64) -> Option<usize> {
        let s = if tail >> 16 == h + 1 {
            self.bound((tail & 0xffff) as usize)
        } else {
            self.bound(self.order(h).load(Ordering::Acquire) as usize)
        };
        let slot = self.slot(s);
        let queued = state(h, QUEUED, 0);
        // SYNC POINT: Acquire pairs with the parent's Release of QUEUED:
        // the arguments are visible after a successful claim.
        let won = slot
            .state
            .compare_exchange(
                queued,
                state(h, RUNNING, me as u64),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
        // Claimed (by us or another), or moved on: either way `h` is taken.
        let _ = self
            .head
            .0
            .compare_exchange(h, h + 1, Ordering::AcqRel, Ordering::Relaxed);
        won.then_some(s)
    }

    /// Advances `head` past submissions no longer queued (a worker killed
    /// between its claim and its advance): the parent calls it when the
    /// order ring looks full.
    pub(crate) fn help_head(&self) {
        let h = self.head.0.load(Ordering::Acquire);
        if h < self.tail_count(Ordering::Acquire) {
            let s = self.bound(self.order(h).load(Ordering::Acquire) as usize);
            if self.slot(s).state.load(Ordering::Acquire) != state(h, QUEUED, 0) {
                let _ = self
                    .head
                    .0
                    .compare_exchange(h, h + 1, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }

    /// The next task for worker `me`, waiting for one (spin if fewer
    /// than `max_spinning` do, else park; `spinning`: its bit is set
    /// already); `None` once the pool stops and nothing is queued.
    /// `parent_cpu`: where the parent queued the last task (see
    /// [`shares_cpu`]). With the task, whether the worker's spinning bit
    /// is set: a spinner keeps it while it runs the task it claimed.
    pub(super) fn next(
        &self,
        me: usize,
        spinning: bool,
        parent_cpu: u32,
    ) -> Option<(usize, u64, bool)> {
        let c = &self.control.0;
        let bit = 1u64 << me;
        let mut spinning = spinning;
        let mut start = Instant::now();
        let mut spins = 0u32;
        loop {
            if c.retire.load(Ordering::Acquire) & bit != 0 {
                if spinning {
                    c.spinning.fetch_and(!bit, Ordering::SeqCst);
                }
                return None;
            }
            let h = self.head.0.load(Ordering::Acquire);
            let tail = self.tail.0.load(Ordering::Acquire);
            if h < tail >> 16 {
                let running = &self.running[me].0;
                if spinning {
                    // SYNC POINT: SeqCst before the claim: a claimer that
                    // then finds it 0 (in `idle_spinner`) finds this worker
                    // yet to claim, so it sees the work queued.
                    running.store(1, Ordering::SeqCst);
                }
                if let Some(s) = self.claim(h, me, tail) {
                    self.pass_on(bit);
                    return Some((s, h, spinning));
                }
                if spinning {
                    running.store(0, Ordering::Relaxed);
                }
                continue;
            }
            if c.stop.load(Ordering::Acquire) != 0 {
                if spinning {
                    c.spinning.fetch_and(!bit, Ordering::SeqCst);
                }
                return None;
            }
            if !spinning {
                if self.start_spinning(bit) {
                    spinning = true;
                    start = Instant::now();
                    spins = 0;
                } else {
                    self.park(bit);
                }
                continue;
            }
            spins += 1;
            if spins.is_multiple_of(64) {
                let spent = start.elapsed();
                if spent > SPIN_FOR {
                    // SYNC POINT: stop spinning (SeqCst) before parking
                    // looks at the queue: a submitter that saw us spinning
                    // (and woke nobody) stored `tail` before, so `park`
                    // sees its task.
                    c.spinning.fetch_and(!bit, Ordering::SeqCst);
                    spinning = false;
                    self.park(bit);
                    continue;
                } else if spent > YIELD_AFTER && shares_cpu(parent_cpu) {
                    std::thread::yield_now();
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Joins the spinners if fewer than `max_spinning` spin, or takes the
    /// bit of one that runs a task (a busy spinner does not spin: an idle
    /// worker may, while it runs; the one displaced finds out after its
    /// task, see [`work`](super::worker::work)).
    pub(super) fn start_spinning(&self, bit: u64) -> bool {
        let c = &self.control.0;
        let max = c.max_spinning.load(Ordering::Relaxed).max(1);
        let mut now = c.spinning.load(Ordering::Relaxed);
        loop {
            let next = if now & bit != 0 {
                return true;
            } else if now.count_ones() < max {
                now | bit
            } else if let Some(busy) = self.spinner(now, 1) {
                now & !busy | bit
            } else {
                return false;
            };
            match c
                .spinning
                .compare_exchange(now, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => now = seen,
            }
        }
    }

    /// The bit of a worker of `mask` (spinning bits) whose `running` word
    /// reads `running` (0: idle, spinning; 1: running a task it claimed).
    fn spinner(&self, mask: u64, running: u32) -> Option<u64> {
        let mut m = mask;
        while m != 0 {
            let w = m.trailing_zeros() as usize;
            if w < POOL_MAX_WORKERS && self.running[w].0.load(Ordering::SeqCst) == running {
                return Some(1 << w);
            }
            m &= m - 1;
        }
        None
    }

    /// Whether a worker of `mask` (spinning bits) is idle: spinning, not
    /// running a task it claimed.
    fn idle_spinner(&self, mask: u64) -> bool {
        self.spinner(mask, 0).is_some()
    }

    /// After a claim by the worker of `bit`: if work is still queued and
    /// no other spinner is idle, wake a parked worker for it.
    fn pass_on(&self, bit: u64) {
        let c = &self.control.0;
        if self.head.0.load(Ordering::SeqCst) < self.tail_count(Ordering::SeqCst)
            && c.parked.load(Ordering::SeqCst) != 0
            && !self.idle_spinner(c.spinning.load(Ordering::SeqCst) & !bit)
        {
            self.wake_one();
        }
    }

    fn park(&self, bit: u64) {
        let c = &self.control.0;
        c.parked.fetch_or(bit, Ordering::SeqCst);
        // SYNC POINT: register, read the word, look again: the parent
        // stores `tail` (SeqCst) and then reads `spinning` and `parked`
        // (SeqCst), so it either sees us and moves `work`, or we see its
        // submission.
        let seen = c.work.load(Ordering::SeqCst);
        // A wake-up sent may have found nobody asleep (or been for work
        // another took): clear the flag before looking, so it never stays
        // set with every worker asleep.
        c.waking.swap(0, Ordering::SeqCst);
        let nothing = self.head.0.load(Ordering::SeqCst) >= self.tail_count(Ordering::SeqCst);
        if nothing
            && c.stop.load(Ordering::SeqCst) == 0
            && c.retire.load(Ordering::SeqCst) & bit == 0
        {
            futex::wait(&c.work, seen, None);
            c.waking.swap(0, Ordering::SeqCst);
        }
        c.parked.fetch_and(!bit, Ordering::SeqCst);
    }

    /// After a submission, with `outstanding` tasks submitted and not
    /// yet collected (this one included): wakes a parked worker unless a
    /// spinner is idle. As many spinning bits as such tasks leave one
    /// idle (a busy spinner runs one of them): then the spinners'
    /// `running` words, which they write at every task, are not read.
    pub(crate) fn wake_worker(&self, outstanding: usize) {
        let c = &self.control.0;
        let spinning = c.spinning.load(Ordering::SeqCst);
        if c.parked.load(Ordering::SeqCst) != 0
            && (spinning.count_ones() as usize) < outstanding
            && !self.idle_spinner(spinning)
        {
            self.wake_one();
        }
    }

    /// Wakes one parked worker unless a wake-up is already on its way.
    fn wake_one(&self) {
        let c = &self.control.0;
        // SYNC POINT: a `waking` already 1 was set before this swap, and
        // the worker that clears it (in `park`) looks at the queue after
        // clearing it, so it sees the work this caller queued before.
        if c.waking.swap(1, Ordering::SeqCst) == 0 {
            c.work.fetch_add(1, Ordering::SeqCst);
            futex::wake(&c.work, 1);
        }
    }

    /// Tells the workers of `mask` to exit before their next task, and
    /// wakes the parked ones to see it.
    pub(crate) fn retire(&self, mask: u64) {
        self.control.0.retire.fetch_or(mask, Ordering::SeqCst);
        self.wake_all_workers();
    }

    /// Wakes every parked worker (to see `stop`).
    pub(crate) fn wake_all_workers(&self) {
        let c = &self.control.0;
        c.work.fetch_add(1, Ordering::SeqCst);
        futex::wake(&c.work, u32::MAX);
    }

    /// Forgets a dead worker's spinning and parked bits and its
    /// `running` word.
    pub(crate) fn forget_worker(&self, w: usize) {
        let c = &self.control.0;
        c.spinning.fetch_and(!(1 << w), Ordering::SeqCst);
        c.parked.fetch_and(!(1 << w), Ordering::SeqCst);
        c.waking.swap(0, Ordering::SeqCst);
        if let Some(running) = self.running.get(w) {
            running.0.store(0, Ordering::SeqCst);
        }
    }
}
