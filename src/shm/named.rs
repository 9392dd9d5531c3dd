//! Named segments: `shm_open` files under `/dev/shm` that unrelated
//! processes open by name, each starting with a fixed header that says
//! what the payload is.

use core::fmt;
use core::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use super::{Fingerprint, Shareable};
use crate::error::{Error, ErrorKind, Resource, Result, SegmentName};
use crate::name::KernelName;
use crate::process::Pid;
use crate::sys::Errno;
use crate::sys::process as sysproc;
use crate::sys::shm::{self as sys, FileMapping, OpenMode, Payload};

/// The first 64 bytes of every named segment, in this order, every field
/// little- or big-endian as the machine is (a segment is shared by the
/// processes of one machine):
///
/// | offset | size | field |
/// |-------:|-----:|-------|
/// | 0  | 8 | magic: the bytes `mprocSHM` |
/// | 8  | 4 | format version: 1; 0 while the creator sets the segment up |
/// | 12 | 4 | header size: 64 |
/// | 16 | 8 | payload offset: 64 rounded up to the payload's alignment |
/// | 24 | 8 | payload size (`size_of`) |
/// | 32 | 8 | payload alignment (`align_of`) |
/// | 40 | 8 | payload type identity: FNV-1a of [`Shareable::type_identity`] |
/// | 48 | 4 | owner pid: the creator while it owns the name; 0 once persisted |
/// | 52 | 4 | reserved, 0 |
/// | 56 | 8 | owner start time (clock ticks after boot; 0 if unknown) |
///
/// The same on 32- and 64-bit targets (pinned below).
#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    header_size: AtomicU32,
    payload_offset: AtomicU64,
    payload_size: AtomicU64,
    payload_align: AtomicU64,
    type_identity: AtomicU64,
    owner_pid: AtomicI32,
    reserved: AtomicU32,
    owner_start: AtomicU64,
}

// SAFETY: repr(C) of fixed-width atomics: no pointers, no drop glue, every
// bit pattern valid, shared mutation only through atomic operations.
#[allow(unsafe_code)]
unsafe impl Shareable for Header {}

const HEADER_SIZE: usize = 64;
static_assertions::const_assert_eq!(size_of::<Header>(), HEADER_SIZE);
static_assertions::const_assert_eq!(align_of::<Header>(), 8);
static_assertions::const_assert_eq!(offset_of!(Header, version), 8);
static_assertions::const_assert_eq!(offset_of!(Header, header_size), 12);
static_assertions::const_assert_eq!(offset_of!(Header, payload_offset), 16);
static_assertions::const_assert_eq!(offset_of!(Header, payload_size), 24);
static_assertions::const_assert_eq!(offset_of!(Header, payload_align), 32);
static_assertions::const_assert_eq!(offset_of!(Header, type_identity), 40);
static_assertions::const_assert_eq!(offset_of!(Header, owner_pid), 48);
static_assertions::const_assert_eq!(offset_of!(Header, owner_start), 56);

const MAGIC: u64 = u64::from_ne_bytes(*b"mprocSHM");
const FORMAT_VERSION: u32 = 1;
/// Mode while the creator sets the segment up: write-only, so that no
/// other process of the same (non-root) user can even open it.
const MODE_SETTING_UP: u32 = 0o200;
/// Mode once ready.
const MODE: u32 = 0o600;

/// Where the payload starts.
const fn payload_offset<T>() -> usize {
    HEADER_SIZE.next_multiple_of(align_of::<T>())
}

/// The whole file's length.
const fn total_len<T>() -> usize {
    payload_offset::<T>() + size_of::<T>()
}

/// A name as `shm_open` takes it.
type ShmName = KernelName;

fn normalize(op: &'static str, name: &str) -> Result<ShmName> {
    crate::name::normalize(op, "segment name", name)
}

