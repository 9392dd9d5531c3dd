//! The proxies: cheap typed handles that send each operation to the
//! server and decode its reply.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Client;
use super::link::{Link, undecodable};
use super::protocol::{Request, kind, op};
use super::served::{Method, Served};
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
        if name.is_empty() || name.len() > NAME_MAX {
            return Err(Error::new(
                OP,
                Resource::Text {
                    what: "a published name",
                    len: name.len(),
                },
                ErrorKind::CapacityExceeded { limit: NAME_MAX },
            ));
        }
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
            /// [`Client::open`](super::Client::open) in other programs: see
            /// [`Proxied::publish`].
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

// ------------------------------------------------------------------ dict

proxied!(
    /// A dict on the server (Python's `manager.dict()`): at most its
    /// capacity of keys `K`, each with a value `V`, kept in insertion order.
    /// Every operation is one request, atomic on the server.
    DictProxy [K: Wire, V: Wire] [K, V] (fn(K) -> V), kind::DICT, fingerprint::<K>(), fingerprint::<V>()
);

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

// ----------------------------------------------------------------- locks

proxied!(
    /// A lock on the server (Python's `manager.Lock()`): any process may
    /// release it, as in Python. A holder whose connection ends (its process
    /// exited or was killed) releases it, so a dead holder never deadlocks
    /// the others.
    LockProxy [] [] (()), kind::LOCK, 0, 0
);

proxied!(
    /// A reentrant lock on the server (Python's `manager.RLock()`): its
    /// holder (a process's connection) may take it again, and must release it
    /// as many times. Released when its holder's connection ends.
    RLockProxy [] [] (()), kind::RLOCK, 0, 0
);

/// The guard of a manager lock (or condition): released on drop (a
/// release that fails because the server is gone is ignored: the lock is
/// gone with it).
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct ManagerGuard<'a> {
    handle: &'a Handle,
}

impl Drop for ManagerGuard<'_> {
    fn drop(&mut self) {
        let _ = release(self.handle, "ManagerGuard::drop", 1);
    }
}

/// A timeout as a waiting request carries it: nanoseconds, 0 for "do not
/// wait", `u64::MAX` for "no limit".
fn timeout_ns(timeout: Option<Duration>) -> u64 {
    match timeout {
        None => u64::MAX,
        Some(t) => u64::try_from(t.as_nanos())
            .unwrap_or(u64::MAX - 1)
            .min(u64::MAX - 1),
    }
}

/// A request that may wait, its timeout kept by the server; answered by
/// its first number.
fn waiting(handle: &Handle, name: &'static str, op: u16, timeout: Option<Duration>) -> Result<u64> {
    handle.call(
        name,
        op,
        0,
        |out| encode(&timeout_ns(timeout), out),
        |a, _, _| Some(a),
    )
}

fn acquire(handle: &Handle, name: &'static str, timeout: Option<Duration>) -> Result<bool> {
    waiting(handle, name, op::ACQUIRE, timeout).map(|a| a != 0)
}

fn release(handle: &Handle, name: &'static str, n: u32) -> Result<()> {
    handle.call(
        name,
        op::RELEASE_LOCK,
        0,
        |out| encode(&n, out),
        |_, _, _| Some(()),
    )
}

macro_rules! lock_methods {
    ($proxy:ident, $py:literal) => {
        impl $proxy {
            #[doc = concat!("`", $py, ".acquire()`: waits until it is taken.")]
            ///
            /// # Errors
            ///
            /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when
            /// the object was released.
            pub fn acquire(&self) -> Result<()> {
                acquire(&self.handle, concat!(stringify!($proxy), "::acquire"), None).map(drop)
            }

            #[doc = concat!("`", $py, ".acquire(blocking=False)`: `true` when taken.")]
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub fn try_acquire(&self) -> Result<bool> {
                acquire(
                    &self.handle,
                    concat!(stringify!($proxy), "::try_acquire"),
                    Some(Duration::ZERO),
                )
            }

            #[doc = concat!("`", $py, ".acquire(timeout=t)`: `true` when taken in time.")]
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                acquire(
                    &self.handle,
                    concat!(stringify!($proxy), "::acquire_timeout"),
                    Some(timeout),
                )
            }

            #[doc = concat!("`", $py, ".release()`.")]
            ///
            /// # Errors
            ///
            /// [`ErrorKind::InvalidArgument`] when it is not held (by this
            /// process, but for a plain lock); as `acquire`.
            pub fn release(&self) -> Result<()> {
                release(&self.handle, concat!(stringify!($proxy), "::release"), 1)
            }

            #[doc = concat!("`with ", $py, ":`: acquires, and releases when the guard is dropped.")]
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub fn lock(&self) -> Result<ManagerGuard<'_>> {
                self.acquire()?;
                Ok(ManagerGuard {
                    handle: &self.handle,
                })
            }

            /// Whether some process holds it.
            ///
            /// # Errors
            ///
            /// As `acquire`.
            pub fn is_locked(&self) -> Result<bool> {
                self.handle
                    .number(concat!(stringify!($proxy), "::is_locked"), op::LOCKED)
                    .map(|n| n != 0)
            }
        }
    };
}

