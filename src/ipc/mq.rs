//! [`MessageQueue`]: a raw POSIX message queue (`mq_overview(7)`).
//!
//! How a queue's creator is recorded, and why that way: see the section
//! "Leftovers: the owner record" of [`MessageQueue`].

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Resource, Result, SegmentName};
use crate::name::{KernelName, normalize};
use crate::shm::{Shareable, SharedMemory};
use crate::signal::Signal;
use crate::sys::mq::{self as sys, Limit, Wait};
use crate::sys::{Errno, MAX_NAME, process as sysproc, shm::stat};

/// What an owner record's segment name starts with.
const RECORD_PREFIX: &str = "/mproc-mq-owner-";

/// A queue's owner record, the payload of the segment
/// `/mproc-mq-owner-<hex>` (see `MessageQueue`, "Leftovers"). Written in full before
/// the segment is published, except `dev` and `ino`, stored once the
/// queue exists.
#[repr(C)]
#[derive(Debug)]
struct OwnerRecord {
    /// The queue's device number (`st_dev`); 0 until it exists.
    dev: AtomicU64,
    /// Its inode number (`st_ino`); 0 until it exists.
    ino: AtomicU64,
    /// The length of `name`.
    name_len: u32,
    /// 0.
    reserved: u32,
    /// The queue's name, with its `/`.
    name: [u8; MAX_NAME],
}

// SAFETY: repr(C) of fixed-width integers, their atomics and a byte array:
// no pointers, no drop glue, every bit pattern valid (the name is only
// compared, its length bounded before use); the plain fields are written
// before the segment is published and only read after.
#[allow(unsafe_code)]
unsafe impl Shareable for OwnerRecord {
    fn type_identity() -> &'static str {
        "mproc::ipc::MessageQueue owner record v1"
    }
}

static_assertions::const_assert_eq!(core::mem::size_of::<OwnerRecord>(), 24 + MAX_NAME);
static_assertions::const_assert_eq!(core::mem::align_of::<OwnerRecord>(), 8);
static_assertions::const_assert_eq!(core::mem::offset_of!(OwnerRecord, name_len), 16);
static_assertions::const_assert_eq!(core::mem::offset_of!(OwnerRecord, name), 24);

impl OwnerRecord {
    fn new(name: &str) -> OwnerRecord {
        let mut bytes = [0u8; MAX_NAME];
        let len = name.len().min(MAX_NAME);
        bytes[..len].copy_from_slice(&name.as_bytes()[..len]);
        OwnerRecord {
            dev: AtomicU64::new(0),
            ino: AtomicU64::new(0),
            name_len: len as u32,
            reserved: 0,
            name: bytes,
        }
    }

    /// Whether it is the record of the queue `name` whose file is `queue`.
    fn describes(&self, name: &str, queue: &crate::sys::shm::FileStat) -> bool {
        let len = self.name_len as usize;
        // SYNC POINT: Acquire pairs with the creator's Release store of
        // the inode, after the device.
        let ino = self.ino.load(Ordering::Acquire);
        len <= MAX_NAME
            && &self.name[..len] == name.as_bytes()
            && ino != 0
            && ino == queue.ino
            && self.dev.load(Ordering::Relaxed) == queue.dev
    }
}

/// The name of the owner record of the queue `name`.
fn record_name(name: &str) -> KernelName {
    let mut out = KernelName::new();
    let _ = out.push_str(RECORD_PREFIX);
    let _ = core::fmt::Write::write_fmt(
        &mut out,
        format_args!("{:016x}", crate::shm::fnv1a(name.as_bytes())),
    );
    out
}

/// Priorities run from 0 to this, exclusive (`MQ_PRIO_MAX` on Linux).
pub const PRIORITY_LIMIT: u32 = 32768;

/// A queue's capacity and fill, as the kernel reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// How many messages it holds at most (`mq_maxmsg`).
    pub max_messages: usize,
    /// The longest message, in bytes (`mq_msgsize`).
    pub message_size: usize,
    /// How many messages it holds now (`mq_curmsgs`).
    pub current: usize,
}

