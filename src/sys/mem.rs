//! Memory mappings: `mmap(2)`, `madvise(2)`.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

use super::Errno;

/// A lazily made, never unmapped, zero-filled run of atomic words that a
/// forked child sees zero-filled again (`MADV_WIPEONFORK`, Linux 4.14).
///
/// The point is the parent's side: the kernel neither copies this mapping
/// into a child nor write-protects it in the parent, so the parent's stores
/// after a fork cost no copy-on-write fault. Where the advice is refused
/// (older kernels; qemu-user ignores it) the mapping is inherited like any
/// private memory, and [`WipeOnFork::wiped`] says so: callers must then
/// recognise a copied table themselves.
pub(crate) struct WipeOnFork {
    ptr: AtomicPtr<AtomicI32>,
    wiped: AtomicBool,
}

impl WipeOnFork {
    /// Nothing mapped yet.
    pub(crate) const fn new() -> WipeOnFork {
        WipeOnFork {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
            wiped: AtomicBool::new(false),
        }
    }

    /// The words, mapped on first use. Call with the same `len` each time.
    /// `None` if the mapping cannot be made (out of memory).
    pub(crate) fn words(&'static self, len: usize) -> Option<&'static [AtomicI32]> {
        let mut ptr = self.ptr.load(Ordering::Acquire);
        if ptr.is_null() {
            let (fresh, wiped) = map_wiped(len).ok()?;
            self.wiped.store(wiped, Ordering::Relaxed);
            // SYNC POINT: AcqRel publishes the mapping to threads that load
            // it with Acquire above; a loser of the race unmaps its own.
            match self.ptr.compare_exchange(
                std::ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => ptr = fresh,
                Err(winner) => {
                    // SAFETY: `fresh` was mapped above with this length and
                    // nobody else has seen it.
                    unsafe { libc::munmap(fresh.cast(), bytes(len)) };
                    ptr = winner;
                }
            }
        }
        // SAFETY: `ptr` comes from `map_wiped(len)`: a live, never unmapped,
        // zero-filled (any bit pattern is a valid AtomicI32), page-aligned
        // mapping of `len` AtomicI32s, accessed only through atomics.
        Some(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    /// Whether the words are mapped and the kernel took the advice: a forked
    /// child then sees them all zero, without touching them first.
    pub(crate) fn wiped(&self) -> bool {
        !self.ptr.load(Ordering::Acquire).is_null() && self.wiped.load(Ordering::Relaxed)
    }
}

/// A lazily made, never unmapped, zero-filled run of atomic words in an
/// anonymous `MAP_SHARED` mapping, one per process: a forked child sees the
/// mapping its parent made (the same memory, live) until it asks for its
/// own with [`ProcessShared::own`].
///
/// The point, again, is the parent's side: a shared mapping is not
/// write-protected by `fork`, so the parent's stores into it cost no
/// copy-on-write fault however many children it forks, and a child reads
/// it without copying a page.
pub(crate) struct ProcessShared {
    ptr: AtomicPtr<AtomicI32>,
    /// The pid of the process that mapped `ptr`; its negation while that
    /// process is mapping; 0 before anyone did.
    owner: AtomicI32,
}

impl ProcessShared {
    /// Nothing mapped yet.
    pub(crate) const fn new() -> ProcessShared {
        ProcessShared {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
            owner: AtomicI32::new(0),
        }
    }

    /// The calling process's own words, mapped on its first call in each
    /// process (a forked child's first call maps new words and leaves the
    /// inherited ones to [`ProcessShared::inherited`] readers that kept
    /// them). Call with the same `len` each time. `None` if the mapping
    /// cannot be made (out of memory).
    pub(crate) fn own(&'static self, len: usize) -> Option<&'static [AtomicI32]> {
        let me = super::process::getpid();
        loop {
            let owner = self.owner.load(Ordering::Acquire);
            if owner == me {
                // SAFETY: published by this process below, with this `len`.
                return Some(unsafe { words_at(self.ptr.load(Ordering::Acquire), len) });
            }
            if owner == -me {
                // Another thread of this process is mapping: wait for it.
                std::thread::yield_now();
                continue;
            }
            // SYNC POINT: claiming the mapping for this process; the loser of
            // a race between threads waits above for the winner's Release.
            if self
                .owner
                .compare_exchange(owner, -me, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let Ok(fresh) = map_shared(len) else {
                self.owner.store(owner, Ordering::Release);
                return None;
            };
            self.ptr.store(fresh, Ordering::Release);
            self.owner.store(me, Ordering::Release);
            // SAFETY: `fresh` was just mapped with `len` words.
            return Some(unsafe { words_at(fresh, len) });
        }
    }

    /// The words this process sees now, its own or (in a forked child that
    /// has not called [`ProcessShared::own`]) those of the process that
    /// mapped them, with that process's pid. `None` if nobody mapped any
    /// or a mapping is being made right now.
    pub(crate) fn inherited(&'static self, len: usize) -> Option<(i32, &'static [AtomicI32])> {
        let owner = self.owner.load(Ordering::Acquire);
        if owner <= 0 {
            return None;
        }
        // SAFETY: a positive owner is stored only after `ptr` was published,
        // mapped with `len` words by whichever process `owner` is.
        Some((owner, unsafe {
            words_at(self.ptr.load(Ordering::Acquire), len)
        }))
    }
}

/// The `len` words at `ptr`.
///
/// # Safety
///
/// `ptr` must come from [`map_shared`]`(len)`: mappings that are never
/// unmapped.
unsafe fn words_at(ptr: *mut AtomicI32, len: usize) -> &'static [AtomicI32] {
    // SAFETY: the caller's contract: a live, never unmapped, page-aligned
    // mapping of `len` zero-initialised AtomicI32s, accessed only through
    // atomics (any bit pattern is a valid AtomicI32).
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// A fresh shared anonymous mapping of `len` words.
#[cold]
#[inline(never)]
fn map_shared(len: usize) -> Result<*mut AtomicI32, Errno> {
    map_anonymous(bytes(len), libc::MAP_SHARED).map(|p| p.as_ptr().cast())
}

/// A fresh anonymous `MAP_SHARED` mapping of `len` zero-filled bytes
/// (`len` > 0), page-aligned: what every process forked afterwards sees
/// too. Unmap it with [`unmap`].
pub(crate) fn map_shared_bytes(len: usize) -> Result<std::ptr::NonNull<u8>, Errno> {
    map_anonymous(len, libc::MAP_SHARED)
}

/// Unmaps `len` bytes at `ptr`.
///
/// # Safety
///
/// `ptr` and `len` are those of a mapping made here, unmapped once; no
/// reference into it is used afterwards.
pub(crate) unsafe fn unmap(ptr: std::ptr::NonNull<u8>, len: usize) {
    // SAFETY: the caller's promise.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

/// A fresh anonymous mapping of `len` zero-filled bytes, `MAP_SHARED` or
/// `MAP_PRIVATE` as `sharing` says.
fn map_anonymous(len: usize, sharing: libc::c_int) -> Result<std::ptr::NonNull<u8>, Errno> {
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            sharing | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    std::ptr::NonNull::new(ptr.cast()).ok_or(Errno::ENOMEM)
}

fn bytes(len: usize) -> usize {
    len * std::mem::size_of::<AtomicI32>()
}

/// A fresh private anonymous mapping of `len` words, and whether
/// `MADV_WIPEONFORK` was accepted for it.
///
/// Never inlined: its 4 KiB smaps buffer would otherwise sit in the frame of
/// [`WipeOnFork::words`], whose stack probe then touches an extra page on
/// every call (a copy-on-write fault per call after a fork).
#[cold]
#[inline(never)]
fn map_wiped(len: usize) -> Result<(*mut AtomicI32, bool), Errno> {
    let ptr: *mut AtomicI32 = map_anonymous(bytes(len), libc::MAP_PRIVATE)?
        .as_ptr()
        .cast();
    // SAFETY: `ptr` is the start of the mapping just made, `bytes(len)` long.
    let advised = unsafe { libc::madvise(ptr.cast(), bytes(len), libc::MADV_WIPEONFORK) } == 0;
    // qemu-user answers 0 and ignores the advice: believe the kernel's own
    // account of the mapping instead ("wf" among its VmFlags).
    let wiped = advised && vm_flag(ptr as usize, *b"wf");
    Ok((ptr, wiped))
}

/// Whether the mapping that starts at `addr` lists `flag` among its
/// `VmFlags` in `/proc/self/smaps`. False when the file or the mapping is
/// not found. Reads through a fixed buffer: allocation-free.
fn vm_flag(addr: usize, flag: [u8; 2]) -> bool {
    use std::io::Read as _;
    let Ok(mut file) = std::fs::File::open("/proc/self/smaps") else {
        return false;
    };
    // "<start>-" as lowercase hex, the way smaps begins a mapping's block.
    let mut head = [0u8; 20];
    let mut n = 0;
    let digits = (usize::BITS - addr.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        head[n] = b"0123456789abcdef"[(addr >> (4 * i)) & 0xf];
        n += 1;
    }
    head[n] = b'-';
    let head = &head[..=n];

    let mut buf = [0u8; 4096];
    let mut filled = 0;
    let mut in_block = false;
    loop {
        let Ok(got) = file.read(&mut buf[filled..]) else {
            return false;
        };
        filled += got;
        let mut start = 0;
        while let Some(end) = buf[start..filled].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + end];
            start += end + 1;
            if line.starts_with(head) {
                in_block = true;
            } else if in_block && line.starts_with(b"VmFlags:") {
                return line[8..].split(|&b| b == b' ').any(|w| w == flag);
            }
        }
        // Keep the unfinished line; a line longer than the buffer (none in
        // smaps) is dropped.
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            filled = 0;
        }
        if got == 0 {
            return false;
        }
    }
}

/// Plain data that may live in memory shared between processes. Re-exported
/// and documented as [`crate::shm::Shareable`].
///
/// # Declaring your own type: `#[derive(Shareable)]`
///
/// The derive (feature `derive`, on by default) checks the contract below
/// at compile time and writes the `unsafe impl` for you, so user code never
/// does:
///
/// ```
/// use mproc::shm::{FixedStr, Shareable, Shared};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[repr(C)]
/// #[derive(Shareable)]
/// struct Stats {
///     requests: AtomicU64,
///     errors: AtomicU64,
///     name: FixedStr<20>, // 4 + 20 bytes
/// }
///
/// let stats = Shared::new(Stats {
///     requests: AtomicU64::new(0),
///     errors: AtomicU64::new(0),
///     name: "front".parse()?,
/// })?;
/// stats.requests.fetch_add(1, Ordering::Relaxed);
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// It refuses, with a message that names the field and why:
///
/// - a struct that is not `#[repr(C)]` or `#[repr(transparent)]` (the
///   compiler would choose the order of the fields), or is `packed`:
///
/// ```compile_fail
/// # use mproc::shm::Shareable;
/// #[derive(Shareable)]
/// struct Point { x: i32, y: i32 } // no #[repr(C)]
/// ```
///
/// - padding, between fields or at the end: its bytes are never written,
///   so they could carry stale bytes of one process into another (reorder
///   the fields, largest alignment first, or spell the gap as `[u8; N]`):
///
/// ```compile_fail,E0080
/// # use mproc::shm::Shareable;
/// #[repr(C)]
/// #[derive(Shareable)]
/// struct Sample { flag: u8, value: u32 } // 3 bytes of padding after `flag`
/// ```
///
/// - a field whose size differs between 32- and 64-bit targets (`usize`,
///   `isize`, a pointer), and a reference, `bool` or `char` (see below):
///
/// ```compile_fail
/// # use mproc::shm::Shareable;
/// #[repr(C)]
/// #[derive(Shareable)]
/// struct Cursor { at: usize }
/// ```
///
/// ```compile_fail
/// # use mproc::shm::Shareable;
/// #[repr(C)]
/// #[derive(Shareable)]
/// struct Node { next: *const Node, value: u64 }
/// ```
///
/// ```compile_fail
/// # use mproc::shm::Shareable;
/// #[repr(C)]
/// #[derive(Shareable)]
/// struct Label { text: &'static str }
/// ```
///
/// - a field whose type is not itself `Shareable` (the error names the
///   field's type, and the function `field_<name>_of_<Type>_must_be_shareable`):
///
/// ```compile_fail,E0277
/// # use mproc::shm::Shareable;
/// struct Opaque(u32); // not Shareable
/// #[repr(C)]
/// #[derive(Shareable)]
/// struct Holder { inner: Opaque }
/// ```
///
/// - drop glue (a `Drop` impl): a value in shared memory is never dropped
///   by the processes that leave it:
///
/// ```compile_fail,E0080
/// # use mproc::shm::Shareable;
/// #[repr(C)]
/// #[derive(Shareable)]
/// struct Ticket { id: u64 }
/// impl Drop for Ticket {
///     fn drop(&mut self) {}
/// }
/// ```
///
/// - an enum or a union (a discriminant read from another process's memory
///   could be no variant), and generic parameters (padding and drop glue
///   are checked on one concrete layout):
///
/// ```compile_fail
/// # use mproc::shm::Shareable;
/// #[repr(C)]
/// #[derive(Shareable)]
/// enum State { Idle, Busy }
/// ```
///
/// `#[mproc(type_identity = "name")]` on the struct sets
/// [`Shareable::type_identity`].
///
/// # What is not `Shareable`, and why
///
/// Memory written by another process is read as the type without a check,
/// so only types of which every bit pattern is a value qualify:
///
/// - `bool` (only 0 and 1 are values) and `char` (not every `u32` is one):
///   store a `u8` or a `u32` and convert when reading
///   (`char::from_u32`).
/// - `Option<T>` and enums: a discriminant that is no variant would be
///   undefined behaviour; store a flag field beside the value.
/// - tuples: their layout is the compiler's choice (`repr(Rust)`), and
///   mixed elements are padded (`(u8, u32)` has 3 padding bytes); use a
///   `#[repr(C)]` struct.
/// - `usize`/`isize`: 4 bytes on 32-bit targets, 8 on 64-bit ones.
///
/// Tuples, `Option`, `bool`, `char` and `usize` still travel everywhere a
/// value is *copied* rather than lent: they are
/// [`Item`](crate::shm::Item)s, which
/// a [`Queue`](crate::ipc::Queue) and a
/// [`Connection`](crate::ipc::Connection)'s `send`/`recv` carry in a
/// padding-free stored form checked on the way out, and
/// [`TaskData`](crate::pool::TaskData) and [`Wire`](crate::manager::Wire),
/// where bytes are copied within one binary or validated on decode. Every
/// `Shareable + Copy` type is an `Item` too.
///
/// Arrays of `Shareable` types are `Shareable` (no padding between
/// elements).
///
/// # Safety
///
/// The implementing type must be `#[repr(C)]` (or `#[repr(transparent)]`, or
/// a primitive, or an array of such), built only from fixed-width fields
/// (`u32`/`u64`…, never `usize`, `bool` or `char`), with no pointers,
/// references, file descriptors or heap data, no `Drop` and no drop glue,
/// every bit pattern a valid value (the all-zero one included), and any
/// mutation through `&self` done with atomics or under a protocol the type
/// itself enforces. Memory of another process is read as this type without
/// any check.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Shareable`: it can't live in shared memory, nor travel through a `Queue` or a `Pipe` unless it is `bool`, `char`, `usize`, `isize`, `()`, a `Pid`, a `Duration`, an `Option`, a `Result`, a tuple or an array of such",
    label = "not `Shareable`",
    note = "a `#[repr(C)]` struct of fixed-width fields gets it with `#[derive(mproc::Shareable)]` (no `unsafe impl`); text goes in `mproc::shm::FixedStr<N>`, not `String` or `&str`",
    note = "`usize`/`isize`, `bool`, `char`, tuples and `Option` are not `Shareable` in shared memory (`Shared`, `Value`, `Array`, a named segment: read in place, unchecked): use `u64`/`i64`, a `u8` flag, `u32`, a `#[repr(C)]` struct; a `Queue` or a `Pipe` copies and checks values (`mproc::shm::Item`), so `usize`, `bool`, `char`, tuples and `Option` travel there as they are",
    note = "a value of any size (`String`, `Vec`, a map…) takes the serde route instead: a `Serialize + Deserialize` type through the channels of the crate's `serde` feature (`Connection::send_value`/`recv_value`)"
)]
pub unsafe trait Shareable: Sync + Send + Sized + 'static {
    /// The name two builds of this type agree on, hashed into the layout
    /// fingerprint of named segments. Defaults to the type's path
    /// ([`core::any::type_name`]); override it to keep segments compatible
    /// across a rename or a compiler whose `type_name` differs.
    fn type_identity() -> &'static str {
        core::any::type_name::<Self>()
    }
}

