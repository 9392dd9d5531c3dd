//! The manager's server process: one thread, one loop, every operation
//! atomic because only this loop touches the objects.
//!
//! While requests come in, the loop scans the channels of live connections
//! (no system call per request); after [`SPIN`] without one it marks
//! itself parked in every channel and sleeps in `epoll` on the listener
//! and every connection's socket (where a client rings a doorbell) and
//! pidfd.
//!
//! The loop never waits on one peer: sockets are non-blocking, and a new
//! connection's handshake is a state it passes through, bounded by a
//! deadline (see `conns`, which also keeps the limits). It never trusts
//! one either: a channel's length is sealed, what a client writes there is
//! copied out once and checked before use (lengths, object numbers and
//! generations, indexes, states), and a client that breaks the channel's
//! protocol — a phase that does not exist, a request while its last one
//! is parked, a state changed under a parked request, a length past the
//! message area — has its connection dropped. A connection's end releases
//! the locks it held and forgets its parked request; nothing else is
//! affected.

use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::TYPES_MAX;
use super::protocol::{
    DOORBELL, IDLE, PENDING, REPLY, REPLY_HEADER, REQUEST, REQUEST_HEADER, Reply, Request, SERVING,
    field, kind, phase, seq, status, word,
};
use super::records::Records;
use super::served::{Call, Dispatch, Registration, split_mismatch};
use super::socket_file::SocketFile;
use super::store::{List, Table};
use crate::config::MANAGER_CONNECTIONS;
use crate::ipc::{ALLOWED_UIDS, Listener};
use crate::sys::epoll::{Epoll, Ready};
use crate::sys::socket;

mod conns;
mod locks;
mod manage;
mod ops;
mod var_ops;
mod waits;

use conns::{Conn, Hello};
use ops::{array_op, bad, dict_op, list_op, mismatch, namespace_op, u32_at, u64_at, value_op};
use waits::Parked;

/// How long the loop keeps scanning after the last request before it
/// parks.
const SPIN: Duration = Duration::from_micros(200);
/// How often a scanning loop looks at its sockets (new clients,
/// hang-ups).
const POLL_EVERY: Duration = Duration::from_millis(1);
/// The epoll token of the listener.
const LISTENER: u64 = u64::MAX;
/// Set in the epoll token of a connection's pidfd. A connection's tokens
/// are its slot (low 24 bits), these flags, and its id (high 32 bits): an
/// event reported for a connection that has ended meanwhile — its slot
/// taken by a new one within the same batch — is recognised and dropped.
const WATCH: u64 = 1 << 24;
/// Set in the epoll token of a connection in its handshake (its slot is
/// in `Server::hellos`).
const HELLO_TOKEN: u64 = 1 << 25;

fn token(slot: usize, id: u32) -> u64 {
    slot as u64 | (u64::from(id) << 32)
}
/// The longest name an object is published under.
pub(crate) const NAME_MAX: usize = 64;
/// The longest type name a registered type has.
pub(crate) const TYPEID_MAX: usize = 32;

/// What the server is started with.
pub(crate) struct Spec {
    pub(crate) listener: Listener,
    pub(crate) registry: heapless::Vec<Registration, TYPES_MAX>,
    /// The uids served besides the server's own.
    pub(crate) allowed: heapless::Vec<u32, ALLOWED_UIDS>,
    /// The socket file to remove at the end (a path address).
    pub(crate) path: Option<SocketFile>,
    /// The most objects held at once.
    pub(crate) objects: usize,
    /// Bytes of one request or reply.
    pub(crate) message_bytes: usize,
}

enum Data {
    Table(Table),
    List(List),
    Value(Vec<u8>),
    /// A lock, rlock or condition: its holder's connection and depth.
    Lock {
        holder: u32,
        depth: u32,
    },
    Semaphore {
        value: u32,
        bound: Option<u32>,
    },
    Event {
        set: bool,
    },
    Barrier {
        parties: u32,
        count: u32,
        cycle: u32,
        broken: bool,
    },
    Queue(List),
    /// A dict, list, value or queue of variable-length values.
    Records(Records),
    Custom(Box<dyn Dispatch>),
}

struct Object {
    kind: u16,
    generation: u32,
    name: heapless::String<NAME_MAX>,
    fp_a: u64,
    fp_b: u64,
    a_size: usize,
    b_size: usize,
    /// Values have lengths of their own (kept in `Data::Records`).
    var: bool,
    data: Option<Data>,
}

