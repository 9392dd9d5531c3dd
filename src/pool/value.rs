//! Values of any serde type through the pool (feature `serde`): arguments
//! encoded with postcard straight into a task slot, results encoded by
//! the worker into the same slot, decoded by the parent. The API is on
//! [`Pool`] (the `_value` forms here, the `_values` map family in
//! `map_value.rs`); the module docs say how it is shaped.
//!
//! # A slot's bytes
//!
//! Every item is a record: an 8-byte header (two little-endian `u32`s),
//! then its encoding. The parent packs the arguments' records from the
//! start of the payload (`[len, 0]`). The worker finds their end, moves
//! them to the end of the payload, and writes the results' records from
//! the start: result `i` may use everything up to the first argument not
//! yet decoded, so it never overwrites one (an argument is decoded before
//! its result is written). A result's record is `[len, 0]`, or for a
//! failed item `[FAILED | why, detail]` (8 bytes, which always fit: they
//! take no more than the argument record they replace). The worker also
//! sets the item's bit in the slot's failure mask, so every failure takes
//! the pool's one path for failed items (`Pool::failed_item`).
//!
//! A chunk of a `map` fills its slot with arguments up to half its bytes
//! (the first item may take it all), leaving the results about twice the
//! room their arguments took.

use core::cell::Cell;
use core::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AsyncResult, Pool, TaskError, map, route};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::ipc::codec;
use crate::sys::task::{
    self as erased, ByteOutcome, ByteTask, CHUNK_MAX, Callbacks, Mask, Message, TakeFn,
};

/// The bytes of a record's header.
const HEADER: usize = 8;
/// A result header's first word with this bit set: the item failed.
const FAILED: u32 = 1 << 31;
/// Why, in the low bits: it panicked (the slot's message says how).
const PANICKED: u32 = FAILED | 0x7fff_ffff;
/// Its result cannot be encoded (a sequence of unknown length…).
const UNENCODABLE: u32 = FAILED | 0x7fff_fffe;
/// Its argument did not decode in the worker.
const UNDECODABLE: u32 = FAILED | 0x7fff_fffd;
/// The longest encoding a record holds; a bigger one is `FAILED | size`,
/// its result too big for the room (the header's second word).
const MAX_LEN: usize = 0x7fff_fff0;

/// What raises a slot's room for an argument or a result.
pub const TASK_BYTES_KNOB: &str = "size the pool's slots at run time with \
     Pool::builder().task_bytes(n), or raise MPROC_POOL_TASK_BYTES at build time \
     (PoolBuilder::build_sized::<SLOTS, BYTES>() for one pool)";
/// What raises the room for a result of a `map` chunk of several items.
pub const CHUNK_KNOB: &str = "a chunk's results share its slot: pass a smaller chunksize, \
     size the pool's slots at run time with Pool::builder().task_bytes(n), or raise \
     MPROC_POOL_TASK_BYTES at build time (PoolBuilder::build_sized::<SLOTS, BYTES>() \
     for one pool)";

/// A task whose argument and result travel encoded (the serde route):
/// the wrapper in the types of [`Imap`](super::Imap) and
/// [`MapResult`](super::MapResult) made by the `_values` map family.
#[derive(Clone, Copy, Debug)]
pub struct Encoded<C>(pub(crate) C);

fn header(bytes: &[u8], at: usize) -> Option<(u32, u32)> {
    let h = bytes.get(at..at.checked_add(HEADER)?)?;
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    Some((word(0), word(4)))
}

fn put_header(bytes: &mut [u8], at: usize, first: u32, second: u32) {
    if let Some(h) = bytes.get_mut(at..at + HEADER) {
        h[..4].copy_from_slice(&first.to_le_bytes());
        h[4..].copy_from_slice(&second.to_le_bytes());
    }
}

/// The bytes a record with this first header word takes.
fn record_len(first: u32) -> usize {
    if first & FAILED != 0 {
        HEADER
    } else {
        HEADER + first as usize
    }
}

/// The worker's side: a chunk of `A`s becoming `R`s, encoded.
pub(crate) struct ValueTask<C, A, R>(C, PhantomData<fn(A) -> R>);

impl<C: Copy, A, R> Clone for ValueTask<C, A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: Copy, A, R> Copy for ValueTask<C, A, R> {}

