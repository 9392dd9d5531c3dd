//! [`ListProxy`]: Python's `manager.list()`.

use std::marker::PhantomData;

use super::{Handle, Proxied, Token, records};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::{Error, ErrorKind as Kind, Result};
use crate::manager::encoding::{Encoding, Fixed, dec, enc};
use crate::manager::protocol::{REQUEST_HEADER, kind, op};

proxied!(
    /// A list on the server (Python's `manager.list()`): at most its capacity
    /// of items `T`. Indexes may be negative, counting from the end, as in
    /// Python.
    ///
    /// `E` is how items travel: [`Fixed`] [`Wire`](crate::manager::Wire)
    /// items (made by [`Client::list`](crate::manager::Client::list)), or
    /// [`Serde`](crate::manager::Serde) items of any length (made by
    /// `Client::list_serde`, feature
    /// `serde`).
    ListProxy [T, E: Encoding<T>] [T, E] struct [T, E = Fixed] (fn(T, E) -> T),
        kind::LIST, E::fingerprint(), 0
);

impl<T, E: Encoding<T>> ListProxy<T, E> {
    /// A call whose argument is `item`, after an index when `index` is
    /// given; answered by the reply's first number.
    fn with_item(
        &self,
        name: &'static str,
        op: u16,
        index: Option<i64>,
        item: &T,
    ) -> Result<(u64, u64)> {
        let resource = self.handle.resource();
        self.handle.try_call(
            name,
            op,
            |out| {
                let at = match index {
                    Some(i) => {
                        out[..8].copy_from_slice(&i.to_le_bytes());
                        8
                    }
                    None => 0,
                };
                Ok(at + enc::<E, T>(name, resource, item, &mut out[at..])?)
            },
            |a, b, _| Ok((a, b)),
        )
    }

    /// A call whose argument is an index, answered by an item.
    fn at_index(&self, name: &'static str, op: u16, index: i64) -> Result<T> {
        let resource = self.handle.resource();
        self.handle.try_call(
            name,
            op,
            |out| {
                out[..8].copy_from_slice(&index.to_le_bytes());
                Ok(8)
            },
            |_, _, p| dec::<E, T>(name, resource, p),
        )
    }

    /// `l.append(item)`; returns the new length.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] when the list is full (nothing
    /// changed); [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when
    /// the list was released; for [`Serde`](crate::manager::Serde) items,
    /// [`ErrorKind::EncodedSize`] for an item that does not fit in the
    /// list's free bytes or in a message (nothing changed), and
    /// [`ErrorKind::InvalidData`] for one that does not decode as `T`.
    pub fn append(&self, item: &T) -> Result<usize> {
        self.with_item("ListProxy::append", op::APPEND, None, item)
            .map(|(n, _)| n as usize)
    }

    /// `l.extend(items)`: all of them, or none when they do not all fit.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`]; [`ErrorKind::MessageSize`] (fixed items)
    /// or [`ErrorKind::EncodedSize`] (serde items) when the items do not
    /// fit in one message.
    pub fn extend(&self, items: &[T]) -> Result<usize> {
        const OP: &str = "ListProxy::extend";
        let resource = self.handle.resource();
        let size = E::fixed_size();
        if !E::VARIABLE {
            let bytes = items.len().saturating_mul(size);
            let room = self.handle.link.message_bytes() - REQUEST_HEADER;
            if bytes > room {
                return Err(Error::new(
                    OP,
                    resource,
                    Kind::MessageSize {
                        size: bytes,
                        capacity: room,
                    },
                ));
            }
        }
        self.handle.try_call(
            OP,
            op::EXTEND,
            |out| {
                if !E::VARIABLE && size == 0 {
                    // Items of no bytes travel as their count.
                    out[..8].copy_from_slice(&(items.len() as u64).to_le_bytes());
                    return Ok(8);
                }
                let mut at = 0;
                for item in items {
                    if E::VARIABLE {
                        // Each after its length.
                        let rest = out.get_mut(at + 4..).unwrap_or_default();
                        let n = enc::<E, T>(OP, resource, item, rest)?;
                        out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
                        at += 4 + n;
                    } else {
                        at += enc::<E, T>(OP, resource, item, &mut out[at..])?;
                    }
                }
                Ok(at)
            },
            |n, _, _| Ok(n as usize),
        )
    }

    /// `l[index]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::IndexOutOfRange`]; as [`ListProxy::append`].
    pub fn get(&self, index: i64) -> Result<T> {
        self.at_index("ListProxy::get", op::GET, index)
    }

    /// `l[index] = item`.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::get`].
    pub fn set(&self, index: i64, item: &T) -> Result<()> {
        self.with_item("ListProxy::set", op::SET, Some(index), item)
            .map(drop)
    }

    /// `l.insert(index, item)` (an index past either end inserts there,
    /// as in Python).
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn insert(&self, index: i64, item: &T) -> Result<()> {
        self.with_item("ListProxy::insert", op::INSERT, Some(index), item)
            .map(drop)
    }

    /// `l.pop(index)`: removes and returns the item (`-1`: the last).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::IndexOutOfRange`] (also for an empty list); as
    /// [`ListProxy::append`].
    pub fn pop(&self, index: i64) -> Result<T> {
        self.at_index("ListProxy::pop", op::POP_AT, index)
    }

    /// `l.index(item)`: the first index of an equal item, `None` when
    /// there is none (Python raises `ValueError`).
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn index(&self, item: &T) -> Result<Option<usize>> {
        const OP: &str = "ListProxy::index";
        let resource = self.handle.resource();
        self.handle.try_call(
            OP,
            op::INDEX,
            |out| {
                let n = enc::<E, T>(OP, resource, item, out)?;
                let start = out.get_mut(n..n + 8).ok_or_else(|| {
                    Error::new(
                        OP,
                        resource,
                        Kind::MessageSize {
                            size: n + 8,
                            capacity: n,
                        },
                    )
                })?;
                start.copy_from_slice(&0u64.to_le_bytes());
                Ok(n + 8)
            },
            |found, at, _| Ok((found != 0).then_some(at as usize)),
        )
    }

    /// `l.remove(item)`: removes the first equal item; `false` when there
    /// is none.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn remove(&self, item: &T) -> Result<bool> {
        self.with_item("ListProxy::remove", op::REMOVE, None, item)
            .map(|(found, _)| found != 0)
    }

    /// `l.count(item)`.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn count(&self, item: &T) -> Result<usize> {
        self.with_item("ListProxy::count", op::COUNT_OF, None, item)
            .map(|(n, _)| n as usize)
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
    /// (allocation-free with room, for items that do not allocate
    /// themselves); returns how many.
    ///
    /// # Errors
    ///
    /// As [`ListProxy::append`].
    pub fn snapshot_into<X: Extend<T>>(&self, out: &mut X) -> Result<usize> {
        const OP: &str = "ListProxy::snapshot";
        let resource = self.handle.resource();
        let fixed = (!E::VARIABLE).then(E::fixed_size);
        self.handle.try_call(
            OP,
            op::ITEMS,
            |_| Ok(0),
            |n, _, p| {
                records(OP, resource, p, n, fixed, |item| {
                    out.extend(core::iter::once(dec::<E, T>(OP, resource, item)?));
                    Ok(())
                })
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
