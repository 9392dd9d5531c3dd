//! The client's side of a connection: [`Link`], one per
//! [`Client`](super::Client), connected lazily in each process that
//! calls through it (a forked child makes its own connection on its
//! first call: it never uses its parent's channel).

mod pending;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::protocol::{
    Channel, DOORBELL, HELLO, IDLE, MAGIC, PENDING, REFUSAL, REPLY, REPLY_HEADER, REQUEST,
    REQUEST_HEADER, Reply, Request, VERSION, field, status, word,
};
use crate::config::MANAGER_MESSAGE_BYTES;
use crate::error::{Error, ErrorKind, Resource, Result, SegmentName, Uids};
use crate::ipc;
use crate::sys::{self, Errno, fdpass, socket};

/// How long a caller watches its channel for the reply before it parks on
/// the socket.
const SPIN: Duration = Duration::from_micros(50);

/// How long a caller watches a request the server parked (it waits on
/// another process) before it parks too.
const PENDING_SPIN: Duration = Duration::from_micros(5);

/// How long a new connection waits for the server's welcome.
const HANDSHAKE_PATIENCE: Duration = Duration::from_secs(10);

/// The smallest message size a manager has (`MPROC_MANAGER_MESSAGE_BYTES`'s
/// and [`Builder::message_bytes`](super::Builder::message_bytes)'s range).
pub const MESSAGE_BYTES_MIN: usize = 512;
/// The largest message size a manager has.
pub const MESSAGE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The longest address (a socket path or abstract name) with its `@`.
pub(crate) const ADDRESS_MAX: usize = socket::ADDRESS_MAX;

/// One process's connection.
struct Session {
    pid: i32,
    sock: OwnedFd,
    chan: Channel,
    seq: u32,
    buf: Vec<u8>,
}

/// A manager's address and this process's connection to it.
pub(crate) struct Link {
    address: heapless::String<ADDRESS_MAX>,
    session: Mutex<Option<Session>>,
    /// The server this link first reached (its pid and start stamp), 0
    /// before: a later connection must reach the same one, or the objects
    /// its proxies name are not there (a new server on the same address).
    instance: AtomicU64,
    /// The server's message size, once connected (0 before).
    message_bytes: AtomicUsize,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("address", &self.address.as_str())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link to `address`, connected now (so a wrong address fails here).
    pub(crate) fn connect(address: &str) -> Result<Link> {
        let mut kept = heapless::String::new();
        kept.push_str(address).map_err(|_| {
            Error::new(
                "Manager::connect",
                Resource::Manager(SegmentName::new(address)),
                ErrorKind::CapacityExceeded {
                    limit: ADDRESS_MAX - 1,
                },
            )
        })?;
        let link = Link {
            address: kept,
            session: Mutex::new(None),
            instance: AtomicU64::new(0),
            message_bytes: AtomicUsize::new(0),
        };
        let session = link.open("Manager::connect")?;
        *link.lock() = Some(session);
        Ok(link)
    }

