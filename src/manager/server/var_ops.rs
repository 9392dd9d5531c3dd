//! The operations of objects whose values have lengths of their own (the
//! [`Serde`](crate::manager::Serde) encoding): dicts, lists and values
//! kept as [`Records`] in a byte arena. Requests as for the fixed kinds,
//! but for what a length must tell apart:
//!
//! - a dict's entry (`SET`, `SETDEFAULT`, and each record of the dict) is
//!   the key's length (`u32`), the key, the value;
//! - `EXTEND` carries each item after its length (`u32`);
//! - `INDEX` carries the item, then the start (`u64`), last;
//! - a snapshot (`ITEMS`) sends each record after its length (`u32`).
//!
//! A record that does not fit in the free bytes is `NO_ROOM` (its size,
//! the room), and changes nothing.

use super::ops::{bad, mismatch, python_index, u32_at, u64_at, with_payload};
use super::{Data, Object};
use crate::manager::protocol::{Reply, Request, field, op, status};
use crate::manager::records::{Full, Records};

/// The reply for a store with no room.
pub(super) fn full(f: Full) -> Reply {
    match f {
        Full::Records(capacity) => Reply::status(status::FULL, capacity as u64, 0),
        Full::Bytes { size, room } => Reply::status(status::NO_ROOM, size as u64, room as u64),
    }
}

/// The key of a dict entry (its length, then it), if the entry holds one.
fn entry_key(entry: &[u8]) -> Option<&[u8]> {
    let klen = u32_at(entry, 0)? as usize;
    entry.get(4..4usize.checked_add(klen)?)
}

fn find(t: &Records, key: &[u8]) -> Option<usize> {
    t.position(0, |entry| entry_key(entry) == Some(key))
}

/// The value of an entry that holds a key.
fn entry_value(entry: &[u8]) -> &[u8] {
    let k = entry_key(entry).map_or(0, <[u8]>::len);
    entry.get(4 + k..).unwrap_or(&[])
}

fn copy_out(out: &mut [u8], bytes: &[u8]) -> usize {
    out[..bytes.len()].copy_from_slice(bytes);
    bytes.len()
}

pub(super) fn dict_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
    if r.fp_a != obj.fp_a {
        return mismatch(field::KEY, obj.fp_a, r.fp_a);
    }
    if r.fp_b != obj.fp_b {
        return mismatch(field::VALUE, obj.fp_b, r.fp_b);
    }
    let Some(Data::Records(t)) = &mut obj.data else {
        return Reply::status(status::NO_OBJECT, 0, 0);
    };
    match r.op {
        op::GET | op::POP | op::CONTAINS => match find(t, args) {
            None => Reply::ok(0),
            Some(i) => {
                let mut n = 0;
                if r.op != op::CONTAINS {
                    n = copy_out(out, entry_value(t.get(i).unwrap_or(&[])));
                }
                if r.op == op::POP {
                    t.remove(i);
                }
                with_payload(Reply::ok(1), n)
            }
        },
        op::SET | op::SETDEFAULT => {
            let Some(key) = entry_key(args) else {
                return bad(args.len());
            };
            match (find(t, key), r.op) {
                (Some(i), op::SET) => match t.replace(i, &[args]) {
                    Ok(()) => Reply::ok(0),
                    Err(f) => full(f),
                },
                (Some(i), _) => {
                    let n = copy_out(out, entry_value(t.get(i).unwrap_or(&[])));
                    with_payload(Reply::ok(0), n)
                }
                (None, _) => match t.insert(t.len(), &[args]) {
                    Ok(()) if r.op == op::SET => Reply::ok(0),
                    Ok(()) => with_payload(Reply::ok(1), copy_out(out, entry_value(args))),
                    Err(f) => full(f),
                },
            }
        }
        op::LEN => Reply::ok(t.len() as u64),
        op::CLEAR => {
            t.clear();
            Reply::ok(0)
        }
        op::ITEMS => with_payload(Reply::ok(t.len() as u64), t.snapshot(out)),
        other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
    }
}

/// An index (`i64`) at the start of `args`, and what follows it.
fn indexed(args: &[u8]) -> Option<(i64, &[u8])> {
    Some((u64_at(args, 0)? as i64, &args[8..]))
}