impl<C, A, R> ByteTask for ValueTask<C, A, R>
where
    C: erased::Call<A, R>,
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    fn run(&self, payload: &mut [u8], count: usize, message: &mut Message) -> Mask {
        let count = count.min(CHUNK_MAX);
        let size = payload.len();
        // The arguments' end, checked record by record.
        let mut end = 0;
        for _ in 0..count {
            match header(payload, end) {
                Some((len, _)) if (len as usize) <= MAX_LEN && end + record_len(len) <= size => {
                    end += record_len(len);
                }
                _ => {
                    message.set("the task's arguments are not whole: memory corrupted");
                    return Mask::first(count.max(1));
                }
            }
        }
        payload.copy_within(0..end, size - end);
        let mut failed = Mask::default();
        let mut panicked = false;
        let (mut arg, mut out) = (size - end, 0);
        for i in 0..count {
            let len = header(payload, arg).map_or(0, |(len, _)| len as usize);
            let next = arg + HEADER + len;
            // Decoded into a value of its own: its bytes are free from here.
            let decoded = codec::decode::<A>(&payload[arg + HEADER..next]);
            arg = next;
            let room = &mut payload[out + HEADER..next.min(out + HEADER + MAX_LEN)];
            let outcome = match decoded {
                Err(_) => Err((UNDECODABLE, 0)),
                Ok(a) => {
                    let task = self.0;
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        codec::encode(&task.call(a), room)
                    }));
                    match ran {
                        Ok(Ok(len)) => Ok(len),
                        Ok(Err(e)) => Err(match e.kind() {
                            ErrorKind::EncodedSize { size, capacity, .. } => (
                                FAILED | size.min(MAX_LEN + 1) as u32,
                                capacity.min(u32::MAX as usize) as u32,
                            ),
                            _ => (UNENCODABLE, 0),
                        }),
                        Err(panic) => {
                            if !panicked {
                                panicked = true;
                                message.set_from_panic(&*panic);
                            }
                            // Dropping a panic payload can panic again.
                            core::mem::forget(panic);
                            Err((PANICKED, 0))
                        }
                    }
                }
            };
            match outcome {
                Ok(len) => {
                    put_header(payload, out, len as u32, 0);
                    out += HEADER + len;
                }
                Err((why, detail)) => {
                    failed.set(i);
                    put_header(payload, out, why, detail);
                    out += HEADER;
                }
            }
        }
        failed
    }
}

/// Where result `index`'s record starts, and its header.
fn find(payload: &[u8], index: usize) -> core::result::Result<(usize, u32, u32), ErrorKind> {
    find_from(payload, index, (0, 0))
}

/// [`find`], walking from `from`: the index and offset of a record (the
/// start, or where a previous read left off).
fn find_from(
    payload: &[u8],
    index: usize,
    from: (usize, usize),
) -> core::result::Result<(usize, u32, u32), ErrorKind> {
    let torn = ErrorKind::InvalidData("the slot's results are not whole");
    let (start, mut at) = if from.0 <= index { from } else { (0, 0) };
    for _ in start..index {
        let (first, _) = header(payload, at).ok_or(torn)?;
        at += record_len(first);
    }
    let (first, second) = header(payload, at).ok_or(torn)?;
    if at + record_len(first) > payload.len() {
        return Err(torn);
    }
    Ok((at, first, second))
}

/// Why item `index` of an ended encoded chunk failed; `chunk` when it
/// shared its slot with other items.
pub(super) fn failure(payload: &[u8], index: usize, chunk: bool) -> ErrorKind {
    let first = match find(payload, index) {
        Ok((_, first, second)) if first & FAILED != 0 => (first, second),
        Ok(_) => return ErrorKind::Panicked,
        Err(kind) => return kind,
    };
    match first {
        (PANICKED, _) => ErrorKind::Panicked,
        (UNENCODABLE, _) => {
            ErrorKind::InvalidArgument("the task's result cannot be encoded with postcard")
        }
        (UNDECODABLE, _) => ErrorKind::InvalidData("the task's argument did not decode"),
        (size, capacity) => ErrorKind::EncodedSize {
            size: (size & !FAILED) as usize,
            capacity: capacity as usize,
            knob: if chunk { CHUNK_KNOB } else { TASK_BYTES_KNOB },
        },
    }
}

/// Result `index` of an ended encoded chunk, decoded; `cursor` is where
/// a previous read left off (results are read in order: each read starts
/// there and leaves it at the next record).
fn read<R: DeserializeOwned>(
    payload: &[u8],
    index: usize,
    cursor: &Cell<(usize, usize)>,
) -> core::result::Result<R, ErrorKind> {
    let (at, first, _) = find_from(payload, index, cursor.get())?;
    cursor.set((index + 1, at + record_len(first)));
    if first & FAILED != 0 {
        return Err(failure(payload, index, false));
    }
    codec::decode(&payload[at + HEADER..at + record_len(first)]).map_err(|e| e.kind())
}

