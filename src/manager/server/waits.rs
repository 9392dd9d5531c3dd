//! The objects a request may wait on: locks, semaphores, events,
//! conditions, barriers and queues.
//!
//! A request that cannot be answered now is parked: its channel stays
//! `PENDING` (the client waits, spinning, then on its socket) and the
//! connection records what it waits for, since when (its stamp: grants go
//! oldest first, but for a lock's: see `locks`) and until when (its
//! deadline: the server answers "timed out" itself, so a client never has
//! to withdraw a request). The server
//! answers a parked request when another request changes the object, when
//! its deadline passes, or when another connection ends (a lock holder
//! that dies releases the lock; a process that dies at a barrier breaks
//! it).

use std::time::{Duration, Instant};

use super::{Action, Data, Server};
use crate::manager::protocol::{
    PENDING, REQUEST_HEADER, Reply, Request, SERVING, kind, op, status, word,
};
use crate::manager::store::List;
use std::sync::atomic::Ordering;

/// A condition waiter that is waiting for a notify.
pub(super) const WAITING: u8 = 0;
/// A condition waiter notified, waiting to take the lock back.
pub(super) const NOTIFIED: u8 = 1;
/// A condition waiter whose wait timed out, waiting to take the lock back.
pub(super) const TIMED_OUT: u8 = 2;

/// A request parked until it can be answered.
#[derive(Clone, Copy, Debug)]
pub(super) struct Parked {
    pub(super) object: usize,
    pub(super) generation: u32,
    pub(super) seq: u32,
    pub(super) op: u16,
    pub(super) stamp: u64,
    pub(super) deadline: Option<Instant>,
    /// A condition waiter's phase ([`WAITING`], [`NOTIFIED`],
    /// [`TIMED_OUT`]).
    pub(super) phase: u8,
    /// A condition waiter's lock depth to restore; a barrier waiter's
    /// arrival index.
    pub(super) saved: u32,
    /// A barrier waiter's cycle.
    pub(super) cycle: u32,
    /// When it was parked.
    pub(super) since: Instant,
}

/// The deadline a request's first argument (nanoseconds) asks for:
/// `Err` for a request that must not wait (0), `Ok(None)` for no limit
/// (`u64::MAX`).
pub(super) fn deadline(args: &[u8]) -> Result<Option<Instant>, ()> {
    let ns = super::u64_at(args, 0).unwrap_or(0);
    match ns {
        0 => Err(()),
        u64::MAX => Ok(None),
        ns => Ok(Instant::now().checked_add(Duration::from_nanos(ns))),
    }
}

fn park(deadline: Option<Instant>, phase: u8, saved: u32, cycle: u32) -> Action {
    Action::Park {
        deadline,
        phase,
        saved,
        cycle,
    }
}

