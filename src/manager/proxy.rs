//! The proxies: cheap typed handles that send each operation to the
//! server and decode its reply.

use std::marker::PhantomData;
use std::sync::Arc;

use super::encoding::{Encoding, enc};
use super::link::{Link, undecodable};
use super::protocol::{Request, kind, op};
use super::server::NAME_MAX;
use super::wire::Wire;
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys;

/// What every proxy holds: the link, the object's number and generation,
/// and the process that releases it on drop (its creator).
#[doc(hidden)]
pub struct Handle {
    pub(crate) link: Arc<Link>,
    pub(crate) id: u32,
    pub(crate) generation: u32,
    pub(crate) kind: u16,
    pub(crate) fp_a: u64,
    pub(crate) fp_b: u64,
    /// The pid whose drop releases the object (`None`: a proxy opened by
    /// name or from a token, which never releases).
    pub(crate) owner: Option<i32>,
}

impl Handle {
    pub(crate) fn resource(&self) -> Resource {
        Resource::ManagerObject {
            kind: kind::name(self.kind),
            id: self.id,
        }
    }

    fn request(&self, op: u16, flags: u16) -> Request {
        Request {
            object: self.id,
            generation: self.generation,
            op,
            flags,
            len: 0,
            fp_a: self.fp_a,
            fp_b: self.fp_b,
        }
    }

    /// One call: `fill` writes the arguments, `decode` reads the reply.
    fn call<R>(
        &self,
        name: &'static str,
        op: u16,
        flags: u16,
        fill: impl FnOnce(&mut [u8]) -> usize,
        decode: impl FnOnce(u64, u64, &[u8]) -> Option<R>,
    ) -> Result<R> {
        let resource = self.resource();
        self.link.call(
            name,
            resource,
            self.request(op, flags),
            fill,
            |reply, payload| {
                decode(reply.a, reply.b, payload).ok_or_else(|| undecodable(name, resource))
            },
        )
    }

    /// [`Handle::call`] whose arguments and reply may fail to encode or
    /// decode (a value's own error).
    fn try_call<R>(
        &self,
        name: &'static str,
        op: u16,
        fill: impl FnOnce(&mut [u8]) -> Result<usize>,
        decode: impl FnOnce(u64, u64, &[u8]) -> Result<R>,
    ) -> Result<R> {
        self.link.try_call(
            name,
            self.resource(),
            self.request(op, 0),
            fill,
            |reply, payload| decode(reply.a, reply.b, payload),
        )
    }

    /// A call without arguments answered by the reply's first number.
    fn number(&self, name: &'static str, op: u16) -> Result<u64> {
        self.call(name, op, 0, |_| 0, |a, _, _| Some(a))
    }

    fn publish(&self, name: &str) -> Result<()> {
        const OP: &str = "publish";
        published_name(OP, name)?;
        let request = Request {
            op: op::PUBLISH,
            ..Request::default()
        };
        self.link.call(
            OP,
            self.resource(),
            request,
            |out| {
                out[0..4].copy_from_slice(&self.id.to_le_bytes());
                out[4..8].copy_from_slice(&self.generation.to_le_bytes());
                out[8..8 + name.len()].copy_from_slice(name.as_bytes());
                8 + name.len()
            },
            |_, _| Ok(()),
        )
    }

    fn token<P>(&self) -> Token<P> {
        let mut address = heapless::String::new();
        // Fits: a link's address has the same capacity.
        let _ = address.push_str(self.link.address());
        Token {
            address,
            id: self.id,
            generation: self.generation,
            _proxy: PhantomData,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.owner != Some(sys::process::getpid()) {
            return;
        }
        let request = Request {
            op: op::RELEASE,
            ..Request::default()
        };
        // A server that is gone has nothing left to release.
        let _ = self.link.call(
            "release",
            self.resource(),
            request,
            |out| {
                out[0..4].copy_from_slice(&self.id.to_le_bytes());
                out[4..8].copy_from_slice(&self.generation.to_le_bytes());
                8
            },
            |_, _| Ok(()),
        );
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} at {}",
            kind::name(self.kind),
            self.id,
            self.link.address()
        )
    }
}

