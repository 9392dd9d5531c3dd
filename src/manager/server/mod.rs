//! The manager's server process: one thread, one loop, every operation
//! atomic because only this loop touches the objects.
//!
//! While requests come in, the loop scans the channels of live connections
//! (no system call per request); after [`SPIN`] without one it marks
//! itself parked in every channel and sleeps in `epoll` on the listener and
//! every connection's socket, where a client rings a doorbell. A
//! connection's hang-up (its process closed it or died) releases the locks
//! it held and forgets its parked request; nothing else is affected.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::TYPES_MAX;
use super::protocol::{
    AREA, Channel, DOORBELL, MAGIC, PENDING, REPLY, REPLY_HEADER, REQUEST, REQUEST_HEADER, Reply,
    Request, SERVING, VERSION, field, kind, op, phase, seq, status, word,
};
use super::served::{Call, Dispatch, Registration, split_mismatch};
use super::store::{List, Table};
use crate::config::{MANAGER_CONNECTIONS, MANAGER_MESSAGE_BYTES, MANAGER_OBJECTS};
use crate::ipc::Listener;
use crate::sys::epoll::{Epoll, Ready};
use crate::sys::{self, Errno, socket};

/// How long the loop keeps scanning after the last request before it
/// parks.
const SPIN: Duration = Duration::from_micros(200);
/// How often a scanning loop looks at its sockets (new clients,
/// hang-ups).
const POLL_EVERY: Duration = Duration::from_millis(1);
/// The epoll token of the listener.
const LISTENER: u64 = u64::MAX;
/// Set in the epoll token of a connection's pidfd. A connection's tokens
/// are its slot (low 24 bits), this flag, and its id (high 32 bits): an
/// event reported for a connection that has ended meanwhile — its slot
/// taken by a new one within the same batch — is recognised and dropped.
const WATCH: u64 = 1 << 24;

fn token(slot: usize, id: u32) -> u64 {
    slot as u64 | (u64::from(id) << 32)
}
/// How long a new client may take to send its hello.
const HELLO_PATIENCE: Duration = Duration::from_millis(500);
/// The longest name an object is published under.
pub(crate) const NAME_MAX: usize = 64;
/// The longest type name a registered type has.
pub(crate) const TYPEID_MAX: usize = 32;

/// What the server is started with.
pub(crate) struct Spec {
    pub(crate) listener: Listener,
    pub(crate) registry: heapless::Vec<Registration, TYPES_MAX>,
}

mod waits;

use waits::Parked;

