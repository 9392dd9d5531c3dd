//! [`ValueQueue`], [`ValueSimpleQueue`] and [`ValueJoinableQueue`]:
//! Python's `Queue`, `SimpleQueue` and `JoinableQueue` for any
//! `Serialize + DeserializeOwned` value (feature `serde`), one record of
//! a [`RecordQueue`] a value.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec;
use super::records::RecordQueue;
use super::waiters::Watch;
use crate::error::{Error, ErrorKind, Resource, Result};

/// A queue of values of any serde type `T` in shared memory, shared by
/// every process forked after it was made: Python's
/// `multiprocessing.Queue()`, whose items are pickled; here they are
/// encoded with postcard ([`codec`]) straight into a record of a
/// [`RecordQueue`], and decoded straight from it.
///
/// A value costs its encoded length (rounded up to 8) plus 8 bytes of the
/// queue's capacity, in bytes: [`ValueQueue::new`] (Python's unbounded
/// `Queue()`) makes [`RecordQueue::DEFAULT_CAPACITY`] (1 MiB), touched only
/// as used; [`ValueQueue::with_capacity`] chooses. Python's
/// `Queue(maxsize)` counts items; a byte capacity is what bounds shared
/// memory, so that is the knob here. The fixed-size [`Queue`](super::Queue)
/// stays the zero-copy route for `Shareable` items.
///
/// ```no_run
/// use mproc::ipc::ValueQueue;
/// use mproc::process::Process;
///
/// // Python: q = Queue(); q.put(["a", "list"]) in a child; q.get()
/// let q = ValueQueue::<Vec<String>>::new()?;
/// let mut p = Process::new(|| {
///     q.put(&vec!["a".to_string(), "list".to_string()]).unwrap();
/// });
/// p.start()?;
/// assert_eq!(q.get()?, ["a", "list"]);
/// p.join()?;
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// **Allocation.** Nothing in the transport: a value is encoded in place
/// (its size is found by a first pass over it) and decoded in place. Only
/// the value's own type allocates when [`get`](ValueQueue::get) builds it
/// (its `String`s, `Vec`s…).
///
/// **Sizes.** A value whose encoding is longer than the largest record
/// ([`max_record`](ValueQueue::max_record), the capacity less 8) is refused
/// with [`ErrorKind::EncodedSize`] (its encoded size, the largest record,
/// and [`RECORD_KNOB`](super::RECORD_KNOB), which names `with_capacity`);
/// nothing queued is touched.
///
/// **Processes killed** cost what they cost a [`RecordQueue`]: at most the
/// one value they were putting or getting, never a torn one. A record that
/// does not decode as a `T` (only possible if another type was put through
/// the same segment) is taken from the queue and reported as
/// [`ErrorKind::InvalidData`], so it cannot block the queue.
pub struct ValueQueue<T> {
    records: RecordQueue,
    _values: PhantomData<fn(T) -> T>,
}

impl<T: Serialize + DeserializeOwned> ValueQueue<T> {
    /// An empty queue of [`RecordQueue::DEFAULT_CAPACITY`] bytes (1 MiB)
    /// in a fresh anonymous shared segment (Python's `Queue()`).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::with_capacity`].
    pub fn new() -> Result<ValueQueue<T>> {
        Self::with_capacity(RecordQueue::DEFAULT_CAPACITY)
    }

    /// An empty queue of `bytes` bytes of encoded values (each takes its
    /// encoded length rounded up to 8, plus 8).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::with_capacity`].
    pub fn with_capacity(bytes: usize) -> Result<ValueQueue<T>> {
        Ok(ValueQueue {
            records: RecordQueue::with_capacity(bytes)?,
            _values: PhantomData,
        })
    }

    pub(crate) fn resource(&self) -> Resource {
        Resource::Container {
            what: "ValueQueue",
            capacity: self.records.capacity(),
        }
    }

    fn put_until(&self, op: &'static str, value: &T, deadline: Option<Instant>) -> Result<()> {
        let resource = self.resource();
        let size = codec::size_as(op, resource, value)?;
        self.records.put_raw(op, size, deadline, |record| {
            let written = codec::encode_as(op, resource, super::RECORD_KNOB, value, record)?;
            if written == size {
                Ok(())
            } else {
                Err(Error::new(
                    op,
                    resource,
                    ErrorKind::InvalidArgument("the value's size changed as it was encoded"),
                ))
            }
        })
    }