/// The all-zero `T`: a value for every `Shareable` type.
pub(crate) fn zeroed<T: Shareable>() -> T {
    // SAFETY: the Shareable contract: every bit pattern is a valid T, the
    // all-zero one included.
    unsafe { std::mem::zeroed() }
}

/// An anonymous `MAP_SHARED` mapping holding one `T`: every process forked
/// after it was made sees the same memory. Unmapped on drop (in each
/// process that drops its copy).
pub(crate) struct SharedRegion<T: Shareable> {
    ptr: std::ptr::NonNull<T>,
}

// SAFETY: the region is plain memory holding a `T: Sync`; sharing `&T`
// between threads is what `Sync` allows, and moving the owner to another
// thread moves only the address.
unsafe impl<T: Shareable> Send for SharedRegion<T> {}
// SAFETY: as above: only `&T` is ever handed out, and `T: Sync`.
unsafe impl<T: Shareable> Sync for SharedRegion<T> {}

impl<T: Shareable> SharedRegion<T> {
    /// A zero-filled region (`mmap` of anonymous memory is zero-filled, and
    /// all-zero is a valid `T` by the `Shareable` contract).
    pub(crate) fn zeroed() -> Result<SharedRegion<T>, Errno> {
        const {
            assert!(
                std::mem::align_of::<T>() <= 4096,
                "a shared type may not be aligned beyond a page"
            )
        };
        // mmap refuses a zero length; a zero-sized T still gets a page.
        let len = std::mem::size_of::<T>().max(1);
        let ptr = map_shared_bytes(len)?.cast::<T>();
        Ok(SharedRegion { ptr })
    }

