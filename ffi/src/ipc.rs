//! Messages: the byte-record queue (`mproc_queue_*`), pipes
//! (`mproc_pipe`, `mproc_connection_*`) and POSIX message queues
//! (`mproc_mq_*`).

use std::ffi::{c_char, c_int, c_uint};
use std::os::fd::AsRawFd;

use mproc_rs::ipc::{Connection, MessageQueue, Pipe, RecordQueue};

use crate::error::{
    Context, Fail, as_int, bytes, bytes_mut, flag, free, get, handle, int, into_raw, out, ptr, put,
    text, timeout, waited,
};

// ---------------------------------------------------------------- queue

/// A queue of byte records of any length up to a bound, in shared
/// memory (Python's `multiprocessing.Queue` of `bytes`): every process
/// forked after `mproc_queue_new` shares it, any of them may put and
/// get. Each process frees its own copy with `mproc_queue_free`
/// (unmapping it there); the queue is gone when the last copy is.
/// Thread-safe.
pub struct mproc_queue_t {
    _opaque: [u8; 0],
}

handle!(mproc_queue_t, RecordQueue, 0x6d70_7072_6f63_0010, "queue");

/// Makes a queue of `capacity` bytes (0: 1 MiB, Python's unbounded
/// `Queue()`). A record costs its length rounded up to 8, plus 8; the
/// largest record is `capacity - 8` (`mproc_queue_max_record`). NULL on
/// failure (`-EINVAL` for a capacity too small, `-ENOMEM`).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_new(capacity: usize) -> *mut mproc_queue_t {
    const F: &str = "mproc_queue_new";
    ptr(F, || {
        let q = if capacity == 0 {
            RecordQueue::new()
        } else {
            RecordQueue::with_capacity(capacity)
        };
        Ok(into_raw(q.at(F)?))
    })
}

/// Puts `len` bytes, waiting at most `timeout_ms` for room (Python's
/// `put(item, timeout=t)`). Returns 0; `-EAGAIN` (no room, `timeout_ms`
/// 0) or `-ETIMEDOUT`; `-EMSGSIZE` for a record longer than
/// `mproc_queue_max_record` (it could never fit; nothing is put);
/// `-EPIPE` once the queue is closed.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_put(
    q: *const mproc_queue_t,
    buf: *const u8,
    len: usize,
    timeout_ms: c_int,
) -> c_int {
    const F: &str = "mproc_queue_put";
    int(F, || {
        let q = get(F, q)?;
        let record = bytes(F, "buf", buf, len)?;
        let t = timeout(timeout_ms);
        match t {
            None => q.put(record).at(F)?,
            Some(t) => waited(F, q.put_timeout(record, t), Some(t))?,
        }
        Ok(0)
    })
}

/// Puts `len` bytes if there is room now (Python's `put_nowait`):
/// `-EAGAIN` when full; otherwise as `mproc_queue_put`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_put_nowait(
    q: *const mproc_queue_t,
    buf: *const u8,
    len: usize,
) -> c_int {
    const F: &str = "mproc_queue_put_nowait";
    int(F, || {
        get(F, q)?.put_nowait(bytes(F, "buf", buf, len)?).at(F)?;
        Ok(0)
    })
}

/// Takes the front record into `buf` (`cap` bytes), waiting at most
/// `timeout_ms` (Python's `get(timeout=t)`); `*len` (not NULL) is its
/// length. Returns 0; `-EAGAIN` (empty, `timeout_ms` 0) or `-ETIMEDOUT`;
/// `-EMSGSIZE` when `buf` is too short (the record stays at the front:
/// `mproc_queue_max_record` bytes always suffice); `-ENODATA` when the
/// queue is closed and empty.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_get(
    q: *const mproc_queue_t,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    timeout_ms: c_int,
) -> c_int {
    const F: &str = "mproc_queue_get";
    int(F, || {
        let q = get(F, q)?;
        let len = out(F, "len", len)?;
        let buf = bytes_mut(F, "buf", buf, cap)?;
        let t = timeout(timeout_ms);
        *len = waited(F, q.get_bytes(buf, t), t)?;
        Ok(0)
    })
}

