//! Tasks that take a file descriptor: Python's `apply_async(talk, (conn,
//! addr))`, where `conn` is an accepted socket.
//!
//! The design is documented on [`Pool::apply_async_fd`].

use std::cell::Cell;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use super::{AsyncResult, Pool, TaskData, TaskError};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys::{Errno, fdpass, socket};

/// About what one queued message costs the queue's send buffer (768
/// bytes measured on x86_64: the kernel's bookkeeping of a short message
/// with a descriptor).
const MESSAGE_COST: usize = 1024;

/// The room the parent leaves in the queue's send buffer: a worker puts
/// back the message it took with a blocking send, which must always find
/// room (nobody else takes messages while it holds the lock).
const HEADROOM: usize = 4 * MESSAGE_COST;

/// The parent's side of a pool's descriptor queue.
pub(super) struct FdQueue {
    /// The receiving end: workers take messages from it.
    queue: OwnedFd,
    /// The sending end: the parent sends, workers put messages back.
    back: OwnedFd,
    /// The last key given (keys start at 1).
    next: Cell<u64>,
    /// Per slot: the key of the descriptor task it holds (0: none).
    keys: Box<[Cell<u64>]>,
}

impl FdQueue {
    /// The queue of a pool of `slots` slots (its table allocated once,
    /// here).
    pub(super) fn new(resource: Resource, slots: usize) -> Result<FdQueue> {
        let (queue, back) =
            socket::seqpacket_pair().map_err(|e| Error::os("Pool::new", resource, e))?;
        // Room for a message per slot (best effort: capped by
        // net.core.wmem_max; the default, 208 KiB, holds about 270).
        let want = slots.saturating_mul(MESSAGE_COST).saturating_add(HEADROOM);
        if socket::send_buffer(&back).is_ok_and(|now| now < want) {
            let _ = fdpass::set_send_buffer(back.as_fd(), want);
        }
        Ok(FdQueue {
            queue,
            back,
            next: Cell::new(0),
            keys: (0..slots).map(|_| Cell::new(0)).collect(),
        })
    }

    /// Slot `s`'s task ended without running to its end (its worker died
    /// or overran): its message, if still queued, goes, and with it the
    /// descriptor.
    pub(super) fn lost(&self, s: usize) {
        let key = self.keys[s].replace(0);
        if key != 0 {
            let _ = fdpass::take_keyed(self.queue.as_raw_fd(), self.back.as_raw_fd(), key);
        }
    }

    /// Every queued message goes (the workers are gone).
    pub(super) fn clear(&self) {
        fdpass::drain(self.queue.as_fd());
        for k in self.keys.iter() {
            k.set(0);
        }
    }
}

/// The argument of a descriptor task in the ring: its key, the queue's
/// descriptor numbers (the same in the workers, which inherit them), and
/// the caller's argument.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct FdTask<A> {
    key: u64,
    queue: RawFd,
    back: RawFd,
    arg: A,
}

