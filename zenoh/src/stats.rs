//! Per-bridge counters, updated by the bridges and read at any time (a
//! status line on `SIGUSR1`, a test's check).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one bridge. Nothing a bridge drops goes uncounted.
#[derive(Debug, Default)]
pub struct Stats {
    /// Items taken from the local queue and published (outbound).
    pub sent: AtomicU64,
    /// Items received and put into the local queue (inbound).
    pub received: AtomicU64,
    /// Items published again, not acknowledged in time or after the
    /// link came back (outbound).
    pub resent: AtomicU64,
    /// Items received and not put because the local queue stayed full
    /// (inbound; see [`OnFull`](crate::OnFull)): not acknowledged, so
    /// their sender sends them again.
    pub full: AtomicU64,
    /// Items refused because their type's fingerprint is not the local
    /// queue's (inbound).
    pub refused_type: AtomicU64,
    /// Samples that were not mproc-zenoh frames, and items the local
    /// queue refused for another reason than room (too long, closed).
    pub refused_other: AtomicU64,
    /// Items received ahead of one of their source's not received yet
    /// (inbound; not put: they come again after it).
    pub ahead: AtomicU64,
    /// Items received again after they were put (inbound; not put twice).
    pub duplicates: AtomicU64,
    /// Errors of the local queue or of zenoh while taking or publishing
    /// (outbound; an item taken stays in the window and goes again), and
    /// of the window's file ([`Builder::keep_windows`](crate::Builder::keep_windows)).
    pub errors: AtomicU64,
    /// Items this receiver missed and another receiving gateway on the
    /// same key acknowledged, so their sender no longer keeps them
    /// (inbound; only where more than one gateway receives a key: one
    /// that joins mid-stream, or falls behind the others).
    pub skipped: AtomicU64,
}

/// A copy of a bridge's counters at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// As [`Stats::sent`].
    pub sent: u64,
    /// As [`Stats::received`].
    pub received: u64,
    /// As [`Stats::resent`].
    pub resent: u64,
    /// As [`Stats::full`].
    pub full: u64,
    /// As [`Stats::refused_type`].
    pub refused_type: u64,
    /// As [`Stats::refused_other`].
    pub refused_other: u64,
    /// As [`Stats::ahead`].
    pub ahead: u64,
    /// As [`Stats::duplicates`].
    pub duplicates: u64,
    /// As [`Stats::errors`].
    pub errors: u64,
    /// As [`Stats::skipped`].
    pub skipped: u64,
}

impl Stats {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            sent: get(&self.sent),
            received: get(&self.received),
            resent: get(&self.resent),
            full: get(&self.full),
            refused_type: get(&self.refused_type),
            refused_other: get(&self.refused_other),
            ahead: get(&self.ahead),
            duplicates: get(&self.duplicates),
            errors: get(&self.errors),
            skipped: get(&self.skipped),
        }
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent={} resent={} received={} full={} refused_type={} refused_other={} ahead={} duplicates={} errors={} skipped={}",
            self.sent,
            self.resent,
            self.received,
            self.full,
            self.refused_type,
            self.refused_other,
            self.ahead,
            self.duplicates,
            self.errors,
            self.skipped
        )
    }
}
