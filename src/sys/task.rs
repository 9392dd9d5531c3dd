//! The pool's type erasure: task values moved through the bytes of a slot,
//! a task called through the address of its monomorphised entry, and a
//! parent-side callback kept inline without a heap box.
//!
//! Everything here is about pointers into a slot's payload, so it lives in
//! `sys` with the crate's other `unsafe`. The pool (`crate::pool`) keeps the
//! protocol that makes each access exclusive: a slot's payload belongs to
//! exactly one process at a time (the submitting parent, then the worker
//! that claimed it, then the parent again), handed over by Release/Acquire
//! stores of the slot's state word.

use core::mem::{MaybeUninit, align_of, size_of};

/// A value that may be moved, by its bytes, into a process forked from this
/// one, and back: the arguments and results of
/// [`Pool`](crate::pool::Pool) tasks. Python pickles a task's arguments;
/// the pool copies their bytes into shared memory instead, so they must
/// mean the same thing in the worker.
///
/// Implemented for the integers (`usize` and `isize` too: parent and worker
/// are the same binary), floats, `bool`, `char`, `()`, arrays, tuples of up
/// to six elements, `Option`, `Result`, `Duration`, [`Pid`](crate::Pid),
/// [`FixedStr`](crate::shm::FixedStr), `std::net::SocketAddr`, `heapless::String` and
/// `heapless::Vec` of such values. A struct or enum of your own derives it:
///
/// ```no_run
/// use mproc::pool::{Pool, TaskData};
///
/// #[derive(TaskData)]
/// struct Job {
///     id: usize,
///     weight: f64,
///     urgent: bool,
/// }
///
/// #[derive(TaskData, Debug, PartialEq)]
/// enum Outcome {
///     Skipped,
///     Done(f64),
/// }
///
/// fn cost(job: Job) -> Outcome {
///     if job.urgent { Outcome::Done(job.weight * 2.0) } else { Outcome::Skipped }
/// }
///
/// let pool = Pool::new(2)?;
/// let job = Job { id: 7, weight: 1.5, urgent: true };
/// assert_eq!(pool.apply(cost, job)?, Outcome::Done(3.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The derive (feature `derive`, on by default) writes the `unsafe impl`
/// after checking at compile time that every field is itself `TaskData`
/// (type parameters get a `TaskData` bound), and refuses, naming the field
/// and why, a reference or pointer, an owning pointer (`String`, `Vec`,
/// `Box`…), a descriptor (`File`, `OwnedFd`…), and a `Drop` impl of the
/// type's own. Padding, `usize`, `bool`, `char` and enums are fine here:
/// the bytes are copied between processes of one binary, from a valid
/// value.
///
/// ```compile_fail
/// # use mproc::pool::TaskData;
/// #[derive(TaskData)]
/// struct Request { path: String } // use FixedStr<N> or heapless::String<N>
/// ```
///
/// ```compile_fail
/// # use mproc::pool::TaskData;
/// #[derive(TaskData)]
/// struct View { data: &'static [u8] }
/// ```
///
/// ```compile_fail,E0277
/// # use mproc::pool::TaskData;
/// struct Opaque(u32); // not TaskData
/// #[derive(TaskData)]
/// struct Holder { inner: Opaque }
/// ```
///
/// ```compile_fail,E0119
/// # use mproc::pool::TaskData;
/// #[derive(TaskData)]
/// struct Lease { id: u32 }
/// impl Drop for Lease {
///     fn drop(&mut self) {} // a leased worker killed mid-task never drops it
/// }
/// ```
///
/// Unlike [`Shareable`](crate::shm::Shareable), this does not ask for `#[repr(C)]` or fixed-width
/// fields: the bytes only ever travel between processes forked from one
/// binary, which agree on every layout. It never applies to named segments.
///
/// # Safety
///
/// The type must hold no pointer or reference (the memory it points to may
/// not exist in the other process), no file descriptor or other handle
/// whose meaning is per process, and nothing whose `Drop` frees or releases
/// anything outside the value's own bytes: a value moved into a worker that
/// is then killed is never dropped (leaked), and one moved out is dropped
/// by whoever receives it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `TaskData`: it can't be a `Pool` task's argument or result",
    label = "not `TaskData`",
    note = "a struct or enum of `TaskData` fields gets it with `#[derive(mproc::TaskData)]` (no `unsafe impl`); a closure may capture nothing: pass what it needs as the argument",
    note = "text goes in `mproc::shm::FixedStr<N>` or `heapless::String<N>`, a list in an array or `heapless::Vec<T, N>`, not `String`, `Vec` or a reference",
    note = "a value of any size (`String`, `Vec`, a map…) takes the serde route instead: a `Serialize + Deserialize` type through the pool's `_value` forms (`apply_value`, `apply_async_value`, `map_values`…) with the crate's `serde` feature"
)]
pub unsafe trait TaskData: Sized + 'static {}