/// A proxy's object by its manager's address and number: plain data that
/// can be given to a [`Pool`](crate::pool::Pool) task (it is
/// [`TaskData`](crate::pool::TaskData)), where [`Token::connect`] makes a
/// proxy with its own connection. Python pickles a proxy for the same
/// purpose, and the receiving process reconnects the same way.
pub struct Token<P> {
    address: heapless::String<{ super::link::ADDRESS_MAX }>,
    id: u32,
    generation: u32,
    _proxy: PhantomData<fn() -> P>,
}

impl<P> Clone for Token<P> {
    fn clone(&self) -> Self {
        Token {
            address: self.address.clone(),
            id: self.id,
            generation: self.generation,
            _proxy: PhantomData,
        }
    }
}

impl<P> std::fmt::Debug for Token<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({} at {})", self.id, self.address)
    }
}

#[cfg(feature = "pool")]
#[allow(unsafe_code)]
// SAFETY: an inline string and two numbers: no pointer, no descriptor, no
// drop glue beyond the value's own bytes (the PhantomData is zero-sized).
unsafe impl<P: 'static> crate::pool::TaskData for Token<P> {}

impl<P: Proxied> Token<P> {
    /// Connects to the manager (a new connection of this process) and
    /// makes a proxy for the object. The proxy does not release the object
    /// when dropped: its creator's does.
    ///
    /// # Errors
    ///
    /// As [`Manager::connect`](super::Manager::connect);
    /// [`ErrorKind::NotFound`] when the object was released meanwhile.
    pub fn connect(&self) -> Result<P> {
        let client = super::Manager::connect(&self.address)?;
        let handle = Handle {
            link: client.link,
            id: self.id,
            generation: self.generation,
            kind: P::KIND,
            fp_a: P::fp_a(),
            fp_b: P::fp_b(),
            owner: None,
        };
        Ok(P::from_handle(handle))
    }
}

/// A proxy type: what [`Client::open`](super::Client::open) and
/// [`Token::connect`] make. Implemented by every proxy of this module;
/// not meant to be implemented outside it.
pub trait Proxied: Sized {
    #[doc(hidden)]
    const KIND: u16;
    #[doc(hidden)]
    fn fp_a() -> u64;
    #[doc(hidden)]
    fn fp_b() -> u64;
    #[doc(hidden)]
    fn from_handle(handle: Handle) -> Self;
    #[doc(hidden)]
    fn handle(&self) -> &Handle;

    /// Publishes the object under `name` (at most 64 bytes), for
    /// [`Client::open`](super::Client::open) in other programs: Python's
    /// `BaseManager.register('get_dict', callable=lambda: d)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`] when another object has the name;
    /// [`ErrorKind::CapacityExceeded`] past 64 bytes;
    /// [`ErrorKind::ManagerGone`].
    fn publish(&self, name: &str) -> Result<()> {
        self.handle().publish(name)
    }

    /// The object's token, for a [`Pool`](crate::pool::Pool) task.
    fn token(&self) -> Token<Self> {
        self.handle().token()
    }
}

