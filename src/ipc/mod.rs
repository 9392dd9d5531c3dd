//! Message passing between processes: [`Pipe`] (Python's
//! `multiprocessing.Pipe`) and raw POSIX message queues
//! ([`MessageQueue`]), bounded shared-memory queues ([`Queue`],
//! [`SimpleQueue`], [`JoinableQueue`] of fixed-size items;
//! [`RecordQueue`] of byte records of any length, in a segment sized at
//! run time), and [`wait`] over pipe ends,
//! message queues, watched queues ([`Watch`]), process sentinels and
//! signal descriptors; [`Listener`] and [`client`] connect unrelated
//! processes by name, the kernel vouching for who is at the other end.
//!
//! A [`Pipe`] is two [`Connection`] ends made before a fork, one for each
//! side. Messages keep their boundaries (one send is one receive) and
//! arrive in order; they are bytes ([`Connection::send_bytes`],
//! [`Connection::recv_bytes`] into a caller's buffer) or fixed-size
//! [`Item`](crate::shm::Item) values ([`Connection::send`],
//! [`Connection::recv`]: numbers, `bool`, `char`, tuples, `Option`s,
//! arrays, `#[derive(Shareable)]` and `#[derive(Item)]` types), copied
//! and checked on the way out: nothing is pickled or allocated. The
//! shared-memory queues carry the same items. A closed peer is an error
//! ([`ErrorKind::BrokenPipe`] when sending, [`ErrorKind::EndOfStream`]
//! once everything it sent has been received), never a `SIGPIPE`.
//!
//! A message may also carry file descriptors (`SCM_RIGHTS`: sockets,
//! files, pipe ends, memfds): [`Connection::send_fd`] and
//! [`Connection::recv_fd`] (Python's `reduction.send_handle` and
//! `recv_handle`), [`Connection::send_with_fds`] and
//! [`Connection::send_bytes_with_fds`] for a value or bytes with the
//! descriptors they name. Received descriptors are close-on-exec; those a
//! receiver has no room for are closed on arrival.
//!
//! With the `serde` feature, any `Serialize + DeserializeOwned` value goes
//! through a [`Connection`] (`send_value`/`recv_value`, Python's pickling
//! `send(obj)`/`recv()`) and a [`MessageQueue`]
//! (`send_value`/`receive_value`), encoded with postcard by `codec`
//! into a reusable buffer: the transport allocates nothing once warm.
//! `ValueQueue`, `ValueSimpleQueue` and `ValueJoinableQueue` are Python's
//! `Queue()`, `SimpleQueue()` and `JoinableQueue()` for such values: each
//! value is encoded straight into a [`RecordQueue`] record and decoded
//! straight from it.
//!
//! ```no_run
//! use mproc::ipc::Pipe;
//! use mproc::process::Process;
//!
//! // Python: parent_conn, child_conn = Pipe(); child_conn.send((42, None))
//! let (parent_end, child_end) = Pipe::duplex()?;
//! let mut p = Process::new(move || {
//!     child_end.send(&(42u32, None::<u32>)).unwrap();
//! });
//! p.start()?;
//! assert_eq!(parent_end.recv::<(u32, Option<u32>)>()?, (42, None));
//! p.join()?;
//! # Ok::<(), mproc::Error>(())
//! ```
//!
//! [`ErrorKind::BrokenPipe`]: crate::ErrorKind::BrokenPipe
//! [`ErrorKind::EndOfStream`]: crate::ErrorKind::EndOfStream

#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod codec;
mod ends;
mod handle;
mod listener;
mod mq;
mod pipe;
mod queue;
mod records;
#[cfg(feature = "serde")]
mod value_queue;
#[cfg(feature = "serde")]
mod values;
mod wait;
mod waiters;

pub use handle::MAX_FDS;
pub use listener::{ALLOWED_UIDS, Credentials, Listener, client};
pub use mq::{Attributes, MessageQueue, PRIORITY_LIMIT};
pub use pipe::{Connection, Pipe};
pub use queue::{JoinableQueue, Queue, SimpleQueue};
pub use records::{RECORD_KNOB, RecordQueue};
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use value_queue::{ValueJoinableQueue, ValueQueue, ValueSimpleQueue};
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use values::QUEUE_KNOB;
pub use wait::{Ready, WAIT_MAX, wait};
pub use waiters::Watch;