struct Conn {
    sock: OwnedFd,
    chan: Channel,
    /// Never reused: the holder of a lock is named by it.
    id: u32,
    parked: Option<Parked>,
    /// A pidfd of the process that connected: its death ends the
    /// connection even while a child it forked keeps a copy of the socket
    /// open (then no hang-up would come).
    watch: Option<OwnedFd>,
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
    registry: heapless::Vec<Registration, TYPES_MAX>,
    conns: Vec<Option<Conn>>,
    live: Vec<usize>,
    objects: Vec<Object>,
    req: Vec<u8>,
    rep: Vec<u8>,
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
/// on); returns the exit code for its process.
pub(crate) fn run(spec: Spec) -> i32 {
    let Ok(epoll) = Epoll::new() else { return 2 };
    if epoll.add(spec.listener.as_fd(), LISTENER).is_err() {
        return 2;
    }
    let mut server = Server {
        epoll,
        listener: spec.listener,
        registry: spec.registry,
        conns: (0..MANAGER_CONNECTIONS).map(|_| None).collect(),
        live: Vec::with_capacity(MANAGER_CONNECTIONS),
        objects: (0..MANAGER_OBJECTS)
            .map(|_| Object {
                kind: 0,
                generation: 0,
                name: heapless::String::new(),
                fp_a: 0,
                fp_b: 0,
                a_size: 0,
                b_size: 0,
                data: None,
            })
            .collect(),
        req: vec![0; MANAGER_MESSAGE_BYTES],
        rep: vec![0; MANAGER_MESSAGE_BYTES],
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
            if self.next_deadline.is_some_and(|d| d <= now) {
                self.next_deadline = self.expire(now);
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
            let w = conn.chan.load();
            if phase(w) != REQUEST {
                continue;
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
    /// sleeps until a socket is ready.
    fn park(&mut self) {
        for &slot in &self.live {
            if let Some(c) = &self.conns[slot] {
                c.chan.server_parked().swap(1, Ordering::SeqCst);
            }
        }
        if !self.scan() {
            let timeout = self
                .next_deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            self.poll(timeout);
        }
        for &slot in &self.live {
            if let Some(c) = &self.conns[slot] {
                c.chan.server_parked().store(0, Ordering::Relaxed);
            }
        }
    }

    /// Takes what the sockets report: new clients, doorbells, hang-ups.
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
            let Some(conn) = self.conns.get(slot).and_then(Option::as_ref) else {
                continue;
            };
            if u64::from(conn.id) != r.token >> 32 {
                // About a connection that ended earlier in this batch.
                continue;
            }
            if r.token & WATCH != 0 {
                // The process that connected ended.
                self.close(slot);
                continue;
            }
            let mut gone = r.hung_up;
            let mut buf = [0u8; 16];
            loop {
                match socket::recv(&conn.sock, &mut buf, false) {
                    Ok(0) => {
                        gone = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(Errno::EAGAIN) => break,
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
            if gone {
                self.close(slot);
            }
        }
    }

    fn accept_all(&mut self) {
        // Each accept takes one waiting client; the listener is level-
        // triggered, so any left are reported again.
        for _ in 0..16 {
            match self.listener.accept_timeout(Duration::ZERO) {
                Ok(Some(c)) => {
                    let pid = c.peer_credentials().ok().map(|p| p.pid.as_raw());
                    self.welcome(c.into_fd(), pid);
                }
                Ok(None) => return,
                // A peer of another uid (refused and closed), or a client
                // that gave up: the listener goes on.
                Err(_) => {}
            }
        }
    }

    /// The handshake: the client's hello, then the channel.
    fn welcome(&mut self, sock: OwnedFd, pid: Option<i32>) {
        if !matches!(
            sys::poll_readable(sock.as_fd(), Some(HELLO_PATIENCE)),
            Ok(true)
        ) {
            return;
        }
        let mut hello = [0u8; 16];
        let Ok(16) = socket::recv(&sock, &mut hello, false) else {
            return;
        };
        let field_at =
            |i: usize| u32::from_le_bytes([hello[i], hello[i + 1], hello[i + 2], hello[i + 3]]);
        let mut welcome = [0u8; 16];
        welcome[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        welcome[8..12].copy_from_slice(&self.stamp.to_le_bytes());
        welcome[12..16].copy_from_slice(&sys::process::getpid().to_le_bytes());
        let refuse = |code: u32, detail: u32, mut welcome: [u8; 16]| {
            welcome[4..8].copy_from_slice(&code.to_le_bytes());
            welcome[8..12].copy_from_slice(&detail.to_le_bytes());
            let _ = socket::send(&sock, &welcome, false);
        };
        if field_at(0) != MAGIC || field_at(4) != VERSION {
            return refuse(u32::from(status::BAD_REQUEST), VERSION, welcome);
        }
        if field_at(8) as usize != MANAGER_MESSAGE_BYTES {
            return refuse(
                u32::from(status::TOO_BIG),
                MANAGER_MESSAGE_BYTES as u32,
                welcome,
            );
        }
        let Some(slot) = self.conns.iter().position(Option::is_none) else {
            return refuse(u32::from(status::FULL), MANAGER_CONNECTIONS as u32, welcome);
        };
        let Ok((chan, memfd)) = Channel::create(MANAGER_MESSAGE_BYTES) else {
            return refuse(u32::from(status::TOO_MANY_OBJECTS), 0, welcome);
        };
        let id = self.next_conn_id;
        self.next_conn_id = self.next_conn_id.wrapping_add(1).max(1);
        if self.epoll.add(sock.as_fd(), token(slot, id)).is_err() {
            return;
        }
        if socket::send_with_fd(&sock, &welcome, memfd.as_fd()).is_err() {
            let _ = self.epoll.delete(sock.as_fd());
            return;
        }
        // Without pidfds (old kernels, some qemu-user builds) the socket's
        // hang-up is the only sign of the client's end.
        let watch = pid
            .and_then(|pid| sys::process::pidfd_open(pid).ok())
            .filter(|fd| self.epoll.add(fd.as_fd(), token(slot, id) | WATCH).is_ok());
        self.conns[slot] = Some(Conn {
            sock,
            chan,
            id,
            parked: None,
            watch,
        });
        self.live.push(slot);
    }

    /// Forgets a connection: its parked request, the locks it held.
    fn close(&mut self, slot: usize) {
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

    /// Serves the request in `slot`'s channel (its state now `SERVING`).
    fn serve_one(&mut self, slot: usize, seq: u32) {
        let Some(conn) = &mut self.conns[slot] else {
            return;
        };
        // A new request replaces one the client gave up on.
        conn.parked = None;
        let mut head = [0u8; REQUEST_HEADER];
        let request = if conn.chan.take(&mut head) {
            Request::read(&head)
        } else {
            Request::default()
        };
        let len = request.len as usize;
        let action = if len > MANAGER_MESSAGE_BYTES - REQUEST_HEADER
            || !conn.chan.take_at(REQUEST_HEADER, &mut self.req[..len])
        {
            Action::Reply(Reply::status(status::BAD_REQUEST, len as u64, 0))
        } else {
            let conn_id = conn.id;
            self.handle(conn_id, &request, len)
        };
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
                let stamp = self.next_stamp;
                self.next_stamp += 1;
                let index = request.object as usize - 1;
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
            kind::DICT => Action::Reply(dict_op(obj, r, args, out)),
            kind::NAMESPACE => Action::Reply(namespace_op(obj, r, args, out)),
            kind::LIST => Action::Reply(list_op(obj, r, args, out)),
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
                    let f = if o.kind == kind::LIST {
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
        let room = MANAGER_MESSAGE_BYTES - REPLY_HEADER - AREA;
        // Everything an object holds must fit in one reply (snapshots are
        // atomic); the sizes are checked before anything is allocated.
        let entry = a_size.saturating_add(b_size);
        let total = capacity.saturating_mul(entry);
        if total > room || a_size > room || b_size > room {
            return Reply::status(status::TOO_BIG, total.max(entry) as u64, room as u64);
        }
        let Some(index) = self.objects.iter().position(|o| o.data.is_none()) else {
            return Reply::status(status::TOO_MANY_OBJECTS, MANAGER_OBJECTS as u64, 0);
        };
        let (data, fp_a) = match kind_code {
            kind::DICT | kind::NAMESPACE => {
                (Data::Table(Table::new(a_size, b_size, capacity)), r.fp_a)
            }
            kind::LIST => (Data::List(List::new(a_size, capacity)), r.fp_a),
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
        let o = &mut self.objects[index];
        o.kind = kind_code;
        o.generation = o.generation.wrapping_add(1);
        o.name.clear();
        o.fp_a = fp_a;
        o.fp_b = r.fp_b;
        o.a_size = a_size;
        o.b_size = b_size;
        o.data = Some(data);
        Reply::status(status::OK, index as u64 + 1, u64::from(o.generation))
    }
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

fn bad(len: usize) -> Reply {
    Reply::status(status::BAD_REQUEST, len as u64, 0)
}

fn mismatch(f: u16, expected: u64, found: u64) -> Reply {
    let mut r = Reply::status(status::TYPE_MISMATCH, expected, found);
    r.extra = f;
    r
}

fn with_payload(mut reply: Reply, len: usize) -> Reply {
    reply.len = len as u32;
    reply
}

/// A Python-style index (negative counts from the end) into `len`.
fn python_index(raw: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let i = if raw < 0 { raw + len_i } else { raw };
    (0..len_i).contains(&i).then_some(i as usize)
}

fn dict_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
    if r.fp_a != obj.fp_a {
        return mismatch(field::KEY, obj.fp_a, r.fp_a);
    }
    if r.fp_b != obj.fp_b {
        return mismatch(field::VALUE, obj.fp_b, r.fp_b);
    }
    let (ks, vs) = (obj.a_size, obj.b_size);
    let Some(Data::Table(t)) = &mut obj.data else {
        return Reply::status(status::NO_OBJECT, 0, 0);
    };
    let need = match r.op {
        op::GET | op::POP | op::CONTAINS => ks,
        op::SET | op::SETDEFAULT => ks + vs,
        _ => 0,
    };
    if args.len() != need {
        return bad(args.len());
    }
    match r.op {
        op::GET | op::POP | op::CONTAINS => match t.find(args) {
            None => Reply::ok(0),
            Some(i) => {
                if r.op != op::CONTAINS {
                    out[..vs].copy_from_slice(t.value(i).0);
                }
                if r.op == op::POP {
                    t.remove(i);
                }
                with_payload(Reply::ok(1), if r.op == op::CONTAINS { 0 } else { vs })
            }
        },
        op::SET => match t.set(&args[..ks], &args[ks..], obj.fp_b) {
            Ok(_) => Reply::ok(0),
            Err(_) => Reply::status(status::FULL, t.capacity() as u64, 0),
        },
        op::SETDEFAULT => match t.find(&args[..ks]) {
            Some(i) => {
                out[..vs].copy_from_slice(t.value(i).0);
                with_payload(Reply::ok(0), vs)
            }
            None => match t.set(&args[..ks], &args[ks..], obj.fp_b) {
                Ok(_) => {
                    out[..vs].copy_from_slice(&args[ks..]);
                    with_payload(Reply::ok(1), vs)
                }
                Err(_) => Reply::status(status::FULL, t.capacity() as u64, 0),
            },
        },
        op::LEN => Reply::ok(t.len() as u64),
        op::CLEAR => {
            t.clear();
            Reply::ok(0)
        }
        op::ITEMS => {
            let n = t.items(out);
            with_payload(Reply::ok(t.len() as u64), n)
        }
        other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
    }
}

fn namespace_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
    if r.fp_a != obj.fp_a {
        return mismatch(field::KEY, obj.fp_a, r.fp_a);
    }
    let (ks, vs) = (obj.a_size, obj.b_size);
    let Some(Data::Table(t)) = &mut obj.data else {
        return Reply::status(status::NO_OBJECT, 0, 0);
    };
    match r.op {
        op::GET | op::POP | op::CONTAINS => {
            if args.len() != ks {
                return bad(args.len());
            }
            let Some(i) = t.find(args) else {
                return Reply::ok(0);
            };
            let (value, value_type) = t.value(i);
            if r.op == op::GET {
                if value_type != r.fp_b {
                    return mismatch(field::VALUE, value_type, r.fp_b);
                }
                out[..value.len()].copy_from_slice(value);
                return with_payload(Reply::ok(1), value.len());
            }
            if r.op == op::POP {
                t.remove(i);
            }
            Reply::ok(1)
        }
        op::SET => {
            if args.len() < ks {
                return bad(args.len());
            }
            let value = &args[ks..];
            if value.len() > vs {
                return Reply::status(status::TOO_BIG, value.len() as u64, vs as u64);
            }
            match t.set(&args[..ks], value, r.fp_b) {
                Ok(_) => Reply::ok(0),
                Err(_) => Reply::status(status::FULL, t.capacity() as u64, 0),
            }
        }
        op::LEN => Reply::ok(t.len() as u64),
        op::ITEMS => {
            let n = t.keys(out);
            with_payload(Reply::ok(t.len() as u64), n)
        }
        other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
    }
}

fn list_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
    if r.fp_a != obj.fp_a {
        return mismatch(field::VALUE, obj.fp_a, r.fp_a);
    }
    let s = obj.a_size;
    let Some(Data::List(l)) = &mut obj.data else {
        return Reply::status(status::NO_OBJECT, 0, 0);
    };
    let index_err = |raw: i64, len: usize| Reply::status(status::INDEX, raw as u64, len as u64);
    let full = |l: &List| Reply::status(status::FULL, l.capacity() as u64, 0);
    match r.op {
        op::LEN => Reply::ok(l.len() as u64),
        op::CLEAR => {
            l.clear();
            Reply::ok(0)
        }
        op::REVERSE => {
            l.reverse();
            Reply::ok(0)
        }
        op::ITEMS => {
            let n = l.snapshot(out);
            with_payload(Reply::ok(l.len() as u64), n)
        }
        op::APPEND | op::EXTEND => {
            if !args.len().is_multiple_of(s.max(1)) || (r.op == op::APPEND && args.len() != s) {
                return bad(args.len());
            }
            match l.extend(args) {
                Ok(()) => Reply::ok(l.len() as u64),
                Err(_) => full(l),
            }
        }
        op::GET | op::POP_AT => {
            let Some(raw) = u64_at(args, 0)
                .map(|x| x as i64)
                .filter(|_| args.len() == 8)
            else {
                return bad(args.len());
            };
            let Some(i) = python_index(raw, l.len()) else {
                return index_err(raw, l.len());
            };
            if r.op == op::GET {
                out[..s].copy_from_slice(l.get(i).unwrap_or(&[]));
            } else {
                l.pop(i, out);
            }
            with_payload(Reply::ok(0), s)
        }
        op::SET => {
            let Some(raw) = u64_at(args, 0)
                .map(|x| x as i64)
                .filter(|_| args.len() == 8 + s)
            else {
                return bad(args.len());
            };
            let Some(i) = python_index(raw, l.len()) else {
                return index_err(raw, l.len());
            };
            l.set(i, &args[8..]);
            Reply::ok(0)
        }
        op::INSERT => {
            let Some(raw) = u64_at(args, 0)
                .map(|x| x as i64)
                .filter(|_| args.len() == 8 + s)
            else {
                return bad(args.len());
            };
            // Python clamps an insertion index into 0..=len.
            let len = i64::try_from(l.len()).unwrap_or(i64::MAX);
            let i = if raw < 0 {
                (raw + len).max(0)
            } else {
                raw.min(len)
            };
            match l.insert(i as usize, &args[8..]) {
                Ok(()) => Reply::ok(0),
                Err(_) => full(l),
            }
        }
        op::INDEX => {
            let Some(start) = u64_at(args, s).filter(|_| args.len() == s + 8) else {
                return bad(args.len());
            };
            match l.index(&args[..s], usize::try_from(start).unwrap_or(usize::MAX)) {
                Some(i) => Reply::status(status::OK, 1, i as u64),
                None => Reply::ok(0),
            }
        }
        op::REMOVE => {
            if args.len() != s {
                return bad(args.len());
            }
            match l.index(args, 0) {
                Some(i) => {
                    let mut scratch = [0u8; 0];
                    if s == 0 {
                        l.pop(i, &mut scratch);
                    } else {
                        l.pop(i, out);
                    }
                    Reply::ok(1)
                }
                None => Reply::ok(0),
            }
        }
        op::COUNT_OF => {
            if args.len() != s {
                return bad(args.len());
            }
            Reply::ok(l.count(args) as u64)
        }
        other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
    }
}

fn value_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
    if r.fp_a != obj.fp_a {
        return mismatch(field::VALUE, obj.fp_a, r.fp_a);
    }
    let Some(Data::Value(v)) = &mut obj.data else {
        return Reply::status(status::NO_OBJECT, 0, 0);
    };
    match r.op {
        op::GET => {
            out[..v.len()].copy_from_slice(v);
            with_payload(Reply::ok(0), v.len())
        }
        op::SET => {
            if args.len() != v.len() {
                return bad(args.len());
            }
            v.copy_from_slice(args);
            Reply::ok(0)
        }
        other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
    }
}
