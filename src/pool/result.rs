//! [`AsyncResult`] and [`TaskError`]: a pending task's handle, and how a
//! task failed.

use core::fmt;
use std::time::{Duration, Instant};

use super::{Ended, Pool};
use crate::error::{Error, ErrorKind};
use crate::sys::task::{MESSAGE_LEN, TakeFn};

/// A task's panic message, cut to 120 bytes (at a character boundary),
/// stored inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PanicMessage {
    bytes: [u8; MESSAGE_LEN],
    len: u8,
}

impl Default for PanicMessage {
    fn default() -> PanicMessage {
        PanicMessage {
            bytes: [0; MESSAGE_LEN],
            len: 0,
        }
    }
}

impl PanicMessage {
    /// The most bytes kept.
    pub const CAPACITY: usize = MESSAGE_LEN;

    pub(crate) fn from_bytes(bytes: &[u8]) -> PanicMessage {
        let mut m = PanicMessage::default();
        let len = bytes.len().min(MESSAGE_LEN);
        m.bytes[..len].copy_from_slice(&bytes[..len]);
        m.len = len as u8;
        m
    }

    /// The message (the longest valid UTF-8 prefix of what the worker
    /// stored; empty for failures that are not panics).
    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..usize::from(self.len)];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl fmt::Debug for PanicMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for PanicMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a pool task gave no result: the [`Error`] (its
/// [`kind`](TaskError::kind) is [`ErrorKind::Panicked`],
/// [`ErrorKind::WorkerDied`], [`ErrorKind::Terminated`],
/// [`ErrorKind::Timeout`], or a submission error such as
/// [`ErrorKind::PoolNotRunning`]) and, for a panic, its message. Python
/// re-raises the task's exception from `get()`; this is that exception.
///
/// Converts into [`Error`] (dropping the message) for `?` in functions
/// returning [`mproc::Result`](crate::Result). Allocation-free.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TaskError {
    error: Error,
    message: PanicMessage,
}

impl TaskError {
    pub(crate) fn new(error: Error, message: PanicMessage) -> TaskError {
        TaskError { error, message }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The error without the message.
    pub fn error(&self) -> Error {
        self.error
    }

    /// The panic message ([`ErrorKind::Panicked`]; empty otherwise).
    pub fn message(&self) -> &str {
        self.message.as_str()
    }
}

impl From<Error> for TaskError {
    fn from(error: Error) -> TaskError {
        TaskError::new(error, PanicMessage::default())
    }
}

impl From<TaskError> for Error {
    fn from(e: TaskError) -> Error {
        e.error
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)?;
        if self.message.len > 0 {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TaskError");
        d.field("error", &self.error);
        if self.message.len > 0 {
            d.field("message", &self.message);
        }
        d.finish()
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The handle of a task queued by [`Pool::apply_async`] (Python's
/// `AsyncResult`). It holds the task's slot until the result is taken or
/// the handle dropped; dropping it lets the task run on and frees the
/// slot when it ends (its result is dropped then).
///
/// Waiting (`get`, `wait`) runs the pool meanwhile: callbacks of other
/// tasks, replacing dead workers (see the
/// [module docs](super#callbacks-and-when-the-pool-does-its-work)).
///
/// Not `Send`: it borrows the [`Pool`], which belongs to one thread. An
/// event loop waits for it on [`AsyncResult::watch`]; with the `tokio`
/// feature it is awaited (`mproc::aio`).
pub struct AsyncResult<'p, R, const SLOTS: usize, const BYTES: usize> {
    pool: &'p Pool<SLOTS, BYTES>,
    slot: usize,
    take: TakeFn<R>,
    done: bool,
}

impl<'p, R, const SLOTS: usize, const BYTES: usize> AsyncResult<'p, R, SLOTS, BYTES> {
    pub(crate) fn new(pool: &'p Pool<SLOTS, BYTES>, slot: usize, take: TakeFn<R>) -> Self {
        AsyncResult {
            pool,
            slot,
            take,
            done: false,
        }
    }

    /// The pool it belongs to.
    #[cfg(feature = "tokio")]
    pub(crate) fn pool(&self) -> &'p Pool<SLOTS, BYTES> {
        self.pool
    }

    /// The slot the task occupies.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// The task's submission number (0 for the pool's first task).
    pub fn task(&self) -> u64 {
        self.pool.local[self.slot].seq.get()
    }

    pub(crate) fn ended(&self) -> bool {
        self.done || !matches!(self.pool.ended(self.slot), Ended::Running)
    }

    /// Whether the task has ended (Python's `ready()`). Does not wait; if
    /// it has not ended, looks once for dead workers (their tasks end
    /// with `WorkerDied`).
    pub fn ready(&self) -> bool {
        if self.ended() {
            return true;
        }
        let _ = self.pool.poll();
        self.ended()
    }

    /// A descriptor for an event loop or an async runtime, readable once
    /// this task (or any other task of the pool) has ended: the pool-wide
    /// [`Pool::watch`], which cannot tell tasks apart. When it fires, call
    /// [`Pool::poll`] and look at [`ready`](AsyncResult::ready); the
    /// descriptor stays readable while any result of the pool waits to
    /// be collected.
    ///
    /// # Errors
    ///
    /// As [`Pool::watch`].
    pub fn watch(&self) -> crate::Result<super::PoolWatch<'p>> {
        self.pool.watch()
    }