macro_rules! task_data {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: a primitive: no pointers, no handles, no drop glue.
            unsafe impl TaskData for $t {}
        )*
    };
}

task_data!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    (),
    core::time::Duration
);

// SAFETY: a pid is a number; the same process in parent and workers.
unsafe impl TaskData for crate::process::Pid {}
// SAFETY: elements that are TaskData, repeated.
unsafe impl<T: TaskData, const N: usize> TaskData for [T; N] {}
// SAFETY: an optional TaskData value.
unsafe impl<T: TaskData> TaskData for Option<T> {}
// SAFETY: one of two TaskData values.
unsafe impl<T: TaskData, E: TaskData> TaskData for Result<T, E> {}
// SAFETY: inline bytes and a length (Shareable).
unsafe impl<const N: usize> TaskData for crate::shm::FixedStr<N> {}
// SAFETY: heapless's string is an inline byte buffer and a length.
unsafe impl<const N: usize> TaskData for heapless::String<N> {}
// SAFETY: socket addresses are plain numbers (an IPv6 address, a port, a
// flow label, a scope id): no pointers, no drop glue.
unsafe impl TaskData for std::net::SocketAddr {}
// SAFETY: heapless's vector is an inline array of TaskData and a length;
// its Drop drops only those elements.
unsafe impl<T: TaskData, const N: usize> TaskData for heapless::Vec<T, N> {}

macro_rules! task_data_tuples {
    ($(($($t:ident),+)),* $(,)?) => {
        $(
            // SAFETY: a tuple of TaskData values.
            unsafe impl<$($t: TaskData),+> TaskData for ($($t,)+) {}
        )*
    };
}

task_data_tuples!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
);

#[cfg(feature = "serde")]
mod bytes;
#[cfg(feature = "serde")]
pub(crate) use bytes::{ByteOutcome, ByteTask, byte_entry_of, payload_bytes};

/// What a slot's payload is aligned to: it follows the slot's 32-byte
/// header on the header's cache line (see [`Layout`] for types aligned
/// beyond it). A payload of `bytes` bytes spans `bytes + PAYLOAD_ALIGN`.
pub(crate) const PAYLOAD_ALIGN: usize = 32;

/// The most bytes of a panic message a slot keeps.
pub(crate) const MESSAGE_LEN: usize = 120;

/// The most items of a map chunk: one bit each in a [`Mask`].
pub(crate) const CHUNK_MAX: usize = 256;

/// One bit per item of a chunk (which failed, which are still to take).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Mask(pub(crate) [u64; CHUNK_MAX / 64]);

impl Mask {
    /// Items `0..n` set.
    pub(crate) fn first(n: usize) -> Mask {
        let mut m = Mask::default();
        for (w, word) in m.0.iter_mut().enumerate() {
            let lo = w * 64;
            *word = match n.saturating_sub(lo) {
                0 => 0,
                k if k >= 64 => u64::MAX,
                k => (1u64 << k) - 1,
            };
        }
        m
    }

