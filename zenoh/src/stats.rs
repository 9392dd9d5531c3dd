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
    /// Items received and dropped because the local queue stayed full
    /// (inbound; see [`OnFull`](crate::OnFull)).
    pub dropped_full: AtomicU64,
    /// Items refused because their type's fingerprint is not the local
    /// queue's (inbound).
    pub refused_type: AtomicU64,
    /// Samples that were not mproc-zenoh frames, and items the local
    /// queue refused for another reason than room (too long, closed).
    pub refused_other: AtomicU64,
    /// Items a source numbered and this bridge never saw (inbound: a gap
    /// in a source's sequence numbers).
    pub missed: AtomicU64,
    /// Items seen twice or out of order from one source (inbound; not
    /// put again).
    pub duplicates: AtomicU64,
    /// Errors of the local queue or of zenoh while taking or publishing
    /// (outbound; the item, if one was taken, is counted here and lost).
    pub errors: AtomicU64,
}

/// A copy of a bridge's counters at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// As [`Stats::sent`].
    pub sent: u64,
    /// As [`Stats::received`].
    pub received: u64,
    /// As [`Stats::dropped_full`].
    pub dropped_full: u64,
    /// As [`Stats::refused_type`].
    pub refused_type: u64,
    /// As [`Stats::refused_other`].
    pub refused_other: u64,
    /// As [`Stats::missed`].
    pub missed: u64,
    /// As [`Stats::duplicates`].
    pub duplicates: u64,
    /// As [`Stats::errors`].
    pub errors: u64,
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
            dropped_full: get(&self.dropped_full),
            refused_type: get(&self.refused_type),
            refused_other: get(&self.refused_other),
            missed: get(&self.missed),
            duplicates: get(&self.duplicates),
            errors: get(&self.errors),
        }
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent={} received={} dropped_full={} refused_type={} refused_other={} missed={} duplicates={} errors={}",
            self.sent,
            self.received,
            self.dropped_full,
            self.refused_type,
            self.refused_other,
            self.missed,
            self.duplicates,
            self.errors
        )
    }
}
