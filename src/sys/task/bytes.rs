//! The serde route's side of the erasure (feature `serde`): a slot's
//! payload seen as plain bytes, tasks that run a chunk on those bytes
//! (they decode arguments and encode results themselves, in
//! `crate::pool`), and callbacks handed the bytes of a result.

use core::mem::{MaybeUninit, align_of, size_of};

use super::{CALLBACK_WORDS, Callbacks, Entry, Mask, Message, Outcome};

/// A payload as plain bytes: the view of the pool's serde route, which
/// encodes values into a slot and decodes them from it.
///
/// # Safety
///
/// `payload` points to `bytes` bytes that the caller owns (the slot's
/// hand-over protocol) for `'a`, and nothing else refers to them
/// meanwhile. Bytes another process wrote are initialised as far as this
/// one is concerned; a reader must treat them as untrusted.
pub(crate) unsafe fn payload_bytes<'a>(payload: *mut u8, bytes: usize) -> &'a mut [u8] {
    // SAFETY: the caller's promise.
    unsafe { core::slice::from_raw_parts_mut(payload, bytes) }
}

/// A task that runs a chunk on a slot's bytes (the pool's serde route,
/// which decodes arguments and encodes results itself): zero-sized, made
/// by the worker from its type alone, as a [`Call`](super::Call) task is.
pub(crate) trait ByteTask: Copy + 'static {
    /// Runs the `count` items of the chunk in `payload`; returns the
    /// failed ones (a panic's message goes to `message`).
    fn run(&self, payload: &mut [u8], count: usize, message: &mut Message) -> Mask;
}

/// [`entry_of`](super::entry_of) for a [`ByteTask`].
pub(crate) fn byte_entry_of<T: ByteTask>(task: T) -> u64 {
    let _ = task;
    const {
        assert!(
            size_of::<T>() == 0,
            "a pool task must be a fn item or a closure that captures nothing: \
             the worker makes it from its type alone (pass data as the task's argument)"
        )
    };
    let entry: Entry = run_bytes::<T>;
    entry as usize as u64
}

/// The entry behind every [`ByteTask`].
///
/// # Safety
///
/// The caller owns the payload of `bytes` bytes (see [`run`](super::run)).
unsafe fn run_bytes<T: ByteTask>(
    payload: *mut u8,
    bytes: usize,
    count: usize,
    message: &mut Message,
) -> Mask {
    // SAFETY: T is zero-sized (checked in `byte_entry_of`, the only way to
    // this function's address) and Copy, as in `run`.
    let task: T = unsafe { core::mem::zeroed() };
    // SAFETY: the caller's promise.
    let payload = unsafe { payload_bytes(payload, bytes) };
    task.run(payload, count, message)
}

impl<E> Callbacks<E> {
    /// Keeps `handler`, which is given the slot's bytes and the result's
    /// index (it decodes the result itself), or the error: the serde
    /// route's callbacks.
    pub(crate) fn new_bytes<H>(handler: H) -> Callbacks<E>
    where
        H: FnOnce(Result<ByteOutcome<'_>, &E>) + 'static,
    {
        const {
            assert!(
                size_of::<H>() <= size_of::<[u64; CALLBACK_WORDS]>()
                    && align_of::<H>() <= align_of::<u64>(),
                "pool callbacks may capture at most 48 bytes (aligned to at most 8) \
             together: keep bigger state behind one Rc"
            )
        };
        let mut data = MaybeUninit::<[u64; CALLBACK_WORDS]>::uninit();
        // SAFETY: the handler fits and is aligned (checked above); the
        // storage is fresh.
        unsafe { data.as_mut_ptr().cast::<H>().write(handler) };
        Callbacks {
            data,
            run: run_byte_callbacks::<E, H>,
            drop: drop_byte_callbacks::<H>,
        }
    }
}

/// What a [`Callbacks::new_bytes`] handler is given for a task that
/// ended well: the slot's bytes, the result's index, the task's number.
pub(crate) struct ByteOutcome<'a> {
    pub(crate) payload: &'a [u8],
    pub(crate) index: usize,
    pub(crate) task: u64,
}

/// # Safety
///
/// `data` holds an `H`, not used again; see [`Callbacks::run`].
unsafe fn run_byte_callbacks<E, H: FnOnce(Result<ByteOutcome<'_>, &E>)>(
    data: *mut [u64; CALLBACK_WORDS],
    outcome: Outcome<'_, E>,
) {
    // SAFETY: the caller's promise: an H, moved out once.
    let handler = unsafe { data.cast::<H>().read() };
    match outcome {
        Outcome::Done {
            payload,
            bytes,
            index,
            task,
        } => {
            // SAFETY: the caller's promise: the payload is owned by the
            // caller and alive for the call; it is only read here.
            let payload: &[u8] = unsafe { payload_bytes(payload, bytes) };
            handler(Ok(ByteOutcome {
                payload,
                index,
                task,
            }))
        }
        Outcome::Failed(e) => handler(Err(e)),
    }
}

/// # Safety
///
/// `data` holds an `H`, not used again.
unsafe fn drop_byte_callbacks<H>(data: *mut [u64; CALLBACK_WORDS]) {
    // SAFETY: the caller's promise.
    unsafe { data.cast::<H>().drop_in_place() }
}