/// Takes the front record if there is one now (Python's `get_nowait`):
/// `-EAGAIN` when empty; otherwise as `mproc_queue_get`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_get_nowait(
    q: *const mproc_queue_t,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> c_int {
    mproc_queue_get(q, buf, cap, len, 0)
}

/// The number of records now (Python's `qsize()`), or a negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_qsize(q: *const mproc_queue_t) -> c_int {
    const F: &str = "mproc_queue_qsize";
    int(F, || as_int(F, get(F, q)?.qsize()))
}

/// The longest record the queue takes (its capacity less 8), or 0 for a
/// bad handle.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_max_record(q: *const mproc_queue_t) -> usize {
    const F: &str = "mproc_queue_max_record";
    crate::error::call(F, |_| 0, || Ok(get(F, q)?.max_record()))
}

/// Closes the queue for every process (Python's `close()` with the end of
/// the stream): puts fail with `-EPIPE`, gets drain what is left, then
/// fail with `-ENODATA`. Returns 0 or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_close(q: *const mproc_queue_t) -> c_int {
    const F: &str = "mproc_queue_close";
    int(F, || {
        get(F, q)?.close();
        Ok(0)
    })
}

/// Marks one record taken with `mproc_queue_get` as processed (Python's
/// `JoinableQueue.task_done()`). Returns 0, or `-EINVAL` when called more
/// times than records were put.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_task_done(q: *const mproc_queue_t) -> c_int {
    const F: &str = "mproc_queue_task_done";
    int(F, || {
        get(F, q)?.task_done().at(F)?;
        Ok(0)
    })
}

/// Waits at most `timeout_ms` until every record put has been marked done
/// with `mproc_queue_task_done` (Python's `JoinableQueue.join()`). Returns
/// 0, or `-ETIMEDOUT` (`-EAGAIN` for 0 ms) with tasks unfinished.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_join(q: *const mproc_queue_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_queue_join";
    int(F, || {
        let q = get(F, q)?;
        let done = match timeout(timeout_ms) {
            None => {
                q.join();
                true
            }
            Some(t) => q.join_timeout(t),
        };
        if done {
            Ok(0)
        } else {
            let code = if timeout_ms == 0 {
                libc::EAGAIN
            } else {
                libc::ETIMEDOUT
            };
            Err(Fail::new(
                code,
                F,
                format_args!("{} tasks unfinished after {timeout_ms} ms", q.unfinished()),
            ))
        }
    })
}

/// Frees this process's copy of the queue (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_queue_free(q: *mut mproc_queue_t) {
    free("mproc_queue_free", q);
}

// ---------------------------------------------------------------- pipe

/// One end of a pipe (Python's `Connection`): message boundaries kept,
/// a closed peer reported as an error (never `SIGPIPE`). Made by
/// `mproc_pipe`; freed (closed) by `mproc_connection_free`. After a
/// fork both processes hold both ends: each frees (closes) the end it
/// does not use, as with `pipe(2)`. Not thread-safe.
pub struct mproc_connection_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_connection_t,
    Connection,
    0x6d70_7072_6f63_0011,
    "connection"
);

/// Makes a pipe (Python's `Pipe(duplex)`): with `duplex` both ends send and
/// receive (`SOCK_SEQPACKET`); without, `*a` only receives and `*b` only
/// sends. Returns 0 with both handles set, or a negative code (`-EMFILE`).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pipe(
    duplex: bool,
    a: *mut *mut mproc_connection_t,
    b: *mut *mut mproc_connection_t,
) -> c_int {
    const F: &str = "mproc_pipe";
    int(F, || {
        let a = out(F, "a", a)?;
        let b = out(F, "b", b)?;
        let (x, y) = if duplex {
            Pipe::duplex()
        } else {
            Pipe::simplex()
        }
        .at(F)?;
        *a = into_raw(x);
        *b = into_raw(y);
        Ok(0)
    })
}