    /// A region holding `value`.
    pub(crate) fn new(value: T) -> Result<SharedRegion<T>, Errno> {
        let region = SharedRegion::<T>::zeroed()?;
        // SAFETY: the mapping is fresh, page-aligned (so aligned for T),
        // large enough for a T, and not yet visible to any other process or
        // thread; writing does not drop the zeroed T (no drop glue anyway).
        unsafe { region.ptr.as_ptr().write(value) };
        Ok(region)
    }

    /// The shared value.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: the mapping lives as long as `self`, holds an initialised
        // T (zeroed is valid by the Shareable contract), and only shared
        // references are handed out.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Shareable> Drop for SharedRegion<T> {
    fn drop(&mut self) {
        let len = std::mem::size_of::<T>().max(1);
        // SAFETY: the mapping was made by `zeroed` with this length and is
        // unmapped once, here; no reference into it outlives `self`. T has no
        // drop glue to run (Shareable contract).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), len) };
    }
}

/// The largest value [`SharedCell`] reads and writes with one volatile
/// access of its type; larger ones go by machine words.
const VOLATILE_WHOLE: usize = 2 * size_of::<usize>();

/// Copies `len` bytes from shared `src` to private `dst`: volatile reads,
/// by machine words where `src` is aligned for them.
///
/// # Safety
///
/// `src` is valid for reads of `len` bytes and `dst` for writes of as
/// many; they do not overlap.
unsafe fn volatile_read_bytes(src: *const u8, dst: *mut u8, len: usize) {
    const W: usize = size_of::<usize>();
    let head = src.align_offset(W).min(len);
    let words = (len - head) / W;
    // SAFETY: every offset below is under `len` (the caller's bounds);
    // the word reads are at `src + head + k W`, aligned for usize by the
    // choice of `head`; the writes to `dst` make no alignment claim.
    unsafe {
        for i in 0..head {
            dst.add(i).write(src.add(i).read_volatile());
        }
        for k in 0..words {
            let at = head + k * W;
            let word = src.add(at).cast::<usize>().read_volatile();
            dst.add(at).cast::<usize>().write_unaligned(word);
        }
        for i in head + words * W..len {
            dst.add(i).write(src.add(i).read_volatile());
        }
    }
}