    /// A link to `address` that connects on its first call.
    pub(crate) fn dormant(address: &str) -> Link {
        let mut kept = heapless::String::new();
        let _ = kept.push_str(address);
        Link {
            address: kept,
            session: Mutex::new(None),
            instance: AtomicU64::new(0),
            message_bytes: AtomicUsize::new(0),
        }
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Bytes of one message of the server (the build's
    /// `MPROC_MANAGER_MESSAGE_BYTES` before the first connection).
    pub(crate) fn message_bytes(&self) -> usize {
        match self.message_bytes.load(Ordering::Relaxed) {
            0 => MANAGER_MESSAGE_BYTES,
            n => n,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        // A panic while the session was held leaves it usable: every call
        // starts from the channel's state word.
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resource(&self) -> Resource {
        Resource::Manager(SegmentName::new(&self.address))
    }

    fn gone(&self, op: &'static str) -> Error {
        Error::new(op, self.resource(), ErrorKind::ManagerGone)
    }

    /// Connects and shakes hands: the hello, then the channel or a
    /// refusal.
    fn open(&self, op: &'static str) -> Result<Session> {
        let sock = ipc::client(&self.address)?.into_fd();
        let mut hello = [0u8; HELLO];
        hello[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        hello[4..8].copy_from_slice(&VERSION.to_le_bytes());
        // 0: whatever message size the server has (the channel's length
        // tells it).
        hello[8..12].fill(0);
        hello[12..16].copy_from_slice(&sys::process::getpid().to_le_bytes());
        match socket::send(&sock, &hello, true) {
            // A server that refused at once (see below) may have closed
            // its end already: its refusal is waiting to be read.
            Ok(()) | Err(Errno::EPIPE | Errno::ECONNRESET) => {}
            Err(_) => return Err(self.gone(op)),
        }
        // A server that is alive answers at once; one that never does is
        // not left to hang the caller.
        if !sys::poll_readable(sock.as_fd(), Some(HANDSHAKE_PATIENCE))
            .map_err(|e| Error::os(op, self.resource(), e))?
        {
            return Err(Error::new(op, self.resource(), ErrorKind::Timeout));
        }
        let mut welcome = [0u8; REFUSAL + 8];
        // A server that closed before it read the hello resets the
        // connection; the reset is reported once, before what it sent.
        let received = match fdpass::recv_one_fd(sock.as_fd(), &mut welcome) {
            Err(Errno::ECONNRESET) => fdpass::recv_one_fd(sock.as_fd(), &mut welcome),
            other => other,
        };
        let (n, memfd) = received.map_err(|_| self.gone(op))?;
        if n == 0 {
            return Err(self.gone(op));
        }
        let at = |i: usize| {
            u32::from_le_bytes([welcome[i], welcome[i + 1], welcome[i + 2], welcome[i + 3]])
        };
        let code = at(4);
        if at(0) != MAGIC || !(n == HELLO && code == 0 || n == REFUSAL && code != 0) {
            return Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("the peer is not an mproc manager of this version"),
            ));
        }
        let detail = at(8) as usize;
        if let (0, Some(memfd)) = (code, memfd) {
            let instance = (u64::from(at(12)) << 32) | detail as u64;
            let first =
                self.instance
                    .compare_exchange(0, instance, Ordering::Relaxed, Ordering::Relaxed);
            if first.is_err_and(|known| known != instance) {
                return Err(self.gone(op));
            }
            let (chan, message_bytes) =
                Channel::open(&memfd, MESSAGE_BYTES_MIN..=MESSAGE_BYTES_MAX)
                    .map_err(|e| Error::os(op, self.resource(), e))?;
            self.message_bytes.store(message_bytes, Ordering::Relaxed);
            return Ok(Session {
                pid: sys::process::getpid(),
                sock,
                chan,
                seq: 0,
                buf: vec![0; message_bytes],
            });
        }
        Err(self.refused(op, &welcome[..REFUSAL]))
    }

    /// The typed error for a refusal (see the protocol's handshake).
    fn refused(&self, op: &'static str, m: &[u8]) -> Error {
        let at = |i: usize| u32::from_le_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
        let (code, detail, a, b) = (at(4), at(8), at(16), at(20));
        match u16::try_from(code).unwrap_or(u16::MAX) {
            status::DENIED => {
                let mut allowed = [0u32; ipc::ALLOWED_UIDS];
                let n = (b as usize).min(ipc::ALLOWED_UIDS);
                for (i, uid) in allowed.iter_mut().enumerate().take(n) {
                    *uid = at(24 + 4 * i);
                }
                Error::new(
                    op,
                    Resource::ManagerPeer {
                        uid: detail,
                        server_uid: a,
                        allowed: Uids::new(&allowed[..n]),
                    },
                    ErrorKind::PermissionDenied,
                )
            }
            status::FULL => Error::new(
                op,
                Resource::Capacity(if a == 0 {
                    "MPROC_MANAGER_CONNECTIONS"
                } else {
                    "MPROC_MANAGER_CONNECTIONS / 2: the connections of one uid other than the server's"
                }),
                ErrorKind::CapacityExceeded {
                    limit: detail as usize,
                },
            ),
            status::TOO_BIG => Error::new(
                op,
                Resource::Capacity("MPROC_MANAGER_MESSAGE_BYTES"),
                ErrorKind::LayoutMismatch {
                    field: "message size (MPROC_MANAGER_MESSAGE_BYTES)",
                    expected: MANAGER_MESSAGE_BYTES as u64,
                    found: u64::from(detail),
                },
            ),
            status::NO_CHANNEL => Error::os(
                op,
                self.resource(),
                Errno::from_raw(i32::try_from(detail).unwrap_or(0)),
            ),
            status::BAD_REQUEST => Error::new(
                op,
                self.resource(),
                ErrorKind::LayoutMismatch {
                    field: "manager protocol version",
                    expected: u64::from(VERSION),
                    found: u64::from(detail),
                },
            ),
            _ => Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("the manager refused the connection"),
            ),
        }
    }

    /// One request and its reply. `fill` writes the arguments into the
    /// buffer it gets and returns their length; `decode` reads the reply's
    /// payload. Errors the server reports become typed errors on
    /// `resource`.
    pub(crate) fn call<R>(
        &self,
        op: &'static str,
        resource: Resource,
        request: Request,
        fill: impl FnOnce(&mut [u8]) -> usize,
        decode: impl FnOnce(&Reply, &[u8]) -> Result<R>,
    ) -> Result<R> {
        self.try_call(op, resource, request, |out| Ok(fill(out)), decode)
    }

    /// [`Link::call`] whose `fill` may fail (a value whose encoding does
    /// not fit): then nothing is sent, and the error is the call's.
    pub(crate) fn try_call<R>(
        &self,
        op: &'static str,
        resource: Resource,
        request: Request,
        fill: impl FnOnce(&mut [u8]) -> Result<usize>,
        decode: impl FnOnce(&Reply, &[u8]) -> Result<R>,
    ) -> Result<R> {
        let mut guard = self.lock();
        let s = self.session(&mut guard, op)?;
        let seq = match self.send_on(s, request, fill) {
            Ok(seq) => seq,
            Err(Sent::Not(e)) => return Err(e),
            Err(Sent::Gone) => {
                *guard = None;
                return Err(self.gone(op));
            }
        };
        if wait_reply(s, seq, None).is_err() {
            *guard = None;
            return Err(self.gone(op));
        }
        take_reply(s, seq, op, resource, decode)
    }

    /// This process's session, connected first if it has none (a forked
    /// child's copy of its parent's session is dropped: its mapping and
    /// its copy of the socket only; the parent's connection is untouched).
    fn session<'g>(
        &self,
        guard: &'g mut std::sync::MutexGuard<'_, Option<Session>>,
        op: &'static str,
    ) -> Result<&'g mut Session> {
        let me = sys::process::getpid();
        if guard.as_ref().is_none_or(|s| s.pid != me) {
            **guard = None;
            // Once connected, a server that cannot be reached is gone.
            let reconnect = self.instance.load(Ordering::Relaxed) != 0;
            **guard = Some(self.open(op).map_err(|e| {
                if reconnect && e.kind() == ErrorKind::NotFound {
                    self.gone(op)
                } else {
                    e
                }
            })?);
        }
        guard.as_mut().ok_or_else(|| self.gone(op))
    }