    fn get_until(&self, op: &'static str, deadline: Option<Instant>) -> Result<T> {
        let resource = self.resource();
        // The record is taken whether it decodes or not.
        self.records.get_raw(op, deadline, |record| {
            Ok(codec::decode_as(op, resource, record))
        })?
    }

    /// Puts `value` at the back, encoded in place, waiting while there is
    /// no room for it (Python's `put(obj)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EncodedSize`] for a value whose encoding is longer than
    /// [`max_record`](ValueQueue::max_record);
    /// [`ErrorKind::InvalidArgument`] for a value postcard cannot encode
    /// (see [`codec::encode`]); [`ErrorKind::BrokenPipe`] once the queue is
    /// [closed](ValueQueue::close). Nothing is put then.
    pub fn put(&self, value: &T) -> Result<()> {
        self.put_until("ValueQueue::put", value, None)
    }

    /// Puts `value` if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] (Python's `queue.Full`); as [`ValueQueue::put`].
    pub fn put_nowait(&self, value: &T) -> Result<()> {
        self.put_until("ValueQueue::put_nowait", value, Some(Instant::now()))
    }

    /// Puts `value`, waiting at most `timeout` for room (Python's
    /// `put(obj, timeout=t)`).
    ///
    /// # Errors
    ///
    /// As [`ValueQueue::put_nowait`].
    pub fn put_timeout(&self, value: &T, timeout: Duration) -> Result<()> {
        self.put_until(
            "ValueQueue::put_timeout",
            value,
            Instant::now().checked_add(timeout),
        )
    }

    /// Takes the value at the front, waiting while the queue is empty
    /// (Python's `get()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EndOfStream`] when the queue is closed and empty;
    /// [`ErrorKind::InvalidData`] for a record that is not a `T` (it is
    /// taken).
    pub fn get(&self) -> Result<T> {
        self.get_until("ValueQueue::get", None)
    }

    /// Takes the front value if there is one now (Python's `get_nowait`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Empty`] (Python's `queue.Empty`); as
    /// [`ValueQueue::get`].
    pub fn get_nowait(&self) -> Result<T> {
        self.get_until("ValueQueue::get_nowait", Some(Instant::now()))
    }

    /// Takes the front value, waiting at most `timeout` (Python's
    /// `get(timeout=t)`).
    ///
    /// # Errors
    ///
    /// As [`ValueQueue::get_nowait`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_until(
            "ValueQueue::get_timeout",
            Instant::now().checked_add(timeout),
        )
    }

    /// The number of values now (Python's `qsize()`).
    pub fn qsize(&self) -> usize {
        self.records.qsize()
    }

    /// Whether the queue is empty now (Python's `empty()`).
    pub fn empty(&self) -> bool {
        self.records.empty()
    }

    /// Whether not even the smallest value would fit now (Python's
    /// `full()`).
    pub fn full(&self) -> bool {
        self.records.full()
    }

    /// The queue's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.records.capacity()
    }

    /// The longest encoding a value may have: the capacity less 8.
    pub fn max_record(&self) -> usize {
        self.records.max_record()
    }

    /// Closes the queue for every process, as [`RecordQueue::close`].
    pub fn close(&self) {
        self.records.close();
    }

    /// Whether [`ValueQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.records.is_closed()
    }

    /// Watches the queue for [`wait`](super::wait), as
    /// [`RecordQueue::watch`].
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::watch`].
    pub fn watch(&self) -> Result<Watch<'_>> {
        self.records.watch()
    }

    /// The records under the values: put pre-encoded bytes, or read a
    /// value's encoding without decoding it.
    pub fn records(&self) -> &RecordQueue {
        &self.records
    }
}

impl<T> std::fmt::Debug for ValueQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueQueue")
            .field("records", &self.records)
            .finish()
    }
}

/// A [`ValueQueue`] that counts unfinished tasks (Python's
/// `multiprocessing.JoinableQueue()`): every `put` adds one, every
/// [`task_done`](ValueJoinableQueue::task_done) takes one away, and
/// [`join`](ValueJoinableQueue::join) waits until none is left.
/// Everything else is the [`ValueQueue`]'s (through `Deref`). A separate
/// type, as the fixed [`JoinableQueue`](super::JoinableQueue) is, so that
/// a program reads like its Python.
///
/// A consumer killed between its `get` and its `task_done` leaves that task
/// unfinished for ever: join with a timeout where that can happen.
pub struct ValueJoinableQueue<T>(ValueQueue<T>);

impl<T: Serialize + DeserializeOwned> ValueJoinableQueue<T> {
    /// An empty queue of [`RecordQueue::DEFAULT_CAPACITY`] bytes (Python's
    /// `JoinableQueue()`).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::with_capacity`].
    pub fn new() -> Result<ValueJoinableQueue<T>> {
        ValueQueue::new().map(ValueJoinableQueue)
    }

    /// An empty queue of `bytes` bytes of encoded values.
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::with_capacity`].
    pub fn with_capacity(bytes: usize) -> Result<ValueJoinableQueue<T>> {
        ValueQueue::with_capacity(bytes).map(ValueJoinableQueue)
    }

    /// Marks one value taken with `get` as done (Python's `task_done()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when there is no unfinished task;
    /// nothing changes then.
    pub fn task_done(&self) -> Result<()> {
        self.0.records.task_done()
    }

    /// The values put and not yet marked done.
    pub fn unfinished(&self) -> u32 {
        self.0.records.unfinished()
    }

    /// Waits until every value put has been marked done (Python's
    /// `join()`).
    pub fn join(&self) {
        self.0.records.join();
    }

    /// [`join`](ValueJoinableQueue::join) for at most `timeout`: whether
    /// every task was done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.0.records.join_timeout(timeout)
    }
}

