//! Named shared memory: `shm_open(3)`, `shm_unlink(3)`, `fallocate(2)`,
//! `fstat(2)`, `fchmod(2)`, and a mapping of the file that hands out
//! references only to [`Shareable`] types, in bounds and aligned.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use super::mem::Shareable;
use super::{Errno, cvt, with_nul};

/// How to open a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Create it; fail with `EEXIST` if the name is taken.
    CreateExclusive {
        /// Permission bits for the new file.
        mode: u32,
    },
    /// Open an existing one for reading and writing.
    Existing,
}

/// `shm_open(name, O_RDWR | O_CLOEXEC [| O_CREAT | O_EXCL], mode)`.
pub(crate) fn open(name: &str, how: OpenMode) -> Result<OwnedFd, Errno> {
    let cname = with_nul(name)?;
    let (flags, mode) = match how {
        OpenMode::CreateExclusive { mode } => (libc::O_CREAT | libc::O_EXCL, mode),
        OpenMode::Existing => (0, 0),
    };
    let flags = flags | libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let fd = super::retry_on_intr(|| {
        // SAFETY: `cname` is NUL-terminated and outlives the call; the mode
        // is a plain integer.
        cvt(unsafe { libc::shm_open(cname.as_ptr().cast(), flags, mode as libc::mode_t) })
    })?;
    // SAFETY: shm_open just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `shm_unlink(name)`.
pub(crate) fn unlink(name: &str) -> Result<(), Errno> {
    let cname = with_nul(name)?;
    // SAFETY: `cname` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::shm_unlink(cname.as_ptr().cast()) }).map(drop)
}

/// `shm_unlink(name)` only while `name` is the file `(dev, ino)` (looked
/// at with `shm_open(O_RDONLY)` and `fstat`): `ENOENT` when the name is
/// gone or now names another file, which is left alone. A file that some
/// process maps cannot have its inode reused, so for the caller's own
/// mapped segment the identity is exact; only a rename into place in the
/// instant between the look and the unlink could slip through.
pub(crate) fn unlink_if(name: &str, (dev, ino): (u64, u64)) -> Result<(), Errno> {
    let cname = with_nul(name)?;
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let fd = super::retry_on_intr(|| {
        // SAFETY: `cname` is NUL-terminated and outlives the call.
        cvt(unsafe { libc::shm_open(cname.as_ptr().cast(), flags, 0) })
    })?;
    // SAFETY: shm_open just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = stat(&fd)?;
    if (st.dev, st.ino) != (dev, ino) {
        return Err(Errno::ENOENT);
    }
    unlink(name)
}

/// Reserves `len` bytes of backing for the file and sets its size to
/// `len` (`fallocate(2)` mode 0): a full `/dev/shm` fails here with
/// `ENOSPC` instead of a `SIGBUS` at first touch.
pub(crate) fn reserve(fd: &OwnedFd, len: usize) -> Result<(), Errno> {
    let len = libc::off_t::try_from(len).map_err(|_| Errno::EFBIG)?;
    super::retry_on_intr(|| {
        // SAFETY: plain integer arguments on a descriptor we own.
        cvt(unsafe { libc::fallocate(fd.as_raw_fd(), 0, 0, len) })
    })
    .map(drop)
}

/// What `fstat(2)` says about a file: enough to tell one file from
/// another and whose it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileStat {
    /// Its size in bytes.
    pub(crate) size: u64,
    /// The device and inode: the file's identity while it exists.
    pub(crate) dev: u64,
    /// See `dev`.
    pub(crate) ino: u64,
    /// Its owner's uid.
    pub(crate) uid: u32,
    /// Its permission bits.
    pub(crate) mode: u32,
}

