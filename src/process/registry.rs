//! The table of this process's children: who is still to be reaped, and the
//! exit status of those already reaped.
//!
//! A fixed array of `MPROC_MAX_CHILDREN` slots, allocation-free. Each slot's
//! fields are atomics; a spin lock (held only for non-blocking work, never
//! across a blocking `waitpid`) makes each multi-field change atomic. A
//! forked child calls [`clear_in_child`], which resets the table and the lock
//! without waiting: it is the only thread there, and its parent's children
//! are not its own (the table is then cleared on first use).
//!
//! Slot states (`pid`, `status`, `detached`; a fourth word, `daemon`, says
//! whether the child is daemonic, for the exit-time join):
//!
//! | pid      | status    | meaning                                           |
//! |----------|-----------|---------------------------------------------------|
//! | 0        | -         | free                                              |
//! | RESERVED | -         | taken by a `start` that is forking                |
//! | > 0      | RUNNING   | child not reaped yet                              |
//! | > 0      | >= 0      | reaped; raw wait status kept for its handle       |
//! | > 0      | LOST      | reaped by someone else: status unknown            |
//!
//! `detached` means the handle was dropped while the child ran: the slot is
//! freed by the first reap that sees it ended ([`active_children`] or the
//! next [`reserve`]).

use std::sync::atomic::{AtomicI32, Ordering};

use crate::config::MAX_CHILDREN;
use crate::sys::mem::WipeOnFork;
use crate::sys::{Errno, process as sys};

const RESERVED: i32 = -1;
const RUNNING: i32 = -1;
const LOST: i32 = -2;

/// The table is a flat run of atomic words, all zero when empty: the lock,
/// the owner (the process the table belongs to, 0 before first use), the
/// number of detached slots (so `reserve` scans for them only when there are
/// some), then [`SLOT_WORDS`] words per slot.
const HEADER: usize = 3;
const SLOT_WORDS: usize = 4;
const WORDS: usize = HEADER + SLOT_WORDS * MAX_CHILDREN;

/// Where the table lives: a mapping that a forked child sees zero-filled
/// (see [`WipeOnFork`]), so the parent's store of a new
/// child's pid right after each fork costs no copy-on-write fault.
static MAPPED: WipeOnFork = WipeOnFork::new();
/// The table if that mapping cannot be made.
static FALLBACK: [AtomicI32; WORDS] = [const { AtomicI32::new(0) }; WORDS];

fn words() -> &'static [AtomicI32] {
    MAPPED.words(WORDS).unwrap_or(&FALLBACK)
}

fn lock_word() -> &'static AtomicI32 {
    &words()[0]
}

fn owner() -> &'static AtomicI32 {
    &words()[1]
}

fn detached_count() -> &'static AtomicI32 {
    &words()[2]
}

/// One slot's words: `pid`, `status`, `detached` (0 or 1), `daemon` (0 or
/// 1).
#[derive(Clone, Copy)]
struct Slot(&'static [AtomicI32]);

impl Slot {
    fn pid(self) -> &'static AtomicI32 {
        &self.0[0]
    }
    fn status(self) -> &'static AtomicI32 {
        &self.0[1]
    }
    fn detached(self) -> &'static AtomicI32 {
        &self.0[2]
    }
    fn daemon(self) -> &'static AtomicI32 {
        &self.0[3]
    }
}

fn slot(index: usize) -> Slot {
    let at = HEADER + SLOT_WORDS * index;
    Slot(&words()[at..at + SLOT_WORDS])
}

fn slots() -> impl Iterator<Item = Slot> {
    words()[HEADER..].chunks_exact(SLOT_WORDS).map(Slot)
}

/// Holds the table's spin lock.
struct Locked;

fn lock() -> Locked {
    let mut spins = 0u32;
    // SYNC POINT: Acquire pairs with the Release in `Locked::drop`.
    while lock_word()
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    clear_if_inherited();
    Locked
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SYNC POINT: Release pairs with the Acquire in `lock`.
        lock_word().store(0, Ordering::Release);
    }
}

