//! The crate's one error type.
//!
//! Every fallible call returns [`Error`]: what was attempted (`op`, the C or
//! Python name of the call), on what ([`Resource`]), what went wrong
//! ([`ErrorKind`], the part callers branch on), and the `errno` when the kernel
//! said no. Building and formatting an error allocates nothing.

use core::fmt;

use crate::process::Pid;
use crate::sys;

/// What an operation acted on: named in every error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resource {
    /// The calling process itself.
    CurrentProcess,
    /// A process, by pid.
    Pid(Pid),
    /// A process group, by its leader's pid.
    ProcessGroup(Pid),
    /// A [`Process`](crate::process::Process) that has not been started.
    UnstartedProcess,
    /// A signal number as the caller gave it (it may be invalid).
    Signal(i32),
    /// A set of signals.
    SignalSet,
    /// The process's real-time interval timer (`alarm`, `setitimer`).
    AlarmTimer,
    /// A text the caller gave, such as a process or signal name (only its
    /// length is kept, so that errors stay allocation-free).
    Text {
        /// What the text was for, e.g. `"process name"`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A build-time capacity, by its `MPROC_*` setting.
    Capacity(&'static str),
    /// A file or kernel interface, by path.
    Path(&'static str),
    /// An anonymous shared-memory segment of this many bytes.
    AnonymousSegment {
        /// Its size.
        bytes: usize,
    },
    /// A fixed-capacity container of shared memory (`Array`, `FixedStr`…),
    /// by its type name and capacity.
    Container {
        /// The type, e.g. `"Array"`.
        what: &'static str,
        /// Its capacity.
        capacity: usize,
    },
    /// A named shared-memory segment (`/dev/shm/<name>`), by name.
    NamedSegment(SegmentName),
    /// A POSIX message queue, by name.
    MessageQueue(SegmentName),
    /// One end of a [`Pipe`](crate::ipc::Pipe), by its descriptor.
    Connection {
        /// The end's file descriptor in this process.
        fd: i32,
    },
    /// A named socket ([`Listener`](crate::ipc::Listener)), by its
    /// address.
    Socket(SegmentName),
    /// An environment variable of the process, by name (`NOTIFY_SOCKET`,
    /// `LISTEN_FDS`…).
    Environment(&'static str),
    /// A file descriptor of the process, by number (e.g. one that systemd
    /// passed).
    Descriptor(i32),
    /// A [`Pool`](crate::pool::Pool), by its worker count.
    Pool {
        /// Its workers.
        workers: usize,
    },
    /// A task of a [`Pool`](crate::pool::Pool), by its submission number
    /// (0 for the pool's first task).
    Task(u64),
    /// A [`Manager`](crate::manager::Manager) server, by its address.
    Manager(SegmentName),
    /// An object a manager server holds, by its kind and number.
    ManagerObject {
        /// `"dict"`, `"list"`, `"lock"`…
        kind: &'static str,
        /// Its number on the server.
        id: u32,
    },
    /// A process a [`Manager`](crate::manager::Manager) server refused
    /// for its uid, with the rule: the server serves its own uid and those
    /// its owner added with
    /// [`Builder::allow_uid`](crate::manager::Builder::allow_uid).
    ManagerPeer {
        /// The refused process's effective uid.
        uid: u32,
        /// The uid the server runs as.
        server_uid: u32,
        /// The other uids it serves.
        allowed: Uids,
    },
    /// A listening socket of a [`server`](crate::server), by its
    /// descriptor in this process.
    Listener {
        /// Its file descriptor.
        fd: i32,
    },
    /// A pre-fork [`Server`](crate::server::Server), by its worker count.
    Server {
        /// Its workers.
        workers: usize,
    },
}

/// A short list of uids carried inline by an [`Error`] (at most
/// [`ALLOWED_UIDS`](crate::ipc::ALLOWED_UIDS)).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Uids {
    uids: [u32; crate::ipc::ALLOWED_UIDS],
    len: u8,
}

impl Uids {
    /// The first [`ALLOWED_UIDS`](crate::ipc::ALLOWED_UIDS) of `uids`.
    pub fn new(uids: &[u32]) -> Uids {
        let mut kept = Uids {
            uids: [0; crate::ipc::ALLOWED_UIDS],
            len: 0,
        };
        for (slot, &uid) in kept.uids.iter_mut().zip(uids) {
            *slot = uid;
            kept.len += 1;
        }
        kept
    }

    /// The uids.
    pub fn as_slice(&self) -> &[u32] {
        &self.uids[..usize::from(self.len)]
    }
}

impl fmt::Debug for Uids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The name of a named segment or message queue as an [`Error`] carries it: inline (errors
/// stay allocation-free and `Copy`), its first [`SegmentName::CAPACITY`]
/// bytes, marked with `…` when cut.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SegmentName {
    bytes: [u8; SegmentName::CAPACITY],
    len: u8,
    cut: bool,
}

impl SegmentName {
    /// How many bytes of a name are kept.
    pub const CAPACITY: usize = 40;

    /// The first [`SegmentName::CAPACITY`] bytes of `name` (cut at a
    /// character boundary).
    pub fn new(name: &str) -> SegmentName {
        let mut end = name.len().min(Self::CAPACITY);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; Self::CAPACITY];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        SegmentName {
            bytes,
            len: end as u8,
            cut: end < name.len(),
        }
    }

    /// The kept part of the name.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// Whether the name was longer than what is kept.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::CurrentProcess => f.write_str("the calling process"),
            Resource::Pid(pid) => write!(f, "pid {pid}"),
            Resource::ProcessGroup(pid) => write!(f, "process group {pid}"),
            Resource::UnstartedProcess => f.write_str("a process that was never started"),
            Resource::Signal(sig) => match crate::signal::Signal::from_raw(*sig) {
                Ok(s) => write!(f, "signal {s} ({sig})"),
                Err(_) => write!(f, "signal {sig}"),
            },
            Resource::SignalSet => f.write_str("a signal set"),
            Resource::AlarmTimer => f.write_str("the real-time alarm timer"),
            Resource::Text { what, len } => write!(f, "{what} of {len} bytes"),
            Resource::Capacity(setting) => write!(f, "capacity {setting}"),
            Resource::Path(path) => f.write_str(path),
            Resource::AnonymousSegment { bytes } => {
                write!(f, "an anonymous shared segment of {bytes} bytes")
            }
            Resource::Container { what, capacity } => write!(f, "{what} of capacity {capacity}"),
            Resource::NamedSegment(name) => write!(f, "named segment {name}"),
            Resource::Connection { fd } => write!(f, "pipe end (fd {fd})"),
            Resource::MessageQueue(name) => write!(f, "message queue {name}"),
            Resource::Socket(address) => write!(f, "socket {address}"),
            Resource::Environment(name) => write!(f, "environment variable {name}"),
            Resource::Descriptor(fd) => write!(f, "fd {fd}"),
            Resource::Pool { workers } => write!(f, "a pool of {workers} workers"),
            Resource::Task(seq) => write!(f, "pool task {seq}"),
            Resource::Manager(address) => write!(f, "manager at {address}"),
            Resource::ManagerObject { kind, id } => write!(f, "manager {kind} {id}"),
            Resource::Listener { fd } => write!(f, "listening socket (fd {fd})"),
            Resource::Server { workers } => write!(f, "a server of {workers} workers"),
            Resource::ManagerPeer {
                uid,
                server_uid,
                allowed,
            } => {
                write!(
                    f,
                    "uid {uid}, which the manager does not serve: it serves uid {server_uid}"
                )?;
                for other in allowed.as_slice() {
                    write!(f, ", {other}")?;
                }
                write!(
                    f,
                    "; its owner admits another with Manager::builder().allow_uid({uid})"
                )
            }
        }
    }
}

