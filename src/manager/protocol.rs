//! What a client and the server agree on: the channel each connection
//! shares, its state word, and the layout of requests and replies.
//!
//! A connection is a `SOCK_SEQPACKET` socket plus one channel: a memfd
//! the server makes at the handshake and passes over the socket
//! (`SCM_RIGHTS`). Requests and replies go through the channel (a copy
//! each way, no system call while both sides are awake); the socket
//! carries the handshake, one-byte doorbells to a side that parked, and
//! the end of the connection (either side's death is a hang-up the other
//! sees at once).
//!
//! ## The handshake
//!
//! Every message is little-endian `u32` words.
//!
//! | message | bytes | words |
//! |---|---|---|
//! | hello (client) | 16 | `MAGIC`, `VERSION`, the client's message size (0: the server's, which the channel's length tells), its pid (informative: the server asks the kernel) |
//! | welcome (server, with the memfd) | 16 | `MAGIC`, 0, the server's start stamp, its pid |
//! | refusal (server, no descriptor) | 56 | `MAGIC`, a status, its detail, the server's pid, `a`, `b`, 8 uids |
//!
//! | refusal status | detail | `a`, `b`, uids |
//! |---|---|---|
//! | `DENIED` | the peer's uid | the server's uid, how many uids it serves besides, those uids |
//! | `FULL` | the limit | 0 for `MPROC_MANAGER_CONNECTIONS`, 1 for a uid's half of it; the peer's uid |
//! | `BAD_REQUEST` | the server's `VERSION` | — |
//! | `TOO_BIG` | the server's message size | — |
//! | `NO_CHANNEL` | the errno of making the channel | — |
//!
//! A refusal for the peer's uid or a limit is sent as soon as the
//! connection is accepted, and the server closes its end: the client may
//! find its hello refused with `EPIPE`, or its first receive reset
//! (`ECONNRESET`, reported once), and reads the refusal after that. The
//! server waits for a hello at most 2 s, in its loop (the connection is
//! in a handshake state meanwhile), and drops a connection whose first
//! message is not a hello.
//!
//! ## The channel
//!
//! `AREA` bytes of header words (the state word, each side's `parked`
//! flag, the `withdraw` word), then the message area of the server's message size
//! (`Builder::message_bytes`, by default `MPROC_MANAGER_MESSAGE_BYTES`).
//! The server sizes the memfd, then seals it (`F_SEAL_SHRINK |
//! F_SEAL_GROW | F_SEAL_SEAL`) before passing it: a client can write the
//! bytes but not change the size under the server's mapping (a truncated
//! file would be a `SIGBUS` in the server).
//!
//! The client may write anything there; the server reads each request once
//! (header, then as many argument bytes as the header says, at most the
//! message area), and checks it before use. A client whose channel breaks
//! the protocol has its connection dropped: a phase that does not exist,
//! a request while its last one is `PENDING`, a state that changed under
//! a `PENDING` request, a length past the message area.
//!
//! ## The state word (first word of the channel)
//!
//! `seq << 3 | phase`; the client numbers its requests (`seq`), so a stale
//! grant never matches a newer request.
//!
//! | phase | who may write the message area | next |
//! |---|---|---|
//! | `IDLE` | the client | client writes a request, swaps in `REQUEST` |
//! | `REQUEST` | nobody | server CASes `SERVING` |
//! | `SERVING` | the server | server writes the reply and swaps in `REPLY`, or stores `PENDING` |
//! | `PENDING` | nobody (request parked: a lock is held…) | server CASes `SERVING` to answer it (when it can be granted, its timeout ran out, or the client withdrew it) |
//! | `REPLY` | nobody | client reads the reply and stores `IDLE` |
//!
//! Only the rows' writers change the state word: the client `IDLE` →
//! `REQUEST` and `REPLY` → `IDLE`, the server the rest.
//!
//! A client may withdraw a `PENDING` request (an async wait whose future
//! was dropped): it stores that state word's value in the channel's
//! fourth word (`withdraw`), then rings as for a request. The server, on
//! finding the word of its parked request there, answers it `WITHDRAWN`,
//! having done nothing. It may have answered the request already (the
//! two cross): the client then reads the real answer and undoes it (a
//! lock taken is released, an item got is kept for the next get or given
//! back with `Q_PUT_FRONT`). A stale `withdraw` word never matches a
//! later request: its `seq` differs.
//!
//! Each side publishes with a `swap` (a full barrier) and then loads the
//! other side's `parked` flag; a side about to park swaps its flag in,
//! then looks at the state once more. One of the two always sees the
//! other, so no wake-up is lost (a doorbell may be spurious).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::shm::FileMapping;
use crate::sys::{self, Errno};