/// How a slot's child ended, as far as the table knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Not reaped yet.
    Running,
    /// Reaped; how it ended.
    Ended(sys::Exit),
    /// Reaped elsewhere: unknown.
    Lost,
}

fn decode(status: i32) -> Status {
    match status {
        RUNNING => Status::Running,
        LOST => Status::Lost,
        raw => Status::Ended(sys::decode_status(raw)),
    }
}

/// Takes a free slot for a child about to be forked (`daemon`: a daemonic
/// one), first freeing the slots of detached children that have ended.
/// `None` when the table is full.
pub(crate) fn reserve(daemon: bool) -> Option<usize> {
    let _guard = lock();
    if detached_count().load(Ordering::Relaxed) > 0 {
        for slot in slots() {
            let pid = slot.pid().load(Ordering::Relaxed);
            if pid > 0 {
                poll_locked(slot, pid);
                free_if_detached_and_ended(slot);
            }
        }
    }
    let index = slots().position(|s| s.pid().load(Ordering::Relaxed) == 0)?;
    let slot = slot(index);
    slot.pid().store(RESERVED, Ordering::Relaxed);
    slot.status().store(RUNNING, Ordering::Relaxed);
    slot.detached().store(0, Ordering::Relaxed);
    slot.daemon().store(i32::from(daemon), Ordering::Relaxed);
    Some(index)
}

/// Frees a detached slot whose child has been reaped. Call with the lock held.
fn free_if_detached_and_ended(slot: Slot) {
    if slot.detached().load(Ordering::Relaxed) != 0
        && slot.status().load(Ordering::Relaxed) != RUNNING
    {
        slot.detached().store(0, Ordering::Relaxed);
        detached_count().fetch_sub(1, Ordering::Relaxed);
        slot.pid().store(0, Ordering::Relaxed);
    }
}

/// Records the pid of a reserved slot after a successful fork.
pub(crate) fn assign(index: usize, pid: i32) {
    let _guard = lock();
    slot(index).pid().store(pid, Ordering::Relaxed);
}

/// Gives back a reserved slot whose fork failed.
pub(crate) fn unreserve(index: usize) {
    let _guard = lock();
    slot(index).pid().store(0, Ordering::Relaxed);
}

/// `waitpid(WNOHANG)` for a slot whose status is still RUNNING; stores what
/// it learns. Call with the lock held.
fn poll_locked(slot: Slot, pid: i32) {
    if slot.status().load(Ordering::Relaxed) != RUNNING {
        return;
    }
    match sys::waitpid(pid, false) {
        Ok(Some(raw)) => slot.status().store(raw, Ordering::Relaxed),
        Ok(None) => {}
        Err(_) => slot.status().store(LOST, Ordering::Relaxed),
    }
}

/// The status of the child in slot `index`, reaping it if it has ended;
/// with `block`, waits until it ends.
pub(crate) fn reap(index: usize, pid: i32, block: bool) -> Result<Status, Errno> {
    let slot = slot(index);
    {
        let _guard = lock();
        // A blocking reap goes straight to the blocking wait: one syscall.
        if !block {
            poll_locked(slot, pid);
        }
        let status = decode(slot.status().load(Ordering::Relaxed));
        if status != Status::Running || !block {
            return Ok(status);
        }
    }
    // Block without the lock. If another thread reaps the child meanwhile
    // (active_children), waitpid says ECHILD and that thread has stored the
    // status under the lock before releasing it.
    let result = sys::waitpid(pid, true);
    let _guard = lock();
    match result {
        Ok(Some(raw)) => slot.status().store(raw, Ordering::Relaxed),
        Ok(None) => {}
        Err(Errno::ECHILD) => {
            if slot.status().load(Ordering::Relaxed) == RUNNING {
                slot.status().store(LOST, Ordering::Relaxed);
            }
        }
        Err(e) => return Err(e),
    }
    Ok(decode(slot.status().load(Ordering::Relaxed)))
}

