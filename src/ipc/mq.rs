//! [`MessageQueue`]: a raw POSIX message queue (`mq_overview(7)`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Resource, Result, SegmentName};
use crate::name::{KernelName, normalize};
use crate::signal::Signal;
use crate::sys::mq::{self as sys, Limit, Wait};
use crate::sys::{Errno, process as sysproc};

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
/// queue itself lives on while any process has it open.
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
#[derive(Debug)]
pub struct MessageQueue {
    fd: OwnedFd,
    name: KernelName,
    /// The pid that created it and owns its name, while it does (0: not
    /// this handle).
    owner: i32,
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
        let fd = sys::open(&name, Some(wanted))
            .map_err(|e| create_error(OP, resource, e, max_messages, message_size))?;
        Ok(MessageQueue {
            fd,
            name,
            owner: sysproc::getpid(),
            message_size,
        })
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
            message_size: usize::try_from(attr.message_size).unwrap_or(0),
        })
    }

    fn resource(&self) -> Resource {
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

    fn send_with(&self, op: &'static str, msg: &[u8], priority: u32, wait: Wait) -> Result<()> {
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

    fn receive_with(&self, op: &'static str, buf: &mut [u8], wait: Wait) -> Result<(usize, u32)> {
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
    /// some process unlinks it (or the machine restarts).
    pub fn persist(&mut self) {
        self.owner = 0;
    }

    /// Removes the name now (`mq_unlink`), from any handle: later `open`s
    /// fail, while every process that has the queue open keeps using it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when the name is already gone.
    pub fn unlink(&mut self) -> Result<()> {
        self.owner = 0;
        sys::unlink(&self.name).map_err(|e| Error::os("MessageQueue::unlink", self.resource(), e))
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
            let _ = sys::unlink(&self.name);
        }
    }
}
