//! The kernel's robust-futex list (`set_robust_list(2)`), shared with the C
//! library, so that the kernel itself marks a lock whose holder died.
//!
//! # What the kernel does
//!
//! Each thread may register one list head. When the thread exits (or
//! execs), for every entry of the list, and for the entry the head calls
//! `list_op_pending`, the kernel reads the futex word at
//! `entry + futex_offset`; if its low 30 bits are the dying thread's id, it
//! sets the word to `FUTEX_OWNER_DIED | (word & FUTEX_WAITERS)` and, if
//! waiters were flagged, wakes one of them. A lock word here holds the
//! holder's *pid*, which is the thread id of the process's main thread; so
//! only locks taken by the main thread are put on its list (others keep
//! the waiters' own look at the holder; see `sync::raw`).
//!
//! # Sharing glibc's list
//!
//! glibc registers a head for every thread at its start (and again in a
//! forked child) and links its robust `pthread_mutex_t`s into it. A thread
//! has one head, so the crate does not register its own: it links its
//! locks into glibc's list, which the kernel walks with glibc's
//! `futex_offset`. The lock types here are laid out so that the entry (the
//! `next` field) sits where glibc puts a mutex's: [`NEXT_AT`] bytes after
//! the word, with the backward link glibc keeps on 64-bit targets 8 bytes
//! before it. This module checks glibc's head once per thread (its
//! `futex_offset` must be `-NEXT_AT`) and otherwise stays out (musl, an
//! unknown C library, qemu-user where the calls fail with `ENOSYS`).
//!
//! # What is trusted
//!
//! The entries' links live in the lock, that is in shared memory, which a
//! peer may scribble on. They are written here but never read back: the
//! thread keeps the entries it linked in a private table (`List::held`), in
//! list order, and unlinks by rewriting one neighbour's link from that
//! table. It links only while the list holds nothing but its own entries
//! (glibc's head points at the newest of them, or at itself), so the table
//! describes the whole list; if glibc linked a mutex in front of them
//! since, the entry is unlinked by following glibc's own links from the
//! head, as glibc does (bounded). Linking writes only into the new entry
//! and the head (no backward links: glibc keeps them for its own mutexes
//! and never reads ours). Unlinking an entry that is not the newest writes
//! into the newer neighbour, after checking through the kernel that its
//! word still names this process (so the memory of a lock whose guard was
//! leaked with `mem::forget` and then unmapped is never written; it is
//! dropped from the table). Such a dangling entry stays on the kernel's
//! list: the kernel reads it at the thread's death (a fault there ends its
//! walk), as it would a robust pthread mutex destroyed while locked.
//!
//! Every function here is called by the thread that owns the list, and a
//! guard that linked an entry is not `Send` (it is dropped by the same
//! thread).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Where an entry (its `next` link) sits after its lock word: glibc's
/// `offsetof(__list.__next) - offsetof(__lock)` in `pthread_mutex_t`.
#[cfg(target_pointer_width = "64")]
pub(crate) const NEXT_AT: usize = 32;
/// Where an entry (its `next` link) sits after its lock word.
#[cfg(target_pointer_width = "32")]
pub(crate) const NEXT_AT: usize = 20;
/// The bytes after the word that the links may use: the area a lock type
/// reserves ([`Links`]) ends here.
pub(crate) const LINKS_END: usize = 40;

/// The entries one thread links at most; more locks held at once by the
/// main thread are not on the list (their waiters look at the holder).
const MAX_HELD: usize = 16;

/// The reserved bytes of a lock that hold its entry: from byte 20 to byte
/// 40 after the word. Plain storage as far as Rust code goes; this module
/// writes pointers into it and the kernel reads them.
pub(crate) type Links = [AtomicU32; 5];
/// Where [`Links`] starts after the word.
pub(crate) const LINKS_AT: usize = 20;

/// `struct robust_list_head` of the kernel's ABI.
#[repr(C)]
struct Head {
    /// The first entry, or the head itself when empty.
    list: usize,
    futex_offset: libc::c_long,
    list_op_pending: usize,
}

/// This thread's view of its list.
struct List {
    /// The pid the rest was looked up in (0: not yet).
    pid: Cell<i32>,
    /// glibc's head of this thread, or 0 when the list cannot be used here.
    head: Cell<usize>,
    /// How many of `held` are in use.
    len: Cell<usize>,
    /// The entries this thread linked, oldest first (the newest is the
    /// list's first).
    held: [Cell<usize>; MAX_HELD],
}