/// A raw POSIX message queue: named, kernel-held, messages of up to a fixed
/// size delivered highest priority first (first in, first out within a
/// priority). Unrelated processes open it by name; a forked child may also
/// use the handle it inherited. The descriptor is pollable ([`AsFd`]):
/// readable while a message waits.
///
/// The creator owns the name and removes it (`mq_unlink`) when its handle
/// is dropped, unless it called [`persist`](MessageQueue::persist); the
/// queue itself lives on while any process has it open. A creator that
/// died without dropping it leaves the name behind, with its owner record
/// (see [Leftovers](MessageQueue#leftovers-the-owner-record) below):
/// [`MessageQueue::reclaim`] removes them.
///
/// ```no_run
/// use mproc::ipc::MessageQueue;
///
/// let q = MessageQueue::create("/jobs", 8, 128)?;
/// q.send(b"low", 1)?;
/// q.send(b"urgent", 9)?;
/// let mut buf = [0u8; 128];
/// assert_eq!(q.receive(&mut buf)?, (6, 9)); // "urgent" first
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// # Leftovers: the owner record
///
/// A queue's creator owns its name and removes it when it is done; a
/// creator killed with `SIGKILL` leaves the name behind, and
/// [`MessageQueue::reclaim`] removes it, as [`SharedMemory::reclaim`] does
/// for segments. But a POSIX queue has nowhere to say who made it: no
/// header (its bytes are messages), no extended attributes, only an owner
/// uid and a mode that every other queue of the user shares. So
/// [`MessageQueue::create`] makes an *owner record* beside the queue: a
/// named segment `/mproc-mq-owner-<hex>` (`<hex>`: the 16 lower-case hex
/// digits of the 64-bit FNV-1a of the queue's name, `/` included), with
/// the segment header every named segment has (magic, format version,
/// the creator's pid and start time) and, as payload, the queue's name and
/// the device and inode numbers `fstat` gives for it. The record is made
/// first and the queue second, then the inode is written; dropping the
/// owner's handle (or [`unlink`](MessageQueue::unlink)) removes the queue
/// first and the record second, and
/// [`persist`](MessageQueue::persist) persists both.
///
/// `reclaim` removes a queue only when its record is trusted and says the
/// creator is gone: the record is an `mproc` segment of exactly this type,
/// its file belongs to the queue's owner uid and nobody else may write it
/// (mode `0600`: otherwise another user could have rewritten the pid), it
/// names this queue, and its device and inode are the queue's (so a
/// record left by a dead creator is never taken to speak for a queue made
/// since by someone else). A queue without such a record is not ours, and
/// stays. Two other designs were weighed: an open-file lock held by the
/// creator tells "alive" well, but not "made by mproc" (any unlocked
/// foreign queue would look abandoned), and the lock is inherited by
/// every forked child, so a worker that outlives its master keeps the
/// queue "alive"; a lock *and* a marker would need the record anyway. The
/// record costs one more name in `/dev/shm` per queue, which goes with
/// the queue. Trust stops at the user, as for any name: a process of the
/// queue's own uid could forge a record, but it could as well remove the
/// queue itself.
///
/// [`SharedMemory::reclaim`]: crate::shm::SharedMemory::reclaim
///
/// `Send` and `Sync` (a descriptor). On Linux a message queue descriptor
/// is pollable: `AsFd` and `AsRawFd`, readable while a message is queued
/// (writable while there is room); `mproc::aio` awaits it with the
/// `tokio` feature.
#[derive(Debug)]
pub struct MessageQueue {
    fd: OwnedFd,
    name: KernelName,
    /// The pid that created it and owns its name, while it does (0: not
    /// this handle).
    owner: i32,
    /// The owner record, for a handle that made the queue (and its forked
    /// copies, which do not own it).
    record: Option<SharedMemory<OwnerRecord>>,
    message_size: usize,
}