    pub(crate) fn has(&self, i: usize) -> bool {
        i < CHUNK_MAX && self.0[i / 64] & (1 << (i % 64)) != 0
    }

    pub(crate) fn set(&mut self, i: usize) {
        if i < CHUNK_MAX {
            self.0[i / 64] |= 1 << (i % 64);
        }
    }

    pub(crate) fn clear(&mut self, i: usize) {
        if i < CHUNK_MAX {
            self.0[i / 64] &= !(1 << (i % 64));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

/// Where items sit in a payload of `bytes` bytes holding a chunk of
/// arguments `A` that become results `R` in place. The places depend on
/// the types and `bytes` only (not on how many items a chunk has), so the
/// parent can write each argument as it takes it from the caller's
/// iterator.
///
/// Results are packed from the start. Arguments are packed from the start
/// too when a result is no larger than an argument (result `i` then ends
/// at or before argument `i + 1` begins), else they end where room for
/// [`chunk_capacity`] arguments ends (argument `i` is read before result
/// `i` is written, and result `i` still ends before argument `i + 1`).
/// Either way each argument is read before anything overwrites it.
///
/// A payload is aligned to [`PAYLOAD_ALIGN`] only (it shares a cache line
/// with its slot's header); a chunk of a type aligned beyond that starts
/// [`PAYLOAD_ALIGN`] bytes in, where the payload is aligned to 64, and a
/// payload has that many bytes beyond its `bytes` for it.
#[derive(Clone, Copy)]
struct Layout {
    base: usize,
    arg_start: usize,
    arg_size: usize,
    result_size: usize,
}

impl Layout {
    fn of<A, R>(bytes: usize) -> Layout {
        let (a, r) = (size_of::<A>(), size_of::<R>());
        let arg_start = if r <= a {
            0
        } else {
            aligned_end::<A>(bytes) - chunk_capacity::<A, R>(bytes) * a
        };
        let base = if align_of::<A>() > PAYLOAD_ALIGN || align_of::<R>() > PAYLOAD_ALIGN {
            PAYLOAD_ALIGN
        } else {
            0
        };
        Layout {
            base,
            arg_start,
            arg_size: a,
            result_size: r,
        }
    }

    fn arg(&self, i: usize) -> usize {
        self.base + self.arg_start + i * self.arg_size
    }

    fn result(&self, i: usize) -> usize {
        self.base + i * self.result_size
    }
}

/// `bytes` rounded down to `A`'s alignment.
const fn aligned_end<A>(bytes: usize) -> usize {
    bytes - bytes % align_of::<A>()
}

/// How many items of a chunk of `A`s becoming `R`s fit in `bytes` (at most
/// [`CHUNK_MAX`]); 0 when not even one does, or when either type is
/// aligned beyond the payload's 64 bytes.
pub(crate) const fn chunk_capacity<A, R>(bytes: usize) -> usize {
    let (a, r) = (size_of::<A>(), size_of::<R>());
    if align_of::<A>() > 64 || align_of::<R>() > 64 {
        return 0;
    }
    let end = aligned_end::<A>(bytes);
    let fit_a = match end.checked_div(a) {
        Some(n) => n,
        None => CHUNK_MAX,
    };
    let fit_r = match end.checked_div(r) {
        Some(n) => n,
        None => CHUNK_MAX,
    };
    let fit = if fit_a < fit_r { fit_a } else { fit_r };
    if fit < CHUNK_MAX { fit } else { CHUNK_MAX }
}

/// Moves `item` into the payload as argument `index` of a chunk.
///
/// # Safety
///
/// The caller owns the payload (the slot is not queued), `index` is below
/// `chunk_capacity::<A, R>(bytes)`, and `payload` points to `bytes +
/// PAYLOAD_ALIGN` writable bytes aligned to [`PAYLOAD_ALIGN`].
pub(crate) unsafe fn put_arg<A, R>(payload: *mut u8, bytes: usize, index: usize, item: A) {
    let layout = Layout::of::<A, R>(bytes);
    // SAFETY: in bounds and aligned by the caller's capacity check and the
    // layout (offsets are multiples of A's size from a start aligned for
    // A); the bytes are the caller's.
    unsafe { payload.add(layout.arg(index)).cast::<A>().write(item) };
}

/// Moves result `index` of a chunk out of the payload.
///
/// # Safety
///
/// The caller owns the payload, its worker wrote result `index` as an `R`
/// (the item did not fail), and it was not taken or dropped before.
pub(crate) unsafe fn take_result<A, R>(payload: *mut u8, bytes: usize, index: usize) -> R {
    let layout = Layout::of::<A, R>(bytes);
    // SAFETY: the caller's promise: an R written there by the worker.
    unsafe { payload.add(layout.result(index)).cast::<R>().read() }
}

/// How the pool's collectors take result `index` out of a slot's payload
/// of `bytes` bytes: [`take_ok`], or the serde route's decoder, which
/// reads its variable-length results on from the cursor (the index and
/// offset where the last read left off).
pub(crate) type TakeFn<R> = unsafe fn(
    *mut u8,
    usize,
    usize,
    &core::cell::Cell<(usize, usize)>,
) -> Result<R, crate::error::ErrorKind>;

/// [`take_result`] as the pool's collectors take it: a fixed-size result
/// cannot fail to be read (an encoded one can, see `crate::pool`'s serde
/// route).
///
/// # Safety
///
/// As [`take_result`].
pub(crate) unsafe fn take_ok<A, R>(
    payload: *mut u8,
    bytes: usize,
    index: usize,
    _cursor: &core::cell::Cell<(usize, usize)>,
) -> Result<R, crate::error::ErrorKind> {
    // SAFETY: forwarded from the caller.
    Ok(unsafe { take_result::<A, R>(payload, bytes, index) })
}

/// Result `index` of a chunk, by reference (for a callback).
///
/// # Safety
///
/// As [`take_result`], for as long as the reference lives.
pub(crate) unsafe fn result_ref<'a, A, R>(payload: *mut u8, bytes: usize, index: usize) -> &'a R {
    let layout = Layout::of::<A, R>(bytes);
    // SAFETY: the caller's promise.
    unsafe { &*payload.add(layout.result(index)).cast::<R>() }
}

/// Drops the results of a chunk not taken: those whose bit is clear in
/// `failed` and set in `untaken`.
///
/// # Safety
///
/// As [`take_result`], for each result dropped.
pub(crate) unsafe fn drop_results<A, R>(
    payload: *mut u8,
    bytes: usize,
    count: usize,
    failed: Mask,
    untaken: Mask,
) {
    if !core::mem::needs_drop::<R>() {
        return;
    }
    for i in 0..count.min(CHUNK_MAX) {
        if !failed.has(i) && untaken.has(i) {
            // SAFETY: the caller's promise, for result i.
            drop(unsafe { take_result::<A, R>(payload, bytes, i) });
        }
    }
}

/// A panic message, cut to [`MESSAGE_LEN`] bytes at a character boundary.
#[derive(Clone, Copy)]
pub(crate) struct Message {
    pub(crate) bytes: [u8; MESSAGE_LEN],
    pub(crate) len: u32,
}

impl Message {
    pub(crate) const fn empty() -> Message {
        Message {
            bytes: [0; MESSAGE_LEN],
            len: 0,
        }
    }

    pub(crate) fn set(&mut self, text: &str) {
        let mut end = text.len().min(MESSAGE_LEN);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        self.len = end as u32;
    }

    pub(crate) fn set_from_panic(&mut self, payload: &(dyn core::any::Any + Send)) {
        if let Some(s) = payload.downcast_ref::<&str>() {
            self.set(s);
        } else if let Some(s) = payload.downcast_ref::<String>() {
            self.set(s);
        } else {
            self.set("(a panic payload that is not a string)");
        }
    }
}

/// How a worker calls a chunk of a task: reads `count` arguments from the
/// payload, calls the task on each (catching panics), writes the results.
/// Returns the mask of the items that panicked; the first panic's message
/// goes to `message`.
type Entry = unsafe fn(payload: *mut u8, bytes: usize, count: usize, message: &mut Message) -> Mask;

/// How a worker calls a pool task on its argument: implemented by the
/// pool's wrappers ([`Direct`](crate::pool::Direct) for `map`/`imap`,
/// [`Star`](crate::pool::Star) for `starmap`), which appear in the types
/// of [`Imap`](crate::pool::Imap) and [`MapResult`](crate::pool::MapResult).
/// A task is zero-sized (a `fn` item or a closure that captures nothing),
/// so the worker makes it from its type alone.
pub trait Call<A, R>: Copy + 'static {
    /// Calls the task.
    fn call(&self, arg: A) -> R;
}

/// The entry of the task `task` from `A` to `R`, as the address stored in
/// a slot. Taking the task by value is what lets the worker conjure
/// another from its type (see [`run`]).
pub(crate) fn entry_of<C: Call<A, R>, A: TaskData, R: TaskData>(task: C) -> u64 {
    let _ = task;
    const {
        assert!(
            size_of::<C>() == 0,
            "a pool task must be a fn item or a closure that captures nothing: \
             the worker makes it from its type alone (pass data as the task's argument)"
        )
    };
    let entry: Entry = run::<C, A, R>;
    entry as usize as u64
}

/// The entry behind every task: see [`Entry`].
///
/// # Safety
///
/// The caller owns the payload, which holds `count` arguments put by
/// [`put_arg`] with the same `A` and `R` (at most `CHUNK_MAX`).
unsafe fn run<C: Call<A, R>, A: TaskData, R: TaskData>(
    payload: *mut u8,
    bytes: usize,
    count: usize,
    message: &mut Message,
) -> Mask {
    // SAFETY: C is zero-sized (checked in `entry_of`, the only way to this
    // function's address) and Copy: a value of it was passed to the pool
    // by the caller, and conjuring another is the copy Copy allows.
    let task: C = unsafe { core::mem::zeroed() };
    let layout = Layout::of::<A, R>(bytes);
    let mut failed = Mask::default();
    for i in 0..count.min(CHUNK_MAX) {
        // SAFETY: argument i was written as an A by `put_arg` (caller's
        // promise) and is read once, before result i (or a later one) can
        // overwrite it (see `Layout`).
        let arg = unsafe { payload.add(layout.arg(i)).cast::<A>().read() };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.call(arg))) {
            // SAFETY: in bounds and aligned (see `put_arg`); argument i is
            // consumed, and result i ends before argument i + 1 begins.
            Ok(result) => unsafe { payload.add(layout.result(i)).cast::<R>().write(result) },
            Err(panic) => {
                if failed.is_empty() {
                    message.set_from_panic(&*panic);
                }
                failed.set(i);
                // Dropping a panic payload can panic again; the worker
                // lives on, so leak it instead.
                core::mem::forget(panic);
            }
        }
    }
    failed
}

