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
    AREA, DOORBELL, IDLE, PENDING, REPLY, REPLY_HEADER, REQUEST, REQUEST_HEADER, Reply, Request,
    SERVING, create, field, kind, op, phase, seq, status, word,
};
use super::records::Records;
use super::served::{Call, Dispatch, Registration, split_mismatch};
use super::socket_file::SocketFile;
use super::store::{List, Table};
use crate::config::MANAGER_CONNECTIONS;
use crate::ipc::{ALLOWED_UIDS, Listener};
use crate::sys::epoll::{Epoll, Ready};
use crate::sys::{self, socket};

mod conns;
mod ops;
mod var_ops;
mod waits;

use conns::{Conn, Hello};
use ops::{
    array_op, bad, dict_op, list_op, mismatch, namespace_op, u16_at, u32_at, u64_at, value_op,
};
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
        [self.next_deadline, self.next_hello, self.listener_rests]
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
                IDLE | SERVING | PENDING | REPLY => continue,
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

    fn manager_op(&mut self, r: &Request, len: usize) -> Reply {
        let args = &self.req[..len];
        match r.op {
            op::CREATE => self.create(r, len),
            op::OPEN => {
                let Some(kind_code) = u16_at(args, 0) else {
                    return bad(len);
                };
                let name = &args[2..];
                let Some(index) = self.objects.iter().position(|o| {
                    o.data.is_some() && !o.name.is_empty() && o.name.as_bytes() == name
                }) else {
                    return Reply::status(status::NO_NAME, 0, 0);
                };
                let o = &self.objects[index];
                let semaphores = [kind::SEMAPHORE, kind::BOUNDED_SEMAPHORE];
                if o.kind != kind_code
                    && !(semaphores.contains(&o.kind) && semaphores.contains(&kind_code))
                {
                    return Reply::status(status::WRONG_KIND, u64::from(o.kind), 0);
                }
                if o.fp_a != r.fp_a {
                    let f = if matches!(o.kind, kind::LIST | kind::ARRAY) {
                        field::VALUE
                    } else {
                        field::KEY
                    };
                    return mismatch(f, o.fp_a, r.fp_a);
                }
                if o.fp_b != r.fp_b && o.kind != kind::NAMESPACE {
                    return mismatch(field::VALUE, o.fp_b, r.fp_b);
                }
                let mut reply =
                    Reply::status(status::OK, index as u64 + 1, u64::from(o.generation));
                // The sizes, for proxies that are not typed by them.
                let out = &mut self.rep[REPLY_HEADER..];
                out[0..8].copy_from_slice(&(o.a_size as u64).to_le_bytes());
                out[8..16].copy_from_slice(&(o.b_size as u64).to_le_bytes());
                reply.len = 16;
                reply
            }
            op::PUBLISH => {
                let Some((index, _)) = self.target(args) else {
                    return Reply::status(status::NO_OBJECT, 0, 0);
                };
                let name = &args[8..];
                let Ok(text) = core::str::from_utf8(name) else {
                    return bad(len);
                };
                if name.is_empty() || name.len() > NAME_MAX {
                    return Reply::status(status::TOO_BIG, name.len() as u64, NAME_MAX as u64);
                }
                if self
                    .objects
                    .iter()
                    .any(|o| o.data.is_some() && o.name.as_bytes() == name)
                {
                    return Reply::status(status::NAME_TAKEN, 0, 0);
                }
                let o = &mut self.objects[index];
                o.name.clear();
                let _ = o.name.push_str(text);
                Reply::ok(0)
            }
            op::RELEASE => {
                let Some((index, _)) = self.target(args) else {
                    return Reply::status(status::NO_OBJECT, 0, 0);
                };
                let o = &mut self.objects[index];
                o.data = None;
                o.kind = 0;
                o.name.clear();
                o.generation = o.generation.wrapping_add(1);
                self.fail_parked(index);
                Reply::ok(0)
            }
            op::SHUTDOWN => {
                self.stop = true;
                Reply::ok(0)
            }
            op::PING => Reply::ok(sys::process::getpid() as u64),
            op::COUNT => Reply::status(
                status::OK,
                self.objects.iter().filter(|o| o.data.is_some()).count() as u64,
                self.live.len() as u64,
            ),
            other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
        }
    }

    /// The live object named by an id and generation at the start of
    /// `args`.
    fn target(&self, args: &[u8]) -> Option<(usize, u32)> {
        let id = u32_at(args, 0)? as usize;
        let generation = u32_at(args, 4)?;
        let index = id.checked_sub(1)?;
        let o = self.objects.get(index)?;
        (o.data.is_some() && o.generation == generation).then_some((index, generation))
    }

    fn create(&mut self, r: &Request, len: usize) -> Reply {
        let args = &self.req[..len];
        let (Some(kind_code), Some(capacity), Some(a_size), Some(b_size)) = (
            u16_at(args, 0),
            u32_at(args, 4),
            u32_at(args, 8),
            u32_at(args, 12),
        ) else {
            return bad(len);
        };
        let (capacity, a_size, b_size) = (capacity as usize, a_size as usize, b_size as usize);
        let rest = &args[16..];
        let var = u16_at(args, 2).is_some_and(|f| f & create::VARIABLE != 0);
        if var {
            return self.create_var(r, kind_code, capacity, a_size, len);
        }
        let room = self.message_bytes - REPLY_HEADER - AREA;
        // Everything an object holds must fit in one reply (snapshots are
        // atomic); the sizes are checked before anything is allocated.
        let entry = a_size.saturating_add(b_size);
        let total = capacity.saturating_mul(entry);
        if total > room || a_size > room || b_size > room {
            return Reply::status(status::TOO_BIG, total.max(entry) as u64, room as u64);
        }
        let holds_items = matches!(
            kind_code,
            kind::DICT | kind::NAMESPACE | kind::LIST | kind::QUEUE
        );
        if holds_items && capacity == 0 {
            // An object that could never hold anything (the proxies refuse
            // it first, with the rule).
            return bad(len);
        }
        // A table keeps some bookkeeping per entry even when its entries
        // have no bytes: its capacity is bounded as if each had one.
        if matches!(kind_code, kind::DICT | kind::NAMESPACE) && capacity > room / entry.max(1) {
            return Reply::status(status::TOO_BIG, capacity as u64, room as u64);
        }
        let Some(index) = self.objects.iter().position(|o| o.data.is_none()) else {
            return Reply::status(status::TOO_MANY_OBJECTS, self.objects.len() as u64, 0);
        };
        let (data, fp_a) = match kind_code {
            kind::DICT | kind::NAMESPACE => {
                (Data::Table(Table::new(a_size, b_size, capacity)), r.fp_a)
            }
            kind::LIST => (Data::List(List::new(a_size, capacity)), r.fp_a),
            kind::ARRAY => {
                // Made full, from its initial items; its length never
                // changes.
                let mut l = List::new(a_size, capacity);
                if l.extend(rest, capacity).is_err() {
                    return bad(len);
                }
                (Data::List(l), r.fp_a)
            }
            kind::VALUE => {
                if rest.len() != b_size {
                    return bad(len);
                }
                (Data::Value(rest.to_vec()), r.fp_a)
            }
            kind::LOCK | kind::RLOCK | kind::CONDITION => (
                Data::Lock {
                    holder: 0,
                    depth: 0,
                },
                0,
            ),
            kind::SEMAPHORE | kind::BOUNDED_SEMAPHORE => {
                let value = u32::try_from(capacity).unwrap_or(u32::MAX);
                let bound = (kind_code == kind::BOUNDED_SEMAPHORE).then_some(value);
                (Data::Semaphore { value, bound }, 0)
            }
            kind::EVENT => (Data::Event { set: false }, 0),
            kind::BARRIER => {
                if capacity == 0 {
                    return bad(len);
                }
                let parties = u32::try_from(capacity).unwrap_or(u32::MAX);
                (
                    Data::Barrier {
                        parties,
                        count: 0,
                        cycle: 0,
                        broken: false,
                    },
                    0,
                )
            }
            kind::QUEUE => (Data::Queue(List::new(a_size, capacity)), r.fp_a),
            kind::CUSTOM => {
                let Some(typeid_len) = u16_at(rest, 0) else {
                    return bad(len);
                };
                let typeid_len = usize::from(typeid_len).min(TYPEID_MAX);
                let Some(typeid) = rest.get(2..2 + typeid_len) else {
                    return bad(len);
                };
                let init = &rest[(2 + TYPEID_MAX).min(rest.len())..];
                let Some(reg) = self.registry.iter().find(|g| g.typeid.as_bytes() == typeid) else {
                    return Reply::status(status::UNKNOWN_TYPE, 0, 0);
                };
                if reg.init_type != r.fp_b {
                    return mismatch(field::INIT, reg.init_type, r.fp_b);
                }
                if init.len() != reg.init_size {
                    return bad(len);
                }
                let made = std::panic::catch_unwind(|| (reg.make)(init));
                match made {
                    Ok(Some(d)) => (Data::Custom(d), r.fp_a),
                    Ok(None) => return Reply::status(status::BAD_VALUE, 0, 0),
                    Err(_) => return Reply::status(status::PANICKED, 0, 0),
                }
            }
            _ => return Reply::status(status::WRONG_KIND, u64::from(kind_code), 0),
        };
        self.install(index, kind_code, r, fp_a, (a_size, b_size, false), data)
    }

    /// Puts a new object in slot `index`; the reply naming it.
    fn install(
        &mut self,
        index: usize,
        kind_code: u16,
        r: &Request,
        fp_a: u64,
        (a_size, b_size, var): (usize, usize, bool),
        data: Data,
    ) -> Reply {
        let o = &mut self.objects[index];
        o.kind = kind_code;
        o.generation = o.generation.wrapping_add(1);
        o.name.clear();
        o.fp_a = fp_a;
        o.fp_b = r.fp_b;
        o.a_size = a_size;
        o.b_size = b_size;
        o.var = var;
        o.data = Some(data);
        Reply::status(status::OK, index as u64 + 1, u64::from(o.generation))
    }

    /// Makes a dict, list, value or queue of variable-length values: at
    /// most `capacity` records of `bytes` bytes in all, each record and
    /// the whole snapshot (4 bytes of length per record) within one reply.
    fn create_var(
        &mut self,
        r: &Request,
        kind_code: u16,
        capacity: usize,
        bytes: usize,
        len: usize,
    ) -> Reply {
        let rest = &self.req[16..len];
        let room = self.message_bytes - REPLY_HEADER - AREA;
        let total = capacity.saturating_mul(4).saturating_add(bytes);
        if total > room {
            return Reply::status(status::TOO_BIG, total as u64, room as u64);
        }
        if capacity == 0
            || !matches!(
                kind_code,
                kind::DICT | kind::LIST | kind::VALUE | kind::QUEUE
            )
        {
            return bad(rest.len());
        }
        let mut records = Records::new(capacity, bytes);
        if kind_code == kind::VALUE {
            if capacity != 1 {
                return bad(rest.len());
            }
            if let Err(f) = records.insert(0, &[rest]) {
                return var_ops::full(f);
            }
        }
        let Some(index) = self.objects.iter().position(|o| o.data.is_none()) else {
            return Reply::status(status::TOO_MANY_OBJECTS, self.objects.len() as u64, 0);
        };
        self.install(
            index,
            kind_code,
            r,
            r.fp_a,
            (bytes, 0, true),
            Data::Records(records),
        )
    }
}