impl<T> std::ops::Deref for ValueJoinableQueue<T> {
    type Target = ValueQueue<T>;
    fn deref(&self) -> &ValueQueue<T> {
        &self.0
    }
}

impl<T> std::fmt::Debug for ValueJoinableQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueJoinableQueue").field(&self.0).finish()
    }
}

/// The plain queue for serde values (Python's
/// `multiprocessing.SimpleQueue()`): `put`, `get`, `empty` and `close`,
/// nothing else. The same records as [`ValueQueue`], so bounded by its
/// capacity in bytes (`put` waits while the value does not fit, as
/// Python's does while its pipe is full).
pub struct ValueSimpleQueue<T>(ValueQueue<T>);

impl<T: Serialize + DeserializeOwned> ValueSimpleQueue<T> {
    /// An empty queue of [`RecordQueue::DEFAULT_CAPACITY`] bytes (Python's
    /// `SimpleQueue()`).
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::with_capacity`].
    pub fn new() -> Result<ValueSimpleQueue<T>> {
        ValueQueue::new().map(ValueSimpleQueue)
    }

    /// The queue of values this one restricts (for the async forms).
    #[cfg(feature = "tokio")]
    pub(crate) fn inner(&self) -> &ValueQueue<T> {
        &self.0
    }

    /// An empty queue of `bytes` bytes of encoded values.
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::with_capacity`].
    pub fn with_capacity(bytes: usize) -> Result<ValueSimpleQueue<T>> {
        ValueQueue::with_capacity(bytes).map(ValueSimpleQueue)
    }

    /// Puts `value` at the back, waiting while it does not fit.
    ///
    /// # Errors
    ///
    /// As [`ValueQueue::put`].
    pub fn put(&self, value: &T) -> Result<()> {
        self.0.put_until("ValueSimpleQueue::put", value, None)
    }

    /// Takes the value at the front, waiting while the queue is empty.
    ///
    /// # Errors
    ///
    /// As [`ValueQueue::get`].
    pub fn get(&self) -> Result<T> {
        self.0.get_until("ValueSimpleQueue::get", None)
    }

    /// Whether the queue is empty now.
    pub fn empty(&self) -> bool {
        self.0.empty()
    }

    /// Closes the queue for every process, as [`RecordQueue::close`].
    pub fn close(&self) {
        self.0.close();
    }

    /// Whether [`ValueSimpleQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Watches the queue for [`wait`](super::wait), as
    /// [`RecordQueue::watch`].
    ///
    /// # Errors
    ///
    /// As [`RecordQueue::watch`].
    pub fn watch(&self) -> Result<Watch<'_>> {
        self.0.watch()
    }
}

impl<T> std::fmt::Debug for ValueSimpleQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueSimpleQueue").field(&self.0).finish()
    }
}