/// Copies `len` bytes from private `src` to shared `dst`: volatile writes,
/// by machine words where `dst` is aligned for them.
///
/// # Safety
///
/// As [`volatile_read_bytes`], the other way.
unsafe fn volatile_write_bytes(src: *const u8, dst: *mut u8, len: usize) {
    const W: usize = size_of::<usize>();
    let head = dst.align_offset(W).min(len);
    let words = (len - head) / W;
    // SAFETY: as in `volatile_read_bytes`, with the alignment on `dst`.
    unsafe {
        for i in 0..head {
            dst.add(i).write_volatile(src.add(i).read());
        }
        for k in 0..words {
            let at = head + k * W;
            let word = src.add(at).cast::<usize>().read_unaligned();
            dst.add(at).cast::<usize>().write_volatile(word);
        }
        for i in head + words * W..len {
            dst.add(i).write_volatile(src.add(i).read());
        }
    }
}

/// A value in shared memory that processes read and write without a lock:
/// volatile loads and stores, so the compiler never caches, merges or
/// invents accesses to memory that other processes change behind its back.
/// A value wider than the machine's atomic word may be read torn (half old,
/// half new); `Shareable` makes every such mix a valid value.
#[repr(transparent)]
pub(crate) struct SharedCell<T>(std::cell::UnsafeCell<T>);