lock_methods!(LockProxy, "lock");
lock_methods!(RLockProxy, "rlock");
lock_methods!(ConditionProxy, "cond");

proxied!(
    /// A condition variable on the server (Python's `manager.Condition()`),
    /// with its own reentrant lock: acquire it ([`ConditionProxy::lock`]),
    /// then [`ConditionProxy::wait`] releases it until a notify and takes it
    /// back. The lock is released if its holder's process dies.
    ConditionProxy [] [] (()), kind::CONDITION, 0, 0
);

impl ConditionProxy {
    /// `cond.wait()`: releases the lock (however deep it is held), waits
    /// for a notify, and takes the lock back before returning.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when this process does not hold the
    /// lock; [`ErrorKind::ManagerGone`].
    pub fn wait(&self) -> Result<()> {
        waiting(&self.handle, "ConditionProxy::wait", op::WAIT, None).map(drop)
    }

    /// `cond.wait(timeout)`: `true` when notified, `false` when the time
    /// ran out; the lock is held again either way.
    ///
    /// # Errors
    ///
    /// As [`ConditionProxy::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        waiting(
            &self.handle,
            "ConditionProxy::wait_timeout",
            op::WAIT,
            Some(timeout),
        )
        .map(|a| a != 0)
    }

    /// `cond.wait_for(predicate, timeout)`: waits until `predicate` holds
    /// (it is checked first, and after each wake-up, with the lock held);
    /// returns its last value.
    ///
    /// # Errors
    ///
    /// As [`ConditionProxy::wait`], and the predicate's own.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> Result<bool>,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if predicate()? {
                return Ok(true);
            }
            match deadline {
                None => self.wait()?,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() || !self.wait_timeout(left)? {
                        return predicate();
                    }
                }
            }
        }
    }

    /// `cond.notify(n)`: wakes up to `n` waiters (they take the lock in
    /// turn once it is released); returns how many. The caller must hold
    /// the lock.
    ///
    /// # Errors
    ///
    /// As [`ConditionProxy::wait`].
    pub fn notify(&self, n: u32) -> Result<u32> {
        self.handle.call(
            "ConditionProxy::notify",
            op::NOTIFY,
            0,
            |out| encode(&n, out),
            |a, _, _| u32::try_from(a).ok(),
        )
    }

    /// `cond.notify_all()`.
    ///
    /// # Errors
    ///
    /// As [`ConditionProxy::wait`].
    pub fn notify_all(&self) -> Result<u32> {
        self.notify(u32::MAX)
    }
}

proxied!(
    /// A semaphore on the server (Python's `manager.Semaphore(n)` and
    /// `BoundedSemaphore(n)`). Units are not tied to processes: a process
    /// that dies holding one does not give it back (as in Python).
    SemaphoreProxy [] [] (()), kind::SEMAPHORE, 0, 0
);

impl SemaphoreProxy {
    /// `sem.acquire()`: waits for a unit and takes it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the
    /// semaphore was released.
    pub fn acquire(&self) -> Result<()> {
        acquire(&self.handle, "SemaphoreProxy::acquire", None).map(drop)
    }

    /// `sem.acquire(blocking=False)`: `true` when a unit was taken.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreProxy::acquire`].
    pub fn try_acquire(&self) -> Result<bool> {
        acquire(
            &self.handle,
            "SemaphoreProxy::try_acquire",
            Some(Duration::ZERO),
        )
    }

