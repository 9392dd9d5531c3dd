//! The boundary's plumbing: error codes and the thread-local message, the
//! `catch_unwind` around every entry point, and the opaque handles.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use mproc_rs::{Error, ErrorKind};

thread_local! {
    /// The last failure in this thread: its (negative) code and message.
    static LAST: RefCell<(c_int, CString)> = RefCell::new((0, CString::default()));
}

/// A failure on its way to C: a positive errno value and the message.
pub(crate) struct Fail {
    code: c_int,
    msg: String,
}

pub(crate) type Res<T> = Result<T, Fail>;

impl Fail {
    /// A failure found at the boundary itself (NULL pointer, bad number).
    pub(crate) fn new(code: c_int, func: &str, what: impl Display) -> Fail {
        Fail {
            code,
            msg: format!("{func}: {what}"),
        }
    }

    /// `-EINVAL` naming the argument and the rule it broke.
    pub(crate) fn inval(func: &str, what: impl Display) -> Fail {
        Fail::new(libc::EINVAL, func, format_args!("invalid argument: {what}"))
    }

    /// The crate's error, with its code.
    pub(crate) fn from_error(func: &str, e: &Error) -> Fail {
        Fail {
            code: code_of(e),
            msg: format!("{func}: {e}"),
        }
    }

    /// The crate's error with a code of the caller's choosing (a timed
    /// wait's `Full` is `ETIMEDOUT`, not `EAGAIN`).
    pub(crate) fn with_code(func: &str, e: &Error, code: c_int) -> Fail {
        Fail {
            code,
            msg: format!("{func}: {e}"),
        }
    }

    /// The code, negative, as C sees it.
    pub(crate) fn neg(&self) -> c_int {
        -self.code
    }
}

/// The errno-style code of a crate error (positive).
pub(crate) fn code_of(e: &Error) -> c_int {
    use libc::*;
    match e.kind() {
        ErrorKind::Os => e.errno().unwrap_or(EIO),
        ErrorKind::NoSuchProcess => ESRCH,
        ErrorKind::PermissionDenied => e.errno().unwrap_or(EPERM),
        ErrorKind::InvalidSignal | ErrorKind::UncatchableSignal | ErrorKind::InvalidArgument(_) => {
            EINVAL
        }
        ErrorKind::CapacityExceeded { .. } => ENOSPC,
        ErrorKind::NotStarted => ECHILD,
        ErrorKind::AlreadyStarted => EALREADY,
        ErrorKind::ThreadsRunning { .. } => EDEADLK,
        ErrorKind::ChildLost => ECHILD,
        ErrorKind::Timeout => ETIMEDOUT,
        ErrorKind::IndexOutOfRange { .. } => ERANGE,
        ErrorKind::AlreadyExists => EEXIST,
        ErrorKind::NotFound => ENOENT,
        ErrorKind::AlreadyRunning { .. } => EBUSY,
        ErrorKind::StaleSegment { .. } => ESTALE,
        ErrorKind::NotOurs { .. } => EEXIST,
        ErrorKind::NotReady => EBUSY,
        ErrorKind::BrokenPipe => EPIPE,
        ErrorKind::EndOfStream => ENODATA,
        ErrorKind::MessageSize { .. } | ErrorKind::EncodedSize { .. } => EMSGSIZE,
        ErrorKind::WouldBlock | ErrorKind::Full | ErrorKind::Empty => EAGAIN,
        ErrorKind::KernelLimit { .. } => e.errno().unwrap_or(ENOSPC),
        ErrorKind::Panicked | ErrorKind::Terminated => ECANCELED,
        ErrorKind::WorkerDied { .. } | ErrorKind::InitializerFailed { .. } => ECHILD,
        ErrorKind::TaskTimedOut { .. } => ETIMEDOUT,
        ErrorKind::PoolNotRunning => ESHUTDOWN,
        ErrorKind::ManagerGone => ENOTCONN,
        ErrorKind::BrokenBarrier => EPIPE,
        ErrorKind::UnknownMethod { .. } => ENOSYS,
        ErrorKind::LayoutMismatch { .. } => EPROTO,
        ErrorKind::DaemonicParent => EPERM,
        ErrorKind::NoDescriptor => ENOMSG,
        ErrorKind::InvalidData(_) => EBADMSG,
        _ => EIO,
    }
}

fn remember(code: c_int, msg: String) {
    let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST.with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = (code, text);
        }
    });
}

/// Runs an entry point's body: its failure (or panic) is remembered for
/// [`mproc_last_error`] and turned into `on_fail(negative code)`.
pub(crate) fn call<R>(
    func: &'static str,
    on_fail: impl FnOnce(c_int) -> R,
    body: impl FnOnce() -> Res<R>,
) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(r)) => r,
        Ok(Err(fail)) => {
            let code = fail.neg();
            remember(code, fail.msg);
            on_fail(code)
        }
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            // Dropping the payload could panic again: keep it.
            std::mem::forget(payload);
            let code = -libc::ENOTRECOVERABLE;
            remember(
                code,
                format!("{func}: panicked (caught at the C boundary): {why}"),
            );
            on_fail(code)
        }
    }
}