/// What went wrong: the part of an [`Error`] callers branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The kernel refused with an errno not covered by a variant below.
    Os,
    /// No such process (`ESRCH`), or it was already reaped.
    NoSuchProcess,
    /// Not allowed (`EPERM`/`EACCES`).
    PermissionDenied,
    /// Not a signal number this platform has (valid: 1 to 64).
    InvalidSignal,
    /// A signal that cannot be caught or blocked here (`SIGKILL`, `SIGSTOP`,
    /// and the fault signals signal-hook refuses).
    UncatchableSignal,
    /// An argument broke a rule; the text says which.
    InvalidArgument(&'static str),
    /// A static capacity is full.
    CapacityExceeded {
        /// The capacity in force.
        limit: usize,
    },
    /// The call needs a started process.
    NotStarted,
    /// A process can be started only once.
    AlreadyStarted,
    /// `fork` was refused because the process runs other threads, whose locks
    /// the child would inherit held forever (see the crate docs, "The fork
    /// contract").
    ThreadsRunning {
        /// Threads in the process at the time of the call.
        threads: u32,
    },
    /// The child was reaped by someone else (e.g. `SIGCHLD` set to ignore, or
    /// a `waitpid(-1)` elsewhere in the program), so its exit status is lost.
    ChildLost,
    /// A wait ran out of time.
    Timeout,
    /// An index past the end of a fixed-capacity container.
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The container's length.
        len: usize,
    },
    /// A name that exists already (`EEXIST`), and whose owner is alive.
    AlreadyExists,
    /// No such name (`ENOENT`).
    NotFound,
    /// Another instance runs: a pidfile names this live process.
    AlreadyRunning {
        /// The pid in the pidfile.
        pid: i32,
    },
    /// A named segment left behind by an owner that died without removing
    /// it: not opened or replaced until it is reclaimed explicitly.
    StaleSegment {
        /// The pid its owner had.
        owner: i32,
    },
    /// A clean-up found something it does not recognise as one of ours
    /// (a file of another program, garbage, another user's record…) and
    /// left it untouched: only an `mproc` resource whose owner is gone is
    /// ever removed.
    NotOurs {
        /// What was found instead, e.g. `"an empty file"`.
        found: &'static str,
    },
    /// A named segment whose creator has not finished setting it up (or
    /// died while doing so: then its owner is dead and reclaiming it is
    /// the remedy).
    NotReady,
    /// The other end of a connection is closed: nothing can be sent
    /// (Python's `BrokenPipeError`).
    BrokenPipe,
    /// The other end of a connection is closed and every message it sent
    /// has been received (Python's `EOFError`).
    EndOfStream,
    /// A message does not fit: the receiver's buffer, the expected size of
    /// a typed message, or the most a connection carries.
    MessageSize {
        /// The message's length in bytes.
        size: usize,
        /// The room there was for it (for a typed receive: the exact size
        /// expected).
        capacity: usize,
    },
    /// A non-blocking call found nothing to do now (the receiving end empty,
    /// or the sending end's buffer full).
    WouldBlock,
    /// A queue is full: nothing was added (Python's `queue.Full`).
    Full,
    /// A queue is empty: nothing was taken (Python's `queue.Empty`).
    Empty,
    /// A kernel limit refused the request.
    KernelLimit {
        /// The limit, e.g. `/proc/sys/fs/mqueue/msg_max` or
        /// `RLIMIT_MSGQUEUE`.
        limit: &'static str,
        /// Its value when the call failed (0 if it could not be read).
        value: u64,
        /// What to change.
        fix: &'static str,
    },
    /// A pool task panicked; its message is in the
    /// [`TaskError`](crate::pool::TaskError). The worker lives on.
    Panicked,
    /// The worker running a pool task died (killed by a signal, or it
    /// exited) before the task ended. A replacement worker was forked.
    WorkerDied {
        /// The worker's pid.
        pid: i32,
        /// Its exit code as Python reports it: minus the signal that killed
        /// it (-9 for `SIGKILL`), or the status it exited with;
        /// [`LOST_STATUS`](crate::pool::LOST_STATUS) when the program
        /// reaped the worker itself (`SIGCHLD` ignored).
        exitcode: i32,
    },
    /// The task ran past the pool's task timeout: its worker was stopped
    /// (`SIGTERM`, then `SIGKILL`) and replaced.
    TaskTimedOut {
        /// The stopped worker's pid.
        pid: i32,
        /// The pool's task timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// The pool was terminated before the task ended.
    Terminated,
    /// The pool takes no new tasks: it was closed or terminated (Python's
    /// `ValueError: Pool not running`).
    PoolNotRunning,
    /// The pool's initializer failed in three workers in a row (it panicked
    /// or the worker died before its first task), so the pool stopped
    /// forking workers and failed its pending tasks.
    InitializerFailed {
        /// The last such worker's exit code (as in `WorkerDied`).
        exitcode: i32,
    },
    /// The manager server is gone (shut down, or dead): its connection
    /// ended. Every later call through its proxies fails the same way.
    ManagerGone,
    /// A manager barrier is broken: aborted, reset while waited at, or a
    /// wait at it timed out or its process died (Python's
    /// `BrokenBarrierError`).
    BrokenBarrier,
    /// A registered manager type has no method of this number.
    UnknownMethod {
        /// The number called.
        method: u16,
    },
    /// A named segment's header does not match what the opener expects:
    /// `field` says which part differs.
    LayoutMismatch {
        /// `"magic"`, `"format version"`, `"header size"`, `"file size"`,
        /// `"payload offset"`, `"payload size"`, `"payload alignment"` or
        /// `"type identity"`.
        field: &'static str,
        /// What this build expects.
        expected: u64,
        /// What the segment holds.
        found: u64,
    },
    /// A daemonic process tried to start a child process (a
    /// [`Process`](crate::process::Process), and so a
    /// [`Pool`](crate::pool::Pool) or a [`Manager`](crate::manager::Manager)):
    /// Python's rule, "daemonic processes are not allowed to have children".
    /// A daemon is killed with its parent, with no chance to join or stop
    /// children of its own.
    DaemonicParent,
    /// A message came without the descriptor the receiver expected
    /// (`SCM_RIGHTS`): the peer sent plain bytes, or the descriptor was
    /// lost on the way (its sender died holding it).
    NoDescriptor,
    /// A value's encoding (feature `serde`) does not fit where it goes: a
    /// caller's buffer, or a message queue's message size; or a record is
    /// longer than a [`RecordQueue`](crate::ipc::RecordQueue) takes.
    /// Nothing was written or sent.
    EncodedSize {
        /// The value's encoded length in bytes.
        size: usize,
        /// The room there was for it.
        capacity: usize,
        /// What raises that room.
        knob: &'static str,
    },
    /// A message is not a valid encoding of the type asked for (feature
    /// `serde`): malformed, cut short, or followed by more bytes; or a
    /// message or queue slot holds bytes that are no value of the
    /// [`Item`](crate::shm::Item) type asked for (a `bool` of 2). The
    /// text says what was wrong.
    InvalidData(&'static str),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Os => f.write_str("refused by the kernel"),
            ErrorKind::NoSuchProcess => f.write_str("no such process"),
            ErrorKind::PermissionDenied => f.write_str("permission denied"),
            ErrorKind::InvalidSignal => f.write_str("not a valid signal (valid: 1 to 64)"),
            ErrorKind::UncatchableSignal => {
                f.write_str("this signal cannot be caught, blocked or handled here")
            }
            ErrorKind::InvalidArgument(rule) => write!(f, "invalid argument: {rule}"),
            ErrorKind::CapacityExceeded { limit } => write!(f, "capacity of {limit} exceeded"),
            ErrorKind::NotStarted => f.write_str("the process has not been started"),
            ErrorKind::AlreadyStarted => f.write_str("a process can only be started once"),
            ErrorKind::ThreadsRunning { threads } => write!(
                f,
                "refusing to fork a process that runs {threads} threads \
                 (use the unsafe *_with_threads form to opt in)"
            ),
            ErrorKind::ChildLost => f.write_str(
                "the child was reaped elsewhere (SIGCHLD ignored or waitpid(-1)); \
                 its exit status is lost",
            ),
            ErrorKind::Timeout => f.write_str("timed out"),
            ErrorKind::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range for length {len}")
            }
            ErrorKind::AlreadyExists => f.write_str("the name exists already"),
            ErrorKind::NotFound => f.write_str("no such name"),
            ErrorKind::AlreadyRunning { pid } => {
                write!(
                    f,
                    "already running: the pidfile names pid {pid}, which is alive"
                )
            }
            ErrorKind::StaleSegment { owner } => write!(
                f,
                "left behind by its owner, pid {owner}, which is no longer alive \
                 (reclaim it to remove it)"
            ),
            ErrorKind::NotOurs { found } => write!(
                f,
                "not recognised as one of ours: found {found}; left untouched"
            ),
            ErrorKind::NotReady => f.write_str("its creator has not finished setting it up"),
            ErrorKind::BrokenPipe => f.write_str("the other end is closed"),
            ErrorKind::EndOfStream => {
                f.write_str("the other end is closed and everything it sent was received")
            }
            ErrorKind::MessageSize { size, capacity } => write!(
                f,
                "a message of {size} bytes does not fit in {capacity} bytes (nothing was lost)"
            ),
            ErrorKind::WouldBlock => f.write_str("nothing can be done without waiting"),
            ErrorKind::Full => f.write_str("the queue is full"),
            ErrorKind::Empty => f.write_str("the queue is empty"),
            ErrorKind::KernelLimit { limit, value, fix } => {
                write!(
                    f,
                    "refused by the kernel limit {limit} (now {value}): {fix}"
                )
            }
            ErrorKind::Panicked => f.write_str("the task panicked"),
            ErrorKind::WorkerDied { pid, exitcode } if *exitcode == i32::MIN => write!(
                f,
                "its worker (pid {pid}) ended before the task did; its exit status \
                 was taken elsewhere (SIGCHLD ignored?)"
            ),
            ErrorKind::WorkerDied { pid, exitcode } if *exitcode < 0 => write!(
                f,
                "its worker (pid {pid}) was killed by signal {} before the task ended",
                -exitcode
            ),
            ErrorKind::WorkerDied { pid, exitcode } => write!(
                f,
                "its worker (pid {pid}) exited with {exitcode} before the task ended"
            ),
            ErrorKind::TaskTimedOut { pid, timeout_ms } => write!(
                f,
                "the task ran past the pool's task timeout of {timeout_ms} ms; its worker \
                 (pid {pid}) was stopped and replaced"
            ),
            ErrorKind::Terminated => f.write_str("the pool was terminated before the task ended"),
            ErrorKind::PoolNotRunning => {
                f.write_str("the pool is not running (closed or terminated): no new tasks")
            }
            ErrorKind::InitializerFailed { exitcode } => write!(
                f,
                "the pool's initializer failed in three workers in a row (last exit code \
                 {exitcode}); the pool stopped"
            ),
            ErrorKind::ManagerGone => f.write_str("the manager server is gone (shut down or dead)"),
            ErrorKind::BrokenBarrier => f.write_str("the barrier is broken"),
            ErrorKind::UnknownMethod { method } => {
                write!(f, "the registered type has no method {method}")
            }
            ErrorKind::LayoutMismatch {
                field,
                expected,
                found,
            } => write!(
                f,
                "layout mismatch in the {field}: expected {expected:#x}, found {found:#x}"
            ),
            ErrorKind::DaemonicParent => f.write_str(
                "daemonic processes are not allowed to have children \
                 (a daemon dies with its parent and could not join them)",
            ),
            ErrorKind::NoDescriptor => {
                f.write_str("the message carried no file descriptor (SCM_RIGHTS)")
            }
            ErrorKind::EncodedSize {
                size,
                capacity,
                knob,
            } => write!(
                f,
                "the value encodes to {size} bytes, more than the {capacity} there is room \
                 for (nothing was sent): {knob}"
            ),
            ErrorKind::InvalidData(what) => {
                write!(f, "not a valid encoding of the type asked for: {what}")
            }
        }
    }
}

