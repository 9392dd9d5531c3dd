//! Async forms of the waits (feature `tokio`): pool results awaited,
//! queues, pipes, message queues and signals as futures and streams.
//!
//! ```no_run
//! use mproc::ipc::Queue;
//! use mproc::pool::Pool;
//!
//! fn fib(n: u64) -> u64 {
//!     if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
//! }
//!
//! // Fork first: the pool, the queues. Then the runtime.
//! let pool = Pool::new(2)?;
//! let q = Queue::<u64, 16>::new()?;
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     // Python: await loop.run_in_executor(process_pool, fib, 30)
//!     let r = pool.apply_async(fib, 30)?.await?;
//!     q.put_async(r).await?;
//!     assert_eq!(q.get_async().await?, 832_040);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is awaitable
//!
//! | wait | async form | its descriptor (any runtime) |
//! |---|---|---|
//! | [`AsyncResult::get`](crate::pool::AsyncResult::get) | `.await` on the [`AsyncResult`](crate::pool::AsyncResult) (`IntoFuture`), [`get_async`](crate::pool::AsyncResult::get_async) | [`Pool::watch`](crate::pool::Pool::watch) |
//! | [`Pool::imap`](crate::pool::Pool::imap), `imap_unordered` | [`Imap::into_stream`](crate::pool::Imap::into_stream) ([`ImapStream`], a `futures_core::Stream`) | [`Pool::watch`](crate::pool::Pool::watch) |
//! | [`Queue::get`](crate::ipc::Queue::get), [`put`](crate::ipc::Queue::put) | [`get_async`](crate::ipc::Queue::get_async), [`put_async`](crate::ipc::Queue::put_async) (also on `SimpleQueue`, `JoinableQueue`) | [`Queue::watch`](crate::ipc::Queue::watch), [`Queue::watch_put`](crate::ipc::Queue::watch_put) |
//! | [`JoinableQueue::join`](crate::ipc::JoinableQueue::join) | [`join_async`](crate::ipc::JoinableQueue::join_async) | [`JoinableQueue::watch_join`](crate::ipc::JoinableQueue::watch_join) |
//! | [`RecordQueue::get_into`](crate::ipc::RecordQueue::get_into) (and `ValueQueue::get` with `serde`) | [`get_into_async`](crate::ipc::RecordQueue::get_into_async) (`ValueQueue::get_async`, also on `ValueSimpleQueue`, `ValueJoinableQueue`) | [`RecordQueue::watch`](crate::ipc::RecordQueue::watch) |
//! | [`RecordQueue::put`](crate::ipc::RecordQueue::put), [`join`](crate::ipc::RecordQueue::join) (and `ValueQueue::put`, `ValueJoinableQueue::join`) | [`put_async`](crate::ipc::RecordQueue::put_async), [`join_async`](crate::ipc::RecordQueue::join_async) (`ValueQueue::put_async`, `ValueJoinableQueue::join_async`) | none: room depends on the record's length, so these look again at each tick of a timer descriptor, every [`ROOM_POLL`] |
//! | [`Connection::recv`](crate::ipc::Connection::recv), `send`, `recv_bytes`, `send_bytes` (and `recv_value`, `send_value` with `serde`) | `recv_async`, `send_async`, `recv_bytes_async`, `send_bytes_async` (`recv_value_async`, `send_value_async`) | the connection itself (`AsFd`) |
//! | [`MessageQueue::receive`](crate::ipc::MessageQueue::receive), `send` (and `receive_value`, `send_value` with `serde`) | `receive_async`, `send_async` (`receive_value_async`, `send_value_async`) | the queue itself (`AsFd`) |
//! | [`WatchableEvent::wait`](crate::sync::WatchableEvent::wait) | [`wait_async`](crate::sync::WatchableEvent::wait_async) | [`WatchableEvent::watch`](crate::sync::WatchableEvent::watch) |
//! | [`SignalFd::recv`](crate::signal::SignalFd::recv) | [`recv_async`](crate::signal::SignalFd::recv_async), [`stream`](crate::signal::SignalFd::stream) ([`SignalStream`]) | the `SignalFd` itself (`AsFd`) |
//! | a manager proxy's `acquire` (`LockProxy`, `RLockProxy`), an `EventProxy`'s `wait`, a `QueueProxy`'s `get` and `put` | [`AsyncProxy`](crate::manager::AsyncProxy): `acquire`, `wait`, `get`, `put` and their timed forms (a dropped future withdraws its request at the server) | a [`Detached`](crate::manager::Detached) proxy's descriptor, with its `begin_*` and [`Pending::try_finish`](crate::manager::Pending::try_finish) |
//!
//! # Runtime-agnostic underneath
//!
//! Every form here is the same three steps over a descriptor: register
//! it with the reactor (tokio's `AsyncFd`),
//! try the wait's non-blocking form (`get_nowait`, `try_recv`,
//! [`AsyncResult::ready`](crate::pool::AsyncResult::ready)), and on
//! "not yet" clear the readiness and wait for the next. Each descriptor
//! in the table is readable exactly when the wait would return (and the
//! queues' `watch` forms cost a system call only while watched), so a
//! program on another runtime (smol's `Async`, `async-io`, a hand-written
//! epoll loop) does the same with the descriptors in the last column.
//! Each form registers a duplicate of its descriptor, so several tasks
//! may wait on one queue or one pool at once.
//!
//! # Cancellation
//!
//! Dropping any of these futures loses nothing: an item, a message, a
//! signal or a result is taken only in the same poll that returns it.
//! A dropped `get_async` leaves the item in the queue; a dropped await of
//! an [`AsyncResult`](crate::pool::AsyncResult) drops the handle as
//! dropping it does (the task runs on, its slot is freed when it ends);
//! to keep the result, await [`AsyncResult::wait_async`](crate::pool::AsyncResult::wait_async)
//! (which takes `&self`) and then `get` it.
//!
//! # The fork rule
//!
//! A process that runs more than one thread is not forked (see the
//! [crate docs](crate#the-fork-contract)), and a multi-threaded tokio
//! runtime starts its threads when it is built. So make the
//! [`Pool`](crate::pool::Pool), the [`Manager`](crate::manager::Manager),
//! the queues and any [`Process`](crate::Process) *before* building the
//! runtime, or use the current-thread runtime (which starts no thread):
//! then a pool may also fork replacements for workers that die. The pool
//! and its results belong to the thread that made them (not `Send`): await
//! them in `block_on` or in a `LocalSet`'s `spawn_local` tasks. Queues,
//! connections, message queues and the manager's proxies are `Send` and
//! `Sync`, and may be awaited in any task.
//!
//! The runtime must have I/O enabled (`enable_io` or `enable_all`); a
//! form awaited outside any runtime fails with
//! [`ErrorKind::InvalidArgument`]
//! instead of panicking.