    /// `sem.acquire(timeout=t)`: `true` when a unit was taken in time.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreProxy::acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        acquire(
            &self.handle,
            "SemaphoreProxy::acquire_timeout",
            Some(timeout),
        )
    }

    /// `sem.release(n)`: gives back `n` units.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when a bounded semaphore would go
    /// past its initial value (Python's `ValueError`; nothing is given
    /// back); as [`SemaphoreProxy::acquire`].
    pub fn release(&self, n: u32) -> Result<()> {
        release(&self.handle, "SemaphoreProxy::release", n)
    }

    /// `sem.get_value()`: the units free now.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreProxy::acquire`].
    pub fn get_value(&self) -> Result<u32> {
        self.handle
            .number("SemaphoreProxy::get_value", op::LOCKED)
            .map(|n| n as u32)
    }
}

proxied!(
    /// An event on the server (Python's `manager.Event()`).
    EventProxy [] [] (()), kind::EVENT, 0, 0
);

impl EventProxy {
    /// `event.set()`: wakes every waiter.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the event
    /// was released.
    pub fn set(&self) -> Result<()> {
        self.handle.number("EventProxy::set", op::EV_SET).map(drop)
    }

    /// `event.clear()`.
    ///
    /// # Errors
    ///
    /// As [`EventProxy::set`].
    pub fn clear(&self) -> Result<()> {
        self.handle
            .number("EventProxy::clear", op::EV_CLEAR)
            .map(drop)
    }

    /// `event.is_set()`.
    ///
    /// # Errors
    ///
    /// As [`EventProxy::set`].
    pub fn is_set(&self) -> Result<bool> {
        self.handle
            .number("EventProxy::is_set", op::LOCKED)
            .map(|n| n != 0)
    }

    /// `event.wait()`: returns once it is set.
    ///
    /// # Errors
    ///
    /// As [`EventProxy::set`].
    pub fn wait(&self) -> Result<()> {
        waiting(&self.handle, "EventProxy::wait", op::WAIT, None).map(drop)
    }

    /// `event.wait(timeout)`: whether it is set.
    ///
    /// # Errors
    ///
    /// As [`EventProxy::set`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        waiting(
            &self.handle,
            "EventProxy::wait_timeout",
            op::WAIT,
            Some(timeout),
        )
        .map(|a| a != 0)
    }
}

proxied!(
    /// A barrier on the server (Python's `manager.Barrier(parties)`).
    BarrierProxy [] [] (()), kind::BARRIER, 0, 0
);

impl BarrierProxy {
    /// `barrier.wait()`: waits until `parties` processes wait, then
    /// returns this one's arrival index (0 for the first).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenBarrier`] when it is or gets broken (aborted,
    /// reset, a wait that timed out, a waiter whose process died);
    /// [`ErrorKind::ManagerGone`].
    pub fn wait(&self) -> Result<u32> {
        waiting(&self.handle, "BarrierProxy::wait", op::WAIT, None).map(|a| a as u32)
    }

    /// `barrier.wait(timeout)`: as [`BarrierProxy::wait`]; when the time
    /// runs out the barrier breaks (as in Python) and this is
    /// [`ErrorKind::BrokenBarrier`].
    ///
    /// # Errors
    ///
    /// As [`BarrierProxy::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32> {
        waiting(
            &self.handle,
            "BarrierProxy::wait_timeout",
            op::WAIT,
            Some(timeout),
        )
        .map(|a| a as u32)
    }

    /// `barrier.abort()`: breaks it; every waiter fails.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn abort(&self) -> Result<()> {
        self.handle
            .number("BarrierProxy::abort", op::B_ABORT)
            .map(drop)
    }

    /// `barrier.reset()`: fails the current waiters, then makes it whole
    /// again.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn reset(&self) -> Result<()> {
        self.handle
            .number("BarrierProxy::reset", op::B_RESET)
            .map(drop)
    }

    fn state(&self) -> Result<(u32, u32, bool)> {
        self.handle.call(
            "BarrierProxy::state",
            op::LOCKED,
            0,
            |_| 0,
            |parties, b, _| Some((parties as u32, b as u32, b >> 32 != 0)),
        )
    }

    /// `barrier.parties`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn parties(&self) -> Result<u32> {
        self.state().map(|s| s.0)
    }

    /// `barrier.n_waiting`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn n_waiting(&self) -> Result<u32> {
        self.state().map(|s| s.1)
    }

    /// `barrier.broken`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn is_broken(&self) -> Result<bool> {
        self.state().map(|s| s.2)
    }
}