/// `fstat(2)` of any descriptor (a segment, a message queue…).
#[allow(clippy::useless_conversion)] // the stat fields' widths vary by target
pub(crate) fn stat(fd: &OwnedFd) -> Result<FileStat, Errno> {
    // SAFETY: zeroed storage for the struct the kernel fills in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is live and writable; the descriptor is ours.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(FileStat {
        size: u64::try_from(st.st_size).unwrap_or(0),
        dev: u64::from(st.st_dev),
        ino: u64::from(st.st_ino),
        uid: st.st_uid,
        mode: u32::from(st.st_mode) & 0o7777,
    })
}

/// The file's size, by `fstat(2)`.
pub(crate) fn size(fd: &OwnedFd) -> Result<u64, Errno> {
    stat(fd).map(|st| st.size)
}

/// `pread(2)`: up to `buf.len()` bytes from `offset`, without mapping the
/// file (a file shorter than asked gives fewer bytes, never a `SIGBUS`).
/// Retries `EINTR` and short reads; returns how many bytes were read.
pub(crate) fn read_at(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        let at = libc::off_t::try_from(offset + done as u64).map_err(|_| Errno::EFBIG)?;
        let rest = &mut buf[done..];
        let n = super::retry_on_intr(|| {
            // SAFETY: `rest` is live and writable for `rest.len()` bytes;
            // the descriptor is ours.
            let n =
                unsafe { libc::pread(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len(), at) };
            if n < 0 {
                Err(Errno::last())
            } else {
                Ok(n as usize)
            }
        })?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// `fchmod(2)`.
pub(crate) fn chmod(fd: &OwnedFd, mode: u32) -> Result<(), Errno> {
    // SAFETY: plain integer arguments on a descriptor we own.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// A `MAP_SHARED` mapping of the first `len` bytes of a file, unmapped on
/// drop. Hands out `&U` for [`Shareable`] `U` only (any bit pattern is a
/// valid `U`, so whatever another process wrote there is safe to read), and
/// only in bounds and aligned.
pub(crate) struct FileMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; only `&U` with `U: Sync` is handed
// out, and `init` needs `&mut self`.
unsafe impl Send for FileMapping {}
// SAFETY: as above.
unsafe impl Sync for FileMapping {}

impl FileMapping {
    /// Maps `len` bytes of `fd` from offset 0, readable and writable.
    pub(crate) fn new(fd: &OwnedFd, len: usize) -> Result<FileMapping, Errno> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        // SAFETY: a fresh shared mapping of a descriptor we own; no existing
        // memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        match NonNull::new(ptr.cast::<u8>()) {
            Some(ptr) => Ok(FileMapping { ptr, len }),
            None => Err(Errno::ENOMEM),
        }
    }

    /// Whether a `U` fits at `offset`, in bounds and aligned.
    fn fits<U>(&self, offset: usize) -> bool {
        let Some(end) = offset.checked_add(std::mem::size_of::<U>()) else {
            return false;
        };
        // The mapping is page-aligned, so an aligned offset is an aligned
        // address (no Shareable type is aligned beyond a page).
        end <= self.len && offset.is_multiple_of(std::mem::align_of::<U>())
    }

    /// The `U` at `offset`, or `None` when it would not be in bounds and
    /// aligned.
    pub(crate) fn get<U: Shareable>(&self, offset: usize) -> Option<&U> {
        if !self.fits::<U>(offset) {
            return None;
        }
        // SAFETY: in bounds and aligned (checked above); the mapping lives as
        // long as `self`; every bit pattern is a valid U and U is Sync
        // (Shareable), so a shared reference to memory other processes write
        // is sound as long as they follow U's own protocol.
        Some(unsafe { &*self.ptr.as_ptr().add(offset).cast::<U>() })
    }

    /// Writes `value` at `offset` before anyone in this process holds a
    /// reference into the mapping (`&mut self`). Returns `false` when it
    /// would not be in bounds and aligned.
    pub(crate) fn init<U: Shareable>(&mut self, offset: usize, value: U) -> bool {
        if !self.fits::<U>(offset) {
            return false;
        }
        // SAFETY: in bounds and aligned (checked above); `&mut self` means no
        // reference into the mapping is alive in this process, and other
        // processes do not read the payload before the creator publishes the
        // header's version (the segment protocol). U has no drop glue, so
        // overwriting the old bytes drops nothing.
        unsafe { self.ptr.as_ptr().add(offset).cast::<U>().write(value) };
        true
    }
}