pub(crate) const IDLE: u32 = 0;
pub(crate) const REQUEST: u32 = 1;
pub(crate) const SERVING: u32 = 2;
pub(crate) const PENDING: u32 = 3;
pub(crate) const REPLY: u32 = 4;

pub(crate) const fn word(seq: u32, phase: u32) -> u32 {
    (seq << 3) | phase
}

pub(crate) const fn phase(word: u32) -> u32 {
    word & 7
}

pub(crate) const fn seq(word: u32) -> u32 {
    word >> 3
}

/// Where the message area starts in the channel.
pub(crate) const AREA: usize = 64;
/// Bytes of a request header.
pub(crate) const REQUEST_HEADER: usize = 32;
/// Bytes of a reply header.
pub(crate) const REPLY_HEADER: usize = 24;

/// The handshake's magic and protocol version.
pub(crate) const MAGIC: u32 = 0x6d70_6d67; // "mpmg"
pub(crate) const VERSION: u32 = 1;
/// Bytes of a hello (client to server) and of a welcome (server to
/// client, with the channel's memfd).
pub(crate) const HELLO: usize = 16;
/// Bytes of a refusal (server to client, no descriptor): the welcome's
/// four words, two more, and room for the uids a server serves besides
/// its own.
pub(crate) const REFUSAL: usize = 24 + 4 * crate::ipc::ALLOWED_UIDS;
/// A doorbell: one byte on the socket.
pub(crate) const DOORBELL: [u8; 1] = [1];

/// Kinds of objects.
pub(crate) mod kind {
    pub(crate) const DICT: u16 = 1;
    pub(crate) const LIST: u16 = 2;
    pub(crate) const VALUE: u16 = 3;
    pub(crate) const NAMESPACE: u16 = 4;
    pub(crate) const LOCK: u16 = 5;
    pub(crate) const RLOCK: u16 = 6;
    pub(crate) const SEMAPHORE: u16 = 7;
    pub(crate) const EVENT: u16 = 8;
    pub(crate) const CONDITION: u16 = 9;
    pub(crate) const BARRIER: u16 = 10;
    pub(crate) const CUSTOM: u16 = 11;
    pub(crate) const QUEUE: u16 = 12;
    pub(crate) const BOUNDED_SEMAPHORE: u16 = 13;
    /// A list of fixed length: made full, then only read and written
    /// by index (`LEN`, `GET`, `SET`, `ITEMS`).
    pub(crate) const ARRAY: u16 = 14;

    /// The kind's name in errors and docs.
    pub(crate) fn name(kind: u16) -> &'static str {
        match kind {
            DICT => "dict",
            LIST => "list",
            ARRAY => "array",
            VALUE => "value",
            NAMESPACE => "namespace",
            LOCK => "lock",
            RLOCK => "rlock",
            SEMAPHORE => "semaphore",
            BOUNDED_SEMAPHORE => "bounded semaphore",
            EVENT => "event",
            CONDITION => "condition",
            BARRIER => "barrier",
            QUEUE => "queue",
            CUSTOM => "registered object",
            _ => "object",
        }
    }
}

/// Flags of a `CREATE` (the word after the kind).
pub(crate) mod create {
    /// Values have lengths of their own (the serde encoding): the object
    /// keeps them as records in a byte arena. Its `a_size` is then the
    /// arena's bytes, `b_size` 0.
    pub(crate) const VARIABLE: u16 = 1;
}

/// Operations. Object 0 is the manager itself; every other object takes
/// the operations of its kind (numbers repeat across kinds).
pub(crate) mod op {
    // The manager (object 0).
    pub(crate) const CREATE: u16 = 1;
    pub(crate) const OPEN: u16 = 2;
    pub(crate) const PUBLISH: u16 = 3;
    pub(crate) const RELEASE: u16 = 4;
    pub(crate) const SHUTDOWN: u16 = 5;
    pub(crate) const PING: u16 = 6;
    pub(crate) const COUNT: u16 = 7;