/// A value of type `T` in a named shared-memory segment
/// (`/dev/shm/<name>`): Python's `multiprocessing.shared_memory.SharedMemory`,
/// typed. Unrelated processes open it by name; read it through `Deref`, and
/// change it through `&T` (atomics, the [`sync`](crate::sync) primitives).
///
/// ```no_run
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use mproc::shm::SharedMemory;
///
/// // Process A
/// let counter = SharedMemory::create("/jobs-done", AtomicU64::new(0))?;
/// // Process B (any process of the same user)
/// let seen = SharedMemory::<AtomicU64>::open("/jobs-done")?;
/// seen.fetch_add(1, Ordering::Relaxed);
/// assert_eq!(counter.load(Ordering::Relaxed), 1);
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// # Ownership of the name
///
/// The creator owns the name: dropping its handle removes the name (the
/// memory lives on for whoever has it mapped), unless it called
/// [`persist`](SharedMemory::persist). A creator that dies without
/// dropping (SIGKILL, [`process::exit`](crate::process::exit)) leaves the
/// name behind; [`open`](SharedMemory::open) and
/// [`create`](SharedMemory::create) then refuse it with
/// [`ErrorKind::StaleSegment`], and [`reclaim`](SharedMemory::reclaim)
/// removes it. A handle inherited by a forked child is not the owner.
///
/// # The header
///
/// Every segment starts with 64 bytes: magic, format version, payload
/// offset, size, alignment and type identity (the [`Fingerprint`] of `T`),
/// the owner's pid and start time. `open` checks each and refuses a
/// mismatch with [`ErrorKind::LayoutMismatch`] naming the field. The
/// creator makes the file with `O_EXCL` and mode `0200`, reserves its
/// backing with `fallocate` (a full `/dev/shm` fails here, not with a
/// `SIGBUS` later), writes the payload and the header, publishes the
/// version last, and only then makes the file `0600`. Nothing read from the
/// header is used as a pointer or a length: it is only compared.
pub struct SharedMemory<T: Shareable> {
    payload: Payload<T>,
    name: ShmName,
    /// The pid that created the segment and owns its name, while it does
    /// (0: this handle does not own the name).
    owner: i32,
}

impl<T: Shareable> SharedMemory<T> {
    /// Creates the segment `name` holding `value`: Python's
    /// `SharedMemory(name, create=True)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad name;
    /// [`ErrorKind::AlreadyExists`] when the name is taken by a live owner or
    /// a persisted segment; [`ErrorKind::StaleSegment`] when it is a
    /// leftover of a dead owner (see [`reclaim`](SharedMemory::reclaim));
    /// `ENOSPC`/`ENOMEM` when `/dev/shm` cannot hold it. On any error
    /// nothing is left behind.
    pub fn create(name: &str, value: T) -> Result<SharedMemory<T>> {
        Self::create_with("SharedMemory::create", name, |map| {
            map.init(payload_offset::<T>(), value)
        })
    }

    /// Creates the segment `name` holding an all-zero `T` (valid for every
    /// [`Shareable`]), built in place: for values too big for the stack.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::create`].
    pub fn create_zeroed(name: &str) -> Result<SharedMemory<T>> {
        // A fresh file reads as zeros: a zeroed T needs no writing (and no
        // T on the stack).
        Self::create_with("SharedMemory::create_zeroed", name, |_| true)
    }

