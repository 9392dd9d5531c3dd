//! Values of any `Serialize` type as bytes (feature `serde`): the
//! [postcard](https://docs.rs/postcard) encoding, written into a caller's
//! buffer without allocating.
//!
//! [`encode`] writes a value into a `&mut [u8]` and returns its length; a
//! buffer too short is an [`ErrorKind::EncodedSize`] naming the encoded
//! size and the room there was (never a panic, never a cut value).
//! [`encoded_size`] tells the length first, without writing. [`decode`]
//! reads a value back; a message that is not exactly one value of the
//! type (malformed, cut short, or followed by more bytes) is an
//! [`ErrorKind::InvalidData`]. Only the value's own type allocates, when
//! it is built (a `String`, a `Vec`…).
//!
//! [`Connection::send_value`](crate::ipc::Connection::send_value) and
//! [`MessageQueue::send_value`](crate::ipc::MessageQueue::send_value) use
//! it to carry such values between processes.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use mproc::ipc::codec;
//!
//! let value = (7u32, String::from("seven"), vec![1u8, 2, 3]);
//! let mut buf = [0u8; 64];
//! let len = codec::encode(&value, &mut buf)?;
//! assert_eq!(len, codec::encoded_size(&value)?);
//! let back: (u32, String, Vec<u8>) = codec::decode(&buf[..len])?;
//! assert_eq!(back, value);
//!
//! // Too short: a typed error with both sizes, nothing written that counts.
//! let err = codec::encode(&value, &mut buf[..4]).unwrap_err();
//! assert_eq!(
//!     err.kind(),
//!     mproc::ErrorKind::EncodedSize { size: len, capacity: 4, knob: codec::BUFFER_KNOB }
//! );
//! # }
//! # Ok::<(), mproc::Error>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Resource, Result};

/// What raises the room for [`encode`]: the
/// [`EncodedSize`](crate::ErrorKind::EncodedSize) error's `knob`.
pub const BUFFER_KNOB: &str = "pass a buffer of at least the encoded size (codec::encoded_size)";

/// The length of `value`'s encoding, in bytes (one pass over the value,
/// nothing written or allocated).
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`] for a
/// value postcard cannot encode (see [`encode`]).
pub fn encoded_size<T: Serialize + ?Sized>(value: &T) -> Result<usize> {
    size_as("codec::encoded_size", Resource::CurrentProcess, value)
}

/// Writes `value`'s encoding at the start of `buf` and returns its length.
///
/// # Errors
///
/// [`ErrorKind::EncodedSize`] (the encoded
/// size, `buf.len()`, [`BUFFER_KNOB`]) when `buf` is too short: what it
/// holds then means nothing. [`ErrorKind::InvalidArgument`]
/// for a value postcard cannot encode: a sequence or map whose length is
/// not known in advance, or a `Serialize` impl that failed.
pub fn encode<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<usize> {
    let resource = Resource::Container {
        what: "encode buffer",
        capacity: buf.len(),
    };
    encode_as("codec::encode", resource, BUFFER_KNOB, value, buf)
}

/// Reads one value from `bytes`, which must hold exactly its encoding.
///
/// # Errors
///
/// [`ErrorKind::InvalidData`], saying what
/// was wrong, when `bytes` is not one value of type `T`: malformed, cut
/// short, or followed by more bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let resource = Resource::Text {
        what: "encoded value",
        len: bytes.len(),
    };
    decode_as("codec::decode", resource, bytes)
}

/// [`encoded_size`] as `op` on `resource`.
pub(crate) fn size_as<T: Serialize + ?Sized>(
    op: &'static str,
    resource: Resource,
    value: &T,
) -> Result<usize> {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .map_err(|e| Error::new(op, resource, encode_kind(&e)))
}

/// [`encode`] as `op` on `resource`, naming `knob` when `buf` is short.
pub(crate) fn encode_as<T: Serialize + ?Sized>(
    op: &'static str,
    resource: Resource,
    knob: &'static str,
    value: &T,
    buf: &mut [u8],
) -> Result<usize> {
    let capacity = buf.len();
    match postcard::to_slice(value, buf) {
        Ok(written) => Ok(written.len()),
        Err(postcard::Error::SerializeBufferFull) => {
            let size = size_as(op, resource, value)?;
            Err(Error::new(
                op,
                resource,
                ErrorKind::EncodedSize {
                    size,
                    capacity,
                    knob,
                },
            ))
        }
        Err(e) => Err(Error::new(op, resource, encode_kind(&e))),
    }
}

/// [`decode`] as `op` on `resource`.
pub(crate) fn decode_as<T: DeserializeOwned>(
    op: &'static str,
    resource: Resource,
    bytes: &[u8],
) -> Result<T> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok(_) => Err(Error::new(
            op,
            resource,
            ErrorKind::InvalidData("bytes left over after the value"),
        )),
        Err(e) => Err(Error::new(
            op,
            resource,
            ErrorKind::InvalidData(decode_reason(&e)),
        )),
    }
}

fn encode_kind(e: &postcard::Error) -> ErrorKind {
    ErrorKind::InvalidArgument(match e {
        postcard::Error::SerializeSeqLengthUnknown => {
            "postcard encodes sequences and maps of known length only"
        }
        postcard::Error::SerdeSerCustom => "the value's Serialize impl failed",
        postcard::Error::WontImplement | postcard::Error::NotYetImplemented => {
            "postcard cannot encode this type"
        }
        _ => "the value cannot be encoded with postcard",
    })
}

fn decode_reason(e: &postcard::Error) -> &'static str {
    match e {
        postcard::Error::DeserializeUnexpectedEnd => "the message ends inside the value",
        postcard::Error::DeserializeBadVarint => "a malformed integer",
        postcard::Error::DeserializeBadBool => "a bool that is neither 0 nor 1",
        postcard::Error::DeserializeBadChar => "an invalid char",
        postcard::Error::DeserializeBadUtf8 => "a string that is not UTF-8",
        postcard::Error::DeserializeBadOption => "an Option tag that is neither 0 nor 1",
        postcard::Error::DeserializeBadEnum => "an enum variant out of range",
        postcard::Error::SerdeDeCustom => "the type's Deserialize impl refused it",
        postcard::Error::WontImplement | postcard::Error::NotYetImplemented => {
            "postcard cannot decode this type"
        }
        _ => "not an encoding of this type",
    }
}
