//! A worker's side of the ring: its loop of taking a task, running it
//! and committing its result (the claim and the waiting are the ring's,
//! in `ring`).

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

use super::ring::{DONE, PARKED, Ring, WATCHED, cpu_hint, seal, state};
use crate::sys::event;
use crate::sys::task::{self, Mask, Message};

/// What one worker needs: its index, the ring, the pool's key, the eventfds
/// that wake a parked parent and its watches, and its task limit.
pub(crate) struct WorkerSpec<'a> {
    pub(crate) ring: &'a Ring,
    pub(crate) me: usize,
    pub(crate) key: u64,
    pub(crate) wake_fd: RawFd,
    /// The eventfd of the parent's [`PoolWatch`](super::PoolWatch)es.
    pub(crate) watch_fd: RawFd,
    pub(crate) max_tasks: u64,
    /// The pool has a task timeout: the worker stores when it took each
    /// task in `busy_since` (a clock read per task, spared otherwise).
    pub(crate) clocked: bool,
}

/// A worker's life: run tasks until the pool stops or the task limit is
/// reached, then return (the caller exits the process).
pub(crate) fn work(spec: WorkerSpec<'_>) {
    let ring = spec.ring;
    let mut done = 0u64;
    let mut spinning = false;
    let mut parent_cpu = 0;
    while let Some((s, seq, kept)) = ring.next(spec.me, spinning, parent_cpu) {
        if spec.clocked {
            ring.busy_since[spec.me].store(crate::sys::monotonic_ns() | 1, Ordering::Relaxed);
        }
        if done == 0 {
            // Took a task: no longer a start-up death if it dies now.
            ring.started[spec.me].store(2, Ordering::Relaxed);
        }
        let slot = ring.slot(s);
        let entry = slot.entry.load(Ordering::Relaxed);
        let count = usize::from(slot.count.load(Ordering::Relaxed)).min(task::CHUNK_MAX);
        parent_cpu = u32::from(slot.parent_cpu.load(Ordering::Relaxed));
        let mut message = Message::empty();
        let failed = if slot.check.load(Ordering::Relaxed) == seal(entry, seq, spec.key) {
            // SAFETY: the entry passed the seal made by the parent with the
            // key only this pool's processes hold, so it is an `entry_of`
            // address it stored with arguments of the matching types (see
            // `Pool::submit`); the claim made the payload ours.
            #[allow(unsafe_code)]
            unsafe {
                task::call(entry, ring.payload(s), ring.bytes(), count, &mut message)
            }
        } else {
            message.set("the task's slot failed its integrity check: memory corrupted");
            Mask::first(count.max(1))
        };
        slot.worker_cpu.store(cpu_hint(), Ordering::Relaxed);
        if failed.is_empty() {
            slot.failures.store(0, Ordering::Relaxed);
        } else {
            let faults = ring.faults(s);
            faults.store_failed(failed);
            faults.message.store(message.bytes);
            faults.message_len.store(message.len, Ordering::Relaxed);
            slot.failures.store(1, Ordering::Relaxed);
        }
        // About to look for work again: be a spinner before the commit, so
        // that the parent, answering the result with its next task, finds
        // one spinning and wakes nobody (a round trip without a system
        // call). A spinner that claimed the task kept its bit: nothing to
        // change then (no write to the mask's line, which the parent
        // reads at every submission, on the way to the commit).
        done += 1;
        let last = spec.max_tasks != 0 && done >= spec.max_tasks;
        let bit = 1u64 << spec.me;
        if kept {
            ring.running[spec.me].0.store(0, Ordering::Relaxed);
        }
        spinning = if last {
            if kept {
                ring.control.0.spinning.fetch_and(!bit, Ordering::SeqCst);
            }
            false
        } else if kept && ring.control.0.spinning.load(Ordering::Relaxed) & bit != 0 {
            // Still a spinner (a read of a line that stays shared while
            // nobody joins or leaves).
            true
        } else {
            // Displaced while it ran the task (or not a spinner): join
            // again if there is room.
            ring.start_spinning(bit)
        };
        // SYNC POINT: the commit; Release (in SeqCst) pairs with the
        // parent's Acquire load of the state before it reads the results,
        // and SeqCst orders it before the load of `notify` (the parent
        // sets its bits and then looks at the states).
        if spec.clocked {
            ring.busy_since[spec.me].store(0, Ordering::Relaxed);
        }
        slot.state
            .swap(state(seq, DONE, spec.me as u64), Ordering::SeqCst);
        let notify = ring.control.0.notify.load(Ordering::SeqCst);
        if notify != 0 {
            for (bit, fd) in [(PARKED, spec.wake_fd), (WATCHED, spec.watch_fd)] {
                if notify & bit != 0 {
                    // SAFETY: the pool's eventfds, inherited from the
                    // parent and open in this process for its whole life
                    // (the pool's handle is never dropped here: the worker
                    // exits with `_exit`).
                    #[allow(unsafe_code)]
                    event::raise(unsafe { event::borrow(fd) });
                }
            }
        }
        if last {
            return;
        }
    }
}
