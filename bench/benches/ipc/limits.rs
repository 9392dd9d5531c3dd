//! The raw contenders: the shared mapping and the libc loops the mproc types are built on.

use super::*;

/// An anonymous `MAP_SHARED` mapping of two pages: two 64-bit words on
/// cache lines of their own (128 bytes apart, past the adjacent-line
/// prefetch), then `CAPACITY` message slots.
pub(super) struct RawPage(NonNull<u8>);

impl RawPage {
    pub(super) const LEN: usize = 8192;
    /// Where the slots start.
    pub(super) const SLOTS: usize = 256;

    pub(super) fn new() -> Result<RawPage> {
        const { assert!(Self::SLOTS + CAPACITY * SIZE <= Self::LEN) };
        // SAFETY: a fresh anonymous mapping; no address hint, nothing else
        // is touched. Zero-filled by the kernel.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(os_error("mmap"));
        }
        NonNull::new(ptr.cast())
            .map(RawPage)
            .ok_or_else(|| "mmap gave null".into())
    }

    /// Word `k` (0 or 1), at byte `128 k`.
    pub(super) fn word(&self, k: usize) -> &AtomicU64 {
        assert!(k < 2);
        // SAFETY: inside the mapping, 8-aligned (the mapping is page
        // aligned), zero-initialised, and only ever accessed atomically;
        // it lives as long as `self`.
        unsafe { AtomicU64::from_ptr(self.0.as_ptr().add(128 * k).cast()) }
    }

    pub(super) fn slot(&self, k: u64) -> *mut u8 {
        let k = usize::try_from(k).unwrap_or(usize::MAX) % CAPACITY;
        // SAFETY: slot `k < CAPACITY` lies inside the mapping (checked in
        // `new`).
        unsafe { self.0.as_ptr().add(Self::SLOTS + k * SIZE) }
    }

    /// Writes slot `k`. The ring's protocol gives the producer sole access
    /// to the slot until it publishes it with a Release store.
    pub(super) fn put(&self, k: u64, msg: &Msg) {
        // SAFETY: the slot is SIZE bytes inside the mapping; no other
        // process reads it now (see above); no reference to it exists.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), self.slot(k), SIZE) };
    }

    /// Reads slot `k`, which the consumer owns until it releases it.
    pub(super) fn take(&self, k: u64, buf: &mut Msg) {
        // SAFETY: as in `put`, for the consumer.
        unsafe { std::ptr::copy_nonoverlapping(self.slot(k), buf.as_mut_ptr(), SIZE) };
    }
}

impl Drop for RawPage {
    fn drop(&mut self) {
        // SAFETY: unmaps this process's mapping made in `new`, once; every
        // reference into it borrows `self`.
        unsafe { libc::munmap(self.0.as_ptr().cast(), Self::LEN) };
    }
}

/// The raw system calls, converted from C's return conventions; nothing
/// else (no retry: nothing here is interrupted by a signal that returns).
pub(super) mod raw {
    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    use super::{MQ_DEPTH, Msg, Result, SIZE, os_error};

    fn len(ret: isize, what: &str) -> Result<usize> {
        usize::try_from(ret).map_err(|_| os_error(what))
    }

    fn whole(sent: usize, msg: &[u8]) -> Result<()> {
        if sent == msg.len() {
            Ok(())
        } else {
            Err(format!("a short send: {sent} of {} bytes", msg.len()).into())
        }
    }

    /// `pipe2(O_CLOEXEC)`: (read end, write end).
    pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(os_error("pipe2"));
        }
        // SAFETY: two fresh descriptors, owned by nothing else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    /// `socketpair(AF_UNIX, SOCK_SEQPACKET)`.
    pub fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair writes.
        let ret = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if ret != 0 {
            return Err(os_error("socketpair"));
        }
        // SAFETY: two fresh descriptors, owned by nothing else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    pub fn write(fd: RawFd, msg: &[u8]) -> Result<()> {
        // SAFETY: `msg` is readable for its length during the call.
        let n = unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
        whole(len(n, "write")?, msg)
    }

    pub fn read(fd: RawFd, buf: &mut Msg) -> Result<usize> {
        // SAFETY: `buf` is writable for its length during the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), SIZE) };
        len(n, "read")
    }

    pub fn send(fd: RawFd, msg: &[u8]) -> Result<()> {
        // SAFETY: `msg` is readable for its length during the call.
        let n = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), libc::MSG_NOSIGNAL) };
        whole(len(n, "send")?, msg)
    }

    pub fn recv(fd: RawFd, buf: &mut Msg) -> Result<usize> {
        // SAFETY: `buf` is writable for its length during the call.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), SIZE, 0) };
        len(n, "recv")
    }

    /// A POSIX message queue descriptor, closed on drop.
    pub struct Mq(libc::mqd_t);

    impl Mq {
        /// Creates `name` (exclusive, `MQ_DEPTH` messages of `SIZE` bytes)
        /// and unlinks the name at once: the queue lives while a descriptor
        /// (this one, a forked child's copy) is open.
        pub fn anonymous(name: &str) -> Result<Mq> {
            let c_name = CString::new(name)?;
            // SAFETY: an all-zero mq_attr is valid; the fields used are set.
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = MQ_DEPTH as libc::c_long;
            attr.mq_msgsize = SIZE as libc::c_long;
            // SAFETY: a NUL-terminated name and an attribute block that live
            // through the call.
            let mq = unsafe {
                libc::mq_open(
                    c_name.as_ptr(),
                    libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                    0o600 as libc::mode_t,
                    &raw mut attr,
                )
            };
            if mq == -1 {
                return Err(os_error("mq_open"));
            }
            let mq = Mq(mq);
            // SAFETY: a NUL-terminated name; removes the name only.
            if unsafe { libc::mq_unlink(c_name.as_ptr()) } != 0 {
                return Err(os_error("mq_unlink"));
            }
            Ok(mq)
        }

        pub fn send(&self, msg: &[u8]) -> Result<()> {
            // SAFETY: `msg` is readable for its length during the call.
            if unsafe { libc::mq_send(self.0, msg.as_ptr().cast(), msg.len(), 0) } != 0 {
                return Err(os_error("mq_send"));
            }
            Ok(())
        }

        pub fn receive(&self, buf: &mut Msg) -> Result<usize> {
            // SAFETY: `buf` is writable for SIZE bytes, the queue's message
            // size; a null priority pointer is allowed.
            let n = unsafe {
                libc::mq_receive(self.0, buf.as_mut_ptr().cast(), SIZE, std::ptr::null_mut())
            };
            len(n, "mq_receive")
        }
    }

    impl Drop for Mq {
        fn drop(&mut self) {
            // SAFETY: closes the descriptor opened in `anonymous`, once.
            unsafe { libc::mq_close(self.0) };
        }
    }
}