    fn create_with(
        op: &'static str,
        name: &str,
        init: impl FnOnce(&mut FileMapping) -> bool,
    ) -> Result<SharedMemory<T>> {
        let name = normalize(op, name)?;
        let resource = Resource::NamedSegment(SegmentName::new(&name));
        let fd = match sys::open(
            &name,
            OpenMode::CreateExclusive {
                mode: MODE_SETTING_UP,
            },
        ) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => return Err(taken_error(op, &name, resource)),
            Err(e) => return Err(Error::os(op, resource, e)),
        };
        let made = set_up(&fd, init).map_err(|(op, e)| Error::os(op, resource, e));
        match made {
            Ok(payload) => Ok(SharedMemory {
                payload,
                name,
                owner: sysproc::getpid(),
            }),
            Err(e) => {
                // The name is ours (O_EXCL): remove what we began.
                let _ = sys::unlink(&name);
                Err(e)
            }
        }
    }

    /// Opens the existing segment `name`, checking that it holds a `T`:
    /// Python's `SharedMemory(name)`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad name; [`ErrorKind::NotFound`];
    /// [`ErrorKind::LayoutMismatch`] naming the first header field that
    /// differs from what this build expects for `T`;
    /// [`ErrorKind::NotReady`] while its creator sets it up;
    /// [`ErrorKind::StaleSegment`] when its owner died without removing it;
    /// [`ErrorKind::PermissionDenied`] for another user's segment (or, for
    /// a non-root caller, one still being set up).
    pub fn open(name: &str) -> Result<SharedMemory<T>> {
        const OP: &str = "SharedMemory::open";
        let name = normalize(OP, name)?;
        let resource = Resource::NamedSegment(SegmentName::new(&name));
        let os = |e| Error::os(OP, resource, e);
        let fd = sys::open(&name, OpenMode::Existing).map_err(os)?;
        let not_ready = || Error::new(OP, resource, ErrorKind::NotReady);
        let (size, head) = map_header(&fd).map_err(os)?.ok_or_else(not_ready)?;
        let header = header_of(&head).ok_or_else(not_ready)?;
        check::<T>(header, size).map_err(|kind| Error::new(OP, resource, kind))?;
        drop(head);
        let map = FileMapping::new(&fd, total_len::<T>()).map_err(os)?;
        let payload = Payload::new(map, payload_offset::<T>())
            .map_err(|_| Error::os(OP, resource, Errno::EINVAL))?;
        Ok(SharedMemory {
            payload,
            name,
            owner: 0,
        })
    }

    /// Removes the segment `name` if it is a leftover: its owner died
    /// without removing it, or its creator died before writing its header.
    /// `Ok(true)` when it removed one; `Ok(false)` when there was nothing
    /// stale (no such name, a live owner, or a persisted segment).
    ///
    /// A creator is between `shm_open` and writing its pid for some
    /// microseconds; a `reclaim` at that instant takes the name from it (its
    /// handle keeps working, unnamed). Call it at start-up, for names your
    /// program owns.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad name;
    /// [`ErrorKind::PermissionDenied`] for another user's segment.
    pub fn reclaim(name: &str) -> Result<bool> {
        const OP: &str = "SharedMemory::reclaim";
        let name = normalize(OP, name)?;
        let resource = Resource::NamedSegment(SegmentName::new(&name));
        let os = |e| Error::os(OP, resource, e);
        let fd = match sys::open(&name, OpenMode::Existing) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(os(e)),
        };
        let stale = match map_header(&fd).map_err(os)? {
            // Its creator died before reserving the file.
            None => true,
            Some((_, head)) => header_of(&head).is_none_or(|header| {
                dead_owner(header).is_some()
                    || (header.owner_pid.load(Ordering::Acquire) == 0
                        && header.version.load(Ordering::Acquire) == 0)
            }),
        };
        if !stale {
            return Ok(false);
        }
        match sys::unlink(&name) {
            Ok(()) => Ok(true),
            // Someone else removed it meanwhile.
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(os(e)),
        }
    }

    /// Keeps the name after this handle is dropped and after this process
    /// ends: the segment then has no owner, is never stale, and stays until
    /// some process calls [`unlink`](SharedMemory::unlink) (or the machine
    /// restarts). Does nothing on a handle that does not own the name.
    pub fn persist(&mut self) {
        if !self.owns() {
            return;
        }
        if let Some(header) = self.header() {
            header.owner_start.store(0, Ordering::Relaxed);
            header.owner_pid.store(0, Ordering::Release);
        }
        self.owner = 0;
    }

    /// Removes the name now (Python's `unlink()`), from any handle: later
    /// `open`s fail, while every process that has it mapped keeps the
    /// memory until it drops its handle.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when the name is already gone.
    pub fn unlink(&mut self) -> Result<()> {
        self.owner = 0;
        sys::unlink(&self.name).map_err(|e| {
            Error::os(
                "SharedMemory::unlink",
                Resource::NamedSegment(SegmentName::new(&self.name)),
                e,
            )
        })
    }

    /// The name, with its leading `/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this handle owns the name (removes it on drop).
    pub fn owns(&self) -> bool {
        self.owner != 0 && self.owner == sysproc::getpid()
    }

    /// The pid of the process that owns the name, as the header says;
    /// `None` once persisted.
    pub fn owner(&self) -> Option<Pid> {
        Pid::from_raw(self.header()?.owner_pid.load(Ordering::Acquire))
    }

    /// The header: always there (the payload mapping starts with it, as
    /// created or checked).
    fn header(&self) -> Option<&Header> {
        header_of(self.payload.mapping())
    }
}

fn header_of(map: &FileMapping) -> Option<&Header> {
    map.get::<Header>(0)
}

/// The segment file's size and its header mapped; `None` while the file is
/// shorter than a header (its creator has not reserved it yet, or died
/// first).
fn map_header(
    fd: &std::os::fd::OwnedFd,
) -> core::result::Result<Option<(u64, FileMapping)>, Errno> {
    let size = sys::size(fd)?;
    if size < HEADER_SIZE as u64 {
        return Ok(None);
    }
    FileMapping::new(fd, HEADER_SIZE).map(|head| Some((size, head)))
}