thread_local! {
    static LIST: List = const {
        List {
            pid: Cell::new(0),
            head: Cell::new(0),
            len: Cell::new(0),
            held: [const { Cell::new(0) }; MAX_HELD],
        }
    };
}

impl List {
    /// The usable head for process `pid`, looked up once per thread and
    /// process (a forked child starts with an empty list and no entries).
    fn head(&self, pid: i32) -> Option<usize> {
        if self.pid.get() != pid {
            self.len.set(0);
            self.head.set(lookup(pid).unwrap_or(0));
            self.pid.set(pid);
        }
        match self.head.get() {
            0 => None,
            head => Some(head),
        }
    }

    fn newest(&self, head: usize) -> usize {
        match self.len.get() {
            0 => head,
            n => self.held[n - 1].get(),
        }
    }

    fn position(&self, entry: usize) -> Option<usize> {
        (0..self.len.get()).find(|&i| self.held[i].get() == entry)
    }
}

/// glibc's head of this thread, if this is the main thread of process
/// `pid` and the head's `futex_offset` is the one the lock layout expects.
fn lookup(pid: i32) -> Option<usize> {
    if super::process::gettid() != pid {
        return None;
    }
    let mut head: *mut Head = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: get_robust_list(0, ...) reads this thread's registration
    // into the two out-parameters, live locals of the right types.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0 as libc::c_long,
            &mut head as *mut *mut Head,
            &mut len as *mut libc::size_t,
        )
    };
    if ret != 0 || head.is_null() || len != std::mem::size_of::<Head>() {
        return None;
    }
    // SAFETY: the kernel says this thread registered `head`: glibc's head
    // in this thread's control block, live as long as the thread.
    let offset = unsafe { std::ptr::addr_of!((*head).futex_offset).read_volatile() };
    (offset == -(NEXT_AT as libc::c_long)).then_some(head as usize)
}

/// The entry of the lock whose word is `word` and whose reserved links are
/// `links`, if the two are laid out as glibc's list expects.
fn entry(word: &AtomicU32, links: &Links) -> Option<usize> {
    let word = word.as_ptr() as usize;
    let at = links.as_ptr() as usize;
    (at == word + LINKS_AT && NEXT_AT >= LINKS_AT && NEXT_AT + size_of::<usize>() <= LINKS_END)
        .then_some(word + NEXT_AT)
}

/// The address of a head's `list_op_pending`.
fn pending_slot(head: usize) -> usize {
    head + std::mem::offset_of!(Head, list_op_pending)
}

/// The pointer-sized link at `addr`.
///
/// # Safety
///
/// `addr` is an entry or a backward-link slot of this thread's list: the
/// head, a lock's reserved links, or a glibc mutex's list fields, live and
/// aligned.
unsafe fn at<'a>(addr: usize) -> &'a AtomicUsize {
    // SAFETY: per the caller's promise.
    unsafe { AtomicUsize::from_ptr(addr as *mut usize) }
}

/// A lock about to be taken by this thread, announced to the kernel as
/// pending (so that a death between the taking and the linking still marks
/// it). Give it to [`link`] once taken, or to [`abandon`].
#[must_use]
pub(crate) struct Pending {
    head: *mut Head,
    entry: usize,
}

/// Announces that this thread of process `pid` is about to take the lock
/// whose word is `word`; `None` when the lock will not go on the list (not
/// the main thread, no usable head, the table full, or glibc's own mutexes
/// in front).
pub(crate) fn prepare(word: &AtomicU32, links: &Links, pid: u32) -> Option<Pending> {
    let entry = entry(word, links)?;
    LIST.with(|list| {
        let head = list.head(pid as i32)?;
        // SAFETY: `head` is this thread's live registered head.
        let first = unsafe { at(head) }.load(Ordering::Relaxed);
        if list.len.get() == MAX_HELD
            || first != list.newest(head)
            || list.position(entry).is_some()
        {
            return None;
        }
        // SAFETY: `list_op_pending` of this thread's live head.
        unsafe { at(pending_slot(head)) }.store(entry, Ordering::Relaxed);
        Some(Pending {
            head: head as *mut Head,
            entry,
        })
    })
}

/// The lock of `p` was not taken: nothing pending any more.
pub(crate) fn abandon(p: Pending) {
    // SAFETY: `list_op_pending` of this thread's live head.
    unsafe { at(pending_slot(p.head as usize)) }.store(0, Ordering::Relaxed);
}