/// An entry point returning `int`: the body's value, or the negative code.
pub(crate) fn int(func: &'static str, body: impl FnOnce() -> Res<c_int>) -> c_int {
    call(func, |code| code, body)
}

/// An entry point returning a handle: the body's, or NULL.
pub(crate) fn ptr<T>(func: &'static str, body: impl FnOnce() -> Res<*mut T>) -> *mut T {
    call(func, |_| std::ptr::null_mut(), body)
}

/// The message of the last failed call in this thread: the C function, then
/// the operation, the resource it acted on and the limit or rule that was
/// hit, e.g. `"mproc_queue_put: RecordQueue::put(a record queue of 1024
/// bytes): ..."`. An empty string before any failure.
///
/// The string belongs to the library: valid until the next failing call in
/// this thread; copy it to keep it. Successful calls leave it as it was.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_last_error() -> *const c_char {
    LAST.with(|last| match last.try_borrow() {
        Ok(last) => last.1.as_ptr(),
        Err(_) => c"".as_ptr(),
    })
}

/// The code (negative errno value) of the last failed call in this thread,
/// 0 before any failure. Useful after a constructor returned NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_last_errno() -> c_int {
    LAST.with(|last| last.try_borrow().map(|l| l.0).unwrap_or(0))
}

// ---------------------------------------------------------------- handles

/// The memory behind every opaque handle: a tag, then the value. The tag
/// tells a handle of this type from NULL, from another type's handle and
/// (usually) from a freed one.
#[repr(C)]
struct Slot<T> {
    magic: u64,
    inner: T,
}

/// An opaque handle type of the header and what it holds.
pub(crate) trait Handle: Sized {
    /// What the handle holds.
    type Inner;
    /// Its tag.
    const MAGIC: u64;
    /// Its name in messages, e.g. `"queue"`.
    const WHAT: &'static str;
}

/// A new handle holding `inner`, owned by the caller (freed by its `_free`).
pub(crate) fn into_raw<H: Handle>(inner: H::Inner) -> *mut H {
    Box::into_raw(Box::new(Slot {
        magic: H::MAGIC,
        inner,
    }))
    .cast()
}

fn slot<H: Handle>(func: &str, p: *const H) -> Res<*mut Slot<H::Inner>> {
    if p.is_null() {
        return Err(Fail::inval(
            func,
            format_args!("the {} handle is NULL", H::WHAT),
        ));
    }
    if !(p as usize).is_multiple_of(std::mem::align_of::<Slot<H::Inner>>()) {
        return Err(Fail::inval(func, format_args!("not a {} handle", H::WHAT)));
    }
    let slot = p as *mut Slot<H::Inner>;
    // SAFETY: non-null and aligned; the header's contract is that `p` came
    // from this library (a handle of some type, all of which start with the
    // tag), so the first word is readable.
    let magic = unsafe { std::ptr::addr_of!((*slot).magic).read() };
    if magic != H::MAGIC {
        return Err(Fail::inval(
            func,
            format_args!("not a {} handle (another type's, or freed)", H::WHAT),
        ));
    }
    Ok(slot)
}

/// The value behind a handle.
pub(crate) fn get<'a, H: Handle>(func: &str, p: *const H) -> Res<&'a H::Inner> {
    let slot = slot(func, p)?;
    // SAFETY: the tag matched, so this is a live `Slot<H::Inner>` made by
    // `into_raw`; it lives until its `_free`, which the caller may not call
    // while using it (the header's ownership rules).
    Ok(unsafe { &(*slot).inner })
}

/// The value behind a handle, to change it.
pub(crate) fn get_mut<'a, H: Handle>(func: &str, p: *mut H) -> Res<&'a mut H::Inner> {
    let slot = slot(func, p)?;
    // SAFETY: as in `get`; the handle types that come here are documented
    // as not thread-safe, so the caller holds no other reference to it.
    Ok(unsafe { &mut (*slot).inner })
}

/// Frees a handle (NULL is ignored); the value's `Drop` runs.
pub(crate) fn free<H: Handle>(func: &'static str, p: *mut H) {
    call(
        func,
        |_| (),
        || {
            if p.is_null() {
                return Ok(());
            }
            let slot = slot(func, p)?;
            // SAFETY: a live slot made by `into_raw` (the tag matched); the
            // tag is cleared first so a second free is caught, then the box
            // is rebuilt and dropped exactly once.
            unsafe {
                (*slot).magic = 0;
                drop(Box::from_raw(slot));
            }
            Ok(())
        },
    )
}

/// Declares what an opaque handle type of the header holds.
macro_rules! handle {
    ($name:ident, $inner:ty, $magic:expr, $what:expr) => {
        impl $crate::error::Handle for $name {
            type Inner = $inner;
            const MAGIC: u64 = $magic;
            const WHAT: &'static str = $what;
        }
    };
}
pub(crate) use handle;