    /// Whether the task ended with a result (Python's `successful()`);
    /// `None` while it has not ended (Python raises `ValueError`). For
    /// the serde forms (`apply_async_value`…) the result is decoded only
    /// by [`get`](AsyncResult::get): a result whose `Deserialize` does not
    /// accept what its `Serialize` wrote reads `Some(true)` here and fails
    /// in `get` with `InvalidData`.
    pub fn successful(&self) -> Option<bool> {
        if !self.ready() {
            return None;
        }
        Some(matches!(
            self.pool.ended(self.slot),
            Ended::Done { failed } if !failed.has(0)
        ))
    }

    /// Waits until the task has ended (Python's `wait()`).
    ///
    /// # Errors
    ///
    /// Only the kernel's refusal of `poll`.
    pub fn wait(&self) -> crate::Result<()> {
        self.pool.wait_until(None, |_| self.ended()).map(|_| ())
    }

    /// Waits at most `timeout` for the task to end (Python's
    /// `wait(timeout)`); whether it has.
    ///
    /// # Errors
    ///
    /// Only the kernel's refusal of `poll`.
    pub fn wait_timeout(&self, timeout: Duration) -> crate::Result<bool> {
        self.pool
            .wait_until(Instant::now().checked_add(timeout), |_| self.ended())
    }

    /// Waits for the task and returns its result (Python's `get()`).
    ///
    /// # Errors
    ///
    /// The task's [`TaskError`]: [`ErrorKind::Panicked`] with its message,
    /// [`ErrorKind::WorkerDied`], [`ErrorKind::Terminated`].
    pub fn get(mut self) -> Result<R, TaskError> {
        self.wait().map_err(TaskError::from)?;
        self.collect("AsyncResult::get")
    }

    /// Waits at most `timeout` for the result (Python's `get(timeout)`).
    /// On [`ErrorKind::Timeout`] the task runs on, and a later call can
    /// still return its result; after a result or a task error, a later
    /// call says the result was taken.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`]; as [`AsyncResult::get`].
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<R, TaskError> {
        const OP: &str = "AsyncResult::get_timeout";
        if !self.wait_timeout(timeout).map_err(TaskError::from)? {
            return Err(TaskError::from(crate::Error::new(
                OP,
                crate::Resource::Task(self.task()),
                ErrorKind::Timeout,
            )));
        }
        self.collect(OP)
    }

    fn collect(&mut self, op: &'static str) -> Result<R, TaskError> {
        if self.done {
            return Err(TaskError::from(crate::Error::new(
                op,
                crate::Resource::Task(self.task()),
                ErrorKind::InvalidArgument("the result was taken already"),
            )));
        }
        // Callbacks run before the result leaves the slot.
        self.pool.service();
        let result = self.pool.take(op, self.slot, 0, self.take);
        self.done = true;
        self.pool.free_slot(self.slot);
        result
    }
}

impl<R, const SLOTS: usize, const BYTES: usize> Drop for AsyncResult<'_, R, SLOTS, BYTES> {
    fn drop(&mut self) {
        if !self.done {
            self.pool.release(self.slot);
        }
    }
}

impl<R, const SLOTS: usize, const BYTES: usize> fmt::Debug for AsyncResult<'_, R, SLOTS, BYTES> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("task", &self.task())
            .field("ended", &self.ended())
            .finish()
    }
}
