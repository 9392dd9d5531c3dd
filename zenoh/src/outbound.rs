//! The outbound side and the acknowledgements: the one pump thread that
//! publishes what the local sources hold, keeps each item until the
//! receiving gateway acknowledges it (sending it again when the link
//! comes back or no acknowledgement came for a while), and publishes the
//! inbound bridges' acknowledgements.

use std::collections::VecDeque;
use std::io::Read as _;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zenoh::Wait as _;

use crate::endpoint::Source;
use crate::frame::{HEADER, Header};
use crate::inbound::Inbound;
use crate::journal::Journal;
use crate::stats::Stats;

/// Items an outbound bridge has published and not seen acknowledged, at
/// most: it takes no more from its local queue until some are.
pub const WINDOW: usize = 1024;
/// How long an outbound bridge waits for an acknowledgement before it
/// publishes its unacknowledged items again.
pub const RESEND_AFTER: Duration = Duration::from_millis(500);
/// How often the pump looks at which bridges have a remote subscriber.
const LOOK: Duration = Duration::from_millis(20);
/// How often, at most, the inbound bridges' acknowledgements go out
/// while items come (each is one small zenoh message per source).
const ACK_EVERY: Duration = Duration::from_millis(1);
/// Items one outbound bridge publishes in one turn.
const BATCH: usize = 64;

/// What the callbacks ring to wake the pump.
pub(crate) type Nudge = Arc<mproc::shm::Shared<mproc::sync::WatchableEvent>>;

/// The key on which the receivers of source `id` acknowledge it.
pub(crate) fn ack_key(id: u64) -> String {
    format!("mproc-zenoh/ack/{id:016x}")
}

/// One outbound bridge's state, owned by the pump.
pub(crate) struct Out {
    pub(crate) publisher: zenoh::pubsub::Publisher<'static>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) id: u64,
    pub(crate) seq: u64,
    /// Published, not yet acknowledged: (number, frame).
    pub(crate) window: VecDeque<(u64, Vec<u8>)>,
    /// The highest number a receiver acknowledged (its subscriber's
    /// callback stores it).
    pub(crate) acked: Arc<AtomicU64>,
    /// When an acknowledgement last moved the window on (or it was sent
    /// again).
    pub(crate) progress: Instant,
    pub(crate) matched: bool,
    pub(crate) _acks: zenoh::pubsub::Subscriber<()>,
    /// Where the window is kept across a restart
    /// ([`Builder::keep_windows`](crate::Builder::keep_windows)).
    pub(crate) journal: Option<Journal>,
    pub(crate) scratch: Vec<u8>,
}

/// Item `seq` of `source` with its header.
pub(crate) fn frame(fingerprint: u64, source: u64, seq: u64, acked: u64, item: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; HEADER + item.len()];
    Header {
        fingerprint,
        source,
        seq,
        acked,
    }
    .write(&mut frame);
    frame[HEADER..].copy_from_slice(item);
    frame
}

impl Out {
    /// Lets go of the acknowledged items.
    fn settle(&mut self) {
        let acked = self.acked.load(Ordering::Acquire);
        let before = self.window.len();
        while self.window.front().is_some_and(|(seq, _)| *seq <= acked) {
            self.window.pop_front();
        }
        if self.window.len() != before {
            self.progress = Instant::now();
            if let Some(j) = &mut self.journal {
                let window = self.window.iter().map(|(seq, f)| (*seq, &f[HEADER..]));
                if j.settle(acked, window).is_err() {
                    Stats::bump(&self.stats.errors);
                }
            }
        }
    }

    /// Whether it would take another item now.
    fn has_room(&self) -> bool {
        self.matched && self.window.len() < WINDOW
    }

    /// Takes and publishes up to [`BATCH`] items; how many.
    fn turn(&mut self, source: &dyn Source, item: &mut Vec<u8>) -> usize {
        let mut n = 0;
        while n < BATCH && self.has_room() {
            match source.try_take(item) {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    Stats::bump(&self.stats.errors);
                    break;
                }
            }
            self.seq += 1;
            if let Some(j) = &mut self.journal {
                // Kept before it goes out; an item that could not be kept
                // still goes (and is counted).
                if j.append(self.seq, item, &mut self.scratch).is_err() {
                    Stats::bump(&self.stats.errors);
                }
            }
            let acked = self.acked.load(Ordering::Acquire);
            let frame = frame(source.fingerprint(), self.id, self.seq, acked, item);
            if self.window.is_empty() {
                self.progress = Instant::now();
            }
            match self.publisher.put(frame.as_slice()).wait() {
                Ok(()) => Stats::bump(&self.stats.sent),
                // Kept: it goes again with the window.
                Err(_) => Stats::bump(&self.stats.errors),
            }
            self.window.push_back((self.seq, frame));
            n += 1;
        }
        n
    }

    /// Publishes every unacknowledged item again, oldest first, each
    /// saying what is acknowledged now (so that a receiver that starts
    /// with it starts at the window's first item).
    fn resend(&mut self) {
        self.settle();
        let acked = self.acked.load(Ordering::Acquire).to_le_bytes();
        for (_, frame) in &mut self.window {
            frame[28..36].copy_from_slice(&acked);
            if self.publisher.put(frame.as_slice()).wait().is_ok() {
                Stats::bump(&self.stats.resent);
            } else {
                Stats::bump(&self.stats.errors);
            }
        }
        self.progress = Instant::now();
    }

    fn look(&mut self) {
        let matched = self
            .publisher
            .matching_status()
            .wait()
            .is_ok_and(|m| m.matching());
        if matched && !self.matched && !self.window.is_empty() {
            // A receiver (again): what it may have missed goes first.
            self.matched = true;
            self.resend();
        }
        self.matched = matched;
    }
}