/// Calls the task whose entry is `entry` on a chunk of `count` items.
///
/// # Safety
///
/// `entry` was returned by [`entry_of`] in this binary (in this process or
/// the one that forked it), and the payload is as [`run`] requires for the
/// types of that entry.
pub(crate) unsafe fn call(
    entry: u64,
    payload: *mut u8,
    bytes: usize,
    count: usize,
    message: &mut Message,
) -> Mask {
    // SAFETY: the caller's promise: the address of an `Entry` in this
    // binary image, which fork keeps at the same address.
    let entry: Entry = unsafe { core::mem::transmute::<usize, Entry>(entry as usize) };
    // SAFETY: forwarded from the caller.
    unsafe { entry(payload, bytes, count, message) }
}

/// What a callback is told: the result (by reference into the payload) or
/// the error.
pub(crate) enum Outcome<'a, E> {
    /// The task's result: the chunk's payload and the item's index.
    Done {
        payload: *mut u8,
        bytes: usize,
        index: usize,
        /// The task's submission number (for an error it reports).
        #[cfg_attr(not(feature = "serde"), allow(dead_code))]
        task: u64,
    },
    /// The task failed.
    Failed(&'a E),
}

/// 64-bit words of inline room for a pair of callbacks (48 bytes on every
/// target, 32-bit ones included).
pub(crate) const CALLBACK_WORDS: usize = 6;