// SAFETY: all access is by volatile copy of a `Shareable + Copy` value (any
// interleaving yields a valid T) or through `get_mut`, whose callers hold a
// lock that excludes every other access.
unsafe impl<T: Shareable + Copy> Sync for SharedCell<T> {}
// SAFETY: repr(transparent) over T, which is Shareable.
unsafe impl<T: Shareable + Copy> Shareable for SharedCell<T> {
    fn type_identity() -> &'static str {
        T::type_identity()
    }
}

impl<T: Shareable + Copy> SharedCell<T> {
    /// A cell holding `value`.
    pub(crate) const fn new(value: T) -> SharedCell<T> {
        SharedCell(std::cell::UnsafeCell::new(value))
    }

    /// A volatile read: one access for a value of up to two machine
    /// words (as the compiler splits it), machine words for a larger one
    /// (a volatile read of an array or struct would otherwise be split
    /// into one access per element or field: 64 of them for a `[u8; 64]`).
    pub(crate) fn load(&self) -> T {
        if size_of::<T>() <= VOLATILE_WHOLE {
            // SAFETY: the pointer is valid and aligned for T for as long as
            // `self`; every bit pattern (also a torn one) is a valid T.
            return unsafe { self.0.get().read_volatile() };
        }
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: the cell is `size_of::<T>()` readable bytes for as long
        // as `self`, `out` as many writable ones, apart; every bit pattern
        // (a torn one too) is a valid T, so the bytes copied make one.
        unsafe {
            volatile_read_bytes(
                self.0.get().cast::<u8>(),
                out.as_mut_ptr().cast::<u8>(),
                size_of::<T>(),
            );
            out.assume_init()
        }
    }