impl MessageQueue {
    /// Creates the queue `name` (mode `0600`, exclusive) holding at most
    /// `max_messages` messages of at most `message_size` bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad name or a zero capacity;
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::KernelLimit`] naming the
    /// limit that refused it, its value and what to change
    /// (`/proc/sys/fs/mqueue/msg_max` and `msgsize_max` for an unprivileged
    /// process, `queues_max`, `RLIMIT_MSGQUEUE`).
    pub fn create(name: &str, max_messages: usize, message_size: usize) -> Result<MessageQueue> {
        const OP: &str = "MessageQueue::create";
        let name = normalize(OP, "message queue name", name)?;
        let resource = Resource::MessageQueue(SegmentName::new(&name));
        if max_messages == 0 || message_size == 0 {
            return Err(Error::new(
                OP,
                resource,
                ErrorKind::InvalidArgument("a queue holds at least one message of one byte"),
            ));
        }
        let wanted = (
            i64::try_from(max_messages).unwrap_or(i64::MAX),
            i64::try_from(message_size).unwrap_or(i64::MAX),
        );
        // The record first: a name whose record is taken is refused before
        // any queue is made.
        let record = SharedMemory::create(&record_name(&name), OwnerRecord::new(&name)).map_err(
            |e| match e.kind() {
                kind @ (ErrorKind::StaleSegment { .. } | ErrorKind::AlreadyExists) => {
                    Error::new(OP, resource, kind)
                }
                _ => e,
            },
        )?;
        // On an error the record goes with `record`, dropped by its owner.
        let fd = sys::open(&name, Some(wanted))
            .map_err(|e| create_error(OP, resource, e, max_messages, message_size))?;
        match stat(&fd) {
            Ok(st) => {
                record.dev.store(st.dev, Ordering::Relaxed);
                // SYNC POINT: Release pairs with the Acquire load in
                // `OwnerRecord::describes`.
                record.ino.store(st.ino, Ordering::Release);
            }
            Err(e) => {
                let _ = sys::unlink(&name);
                return Err(Error::os(OP, resource, e));
            }
        }
        Ok(MessageQueue {
            fd,
            name,
            owner: sysproc::getpid(),
            record: Some(record),
            message_size,
        })
    }

    /// Removes the queue `name` (and its owner record) if it was made by
    /// [`MessageQueue::create`] in a process that is gone: its owner
    /// record (see [Leftovers](MessageQueue#leftovers-the-owner-record))
    /// is trusted, names this very queue, and its creator's pid is no
    /// longer alive (or is now another process's, started at another
    /// time). `Ok(true)` when it removed a
    /// leftover, including a record whose queue was already gone;
    /// `Ok(false)` when there was nothing to remove (no such queue, a live
    /// or persisted owner, a creator still setting up).
    ///
    /// A queue that is not ours stays as it is, with an error saying why.
    /// Call it at start-up, for names your program owns.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad name; [`ErrorKind::NotOurs`]
    /// for a queue without an owner record (made by another program, or
    /// by a build of mproc from before records), with a record of another
    /// queue, of another user or writable by others, or with something
    /// else where its record should be; [`ErrorKind::PermissionDenied`]
    /// for another user's queue.
    pub fn reclaim(name: &str) -> Result<bool> {
        const OP: &str = "MessageQueue::reclaim";
        let name = normalize(OP, "message queue name", name)?;
        let resource = Resource::MessageQueue(SegmentName::new(&name));
        let not_ours = |found| Err(Error::new(OP, resource, ErrorKind::NotOurs { found }));
        let record = record_name(&name);
        let queue = match sys::open(&name, None) {
            Ok(fd) => fd,
            // No queue: a record its dead creator left without it (killed
            // between removing the two, or before making the queue) goes.
            Err(Errno::ENOENT) => {
                return Ok(SharedMemory::<OwnerRecord>::reclaim(&record).unwrap_or(false));
            }
            Err(e) => return Err(Error::os(OP, resource, e)),
        };
        let queue = stat(&queue).map_err(|e| Error::os(OP, resource, e))?;
        let (mut found, dead, file) = match SharedMemory::<OwnerRecord>::open_as(OP, &record) {
            Ok(found) => found,
            Err(e) => {
                return match e.kind() {
                    ErrorKind::NotFound => not_ours("a queue without an mproc owner record"),
                    // Its creator is making the record: alive.
                    ErrorKind::NotReady => Ok(false),
                    // A creator that died before its record was published
                    // had not made a queue yet: this one is another's.
                    ErrorKind::StaleSegment { .. } => {
                        not_ours("an owner record whose creator died before making a queue")
                    }
                    ErrorKind::PermissionDenied => {
                        not_ours("an owner record this user may not open")
                    }
                    ErrorKind::LayoutMismatch { .. } | ErrorKind::NotOurs { .. } => {
                        not_ours("something else where its owner record should be")
                    }
                    _ => Err(e),
                };
            }
        };
        if dead.is_none() {
            // A live creator, or a persisted queue.
            return Ok(false);
        }
        if file.uid != queue.uid || file.mode & 0o077 != 0 {
            return not_ours("an owner record of another user, or that others may write");
        }
        if !found.describes(&name, &queue) {
            return not_ours("an owner record of another queue");
        }
        // The queue looked at, not one made since under the name.
        match sys::unlink_if(&name, (queue.dev, queue.ino)) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(Error::os(OP, resource, e)),
        }
        let _ = found.unlink();
        Ok(true)
    }

    /// Opens the existing queue `name`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for a bad name; [`ErrorKind::NotFound`];
    /// [`ErrorKind::PermissionDenied`] for another user's queue.
    pub fn open(name: &str) -> Result<MessageQueue> {
        const OP: &str = "MessageQueue::open";
        let name = normalize(OP, "message queue name", name)?;
        let resource = Resource::MessageQueue(SegmentName::new(&name));
        let fd = sys::open(&name, None).map_err(|e| Error::os(OP, resource, e))?;
        let attr = sys::attributes(&fd).map_err(|e| Error::os(OP, resource, e))?;
        Ok(MessageQueue {
            fd,
            name,
            owner: 0,
            record: None,
            message_size: usize::try_from(attr.message_size).unwrap_or(0),
        })
    }

    pub(super) fn resource(&self) -> Resource {
        Resource::MessageQueue(SegmentName::new(&self.name))
    }

    /// The name, with its leading `/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The longest message the queue takes, in bytes.
    pub fn message_size(&self) -> usize {
        self.message_size
    }