/// What the pump works on.
pub(crate) struct Pump {
    pub(crate) sources: Vec<Box<dyn Source>>,
    pub(crate) outs: Vec<Out>,
    pub(crate) inbounds: Vec<Arc<Inbound>>,
    pub(crate) session: zenoh::Session,
    pub(crate) wake: std::io::PipeReader,
    pub(crate) draining: Arc<AtomicBool>,
    pub(crate) nudge: Nudge,
    /// Whether the pump waits its idle pause (the inbound bridges wake
    /// it with their first item then).
    pub(crate) idle: Arc<AtomicBool>,
}

impl Pump {
    /// Publishes the inbound bridges' acknowledgements that moved;
    /// whether there were any.
    fn acknowledge(&self) -> bool {
        let mut any = false;
        for inbound in &self.inbounds {
            for (source, seq) in inbound.take_acks() {
                any = true;
                let _ = self
                    .session
                    .put(ack_key(source), seq.to_le_bytes().to_vec())
                    .wait();
            }
        }
        any
    }

    /// Runs until told to stop (and, draining, until every window is
    /// acknowledged or the time given ran out).
    pub(crate) fn run(mut self) -> Result<(), String> {
        let mut item = Vec::new();
        let readies: Vec<_> = self
            .sources
            .iter()
            .map(|s| s.ready())
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let nudged = self.nudge.watch().map_err(|e| e.to_string())?;
        let mut looked = Instant::now() - LOOK;
        let mut acked_at = Instant::now();
        // Items came lately: acknowledge every ACK_EVERY, not every LOOK.
        let mut busy = false;
        let mut deadline: Option<Instant> = None;
        loop {
            // Before the work: a ring after this is not missed.
            self.nudge.clear();
            if looked.elapsed() >= LOOK {
                for o in &mut self.outs {
                    o.look();
                }
                looked = Instant::now();
            }
            let mut sent = 0;
            for (o, s) in self.outs.iter_mut().zip(&self.sources) {
                o.settle();
                if o.matched && !o.window.is_empty() && o.progress.elapsed() >= RESEND_AFTER {
                    o.resend();
                }
                if deadline.is_none() {
                    sent += o.turn(s.as_ref(), &mut item);
                }
            }
            if acked_at.elapsed() >= ACK_EVERY {
                busy = self.acknowledge();
                acked_at = Instant::now();
            }
            if self.draining.load(Ordering::SeqCst) {
                if deadline.is_none() {
                    let mut ms = [0u8; 8];
                    let _ = self.wake.read_exact(&mut ms);
                    let ms = u64::from_le_bytes(ms);
                    deadline = Some(Instant::now() + Duration::from_millis(ms));
                    // One more turn for what the queues hold.
                    for (o, s) in self.outs.iter_mut().zip(&self.sources) {
                        while o.turn(s.as_ref(), &mut item) > 0 {}
                    }
                }
                let acked = self.outs.iter().all(|o| o.window.is_empty());
                if acked || deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(());
                }
                std::thread::sleep(ACK_EVERY);
                continue;
            }
            if sent > 0 {
                continue;
            }
            let mut fds = vec![self.wake.as_fd(), nudged.as_fd()];
            fds.extend(
                readies
                    .iter()
                    .zip(&self.outs)
                    .filter(|(_, o)| o.has_room())
                    .map(|(r, _)| r.as_fd()),
            );
            // While items come, the next acknowledgement is due soon;
            // idle, the pump sleeps until something happens.
            self.idle.store(!busy, Ordering::Release);
            let pause = if busy {
                ACK_EVERY.saturating_sub(acked_at.elapsed())
            } else {
                LOOK
            };
            mproc::ipc::wait(&fds, Some(pause)).map_err(|e| e.to_string())?;
        }
    }
}

/// A random-enough number for a source: the clock, the process, the
/// bridge's place.
pub(crate) fn source_id(index: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix64's finalizer.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