    /// Asks the CPU to bring the cell's first cache line in for reading
    /// (a hint: nothing is read into the program; no-op on targets without
    /// a prefetch here).
    #[inline]
    pub(crate) fn prefetch(&self) {
        super::prefetch::read_at(self.0.get().cast::<u8>());
    }

    /// A volatile write, in machine words for a value larger than two
    /// (as [`SharedCell::load`]).
    pub(crate) fn store(&self, value: T) {
        if size_of::<T>() <= VOLATILE_WHOLE {
            // SAFETY: as for `load`; T has no drop glue to skip.
            unsafe { self.0.get().write_volatile(value) };
            return;
        }
        // SAFETY: `value` is `size_of::<T>()` readable bytes on this
        // stack, the cell as many writable ones for as long as `self`,
        // apart; T has no drop glue to skip.
        unsafe {
            volatile_write_bytes(
                std::ptr::from_ref(&value).cast::<u8>(),
                self.0.get().cast::<u8>(),
                size_of::<T>(),
            );
        }
    }

    /// The value, by reference.
    ///
    /// # Safety
    ///
    /// The caller must hold a lock that every write to this cell, in every
    /// process, also takes, for as long as the reference lives.
    pub(crate) unsafe fn get_ref(&self) -> &T {
        // SAFETY: no writer while the caller's lock is held; the pointer is
        // valid and aligned for as long as `self`.
        unsafe { &*self.0.get() }
    }