/// Reserves, maps and fills a segment just created with `O_EXCL`; the
/// failing call's name and errno otherwise.
fn set_up<T: Shareable>(
    fd: &std::os::fd::OwnedFd,
    init: impl FnOnce(&mut FileMapping) -> bool,
) -> core::result::Result<Payload<T>, (&'static str, Errno)> {
    let len = total_len::<T>();
    sys::reserve(fd, len).map_err(|e| ("fallocate", e))?;
    let mut map = FileMapping::new(fd, len).map_err(|e| ("mmap", e))?;
    if !init(&mut map) {
        return Err(("mmap", Errno::EINVAL));
    }
    let payload = Payload::new(map, payload_offset::<T>()).map_err(|_| ("mmap", Errno::EINVAL))?;
    let header = header_of(payload.mapping()).ok_or(("mmap", Errno::EINVAL))?;
    let fingerprint = Fingerprint::of::<T>();
    let me = sysproc::getpid();
    header.magic.store(MAGIC, Ordering::Relaxed);
    header
        .header_size
        .store(HEADER_SIZE as u32, Ordering::Relaxed);
    header
        .payload_offset
        .store(payload_offset::<T>() as u64, Ordering::Relaxed);
    header
        .payload_size
        .store(fingerprint.size, Ordering::Relaxed);
    header
        .payload_align
        .store(fingerprint.align, Ordering::Relaxed);
    header
        .type_identity
        .store(fingerprint.identity, Ordering::Relaxed);
    header.owner_pid.store(me, Ordering::Relaxed);
    header
        .owner_start
        .store(sysproc::start_time(me).unwrap_or(0), Ordering::Relaxed);
    // SYNC POINT: Release publishes the payload and every field above to an
    // opener's Acquire load of the version.
    header.version.store(FORMAT_VERSION, Ordering::Release);
    sys::chmod(fd, MODE).map_err(|e| ("fchmod", e))?;
    Ok(payload)
}

/// The first header field that differs from what `T` needs, as an error.
fn check<T: Shareable>(header: &Header, file_size: u64) -> core::result::Result<(), ErrorKind> {
    let mismatch = |field, expected: u64, found: u64| {
        if expected == found {
            Ok(())
        } else {
            Err(ErrorKind::LayoutMismatch {
                field,
                expected,
                found,
            })
        }
    };
    mismatch("magic", MAGIC, header.magic.load(Ordering::Acquire))?;
    let version = header.version.load(Ordering::Acquire);
    if version == 0 {
        return Err(match dead_owner(header) {
            Some(owner) => ErrorKind::StaleSegment { owner },
            None => ErrorKind::NotReady,
        });
    }
    mismatch(
        "format version",
        u64::from(FORMAT_VERSION),
        u64::from(version),
    )?;
    let fingerprint = Fingerprint::of::<T>();
    mismatch(
        "payload offset",
        payload_offset::<T>() as u64,
        header.payload_offset.load(Ordering::Relaxed),
    )?;
    mismatch(
        "payload size",
        fingerprint.size,
        header.payload_size.load(Ordering::Relaxed),
    )?;
    mismatch(
        "payload alignment",
        fingerprint.align,
        header.payload_align.load(Ordering::Relaxed),
    )?;
    mismatch(
        "type identity",
        fingerprint.identity,
        header.type_identity.load(Ordering::Relaxed),
    )?;
    mismatch("file size", total_len::<T>() as u64, file_size)?;
    match dead_owner(header) {
        Some(owner) => Err(ErrorKind::StaleSegment { owner }),
        None => Ok(()),
    }
}

/// The owner's pid if the header names an owner that is no longer alive:
/// its pid is gone (or a zombie), or now belongs to a process that started
/// at another time.
fn dead_owner(header: &Header) -> Option<i32> {
    let pid = header.owner_pid.load(Ordering::Acquire);
    if pid <= 0 {
        return None;
    }
    if sysproc::is_dead(pid) {
        return Some(pid);
    }
    let recorded = header.owner_start.load(Ordering::Relaxed);
    match sysproc::start_time(pid) {
        Some(now) if recorded != 0 && now != 0 && now != recorded => Some(pid),
        _ => None,
    }
}

/// The error for a name `create` found taken: stale or alive.
fn taken_error(op: &'static str, name: &str, resource: Resource) -> Error {
    let stale = sys::open(name, OpenMode::Existing).ok().and_then(|fd| {
        let (_, head) = map_header(&fd).ok()??;
        dead_owner(header_of(&head)?)
    });
    match stale {
        Some(owner) => Error::new(op, resource, ErrorKind::StaleSegment { owner }),
        None => Error::os(op, resource, Errno::EEXIST),
    }
}

impl<T: Shareable> std::ops::Deref for SharedMemory<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.payload.get()
    }
}

impl<T: Shareable> Drop for SharedMemory<T> {
    fn drop(&mut self) {
        if self.owns() {
            let _ = sys::unlink(&self.name);
        }
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for SharedMemory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name.as_str())
            .field("owns", &self.owns())
            .field("value", self.payload.get())
            .finish()
    }
}