    /// Capacity and fill right now.
    ///
    /// # Errors
    ///
    /// Only if the kernel refuses `mq_getattr` (it does not for an open
    /// queue).
    pub fn attributes(&self) -> Result<Attributes> {
        let attr = sys::attributes(&self.fd)
            .map_err(|e| Error::os("MessageQueue::attributes", self.resource(), e))?;
        let size = |v: i64| usize::try_from(v).unwrap_or(0);
        Ok(Attributes {
            max_messages: size(attr.max_messages),
            message_size: size(attr.message_size),
            current: size(attr.current),
        })
    }

    pub(super) fn send_with(
        &self,
        op: &'static str,
        msg: &[u8],
        priority: u32,
        wait: Wait,
    ) -> Result<()> {
        if priority >= PRIORITY_LIMIT {
            return Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("a priority is below PRIORITY_LIMIT (32768)"),
            ));
        }
        if msg.len() > self.message_size {
            return Err(Error::new(
                op,
                self.resource(),
                ErrorKind::MessageSize {
                    size: msg.len(),
                    capacity: self.message_size,
                },
            ));
        }
        sys::send(&self.fd, msg, priority, wait).map_err(|e| match e {
            Errno::ETIMEDOUT | Errno::EAGAIN => Error::new(op, self.resource(), ErrorKind::Full),
            e => Error::os(op, self.resource(), e),
        })
    }

    /// Sends `msg` with `priority` (0 to 32767, higher first), waiting while
    /// the queue is full.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageSize`] when `msg` is longer than the queue's
    /// message size; [`ErrorKind::InvalidArgument`] for a priority of
    /// [`PRIORITY_LIMIT`] or more. Nothing is sent on an error.
    pub fn send(&self, msg: &[u8], priority: u32) -> Result<()> {
        self.send_with("MessageQueue::send", msg, priority, Wait::Forever)
    }

    /// [`MessageQueue::send`] without waiting: [`ErrorKind::Full`] when the
    /// queue is full.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::send`], and [`ErrorKind::Full`].
    pub fn try_send(&self, msg: &[u8], priority: u32) -> Result<()> {
        self.send_with("MessageQueue::try_send", msg, priority, Wait::Never)
    }

    /// [`MessageQueue::send`] waiting at most `timeout`:
    /// [`ErrorKind::Full`] when the queue stayed full.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::try_send`].
    pub fn send_timeout(&self, msg: &[u8], priority: u32, timeout: Duration) -> Result<()> {
        self.send_with(
            "MessageQueue::send_timeout",
            msg,
            priority,
            Wait::For(timeout),
        )
    }

    pub(super) fn receive_with(
        &self,
        op: &'static str,
        buf: &mut [u8],
        wait: Wait,
    ) -> Result<(usize, u32)> {
        if buf.len() < self.message_size {
            // The kernel refuses any buffer shorter than the queue's message
            // size, whatever the next message's length.
            return Err(Error::new(
                op,
                self.resource(),
                ErrorKind::MessageSize {
                    size: self.message_size,
                    capacity: buf.len(),
                },
            ));
        }
        sys::receive(&self.fd, buf, wait).map_err(|e| match e {
            Errno::ETIMEDOUT | Errno::EAGAIN => Error::new(op, self.resource(), ErrorKind::Empty),
            e => Error::os(op, self.resource(), e),
        })
    }

    /// Waits for the highest-priority message, copies it into `buf` and
    /// returns its length and priority.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MessageSize`] when `buf` is shorter than the queue's
    /// message size (the kernel's rule; nothing is taken).
    pub fn receive(&self, buf: &mut [u8]) -> Result<(usize, u32)> {
        self.receive_with("MessageQueue::receive", buf, Wait::Forever)
    }

    /// [`MessageQueue::receive`] without waiting: [`ErrorKind::Empty`] when
    /// no message is there.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::receive`], and [`ErrorKind::Empty`].
    pub fn try_receive(&self, buf: &mut [u8]) -> Result<(usize, u32)> {
        self.receive_with("MessageQueue::try_receive", buf, Wait::Never)
    }

    /// [`MessageQueue::receive`] waiting at most `timeout`:
    /// [`ErrorKind::Empty`] when nothing came.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::try_receive`].
    pub fn receive_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<(usize, u32)> {
        self.receive_with("MessageQueue::receive_timeout", buf, Wait::For(timeout))
    }

    /// Asks the kernel to send `sig` to this process once, when a message
    /// arrives in the empty queue while no process waits in a receive
    /// (`mq_notify` with `SIGEV_SIGNAL`). One process at a time may be
    /// registered; the registration ends when the signal is sent.
    ///
    /// # Errors
    ///
    /// `EBUSY` when another process is registered; `ENOSYS` where
    /// `mq_notify` is missing (qemu-user does not emulate it).
    pub fn notify(&self, sig: Signal) -> Result<()> {
        sys::notify(&self.fd, Some(sig.as_raw()))
            .map_err(|e| Error::os("MessageQueue::notify", self.resource(), e))
    }

    /// Cancels this process's [`notify`](MessageQueue::notify) registration.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::notify`].
    pub fn cancel_notify(&self) -> Result<()> {
        sys::notify(&self.fd, None)
            .map_err(|e| Error::os("MessageQueue::cancel_notify", self.resource(), e))
    }

    /// Keeps the name after this handle is dropped: the queue stays until
    /// some process unlinks it (or the machine restarts), and is never
    /// taken for a leftover by [`MessageQueue::reclaim`].
    pub fn persist(&mut self) {
        if self.owns()
            && let Some(record) = &mut self.record
        {
            record.persist();
        }
        self.owner = 0;
    }

    /// Removes the name now (`mq_unlink`), from any handle, and the
    /// queue's owner record with it: later `open`s fail, while every
    /// process that has the queue open keeps using it. Only this queue's
    /// name is removed: if the name now holds another queue (this one was
    /// unlinked and the name taken again), that one is left alone.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when this queue's name is already gone.
    pub fn unlink(&mut self) -> Result<()> {
        self.owner = 0;
        let unlinked = self
            .unlink_own()
            .map_err(|e| Error::os("MessageQueue::unlink", self.resource(), e));
        let record = record_name(&self.name);
        let mine = match self.record.take() {
            Some(made) => Some(made),
            // Opened, not made here: the record of this very queue only.
            None => stat(&self.fd).ok().and_then(|queue| {
                let (found, _, _) =
                    SharedMemory::<OwnerRecord>::open_as("MessageQueue::unlink", &record).ok()?;
                found.describes(&self.name, &queue).then_some(found)
            }),
        };
        if let Some(mut found) = mine {
            let _ = found.unlink();
        }
        unlinked
    }

    /// `mq_unlink` of the name while it is still this queue's.
    fn unlink_own(&self) -> core::result::Result<(), Errno> {
        let st = stat(&self.fd)?;
        sys::unlink_if(&self.name, (st.dev, st.ino))
    }

    /// Whether this handle owns the name (removes it on drop).
    pub fn owns(&self) -> bool {
        self.owner != 0 && self.owner == sysproc::getpid()
    }
}

