//! [`ValueProxy`] and [`NamespaceProxy`]: Python's `manager.Value()` and
//! `manager.Namespace()`.

use super::{Handle, Proxied, Token, decode_found, encode};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::manager::link::undecodable;
use crate::manager::protocol::{kind, op};
use crate::manager::wire::{Wire, fingerprint};
use crate::shm::FixedStr;
use std::marker::PhantomData;

proxied!(
    /// One value on the server (Python's `manager.Value(typecode, value)`).
    ValueProxy [T: Wire] [T] (fn(T) -> T), kind::VALUE, fingerprint::<T>(), 0
);

impl<T: Wire> ValueProxy<T> {
    /// `v.value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the value
    /// was released.
    pub fn get(&self) -> Result<T> {
        self.handle
            .call("ValueProxy::get", op::GET, 0, |_| 0, |_, _, p| T::decode(p))
    }

    /// `v.value = value`.
    ///
    /// # Errors
    ///
    /// As [`ValueProxy::get`].
    pub fn set(&self, value: &T) -> Result<()> {
        self.handle.call(
            "ValueProxy::set",
            op::SET,
            0,
            |out| encode(value, out),
            |_, _, _| Some(()),
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

    /// `ns.field = value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] for a name over 32 bytes or a new
    /// field when all are taken; [`ErrorKind::MessageSize`] for a value
    /// larger than the namespace's field size; [`ErrorKind::ManagerGone`].
    pub fn set<T: Wire>(&self, field: &str, value: &T) -> Result<()> {
        const OP: &str = "NamespaceProxy::set";
        let name = field_name(OP, field)?;
        self.call_typed(
            OP,
            op::SET,
            fingerprint::<T>(),
            |out| encode(&name, out) + encode(value, &mut out[FieldName::SIZE..]),
            |_, _| Some(()),
        )
    }

    /// `ns.field`: `None` when the field was never set.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LayoutMismatch`] when the field holds another type;
    /// as [`NamespaceProxy::set`].
    pub fn get<T: Wire>(&self, field: &str) -> Result<Option<T>> {
        const OP: &str = "NamespaceProxy::get";
        let name = field_name(OP, field)?;
        self.call_typed(
            OP,
            op::GET,
            fingerprint::<T>(),
            |out| encode(&name, out),
            |found, p| decode_found(found, p),
        )
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