    /// Writes a request into the session's channel and publishes it
    /// (ringing a parked server): its number.
    fn send_on(
        &self,
        s: &mut Session,
        mut request: Request,
        fill: impl FnOnce(&mut [u8]) -> Result<usize>,
    ) -> core::result::Result<u32, Sent> {
        let len = fill(&mut s.buf[REQUEST_HEADER..]).map_err(Sent::Not)?;
        request.len = len as u32;
        request.write(&mut s.buf[..REQUEST_HEADER]);
        s.seq = (s.seq + 1) & (u32::MAX >> 3);
        let seq = s.seq;
        s.chan.put(&s.buf[..REQUEST_HEADER + len]);
        s.chan.state().swap(word(seq, REQUEST), Ordering::SeqCst);
        ring_if_parked(s).map_err(|()| Sent::Gone)?;
        Ok(seq)
    }
}

/// Why a request was not sent.
enum Sent {
    /// Its arguments failed to encode: nothing was sent.
    Not(Error),
    /// The server is gone.
    Gone,
}

/// Rings the server's doorbell if it parked; `Err` when it is gone.
fn ring_if_parked(s: &Session) -> core::result::Result<(), ()> {
    if s.chan.server_parked().load(Ordering::SeqCst) != 0 {
        match socket::send(&s.sock, &DOORBELL, false) {
            Ok(()) | Err(Errno::EAGAIN) => {}
            Err(_) => return Err(()),
        }
    }
    Ok(())
}

/// Reads the reply to request `seq` (there: its state is `REPLY`), frees
/// the channel, and decodes it (or makes the server's status an error).
fn take_reply<R>(
    s: &mut Session,
    seq: u32,
    op: &'static str,
    resource: Resource,
    decode: impl FnOnce(&Reply, &[u8]) -> Result<R>,
) -> Result<R> {
    let (reply, n) = read_reply(s, seq);
    if reply.status != status::OK {
        return Err(reply_error(op, resource, &reply));
    }
    decode(&reply, &s.buf[..n])
}

/// Reads the reply to request `seq` into the session's buffer and frees
/// the channel: the reply and its payload's length there.
fn read_reply(s: &mut Session, seq: u32) -> (Reply, usize) {
    let mut head = [0u8; REPLY_HEADER];
    s.chan.take(&mut head);
    let reply = Reply::read(&head);
    let n = (reply.len as usize).min(s.buf.len());
    s.chan.take_at(REPLY_HEADER, &mut s.buf[..n]);
    s.chan.state().store(word(seq, IDLE), Ordering::Release);
    (reply, n)
}

