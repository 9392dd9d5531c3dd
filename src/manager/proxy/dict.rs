//! [`DictProxy`]: Python's `manager.dict()`.

use std::marker::PhantomData;

use super::{Handle, Proxied, Token, encode_pair, records, split_entry};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::manager::encoding::{Encoding, Fixed, dec, enc};
use crate::manager::protocol::{kind, op};

proxied!(
    /// A dict on the server (Python's `manager.dict()`): at most its
    /// capacity of keys `K`, each with a value `V`, kept in insertion order.
    /// Every operation is one request, atomic on the server.
    ///
    /// `E` is how keys and values travel: [`Fixed`] [`Wire`](crate::manager::Wire)
    /// values (made by [`Client::dict`](crate::manager::Client::dict)), or
    /// [`Serde`](crate::manager::Serde) values of any length (made by
    /// `Client::dict_serde`, feature
    /// `serde`).
    DictProxy [K, V, E: Encoding<K> + Encoding<V>] [K, V, E]
        struct [K, V, E = Fixed] (fn(K, E) -> V), kind::DICT,
        <E as Encoding<K>>::fingerprint(), <E as Encoding<V>>::fingerprint()
);

impl<K, V, E: Encoding<K> + Encoding<V>> DictProxy<K, V, E> {
    /// A request with the key only, answered by a value if `found`.
    fn keyed(&self, name: &'static str, op: u16, key: &K) -> Result<Option<V>> {
        let resource = self.handle.resource();
        self.handle.try_call(
            name,
            op,
            |out| enc::<E, K>(name, resource, key, out),
            |found, _, p| match found {
                0 => Ok(None),
                _ => dec::<E, V>(name, resource, p).map(Some),
            },
        )
    }

    /// `d[key]`: the value, `None` when the key is absent (Python's
    /// `d.get(key)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the dict
    /// was released; for [`Serde`](crate::manager::Serde) values,
    /// [`ErrorKind::EncodedSize`] for a key that does not fit in a message
    /// and [`ErrorKind::InvalidData`] for a value that does not decode as
    /// `V`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.keyed("DictProxy::get", op::GET, key)
    }

    /// `d[key] = value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] for a new key when the dict is full
    /// (nothing changed); for [`Serde`](crate::manager::Serde) values,
    /// [`ErrorKind::EncodedSize`] when the entry does not fit in the dict's
    /// free bytes (its knob [`OBJECT_BYTES_KNOB`](crate::manager::OBJECT_BYTES_KNOB);
    /// nothing changed, the old value kept) or in a message
    /// ([`MESSAGE_KNOB`](crate::manager::MESSAGE_KNOB)); as [`DictProxy::get`].
    pub fn set(&self, key: &K, value: &V) -> Result<()> {
        const OP: &str = "DictProxy::set";
        let resource = self.handle.resource();
        self.handle.try_call(
            OP,
            op::SET,
            |out| encode_pair::<E, K, V>(OP, resource, key, value, out),
            |_, _, _| Ok(()),
        )
    }

    /// `d.pop(key, None)`: removes the key, returning its value.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn pop(&self, key: &K) -> Result<Option<V>> {
        self.keyed("DictProxy::pop", op::POP, key)
    }

    /// `key in d`.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn contains(&self, key: &K) -> Result<bool> {
        const OP: &str = "DictProxy::contains";
        let resource = self.handle.resource();
        self.handle.try_call(
            OP,
            op::CONTAINS,
            |out| enc::<E, K>(OP, resource, key, out),
            |found, _, _| Ok(found != 0),
        )
    }

    /// `d.setdefault(key, default)`: the value of `key`, inserting
    /// `default` first if it is absent.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::set`].
    pub fn setdefault(&self, key: &K, default: &V) -> Result<V> {
        const OP: &str = "DictProxy::setdefault";
        let resource = self.handle.resource();
        self.handle.try_call(
            OP,
            op::SETDEFAULT,
            |out| encode_pair::<E, K, V>(OP, resource, key, default, out),
            |_, _, p| dec::<E, V>(OP, resource, p),
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
    /// `Vec` with room, for keys and values that do not allocate
    /// themselves); returns how many. Entries that do not fit in `out` are
    /// not pushed.
    ///
    /// # Errors
    ///
    /// As [`DictProxy::get`].
    pub fn items_into<X: Extend<(K, V)>>(&self, out: &mut X) -> Result<usize> {
        const OP: &str = "DictProxy::items";
        let resource = self.handle.resource();
        let var = <E as Encoding<K>>::VARIABLE;
        self.handle.try_call(
            OP,
            op::ITEMS,
            |_| Ok(0),
            |n, _, p| {
                // A fixed entry's size: a key and a value of their sizes;
                // the server sends them as it got them, one after another.
                let key_size = <E as Encoding<K>>::fixed_size();
                let fixed = (!var).then(|| key_size + <E as Encoding<V>>::fixed_size());
                records(OP, resource, p, n, fixed, |entry| {
                    let (k, v) = if var {
                        split_entry(OP, resource, entry)?
                    } else {
                        entry.split_at(key_size)
                    };
                    let k = dec::<E, K>(OP, resource, k)?;
                    let v = dec::<E, V>(OP, resource, v)?;
                    out.extend(core::iter::once((k, v)));
                    Ok(())
                })
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