/// What a handler decided.
enum Action {
    /// Reply now with this header; its payload is in the reply buffer.
    Reply(Reply),
    /// Park the request until it can be answered (see `waits`).
    Park {
        deadline: Option<Instant>,
        phase: u8,
        saved: u32,
        cycle: u32,
    },
    /// Reply now, then answer the request parked by this connection with
    /// a plain `OK` (a queue's put that a get made room for).
    ReplyThen(Reply, usize),
}

struct Server {
    epoll: Epoll,
    listener: Listener,
    /// When the listener, taken out of the epoll set after accepting
    /// failed for want of descriptors, goes back in.
    listener_rests: Option<Instant>,
    registry: heapless::Vec<Registration, TYPES_MAX>,
    own_uid: u32,
    allowed: heapless::Vec<u32, ALLOWED_UIDS>,
    conns: Vec<Option<Conn>>,
    live: Vec<usize>,
    /// Connections in their handshake, and how many.
    hellos: Vec<Option<Hello>>,
    greeting: usize,
    /// The earliest handshake deadline.
    next_hello: Option<Instant>,
    /// Some connection was marked to be closed.
    reaping: bool,
    objects: Vec<Object>,
    req: Vec<u8>,
    rep: Vec<u8>,
    /// Bytes of one request or reply (the channel's message area).
    message_bytes: usize,
    next_conn_id: u32,
    next_stamp: u64,
    /// The earliest deadline of a parked request.
    next_deadline: Option<Instant>,
    /// Locks left free while requests are parked on them, and since when
    /// (see `locks`).
    idle_locks: Vec<(usize, Instant)>,
    /// When one of them is next due to be handed over.
    idle_due: Option<Instant>,
    stop: bool,
    /// When the server started (nanoseconds of the clock's second): with
    /// its pid, what tells this server from a later one on the address.
    stamp: u32,
}

/// Runs the server until a client asks it to shut down (or it cannot go
/// on); returns the exit code for its process. A path address is removed
/// at the end if it still names the socket bound for it.
pub(crate) fn run(spec: Spec) -> i32 {
    let path = spec.path;
    let sizes = (spec.objects, spec.message_bytes);
    let code = serve(spec.listener, spec.registry, spec.allowed, sizes);
    if let Some(path) = path {
        path.remove();
    }
    code
}

fn serve(
    listener: Listener,
    registry: heapless::Vec<Registration, TYPES_MAX>,
    allowed: heapless::Vec<u32, ALLOWED_UIDS>,
    (objects, message_bytes): (usize, usize),
) -> i32 {
    let Ok(epoll) = Epoll::new() else { return 2 };
    if epoll.add(listener.as_fd(), LISTENER).is_err() {
        return 2;
    }
    let mut server = Server {
        epoll,
        listener,
        listener_rests: None,
        registry,
        own_uid: socket::effective_uid(),
        allowed,
        conns: (0..MANAGER_CONNECTIONS).map(|_| None).collect(),
        live: Vec::with_capacity(MANAGER_CONNECTIONS),
        hellos: (0..MANAGER_CONNECTIONS).map(|_| None).collect(),
        greeting: 0,
        next_hello: None,
        reaping: false,
        objects: (0..objects)
            .map(|_| Object {
                kind: 0,
                generation: 0,
                name: heapless::String::new(),
                fp_a: 0,
                fp_b: 0,
                a_size: 0,
                b_size: 0,
                var: false,
                data: None,
            })
            .collect(),
        req: vec![0; message_bytes],
        rep: vec![0; message_bytes],
        message_bytes,
        next_conn_id: 1,
        next_stamp: 0,
        next_deadline: None,
        idle_locks: Vec::new(),
        idle_due: None,
        stop: false,
        stamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() | 1),
    };
    server.serve();
    0
}

impl Server {
    fn serve(&mut self) {
        let mut last_work = Instant::now();
        let mut last_poll = last_work;
        while !self.stop {
            let worked = self.scan();
            let now = Instant::now();
            if worked {
                last_work = now;
            }
            self.timers(now);
            if !self.idle_locks.is_empty() {
                self.settle_locks();
            }
            if self.reaping {
                self.reap();
            }
            // The sockets are looked at even while requests keep coming, so
            // a busy client cannot keep a new one from being accepted.
            if now.duration_since(last_poll) > POLL_EVERY {
                self.poll(Some(Duration::ZERO));
                last_poll = now;
            } else if now.duration_since(last_work) > SPIN {
                self.park();
                last_work = Instant::now();
                last_poll = last_work;
            } else if !worked {
                std::hint::spin_loop();
            }
        }
    }

