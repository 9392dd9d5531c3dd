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
/// memory lives on for whoever has it mapped; a name that now holds
/// another segment is left alone), unless it called
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
/// `SIGBUS` later), writes the header (its pid and start time before the
/// magic, so a file with the magic always names its owner), then the
/// payload, publishes the version last, and only then makes the file
/// `0600`. Nothing read from the
/// header is used as a pointer or a length: it is only compared. `open`
/// and [`reclaim`](SharedMemory::reclaim) read the header with `pread`
/// (never through a mapping) and compare the file's size with it before
/// mapping anything more, so a short or foreign file is an error, not a
/// `SIGBUS`.
///
/// # Truncation: a peer that cuts the file kills the readers with `SIGBUS`
///
/// A named segment is a file that every process of the same user may open
/// and resize. If one of them truncates it (`ftruncate`, or `>
/// /dev/shm/<name>`) while others have it mapped, their next access to the
/// cut pages raises `SIGBUS`, which kills them: the kernel has no page to
/// give. No check can prevent it: `open` validates the size when it opens,
/// but a cut that comes later reaches memory the program already holds
/// references into. CPython's `multiprocessing.shared_memory.SharedMemory`
/// (and any `shm_open` + `mmap` user) has the same exposure. What to do:
///
/// - Between a parent and the children it forks, use anonymous segments
///   ([`Shared`](super::Shared), [`Value`](super::Value),
///   [`Array`](super::Array)): no name, nothing another process can open.
/// - For a peer you do not trust, hand over a `memfd` sealed against
///   shrinking (`F_SEAL_SHRINK`, over a socket) rather than a name: the
///   kernel then refuses the truncate itself.
/// - Otherwise trust stops at the user: segments are `0600`, so only the
///   same user (or root) can cut them; keep the name unguessable (a random
///   part) when other programs of that user are not trusted either.
pub struct SharedMemory<T: Shareable> {
    payload: Payload<T>,
    name: ShmName,
    /// The pid that created the segment and owns its name, while it does
    /// (0: this handle does not own the name).
    owner: i32,
    /// The segment's file, by device and inode: only this file's name is
    /// ever removed through this handle.
    file: (u64, u64),
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
        let made = set_up(&fd, init)
            .and_then(|payload| Ok((payload, sys::stat(&fd).map_err(|e| ("fstat", e))?)))
            .map_err(|(op, e)| Error::os(op, resource, e));
        match made {
            Ok((payload, st)) => Ok(SharedMemory {
                payload,
                name,
                owner: sysproc::getpid(),
                file: (st.dev, st.ino),
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
        let (segment, dead, _) = Self::open_as(OP, name)?;
        match dead {
            None => Ok(segment),
            Some(owner) => Err(Error::new(
                OP,
                Resource::NamedSegment(SegmentName::new(segment.name())),
                ErrorKind::StaleSegment { owner },
            )),
        }
    }

    /// [`SharedMemory::open`] that also maps a published segment whose
    /// owner is gone, with that owner's pid, and says what `fstat` said of
    /// the file: for the crate's own records, which are looked at before
    /// they are reclaimed.
    pub(crate) fn open_as(
        op: &'static str,
        name: &str,
    ) -> Result<(SharedMemory<T>, Option<i32>, sys::FileStat)> {
        let name = normalize(op, name)?;
        let resource = Resource::NamedSegment(SegmentName::new(&name));
        let os = |e| Error::os(op, resource, e);
        let fail = |kind| Error::new(op, resource, kind);
        let fd = sys::open(&name, OpenMode::Existing).map_err(os)?;
        let cut = |found: u64| ErrorKind::LayoutMismatch {
            field: "file size",
            expected: total_len::<T>() as u64,
            found,
        };
        let (head, size) = match read_contents(&fd).map_err(os)? {
            // A creator between `shm_open` and reserving the file.
            Contents::Empty => return Err(fail(ErrorKind::NotReady)),
            Contents::Short(found) => return Err(fail(cut(found))),
            Contents::Header(head, size) => (head, size),
        };
        check::<T>(&head, size).map_err(fail)?;
        let map = FileMapping::new(&fd, total_len::<T>()).map_err(os)?;
        // Measured again now that it is mapped: touching a mapping past
        // the file's end is a SIGBUS, so a file cut meanwhile is refused
        // here (one cut later cannot be: see "Truncation" above).
        let stat = sys::stat(&fd).map_err(os)?;
        if stat.size < total_len::<T>() as u64 {
            return Err(fail(cut(stat.size)));
        }
        let payload = Payload::new(map, payload_offset::<T>())
            .map_err(|_| Error::os(op, resource, Errno::EINVAL))?;
        // SYNC POINT: this Acquire load pairs with the creator's Release
        // store of the version: the payload it wrote before is visible
        // through the mapping from here on (the copy checked above was
        // read with pread, which orders nothing).
        let version = header_of(payload.mapping()).map_or(0, |h| h.version.load(Ordering::Acquire));
        if version != FORMAT_VERSION {
            return Err(fail(ErrorKind::LayoutMismatch {
                field: "format version",
                expected: u64::from(FORMAT_VERSION),
                found: u64::from(version),
            }));
        }
        let dead = dead_owner(head.owner_pid, head.owner_start);
        let segment = SharedMemory {
            payload,
            name,
            owner: 0,
            file: (stat.dev, stat.ino),
        };
        Ok((segment, dead, stat))
    }

    /// Removes the segment `name` if it is an `mproc` segment left behind
    /// by an owner that is gone: its header has this crate's magic, format
    /// version and header size, and names an owner (pid and start time)
    /// that is no longer alive, or whose pid now belongs to a process that
    /// started at another time. The payload's type is not looked at: any
    /// `T` reclaims any dead owner's segment. `Ok(true)` when it removed
    /// one; `Ok(false)` when there was nothing to remove (no such name, a
    /// live owner, a creator still setting it up, or a persisted segment).
    ///
    /// Anything else under the name is not ours, and stays as it is: an
    /// error says what was found. The header is read with `pread`, never
    /// mapped, so a file of any size is safe to look at.
    ///
    /// A creator killed in the microseconds between `shm_open` and
    /// reserving its file leaves an empty file; it cannot be told from
    /// another program's empty file, so it is refused too (remove it by
    /// hand: `rm /dev/shm/<name>`). Call `reclaim` at start-up, for names
    /// your program owns.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad name;
    /// [`ErrorKind::NotOurs`] for a file that is not an `mproc` segment
    /// (`found` says why: `"an empty file"`, `"a file shorter than a
    /// segment header"`, `"no mproc segment magic"`, `"an unknown format
    /// version"`, `"an unknown header size"`), left untouched;
    /// [`ErrorKind::PermissionDenied`] for another user's segment (or, for
    /// a non-root caller, one still being set up).
    pub fn reclaim(name: &str) -> Result<bool> {
        const OP: &str = "SharedMemory::reclaim";
        let name = normalize(OP, name)?;
        let resource = Resource::NamedSegment(SegmentName::new(&name));
        let os = |e| Error::os(OP, resource, e);
        let not_ours = |found| Err(Error::new(OP, resource, ErrorKind::NotOurs { found }));
        let fd = match sys::open(&name, OpenMode::Existing) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(os(e)),
        };
        let head = match read_contents(&fd).map_err(os)? {
            Contents::Empty => return not_ours("an empty file"),
            Contents::Short(_) => return not_ours("a file shorter than a segment header"),
            Contents::Header(head, _) => head,
        };
        if head.magic != MAGIC {
            return not_ours("no mproc segment magic");
        }
        // 0: the creator wrote its pid (before the magic) and had not
        // published the segment yet.
        if head.version != 0 && head.version != FORMAT_VERSION {
            return not_ours("an unknown format version");
        }
        if head.header_size != HEADER_SIZE as u32 {
            return not_ours("an unknown header size");
        }
        if dead_owner(head.owner_pid, head.owner_start).is_none() {
            return Ok(false);
        }
        // The file looked at, not one made since under the name.
        let file = sys::stat(&fd).map_err(os)?;
        match sys::unlink_if(&name, (file.dev, file.ino)) {
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
    /// memory until it drops its handle. Only this segment's name is
    /// removed: if the name now holds another segment (this one was
    /// unlinked and the name taken again), that one is left alone.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when this segment's name is already gone.
    pub fn unlink(&mut self) -> Result<()> {
        self.owner = 0;
        sys::unlink_if(&self.name, self.file).map_err(|e| {
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

/// A header as read with `pread`: plain numbers, not yet checked.
#[derive(Clone, Copy, Debug)]
struct HeaderCopy {
    magic: u64,
    version: u32,
    header_size: u32,
    payload_offset: u64,
    payload_size: u64,
    payload_align: u64,
    type_identity: u64,
    owner_pid: i32,
    owner_start: u64,
}

impl HeaderCopy {
    /// The fields at the offsets pinned on [`Header`].
    fn parse(b: &[u8; HEADER_SIZE]) -> HeaderCopy {
        let u64_at = |at: usize| {
            let mut f = [0u8; 8];
            f.copy_from_slice(&b[at..at + 8]);
            u64::from_ne_bytes(f)
        };
        let u32_at = |at: usize| {
            let mut f = [0u8; 4];
            f.copy_from_slice(&b[at..at + 4]);
            u32::from_ne_bytes(f)
        };
        HeaderCopy {
            magic: u64_at(offset_of!(Header, magic)),
            version: u32_at(offset_of!(Header, version)),
            header_size: u32_at(offset_of!(Header, header_size)),
            payload_offset: u64_at(offset_of!(Header, payload_offset)),
            payload_size: u64_at(offset_of!(Header, payload_size)),
            payload_align: u64_at(offset_of!(Header, payload_align)),
            type_identity: u64_at(offset_of!(Header, type_identity)),
            owner_pid: u32_at(offset_of!(Header, owner_pid)) as i32,
            owner_start: u64_at(offset_of!(Header, owner_start)),
        }
    }
}

/// What a segment's file holds, as far as its first bytes tell.
enum Contents {
    /// Nothing: a creator between `shm_open` and reserving the file (the
    /// reservation sets the whole length at once), or another program's
    /// empty file.
    Empty,
    /// Fewer bytes than a header (this many): never a stage of an `mproc`
    /// segment.
    Short(u64),
    /// A header's worth of bytes, unchecked, and the file's size.
    Header(HeaderCopy, u64),
}

/// The file's first bytes, read with `pread` rather than mapped: a file
/// shorter than a header (or cut while it is read) gives fewer bytes,
/// never a `SIGBUS`.
fn read_contents(fd: &std::os::fd::OwnedFd) -> core::result::Result<Contents, Errno> {
    let size = sys::size(fd)?;
    let mut bytes = [0u8; HEADER_SIZE];
    let n = if size == 0 {
        0
    } else {
        sys::read_at(fd, &mut bytes, 0)?
    };
    Ok(match n {
        0 => Contents::Empty,
        n if n < HEADER_SIZE => Contents::Short(n as u64),
        _ => Contents::Header(HeaderCopy::parse(&bytes), size),
    })
}

/// Reserves, maps and fills a segment just created with `O_EXCL`; the
/// failing call's name and errno otherwise.
///
/// The order is what [`SharedMemory::reclaim`] relies on: the reservation
/// gives the file its whole length at once; the owner's pid and start
/// time (and the layout fields) are written before the magic, and the
/// magic before the payload, so a file with the magic always names its
/// owner; the version comes last.
fn set_up<T: Shareable>(
    fd: &std::os::fd::OwnedFd,
    init: impl FnOnce(&mut FileMapping) -> bool,
) -> core::result::Result<Payload<T>, (&'static str, Errno)> {
    let len = total_len::<T>();
    sys::reserve(fd, len).map_err(|e| ("fallocate", e))?;
    let mut map = FileMapping::new(fd, len).map_err(|e| ("mmap", e))?;
    {
        let header = header_of(&map).ok_or(("mmap", Errno::EINVAL))?;
        let fingerprint = Fingerprint::of::<T>();
        let me = sysproc::getpid();
        header.owner_pid.store(me, Ordering::Relaxed);
        header
            .owner_start
            .store(sysproc::start_time(me).unwrap_or(0), Ordering::Relaxed);
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
        // SYNC POINT: Release orders the owner and layout fields above
        // before the magic, for readers that decide by them once they see
        // the magic (reclaim, open).
        header.magic.store(MAGIC, Ordering::Release);
    }
    if !init(&mut map) {
        return Err(("mmap", Errno::EINVAL));
    }
    let payload = Payload::new(map, payload_offset::<T>()).map_err(|_| ("mmap", Errno::EINVAL))?;
    let header = header_of(payload.mapping()).ok_or(("mmap", Errno::EINVAL))?;
    // SYNC POINT: Release publishes the payload and every field above to an
    // opener's Acquire load of the version.
    header.version.store(FORMAT_VERSION, Ordering::Release);
    sys::chmod(fd, MODE).map_err(|e| ("fchmod", e))?;
    Ok(payload)
}

/// The first header field that differs from what `T` needs, as an error
/// (and a segment not published yet: stale or not ready). Whether the
/// owner of a published segment lives is left to the caller.
fn check<T: Shareable>(header: &HeaderCopy, file_size: u64) -> core::result::Result<(), ErrorKind> {
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
    mismatch("magic", MAGIC, header.magic)?;
    if header.version == 0 {
        return Err(match dead_owner(header.owner_pid, header.owner_start) {
            Some(owner) => ErrorKind::StaleSegment { owner },
            None => ErrorKind::NotReady,
        });
    }
    mismatch(
        "format version",
        u64::from(FORMAT_VERSION),
        u64::from(header.version),
    )?;
    mismatch(
        "header size",
        HEADER_SIZE as u64,
        u64::from(header.header_size),
    )?;
    let fingerprint = Fingerprint::of::<T>();
    mismatch(
        "payload offset",
        payload_offset::<T>() as u64,
        header.payload_offset,
    )?;
    mismatch("payload size", fingerprint.size, header.payload_size)?;
    mismatch("payload alignment", fingerprint.align, header.payload_align)?;
    mismatch("type identity", fingerprint.identity, header.type_identity)?;
    mismatch("file size", total_len::<T>() as u64, file_size)
}

/// `pid` if a header naming owner `pid`, started at `recorded` (clock
/// ticks after boot; 0 if unknown), names an owner that is no longer
/// alive: its pid is gone (or a zombie), or now belongs to a process that
/// started at another time. `None` for a live owner, and for no owner
/// (0: persisted).
fn dead_owner(pid: i32, recorded: u64) -> Option<i32> {
    if pid <= 0 {
        return None;
    }
    if sysproc::is_dead(pid) {
        return Some(pid);
    }
    match sysproc::start_time(pid) {
        Some(now) if recorded != 0 && now != 0 && now != recorded => Some(pid),
        _ => None,
    }
}

/// The error for a name `create` found taken: stale or alive.
fn taken_error(op: &'static str, name: &str, resource: Resource) -> Error {
    let stale =
        sys::open(name, OpenMode::Existing)
            .ok()
            .and_then(|fd| match read_contents(&fd).ok()? {
                Contents::Header(h, _) if h.magic == MAGIC => {
                    dead_owner(h.owner_pid, h.owner_start)
                }
                _ => None,
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
            // Only this segment's: the name may have been taken again.
            let _ = sys::unlink_if(&self.name, self.file);
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