/// Runs `f` while the child in slot `index` is not reaped, under the table
/// lock so that no thread of this process reaps it meanwhile (its pid
/// cannot be reused before that); `None` when it has been reaped. Reaps
/// nothing itself.
pub(crate) fn with_unreaped<R>(index: usize, pid: i32, f: impl FnOnce() -> R) -> Option<R> {
    let _guard = lock();
    let slot = slot(index);
    let unreaped = slot.pid().load(Ordering::Relaxed) == pid
        && slot.status().load(Ordering::Relaxed) == RUNNING;
    unreaped.then(f)
}

/// The handle of slot `index` is gone: free the slot if its child has been
/// reaped (or can be now), otherwise leave it detached for a later reap.
pub(crate) fn release(index: usize, pid: i32) {
    let _guard = lock();
    let slot = slot(index);
    poll_locked(slot, pid);
    if slot.status().load(Ordering::Relaxed) == RUNNING {
        slot.detached().store(1, Ordering::Relaxed);
        detached_count().fetch_add(1, Ordering::Relaxed);
    } else {
        slot.pid().store(0, Ordering::Relaxed);
    }
}

/// Reaps every child that has ended, frees the slots of detached ones, and
/// calls `alive` with the pid of each child still running.
pub(crate) fn active_children(mut alive: impl FnMut(i32)) {
    let _guard = lock();
    for slot in slots() {
        let pid = slot.pid().load(Ordering::Relaxed);
        if pid <= 0 {
            continue;
        }
        poll_locked(slot, pid);
        if slot.status().load(Ordering::Relaxed) == RUNNING {
            alive(pid);
        } else {
            free_if_detached_and_ended(slot);
        }
    }
}

/// The unreaped child in slot `index`, if any: its pid and whether it is
/// daemonic. For the exit-time join, which walks the slots by index and
/// holds the lock only for each look.
pub(crate) fn running(index: usize) -> Option<(i32, bool)> {
    if index >= MAX_CHILDREN {
        return None;
    }
    let _guard = lock();
    let slot = slot(index);
    let pid = slot.pid().load(Ordering::Relaxed);
    (pid > 0 && slot.status().load(Ordering::Relaxed) == RUNNING)
        .then(|| (pid, slot.daemon().load(Ordering::Relaxed) != 0))
}

/// After the exit-time join reaped the child in slot `index`: frees the
/// slot if its handle was dropped.
pub(crate) fn forget_if_detached(index: usize) {
    if index < MAX_CHILDREN {
        let _guard = lock();
        free_if_detached_and_ended(slot(index));
    }
}

/// In a freshly forked child (one thread): release a lock the parent may have
/// held at the instant of the fork. The inherited table itself is cleared on
/// its first use in the child (see [`clear_if_inherited`]), so a child that
/// never starts children of its own never writes, and so never copies, its
/// pages.
pub(crate) fn clear_in_child() {
    if MAPPED.wiped() {
        // The kernel gave the child a zero-filled table: nothing to release,
        // and reading it would only fault a page in.
        return;
    }
    let lock = lock_word();
    if lock.load(Ordering::Relaxed) != 0 {
        lock.store(0, Ordering::Release);
    }
}

/// Clears a table inherited through fork. Call with the lock held.
fn clear_if_inherited() {
    let me = sys::getpid();
    let owner = owner();
    if owner.load(Ordering::Relaxed) == me {
        return;
    }
    if owner.load(Ordering::Relaxed) != 0 {
        for slot in slots() {
            slot.pid().store(0, Ordering::Relaxed);
            slot.status().store(RUNNING, Ordering::Relaxed);
            slot.detached().store(0, Ordering::Relaxed);
            slot.daemon().store(0, Ordering::Relaxed);
        }
        detached_count().store(0, Ordering::Relaxed);
    }
    owner.store(me, Ordering::Relaxed);
}