    /// The earliest of the loop's deadlines: a parked request's, a
    /// handshake's, a rested listener's.
    fn next_timer(&self) -> Option<Instant> {
        [
            self.next_deadline,
            self.next_hello,
            self.listener_rests,
            self.idle_due,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs what is due at `now`.
    fn timers(&mut self, now: Instant) {
        if self.next_deadline.is_some_and(|d| d <= now) {
            self.next_deadline = self.expire(now);
        }
        if self.next_hello.is_some_and(|d| d <= now) {
            self.expire_hellos(now);
        }
        self.wake_listener(now);
    }

    /// Serves every channel that holds a request; `true` if one did.
    fn scan(&mut self) -> bool {
        let mut worked = false;
        let mut i = 0;
        while i < self.live.len() {
            let slot = self.live[i];
            i += 1;
            let Some(conn) = &self.conns[slot] else {
                continue;
            };
            if conn.doomed {
                continue;
            }
            let w = conn.chan.load();
            match phase(w) {
                REQUEST => {}
                PENDING => {
                    // Withdrawn by its client (see the protocol)?
                    if conn.chan.withdraw().load(Ordering::Acquire) == w {
                        self.withdraw(slot, seq(w));
                        worked = true;
                    }
                    continue;
                }
                IDLE | SERVING | REPLY => continue,
                // No such phase: the client wrote garbage.
                _ => {
                    self.doom(slot);
                    continue;
                }
            }
            if conn
                .chan
                .state()
                .compare_exchange(
                    w,
                    word(seq(w), SERVING),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            worked = true;
            self.serve_one(slot, seq(w));
            if self.stop {
                break;
            }
        }
        worked
    }

    /// Marks the server parked in every channel, looks once more, then
    /// sleeps until a socket is ready or a deadline comes.
    fn park(&mut self) {
        for &slot in &self.live {
            if let Some(c) = &self.conns[slot] {
                c.chan.server_parked().swap(1, Ordering::SeqCst);
            }
        }
        if !self.scan() {
            let timeout = self
                .next_timer()
                .map(|d| d.saturating_duration_since(Instant::now()));
            self.poll(timeout);
        }
        for &slot in &self.live {
            if let Some(c) = &self.conns[slot] {
                c.chan.server_parked().store(0, Ordering::Relaxed);
            }
        }
    }

    /// Takes what the sockets report: new clients, hellos, doorbells,
    /// hang-ups.
    fn poll(&mut self, timeout: Option<Duration>) {
        let mut ready = [Ready {
            token: 0,
            hung_up: false,
        }; 64];
        let Ok(n) = self.epoll.wait(&mut ready, timeout) else {
            return;
        };
        for r in &ready[..n] {
            if r.token == LISTENER {
                self.accept_all();
                continue;
            }
            let slot = (r.token & 0xFF_FFFF) as usize;
            let id = (r.token >> 32) as u32;
            if r.token & HELLO_TOKEN != 0 {
                self.hello_ready(slot, id);
                continue;
            }
            let Some(conn) = self.conns.get(slot).and_then(Option::as_ref) else {
                continue;
            };
            if conn.id != id {
                // About a connection that ended earlier in this batch.
                continue;
            }
            // The process that connected ended, or the socket did.
            if r.token & WATCH != 0 || !self.doorbells(slot) || r.hung_up {
                self.close(slot);
            }
        }
    }

    /// Serves the request in `slot`'s channel (its state now `SERVING`).
    /// The header and arguments are copied out once, then checked: the
    /// client may write its channel meanwhile.
    fn serve_one(&mut self, slot: usize, seq: u32) {
        let Some(conn) = &mut self.conns[slot] else {
            return;
        };
        // A client waits for the answer to a parked request: one that
        // makes another meanwhile broke the protocol.
        if conn.parked.is_some() {
            return self.doom(slot);
        }
        let mut head = [0u8; REQUEST_HEADER];
        if !conn.chan.take(&mut head) {
            return self.doom(slot);
        }
        let request = Request::read(&head);
        let len = request.len as usize;
        if len > self.message_bytes - REQUEST_HEADER
            || !conn.chan.take_at(REQUEST_HEADER, &mut self.req[..len])
        {
            // Past the message area: garbage, not a request.
            return self.doom(slot);
        }
        let conn_id = conn.id;
        let action = self.handle(conn_id, &request, len);
        match action {
            Action::Reply(reply) => self.send_reply(slot, seq, reply),
            Action::ReplyThen(reply, parked) => {
                self.send_reply(slot, seq, reply);
                self.grant(parked, Reply::ok(0));
            }
            Action::Park {
                deadline,
                phase,
                saved,
                cycle,
            } => {
                // Only a request on an object (number 1 and up) parks.
                let Some(index) = (request.object as usize).checked_sub(1) else {
                    return self.doom(slot);
                };
                let stamp = self.next_stamp;
                self.next_stamp += 1;
                if let Some(conn) = &mut self.conns[slot] {
                    conn.parked = Some(Parked {
                        object: index,
                        generation: request.generation,
                        seq,
                        op: request.op,
                        stamp,
                        deadline,
                        phase,
                        saved,
                        cycle,
                        since: Instant::now(),
                    });
                    conn.chan
                        .state()
                        .store(word(seq, PENDING), Ordering::Release);
                }
                if let Some(d) = deadline {
                    self.next_deadline = Some(self.next_deadline.map_or(d, |n| n.min(d)));
                }
                // A condition waiter that takes its lock back at once
                // (wait(0)) finds it free now.
                if matches!(self.objects[index].data, Some(Data::Lock { holder: 0, .. })) {
                    self.grant_lock(index);
                }
            }
        }
    }

    /// Writes `reply` (its payload already in the reply buffer) into the
    /// channel and publishes it.
    fn send_reply(&mut self, slot: usize, seq: u32, mut reply: Reply) {
        let Some(conn) = &self.conns[slot] else {
            return;
        };
        let (st, f) = split_mismatch(reply.status);
        if st == status::TYPE_MISMATCH && f != 0 {
            reply.status = st;
            reply.extra = f;
        }
        reply.write(&mut self.rep[..REPLY_HEADER]);
        let total = REPLY_HEADER + reply.len as usize;
        conn.chan.put(&self.rep[..total]);
        conn.chan.state().swap(word(seq, REPLY), Ordering::SeqCst);
        if conn.chan.client_parked().load(Ordering::SeqCst) != 0 {
            let _ = socket::send(&conn.sock, &DOORBELL, false);
        }
    }

    // ------------------------------------------------------------ handlers

    fn handle(&mut self, conn: u32, r: &Request, len: usize) -> Action {
        if r.object == 0 {
            return Action::Reply(self.manager_op(r, len));
        }
        let index = r.object as usize - 1;
        let Some(obj) = self.objects.get_mut(index) else {
            return Action::Reply(Reply::status(status::NO_OBJECT, 0, 0));
        };
        if obj.data.is_none() || obj.generation != r.generation {
            return Action::Reply(Reply::status(status::NO_OBJECT, 0, 0));
        }
        let args = &self.req[..len];
        let out = &mut self.rep[REPLY_HEADER..];
        match obj.kind {
            kind::DICT if obj.var => Action::Reply(var_ops::dict_op(obj, r, args, out)),
            kind::LIST if obj.var => Action::Reply(var_ops::list_op(obj, r, args, out)),
            kind::VALUE if obj.var => Action::Reply(var_ops::value_op(obj, r, args, out)),
            kind::DICT => Action::Reply(dict_op(obj, r, args, out)),
            kind::NAMESPACE => Action::Reply(namespace_op(obj, r, args, out)),
            kind::LIST => Action::Reply(list_op(obj, r, args, out)),
            kind::ARRAY => Action::Reply(array_op(obj, r, args, out)),
            kind::VALUE => Action::Reply(value_op(obj, r, args, out)),
            kind::QUEUE if r.fp_a != obj.fp_a => {
                Action::Reply(mismatch(field::VALUE, obj.fp_a, r.fp_a))
            }
            kind::LOCK
            | kind::RLOCK
            | kind::CONDITION
            | kind::SEMAPHORE
            | kind::BOUNDED_SEMAPHORE
            | kind::EVENT
            | kind::BARRIER
            | kind::QUEUE => self.wait_op(conn, index, r.op, len),
            kind::CUSTOM => {
                let Some(Data::Custom(d)) = &mut obj.data else {
                    return Action::Reply(Reply::status(status::NO_OBJECT, 0, 0));
                };
                let mut call = Call::new(r.op, args, r.fp_a, r.fp_b, out);
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    d.dispatch(&mut call);
                }));
                if ran.is_err() {
                    return Action::Reply(Reply::status(status::PANICKED, 0, 0));
                }
                let (st, a, b, n) = call.outcome();
                let mut reply = Reply::status(st, a, b);
                reply.len = n as u32;
                Action::Reply(reply)
            }
            _ => Action::Reply(Reply::status(status::NO_OBJECT, 0, 0)),
        }
    }
}