impl Server {
    /// A request on a waiting kind of object.
    pub(super) fn wait_op(&mut self, conn: u32, index: usize, op: u16, len: usize) -> Action {
        let kind_code = self.objects[index].kind;
        let args_deadline = deadline(&self.req[..len]);
        // A free lock with requests parked on it: may this one go first?
        let barge = op == op::ACQUIRE && self.may_barge(index, Instant::now());
        let Some(data) = &mut self.objects[index].data else {
            return Action::Reply(Reply::status(status::NO_OBJECT, 0, 0));
        };
        match (data, op) {
            // -------------------------------------------- lock, rlock, condition
            (Data::Lock { holder, depth }, op::ACQUIRE) => {
                let reentrant = kind_code != kind::LOCK;
                if *holder == 0 && barge {
                    *holder = conn;
                    *depth = 1;
                    Action::Reply(Reply::ok(1))
                } else if reentrant && *holder == conn {
                    *depth = depth.saturating_add(1);
                    Action::Reply(Reply::ok(1))
                } else {
                    match args_deadline {
                        Err(()) => Action::Reply(Reply::ok(0)),
                        Ok(d) => park(d, 0, 0, 0),
                    }
                }
            }
            (Data::Lock { holder, depth }, op::RELEASE_LOCK) => {
                // Python's Lock may be released by anyone; an RLock (and a
                // condition's lock) only by its holder.
                if *holder == 0 || (kind_code != kind::LOCK && *holder != conn) {
                    return Action::Reply(Reply::status(status::NOT_HELD, 0, 0));
                }
                *depth -= 1;
                if *depth == 0 {
                    *holder = 0;
                    self.grant_lock(index);
                }
                Action::Reply(Reply::ok(0))
            }
            (Data::Lock { holder, .. }, op::LOCKED) => {
                Action::Reply(Reply::ok(u64::from(*holder != 0)))
            }
            (Data::Lock { holder, depth }, op::WAIT) if kind_code == kind::CONDITION => {
                if *holder != conn {
                    return Action::Reply(Reply::status(status::NOT_HELD, 0, 0));
                }
                let saved = *depth;
                *holder = 0;
                *depth = 0;
                self.grant_lock(index);
                match args_deadline {
                    // wait(0): release, then take the lock back at once.
                    Err(()) => park(None, TIMED_OUT, saved, 0),
                    Ok(d) => park(d, WAITING, saved, 0),
                }
            }
            (Data::Lock { holder, .. }, op::NOTIFY) if kind_code == kind::CONDITION => {
                if *holder != conn {
                    return Action::Reply(Reply::status(status::NOT_HELD, 0, 0));
                }
                let n = super::u32_at(&self.req[..len], 0).unwrap_or(1);
                let mut woken = 0u32;
                while woken < n {
                    let Some(slot) = self.oldest(index, |p| p.op == op::WAIT && p.phase == WAITING)
                    else {
                        break;
                    };
                    if let Some(Some(c)) = self.conns.get_mut(slot)
                        && let Some(p) = &mut c.parked
                    {
                        p.phase = NOTIFIED;
                        p.deadline = None;
                    }
                    woken += 1;
                }
                Action::Reply(Reply::ok(u64::from(woken)))
            }
            // ------------------------------------------------------ semaphore
            (Data::Semaphore { value, .. }, op::ACQUIRE) => {
                if *value > 0 {
                    *value -= 1;
                    Action::Reply(Reply::ok(1))
                } else {
                    match args_deadline {
                        Err(()) => Action::Reply(Reply::ok(0)),
                        Ok(d) => park(d, 0, 0, 0),
                    }
                }
            }
            (Data::Semaphore { value, bound }, op::RELEASE_LOCK) => {
                let n = super::u32_at(&self.req[..len], 0).unwrap_or(1);
                let Some(new) = value
                    .checked_add(n)
                    .filter(|v| bound.is_none_or(|b| *v <= b))
                else {
                    return Action::Reply(Reply::status(
                        status::OVER_RELEASED,
                        u64::from(*value),
                        0,
                    ));
                };
                *value = new;
                while let Some(slot) = self.oldest(index, |p| p.op == op::ACQUIRE) {
                    let Some(Data::Semaphore { value, .. }) = &mut self.objects[index].data else {
                        break;
                    };
                    if *value == 0 {
                        break;
                    }
                    *value -= 1;
                    self.grant(slot, Reply::ok(1));
                }
                Action::Reply(Reply::ok(0))
            }
            (Data::Semaphore { value, .. }, op::LOCKED) => {
                Action::Reply(Reply::ok(u64::from(*value)))
            }
            // ---------------------------------------------------------- event
            (Data::Event { set }, op::EV_SET) => {
                *set = true;
                while let Some(slot) = self.oldest(index, |p| p.op == op::WAIT) {
                    self.grant(slot, Reply::ok(1));
                }
                Action::Reply(Reply::ok(0))
            }
            (Data::Event { set }, op::EV_CLEAR) => {
                *set = false;
                Action::Reply(Reply::ok(0))
            }
            (Data::Event { set }, op::LOCKED) => Action::Reply(Reply::ok(u64::from(*set))),
            (Data::Event { set }, op::WAIT) => {
                if *set {
                    Action::Reply(Reply::ok(1))
                } else {
                    match args_deadline {
                        Err(()) => Action::Reply(Reply::ok(0)),
                        Ok(d) => park(d, 0, 0, 0),
                    }
                }
            }
            // -------------------------------------------------------- barrier
            (
                Data::Barrier {
                    parties,
                    count,
                    cycle,
                    broken,
                },
                op::WAIT,
            ) => {
                if *broken {
                    return Action::Reply(Reply::status(status::BROKEN, 0, 0));
                }
                let arrival = *count;
                *count += 1;
                if *count < *parties {
                    return match args_deadline {
                        // wait(0) cannot wait: Python breaks the barrier.
                        Err(()) => {
                            self.break_barrier(index);
                            Action::Reply(Reply::status(status::BROKEN, 0, 0))
                        }
                        Ok(d) => park(d, 0, arrival, *cycle),
                    };
                }
                let done = *cycle;
                *count = 0;
                *cycle = cycle.wrapping_add(1);
                while let Some(slot) = self.oldest(index, |p| p.op == op::WAIT && p.cycle == done) {
                    let i = self.parked_at(slot).map_or(0, |p| p.saved);
                    self.grant(slot, Reply::ok(u64::from(i)));
                }
                Action::Reply(Reply::ok(u64::from(arrival)))
            }
            (Data::Barrier { .. }, op::B_ABORT) => {
                self.break_barrier(index);
                Action::Reply(Reply::ok(0))
            }
            (Data::Barrier { .. }, op::B_RESET) => {
                self.break_barrier(index);
                if let Some(Data::Barrier { broken, count, .. }) = &mut self.objects[index].data {
                    *broken = false;
                    *count = 0;
                }
                Action::Reply(Reply::ok(0))
            }
            (
                Data::Barrier {
                    parties,
                    count,
                    broken,
                    ..
                },
                op::LOCKED,
            ) => Action::Reply(Reply::status(
                status::OK,
                u64::from(*parties),
                u64::from(*count) | (u64::from(*broken) << 32),
            )),
            // ---------------------------------------------------------- queue
            (Data::Queue(q), op::Q_PUT) => {
                let item = q_item(q);
                if len != 8 + item {
                    return Action::Reply(super::bad(len));
                }
                if let Some(getter) = self.oldest(index, |p| p.op == op::Q_GET) {
                    // Straight to the oldest getter.
                    let reply = self.item_reply(8, item);
                    self.grant(getter, reply);
                    return Action::Reply(Reply::ok(0));
                }
                let Some(Data::Queue(q)) = &mut self.objects[index].data else {
                    return Action::Reply(Reply::status(status::NO_OBJECT, 0, 0));
                };
                if q.extend(&self.req[8..8 + item], 1).is_ok() {
                    return Action::Reply(Reply::ok(0));
                }
                match args_deadline {
                    Err(()) => Action::Reply(Reply::status(status::QUEUE_FULL, 0, 0)),
                    Ok(d) => park(d, 0, 0, 0),
                }
            }
            (Data::Queue(q), op::Q_GET) => {
                let item = q_item(q);
                if q.len() == 0 {
                    return match args_deadline {
                        Err(()) => Action::Reply(Reply::status(status::QUEUE_EMPTY, 0, 0)),
                        Ok(d) => park(d, 0, 0, 0),
                    };
                }
                q.pop(0, &mut self.rep[super::REPLY_HEADER..]);
                let mut reply = Reply::ok(0);
                reply.len = item as u32;
                // Room now, unless an item given back to the front had
                // put the queue past its maxsize (then the puts wait for
                // the next get): the oldest parked put goes in.
                let room = q.len() < q.capacity();
                if room && let Some(putter) = self.oldest(index, |p| p.op == op::Q_PUT) {
                    // Its item is still in its channel, which its client
                    // must leave alone while the request is parked: one
                    // that did not gets nothing in (and is dropped when
                    // its put is answered).
                    let mut moved = false;
                    if let Some(Some(c)) = self.conns.get(putter) {
                        let parked = c.parked.map(|p| word(p.seq, PENDING));
                        moved = parked == Some(c.chan.load())
                            && c.chan.take_at(REQUEST_HEADER + 8, &mut self.req[..item]);
                    }
                    if moved && let Some(Data::Queue(q)) = &mut self.objects[index].data {
                        let _ = q.extend(&self.req[..item], 1);
                    }
                    // The getter's reply is still in the reply buffer: send
                    // it first, then the putter's.
                    return Action::ReplyThen(reply, putter);
                }
                Action::Reply(reply)
            }
            (Data::Queue(q), op::Q_PUT_FRONT) => {
                let item = q_item(q);
                if len != 8 + item {
                    return Action::Reply(super::bad(len));
                }
                if let Some(getter) = self.oldest(index, |p| p.op == op::Q_GET) {
                    let reply = self.item_reply(8, item);
                    self.grant(getter, reply);
                    return Action::Reply(Reply::ok(0));
                }
                let Some(Data::Queue(q)) = &mut self.objects[index].data else {
                    return Action::Reply(Reply::status(status::NO_OBJECT, 0, 0));
                };
                match q.insert_over(0, &self.req[8..8 + item]) {
                    Ok(()) => Action::Reply(Reply::ok(0)),
                    Err(_) => Action::Reply(Reply::status(status::QUEUE_FULL, 0, 0)),
                }
            }
            (Data::Queue(q), op::LEN) => Action::Reply(Reply::status(
                status::OK,
                q.len() as u64,
                q.capacity() as u64,
            )),
            // ------------------------------- queue of variable-length items
            (Data::Records(q), op::Q_PUT) => {
                let Some(size) = len.checked_sub(8) else {
                    return Action::Reply(super::bad(len));
                };
                if size > q.used() + q.room() {
                    // Larger than the whole queue: it could never go in.
                    let all = q.used() + q.room();
                    return Action::Reply(Reply::status(status::NO_ROOM, size as u64, all as u64));
                }
                if let Some(getter) = self.oldest(index, |p| p.op == op::Q_GET) {
                    let reply = self.item_reply(8, size);
                    self.grant(getter, reply);
                    return Action::Reply(Reply::ok(0));
                }
                // Puts keep their order: none goes past an older one that
                // waits for room.
                let waiting = self.oldest(index, |p| p.op == op::Q_PUT).is_some();
                let Some(Data::Records(q)) = &mut self.objects[index].data else {
                    return Action::Reply(Reply::status(status::NO_OBJECT, 0, 0));
                };
                if !waiting && q.insert(q.len(), &[&self.req[8..len]]).is_ok() {
                    return Action::Reply(Reply::ok(0));
                }
                match args_deadline {
                    Err(()) => Action::Reply(Reply::status(status::QUEUE_FULL, 0, 0)),
                    Ok(d) => park(d, 0, 0, 0),
                }
            }
            (Data::Records(q), op::Q_GET) => {
                if q.len() == 0 {
                    return match args_deadline {
                        Err(()) => Action::Reply(Reply::status(status::QUEUE_EMPTY, 0, 0)),
                        Ok(d) => park(d, 0, 0, 0),
                    };
                }
                let n = q
                    .pop_into(0, &mut self.rep[super::REPLY_HEADER..])
                    .unwrap_or(0);
                let mut reply = Reply::ok(0);
                reply.len = n as u32;
                // Room now: the parked puts go in, oldest first, while
                // they fit (their replies carry nothing, so the getter's
                // item stays in the reply buffer meanwhile).
                self.move_parked_puts(index);
                Action::Reply(reply)
            }
            (Data::Records(_), op::Q_PUT_FRONT) => {
                let Some(size) = len.checked_sub(8) else {
                    return Action::Reply(super::bad(len));
                };
                if let Some(getter) = self.oldest(index, |p| p.op == op::Q_GET) {
                    let reply = self.item_reply(8, size);
                    self.grant(getter, reply);
                    return Action::Reply(Reply::ok(0));
                }
                let Some(Data::Records(q)) = &mut self.objects[index].data else {
                    return Action::Reply(Reply::status(status::NO_OBJECT, 0, 0));
                };
                match q.insert_over(0, &self.req[8..len]) {
                    Ok(()) => Action::Reply(Reply::ok(0)),
                    Err(_) => Action::Reply(Reply::status(status::QUEUE_FULL, 0, 0)),
                }
            }
            (Data::Records(q), op::LEN) => Action::Reply(Reply::status(
                status::OK,
                q.len() as u64,
                q.capacity() as u64,
            )),
            _ => Action::Reply(Reply::status(status::UNKNOWN_METHOD, u64::from(op), 0)),
        }
    }