/// A `callback` and `error_callback` pair kept inline (no heap box): run
/// once with the outcome, or dropped unrun.
pub(crate) struct Callbacks<E> {
    data: MaybeUninit<[u64; CALLBACK_WORDS]>,
    run: unsafe fn(*mut [u64; CALLBACK_WORDS], Outcome<'_, E>),
    drop: unsafe fn(*mut [u64; CALLBACK_WORDS]),
}

impl<E> Callbacks<E> {
    /// Keeps `ok` (given the result `R` of a task from `A`) and `err`.
    pub(crate) fn new<A, R, F, G>(ok: F, err: G) -> Callbacks<E>
    where
        F: FnOnce(&R) + 'static,
        G: FnOnce(&E) + 'static,
    {
        const {
            assert!(
                size_of::<(F, G)>() <= size_of::<[u64; CALLBACK_WORDS]>()
                    && align_of::<(F, G)>() <= align_of::<u64>(),
                "pool callbacks may capture at most 48 bytes (aligned to at most 8) \
                 together: keep bigger state behind one Rc"
            )
        };
        let mut data = MaybeUninit::<[u64; CALLBACK_WORDS]>::uninit();
        // SAFETY: the pair fits and is aligned (checked above); the storage
        // is fresh.
        unsafe { data.as_mut_ptr().cast::<(F, G)>().write((ok, err)) };
        Callbacks {
            data,
            run: run_callbacks::<A, R, E, F, G>,
            drop: drop_callbacks::<F, G>,
        }
    }

