//! [`ValueProxy`] and [`NamespaceProxy`]: Python's `manager.Value()` and
//! `manager.Namespace()`.

use super::{Handle, Proxied, Token, encode};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::manager::encoding::{Encoding, Fixed, dec, enc};
use crate::manager::link::undecodable;
use crate::manager::protocol::{kind, op};
use crate::manager::wire::{Wire, fingerprint};
use crate::shm::FixedStr;
use std::marker::PhantomData;

proxied!(
    /// One value on the server (Python's `manager.Value(typecode, value)`).
    ///
    /// `E` is how it travels: a [`Fixed`] [`Wire`] value (made by
    /// [`Client::value`](crate::manager::Client::value)), or a
    /// [`Serde`](crate::manager::Serde) value of any length up to the bytes
    /// it was made with (made by
    /// `Client::value_serde`, feature
    /// `serde`).
    ValueProxy [T, E: Encoding<T>] [T, E] struct [T, E = Fixed] (fn(T, E) -> T),
        kind::VALUE, E::fingerprint(), 0
);

impl<T, E: Encoding<T>> ValueProxy<T, E> {
    /// `v.value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the value
    /// was released; [`ErrorKind::InvalidData`] for a serde value that
    /// does not decode as `T`.
    pub fn get(&self) -> Result<T> {
        const OP: &str = "ValueProxy::get";
        let resource = self.handle.resource();
        self.handle.try_call(
            OP,
            op::GET,
            |_| Ok(0),
            |_, _, p| dec::<E, T>(OP, resource, p),
        )
    }

    /// `v.value = value`.
    ///
    /// # Errors
    ///
    /// For a serde value, [`ErrorKind::EncodedSize`] when it does not fit
    /// in the bytes the value was made with (the old value kept) or in a
    /// message; as [`ValueProxy::get`].
    pub fn set(&self, value: &T) -> Result<()> {
        const OP: &str = "ValueProxy::set";
        let resource = self.handle.resource();
        self.handle.try_call(
            OP,
            op::SET,
            |out| enc::<E, T>(OP, resource, value, out),
            |_, _, _| Ok(()),
        )
    }
}

// ------------------------------------------------------------- namespace

/// The name of a [`NamespaceProxy`] field.
pub type FieldName = FixedStr<32>;

proxied!(
    /// A namespace on the server (Python's `manager.Namespace()`): named
    /// fields, each with a value of its own type (at most the namespace's
    /// field size in bytes). Reading a field as another type than it was set
    /// with is a [`ErrorKind::LayoutMismatch`].
    NamespaceProxy [] [] (()), kind::NAMESPACE, fingerprint::<FieldName>(), 0
);

fn field_name(op: &'static str, name: &str) -> Result<FieldName> {
    let mut f = FieldName::new();
    f.set(name).map_err(|_| {
        Error::new(
            op,
            Resource::Text {
                what: "a namespace field name",
                len: name.len(),
            },
            ErrorKind::CapacityExceeded { limit: 32 },
        )
    })?;
    Ok(f)
}

impl NamespaceProxy {
    fn call_typed<R>(
        &self,
        name: &'static str,
        op: u16,
        value_type: u64,
        fill: impl FnOnce(&mut [u8]) -> usize,
        decode: impl FnOnce(u64, &[u8]) -> Option<R>,
    ) -> Result<R> {
        let mut request = self.handle.request(op, 0);
        request.fp_b = value_type;
        let resource = self.handle.resource();
        self.handle
            .link
            .call(name, resource, request, fill, |r, p| {
                decode(r.a, p).ok_or_else(|| undecodable(name, resource))
            })
    }

    /// `ns.field = value` with the value encoded by `E`.
    fn set_as<T, E: Encoding<T>>(
        &self,
        op_name: &'static str,
        field: &str,
        value: &T,
    ) -> Result<()> {
        let name = field_name(op_name, field)?;
        let resource = self.handle.resource();
        let mut request = self.handle.request(op::SET, 0);
        request.fp_b = E::fingerprint();
        self.handle.link.try_call(
            op_name,
            resource,
            request,
            |out| {
                let at = encode(&name, out);
                Ok(at + enc::<E, T>(op_name, resource, value, &mut out[at..])?)
            },
            |_, _| Ok(()),
        )
    }