    /// Moves the parked puts of variable-length queue `index` in, oldest
    /// first, while the next one fits; each is answered. A put whose
    /// client changed its channel under it is answered and moves nothing
    /// (its connection is dropped when answered).
    fn move_parked_puts(&mut self, index: usize) {
        while let Some(putter) = self.oldest(index, |p| p.op == op::Q_PUT) {
            let mut size = None;
            if let Some(Some(c)) = self.conns.get(putter) {
                let parked = c.parked.map(|p| word(p.seq, PENDING));
                let mut head = [0u8; REQUEST_HEADER];
                if parked == Some(c.chan.load()) && c.chan.take(&mut head) {
                    let len = Request::read(&head).len as usize;
                    size = len
                        .checked_sub(8)
                        .filter(|_| len <= self.message_bytes - REQUEST_HEADER)
                        .filter(|&s| c.chan.take_at(REQUEST_HEADER + 8, &mut self.req[..s]));
                }
            }
            if let Some(size) = size {
                let Some(Data::Records(q)) = &mut self.objects[index].data else {
                    return;
                };
                if q.len() >= q.capacity() || size > q.room() {
                    // It waits for the next get.
                    return;
                }
                let _ = q.insert(q.len(), &[&self.req[..size]]);
            }
            self.grant(putter, Reply::ok(0));
        }
    }

