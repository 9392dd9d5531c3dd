//! Making objects on the server and opening published ones: the
//! [`Client`] methods that return new proxies.

use std::sync::Arc;

use super::{
    BarrierProxy, ConditionProxy, DictProxy, EventProxy, FieldName, Handle, ListProxy, LockProxy,
    NamespaceProxy, Proxied, Proxy, QueueProxy, RLockProxy, SemaphoreProxy, ValueProxy, encode,
    published_name,
};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::manager::Client;
use crate::manager::protocol::{Request, kind, op};
use crate::manager::served::Served;
use crate::manager::server::TYPEID_MAX;
use crate::manager::wire::{Wire, fingerprint};
use crate::sys;

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

impl Client {
    /// The most items of `size` bytes an object holds: all of them fit in
    /// one reply (the server's rule).
    fn largest_capacity(&self, size: usize) -> usize {
        let room = self.link.message_bytes()
            - crate::manager::protocol::REPLY_HEADER
            - crate::manager::protocol::AREA;
        room / size.max(1)
    }

    /// `make` for a proxy type that serves two kinds (a semaphore, bounded
    /// or not).
    fn make_kind<P: Proxied>(
        &self,
        op_name: &'static str,
        kind_code: u16,
        capacity: usize,
    ) -> Result<P> {
        self.make_as(op_name, (kind_code, 0), capacity, (0, 0), 0, |_| Ok(0))
    }

    pub(super) fn make<P: Proxied>(
        &self,
        op_name: &'static str,
        capacity: usize,
        a_size: usize,
        b_size: usize,
        fp_b: u64,
        rest: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<P> {
        self.make_as(
            op_name,
            (P::KIND, 0),
            capacity,
            (a_size, b_size),
            fp_b,
            |out| Ok(rest(out)),
        )
    }

    /// Makes an object of `kind_code` with creation `flags`: `capacity`
    /// entries, sizes `a_size` and `b_size`, `rest` writing what follows
    /// (an initial value).
    pub(super) fn make_as<P: Proxied>(
        &self,
        op_name: &'static str,
        (kind_code, flags): (u16, u16),
        capacity: usize,
        (a_size, b_size): (usize, usize),
        fp_b: u64,
        rest: impl FnOnce(&mut [u8]) -> Result<usize>,
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
        let (id, generation) = self.link.try_call(
            op_name,
            resource,
            request,
            |out| {
                out[0..2].copy_from_slice(&kind_code.to_le_bytes());
                out[2..4].copy_from_slice(&flags.to_le_bytes());
                out[4..8].copy_from_slice(&cap.to_le_bytes());
                out[8..12].copy_from_slice(&(a_size as u32).to_le_bytes());
                out[12..16].copy_from_slice(&(b_size as u32).to_le_bytes());
                Ok(16 + rest(&mut out[16..])?)
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
    /// one message (`Builder::message_bytes`, by default `MPROC_MANAGER_MESSAGE_BYTES`: a snapshot is one
    /// reply); [`ErrorKind::CapacityExceeded`] naming
    /// `Builder::objects` (`MPROC_MANAGER_OBJECTS`) when the server holds that many objects;
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
            0 => self.largest_capacity(T::SIZE),
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
        if typeid.len() > TYPEID_MAX {
            return Err(Error::new(
                "Client::create",
                Resource::Text {
                    what: "a registered type name",
                    len: typeid.len(),
                },
                ErrorKind::CapacityExceeded { limit: TYPEID_MAX },
            ));
        }
        self.make("Client::create", 1, 0, 0, fingerprint::<T::Init>(), |out| {
            out[0..2].copy_from_slice(&(typeid.len() as u16).to_le_bytes());
            out[2..2 + typeid.len()].copy_from_slice(typeid);
            out[2 + typeid.len()..2 + TYPEID_MAX].fill(0);
            2 + TYPEID_MAX + encode(init, &mut out[2 + TYPEID_MAX..])
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
        published_name(OP, name)?;
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
