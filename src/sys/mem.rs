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

fn bytes(len: usize) -> usize {
    len * std::mem::size_of::<AtomicI32>()
}

/// A fresh private anonymous mapping of `len` words, and whether
/// `MADV_WIPEONFORK` was accepted for it.
fn map_wiped(len: usize) -> Result<(*mut AtomicI32, bool), Errno> {
    // SAFETY: a fresh anonymous private mapping; no existing memory is
    // affected.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes(len),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    // SAFETY: `ptr` is the start of the mapping just made, `bytes(len)` long.
    let advised = unsafe { libc::madvise(ptr, bytes(len), libc::MADV_WIPEONFORK) } == 0;
    // qemu-user answers 0 and ignores the advice: believe the kernel's own
    // account of the mapping instead ("wf" among its VmFlags).
    let wiped = advised && vm_flag(ptr as usize, *b"wf");
    Ok((ptr.cast(), wiped))
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
