//! [`ListProxy`]: Python's `manager.list()`.

use super::{Handle, Proxied, Token, encode};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::protocol::{kind, op};
use crate::manager::wire::{Wire, fingerprint};
use std::marker::PhantomData;

proxied!(
    /// A list on the server (Python's `manager.list()`): at most its capacity
    /// of items `T`. Indexes may be negative, counting from the end, as in
    /// Python.
    ListProxy [T: Wire] [T] (fn(T) -> T), kind::LIST, fingerprint::<T>(), 0
);

impl<T: Wire> ListProxy<T> {
    /// `l.append(item)`; returns the new length.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] when the list is full (nothing
    /// changed); [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when
    /// the list was released.
    pub fn append(&self, item: &T) -> Result<usize> {
        self.handle.call(
            "ListProxy::append",
            op::APPEND,
            0,
            |out| encode(item, out),
            |n, _, _| Some(n as usize),
        )
    }

    /// `l.extend(items)`: all of them, or none when they do not all fit.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`]; [`ErrorKind::MessageSize`] when the items
    /// do not fit in one message.
    pub fn extend(&self, items: &[T]) -> Result<usize> {
        let bytes = items.len().saturating_mul(T::SIZE);
        let room = crate::config::MANAGER_MESSAGE_BYTES - crate::manager::protocol::REQUEST_HEADER;
        if bytes > room {
            return Err(Error::new(
                "ListProxy::extend",
                self.handle.resource(),
                ErrorKind::MessageSize {
                    size: bytes,
                    capacity: room,
                },
            ));
        }
        self.handle.call(
            "ListProxy::extend",
            op::EXTEND,
            0,
            |out| {
                if T::SIZE == 0 {
                    // Items of no bytes travel as their count.
                    return encode(&(items.len() as u64), out);
                }
                for (i, item) in items.iter().enumerate() {
                    encode(item, &mut out[i * T::SIZE..]);
                }
                bytes
            },
            |n, _, _| Some(n as usize),
        )
    }

    /// `l[index]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::IndexOutOfRange`]; as [`ListProxy::append`].
    pub fn get(&self, index: i64) -> Result<T> {
        self.handle.call(
            "ListProxy::get",
            op::GET,
            0,
            |out| encode(&index, out),
            |_, _, p| T::decode(p),
        )
    }

    /// `l[index] = item`.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::get`].
    pub fn set(&self, index: i64, item: &T) -> Result<()> {
        self.handle.call(
            "ListProxy::set",
            op::SET,
            0,
            |out| encode(&index, out) + encode(item, &mut out[8..]),
            |_, _, _| Some(()),
        )
    }

    /// `l.insert(index, item)` (an index past either end inserts there,
    /// as in Python).
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn insert(&self, index: i64, item: &T) -> Result<()> {
        self.handle.call(
            "ListProxy::insert",
            op::INSERT,
            0,
            |out| encode(&index, out) + encode(item, &mut out[8..]),
            |_, _, _| Some(()),
        )
    }

    /// `l.pop(index)`: removes and returns the item (`-1`: the last).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::IndexOutOfRange`] (also for an empty list); as
    /// [`ListProxy::append`].
    pub fn pop(&self, index: i64) -> Result<T> {
        self.handle.call(
            "ListProxy::pop",
            op::POP_AT,
            0,
            |out| encode(&index, out),
            |_, _, p| T::decode(p),
        )
    }

    /// `l.index(item)`: the first index of an equal item, `None` when
    /// there is none (Python raises `ValueError`).
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn index(&self, item: &T) -> Result<Option<usize>> {
        self.handle.call(
            "ListProxy::index",
            op::INDEX,
            0,
            |out| encode(item, out) + encode(&0u64, &mut out[T::SIZE..]),
            |found, at, _| Some((found != 0).then_some(at as usize)),
        )
    }

    /// `l.remove(item)`: removes the first equal item; `false` when there
    /// is none.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn remove(&self, item: &T) -> Result<bool> {
        self.handle.call(
            "ListProxy::remove",
            op::REMOVE,
            0,
            |out| encode(item, out),
            |found, _, _| Some(found != 0),
        )
    }

    /// `l.count(item)`.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn count(&self, item: &T) -> Result<usize> {
        self.handle.call(
            "ListProxy::count",
            op::COUNT_OF,
            0,
            |out| encode(item, out),
            |n, _, _| Some(n as usize),
        )
    }

    /// `l.reverse()`.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn reverse(&self) -> Result<()> {
        self.handle
            .number("ListProxy::reverse", op::REVERSE)
            .map(drop)
    }

    /// `l.clear()`.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn clear(&self) -> Result<()> {
        self.handle.number("ListProxy::clear", op::CLEAR).map(drop)
    }

    /// `len(l)`.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn len(&self) -> Result<usize> {
        self.handle
            .number("ListProxy::len", op::LEN)
            .map(|n| n as usize)
    }

    /// `len(l) == 0`.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// Every item in order, as one atomic snapshot, pushed onto `out`
    /// (allocation-free with room); returns how many.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn snapshot_into<E: Extend<T>>(&self, out: &mut E) -> Result<usize> {
        self.handle.call(
            "ListProxy::snapshot",
            op::ITEMS,
            0,
            |_| 0,
            |n, _, p| {
                for i in 0..n as usize {
                    let item = T::decode(p.get(i * T::SIZE..(i + 1) * T::SIZE)?)?;
                    out.extend(core::iter::once(item));
                }
                Some(n as usize)
            },
        )
    }

    /// Every item in order (one atomic snapshot) in a new `Vec`
    /// (allocates: [`ListProxy::snapshot_into`] does not). Python's
    /// `list(l)`; iterate over it.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn snapshot(&self) -> Result<Vec<T>> {
        let mut v = Vec::new();
        self.snapshot_into(&mut v)?;
        Ok(v)
    }
}
