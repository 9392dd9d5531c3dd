//! The proxies: cheap typed handles that send each operation to the
//! server and decode its reply.

use std::marker::PhantomData;
use std::sync::Arc;

use super::link::{Link, undecodable};
use super::protocol::{Request, kind, op};
use super::server::NAME_MAX;
use super::wire::{Wire, fingerprint};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::FixedStr;
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
        $(#[$doc])*
        pub struct $proxy<$($g)*> {
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

// The proxies of the waiting kinds and registered types, and the
// creation of objects, live in submodules (they use `proxied!` above).
mod array;
mod make;
mod waits;

pub use array::ArrayProxy;
pub use waits::{
    BarrierProxy, ConditionProxy, EventProxy, LockProxy, ManagerGuard, Proxy, QueueProxy,
    RLockProxy, SemaphoreProxy,
};

// ------------------------------------------------------------------ dict

proxied!(
    /// A dict on the server (Python's `manager.dict()`): at most its
    /// capacity of keys `K`, each with a value `V`, kept in insertion order.
    /// Every operation is one request, atomic on the server.
    DictProxy [K: Wire, V: Wire] [K, V] (fn(K) -> V), kind::DICT, fingerprint::<K>(), fingerprint::<V>()
);

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

fn encode<T: Wire>(value: &T, out: &mut [u8]) -> usize {
    value.encode(&mut out[..T::SIZE]);
    T::SIZE
}

fn decode_found<T: Wire>(found: u64, payload: &[u8]) -> Option<Option<T>> {
    if found == 0 {
        Some(None)
    } else {
        T::decode(payload).map(Some)
    }
}

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

// ------------------------------------------------------------------ list

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
        let room = crate::config::MANAGER_MESSAGE_BYTES - super::protocol::REQUEST_HEADER;
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

// ----------------------------------------------------------------- value

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