    // dict and namespace.
    pub(crate) const GET: u16 = 1;
    pub(crate) const SET: u16 = 2;
    pub(crate) const POP: u16 = 3;
    pub(crate) const CONTAINS: u16 = 4;
    pub(crate) const LEN: u16 = 5;
    pub(crate) const CLEAR: u16 = 6;
    pub(crate) const ITEMS: u16 = 7;
    pub(crate) const SETDEFAULT: u16 = 8;

    // list (also LEN, CLEAR, GET, SET above; GET/SET by index).
    pub(crate) const APPEND: u16 = 9;
    pub(crate) const POP_AT: u16 = 10;
    pub(crate) const INSERT: u16 = 11;
    pub(crate) const INDEX: u16 = 12;
    pub(crate) const REVERSE: u16 = 13;
    pub(crate) const REMOVE: u16 = 14;
    pub(crate) const COUNT_OF: u16 = 15;
    /// Items one after another; for items of no bytes, their count
    /// (`u64`).
    pub(crate) const EXTEND: u16 = 16;

    // The waiting kinds. The first argument of a request that may wait is
    // its timeout in nanoseconds (0: do not wait; u64::MAX: no limit).
    /// Lock, rlock, condition, semaphore: take it.
    pub(crate) const ACQUIRE: u16 = 1;
    /// Lock, rlock, condition: release; semaphore: release `n` (u32).
    pub(crate) const RELEASE_LOCK: u16 = 2;
    /// Lock, rlock, condition: held? semaphore: value; event: set?;
    /// barrier: parties, then waiting | broken << 32.
    pub(crate) const LOCKED: u16 = 3;
    /// Condition, event, barrier: wait.
    pub(crate) const WAIT: u16 = 4;
    /// Condition: wake `n` (u32) waiters.
    pub(crate) const NOTIFY: u16 = 5;
    pub(crate) const EV_SET: u16 = 6;
    pub(crate) const EV_CLEAR: u16 = 7;
    pub(crate) const B_ABORT: u16 = 8;
    pub(crate) const B_RESET: u16 = 9;
    pub(crate) const Q_PUT: u16 = 10;
    pub(crate) const Q_GET: u16 = 11;
    /// Queue: an item given back (by a client whose withdrawn get had
    /// been answered already) goes first: to the oldest waiting getter,
    /// or to the queue's front, past its capacity by one item if need be
    /// (it was in the queue a moment ago).
    pub(crate) const Q_PUT_FRONT: u16 = 12;
}

/// Reply statuses.
pub(crate) mod status {
    pub(crate) const OK: u16 = 0;
    /// The object was released (or never existed).
    pub(crate) const NO_OBJECT: u16 = 1;
    /// A type check failed: `a` expected, `b` found, `field` in `extra`.
    pub(crate) const TYPE_MISMATCH: u16 = 2;
    /// A fixed capacity is full: `a` the capacity.
    pub(crate) const FULL: u16 = 3;
    /// An index out of range: `a` the index, `b` the length.
    pub(crate) const INDEX: u16 = 4;
    /// A malformed request (sizes that do not add up).
    pub(crate) const BAD_REQUEST: u16 = 5;
    /// An operation the object does not have: `a` its number.
    pub(crate) const UNKNOWN_METHOD: u16 = 6;
    /// A registered object's handler panicked.
    pub(crate) const PANICKED: u16 = 7;
    /// Releasing a lock that is not held (by the caller, for an rlock).
    pub(crate) const NOT_HELD: u16 = 8;
    /// The server's object table is full: `a` its capacity.
    pub(crate) const TOO_MANY_OBJECTS: u16 = 9;
    /// Too big for one message: `a` the size, `b` the room.
    pub(crate) const TOO_BIG: u16 = 10;
    /// A name published already.
    pub(crate) const NAME_TAKEN: u16 = 11;
    /// No object published under the name.
    pub(crate) const NO_NAME: u16 = 12;
    /// An object of another kind: `a` its kind.
    pub(crate) const WRONG_KIND: u16 = 13;
    /// No type registered under the name.
    pub(crate) const UNKNOWN_TYPE: u16 = 14;
    /// A value that does not decode (a registered object's argument).
    pub(crate) const BAD_VALUE: u16 = 15;
    /// Not found (a value not in a list).
    pub(crate) const NOT_FOUND: u16 = 16;
    /// The barrier is broken (aborted, or a wait timed out or died).
    pub(crate) const BROKEN: u16 = 17;
    /// The queue is full and the put could not wait (longer).
    pub(crate) const QUEUE_FULL: u16 = 18;
    /// The queue is empty and the get could not wait (longer).
    pub(crate) const QUEUE_EMPTY: u16 = 19;
    /// A bounded semaphore released past its initial value.
    pub(crate) const OVER_RELEASED: u16 = 20;
    /// Handshake: a peer whose uid the server does not serve.
    pub(crate) const DENIED: u16 = 21;
    /// Handshake: the server could not make the channel (`detail`: the
    /// errno).
    pub(crate) const NO_CHANNEL: u16 = 22;
    /// An object of variable-length values has no room for a record:
    /// `a` its size, `b` the free bytes (nothing changed).
    pub(crate) const NO_ROOM: u16 = 23;
    /// A registered object's result does not encode in the reply's room:
    /// `a` its size, `b` the room.
    pub(crate) const RESULT_TOO_BIG: u16 = 24;
    /// A parked request the client withdrew (see the channel's
    /// `withdraw` word): nothing was done.
    pub(crate) const WITHDRAWN: u16 = 25;
}