/// Declares a proxy type (its doc, name, generics, the phantom type of
/// its values) and implements [`Proxied`], `publish`, `token` and `Debug`
/// for it.
macro_rules! proxied {
    (
        $(#[$doc:meta])*
        $proxy:ident [$($g:tt)*] [$($gu:tt)*] ($phantom:ty), $kind:expr, $fa:expr, $fb:expr
    ) => {
        proxied!(
            $(#[$doc])*
            $proxy [$($g)*] [$($gu)*] struct [$($g)*] ($phantom), $kind, $fa, $fb
        );
    };
    (
        $(#[$doc:meta])*
        $proxy:ident [$($g:tt)*] [$($gu:tt)*] struct [$($gs:tt)*] ($phantom:ty), $kind:expr, $fa:expr, $fb:expr
    ) => {
        $(#[$doc])*
        pub struct $proxy<$($gs)*> {
            handle: Handle,
            _types: PhantomData<$phantom>,
        }

        impl<$($g)*> Proxied for $proxy<$($gu)*> {
            const KIND: u16 = $kind;
            fn fp_a() -> u64 {
                $fa
            }
            fn fp_b() -> u64 {
                $fb
            }
            fn from_handle(handle: Handle) -> Self {
                $proxy {
                    handle,
                    _types: PhantomData,
                }
            }
            fn handle(&self) -> &Handle {
                &self.handle
            }
        }

        impl<$($g)*> $proxy<$($gu)*> {
            /// Publishes the object under `name` for
            /// [`Client::open`](crate::manager::Client::open) in other
            /// programs: see [`Proxied::publish`].
            ///
            /// # Errors
            ///
            /// As [`Proxied::publish`].
            pub fn publish(&self, name: &str) -> Result<()> {
                self.handle.publish(name)
            }

            /// The object's [`Token`], for a [`Pool`](crate::pool::Pool)
            /// task: see [`Proxied::token`].
            pub fn token(&self) -> Token<Self> {
                self.handle.token()
            }
        }

        impl<$($g)*> std::fmt::Debug for $proxy<$($gu)*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($proxy), self.handle)
            }
        }
    };
}

// The proxies, one kind (or family of kinds) per submodule, and the
// creation of objects (they use `proxied!` above).
mod array;
#[cfg(feature = "tokio")]
mod async_proxy;
mod detached;
mod dict;
mod list;
mod make;
#[cfg(feature = "serde")]
mod make_serde;
mod queue;
mod registered;
mod value;
mod waits;

pub use array::ArrayProxy;
#[cfg(feature = "tokio")]
pub use async_proxy::AsyncProxy;
pub use detached::{Detached, DetachedGuard, Pending};
pub use dict::DictProxy;
pub use list::ListProxy;
pub use queue::QueueProxy;
pub use registered::Proxy;
pub use value::{FieldName, NamespaceProxy, ValueProxy};
pub use waits::{
    BarrierProxy, ConditionProxy, EventProxy, LockProxy, ManagerGuard, RLockProxy, SemaphoreProxy,
};

/// Checks a name to publish or open an object under: 1 to `NAME_MAX`
/// bytes.
fn published_name(op: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(Error::new(
            op,
            Resource::Text {
                what: "a published name",
                len: name.len(),
            },
            ErrorKind::CapacityExceeded { limit: NAME_MAX },
        ));
    }
    Ok(())
}

/// Writes `key` then `value` into `out`; for a variable encoding, the
/// key's length (`u32`) first, so the server can tell them apart.
fn encode_pair<E: Encoding<K> + Encoding<V>, K, V>(
    op: &'static str,
    resource: Resource,
    key: &K,
    value: &V,
    out: &mut [u8],
) -> Result<usize> {
    let var = <E as Encoding<K>>::VARIABLE;
    let at = if var { 4 } else { 0 };
    let k = enc::<E, K>(op, resource, key, &mut out[at..])?;
    if var {
        out[..4].copy_from_slice(&(k as u32).to_le_bytes());
    }
    let v = enc::<E, V>(op, resource, value, &mut out[at + k..])?;
    Ok(at + k + v)
}

/// Calls `each` with every record of a snapshot of `n`: `fixed` bytes
/// each, or (`None`) each after its `u32` length.
fn records(
    op: &'static str,
    resource: Resource,
    payload: &[u8],
    n: u64,
    fixed: Option<usize>,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<usize> {
    let torn = || {
        Error::new(
            op,
            resource,
            ErrorKind::InvalidData("a snapshot whose lengths do not add up"),
        )
    };
    let mut at = 0usize;
    for _ in 0..n {
        let len = match fixed {
            Some(len) => len,
            None => {
                let word = payload.get(at..at + 4).ok_or_else(torn)?;
                at += 4;
                u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize
            }
        };
        let end = at.checked_add(len).ok_or_else(torn)?;
        each(payload.get(at..end).ok_or_else(torn)?)?;
        at = end;
    }
    usize::try_from(n).map_err(|_| torn())
}

/// A record of a variable dict's snapshot: the key's length, the key,
/// the value.
fn split_entry<'a>(
    op: &'static str,
    resource: Resource,
    entry: &'a [u8],
) -> Result<(&'a [u8], &'a [u8])> {
    let torn = || {
        Error::new(
            op,
            resource,
            ErrorKind::InvalidData("a dict entry whose key length does not fit it"),
        )
    };
    let word = entry.get(..4).ok_or_else(torn)?;
    let klen = u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize;
    let key = entry.get(4..4 + klen).ok_or_else(torn)?;
    Ok((key, &entry[4 + klen..]))
}

fn encode<T: Wire>(value: &T, out: &mut [u8]) -> usize {
    value.encode(&mut out[..T::SIZE]);
    T::SIZE
}
