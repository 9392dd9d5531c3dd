//! The array: Python's `manager.Array(typecode, sequence)`, a sequence of
//! fixed length on the server.

use std::marker::PhantomData;

use super::{Handle, Proxied, Token, encode};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::manager::Client;
use crate::manager::protocol::{AREA, REPLY_HEADER, REQUEST_HEADER, kind, op};
use crate::manager::wire::{Wire, fingerprint};

proxied!(
    /// An array on the server (Python's `manager.Array(typecode,
    /// sequence)`): items `T` (the typecode), as many as it was made with,
    /// for ever. It is read and written by index — `a[i]`, `a[i] = x`,
    /// `len(a)` — and copied whole ([`snapshot`](ArrayProxy::snapshot),
    /// Python's `a[:]`); it has no `append` or `pop`. Indexes may be
    /// negative, counting from the end, and one out of range is
    /// [`ErrorKind::IndexOutOfRange`] (Python's `IndexError`). Every
    /// operation is one request, atomic on the server.
    ///
    /// ```no_run
    /// use mproc::manager::Manager;
    /// use mproc::process::Process;
    ///
    /// // Python: a = m.Array('i', range(5)); a[0] = -1 (in a child); a[:]
    /// let m = Manager::start()?;
    /// let a = m.array::<i32>(&[0, 1, 2, 3, 4])?;
    /// let mut p = Process::new(|| a.set(0, &-1).unwrap());
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(a.get(-1)?, 4);
    /// assert_eq!(a.snapshot()?, [-1, 1, 2, 3, 4]);
    /// # Ok::<(), mproc::Error>(())
    /// ```
    ArrayProxy [T: Wire] [T] (fn(T) -> T), kind::ARRAY, fingerprint::<T>(), 0
);

impl<T: Wire> ArrayProxy<T> {
    /// `a[index]`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::IndexOutOfRange`] unless `-len <= index < len`;
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the array
    /// was released.
    pub fn get(&self, index: i64) -> Result<T> {
        self.handle.call(
            "ArrayProxy::get",
            op::GET,
            0,
            |out| encode(&index, out),
            |_, _, p| T::decode(p),
        )
    }

    /// `a[index] = item`.
    ///
    /// # Errors
    ///
    /// As [`ArrayProxy::get`] (nothing changed).
    pub fn set(&self, index: i64, item: &T) -> Result<()> {
        self.handle.call(
            "ArrayProxy::set",
            op::SET,
            0,
            |out| encode(&index, out) + encode(item, &mut out[8..]),
            |_, _, _| Some(()),
        )
    }

    /// `len(a)`: the length it was made with.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`]; [`ErrorKind::NotFound`] when the array
    /// was released.
    pub fn len(&self) -> Result<usize> {
        self.handle
            .number("ArrayProxy::len", op::LEN)
            .map(|n| n as usize)
    }

    /// `len(a) == 0`.
    ///
    /// # Errors
    ///
    /// As [`ArrayProxy::len`].
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// Copies the items, in order, as one atomic snapshot, into `out`
    /// (Python's `a[:len(out)]`); allocation-free. Writes the first
    /// `min(len, out.len())` items and returns the array's length, so a
    /// result greater than `out.len()` says items were left out.
    ///
    /// # Errors
    ///
    /// As [`ArrayProxy::len`].
    pub fn snapshot_into(&self, out: &mut [T]) -> Result<usize> {
        self.handle.call(
            "ArrayProxy::snapshot",
            op::ITEMS,
            0,
            |_| 0,
            |n, _, p| {
                for (i, place) in out.iter_mut().enumerate().take(n as usize) {
                    *place = T::decode(p.get(i * T::SIZE..(i + 1) * T::SIZE)?)?;
                }
                Some(n as usize)
            },
        )
    }

    /// Every item in order (one atomic snapshot) in a new `Vec`
    /// (allocates: [`ArrayProxy::snapshot_into`] does not). Python's
    /// `a[:]` or `list(a)`.
    ///
    /// # Errors
    ///
    /// As [`ArrayProxy::len`].
    pub fn snapshot(&self) -> Result<Vec<T>> {
        self.handle.call(
            "ArrayProxy::snapshot",
            op::ITEMS,
            0,
            |_| 0,
            |n, _, p| {
                (0..n as usize)
                    .map(|i| T::decode(p.get(i * T::SIZE..(i + 1) * T::SIZE)?))
                    .collect()
            },
        )
    }
}

impl Client {
    /// A new array holding `items`, its length fixed for ever (Python's
    /// `manager.Array(typecode, sequence)`: `T` is the typecode).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageSize`] when the items do not fit in one message
    /// (`Builder::message_bytes`, by default `MPROC_MANAGER_MESSAGE_BYTES`: they travel in the request that
    /// makes the array, and a snapshot is one reply);
    /// [`ErrorKind::CapacityExceeded`] naming `Builder::objects` (`MPROC_MANAGER_OBJECTS`) when
    /// the server holds that many objects; [`ErrorKind::ManagerGone`].
    pub fn array<T: Wire>(&self, items: &[T]) -> Result<ArrayProxy<T>> {
        const OP: &str = "Client::array";
        // The items travel in the creation request (after its 16 bytes),
        // and come back whole in a snapshot's reply: the reply's room is
        // the smaller, and the server's rule.
        let size = items.len().saturating_mul(T::SIZE);
        let room = self.link.message_bytes() - REPLY_HEADER - AREA;
        const { assert!(REPLY_HEADER + AREA >= REQUEST_HEADER + 16) };
        if size > room {
            return Err(Error::new(
                OP,
                Resource::Container {
                    what: "array",
                    capacity: items.len(),
                },
                ErrorKind::MessageSize {
                    size,
                    capacity: room,
                },
            ));
        }
        self.make(OP, items.len(), T::SIZE, 0, 0, |out| {
            for (i, item) in items.iter().enumerate() {
                encode(item, &mut out[i * T::SIZE..]);
            }
            items.len() * T::SIZE
        })
    }
}
