//! The manager's own operations (object 0): making, opening, publishing
//! and releasing objects, and the server's state (ping, counts,
//! shutdown).

use super::ops::{bad, mismatch, u16_at, u32_at};
use super::var_ops;
use super::{Data, NAME_MAX, Server, TYPEID_MAX};
use crate::manager::protocol::{
    AREA, REPLY_HEADER, Reply, Request, create, field, kind, op, status,
};
use crate::manager::records::Records;
use crate::manager::store::{List, Table};
use crate::sys;

impl Server {
    pub(super) fn manager_op(&mut self, r: &Request, len: usize) -> Reply {
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
