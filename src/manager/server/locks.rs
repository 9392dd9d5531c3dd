//! Who gets a free lock (a lock, rlock or condition's lock) that requests
//! are parked on.
//!
//! Handing a lock to a waiter whose client sleeps on its socket costs a
//! kernel wake-up (tens of microseconds on a loaded machine) during which
//! the lock is held by a process that is not running, and with more
//! clients than CPUs most waiters sleep. So a released lock goes:
//!
//! 1. to its oldest waiter if that one's client is awake (watching its
//!    channel) or has waited [`HANDOFF_AFTER`] already;
//! 2. else to the oldest waiter whose client is awake;
//! 3. else nobody for now: the lock stays free for whoever asks first
//!    (a client that is running, most often the one that just released
//!    it). The loop ([`Server::settle_locks`]) gives it to a waiter as soon
//!    as one is awake, and to the oldest waiter, asleep or not, once the
//!    lock has stayed free [`FREE_FOR`] (nobody running wanted it) or that
//!    waiter has waited [`HANDOFF_AFTER`] (from then on no newcomer takes
//!    it first).
//!
//! Python's `threading.Lock`, behind its manager's lock, promises no
//! order either; this one bounds how long a waiter is passed over.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::waits::{NOTIFIED, Parked, WAITING};
use super::{Data, Server};
use crate::manager::protocol::{Reply, op};

/// How long a waiter may be passed over by clients that ask later.
pub(super) const HANDOFF_AFTER: Duration = Duration::from_millis(4);

/// How long a lock stays free for a running client, its waiters asleep,
/// before it goes to the oldest of them anyway.
pub(super) const FREE_FOR: Duration = Duration::from_micros(10);

/// A parked request that takes the lock when granted: an acquire, or a
/// condition waiter that was notified (or timed out) taking it back.
fn takes_lock(p: &Parked) -> bool {
    p.op == op::ACQUIRE || (p.op == op::WAIT && p.phase != WAITING)
}

/// Whether a new acquirer may take a free lock before the requests parked
/// on it: yes when nobody waits (the last waiter may have withdrawn, timed
/// out or died since the lock was left free, before the loop forgot it);
/// else only while the lock has been free (since `left`) less than
/// [`FREE_FOR`] and the oldest waiter (waiting since `oldest`) less than
/// [`HANDOFF_AFTER`].
fn may_barge(left: Option<Instant>, oldest: Option<Instant>, now: Instant) -> bool {
    match (left, oldest) {
        (Some(left), Some(oldest)) => now < left + FREE_FOR && now < oldest + HANDOFF_AFTER,
        _ => true,
    }
}

impl Server {
    /// Whether connection `slot`'s client watches its channel now (is not
    /// asleep on its socket).
    fn awake(&self, slot: usize) -> bool {
        self.conns[slot]
            .as_ref()
            .is_some_and(|c| c.chan.client_parked().load(Ordering::SeqCst) == 0)
    }

    /// The waiters of lock `index`: the oldest, and the oldest whose
    /// client is awake.
    fn lock_waiters(&self, index: usize) -> Option<(usize, Parked, Option<usize>)> {
        let generation = self.objects[index].generation;
        let mut oldest: Option<(usize, Parked)> = None;
        let mut awake: Option<(u64, usize)> = None;
        for &slot in &self.live {
            let Some(p) = self.conns[slot].as_ref().and_then(|c| c.parked) else {
                continue;
            };
            if p.object != index || p.generation != generation || !takes_lock(&p) {
                continue;
            }
            if oldest.is_none_or(|(_, o)| p.stamp < o.stamp) {
                oldest = Some((slot, p));
            }
            if awake.is_none_or(|(stamp, _)| p.stamp < stamp) && self.awake(slot) {
                awake = Some((p.stamp, slot));
            }
        }
        oldest.map(|(slot, p)| (slot, p, awake.map(|(_, s)| s)))
    }

    /// Whether a new acquirer may take free lock `index` before the
    /// requests parked on it (see [`may_barge`]).
    pub(super) fn may_barge(&self, index: usize, now: Instant) -> bool {
        let Some(&(_, left)) = self.idle_locks.iter().find(|&&(i, _)| i == index) else {
            // Not left free for waiters: no need to look for them.
            return true;
        };
        let oldest = self.lock_waiters(index).map(|(_, p, _)| p.since);
        may_barge(Some(left), oldest, now)
    }

    /// Free lock `index` goes to a waiter as the module says, or stays
    /// free (remembered in `idle_locks`) while every waiter sleeps.
    pub(super) fn grant_lock(&mut self, index: usize) {
        let Some((oldest, p, awake)) = self.lock_waiters(index) else {
            self.idle_locks.retain(|&(i, _)| i != index);
            return;
        };
        let now = Instant::now();
        let due = p.since + HANDOFF_AFTER;
        let left = match self.idle_locks.iter().find(|&&(i, _)| i == index) {
            Some(&(_, left)) => left,
            None => {
                self.idle_locks.push((index, now));
                now
            }
        };
        let slot = if now >= due || now >= left + FREE_FOR || self.awake(oldest) {
            oldest
        } else if let Some(slot) = awake {
            slot
        } else {
            let next = due.min(left + FREE_FOR);
            self.idle_due = Some(self.idle_due.map_or(next, |d| d.min(next)));
            return;
        };
        self.idle_locks.retain(|&(i, _)| i != index);
        let Some((Some(p), id)) = self.conns[slot].as_ref().map(|c| (c.parked, c.id)) else {
            return;
        };
        if let Some(Data::Lock { holder, depth }) = &mut self.objects[index].data {
            *holder = id;
            *depth = if p.op == op::WAIT { p.saved.max(1) } else { 1 };
        }
        let reply = if p.op == op::WAIT {
            Reply::ok(u64::from(p.phase == NOTIFIED))
        } else {
            Reply::ok(1)
        };
        self.grant(slot, reply);
    }

    /// Gives the free locks that requests are parked on to a waiter that
    /// woke up or has waited long enough, and forgets those taken
    /// meanwhile.
    pub(super) fn settle_locks(&mut self) {
        self.idle_due = None;
        // From the end: `grant_lock` and the removal change the list at
        // and after `k` only.
        for k in (0..self.idle_locks.len()).rev() {
            let Some(&(index, _)) = self.idle_locks.get(k) else {
                continue;
            };
            if matches!(self.objects[index].data, Some(Data::Lock { holder: 0, .. })) {
                // Keeps it (and sets `idle_due` again) if every waiter
                // still sleeps.
                self.grant_lock(index);
            } else {
                self.idle_locks.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newcomer_goes_first_only_briefly_and_always_when_nobody_waits() {
        let t = Instant::now();
        let later = |d: Duration| t + d;
        // Not left free for waiters: take it.
        assert!(may_barge(None, None, t));
        // Left free for sleeping waiters: only within FREE_FOR...
        assert!(may_barge(Some(t), Some(t), t));
        assert!(!may_barge(Some(t), Some(t), later(FREE_FOR)));
        // ...and not past a waiter that has waited HANDOFF_AFTER.
        let handoff = later(HANDOFF_AFTER);
        assert!(!may_barge(Some(handoff), Some(t), handoff));
        // The waiters gone (withdrawn, timed out, dead) before the loop
        // forgot the lock: nobody is passed over, so a newcomer takes it
        // however long it was free.
        assert!(may_barge(Some(t), None, later(FREE_FOR)));
        assert!(may_barge(Some(t), None, later(Duration::from_secs(1))));
    }
}
