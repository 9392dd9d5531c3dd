//! Shared memory: segments inherited by fork, named segments, fixed-layout
//! shared values
//! (Python's `multiprocessing.Value`, `Array`, `RawValue`, `RawArray`) and
//! a fixed-capacity string for them.
//!
//! **What may live in shared memory** is said by one marker trait,
//! [`Shareable`]: plain `#[repr(C)]` data of fixed-width fields, no
//! pointers, references, descriptors or `Drop`, every bit pattern valid.
//! It is implemented for the fixed-width integers and floats, their
//! atomics, arrays of shareable types, [`FixedStr`], and the primitives of
//! [`sync`](crate::sync). Your own `#[repr(C)]` struct of such fields
//! derives it, `#[derive(Shareable)]`, which checks the contract when the
//! program is built (no padding, no drop glue, every field shareable, no
//! `usize`, pointer or reference) and names the field it refuses. `bool`,
//! `char`, `Option` and tuples are not shareable (see [`Shareable`] for
//! why, and what to use). heapless containers are not `#[repr(C)]`: keep
//! them for process-local tables.
//!
//! **What may travel by copy** through a [`Queue`](crate::ipc::Queue) or a
//! [`Connection`](crate::ipc::Connection)'s `send`/`recv` is said by
//! [`Item`]: every `Shareable + Copy` type, and `bool`, `char`, `()`,
//! `Option`s, tuples and arrays of items, stored without padding
//! ([`Packed`]) and checked when read back.
//!
//! **Anonymous segments** ([`Shared`], and the memory behind [`Value`],
//! [`Array`], [`RawValue`], [`RawArray`]) are `mmap(MAP_SHARED |
//! MAP_ANONYMOUS)`: made before a fork, the same memory in every process
//! forked after. Python makes its shared values the same way.
//!
//! **Named segments** ([`SharedMemory`]) are `shm_open` files under
//! `/dev/shm` that unrelated processes open by name (Python's
//! `multiprocessing.shared_memory.SharedMemory`, typed). Each starts with a
//! header (magic, format version, payload offset, size, alignment and type
//! identity, owner pid and start time) that `open` checks field by field;
//! the creator owns the name and removes it on drop unless it persists it,
//! and a leftover of an owner that died is refused until
//! [`SharedMemory::reclaim`] removes it.
//!
//! ```no_run
//! use mproc::process::Process;
//! use mproc::shm::{Array, Value};
//!
//! // Python: num = Value('d', 0.0); arr = Array('i', range(10))
//! let num = Value::new(0.0f64)?;
//! let arr = Array::<i32, 10>::from_fn(|i| i as i32)?;
//! let mut p = Process::new(|| {
//!     num.set(3.1415927);
//!     let mut a = arr.lock().unwrap_or_else(|died| died.into_guard());
//!     for x in a.iter_mut() {
//!         *x = -*x;
//!     }
//! });
//! p.start()?;
//! p.join()?;
//! assert_eq!(num.get(), 3.1415927);
//! assert_eq!(arr.to_array()[9], -9);
//! # Ok::<(), mproc::Error>(())
//! ```

mod item;
mod named;
mod string;
mod value;

pub use crate::sys::mem::Shareable;
pub use item::{Item, Packed};
/// `#[derive(Item)]`: a struct of items, or a fieldless enum, through a
/// `Queue` or a `Pipe`.
#[cfg(feature = "derive")]
pub use mproc_derive::Item;
/// `#[derive(Shareable)]`: the compile-time checks instead of an `unsafe impl`.
#[cfg(feature = "derive")]
pub use mproc_derive::Shareable;
pub use named::SharedMemory;
pub use string::FixedStr;
pub use value::{Array, ArrayGuard, RawArray, RawValue, Value, ValueGuard};

use std::os::fd::OwnedFd;

use crate::error::{Error, Resource, Result};
use crate::sys::mem::SharedRegion;

/// One value of type `T` in an anonymous shared segment: the same memory in
/// the process that made it and in every process it forks afterwards.
/// Read it through `Deref`; types with interior mutability (atomics, the
/// [`sync`](crate::sync) primitives) are changed through `&T`.
///
/// Dropping it unmaps the segment in this process only.
pub struct Shared<T: Shareable> {
    region: SharedRegion<T>,
    /// Descriptors made with the segment, inherited with it by forked
    /// children and closed with it: the eventfds a [`Queue`] raises for
    /// [`wait`](crate::ipc::wait) (their numbers are in the segment): its
    /// items', its room's, and a joinable queue's tasks done.
    ///
    /// [`Queue`]: crate::ipc::Queue
    _companions: [Option<OwnedFd>; 3],
}

impl<T: Shareable> Shared<T> {
    /// A segment holding `value`.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`).
    pub fn new(value: T) -> Result<Shared<T>> {
        SharedRegion::new(value)
            .map(|region| Shared {
                region,
                _companions: [None, None, None],
            })
            .map_err(|e| segment_error::<T>(e))
    }

    /// A segment holding an all-zero `T` (valid for every [`Shareable`]),
    /// built in place: use it for values too big for the stack.
    ///
    /// # Errors
    ///
    /// As [`Shared::new`].
    pub fn zeroed() -> Result<Shared<T>> {
        SharedRegion::zeroed()
            .map(|region| Shared {
                region,
                _companions: [None, None, None],
            })
            .map_err(|e| segment_error::<T>(e))
    }

    /// Gives `fd` to this handle: it lives as long as the handle, in this
    /// process and (inherited) in each process forked while it lives.
    /// (Up to three; a fourth is closed at once: no caller gives one.)
    pub(crate) fn with_companion(mut self, fd: OwnedFd) -> Shared<T> {
        if let Some(free) = self._companions.iter_mut().find(|c| c.is_none()) {
            *free = Some(fd);
        }
        self
    }
}

pub(crate) fn segment_error<T>(e: crate::sys::Errno) -> Error {
    Error::os(
        "mmap",
        Resource::AnonymousSegment {
            bytes: std::mem::size_of::<T>(),
        },
        e,
    )
}

impl<T: Shareable> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.region.get()
    }
}

impl<T: Shareable + std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Shared").field(self.region.get()).finish()
    }
}

/// The layout fingerprint of a shareable type: size, alignment and a hash
/// of its [`Shareable::type_identity`]. Two builds agree on it when they
/// agree on the type; named segments store it and compare it on open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// `size_of::<T>()`.
    pub size: u64,
    /// `align_of::<T>()`.
    pub align: u64,
    /// 64-bit FNV-1a of the type identity.
    pub identity: u64,
}

impl Fingerprint {
    /// The fingerprint of `T`.
    pub fn of<T: Shareable>() -> Fingerprint {
        Fingerprint {
            size: std::mem::size_of::<T>() as u64,
            align: std::mem::align_of::<T>() as u64,
            identity: fnv1a(T::type_identity().as_bytes()),
        }
    }
}

/// 64-bit FNV-1a: small, stable, and the same on every target.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