/// Which part of a request a `TYPE_MISMATCH` is about.
pub(crate) mod field {
    pub(crate) const KEY: u16 = 1;
    pub(crate) const VALUE: u16 = 2;
    pub(crate) const ARGUMENT: u16 = 3;
    pub(crate) const RESULT: u16 = 4;
    pub(crate) const INIT: u16 = 5;

    pub(crate) fn name(field: u16) -> &'static str {
        match field {
            KEY => "key type",
            VALUE => "value type",
            ARGUMENT => "argument type",
            RESULT => "result type",
            INIT => "initial value type",
            _ => "type",
        }
    }
}

/// A request's header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) object: u32,
    pub(crate) generation: u32,
    pub(crate) op: u16,
    pub(crate) flags: u16,
    pub(crate) len: u32,
    pub(crate) fp_a: u64,
    pub(crate) fp_b: u64,
}

impl Request {
    pub(crate) fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.object.to_le_bytes());
        out[4..8].copy_from_slice(&self.generation.to_le_bytes());
        out[8..10].copy_from_slice(&self.op.to_le_bytes());
        out[10..12].copy_from_slice(&self.flags.to_le_bytes());
        out[12..16].copy_from_slice(&self.len.to_le_bytes());
        out[16..24].copy_from_slice(&self.fp_a.to_le_bytes());
        out[24..32].copy_from_slice(&self.fp_b.to_le_bytes());
    }

    pub(crate) fn read(b: &[u8]) -> Request {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(x)
        };
        Request {
            object: u32_at(0),
            generation: u32_at(4),
            op: u16::from_le_bytes([b[8], b[9]]),
            flags: u16::from_le_bytes([b[10], b[11]]),
            len: u32_at(12),
            fp_a: u64_at(16),
            fp_b: u64_at(24),
        }
    }
}

/// A reply's header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) extra: u16,
    pub(crate) len: u32,
    pub(crate) a: u64,
    pub(crate) b: u64,
}

impl Reply {
    pub(crate) fn ok(a: u64) -> Reply {
        Reply {
            a,
            ..Reply::default()
        }
    }

    pub(crate) fn status(status: u16, a: u64, b: u64) -> Reply {
        Reply {
            status,
            a,
            b,
            ..Reply::default()
        }
    }

    pub(crate) fn write(&self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&self.status.to_le_bytes());
        out[2..4].copy_from_slice(&self.extra.to_le_bytes());
        out[4..8].copy_from_slice(&self.len.to_le_bytes());
        out[8..16].copy_from_slice(&self.a.to_le_bytes());
        out[16..24].copy_from_slice(&self.b.to_le_bytes());
    }

    pub(crate) fn read(b: &[u8]) -> Reply {
        let mut a = [0u8; 8];
        let mut bb = [0u8; 8];
        a.copy_from_slice(&b[8..16]);
        bb.copy_from_slice(&b[16..24]);
        Reply {
            status: u16::from_le_bytes([b[0], b[1]]),
            extra: u16::from_le_bytes([b[2], b[3]]),
            len: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            a: u64::from_le_bytes(a),
            b: u64::from_le_bytes(bb),
        }
    }
}