/// Waits for the reply to request `seq` (the server keeps any timeout
/// the request asked for, and answers when it runs out), until
/// `deadline` if there is one; `Err` when the server is gone or the
/// deadline passed.
fn wait_reply(s: &Session, seq: u32, deadline: Option<Instant>) -> core::result::Result<(), ()> {
    let done = || s.chan.load() == word(seq, REPLY);
    let start = Instant::now();
    let mut parked_since: Option<Instant> = None;
    loop {
        let w = s.chan.load();
        if w == word(seq, REPLY) {
            return Ok(());
        }
        let now = Instant::now();
        // A request the server parked waits for another process (a lock
        // holder, a producer…): spinning long for it would take the CPU
        // that process needs.
        if w == word(seq, PENDING) {
            let since = *parked_since.get_or_insert(now);
            if now.duration_since(since) > PENDING_SPIN {
                break;
            }
        }
        if now.duration_since(start) > SPIN {
            break;
        }
        std::hint::spin_loop();
    }
    loop {
        drain(&s.sock)?;
        s.chan.client_parked().swap(1, Ordering::SeqCst);
        if done() {
            s.chan.client_parked().store(0, Ordering::Relaxed);
            return Ok(());
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            s.chan.client_parked().store(0, Ordering::Relaxed);
            return Err(());
        }
        sys::poll_readable(s.sock.as_fd(), left).map_err(|_| ())?;
        s.chan.client_parked().store(0, Ordering::Relaxed);
        if done() {
            return Ok(());
        }
    }
}

/// Takes the doorbells waiting on the socket; `Err` at its end.
fn drain(sock: &OwnedFd) -> core::result::Result<(), ()> {
    let mut buf = [0u8; 16];
    loop {
        match socket::recv(sock, &mut buf, false) {
            Ok(0) => return Err(()),
            Ok(_) => {}
            Err(Errno::EAGAIN) => return Ok(()),
            Err(_) => return Err(()),
        }
    }
}

/// The typed error for a status the server replied.
pub(crate) fn reply_error(op: &'static str, resource: Resource, r: &Reply) -> Error {
    let kind = match r.status {
        status::NO_OBJECT => ErrorKind::NotFound,
        status::TYPE_MISMATCH => ErrorKind::LayoutMismatch {
            field: field::name(r.extra),
            expected: r.a,
            found: r.b,
        },
        status::FULL => ErrorKind::CapacityExceeded {
            limit: r.a as usize,
        },
        status::INDEX => ErrorKind::IndexOutOfRange {
            index: r.a as usize,
            len: r.b as usize,
        },
        status::UNKNOWN_METHOD => ErrorKind::UnknownMethod { method: r.a as u16 },
        status::PANICKED => ErrorKind::Panicked,
        status::NOT_HELD => {
            ErrorKind::InvalidArgument("release of a lock this caller does not hold")
        }
        status::TOO_MANY_OBJECTS => {
            return Error::new(
                op,
                Resource::Capacity("MPROC_MANAGER_OBJECTS or Builder::objects"),
                ErrorKind::CapacityExceeded {
                    limit: r.a as usize,
                },
            );
        }
        status::TOO_BIG => ErrorKind::MessageSize {
            size: r.a as usize,
            capacity: r.b as usize,
        },
        status::NAME_TAKEN => ErrorKind::AlreadyExists,
        status::NO_NAME | status::UNKNOWN_TYPE | status::NOT_FOUND => ErrorKind::NotFound,
        status::WRONG_KIND => ErrorKind::LayoutMismatch {
            field: "object kind",
            expected: 0,
            found: r.a,
        },
        status::BAD_VALUE => ErrorKind::InvalidData("a value the server could not decode"),
        status::RESULT_TOO_BIG => ErrorKind::EncodedSize {
            size: r.a as usize,
            capacity: r.b as usize,
            knob: super::encoding::MESSAGE_KNOB,
        },
        status::NO_ROOM => ErrorKind::EncodedSize {
            size: r.a as usize,
            capacity: r.b as usize,
            knob: super::encoding::OBJECT_BYTES_KNOB,
        },
        status::BROKEN => ErrorKind::BrokenBarrier,
        status::QUEUE_FULL => ErrorKind::Full,
        status::QUEUE_EMPTY => ErrorKind::Empty,
        status::OVER_RELEASED => {
            ErrorKind::InvalidArgument("a bounded semaphore released past its initial value")
        }
        _ => ErrorKind::InvalidArgument(
            "a request the server could not read (client and server built differently?)",
        ),
    };
    Error::new(op, resource, kind)
}

/// A reply payload that does not decode as the caller's type.
pub(crate) fn undecodable(op: &'static str, resource: Resource) -> Error {
    Error::new(
        op,
        resource,
        ErrorKind::InvalidArgument("the manager's reply does not decode as the expected type"),
    )
}