proxied!(
    /// A queue on the server (Python's `manager.Queue(maxsize)`): items `T`,
    /// at most its capacity, first in first out; puts and gets wait (or
    /// not, or for a time) as Python's do. Unlike the shared-memory
    /// [`Queue`](crate::ipc::Queue), unrelated programs reach it by name.
    QueueProxy [T: Wire] [T] (fn(T) -> T), kind::QUEUE, fingerprint::<T>(), 0
);

impl<T: Wire> QueueProxy<T> {
    fn put_waiting(&self, name: &'static str, item: &T, timeout: Option<Duration>) -> Result<()> {
        self.handle.call(
            name,
            op::Q_PUT,
            0,
            |out| encode(&timeout_ns(timeout), out) + encode(item, &mut out[8..]),
            |_, _, _| Some(()),
        )
    }

    fn get_waiting(&self, name: &'static str, timeout: Option<Duration>) -> Result<T> {
        self.handle.call(
            name,
            op::Q_GET,
            0,
            |out| encode(&timeout_ns(timeout), out),
            |_, _, p| T::decode(p),
        )
    }

    /// `q.put(item)`: waits for room.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the queue
    /// was released.
    pub fn put(&self, item: &T) -> Result<()> {
        self.put_waiting("QueueProxy::put", item, None)
    }

    /// `q.put_nowait(item)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] (Python's `queue.Full`); as [`QueueProxy::put`].
    pub fn put_nowait(&self, item: &T) -> Result<()> {
        self.put_waiting("QueueProxy::put_nowait", item, Some(Duration::ZERO))
    }

    /// `q.put(item, timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] when no room came in time; as
    /// [`QueueProxy::put`].
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.put_waiting("QueueProxy::put_timeout", item, Some(timeout))
    }

    /// `q.get()`: waits for an item.
    ///
    /// # Errors
    ///
    /// As [`QueueProxy::put`].
    pub fn get(&self) -> Result<T> {
        self.get_waiting("QueueProxy::get", None)
    }

    /// `q.get_nowait()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] (Python's `queue.Empty`); as
    /// [`QueueProxy::put`].
    pub fn get_nowait(&self) -> Result<T> {
        self.get_waiting("QueueProxy::get_nowait", Some(Duration::ZERO))
    }

    /// `q.get(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] when no item came in time; as
    /// [`QueueProxy::put`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_waiting("QueueProxy::get_timeout", Some(timeout))
    }

    /// `q.qsize()`.
    ///
    /// # Errors
    ///
    /// As [`QueueProxy::put`].
    pub fn qsize(&self) -> Result<usize> {
        self.handle
            .number("QueueProxy::qsize", op::LEN)
            .map(|n| n as usize)
    }

    /// `q.empty()`.
    ///
    /// # Errors
    ///
    /// As [`QueueProxy::put`].
    pub fn empty(&self) -> Result<bool> {
        self.qsize().map(|n| n == 0)
    }

    /// `q.maxsize`: the most items it holds (for a queue made with
    /// `maxsize` 0, the largest one message allows).
    ///
    /// # Errors
    ///
    /// As [`QueueProxy::put`].
    pub fn maxsize(&self) -> Result<usize> {
        self.handle
            .call("QueueProxy::maxsize", op::LEN, 0, |_| 0, |_, b, _| Some(b))
            .map(|n| n as usize)
    }
}

// ------------------------------------------------------------ registered

/// The type check an object of `T` carries: its type name.
pub(crate) fn typeid_fingerprint<T: Served>() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in T::TYPEID.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

proxied!(
    /// A proxy for a registered [`Served`] type (what Python's
    /// `BaseManager.register` makes): [`Proxy::call`] sends one method call.
    Proxy [T: Served] [T] (fn() -> T), kind::CUSTOM, typeid_fingerprint::<T>(), fingerprint::<T::Init>()
);

