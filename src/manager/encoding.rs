//! How a proxy's keys, values and items travel: [`Fixed`] ([`Wire`]
//! values of one size, the default) or [`Serde`] (any `Serialize +
//! DeserializeOwned` value, postcard-encoded, of any length up to the
//! object's byte capacity; feature `serde`).
//!
//! The proxies take the encoding as their last type parameter:
//! `DictProxy<u32, FixedStr<8>>` is `DictProxy<u32, FixedStr<8>, Fixed>`,
//! made by [`Client::dict`](super::Client::dict);
//! `DictProxy<String, Vec<String>, Serde>` is made by
//! `Client::dict_serde`. Both have the same
//! methods.

use super::wire::{Wire, fingerprint};
use crate::error::{Error, ErrorKind, Resource, Result};

/// What raises the room of one manager message: the `knob` of an
/// [`ErrorKind::EncodedSize`] for a value that does not fit in a request.
pub const MESSAGE_KNOB: &str =
    "Builder::message_bytes (or MPROC_MANAGER_MESSAGE_BYTES): the bytes of one manager message";

/// What raises an object's byte capacity: the `knob` of an
/// [`ErrorKind::EncodedSize`] for a value the object has no room for.
pub const OBJECT_BYTES_KNOB: &str = "the `bytes` the object was made with (Client::dict_serde, \
     list_serde, value_serde, queue_serde), or the namespace's `field_bytes`";

/// Keys, values and items as [`Wire`] values: one fixed size, one
/// canonical encoding (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct Fixed;

/// Keys, values and items of any `Serialize + DeserializeOwned` type,
/// encoded with postcard (feature `serde`). Their type check is the
/// type's name ([`core::any::type_name`]): two programs must name the
/// type alike. (Without the feature the marker exists, but no type is
/// encoded with it.)
#[derive(Clone, Copy, Debug, Default)]
pub struct Serde;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Fixed {}
    impl Sealed for super::Serde {}
}

/// How a proxy encodes values of `T`: implemented by [`Fixed`] for every
/// [`Wire`] type and by [`Serde`] for every serde type; not meant to be
/// implemented outside this crate.
pub trait Encoding<T>: sealed::Sealed + 'static {
    /// Whether values have lengths of their own (the server keeps them in
    /// a byte arena and length-prefixes them in snapshots).
    #[doc(hidden)]
    const VARIABLE: bool;
    /// The type check the server compares on every call.
    #[doc(hidden)]
    fn fingerprint() -> u64;
    /// Bytes of every value (0 for a variable encoding).
    #[doc(hidden)]
    fn fixed_size() -> usize;
    /// Writes `value` at the start of `out`; its length, or an
    /// [`ErrorKind::EncodedSize`] naming [`MESSAGE_KNOB`] when `out` is
    /// too short.
    #[doc(hidden)]
    fn encode(op: &'static str, resource: Resource, value: &T, out: &mut [u8]) -> Result<usize>;
    /// The value `bytes` (all of them) encode.
    #[doc(hidden)]
    fn decode(op: &'static str, resource: Resource, bytes: &[u8]) -> Result<T>;
}

impl<T: Wire> Encoding<T> for Fixed {
    const VARIABLE: bool = false;
    fn fingerprint() -> u64 {
        fingerprint::<T>()
    }
    fn fixed_size() -> usize {
        T::SIZE
    }
    fn encode(op: &'static str, resource: Resource, value: &T, out: &mut [u8]) -> Result<usize> {
        let Some(slot) = out.get_mut(..T::SIZE) else {
            return Err(Error::new(
                op,
                resource,
                ErrorKind::MessageSize {
                    size: T::SIZE,
                    capacity: out.len(),
                },
            ));
        };
        value.encode(slot);
        Ok(T::SIZE)
    }
    fn decode(op: &'static str, resource: Resource, bytes: &[u8]) -> Result<T> {
        T::decode(bytes).ok_or_else(|| super::link::undecodable(op, resource))
    }
}

/// The type check of a serde type: 64-bit FNV-1a over `serde:` and its
/// name (so it never equals a [`Wire`] type's).
#[cfg(feature = "serde")]
pub(crate) fn serde_fingerprint<T: ?Sized>() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in b"serde:"
        .iter()
        .chain(core::any::type_name::<T>().as_bytes())
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(feature = "serde")]
impl<T: serde::Serialize + serde::de::DeserializeOwned + 'static> Encoding<T> for Serde {
    const VARIABLE: bool = true;
    fn fingerprint() -> u64 {
        serde_fingerprint::<T>()
    }
    fn fixed_size() -> usize {
        0
    }
    fn encode(op: &'static str, resource: Resource, value: &T, out: &mut [u8]) -> Result<usize> {
        crate::ipc::codec::encode_as(op, resource, MESSAGE_KNOB, value, out)
    }
    fn decode(op: &'static str, resource: Resource, bytes: &[u8]) -> Result<T> {
        crate::ipc::codec::decode_as(op, resource, bytes)
    }
}

/// `<E as Encoding<T>>::encode`, the type named once.
pub(crate) fn enc<E: Encoding<T>, T>(
    op: &'static str,
    resource: Resource,
    value: &T,
    out: &mut [u8],
) -> Result<usize> {
    E::encode(op, resource, value, out)
}

/// `<E as Encoding<T>>::decode`, the type named once.
pub(crate) fn dec<E: Encoding<T>, T>(
    op: &'static str,
    resource: Resource,
    bytes: &[u8],
) -> Result<T> {
    E::decode(op, resource, bytes)
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn serde_and_wire_type_checks_differ() {
        assert_ne!(
            <Serde as Encoding<u32>>::fingerprint(),
            <Fixed as Encoding<u32>>::fingerprint()
        );
        assert_ne!(
            serde_fingerprint::<String>(),
            serde_fingerprint::<Vec<u8>>()
        );
    }
}
