//! The plain objects' operations: dicts, namespaces, lists, arrays and values,
//! each answered at once from the request's arguments (already copied out
//! of the channel and bounded by the message size).

use super::{Data, Object};
use crate::manager::protocol::{Reply, Request, field, op, status};
use crate::manager::store::List;

pub(super) fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

pub(super) fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

pub(super) fn bad(len: usize) -> Reply {
    Reply::status(status::BAD_REQUEST, len as u64, 0)
}

pub(super) fn mismatch(f: u16, expected: u64, found: u64) -> Reply {
    let mut r = Reply::status(status::TYPE_MISMATCH, expected, found);
    r.extra = f;
    r
}

pub(super) fn with_payload(mut reply: Reply, len: usize) -> Reply {
    reply.len = len as u32;
    reply
}

/// A Python-style index (negative counts from the end) into `len`.
pub(super) fn python_index(raw: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let i = if raw < 0 { raw + len_i } else { raw };
    (0..len_i).contains(&i).then_some(i as usize)
}

pub(super) fn dict_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
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

pub(super) fn namespace_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
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

pub(super) fn list_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
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
            // An extend of items of no bytes carries their count instead.
            let (items, count) = match (r.op, s) {
                (op::APPEND, _) if args.len() == s => (args, 1),
                (op::EXTEND, 0) => match u64_at(args, 0).filter(|_| args.len() == 8) {
                    Some(n) => (&args[..0], usize::try_from(n).unwrap_or(usize::MAX)),
                    None => return bad(args.len()),
                },
                (op::EXTEND, s) if args.len().is_multiple_of(s) => (args, args.len() / s),
                _ => return bad(args.len()),
            };
            match l.extend(items, count) {
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

/// An array: a list of fixed length, so only the operations that keep
/// it (`len`, `a[i]`, `a[i] = x`, a snapshot).
pub(super) fn array_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
    match r.op {
        op::LEN | op::GET | op::SET | op::ITEMS => list_op(obj, r, args, out),
        other => Reply::status(status::UNKNOWN_METHOD, u64::from(other), 0),
    }
}

pub(super) fn value_op(obj: &mut Object, r: &Request, args: &[u8], out: &mut [u8]) -> Reply {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn array(items: &[u8]) -> Object {
        let mut l = List::new(1, items.len());
        l.extend(items, items.len()).unwrap();
        Object {
            kind: crate::manager::protocol::kind::ARRAY,
            generation: 1,
            name: heapless::String::new(),
            fp_a: 42,
            fp_b: 0,
            a_size: 1,
            b_size: 0,
            var: false,
            data: Some(Data::List(l)),
        }
    }

    #[test]
    fn an_array_refuses_every_operation_that_would_change_its_length() {
        let mut a = array(b"xyz");
        let mut out = [0u8; 64];
        let request = |op| Request {
            op,
            fp_a: 42,
            ..Request::default()
        };
        let index_and_item = [0u8, 0, 0, 0, 0, 0, 0, 0, b'q'];
        for (op, args) in [
            (op::APPEND, &b"q"[..]),
            (op::EXTEND, &b"qq"[..]),
            (op::INSERT, &index_and_item[..]),
            (op::POP_AT, &index_and_item[..8]),
            (op::REMOVE, &b"x"[..]),
            (op::CLEAR, &[][..]),
            (op::REVERSE, &[][..]),
        ] {
            let r = array_op(&mut a, &request(op), args, &mut out);
            assert_eq!(r.status, status::UNKNOWN_METHOD, "op {op}");
        }
        assert_eq!(array_op(&mut a, &request(op::LEN), &[], &mut out).a, 3);
        let r = array_op(&mut a, &request(op::SET), &index_and_item, &mut out);
        assert_eq!(r.status, status::OK);
        let r = array_op(&mut a, &request(op::ITEMS), &[], &mut out);
        assert_eq!((r.a, &out[..r.len as usize]), (3, &b"qyz"[..]));
    }
}