/// Sends `len` bytes as one message (Python's `send_bytes`), waiting for
/// room. Returns 0; `-EPIPE` when the other end is closed; `-EMSGSIZE`
/// past the most a message carries.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_connection_send_bytes(
    c: *const mproc_connection_t,
    buf: *const u8,
    len: usize,
) -> c_int {
    const F: &str = "mproc_connection_send_bytes";
    int(F, || {
        get(F, c)?.send_bytes(bytes(F, "buf", buf, len)?).at(F)?;
        Ok(0)
    })
}

/// Receives one message into `buf` (Python's `recv_bytes`), waiting at
/// most `timeout_ms`; `*len` (not NULL) is its length. Returns 0;
/// `-EAGAIN`/`-ETIMEDOUT` when nothing came; `-EMSGSIZE` when `buf` is too
/// short (`buf` holds its first `cap` bytes, the rest of that message is
/// gone: Python's `BufferTooShort`; the next messages are whole);
/// `-ENODATA` when the other end is closed and
/// everything it sent was received (Python's `EOFError`).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_connection_recv_bytes(
    c: *const mproc_connection_t,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    timeout_ms: c_int,
) -> c_int {
    const F: &str = "mproc_connection_recv_bytes";
    int(F, || {
        let c = get(F, c)?;
        let len = out(F, "len", len)?;
        let buf = bytes_mut(F, "buf", buf, cap)?;
        let got = match timeout(timeout_ms) {
            None => Some(c.recv_bytes(buf).at(F)?),
            Some(t) if t.is_zero() => c.try_recv_bytes(buf).at(F)?,
            Some(t) => c.recv_bytes_timeout(buf, t).at(F)?,
        };
        *len = got.ok_or_else(|| {
            let code = if timeout_ms == 0 {
                libc::EAGAIN
            } else {
                libc::ETIMEDOUT
            };
            Fail::new(
                code,
                F,
                format_args!(
                    "pipe end (fd {}): no message within {timeout_ms} ms",
                    c.as_raw_fd()
                ),
            )
        })?;
        Ok(0)
    })
}

/// Whether a message (or the end of the stream) is ready to be received
/// within `timeout_ms` (Python's `poll(timeout)`): 1 or 0, or a negative
/// code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_connection_poll(c: *const mproc_connection_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_connection_poll";
    int(F, || Ok(flag(get(F, c)?.poll(timeout(timeout_ms)).at(F)?)))
}

/// The end's descriptor, for `poll`/`epoll` (Python's `fileno()`). Owned
/// by the handle: do not close it.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_connection_fd(c: *const mproc_connection_t) -> c_int {
    const F: &str = "mproc_connection_fd";
    int(F, || Ok(get(F, c)?.as_raw_fd()))
}

/// Closes and frees this end in this process (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_connection_free(c: *mut mproc_connection_t) {
    free("mproc_connection_free", c);
}

// ---------------------------------------------------------------- mq

/// A POSIX message queue (`mq_overview(7)`; Python's
/// `posix_ipc.MessageQueue`). The handle that created it owns the
/// name: its `mproc_mq_free` removes the name (unless
/// `mproc_mq_unlink` did already), and forked copies do not. Made by
/// `mproc_mq_create` or `mproc_mq_open`. Thread-safe.
pub struct mproc_mq_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_mq_t,
    MessageQueue,
    0x6d70_7072_6f63_0012,
    "message queue"
);

/// Creates the queue `name` (`"/name"`, mode 0600, exclusive) for at most
/// `max_messages` messages of at most `message_size` bytes. NULL on
/// failure: `-EEXIST`; `-EINVAL` for a bad name or a zero size; a kernel
/// limit (`/proc/sys/fs/mqueue/msg_max`, `msgsize_max`, `RLIMIT_MSGQUEUE`)
/// named in `mproc_last_error`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_create(
    name: *const c_char,
    max_messages: usize,
    message_size: usize,
) -> *mut mproc_mq_t {
    const F: &str = "mproc_mq_create";
    ptr(F, || {
        let name = text(F, "name", name)?;
        Ok(into_raw(
            MessageQueue::create(name, max_messages, message_size).at(F)?,
        ))
    })
}