impl<T: Served> Proxy<T> {
    /// Calls `method` with `arg` on the server and returns its result.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownMethod`] when the type does not answer the
    /// method's number; [`ErrorKind::LayoutMismatch`] when it declares the
    /// method with other argument or result types; [`ErrorKind::Panicked`]
    /// when its handler panicked; [`ErrorKind::ManagerGone`].
    pub fn call<A: Wire, R: Wire>(&self, method: Method<A, R>, arg: &A) -> Result<R> {
        let mut request = self.handle.request(method.id(), 0);
        request.fp_a = fingerprint::<A>();
        request.fp_b = fingerprint::<R>();
        let resource = self.handle.resource();
        self.handle.link.call(
            "Proxy::call",
            resource,
            request,
            |out| encode(arg, out),
            |_, p| R::decode(p).ok_or_else(|| undecodable("Proxy::call", resource)),
        )
    }
}

// -------------------------------------------------------------- creation

/// Refuses a capacity of 0 for an object that could never hold anything.
fn at_least_one(
    op_name: &'static str,
    what: &'static str,
    capacity: usize,
    rule: &'static str,
) -> Result<()> {
    if capacity == 0 {
        return Err(Error::new(
            op_name,
            Resource::Container { what, capacity },
            ErrorKind::InvalidArgument(rule),
        ));
    }
    Ok(())
}

/// The most items of `size` bytes an object holds: all of them fit in one
/// reply (the server's rule).
fn largest_capacity(size: usize) -> usize {
    let room = crate::config::MANAGER_MESSAGE_BYTES
        - super::protocol::REPLY_HEADER
        - super::protocol::AREA;
    room / size.max(1)
}

impl Client {
    /// `make` for a proxy type that serves two kinds (a semaphore, bounded
    /// or not).
    fn make_kind<P: Proxied>(
        &self,
        op_name: &'static str,
        kind_code: u16,
        capacity: usize,
    ) -> Result<P> {
        self.make_as(op_name, kind_code, capacity, 0, 0, 0, |_| 0)
    }

