//! Connections: accepting them, the handshake as a state of the loop,
//! the limits, refusals, and ends.
//!
//! The loop never waits on one peer. Every accepted socket is
//! non-blocking. A new connection is first a [`Hello`]: its socket is in
//! the epoll set, and it has [`HELLO_DEADLINE`] to send its hello, after
//! which it is dropped; a message that is not a hello (a byte, a
//! half-closed socket) drops it at once. Then it is welcomed (its channel
//! made and passed) and becomes a live [`Conn`], or refused with a
//! refusal message the client turns into a typed error.
//!
//! Limits, checked when a connection is accepted (so a refused one never
//! holds a slot):
//! - its uid: the server's own and those allowed
//!   ([`Builder::allow_uid`](crate::manager::Builder::allow_uid));
//! - `MPROC_MANAGER_CONNECTIONS` connections at once, handshakes
//!   included;
//! - a uid other than the server's own holds at most half of them
//!   ([`uid_limit`]), so the processes of an admitted uid cannot lock out
//!   the owner's.
//!
//! A live connection whose client breaks the channel's protocol is marked
//! ([`Server::doom`]) and closed by the loop ([`Server::reap`]), never in
//! the middle of serving another request.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use super::waits::Parked;
use super::{HELLO_TOKEN, LISTENER, Server, WATCH, token};
use crate::config::MANAGER_CONNECTIONS;
use crate::manager::protocol::{Channel, HELLO, MAGIC, REFUSAL, VERSION, status};
use crate::sys::{self, Errno, fdpass, socket};

/// How long a new connection may take to send its hello.
pub(super) const HELLO_DEADLINE: Duration = Duration::from_secs(2);
/// How long the listener rests when accepting fails for want of
/// descriptors or memory (it would be reported ready again at once).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);
/// At most this many doorbells are taken from one socket per look (a
/// client that keeps ringing cannot hold the loop).
const DOORBELLS_PER_LOOK: usize = 64;

/// The most connections a uid other than the server's own holds at once.
pub(super) const fn uid_limit() -> usize {
    if MANAGER_CONNECTIONS >= 2 {
        MANAGER_CONNECTIONS / 2
    } else {
        1
    }
}

/// A live connection.
pub(super) struct Conn {
    pub(super) sock: OwnedFd,
    pub(super) chan: Channel,
    /// Never reused: the holder of a lock is named by it.
    pub(super) id: u32,
    /// The client's effective uid.
    pub(super) uid: u32,
    pub(super) parked: Option<Parked>,
    /// A pidfd of the process that connected: its death ends the
    /// connection even while a child it forked keeps a copy of the socket
    /// open (then no hang-up would come).
    pub(super) watch: Option<OwnedFd>,
    /// The client broke the channel's protocol: the loop closes it.
    pub(super) doomed: bool,
}

/// A connection whose hello has not come yet.
pub(super) struct Hello {
    sock: OwnedFd,
    id: u32,
    uid: u32,
    pid: i32,
    deadline: Instant,
}

impl Server {
    fn next_id(&mut self) -> u32 {
        let id = self.next_conn_id;
        self.next_conn_id = self.next_conn_id.wrapping_add(1).max(1);
        id
    }

    /// Takes the clients waiting on the listener (at most 16 per look: the
    /// listener is level-triggered, so any left are reported again).
    pub(super) fn accept_all(&mut self) {
        for _ in 0..16 {
            match socket::accept_nonblocking(self.listener.as_fd()) {
                Ok(sock) => self.admit(sock),
                Err(Errno::EAGAIN) => return,
                // A client that gave up before it was taken.
                Err(Errno::ECONNABORTED | Errno::EPROTO | Errno::EINTR) => {}
                Err(_) => {
                    // Out of descriptors or memory: rest the listener
                    // rather than be woken for it in a loop.
                    if self.epoll.delete(self.listener.as_fd()).is_ok() {
                        self.listener_rests = Some(Instant::now() + ACCEPT_PAUSE);
                    }
                    return;
                }
            }
        }
    }

    /// Wakes a rested listener whose pause is over.
    pub(super) fn wake_listener(&mut self, now: Instant) {
        if self.listener_rests.is_some_and(|t| t <= now)
            && self.epoll.add(self.listener.as_fd(), LISTENER).is_ok()
        {
            self.listener_rests = None;
        }
    }

