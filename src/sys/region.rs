//! A shared mapping sized at run time: anonymous
//! `MAP_SHARED` memory holding a fixed header and then a run of bytes
//! (the variable-length record queue's ring).

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::Errno;
use super::mem::Shareable;

/// Where the bytes start: after the header, on a cache line of their own.
const fn bytes_at<H>() -> usize {
    std::mem::size_of::<H>().div_ceil(64) * 64
}

/// An anonymous `MAP_SHARED` mapping of a header `H` followed by `len`
/// bytes, all zero when made: every process forked after it was made sees
/// the same memory. Unmapped on drop (in each process that drops its
/// copy). Pages are touched only as they are used, so a large region
/// costs memory only for what was written.
pub(crate) struct Region<H: Shareable> {
    ptr: NonNull<u8>,
    /// The bytes after the header.
    len: usize,
    _header: PhantomData<H>,
}

// SAFETY: the region is plain memory holding an `H: Sync` and bytes that
// are reached only through the `unsafe` accessors, whose callers promise
// exclusion; moving the owner to another thread moves only the address.
unsafe impl<H: Shareable> Send for Region<H> {}
// SAFETY: as above: `&H` is shared (`H: Sync`), the bytes are reached
// under the callers' lock.
unsafe impl<H: Shareable> Sync for Region<H> {}

impl<H: Shareable> Region<H> {
    /// A zero-filled region of a header and `len` bytes (all-zero is a
    /// valid `H` by the `Shareable` contract). `ENOMEM` when the total
    /// overflows the address space.
    pub(crate) fn zeroed(len: usize) -> Result<Region<H>, Errno> {
        const {
            assert!(
                std::mem::align_of::<H>() <= 64,
                "a region's header may not be aligned beyond a cache line"
            )
        };
        let total = bytes_at::<H>().checked_add(len).ok_or(Errno::ENOMEM)?;
        // `total` is never zero: the header takes at least a line.
        let ptr = super::mem::map_shared_bytes(total)?;
        Ok(Region {
            ptr,
            len,
            _header: PhantomData,
        })
    }

    /// The header.
    pub(crate) fn header(&self) -> &H {
        // SAFETY: the mapping is page-aligned (so aligned for H, at most a
        // cache line), starts with an initialised H (zeroed is valid by the
        // Shareable contract), lives as long as `self`, and only shared
        // references to it are handed out.
        unsafe { self.ptr.cast::<H>().as_ref() }
    }

    /// The number of bytes after the header.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bytes `at..at + len`, or `None` when they are not all in the
    /// region.
    ///
    /// # Safety
    ///
    /// No process or thread may write these bytes while the slice lives:
    /// the caller holds a lock that every writer of them takes.
    pub(crate) unsafe fn bytes(&self, at: usize, len: usize) -> Option<&[u8]> {
        let end = at.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // SAFETY: in bounds (checked above) of a live mapping; bytes are
        // always initialised (zero-filled at first); the caller excludes
        // writers for the slice's life.
        Some(unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().add(bytes_at::<H>() + at), len)
        })
    }

    /// The bytes `at..at + len`, writable, or `None` when they are not all
    /// in the region.
    ///
    /// # Safety
    ///
    /// No other process or thread may read or write these bytes while the
    /// slice lives: the caller holds a lock that every access to them
    /// takes.
    #[allow(clippy::mut_from_ref)] // exclusivity comes from the caller's lock
    pub(crate) unsafe fn bytes_mut(&self, at: usize, len: usize) -> Option<&mut [u8]> {
        let end = at.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // SAFETY: in bounds (checked above) of a live, writable mapping;
        // exclusive for the slice's life by the caller's promise.
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(bytes_at::<H>() + at), len)
        })
    }
}

impl<H: Shareable> Region<H> {
    /// The address of byte `at` of the bytes after the header, when
    /// `at..at + len` is all in the region (for data reached by raw
    /// pointer under a hand-over protocol, such as a pool slot's payload).
    pub(crate) fn ptr_at(&self, at: usize, len: usize) -> Option<NonNull<u8>> {
        if at.checked_add(len)? > self.len {
            return None;
        }
        // `bytes_at + at` stays inside the mapping (checked above).
        NonNull::new(self.ptr.as_ptr().wrapping_add(bytes_at::<H>() + at))
    }

    /// The `T` at byte `at` of the bytes after the header, or `None` when
    /// it is not all in the region or `at` is not aligned for `T` (a
    /// run-time sized array of shared records, such as a pool's slots).
    ///
    /// # Safety
    ///
    /// The bytes of that `T` are only ever reached as a `T` (this
    /// function, with the same `at`), never through [`Region::bytes`],
    /// [`Region::bytes_mut`] or a raw pointer that writes them as bytes.
    pub(crate) unsafe fn get<T: Shareable>(&self, at: usize) -> Option<&T> {
        let ptr = self.ptr_at(at, std::mem::size_of::<T>())?;
        if !(ptr.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return None;
        }
        // SAFETY: in bounds and aligned (checked above) in a live mapping
        // that was zero-filled (all-zero is a valid `T` by the Shareable
        // contract); only shared references to it exist (the caller's
        // promise), and `T: Sync` makes sharing them sound.
        Some(unsafe { ptr.cast::<T>().as_ref() })
    }

    /// The `T` at byte `at` of the bytes after the header, unchecked: for
    /// the hot paths of a layout whose bounds and alignment were checked
    /// once with [`Region::get`].
    ///
    /// # Safety
    ///
    /// `at..at + size_of::<T>()` is in the region and `at` is aligned for
    /// `T` (as [`Region::get`] checks), and the obligations of
    /// [`Region::get`] hold.
    pub(crate) unsafe fn get_unchecked<T: Shareable>(&self, at: usize) -> &T {
        // SAFETY: in bounds and aligned (the caller's promise) in a live,
        // zero-filled mapping (all-zero is a valid `T`); only shared
        // references to it exist (the caller's promise); `T: Sync`.
        unsafe { &*self.ptr.as_ptr().add(bytes_at::<H>() + at).cast::<T>() }
    }

    /// Asks the CPU to fetch the cache line holding byte `at` for writing,
    /// ahead of a write there (a hint: nothing on targets without one,
    /// nothing when `at` is outside the bytes).
    pub(crate) fn prefetch_write(&self, at: usize) {
        if at >= self.len {
            return;
        }
        super::prefetch::write_at(self.ptr.as_ptr().wrapping_add(bytes_at::<H>() + at));
    }
}

impl<H: Shareable> Drop for Region<H> {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `zeroed` with this length and is
        // unmapped once, here; no reference into it outlives `self` (they
        // borrow it). H has no drop glue to run (Shareable contract).
        unsafe { super::mem::unmap(self.ptr, bytes_at::<H>() + self.len) };
    }
}
