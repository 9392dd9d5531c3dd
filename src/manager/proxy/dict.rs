//! [`DictProxy`]: Python's `manager.dict()`.

use super::{Handle, Proxied, Token, decode_found, encode};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::manager::protocol::{kind, op};
use crate::manager::wire::{Wire, fingerprint};
use std::marker::PhantomData;

proxied!(
    /// A dict on the server (Python's `manager.dict()`): at most its
    /// capacity of keys `K`, each with a value `V`, kept in insertion order.
    /// Every operation is one request, atomic on the server.
    DictProxy [K: Wire, V: Wire] [K, V] (fn(K) -> V), kind::DICT, fingerprint::<K>(), fingerprint::<V>()
);

impl<K: Wire, V: Wire> DictProxy<K, V> {
    /// `d[key]`: the value, `None` when the key is absent (Python's
    /// `d.get(key)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the dict
    /// was released.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.handle.call(
            "DictProxy::get",
            op::GET,
            0,
            |out| encode(key, out),
            |found, _, p| decode_found(found, p),
        )
    }

    /// `d[key] = value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] for a new key when the dict is full
    /// (nothing changed); as [`DictProxy::get`].
    pub fn set(&self, key: &K, value: &V) -> Result<()> {
        self.handle.call(
            "DictProxy::set",
            op::SET,
            0,
            |out| encode(key, out) + encode(value, &mut out[K::SIZE..]),
            |_, _, _| Some(()),
        )
    }

    /// `d.pop(key, None)`: removes the key, returning its value.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn pop(&self, key: &K) -> Result<Option<V>> {
        self.handle.call(
            "DictProxy::pop",
            op::POP,
            0,
            |out| encode(key, out),
            |found, _, p| decode_found(found, p),
        )
    }

    /// `key in d`.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn contains(&self, key: &K) -> Result<bool> {
        self.handle.call(
            "DictProxy::contains",
            op::CONTAINS,
            0,
            |out| encode(key, out),
            |found, _, _| Some(found != 0),
        )
    }

    /// `d.setdefault(key, default)`: the value of `key`, inserting
    /// `default` first if it is absent.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::set`].
    pub fn setdefault(&self, key: &K, default: &V) -> Result<V> {
        self.handle.call(
            "DictProxy::setdefault",
            op::SETDEFAULT,
            0,
            |out| encode(key, out) + encode(default, &mut out[K::SIZE..]),
            |_, _, p| V::decode(p),
        )
    }

    /// `len(d)`.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn len(&self) -> Result<usize> {
        self.handle
            .number("DictProxy::len", op::LEN)
            .map(|n| n as usize)
    }

    /// `len(d) == 0`.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// `d.clear()`.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn clear(&self) -> Result<()> {
        self.handle.number("DictProxy::clear", op::CLEAR).map(drop)
    }

    /// Every `(key, value)` in insertion order, as one atomic snapshot,
    /// pushed onto `out` (allocation-free with a `heapless::Vec` or a
    /// `Vec` with room); returns how many. Entries that do not fit in
    /// `out` are not pushed.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn items_into<E: Extend<(K, V)>>(&self, out: &mut E) -> Result<usize> {
        self.handle.call(
            "DictProxy::items",
            op::ITEMS,
            0,
            |_| 0,
            |n, _, p| {
                let step = K::SIZE + V::SIZE;
                let mut count = 0;
                for i in 0..n as usize {
                    let at = i * step;
                    let entry = p.get(at..at + step)?;
                    let k = K::decode(&entry[..K::SIZE])?;
                    let v = V::decode(&entry[K::SIZE..])?;
                    out.extend(core::iter::once((k, v)));
                    count += 1;
                }
                Some(count)
            },
        )
    }

    /// Every `(key, value)` in insertion order (one atomic snapshot), in a
    /// new `Vec` (allocates: [`DictProxy::items_into`] does not). Python's
    /// `d.items()` / `dict(d)`.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        let mut v = Vec::new();
        self.items_into(&mut v)?;
        Ok(v)
    }
}