/// The items of an `EXTEND`, each after its length: how many, and their
/// bytes in all; `None` when the lengths do not add up.
fn extend_items(mut args: &[u8]) -> Option<(usize, usize)> {
    let (mut count, mut bytes) = (0usize, 0usize);
    while !args.is_empty() {
        let len = u32_at(args, 0)? as usize;
        args = args.get(4..)?;
        args = args.get(len..)?;
        count += 1;
        bytes += len;
    }
    Some((count, bytes))
}

pub(super) fn list_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
    if r.fp_a != obj.fp_a {
        return mismatch(field::VALUE, obj.fp_a, r.fp_a);
    }
    let Some(Data::Records(l)) = &mut obj.data else {
        return Reply::status(status::NO_OBJECT, 0, 0);
    };
    let index_err = |raw: i64, len: usize| Reply::status(status::INDEX, raw as u64, len as u64);
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
        op::ITEMS => with_payload(Reply::ok(l.len() as u64), l.snapshot(out)),
        op::APPEND => match l.insert(l.len(), &[args]) {
            Ok(()) => Reply::ok(l.len() as u64),
            Err(f) => full(f),
        },
        op::EXTEND => {
            // All or nothing: checked whole before the first goes in.
            let Some((count, bytes)) = extend_items(args) else {
                return bad(args.len());
            };
            if count > l.capacity().saturating_sub(l.len()) {
                return full(Full::Records(l.capacity()));
            }
            if bytes > l.room() {
                return full(Full::Bytes {
                    size: bytes,
                    room: l.room(),
                });
            }
            let mut rest = args;
            while let Some(len) = u32_at(rest, 0) {
                let (item, tail) = rest[4..].split_at(len as usize);
                let _ = l.insert(l.len(), &[item]);
                rest = tail;
            }
            Reply::ok(l.len() as u64)
        }
        op::GET | op::POP_AT => {
            let Some((raw, [])) = indexed(args) else {
                return bad(args.len());
            };
            let Some(i) = python_index(raw, l.len()) else {
                return index_err(raw, l.len());
            };
            let n = if r.op == op::GET {
                copy_out(out, l.get(i).unwrap_or(&[]))
            } else {
                l.pop_into(i, out).unwrap_or(0)
            };
            with_payload(Reply::ok(0), n)
        }
        op::SET => {
            let Some((raw, item)) = indexed(args) else {
                return bad(args.len());
            };
            let Some(i) = python_index(raw, l.len()) else {
                return index_err(raw, l.len());
            };
            match l.replace(i, &[item]) {
                Ok(()) => Reply::ok(0),
                Err(f) => full(f),
            }
        }
        op::INSERT => {
            let Some((raw, item)) = indexed(args) else {
                return bad(args.len());
            };
            // Python clamps an insertion index into 0..=len.
            let len = i64::try_from(l.len()).unwrap_or(i64::MAX);
            let i = if raw < 0 {
                (raw + len).max(0)
            } else {
                raw.min(len)
            };
            match l.insert(i as usize, &[item]) {
                Ok(()) => Reply::ok(0),
                Err(f) => full(f),
            }
        }
        op::INDEX => {
            let Some(cut) = args.len().checked_sub(8) else {
                return bad(args.len());
            };
            let (item, start) = args.split_at(cut);
            let start =
                u64_at(start, 0).map_or(usize::MAX, |s| usize::try_from(s).unwrap_or(usize::MAX));
            match l.position(start, |x| x == item) {
                Some(i) => Reply::status(status::OK, 1, i as u64),
                None => Reply::ok(0),
            }
        }
        op::REMOVE => match l.position(0, |x| x == args) {
            Some(i) => {
                l.remove(i);
                Reply::ok(1)
            }
            None => Reply::ok(0),
        },
        op::COUNT_OF => {
            let mut n = 0u64;
            let mut from = 0;
            while let Some(i) = l.position(from, |x| x == args) {
                n += 1;
                from = i + 1;
            }
            Reply::ok(n)
        }
        other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
    }
}

pub(super) fn value_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
    if r.fp_a != obj.fp_a {
        return mismatch(field::VALUE, obj.fp_a, r.fp_a);
    }
    let Some(Data::Records(v)) = &mut obj.data else {
        return Reply::status(status::NO_OBJECT, 0, 0);
    };
    match r.op {
        op::GET => with_payload(Reply::ok(0), copy_out(out, v.get(0).unwrap_or(&[]))),
        op::SET => match v.replace(0, &[args]) {
            Ok(()) => Reply::ok(0),
            Err(f) => full(f),
        },
        other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
    }
}