    /// Connections (live and in their handshake) of `uid`.
    fn connections_of(&self, uid: u32) -> usize {
        let live = self
            .live
            .iter()
            .filter(|&&s| self.conns[s].as_ref().is_some_and(|c| c.uid == uid))
            .count();
        let greeting = self
            .hellos
            .iter()
            .filter(|h| h.as_ref().is_some_and(|h| h.uid == uid))
            .count();
        live + greeting
    }

    /// A refusal: `code`, its detail, and two more words; a `DENIED` one
    /// lists the uids served besides the server's own.
    fn refusal(&self, code: u16, detail: u32, a: u32, b: u32) -> [u8; REFUSAL] {
        let mut m = [0u8; REFUSAL];
        m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        m[4..8].copy_from_slice(&u32::from(code).to_le_bytes());
        m[8..12].copy_from_slice(&detail.to_le_bytes());
        m[12..16].copy_from_slice(&sys::process::getpid().to_le_bytes());
        m[16..20].copy_from_slice(&a.to_le_bytes());
        m[20..24].copy_from_slice(&b.to_le_bytes());
        if code == status::DENIED {
            for (chunk, uid) in m[24..].chunks_exact_mut(4).zip(&self.allowed) {
                chunk.copy_from_slice(&uid.to_le_bytes());
            }
        }
        m
    }

    /// A new connection: refused at once if a limit says so, else in its
    /// handshake.
    fn admit(&mut self, sock: OwnedFd) {
        let Ok(peer) = socket::peer_credentials(&sock) else {
            return;
        };
        if peer.uid != self.own_uid && !self.allowed.contains(&peer.uid) {
            let n = self.allowed.len() as u32;
            let m = self.refusal(status::DENIED, peer.uid, self.own_uid, n);
            return refuse(sock, &m);
        }
        if self.live.len() + self.greeting >= MANAGER_CONNECTIONS {
            let m = self.refusal(status::FULL, MANAGER_CONNECTIONS as u32, 0, peer.uid);
            return refuse(sock, &m);
        }
        if peer.uid != self.own_uid && self.connections_of(peer.uid) >= uid_limit() {
            let m = self.refusal(status::FULL, uid_limit() as u32, 1, peer.uid);
            return refuse(sock, &m);
        }
        let Some(slot) = self.hellos.iter().position(Option::is_none) else {
            return;
        };
        let id = self.next_id();
        if self
            .epoll
            .add(sock.as_fd(), token(slot, id) | HELLO_TOKEN)
            .is_err()
        {
            return;
        }
        let deadline = Instant::now() + HELLO_DEADLINE;
        self.hellos[slot] = Some(Hello {
            sock,
            id,
            uid: peer.uid,
            pid: peer.pid,
            deadline,
        });
        self.greeting += 1;
        self.next_hello = Some(self.next_hello.map_or(deadline, |d| d.min(deadline)));
        // The hello is often there already.
        self.hello_ready(slot, id);
    }

    /// Forgets a connection in its handshake (its socket closes).
    fn drop_hello(&mut self, slot: usize) -> Option<Hello> {
        let h = self.hellos.get_mut(slot)?.take()?;
        let _ = self.epoll.delete(h.sock.as_fd());
        self.greeting -= 1;
        Some(h)
    }

    /// The socket of a connection in its handshake is ready: its hello,
    /// its end, or something else (which drops it).
    pub(super) fn hello_ready(&mut self, slot: usize, id: u32) {
        let Some(h) = self.hellos.get(slot).and_then(Option::as_ref) else {
            return;
        };
        if h.id != id {
            return;
        }
        let mut hello = [0u8; HELLO];
        match socket::recv(&h.sock, &mut hello, false) {
            // Not yet (a hang-up reads as 0 bytes, not as this).
            Err(Errno::EAGAIN) => return,
            Ok(HELLO) => {}
            // Its end, an error, or a message that is no hello.
            _ => {
                self.drop_hello(slot);
                return;
            }
        }
        let Some(h) = self.drop_hello(slot) else {
            return;
        };
        self.welcome(h, &hello);
    }

