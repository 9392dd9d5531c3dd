//! An inbound bridge: a zenoh subscriber whose callback (on zenoh's own
//! threads) checks each frame, puts its item into the local queue in its
//! source's order, and records what to acknowledge (the pump publishes
//! the acknowledgements).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mproc::ErrorKind;

use crate::endpoint::Sink;
use crate::frame::Header;
use crate::stats::Stats;

/// What an inbound bridge does with an item while its local queue is
/// full. Either way the item is not acknowledged, so its sender keeps it
/// and sends it again: a full queue holds the sender back, nothing is
/// lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFull {
    /// Waits for room up to this long, holding zenoh's receiving path
    /// back meanwhile, then leaves the item (counted in [`Stats::full`]).
    /// Keep it well under zenoh's lease (10 s by default): a receiving
    /// path held longer than that ends the session.
    Wait(Duration),
    /// Leaves the item at once (counted in [`Stats::full`]). Its sender
    /// sends it, and those after it, again after
    /// [`RESEND_AFTER`](crate::RESEND_AFTER): a receiver slower than its
    /// sender then takes what fits in its queue once per resend, far
    /// below what [`OnFull::Wait`] keeps flowing.
    Drop,
}

impl Default for OnFull {
    /// Waits up to 100 ms.
    fn default() -> OnFull {
        OnFull::Wait(Duration::from_millis(100))
    }
}

/// Where each source stands.
#[derive(Default)]
pub(crate) struct Sources {
    /// The last number put, per source.
    last: HashMap<u64, u64>,
    /// Sources whose last number moved (or came again) since the pump
    /// last acknowledged.
    dirty: Vec<u64>,
}

/// The state of one inbound bridge, shared with its callback.
pub(crate) struct Inbound {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) on_full: OnFull,
    pub(crate) stats: Arc<Stats>,
    pub(crate) sources: Mutex<Sources>,
    /// Set by the pump when it goes idle (acknowledging nothing); the
    /// first item put after that wakes it, so the first acknowledgement
    /// does not wait for its idle pause.
    pub(crate) idle: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) nudge: crate::outbound::Nudge,
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
        // Held while putting: one source's items go in one at a time, in
        // order.
        let mut s = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        // A source seen the first time starts after what it says is
        // acknowledged: it keeps every item after that until one is.
        let entry = s.last.entry(h.source).or_insert(h.acked);
        if h.acked > *entry {
            // Another receiving gateway acknowledged items this one has
            // not put: their sender no longer keeps them, so waiting for
            // them would wait forever. (With one receiver, what the
            // source has seen acknowledged is never past what it put.)
            self.stats
                .skipped
                .fetch_add(h.acked - *entry, std::sync::atomic::Ordering::Relaxed);
            *entry = h.acked;
        }
        let last = *entry;
        if h.seq <= last {
            // Sent again before our acknowledgement reached it.
            Stats::bump(&self.stats.duplicates);
            if !s.dirty.contains(&h.source) {
                s.dirty.push(h.source);
            }
            return;
        }
        if h.seq > last + 1 {
            // One before it was lost on the way: it comes again.
            return Stats::bump(&self.stats.ahead);
        }
        let patience = match self.on_full {
            OnFull::Wait(d) => d,
            OnFull::Drop => Duration::ZERO,
        };
        match self.sink.put(item, patience) {
            Ok(()) => {
                Stats::bump(&self.stats.received);
                s.last.insert(h.source, h.seq);
                if !s.dirty.contains(&h.source) {
                    s.dirty.push(h.source);
                }
                if self.idle.swap(false, std::sync::atomic::Ordering::AcqRel) {
                    self.nudge.set();
                }
            }
            Err(e) if e.kind() == ErrorKind::Full => Stats::bump(&self.stats.full),
            Err(_) => Stats::bump(&self.stats.refused_other),
        }
    }

    /// The acknowledgements to publish: (source, last number put).
    pub(crate) fn take_acks(&self) -> Vec<(u64, u64)> {
        let mut s = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let dirty = std::mem::take(&mut s.dirty);
        dirty
            .into_iter()
            .filter_map(|src| s.last.get(&src).map(|&seq| (src, seq)))
            .collect()
    }
}