impl Drop for FileMapping {
    fn drop(&mut self) {
        // SAFETY: mapped in `new` with this length, unmapped once, here; no
        // reference handed out outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A mapping whose bytes at `offset` hold a `T`: checked once when made,
/// so [`Payload::get`] needs no check.
pub(crate) struct Payload<T> {
    map: FileMapping,
    offset: usize,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Shareable> Payload<T> {
    /// `map` with a `T` at `offset`; the mapping back when a `T` would not
    /// be in bounds and aligned there.
    pub(crate) fn new(map: FileMapping, offset: usize) -> Result<Payload<T>, FileMapping> {
        if map.fits::<T>(offset) {
            Ok(Payload {
                map,
                offset,
                _t: std::marker::PhantomData,
            })
        } else {
            Err(map)
        }
    }

    /// The `T`.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: `new` checked that a T at `offset` is in bounds and
        // aligned; the rest is as in `FileMapping::get`.
        unsafe { &*self.map.ptr.as_ptr().add(self.offset).cast::<T>() }
    }

    /// The whole mapping, for its other parts (a header).
    pub(crate) fn mapping(&self) -> &FileMapping {
        &self.map
    }
}

/// An anonymous file of `len` zero bytes whose size nobody can change
/// (`memfd_create(2)` with `MFD_CLOEXEC | MFD_ALLOW_SEALING`,
/// `ftruncate(2)`, then `fcntl(F_ADD_SEALS)` with `F_SEAL_SHRINK |
/// F_SEAL_GROW | F_SEAL_SEAL`): memory to map and to hand to another
/// process over a socket. That process may write the bytes but can neither
/// truncate the file (which would make this process's next touch of its
/// mapping a `SIGBUS`) nor grow it, nor lift the seals. It has no name to
/// clean up; it lives as long as a descriptor or a mapping of it does.
pub(crate) fn memfd(len: usize) -> Result<OwnedFd, Errno> {
    let len = libc::off_t::try_from(len).map_err(|_| Errno::EFBIG)?;
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a NUL-terminated literal name and plain flags.
    let fd = cvt(unsafe { libc::memfd_create(c"mproc".as_ptr(), flags) })?;
    // SAFETY: memfd_create just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    super::retry_on_intr(|| {
        // SAFETY: plain integer arguments on a descriptor we own.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) })
    })?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: plain integer arguments on a descriptor we own.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    Ok(fd)
}

impl FileMapping {
    /// Copies `out.len()` bytes from `offset` into `out`; `false` (and
    /// nothing copied) when they are not all inside the mapping.
    pub(crate) fn read_bytes(&self, offset: usize, out: &mut [u8]) -> bool {
        if offset
            .checked_add(out.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        // SAFETY: the source range is inside the live mapping (checked
        // above) and the destination is a distinct local buffer. Another
        // process may write the same bytes meanwhile: every byte pattern is
        // acceptable to the reader, who validates what it decodes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            );
        }
        true
    }

    /// Copies `bytes` into the mapping at `offset`; `false` (and nothing
    /// copied) when they would not all fit inside it.
    pub(crate) fn write_bytes(&self, offset: usize, bytes: &[u8]) -> bool {
        if offset
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        // SAFETY: the destination range is inside the live mapping (checked
        // above) and holds plain bytes (no Rust reference into this range is
        // handed out: the channel protocol reaches its bytes through these
        // two copies only); the source is a distinct local slice.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(offset),
                bytes.len(),
            );
        }
        true
    }
}