    /// Answers a hello: the channel, or a refusal.
    fn welcome(&mut self, h: Hello, hello: &[u8; HELLO]) {
        let field_at =
            |i: usize| u32::from_le_bytes([hello[i], hello[i + 1], hello[i + 2], hello[i + 3]]);
        if field_at(0) != MAGIC || field_at(4) != VERSION {
            let m = self.refusal(status::BAD_REQUEST, VERSION, 0, 0);
            return refuse(h.sock, &m);
        }
        // 0: the client takes the server's size (the channel's length
        // tells it).
        let asked = field_at(8) as usize;
        if asked != 0 && asked != self.message_bytes {
            let m = self.refusal(status::TOO_BIG, self.message_bytes as u32, 0, 0);
            return refuse(h.sock, &m);
        }
        // There is one: every connection in its handshake is counted
        // against the same limit as the live ones.
        let Some(slot) = self.conns.iter().position(Option::is_none) else {
            let m = self.refusal(status::FULL, MANAGER_CONNECTIONS as u32, 0, h.uid);
            return refuse(h.sock, &m);
        };
        let (chan, memfd) = match Channel::create(self.message_bytes) {
            Ok(made) => made,
            Err(e) => {
                let m = self.refusal(status::NO_CHANNEL, e as u32, 0, 0);
                return refuse(h.sock, &m);
            }
        };
        let mut welcome = [0u8; HELLO];
        welcome[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        welcome[8..12].copy_from_slice(&self.stamp.to_le_bytes());
        welcome[12..16].copy_from_slice(&sys::process::getpid().to_le_bytes());
        // The socket is new and non-blocking: the welcome goes at once or
        // the client is not worth waiting for.
        if fdpass::send_fds(h.sock.as_fd(), &welcome, &[memfd.as_fd()], true).is_err() {
            return;
        }
        if self.epoll.add(h.sock.as_fd(), token(slot, h.id)).is_err() {
            return;
        }
        // Without pidfds (old kernels, some qemu-user builds) the socket's
        // hang-up is the only sign of the client's end.
        let watch = sys::process::pidfd_open(h.pid).ok().filter(|fd| {
            self.epoll
                .add(fd.as_fd(), token(slot, h.id) | WATCH)
                .is_ok()
        });
        self.conns[slot] = Some(Conn {
            sock: h.sock,
            chan,
            id: h.id,
            uid: h.uid,
            parked: None,
            watch,
            doomed: false,
        });
        self.live.push(slot);
    }

    /// Drops the connections whose handshake ran past its deadline.
    pub(super) fn expire_hellos(&mut self, now: Instant) {
        let mut next: Option<Instant> = None;
        for slot in 0..self.hellos.len() {
            let Some(d) = self.hellos[slot].as_ref().map(|h| h.deadline) else {
                continue;
            };
            if d <= now {
                self.drop_hello(slot);
            } else {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        self.next_hello = next;
    }

    /// Takes the doorbells waiting on a live connection's socket; `false`
    /// at its end.
    pub(super) fn doorbells(&self, slot: usize) -> bool {
        let Some(conn) = self.conns.get(slot).and_then(Option::as_ref) else {
            return false;
        };
        let mut buf = [0u8; 16];
        for _ in 0..DOORBELLS_PER_LOOK {
            match socket::recv(&conn.sock, &mut buf, false) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(Errno::EAGAIN) => return true,
                Err(_) => return false,
            }
        }
        true
    }

    /// Marks a live connection whose client broke the channel's protocol:
    /// the loop closes it ([`Server::reap`]).
    pub(super) fn doom(&mut self, slot: usize) {
        if let Some(Some(c)) = self.conns.get_mut(slot) {
            c.doomed = true;
            self.reaping = true;
        }
    }

    /// Closes the connections marked by [`Server::doom`].
    pub(super) fn reap(&mut self) {
        self.reaping = false;
        let mut i = 0;
        while let Some(&slot) = self.live.get(i) {
            if self.conns[slot].as_ref().is_some_and(|c| c.doomed) {
                // Takes it out of `live`: the next one moves to `i`.
                self.close(slot);
            } else {
                i += 1;
            }
        }
    }

    /// Forgets a connection: its parked request, the locks it held.
    pub(super) fn close(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].take() else {
            return;
        };
        let _ = self.epoll.delete(conn.sock.as_fd());
        if let Some(w) = &conn.watch {
            let _ = self.epoll.delete(w.as_fd());
        }
        self.live.retain(|&s| s != slot);
        self.abandon(conn.id, conn.parked);
    }
}

/// Sends a refusal and closes the socket, never waiting: what the client
/// sent is taken first, so the close does not reset the connection
/// before the client reads the refusal.
fn refuse(sock: OwnedFd, message: &[u8]) {
    let _ = socket::send(&sock, message, false);
    let mut buf = [0u8; HELLO];
    for _ in 0..4 {
        if !matches!(socket::recv(&sock, &mut buf, false), Ok(n) if n > 0) {
            break;
        }
    }
}