/// Opens the existing queue `name`. NULL on failure (`-ENOENT`).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_open(name: *const c_char) -> *mut mproc_mq_t {
    const F: &str = "mproc_mq_open";
    ptr(F, || {
        Ok(into_raw(MessageQueue::open(text(F, "name", name)?).at(F)?))
    })
}

/// Sends a message of `len` bytes with `priority` (higher first), waiting
/// at most `timeout_ms` for room. Returns 0; `-EAGAIN`/`-ETIMEDOUT` when
/// full; `-EMSGSIZE` past the queue's message size.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_send(
    mq: *const mproc_mq_t,
    buf: *const u8,
    len: usize,
    priority: c_uint,
    timeout_ms: c_int,
) -> c_int {
    const F: &str = "mproc_mq_send";
    int(F, || {
        let mq = get(F, mq)?;
        let msg = bytes(F, "buf", buf, len)?;
        let t = timeout(timeout_ms);
        let r = match t {
            None => mq.send(msg, priority),
            Some(t) if t.is_zero() => mq.try_send(msg, priority),
            Some(t) => mq.send_timeout(msg, priority, t),
        };
        waited(F, r, t)?;
        Ok(0)
    })
}

/// `mproc_mq_send` without waiting: `-EAGAIN` when full.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_send_nowait(
    mq: *const mproc_mq_t,
    buf: *const u8,
    len: usize,
    priority: c_uint,
) -> c_int {
    mproc_mq_send(mq, buf, len, priority, 0)
}

/// Receives the oldest message of the highest priority into `buf`,
/// waiting at most `timeout_ms`; `*len` (not NULL) is its length and
/// `*priority` (if not NULL) its priority. Returns 0;
/// `-EAGAIN`/`-ETIMEDOUT` when empty; `-EMSGSIZE` when `cap` is below the
/// queue's message size (`mproc_mq_message_size`).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_receive(
    mq: *const mproc_mq_t,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    priority: *mut c_uint,
    timeout_ms: c_int,
) -> c_int {
    const F: &str = "mproc_mq_receive";
    int(F, || {
        let mq = get(F, mq)?;
        let len = out(F, "len", len)?;
        let buf = bytes_mut(F, "buf", buf, cap)?;
        let t = timeout(timeout_ms);
        let r = match t {
            None => mq.receive(buf),
            Some(t) if t.is_zero() => mq.try_receive(buf),
            Some(t) => mq.receive_timeout(buf, t),
        };
        let (n, prio) = waited(F, r, t)?;
        *len = n;
        put(priority, prio);
        Ok(0)
    })
}

/// `mproc_mq_receive` without waiting: `-EAGAIN` when empty.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_receive_nowait(
    mq: *const mproc_mq_t,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    priority: *mut c_uint,
) -> c_int {
    mproc_mq_receive(mq, buf, cap, len, priority, 0)
}

/// The largest message the queue takes, or 0 for a bad handle.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_message_size(mq: *const mproc_mq_t) -> usize {
    const F: &str = "mproc_mq_message_size";
    crate::error::call(F, |_| 0, || Ok(get(F, mq)?.message_size()))
}

/// The queue's descriptor (readable when a message waits), for
/// `poll`/`epoll`. Owned by the handle: do not close it.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_fd(mq: *const mproc_mq_t) -> c_int {
    const F: &str = "mproc_mq_fd";
    int(F, || Ok(get(F, mq)?.as_raw_fd()))
}

/// Removes the queue's name now (`mq_unlink`); open handles keep working.
/// Returns 0 or a negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_unlink(mq: *mut mproc_mq_t) -> c_int {
    const F: &str = "mproc_mq_unlink";
    int(F, || {
        crate::error::get_mut(F, mq)?.unlink().at(F)?;
        Ok(0)
    })
}

/// Closes this process's handle (NULL is ignored); the creating handle
/// also removes the name.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_mq_free(mq: *mut mproc_mq_t) {
    free("mproc_mq_free", mq);
}