/// The lock of `p` is taken: puts its entry first on the list.
pub(crate) fn link(p: Pending) {
    let head = p.head as usize;
    LIST.with(|list| {
        let n = list.len.get();
        let first = list.newest(head);
        // SAFETY: `p.entry` is the entry of a lock this thread now holds
        // (checked layout, borrowed by the caller); `head` is this
        // thread's live head. Nothing is written into older entries.
        unsafe {
            at(p.entry).store(first, Ordering::Relaxed);
            // The kernel may read the list at any instruction (a SIGKILL):
            // the entry is complete before the head points at it.
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            at(head).store(p.entry, Ordering::Relaxed);
        }
        // `prepare` checked there was room.
        list.held[n].set(p.entry);
        list.len.set(n + 1);
    });
    abandon(p);
}

/// Takes the entry of the lock whose word is `word` off the list of this
/// thread of process `pid`, if this thread linked it, and marks it pending
/// until [`released`]. `None` when it was not on the list.
pub(crate) fn unlink(word: &AtomicU32, links: &Links, pid: u32) -> Option<Pending> {
    let entry = entry(word, links)?;
    LIST.with(|list| {
        if list.pid.get() != pid as i32 {
            return None;
        }
        let head = list.head.get();
        let i = list.position(entry)?;
        // SAFETY: `list_op_pending` of this thread's live head.
        unsafe { at(pending_slot(head)) }.store(entry, Ordering::Relaxed);
        let n = list.len.get();
        // The entry after it on the list (older), or the head: the value
        // the element in front of it must now point at.
        let after = if i == 0 { head } else { list.held[i - 1].get() };
        // The element in front of it: a newer entry of ours that still
        // holds its lock (one whose guard was leaked and whose memory may
        // be gone is dropped from the table, never written), or, past the
        // newest, the head or glibc's mutexes in front of it.
        let mut dropped = 0;
        let mut before = None;
        for j in i + 1..n {
            let newer = list.held[j].get();
            if word_holds(newer - NEXT_AT, pid) {
                before = Some(newer);
                break;
            }
            dropped += 1;
        }
        let before = before.or_else(|| before_newest(head, list.newest(head), entry, dropped > 0));
        if let Some(before) = before {
            // SAFETY: `before` is the head, an entry of a lock this thread
            // holds (just checked), or a glibc entry reached from the head
            // by glibc's own links.
            unsafe { at(before) }.store(after, Ordering::Relaxed);
        }
        // Keep the older entries and the live newer ones, in order.
        let mut k = i;
        for j in i + 1..n {
            let e = list.held[j].get();
            if j > i + dropped || word_holds(e - NEXT_AT, pid) {
                list.held[k].set(e);
                k += 1;
            }
        }
        list.len.set(k);
        Some(Pending {
            head: head as *mut Head,
            entry,
        })
    })
}

/// The element in front of this thread's newest entry `newest`, for
/// unlinking `entry` (the newest, or the oldest entry in front of which
/// every entry was dropped as stale: then whatever points at the first of
/// those is rewritten): the head, or the last of glibc's mutexes linked in
/// front (found by following glibc's links from the head, as glibc does, at
/// most 64 steps).
fn before_newest(head: usize, newest: usize, entry: usize, skipped: bool) -> Option<usize> {
    let target = if skipped { newest } else { entry };
    let mut before = head;
    for _ in 0..64 {
        // SAFETY: `before` is the head or an element glibc linked in front
        // of our entries: live entries of this thread's list.
        let next = unsafe { at(before) }.load(Ordering::Relaxed) & !1;
        if next == target {
            return Some(before);
        }
        if next == head || next == 0 {
            return None;
        }
        before = next;
    }
    None
}

/// Whether the lock word at `word` (an entry's word) still names `pid` as
/// its holder: read through the kernel (`process_vm_readv(2)` on this
/// process), so an address whose memory is gone reads as "no" instead of
/// faulting.
fn word_holds(word: usize, pid: u32) -> bool {
    let mut value = 0u32;
    let local = libc::iovec {
        iov_base: (&mut value as *mut u32).cast(),
        iov_len: 4,
    };
    let remote = libc::iovec {
        iov_base: word as *mut libc::c_void,
        iov_len: 4,
    };
    // SAFETY: the local iovec covers `value`, a live u32 the call writes;
    // the remote one is only read, by the kernel, which checks the address.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == 4 && value & ((1 << 30) - 1) == pid
}

/// The lock of `p` has been released: nothing pending any more.
pub(crate) fn released(p: Pending) {
    abandon(p);
}