mod conn;
mod pool;
mod queue;
mod signal;
#[cfg(feature = "serde")]
mod values;

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

pub(crate) use pool::Driver;
pub use pool::{ImapStream, ResultFuture};
pub use queue::ROOM_POLL;
pub use signal::SignalStream;

use crate::error::{Error, ErrorKind, Resource, Result};

/// A duplicate of `fd` registered with the current tokio runtime's
/// reactor for `interest` (a duplicate, so that several tasks may each
/// register the same descriptor, which epoll refuses twice).
pub(crate) fn register(
    op: &'static str,
    fd: BorrowedFd<'_>,
    interest: Interest,
) -> Result<AsyncFd<OwnedFd>> {
    let resource = Resource::Descriptor(fd.as_raw_fd());
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::new(
            op,
            resource,
            ErrorKind::InvalidArgument("no tokio runtime: await it inside one (with I/O enabled)"),
        ));
    }
    let dup = fd
        .try_clone_to_owned()
        .map_err(|e| io_error(op, resource, &e))?;
    crate::sys::reactor::register_owned(dup, interest).map_err(|e| io_error(op, resource, &e))
}

/// An I/O error of the reactor as the crate's error.
pub(crate) fn io_error(op: &'static str, resource: Resource, e: &std::io::Error) -> Error {
    let errno = crate::sys::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    Error::os(op, resource, errno)
}