// SAFETY: numbers and a TaskData value. The two descriptor numbers name
// the pool's own queue, open at the same numbers in every process of the
// pool for as long as the pool is; nothing here is dropped or released.
#[allow(unsafe_code)]
unsafe impl<A: TaskData> TaskData for FdTask<A> {}

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// Queues `f(fd, arg)` for a worker with a descriptor of this
    /// process's, and returns at once: Python's `apply_async(talk, (conn,
    /// addr))` with an accepted socket `conn`. `fd` is anything that owns
    /// a descriptor (a `TcpStream`, `UnixStream`, `File`, `OwnedFd`…);
    /// the worker gets it back as the type `f` takes (`D`, made
    /// `From<OwnedFd>`), and closes it when `f` drops it. This process's
    /// copy is closed here: the descriptor lives in the pool's queue until
    /// a worker claims the task (see below).
    ///
    /// ```no_run
    /// use std::io::{Read, Write};
    /// use std::net::{SocketAddr, TcpListener, TcpStream};
    /// use mproc::pool::Pool;
    ///
    /// // Python: def talk(conn, client_addr): ...
    /// fn talk(mut conn: TcpStream, _addr: SocketAddr) {
    ///     let mut buf = [0u8; 1024];
    ///     while let Ok(n @ 1..) = conn.read(&mut buf) {
    ///         buf[..n].make_ascii_uppercase();
    ///         if conn.write_all(&buf[..n]).is_err() {
    ///             break;
    ///         }
    ///     }
    /// }
    ///
    /// let server = TcpListener::bind("127.0.0.1:8080")?;
    /// let p = Pool::new(4)?;
    /// loop {
    ///     // Python: conn, client_addr = server.accept()
    ///     //         p.apply_async(talk, args=(conn, client_addr))
    ///     let (conn, client_addr) = server.accept()?;
    ///     p.apply_async_fd(talk, conn, client_addr)?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// The returned [`AsyncResult`] works as [`Pool::apply_async`]'s; the
    /// seed's server drops it, as Python's drops its result.
    ///
    /// # How the descriptor reaches the worker
    ///
    /// The task ring is shared memory, which cannot carry descriptors. So
    /// each pool makes, before it forks its workers, one `SOCK_SEQPACKET`
    /// socket pair: its **descriptor queue**. [`Pool::apply_async_fd`] sends
    /// the descriptor into the queue (`SCM_RIGHTS`) in a message tagged with a
    /// key, closes the parent's copy, then queues an ordinary task whose
    /// argument carries the key. The worker that claims the task takes the
    /// message with its key out of the queue: under a record lock on the
    /// queue (`fcntl(F_SETLKW)`, released by the kernel if its holder dies),
    /// it takes messages one at a time, putting back those of other keys,
    /// until it has its own. Its message is always there: it was sent before
    /// the task was queued, and only the worker holding the lock moves
    /// messages.
    ///
    /// - Tasks without descriptors are untouched: the queue costs two
    ///   descriptors per pool and nothing per task.
    /// - At most the pool's size are served at once; the rest wait in the
    ///   ring, their descriptors in the queue (not in the parent's table).
    /// - Nothing leaks on any path: the worker's descriptor is handed to the
    ///   task by value (dropped when the task ends or panics, closed by the
    ///   kernel when the worker dies); a task failed by its worker's death or
    ///   a timeout before it took its message has the message taken out and
    ///   closed by the parent; [`Pool::terminate`] and drop close whatever is
    ///   still queued; a replacement worker inherits only the queue itself.
    /// - A worker killed while holding another task's message (the lock held,
    ///   a few microseconds) loses that message: that task fails with
    ///   [`ErrorKind::Panicked`] ("the task's descriptor was lost").
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async`] (the descriptor is closed then);
    /// [`ErrorKind::CapacityExceeded`] when the descriptor queue is full
    /// (its send buffer holds a message per slot up to
    /// `net.core.wmem_max`: about 270 at the default 208 KiB; only a pool
    /// of more slots can fill it, with descriptor tasks not yet claimed);
    /// [`ErrorKind::KernelLimit`] when the kernel refuses to hold more
    /// descriptors in flight (`RLIMIT_NOFILE` counts them).
    #[doc(alias = "send_handle")]
    pub fn apply_async_fd<F, D, A, R>(
        &self,
        f: F,
        fd: D,
        arg: A,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(D, A) -> R + Copy + 'static,
        D: From<OwnedFd> + Into<OwnedFd> + 'static,
        A: TaskData,
        R: TaskData,
    {
        const OP: &str = "Pool::apply_async_fd";
        self.check_running(OP)?;
        let fd: OwnedFd = fd.into();
        let q = &self.fds;
        let capacity = socket::send_buffer(&q.back).unwrap_or(0);
        let queued = fdpass::queued_bytes(q.back.as_fd()).unwrap_or(0);
        if queued.saturating_add(HEADROOM).saturating_add(MESSAGE_COST) > capacity {
            return Err(self.queue_full(OP, capacity));
        }
        let key = q.next.get() + 1;
        q.next.set(key);
        if let Err(e) = fdpass::send_fds(q.back.as_fd(), &key.to_ne_bytes(), &[fd.as_fd()], false) {
            return Err(match e {
                Errno::EAGAIN => self.queue_full(OP, capacity),
                e => self.queue_error(OP, e),
            });
        }
        drop(fd);
        let task = FdTask {
            key,
            queue: q.queue.as_raw_fd(),
            back: q.back.as_raw_fd(),
            arg,
        };
        let run = move |t: FdTask<A>| -> R {
            match fdpass::take_keyed(t.queue, t.back, t.key) {
                Ok(Some(fd)) => f(D::from(fd), t.arg),
                // A worker killed while it held this task's message (see
                // `apply_async_fd`'s docs): fail the task, the worker lives on.
                _ => panic!("the task's descriptor was lost (a worker died holding it)"),
            }
        };
        match self.apply_async(run, task) {
            Ok(r) => {
                q.keys[r.slot()].set(key);
                Ok(r)
            }
            Err(e) => {
                // Not queued: its descriptor goes too.
                let _ = fdpass::take_keyed(q.queue.as_raw_fd(), q.back.as_raw_fd(), key);
                Err(e)
            }
        }
    }

    /// [`Pool::apply_async_fd`], waiting for the result (Python's
    /// `apply(talk, (conn, addr))`).
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async_fd`] and [`AsyncResult::get`].
    pub fn apply_fd<F, D, A, R>(&self, f: F, fd: D, arg: A) -> core::result::Result<R, TaskError>
    where
        F: Fn(D, A) -> R + Copy + 'static,
        D: From<OwnedFd> + Into<OwnedFd> + 'static,
        A: TaskData,
        R: TaskData,
    {
        self.apply_async_fd(f, fd, arg)?.get()
    }

    fn queue_full(&self, op: &'static str, capacity: usize) -> Error {
        Error::new(
            op,
            Resource::Capacity("the pool's descriptor queue (SO_SNDBUF, net.core.wmem_max)"),
            ErrorKind::CapacityExceeded {
                limit: capacity.saturating_sub(HEADROOM) / MESSAGE_COST,
            },
        )
    }

    fn queue_error(&self, op: &'static str, e: Errno) -> Error {
        match e {
            Errno::ETOOMANYREFS => Error::new(
                op,
                self.resource(),
                ErrorKind::KernelLimit {
                    limit: "RLIMIT_NOFILE (descriptors in flight)",
                    value: 0,
                    fix: "raise the open-files limit (ulimit -n) or queue fewer descriptor tasks",
                },
            ),
            e => Error::os(op, self.resource(), e),
        }
    }
}