/// The serde route's `take`: result `index`, decoded.
///
/// # Safety
///
/// As `sys::task::take_result`: the caller owns the ended slot's payload
/// of `bytes` bytes.
#[allow(unsafe_code)]
unsafe fn take_value<R: DeserializeOwned>(
    payload: *mut u8,
    bytes: usize,
    index: usize,
    cursor: &Cell<(usize, usize)>,
) -> core::result::Result<R, ErrorKind> {
    // SAFETY: the caller's promise; the bytes are only read.
    let payload: &[u8] = unsafe { erased::payload_bytes(payload, bytes) };
    read(payload, index, cursor)
}

impl<C, A, R> route::sealed::RouteImpl<A, R> for Encoded<C>
where
    C: erased::Call<A, R>,
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    fn chunk_capacity(_bytes: usize) -> usize {
        CHUNK_MAX
    }

    fn submit_chunk<I: Iterator<Item = A>, const SLOTS: usize, const BYTES: usize>(
        self,
        pool: &Pool<SLOTS, BYTES>,
        op: &'static str,
        pending: &mut Option<A>,
        items: &mut I,
        max: usize,
    ) -> Result<Option<(usize, usize)>> {
        pool.submit_values::<C, A, R>(op, self.0, pending, items, max, true, None)
    }

    fn take_fn() -> TakeFn<R> {
        take_value::<R>
    }
}

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// Why item `index` of slot `s` (an encoded chunk that ended, the
    /// item failed) failed.
    pub(super) fn value_failure(&self, s: usize, index: usize) -> ErrorKind {
        // SAFETY: the slot ended (its caller saw it DONE), so its payload
        // is ours; it is only read.
        #[allow(unsafe_code)]
        let payload: &[u8] =
            unsafe { erased::payload_bytes(self.ring.payload(s), self.task_bytes()) };
        failure(payload, index, self.local[s].count.get() > 1)
    }

    /// [`Pool::submit`] for encoded values: takes a free slot and encodes
    /// into it `pending`, then items of `items`, up to `max` and while they
    /// fit (past the first, up to half the slot); an item that does not
    /// fit is left in `pending` for the next chunk. Returns the slot and
    /// the item count, or `None` when there was no item.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn submit_values<C, A, R>(
        &self,
        op: &'static str,
        task: C,
        pending: &mut Option<A>,
        items: &mut impl Iterator<Item = A>,
        max: usize,
        held: bool,
        callbacks: Option<Callbacks<TaskError>>,
    ) -> Result<Option<(usize, usize)>>
    where
        C: erased::Call<A, R>,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        if self.task_bytes() < HEADER {
            return Err(self.bytes_exceeded(op));
        }
        let entry = erased::byte_entry_of(ValueTask::<C, A, R>(task, PhantomData));
        let s = self.take_slot(op)?;
        // SAFETY: the slot came off the free list: its payload is ours
        // until `queue` hands it to a worker (the slice ends before).
        #[allow(unsafe_code)]
        let payload = unsafe { erased::payload_bytes(self.ring.payload(s), self.task_bytes()) };
        let (mut at, mut count) = (0, 0);
        while count < max.clamp(1, CHUNK_MAX) {
            let Some(item) = pending.take().or_else(|| items.next()) else {
                break;
            };
            let limit = if count == 0 {
                self.task_bytes()
            } else {
                (self.task_bytes() / 2).max(at)
            };
            let room = (at + HEADER).min(limit)..limit.min(at + HEADER + MAX_LEN);
            match codec::encode_as(
                op,
                self.resource(),
                TASK_BYTES_KNOB,
                &item,
                &mut payload[room],
            ) {
                Ok(len) => {
                    put_header(payload, at, len as u32, 0);
                    at += HEADER + len;
                    count += 1;
                }
                // For the next chunk, which will say what is wrong if it
                // is the item itself.
                Err(_) if count > 0 => {
                    *pending = Some(item);
                    break;
                }
                Err(e) => {
                    self.free.borrow_mut().push(s as u16);
                    return Err(e);
                }
            }
        }
        if count == 0 {
            self.free.borrow_mut().push(s as u16);
            return Ok(None);
        }
        self.queue(s, entry, count, held, callbacks, None);
        Ok(Some((s, count)))
    }

    fn submit_value<F, A, R>(
        &self,
        op: &'static str,
        f: F,
        arg: A,
        callbacks: Option<Callbacks<TaskError>>,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let mut arg = Some(arg);
        match self.submit_values::<map::Direct<F>, A, R>(
            op,
            map::Direct(f),
            &mut arg,
            &mut core::iter::empty(),
            1,
            true,
            callbacks,
        )? {
            Some((s, _)) => Ok(AsyncResult::new(self, s, take_value::<R>)),
            // Cannot happen: there was one argument.
            None => Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument("no argument"),
            )),
        }
    }

    /// [`Pool::apply`] for values of any serde type (Python's
    /// `apply(f, (arg,))` with a `str`, a `list`, an object…): runs `f(arg)`
    /// in a worker and waits for its result. `arg` and the result travel
    /// encoded with postcard in the task's slot (see the
    /// [module docs](crate::pool#values-of-any-type-feature-serde)).
    ///
    /// ```no_run
    /// use mproc::pool::Pool;
    ///
    /// fn shout(s: String) -> String {
    ///     s.to_uppercase()
    /// }
    ///
    /// let pool = Pool::new(2)?;
    /// assert_eq!(pool.apply_value(shout, "hello".to_string())?, "HELLO");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async_value`] and [`AsyncResult::get`].
    pub fn apply_value<F, A, R>(&self, f: F, arg: A) -> core::result::Result<R, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.apply_async_value(f, arg)?.get()
    }

    /// [`Pool::apply_async`] for values of any serde type: queues `f(arg)`
    /// and returns at once. The transport allocates nothing: `arg` is
    /// encoded into the slot, the worker decodes it (building the value
    /// allocates what its type does), encodes the result into the slot,
    /// and [`AsyncResult::get`] decodes it.
    ///
    /// A result whose encoding does not fit the slot
    /// ([`Pool::task_bytes`] less an 8-byte header) fails its task with [`ErrorKind::EncodedSize`]
    /// (its size, the room, [`TASK_BYTES_KNOB`]); one that does not
    /// decode (a `Deserialize` that refuses what its `Serialize` wrote)
    /// with [`ErrorKind::InvalidData`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EncodedSize`] when `arg`'s encoding does not fit a
    /// slot (its size, [`Pool::task_bytes`] less the 8-byte header, and
    /// [`TASK_BYTES_KNOB`]); nothing is queued then, and the pool goes on.
    /// [`ErrorKind::InvalidArgument`] for a value postcard cannot encode.
    /// Otherwise as [`Pool::apply_async`].
    pub fn apply_async_value<F, A, R>(
        &self,
        f: F,
        arg: A,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.submit_value("Pool::apply_async_value", f, arg, None)
    }

    /// [`Pool::apply_async_with`] for values of any serde type: exactly
    /// one of `callback` (with the decoded result, which the
    /// [`AsyncResult`] can still [`get`](AsyncResult::get): it is decoded
    /// again) and `error_callback` runs, once, in this process, when the
    /// pool next acts after the task ended. A result that does not fit or
    /// does not decode goes to `error_callback`.
    ///
    /// The two closures may capture at most 48 bytes together (checked at
    /// compile time).
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async_value`].
    pub fn apply_async_value_with<F, A, R, CB, EB>(
        &self,
        f: F,
        arg: A,
        callback: CB,
        error_callback: EB,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        CB: FnOnce(&R) + 'static,
        EB: FnOnce(&TaskError) + 'static,
    {
        const OP: &str = "Pool::apply_async_value";
        let handler =
            move |outcome: core::result::Result<ByteOutcome<'_>, &TaskError>| match outcome {
                Ok(done) => match read::<R>(done.payload, done.index, &Cell::new((0, 0))) {
                    Ok(value) => callback(&value),
                    Err(kind) => {
                        error_callback(&Error::new(OP, Resource::Task(done.task), kind).into())
                    }
                },
                Err(e) => error_callback(e),
            };
        self.submit_value(OP, f, arg, Some(Callbacks::new_bytes(handler)))
    }

    /// [`Pool::apply_async_callback`] for values of any serde type:
    /// Python's `apply_async(f, (arg,), callback=cb)`; a task that fails
    /// runs no callback, as in Python.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async_value`].
    pub fn apply_async_value_callback<F, A, R, CB>(
        &self,
        f: F,
        arg: A,
        callback: CB,
    ) -> Result<AsyncResult<'_, R, SLOTS, BYTES>>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        CB: FnOnce(&R) + 'static,
    {
        self.apply_async_value_with(f, arg, callback, |_: &TaskError| {})
    }
}