/// The error of every fallible `mproc` call.
///
/// ```
/// use mproc::{ErrorKind, signal::Signal};
/// let err = Signal::from_raw(999).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidSignal);
/// assert_eq!(err.to_string(), "Signal::from_raw(signal 999): not a valid signal (valid: 1 to 64)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    op: &'static str,
    resource: Resource,
    kind: ErrorKind,
    errno: i32,
}

impl Error {
    /// An error without an errno.
    pub(crate) const fn new(op: &'static str, resource: Resource, kind: ErrorKind) -> Self {
        Error {
            op,
            resource,
            kind,
            errno: 0,
        }
    }

    /// An error from an errno, mapped to the kind callers branch on.
    pub(crate) fn os(op: &'static str, resource: Resource, errno: sys::Errno) -> Self {
        let kind = match errno {
            sys::Errno::ESRCH => ErrorKind::NoSuchProcess,
            sys::Errno::EPERM | sys::Errno::EACCES => ErrorKind::PermissionDenied,
            sys::Errno::EEXIST => ErrorKind::AlreadyExists,
            sys::Errno::ENOENT => ErrorKind::NotFound,
            _ => ErrorKind::Os,
        };
        Error {
            op,
            resource,
            kind,
            errno: errno as i32,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The call that failed, e.g. `"kill"` or `"Process::join"`.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// What the call acted on.
    pub fn resource(&self) -> Resource {
        self.resource
    }

    /// The `errno` the kernel returned, when it was the kernel that refused.
    pub fn errno(&self) -> Option<i32> {
        (self.errno != 0).then_some(self.errno)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({}): {}", self.op, self.resource, self.kind)?;
        if self.errno != 0 {
            f.write_str(": ")?;
            sys::fmt_errno(self.errno, f)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.kind {
            ErrorKind::NoSuchProcess => std::io::ErrorKind::NotFound,
            ErrorKind::PermissionDenied => std::io::ErrorKind::PermissionDenied,
            ErrorKind::Timeout => std::io::ErrorKind::TimedOut,
            ErrorKind::AlreadyExists => std::io::ErrorKind::AlreadyExists,
            ErrorKind::BrokenPipe => std::io::ErrorKind::BrokenPipe,
            ErrorKind::EndOfStream => std::io::ErrorKind::UnexpectedEof,
            ErrorKind::WouldBlock => std::io::ErrorKind::WouldBlock,
            ErrorKind::NotFound => std::io::ErrorKind::NotFound,
            ErrorKind::LayoutMismatch { .. } | ErrorKind::InvalidData(_) => {
                std::io::ErrorKind::InvalidData
            }
            ErrorKind::InvalidSignal
            | ErrorKind::UncatchableSignal
            | ErrorKind::InvalidArgument(_)
            | ErrorKind::IndexOutOfRange { .. } => std::io::ErrorKind::InvalidInput,
            _ if e.errno != 0 => std::io::Error::from_raw_os_error(e.errno).kind(),
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
