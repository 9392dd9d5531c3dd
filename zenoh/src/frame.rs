//! What one item looks like on the wire: a fixed header, then the item's
//! bytes as the local queue holds them (a `ValueQueue`'s postcard
//! encoding, a `RecordQueue`'s or a message queue's raw bytes).
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | magic `MZ` |
//! | 2 | format version (1) |
//! | 3 | reserved, 0 |
//! | 4..12 | the item type's fingerprint (little-endian; 0: raw bytes) |
//! | 12..20 | the source: a random number drawn when its bridge starts |
//! | 20..28 | the item's sequence number from that source, from 1 |
//! | 28..36 | the highest number that source had seen acknowledged |
//!
//! A receiver checks the fingerprint against its own queue's (a mismatch
//! is refused and counted, never put), and puts each source's items in
//! their order: one it sees the first time starts after the source's
//! acknowledged number, an item already put is not put again, and one
//! ahead of a missing one waits until the missing one comes again, unless
//! the source has seen the missing one acknowledged (by another receiver
//! of the same key): then it is skipped, and counted.

/// The header's length in bytes.
pub const HEADER: usize = 36;
const MAGIC: [u8; 2] = *b"MZ";
const VERSION: u8 = 1;

/// The fingerprint of raw bytes (a `RecordQueue`'s or a message queue's
/// records): any receiver of raw bytes takes them.
pub const RAW: u64 = 0;

/// One item's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The item type's fingerprint ([`RAW`] for raw bytes).
    pub fingerprint: u64,
    /// The sending bridge's random number.
    pub source: u64,
    /// The item's number from that source, from 1.
    pub seq: u64,
    /// The highest number the source had seen acknowledged when it sent
    /// this (every item up to it was put by some receiver).
    pub acked: u64,
}

/// Why bytes are not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than the header.
    Short(usize),
    /// Not `MZ` at the start.
    Magic,
    /// A format version this gateway does not read.
    Version(u8),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Short(n) => write!(f, "{n} bytes, shorter than the {HEADER}-byte header"),
            FrameError::Magic => f.write_str("not an mproc-zenoh frame (no `MZ` magic)"),
            FrameError::Version(v) => write!(f, "frame format {v}, this gateway reads {VERSION}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl Header {
    /// Writes the header into `out[..HEADER]` (`out` at least that long).
    pub fn write(&self, out: &mut [u8]) {
        out[..2].copy_from_slice(&MAGIC);
        out[2] = VERSION;
        out[3] = 0;
        out[4..12].copy_from_slice(&self.fingerprint.to_le_bytes());
        out[12..20].copy_from_slice(&self.source.to_le_bytes());
        out[20..28].copy_from_slice(&self.seq.to_le_bytes());
        out[28..36].copy_from_slice(&self.acked.to_le_bytes());
    }

    /// The header of `frame` and the item's bytes after it.
    pub fn read(frame: &[u8]) -> Result<(Header, &[u8]), FrameError> {
        if frame.len() < HEADER {
            return Err(FrameError::Short(frame.len()));
        }
        if frame[..2] != MAGIC {
            return Err(FrameError::Magic);
        }
        if frame[2] != VERSION {
            return Err(FrameError::Version(frame[2]));
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&frame[at..at + 8]);
            u64::from_le_bytes(b)
        };
        Ok((
            Header {
                fingerprint: word(4),
                source: word(12),
                seq: word(20),
                acked: word(28),
            },
            &frame[HEADER..],
        ))
    }
}

/// The fingerprint of a serde type: 64-bit FNV-1a over `serde:` and its
/// name ([`core::any::type_name`]), as the mproc manager checks its serde
/// values: two programs must name the type alike.
pub fn serde_fingerprint<T: ?Sized>() -> u64 {
    let name = core::any::type_name::<T>().as_bytes();
    // Never RAW: a typed queue does not take raw bytes unchecked.
    fnv1a(b"serde:".iter().chain(name)).max(1)
}

/// 64-bit FNV-1a over `bytes`.
pub(crate) fn fnv1a<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_bad_frames_are_named() {
        let h = Header {
            fingerprint: 7,
            source: u64::MAX,
            seq: 42,
            acked: 40,
        };
        let mut frame = vec![0u8; HEADER + 3];
        h.write(&mut frame);
        frame[HEADER..].copy_from_slice(b"abc");
        assert_eq!(Header::read(&frame), Ok((h, &b"abc"[..])));
        assert_eq!(Header::read(&frame[..5]), Err(FrameError::Short(5)));
        let mut bad = frame.clone();
        bad[0] = b'X';
        assert_eq!(Header::read(&bad), Err(FrameError::Magic));
        bad = frame.clone();
        bad[2] = 9;
        assert_eq!(Header::read(&bad), Err(FrameError::Version(9)));
    }

    #[test]
    fn fingerprints_tell_types_apart_and_are_never_raw() {
        assert_ne!(serde_fingerprint::<u32>(), serde_fingerprint::<u64>());
        assert_eq!(serde_fingerprint::<String>(), serde_fingerprint::<String>());
        assert_ne!(serde_fingerprint::<String>(), RAW);
    }
}
