//! An inbound bridge: a zenoh subscriber whose callback (on zenoh's own
//! threads) checks each frame and puts its item into the local queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mproc::ErrorKind;

use crate::endpoint::Sink;
use crate::frame::Header;
use crate::stats::Stats;

/// What an inbound bridge does with an item while its local queue is
/// full. Either way nothing is dropped uncounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFull {
    /// Waits for room up to this long, holding zenoh's receiving path
    /// back meanwhile (so the sender's publisher, which blocks on a full
    /// link, slows down: back-pressure), then drops the item and counts
    /// it in [`Stats::dropped_full`]. Keep it well under zenoh's lease (10 s
    /// by default): a receiving path held longer than that ends the
    /// session.
    Wait(Duration),
    /// Drops the item at once and counts it in [`Stats::dropped_full`].
    Drop,
}

impl Default for OnFull {
    /// Back-pressure for up to one second.
    fn default() -> OnFull {
        OnFull::Wait(Duration::from_secs(1))
    }
}

/// The state of one inbound bridge, shared with its callback.
pub(crate) struct Inbound {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) on_full: OnFull,
    pub(crate) stats: Arc<Stats>,
    /// The last sequence number seen from each source.
    pub(crate) last: Mutex<HashMap<u64, u64>>,
}

impl Inbound {
    /// One received sample's bytes.
    pub(crate) fn take(&self, frame: &[u8]) {
        let Ok((h, item)) = Header::read(frame) else {
            return Stats::bump(&self.stats.refused_other);
        };
        if h.fingerprint != self.sink.fingerprint() {
            return Stats::bump(&self.stats.refused_type);
        }
        if !self.in_order(&h) {
            return Stats::bump(&self.stats.duplicates);
        }
        let patience = match self.on_full {
            OnFull::Wait(d) => d,
            OnFull::Drop => Duration::ZERO,
        };
        match self.sink.put(item, patience) {
            Ok(()) => Stats::bump(&self.stats.received),
            Err(e) if e.kind() == ErrorKind::Full => Stats::bump(&self.stats.dropped_full),
            Err(_) => Stats::bump(&self.stats.refused_other),
        }
    }

    /// Records `h`'s number: `false` for one seen already (or older than
    /// the last), counting the numbers skipped as missed.
    fn in_order(&self, h: &Header) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let prev = last.entry(h.source).or_insert(0);
        if h.seq <= *prev {
            return false;
        }
        let skipped = h.seq - *prev - 1;
        if skipped > 0 {
            self.stats
                .missed
                .fetch_add(skipped, std::sync::atomic::Ordering::Relaxed);
        }
        *prev = h.seq;
        true
    }
}