    /// `ns.field` with the value decoded by `E`.
    fn get_as<T, E: Encoding<T>>(&self, op_name: &'static str, field: &str) -> Result<Option<T>> {
        let name = field_name(op_name, field)?;
        let resource = self.handle.resource();
        let mut request = self.handle.request(op::GET, 0);
        request.fp_b = E::fingerprint();
        self.handle.link.call(
            op_name,
            resource,
            request,
            |out| encode(&name, out),
            |r, p| match r.a {
                0 => Ok(None),
                _ => dec::<E, T>(op_name, resource, p).map(Some),
            },
        )
    }

    /// `ns.field = value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] for a name over 32 bytes or a new
    /// field when all are taken; [`ErrorKind::MessageSize`] for a value
    /// larger than the namespace's field size; [`ErrorKind::ManagerGone`].
    pub fn set<T: Wire>(&self, field: &str, value: &T) -> Result<()> {
        self.set_as::<T, Fixed>("NamespaceProxy::set", field, value)
    }

    /// `ns.field`: `None` when the field was never set.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LayoutMismatch`] when the field holds another type;
    /// as [`NamespaceProxy::set`].
    pub fn get<T: Wire>(&self, field: &str) -> Result<Option<T>> {
        self.get_as::<T, Fixed>("NamespaceProxy::get", field)
    }

    /// `ns.field = value` for a value of any serde type (feature `serde`),
    /// postcard-encoded into at most the namespace's field size.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EncodedSize`] when the encoding is larger than the
    /// namespace's field size (its knob: `field_bytes` of
    /// [`Client::namespace`](crate::manager::Client::namespace); the field
    /// keeps its old value); as [`NamespaceProxy::set`].
    #[cfg(feature = "serde")]
    pub fn set_serde<T>(&self, field: &str, value: &T) -> Result<()>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        const OP: &str = "NamespaceProxy::set_serde";
        self.set_as::<T, crate::manager::Serde>(OP, field, value)
            .map_err(|e| match e.kind() {
                // The server's word for a value past the field size.
                ErrorKind::MessageSize { size, capacity } => Error::new(
                    OP,
                    e.resource(),
                    ErrorKind::EncodedSize {
                        size,
                        capacity,
                        knob: crate::manager::OBJECT_BYTES_KNOB,
                    },
                ),
                _ => e,
            })
    }

    /// `ns.field` for a value set with `NamespaceProxy::set_serde`:
    /// `None` when the field was never set.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LayoutMismatch`] when the field holds another type;
    /// [`ErrorKind::InvalidData`] when its bytes do not decode as `T`; as
    /// [`NamespaceProxy::set`].
    #[cfg(feature = "serde")]
    pub fn get_serde<T>(&self, field: &str) -> Result<Option<T>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        self.get_as::<T, crate::manager::Serde>("NamespaceProxy::get_serde", field)
    }

    /// `del ns.field`; `false` when it was not set.
    ///
    /// # Errors
    ///
    /// As [`NamespaceProxy::set`].
    pub fn remove(&self, field: &str) -> Result<bool> {
        const OP: &str = "NamespaceProxy::remove";
        let name = field_name(OP, field)?;
        self.call_typed(
            OP,
            op::POP,
            0,
            |out| encode(&name, out),
            |found, _| Some(found != 0),
        )
    }

    /// The names of the fields set, in the order they were first set,
    /// pushed onto `out`; returns how many.
    ///
    /// # Errors
    ///
    /// As [`NamespaceProxy::set`].
    pub fn fields_into<E: Extend<FieldName>>(&self, out: &mut E) -> Result<usize> {
        self.call_typed(
            "NamespaceProxy::fields",
            op::ITEMS,
            0,
            |_| 0,
            |n, p| {
                for i in 0..n as usize {
                    let at = i * FieldName::SIZE;
                    out.extend(core::iter::once(FieldName::decode(
                        p.get(at..at + FieldName::SIZE)?,
                    )?));
                }
                Some(n as usize)
            },
        )
    }
}