    /// The value, mutably.
    ///
    /// # Safety
    ///
    /// The caller must hold a lock that every other access to this cell, in
    /// every process, also takes, for as long as the reference lives.
    #[allow(clippy::mut_from_ref)] // exclusivity comes from the caller's lock
    pub(crate) unsafe fn get_mut(&self) -> &mut T {
        // SAFETY: exclusivity is the caller's obligation; the pointer is
        // valid and aligned for as long as `self`.
        unsafe { &mut *self.0.get() }
    }
}

/// `Shareable` for the fixed-width primitives and their atomics.
macro_rules! shareable_primitives {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: a fixed-width primitive (or its atomic, which has the
            // same size and alignment): no pointers, no drop glue, every bit
            // pattern valid, shared mutation only through atomic operations.
            unsafe impl Shareable for $t {}
        )*
    };
}

shareable_primitives!(
    u8,
    u16,
    u32,
    u64,
    i8,
    i16,
    i32,
    i64,
    f32,
    f64,
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicI8,
    std::sync::atomic::AtomicI16,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
);

// SAFETY: an array of Shareable elements has their layout repeated with no
// padding between them, no pointers and no drop glue; every bit pattern of
// each element is valid, so of the whole.
unsafe impl<T: Shareable, const N: usize> Shareable for [T; N] {}

/// The values of an array of cells, by reference.
///
/// # Safety
///
/// As [`SharedCell::get_ref`], for every cell of the array.
pub(crate) unsafe fn cells_get_ref<T: Shareable + Copy, const N: usize>(
    cells: &[SharedCell<T>; N],
) -> &[T; N] {
    // SAFETY: same layout as [T; N] (see `cells_get_mut`); no writer while
    // the caller's lock is held.
    unsafe { &*cells.as_ptr().cast::<[T; N]>() }
}

/// The values of an array of cells, mutably.
///
/// # Safety
///
/// As [`SharedCell::get_mut`], for every cell of the array.
#[allow(clippy::mut_from_ref)] // exclusivity comes from the caller's lock
pub(crate) unsafe fn cells_get_mut<T: Shareable + Copy, const N: usize>(
    cells: &[SharedCell<T>; N],
) -> &mut [T; N] {
    // SAFETY: SharedCell<T> is repr(transparent) over UnsafeCell<T>, itself
    // repr(transparent) over T, so the array has the layout of [T; N]; the
    // UnsafeCell permits the mutation; exclusivity is the caller's
    // obligation.
    unsafe { &mut *cells.as_ptr().cast::<T>().cast_mut().cast::<[T; N]>() }
}

#[cfg(test)]
mod tests {
    use super::SharedCell;

    /// Values larger than two words, at every alignment: a store writes
    /// exactly their bytes (none around them) and a load reads them back.
    #[test]
    fn large_cells_copy_by_words_at_any_alignment() {
        fn check<const N: usize>() {
            for offset in 0..16 {
                let mut buf = [0xAAu8; 128];
                let value: [u8; N] = std::array::from_fn(|i| (i * 7 + offset + 1) as u8);
                let cell = {
                    let p = buf[offset..].as_mut_ptr().cast::<SharedCell<[u8; N]>>();
                    // SAFETY: `[u8; N]` has alignment 1 and N + 16 ≤ 128
                    // bytes from `offset` are in `buf`, used through this
                    // cell only while it lives.
                    #[allow(unsafe_code)]
                    unsafe {
                        &*p
                    }
                };
                cell.store(value);
                assert_eq!(cell.load(), value, "N {N}, offset {offset}");
                assert!(buf[..offset].iter().all(|&b| b == 0xAA), "before, N {N}");
                assert_eq!(buf[offset..offset + N], value, "N {N}, offset {offset}");
                assert!(buf[offset + N..].iter().all(|&b| b == 0xAA), "after, N {N}");
            }
        }
        check::<17>();
        check::<37>();
        check::<64>();
        check::<100>();
    }
}