/// One connection's channel, mapped in this process.
pub(crate) struct Channel {
    map: FileMapping,
}

impl Channel {
    /// The channel's length for messages of `message_bytes`.
    pub(crate) fn len_for(message_bytes: usize) -> usize {
        AREA + message_bytes
    }

    /// A fresh channel (server side): a memfd, mapped.
    pub(crate) fn create(message_bytes: usize) -> Result<(Channel, OwnedFd), Errno> {
        let len = Self::len_for(message_bytes);
        let fd = sys::shm::memfd(len)?;
        let map = FileMapping::new(&fd, len)?;
        Ok((Channel { map }, fd))
    }

    /// Maps a channel passed by the server (client side); its message
    /// size, read from the channel's length, must be in `sizes`.
    pub(crate) fn open(
        fd: &OwnedFd,
        sizes: core::ops::RangeInclusive<usize>,
    ) -> Result<(Channel, usize), Errno> {
        let len = usize::try_from(sys::shm::size(fd)?).map_err(|_| Errno::EPROTO)?;
        let message_bytes = len.checked_sub(AREA).ok_or(Errno::EPROTO)?;
        if !sizes.contains(&message_bytes) {
            return Err(Errno::EPROTO);
        }
        Ok((
            Channel {
                map: FileMapping::new(fd, len)?,
            },
            message_bytes,
        ))
    }

    fn word(&self, index: usize) -> &AtomicU32 {
        // In bounds and aligned: the mapping is at least AREA bytes and
        // page-aligned.
        self.map
            .get::<AtomicU32>(index * 4)
            .unwrap_or_else(|| unreachable!("a channel is at least {AREA} bytes"))
    }

    pub(crate) fn state(&self) -> &AtomicU32 {
        self.word(0)
    }

    pub(crate) fn client_parked(&self) -> &AtomicU32 {
        self.word(1)
    }

    pub(crate) fn server_parked(&self) -> &AtomicU32 {
        self.word(2)
    }

    /// The state word of a `PENDING` request its client withdraws (see
    /// the module docs).
    pub(crate) fn withdraw(&self) -> &AtomicU32 {
        self.word(3)
    }

    /// The state word. `SeqCst`: each side's look at the state after
    /// raising its `parked` flag is one half of the no-lost-wake-up
    /// handshake (see the module docs), which needs the store-then-load
    /// order kept on every target.
    pub(crate) fn load(&self) -> u32 {
        self.state().load(Ordering::SeqCst)
    }

    /// Copies `bytes` into the message area.
    pub(crate) fn put(&self, bytes: &[u8]) -> bool {
        self.map.write_bytes(AREA, bytes)
    }

    /// Copies the start of the message area into `out`.
    pub(crate) fn take(&self, out: &mut [u8]) -> bool {
        self.map.read_bytes(AREA, out)
    }

    /// Copies `out.len()` bytes from `offset` in the message area.
    pub(crate) fn take_at(&self, offset: usize, out: &mut [u8]) -> bool {
        self.map.read_bytes(AREA + offset, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let r = Request {
            object: 7,
            generation: 9,
            op: op::SET,
            flags: 3,
            len: 40,
            fp_a: u64::MAX - 1,
            fp_b: 12,
        };
        let mut b = [0u8; REQUEST_HEADER];
        r.write(&mut b);
        assert_eq!(Request::read(&b), r);
        let p = Reply {
            status: status::INDEX,
            extra: field::KEY,
            len: 5,
            a: 1 << 40,
            b: 3,
        };
        let mut b = [0u8; REPLY_HEADER];
        p.write(&mut b);
        assert_eq!(Reply::read(&b), p);
    }

    #[test]
    fn the_state_word_keeps_seq_and_phase_apart() {
        let w = word(12345, PENDING);
        assert_eq!((seq(w), phase(w)), (12345, PENDING));
        assert_eq!(seq(word(u32::MAX >> 3, REPLY)), u32::MAX >> 3);
    }
}