    fn make<P: Proxied>(
        &self,
        op_name: &'static str,
        capacity: usize,
        a_size: usize,
        b_size: usize,
        fp_b: u64,
        rest: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<P> {
        self.make_as(op_name, P::KIND, capacity, a_size, b_size, fp_b, rest)
    }

    #[allow(clippy::too_many_arguments)]
    fn make_as<P: Proxied>(
        &self,
        op_name: &'static str,
        kind_code: u16,
        capacity: usize,
        a_size: usize,
        b_size: usize,
        fp_b: u64,
        rest: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<P> {
        let cap = u32::try_from(capacity).map_err(|_| {
            Error::new(
                op_name,
                Resource::Container {
                    what: kind::name(P::KIND),
                    capacity,
                },
                ErrorKind::CapacityExceeded {
                    limit: u32::MAX as usize,
                },
            )
        })?;
        let request = Request {
            op: op::CREATE,
            fp_a: P::fp_a(),
            fp_b,
            ..Request::default()
        };
        let resource = Resource::Manager(crate::error::SegmentName::new(self.link.address()));
        let (id, generation) = self.link.call(
            op_name,
            resource,
            request,
            |out| {
                out[0..2].copy_from_slice(&kind_code.to_le_bytes());
                out[2..4].fill(0);
                out[4..8].copy_from_slice(&cap.to_le_bytes());
                out[8..12].copy_from_slice(&(a_size as u32).to_le_bytes());
                out[12..16].copy_from_slice(&(b_size as u32).to_le_bytes());
                16 + rest(&mut out[16..])
            },
            |r, _| Ok((r.a as u32, r.b as u32)),
        )?;
        Ok(P::from_handle(Handle {
            link: Arc::clone(&self.link),
            id,
            generation,
            kind: kind_code,
            fp_a: P::fp_a(),
            fp_b,
            owner: Some(sys::process::getpid()),
        }))
    }

    /// A new dict of at most `capacity` entries (Python's
    /// `manager.dict()`), released when the returned proxy is dropped in
    /// this process.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a capacity of 0;
    /// [`ErrorKind::MessageSize`] when `capacity` entries would not fit in
    /// one message (`MPROC_MANAGER_MESSAGE_BYTES`: a snapshot is one
    /// reply); [`ErrorKind::CapacityExceeded`] naming
    /// `MPROC_MANAGER_OBJECTS` when the server holds that many objects;
    /// [`ErrorKind::ManagerGone`].
    pub fn dict<K: Wire, V: Wire>(&self, capacity: usize) -> Result<DictProxy<K, V>> {
        at_least_one(
            "Client::dict",
            "dict",
            capacity,
            "a dict's capacity must be at least 1 (one of 0 could never hold an entry)",
        )?;
        self.make(
            "Client::dict",
            capacity,
            K::SIZE,
            V::SIZE,
            fingerprint::<V>(),
            |_| 0,
        )
    }

    /// A new list of at most `capacity` items (Python's `manager.list()`).
    ///
    /// # Errors
    ///
    /// As [`Client::dict`] (a capacity of 0 is refused too).
    pub fn list<T: Wire>(&self, capacity: usize) -> Result<ListProxy<T>> {
        at_least_one(
            "Client::list",
            "list",
            capacity,
            "a list's capacity must be at least 1 (one of 0 could never hold an item)",
        )?;
        self.make("Client::list", capacity, T::SIZE, 0, 0, |_| 0)
    }

    /// A new value holding `initial` (Python's `manager.Value(typecode,
    /// value)`).
    ///
    /// # Errors
    ///
    /// As [`Client::dict`].
    pub fn value<T: Wire>(&self, initial: &T) -> Result<ValueProxy<T>> {
        self.make("Client::value", 1, 0, T::SIZE, 0, |out| {
            encode(initial, out)
        })
    }

    /// A new namespace of at most `fields` fields of at most `field_bytes`
    /// bytes each (Python's `manager.Namespace()`).
    ///
    /// # Errors
    ///
    /// As [`Client::dict`] (0 fields are refused too).
    pub fn namespace(&self, fields: usize, field_bytes: usize) -> Result<NamespaceProxy> {
        at_least_one(
            "Client::namespace",
            "namespace",
            fields,
            "a namespace needs at least 1 field (one of 0 could never hold one)",
        )?;
        self.make(
            "Client::namespace",
            fields,
            FieldName::SIZE,
            field_bytes,
            0,
            |_| 0,
        )
    }

    /// A new lock (Python's `manager.Lock()`).
    ///
    /// # Errors
    ///
    /// As [`Client::dict`].
    pub fn lock(&self) -> Result<LockProxy> {
        self.make("Client::lock", 1, 0, 0, 0, |_| 0)
    }

    /// A new reentrant lock (Python's `manager.RLock()`).
    ///
    /// # Errors
    ///
    /// As [`Client::dict`].
    pub fn rlock(&self) -> Result<RLockProxy> {
        self.make("Client::rlock", 1, 0, 0, 0, |_| 0)
    }

    /// A new condition with its own reentrant lock (Python's
    /// `manager.Condition()`).
    ///
    /// # Errors
    ///
    /// As [`Client::dict`].
    pub fn condition(&self) -> Result<ConditionProxy> {
        self.make("Client::condition", 1, 0, 0, 0, |_| 0)
    }

    /// A new semaphore of `value` units (Python's `manager.Semaphore(value)`;
    /// 0 is a semaphore that waits for a first release).
    ///
    /// # Errors
    ///
    /// As [`Client::dict`].
    pub fn semaphore(&self, value: u32) -> Result<SemaphoreProxy> {
        self.make("Client::semaphore", value as usize, 0, 0, 0, |_| 0)
    }

    /// A new bounded semaphore of `value` units (Python's
    /// `manager.BoundedSemaphore(value)`): releasing past `value` is an
    /// error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a value of 0 (Python accepts one,
    /// which can be neither acquired nor released); as [`Client::dict`].
    pub fn bounded_semaphore(&self, value: u32) -> Result<SemaphoreProxy> {
        at_least_one(
            "Client::bounded_semaphore",
            "bounded semaphore",
            value as usize,
            "a bounded semaphore's value must be at least 1 (one of 0 could never be acquired \
             or released)",
        )?;
        self.make_kind(
            "Client::bounded_semaphore",
            kind::BOUNDED_SEMAPHORE,
            value as usize,
        )
    }

    /// A new event, clear (Python's `manager.Event()`).
    ///
    /// # Errors
    ///
    /// As [`Client::dict`].
    pub fn event(&self) -> Result<EventProxy> {
        self.make("Client::event", 1, 0, 0, 0, |_| 0)
    }

    /// A new barrier for `parties` processes (Python's
    /// `manager.Barrier(parties)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for 0 parties; as [`Client::dict`].
    pub fn barrier(&self, parties: u32) -> Result<BarrierProxy> {
        if parties == 0 {
            return Err(Error::new(
                "Client::barrier",
                self.resource(),
                ErrorKind::InvalidArgument("a barrier needs at least one party"),
            ));
        }
        self.make("Client::barrier", parties as usize, 0, 0, 0, |_| 0)
    }

    /// A new queue of at most `maxsize` items (Python's
    /// `manager.Queue(maxsize)`). Capacities are fixed, so Python's
    /// `maxsize` 0 ("unbounded") makes the largest queue one message
    /// allows: (`MPROC_MANAGER_MESSAGE_BYTES` − 88) / `T::SIZE` items
    /// (as many as there are bytes for items of no bytes); see
    /// [`QueueProxy::maxsize`].
    ///
    /// # Errors
    ///
    /// As [`Client::dict`].
    pub fn queue<T: Wire>(&self, maxsize: usize) -> Result<QueueProxy<T>> {
        let maxsize = match maxsize {
            0 => largest_capacity(T::SIZE),
            n => n,
        };
        self.make("Client::queue", maxsize, T::SIZE, 0, 0, |_| 0)
    }

    /// A new object of a registered type, made on the server by
    /// [`Served::new`] from `init` (Python's `manager.Counter()` after
    /// `register('Counter', Counter)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when the server has no type registered
    /// under `T::TYPEID`; [`ErrorKind::Panicked`] when `new` panicked; as
    /// [`Client::dict`].
    pub fn create<T: Served>(&self, init: &T::Init) -> Result<Proxy<T>> {
        let typeid = T::TYPEID.as_bytes();
        if typeid.len() > super::server::TYPEID_MAX {
            return Err(Error::new(
                "Client::create",
                Resource::Text {
                    what: "a registered type name",
                    len: typeid.len(),
                },
                ErrorKind::CapacityExceeded {
                    limit: super::server::TYPEID_MAX,
                },
            ));
        }
        self.make("Client::create", 1, 0, 0, fingerprint::<T::Init>(), |out| {
            out[0..2].copy_from_slice(&(typeid.len() as u16).to_le_bytes());
            out[2..2 + typeid.len()].copy_from_slice(typeid);
            out[2 + typeid.len()..2 + super::server::TYPEID_MAX].fill(0);
            2 + super::server::TYPEID_MAX + encode(init, &mut out[2 + super::server::TYPEID_MAX..])
        })
    }

    /// The object published under `name` (by
    /// [`Proxied::publish`]), as a proxy of type `P`: Python's
    /// `manager.get_dict()` in a program that connected by address. The
    /// proxy does not release the object when dropped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when nothing is published under `name`;
    /// [`ErrorKind::LayoutMismatch`] when the object is of another kind
    /// or its types differ from `P`'s; [`ErrorKind::ManagerGone`].
    pub fn open<P: Proxied>(&self, name: &str) -> Result<P> {
        const OP: &str = "Client::open";
        if name.is_empty() || name.len() > NAME_MAX {
            return Err(Error::new(
                OP,
                Resource::Text {
                    what: "a published name",
                    len: name.len(),
                },
                ErrorKind::CapacityExceeded { limit: NAME_MAX },
            ));
        }
        let request = Request {
            op: op::OPEN,
            fp_a: P::fp_a(),
            fp_b: P::fp_b(),
            ..Request::default()
        };
        let resource = Resource::Manager(crate::error::SegmentName::new(self.link.address()));
        let (id, generation) = self.link.call(
            OP,
            resource,
            request,
            |out| {
                out[0..2].copy_from_slice(&P::KIND.to_le_bytes());
                out[2..2 + name.len()].copy_from_slice(name.as_bytes());
                2 + name.len()
            },
            |r, _| Ok((r.a as u32, r.b as u32)),
        )?;
        Ok(P::from_handle(Handle {
            link: Arc::clone(&self.link),
            id,
            generation,
            kind: P::KIND,
            fp_a: P::fp_a(),
            fp_b: P::fp_b(),
            owner: None,
        }))
    }
}