// ---------------------------------------------------------------- arguments

/// `timeout_ms` as the crate takes it: negative is `None` (no limit).
pub(crate) fn timeout(ms: c_int) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// A C string argument as UTF-8.
pub(crate) fn text<'a>(func: &str, what: &str, p: *const c_char) -> Res<&'a str> {
    if p.is_null() {
        return Err(Fail::inval(func, format_args!("{what} is NULL")));
    }
    // SAFETY: non-null; the caller passes a NUL-terminated string that
    // lives for the call.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| Fail::inval(func, format_args!("{what} is not UTF-8")))
}

/// `len` bytes at `p` (NULL allowed when `len` is 0).
pub(crate) fn bytes<'a>(func: &str, what: &str, p: *const u8, len: usize) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::inval(
            func,
            format_args!("{what} is NULL with a length of {len}"),
        ));
    }
    // SAFETY: non-null; the caller passes `len` readable bytes that live
    // for the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `cap` writable bytes at `p` (NULL allowed when `cap` is 0).
pub(crate) fn bytes_mut<'a>(func: &str, what: &str, p: *mut u8, cap: usize) -> Res<&'a mut [u8]> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Fail::inval(
            func,
            format_args!("{what} is NULL with a capacity of {cap}"),
        ));
    }
    // SAFETY: non-null; the caller passes `cap` writable bytes, not
    // aliased elsewhere, that live for the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, cap) })
}

/// Writes `value` through an out-pointer, if it is not NULL.
pub(crate) fn put<T>(p: *mut T, value: T) {
    if !p.is_null() {
        // SAFETY: non-null; the caller passes a writable, aligned `T` (or
        // NULL when it does not want the value).
        unsafe { p.write(value) };
    }
}

/// An out-pointer that must not be NULL.
pub(crate) fn out<'a, T>(func: &str, what: &str, p: *mut T) -> Res<&'a mut T> {
    if p.is_null() {
        return Err(Fail::inval(func, format_args!("{what} is NULL")));
    }
    // SAFETY: non-null; the caller passes a writable, aligned `T` that
    // lives for the call.
    Ok(unsafe { &mut *p })
}

/// A `bool` result as C's 1 or 0.
pub(crate) fn flag(b: bool) -> c_int {
    c_int::from(b)
}

/// Maps a crate result's error, naming the C function.
pub(crate) trait Context<T> {
    /// The crate's error, as C sees it.
    fn at(self, func: &str) -> Res<T>;
}

impl<T> Context<T> for mproc_rs::Result<T> {
    fn at(self, func: &str) -> Res<T> {
        self.map_err(|e| Fail::from_error(func, &e))
    }
}

/// A timed wait's "nothing now" (`Full`, `Empty`, `WouldBlock`): `EAGAIN`
/// when it did not wait, `ETIMEDOUT` when it waited in vain.
pub(crate) fn waited<T>(func: &str, r: mproc_rs::Result<T>, t: Option<Duration>) -> Res<T> {
    r.map_err(|e| match e.kind() {
        ErrorKind::Full | ErrorKind::Empty | ErrorKind::WouldBlock | ErrorKind::Timeout
            if t.is_some_and(|t| !t.is_zero()) =>
        {
            Fail::with_code(func, &e, libc::ETIMEDOUT)
        }
        _ => Fail::from_error(func, &e),
    })
}

/// A length as C's `int` result, or `-EOVERFLOW`.
pub(crate) fn as_int(func: &str, n: usize) -> Res<c_int> {
    c_int::try_from(n)
        .map_err(|_| Fail::new(libc::EOVERFLOW, func, "the count does not fit an int"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_enotrecoverable_with_its_message() {
        let code = int("mproc_test", || panic!("boom {}", 7));
        assert_eq!(code, -libc::ENOTRECOVERABLE);
        assert_eq!(mproc_last_errno(), -libc::ENOTRECOVERABLE);
        // SAFETY: the library's own NUL-terminated message.
        let msg = unsafe { CStr::from_ptr(mproc_last_error()) }
            .to_str()
            .unwrap();
        assert!(msg.starts_with("mproc_test: panicked"), "{msg}");
        assert!(msg.contains("boom 7"), "{msg}");
        let p: *mut u8 = ptr("mproc_test_ptr", || panic!("again"));
        assert!(p.is_null());
    }

    #[test]
    fn errors_are_remembered_per_thread_and_successes_leave_them() {
        assert_eq!(
            int("f", || Err(Fail::inval("f", "x is bad"))),
            -libc::EINVAL
        );
        assert_eq!(int("g", || Ok(3)), 3);
        assert_eq!(mproc_last_errno(), -libc::EINVAL);
        let other = std::thread::spawn(|| mproc_last_errno()).join().unwrap();
        assert_eq!(other, 0);
    }
}