/// The error for a refused `create`: a kernel limit named with its value
/// where one applies.
fn create_error(
    op: &'static str,
    resource: Resource,
    e: Errno,
    max_messages: usize,
    message_size: usize,
) -> Error {
    let limited = |limit: Limit, name: &'static str, fix: &'static str| {
        Error::new(
            op,
            resource,
            ErrorKind::KernelLimit {
                limit: name,
                value: sys::limit(limit).unwrap_or(0),
                fix,
            },
        )
    };
    let over = |limit: Limit, asked: usize| sys::limit(limit).is_some_and(|v| asked as u64 > v);
    match e {
        Errno::EINVAL if over(Limit::MsgMax, max_messages) => limited(
            Limit::MsgMax,
            "/proc/sys/fs/mqueue/msg_max",
            "ask for fewer messages, or raise it as root (sysctl fs.mqueue.msg_max=N)",
        ),
        Errno::EINVAL if over(Limit::MsgsizeMax, message_size) => limited(
            Limit::MsgsizeMax,
            "/proc/sys/fs/mqueue/msgsize_max",
            "ask for shorter messages, or raise it as root (sysctl fs.mqueue.msgsize_max=N)",
        ),
        Errno::ENOSPC => limited(
            Limit::QueuesMax,
            "/proc/sys/fs/mqueue/queues_max",
            "unlink queues no longer used, or raise it as root (sysctl fs.mqueue.queues_max=N)",
        ),
        Errno::EMFILE => limited(
            Limit::Rlimit,
            "RLIMIT_MSGQUEUE",
            "make the queue smaller, unlink unused ones, or raise the per-user byte limit \
             (ulimit -q, setrlimit); if the process is out of descriptors, RLIMIT_NOFILE",
        ),
        e => Error::os(op, resource, e),
    }
}

impl AsFd for MessageQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for MessageQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        if self.owns() {
            // The queue first, then (as the field drops) its record: a
            // crash between the two leaves a record that `reclaim` removes.
            // Only this queue's name: it may have been taken again.
            let _ = self.unlink_own();
        }
    }
}