    /// The parked request of connection `slot`.
    fn parked_at(&self, slot: usize) -> Option<super::waits::Parked> {
        self.conns.get(slot)?.as_ref()?.parked
    }

    /// The connection whose request parked on object `index` is the
    /// oldest among those `which` accepts.
    pub(super) fn oldest(&self, index: usize, which: impl Fn(&Parked) -> bool) -> Option<usize> {
        let generation = self.objects[index].generation;
        self.live
            .iter()
            .filter_map(|&slot| {
                let p = self.conns[slot].as_ref()?.parked?;
                (p.object == index && p.generation == generation && which(&p))
                    .then_some((p.stamp, slot))
            })
            .min()
            .map(|(_, slot)| slot)
    }

    /// Answers the request parked by connection `slot` with `reply` (its
    /// payload, if any, already in the reply buffer). A channel whose
    /// state is no longer the parked request's was written by a client
    /// that broke the protocol: its connection is dropped (what it was
    /// granted, a lock, goes on to the next waiter then).
    pub(super) fn grant(&mut self, slot: usize, reply: Reply) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(p) = conn.parked.take() else { return };
        if conn
            .chan
            .state()
            .compare_exchange(
                word(p.seq, PENDING),
                word(p.seq, SERVING),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            self.send_reply(slot, p.seq, reply);
        } else {
            self.doom(slot);
        }
    }

    /// Breaks barrier `index`: every waiter is answered `BROKEN`.
    pub(super) fn break_barrier(&mut self, index: usize) {
        if let Some(Data::Barrier { broken, count, .. }) = &mut self.objects[index].data {
            *broken = true;
            *count = 0;
        }
        while let Some(slot) = self.oldest(index, |p| p.op == op::WAIT) {
            self.grant(slot, Reply::status(status::BROKEN, 0, 0));
        }
    }

    /// A reply carrying the `item` bytes at `offset` of the request
    /// buffer.
    fn item_reply(&mut self, offset: usize, item: usize) -> Reply {
        let (req, rep) = (&self.req, &mut self.rep);
        rep[super::REPLY_HEADER..super::REPLY_HEADER + item]
            .copy_from_slice(&req[offset..offset + item]);
        let mut reply = Reply::ok(0);
        reply.len = item as u32;
        reply
    }

    /// Answers every parked request whose deadline has passed; returns the
    /// next deadline still ahead.
    pub(super) fn expire(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for i in 0..self.live.len() {
            let Some(&slot) = self.live.get(i) else { break };
            let Some(p) = self.parked_at(slot) else {
                continue;
            };
            let Some(d) = p.deadline else { continue };
            if d > now {
                next = Some(next.map_or(d, |n| n.min(d)));
                continue;
            }
            let index = p.object;
            let kind_code = self.objects[index].kind;
            match (kind_code, p.op) {
                (kind::CONDITION, op::WAIT) => {
                    if let Some(Some(c)) = self.conns.get_mut(slot)
                        && let Some(p) = &mut c.parked
                    {
                        p.phase = TIMED_OUT;
                        p.deadline = None;
                    }
                    if matches!(self.objects[index].data, Some(Data::Lock { holder: 0, .. })) {
                        self.grant_lock(index);
                    }
                }
                // Python breaks a barrier when a wait times out.
                (kind::BARRIER, _) => self.break_barrier(index),
                (kind::QUEUE, op::Q_GET) => {
                    self.grant(slot, Reply::status(status::QUEUE_EMPTY, 0, 0))
                }
                (kind::QUEUE, _) => self.grant(slot, Reply::status(status::QUEUE_FULL, 0, 0)),
                _ => self.grant(slot, Reply::ok(0)),
            }
        }
        next
    }

    /// What a connection's end does to the objects: its locks are
    /// released, a barrier it waited at is broken.
    pub(super) fn abandon(&mut self, id: u32, parked: Option<Parked>) {
        if let Some(p) = parked
            && self.objects[p.object].kind == kind::BARRIER
            && self.objects[p.object].generation == p.generation
        {
            self.break_barrier(p.object);
        }
        for index in 0..self.objects.len() {
            if let Some(Data::Lock { holder, depth }) = &mut self.objects[index].data
                && *holder == id
            {
                *holder = 0;
                *depth = 0;
                self.grant_lock(index);
            }
        }
    }

    /// Withdraws the request connection `slot` parked as number `seq`
    /// (its client stored that in the channel's `withdraw` word): answered
    /// `WITHDRAWN`, nothing done. A party that leaves a barrier breaks it,
    /// as one whose wait times out does (Python's semantics); a put that
    /// waited for room no longer holds back the ones behind it.
    pub(super) fn withdraw(&mut self, slot: usize, seq: u32) {
        let Some(p) = self.parked_at(slot) else {
            return;
        };
        if p.seq != seq {
            return;
        }
        let object = &self.objects[p.object];
        if object.kind == kind::BARRIER && object.generation == p.generation {
            // Answers this request (BROKEN) with the others.
            self.break_barrier(p.object);
            return;
        }
        self.grant(slot, Reply::status(status::WITHDRAWN, 0, 0));
        if p.op == op::Q_PUT && matches!(self.objects[p.object].data, Some(Data::Records(_))) {
            self.move_parked_puts(p.object);
        }
    }

    /// Fails every request parked on object `index` (it was released).
    pub(super) fn fail_parked(&mut self, index: usize) {
        while let Some(slot) = self.live.iter().copied().find(|&s| {
            self.conns[s]
                .as_ref()
                .and_then(|c| c.parked)
                .is_some_and(|p| p.object == index)
        }) {
            self.grant(slot, Reply::status(status::NO_OBJECT, 0, 0));
        }
    }
}

/// The item size of a queue.
fn q_item(q: &List) -> usize {
    q.item_size()
}