    /// Runs the right callback with `outcome` (dropping the other).
    ///
    /// # Safety
    ///
    /// For [`Outcome::Done`], the payload holds the result at `index` as
    /// the `R` this pair was made for, owned by the caller, alive for the
    /// call.
    pub(crate) unsafe fn run(mut self, outcome: Outcome<'_, E>) {
        let data = self.data.as_mut_ptr();
        let run = self.run;
        core::mem::forget(self);
        // SAFETY: `data` holds the pair `run` was made for, read once (the
        // destructor is skipped above); the caller vouches for the payload.
        unsafe { run(data, outcome) }
    }
}

impl<E> Drop for Callbacks<E> {
    fn drop(&mut self) {
        // SAFETY: the pair is still there (`run` forgets `self`), and is
        // dropped once.
        unsafe { (self.drop)(self.data.as_mut_ptr()) }
    }
}

/// # Safety
///
/// `data` holds an `(F, G)`, not used again; see [`Callbacks::run`].
unsafe fn run_callbacks<A, R, E, F: FnOnce(&R), G: FnOnce(&E)>(
    data: *mut [u64; CALLBACK_WORDS],
    outcome: Outcome<'_, E>,
) {
    // SAFETY: the caller's promise: an (F, G), moved out once.
    let (ok, err) = unsafe { data.cast::<(F, G)>().read() };
    match outcome {
        Outcome::Done {
            payload,
            bytes,
            index,
            ..
        } => {
            drop(err);
            // SAFETY: the caller's promise: result `index` is an R.
            ok(unsafe { result_ref::<A, R>(payload, bytes, index) })
        }
        Outcome::Failed(e) => {
            drop(ok);
            err(e)
        }
    }
}

/// # Safety
///
/// `data` holds an `(F, G)`, not used again.
unsafe fn drop_callbacks<F, G>(data: *mut [u64; CALLBACK_WORDS]) {
    // SAFETY: the caller's promise.
    unsafe { data.cast::<(F, G)>().drop_in_place() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fit_and_never_overlap_an_unread_argument() {
        // u8 -> u64 (results bigger), u64 -> u8 (smaller), equal.
        fn check<A, R>(bytes: usize) {
            let cap = chunk_capacity::<A, R>(bytes);
            assert!(cap >= 1);
            for count in 1..=cap {
                let l = Layout::of::<A, R>(bytes);
                // A payload at 32 past a 64-byte boundary: every item in
                // the span and aligned for its type.
                assert!(l.arg(count - 1) + size_of::<A>() <= bytes + PAYLOAD_ALIGN);
                assert!(l.result(count - 1) + size_of::<R>() <= bytes + PAYLOAD_ALIGN);
                assert_eq!((PAYLOAD_ALIGN + l.arg(count - 1)) % align_of::<A>(), 0);
                assert_eq!((PAYLOAD_ALIGN + l.result(count - 1)) % align_of::<R>(), 0);
                for i in 0..count.saturating_sub(1) {
                    // Result i ends before argument i + 1 begins.
                    assert!(l.result(i) + size_of::<R>() <= l.arg(i + 1));
                }
            }
        }
        check::<u8, u64>(512);
        check::<u64, u8>(512);
        check::<u64, u64>(512);
        check::<[u8; 3], [u8; 200]>(512);
        check::<u16, (u64, u64)>(100);
        check::<u8, u64>(4096);
        check::<u16, u32>(2048);
        check::<(u8, u8, u8), u64>(2048);
        // Aligned beyond a payload's own alignment.
        #[derive(Clone, Copy)]
        #[repr(align(64))]
        struct Line(#[allow(dead_code)] [u8; 64]);
        check::<Line, u64>(256);
        check::<u8, Line>(256);
        check::<Line, Line>(64);
        assert_eq!(chunk_capacity::<[u8; 600], u8>(512), 0);
        assert_eq!(chunk_capacity::<u8, [u8; 600]>(512), 0);
        assert_eq!(chunk_capacity::<u64, u64>(512), 64);
        assert_eq!(chunk_capacity::<u64, u64>(4096), CHUNK_MAX);
        assert_eq!(chunk_capacity::<(), ()>(8), CHUNK_MAX);
    }

    #[test]
    fn masks_set_clear_and_count_items_across_words() {
        let m = Mask::first(70);
        assert!(m.has(0) && m.has(63) && m.has(69) && !m.has(70) && !m.has(255));
        assert_eq!(Mask::first(CHUNK_MAX).0, [u64::MAX; CHUNK_MAX / 64]);
        assert!(Mask::first(0).is_empty());
        let mut f = Mask::default();
        f.set(64);
        f.set(200);
        assert!(f.has(200) && !f.has(199));
        let mut left = Mask::first(256);
        left.clear(64);
        assert!(!left.has(64) && left.has(65));
        f.clear(64);
        f.clear(200);
        assert!(f.is_empty());
        f.set(CHUNK_MAX); // out of range: ignored
        assert!(f.is_empty());
    }

    #[test]
    fn messages_are_cut_at_a_character_boundary() {
        let mut m = Message::empty();
        let long = "é".repeat(100);
        m.set(&long);
        assert!(m.len as usize <= MESSAGE_LEN);
        assert!(core::str::from_utf8(&m.bytes[..m.len as usize]).is_ok());
    }
}
