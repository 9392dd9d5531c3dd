//! The daemon kit: `mproc_pidfile_*`, the status board
//! (`mproc_status_*`) and the main loop (`mproc_main_loop_*`).

use std::ffi::{c_char, c_int};
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;

use mproc_rs::daemon::{MainLoop, Pidfile, State, Status};
use mproc_rs::shm::{Shared, SharedMemory};
use mproc_rs::signal::{SigSet, Signal};

use crate::error::{
    Context, Fail, Res, as_int, bytes_mut, free, get, handle, int, into_raw, out, ptr, put, text,
    timeout,
};

// ---------------------------------------------------------------- pidfile

/// A pidfile holding this process's pid. Made by
/// `mproc_pidfile_create`; `mproc_pidfile_free` removes the file (only
/// if it is still the one written, and only in the process that made
/// it: a forked child's free removes nothing).
pub struct mproc_pidfile_t {
    _opaque: [u8; 0],
}

handle!(mproc_pidfile_t, Pidfile, 0x6d70_7072_6f63_0050, "pidfile");

/// Writes this process's pid to `path`, replacing only a stale pidfile
/// (its pid gone). NULL on failure: `-EBUSY` when the pid it names is alive
/// (another instance runs: `mproc_last_error` names it), `-EEXIST` when the
/// file holds something else, `-ENOENT`/`-EACCES` from the file system.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pidfile_create(path: *const c_char) -> *mut mproc_pidfile_t {
    const F: &str = "mproc_pidfile_create";
    ptr(F, || {
        Ok(into_raw(Pidfile::create(text(F, "path", path)?).at(F)?))
    })
}

/// The pid in the pidfile at `path`: positive, 0 when there is no file, or a
/// negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pidfile_read(path: *const c_char) -> c_int {
    const F: &str = "mproc_pidfile_read";
    int(F, || match Pidfile::read(text(F, "path", path)?) {
        Ok(pid) => Ok(pid.map_or(0, |p| p.as_raw())),
        Err(e) if e.kind() == mproc_rs::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Fail::from_error(F, &e)),
    })
}

/// Removes the pidfile and frees the handle (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pidfile_free(p: *mut mproc_pidfile_t) {
    free("mproc_pidfile_free", p);
}

// ---------------------------------------------------------------- status

/// What a daemon is doing (`mproc_status_set_state`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum mproc_state {
    /// Setting up.
    MPROC_STATE_STARTING = 0,
    /// Taking jobs.
    MPROC_STATE_RUNNING = 1,
    /// Taking no new jobs, finishing the accepted ones.
    MPROC_STATE_DRAINING = 2,
    /// Workers stopped, the master still there.
    MPROC_STATE_IDLE = 3,
    /// Gone, or about to be.
    MPROC_STATE_STOPPED = 4,
}

/// A counter of the status board (`mproc_status_set`, `mproc_status_add`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum mproc_status_field {
    /// Live workers.
    MPROC_STATUS_WORKERS = 0,
    /// Workers wanted.
    MPROC_STATUS_TARGET_WORKERS = 1,
    /// Jobs accepted and not yet ended.
    MPROC_STATUS_QUEUED = 2,
    /// Jobs ended well.
    MPROC_STATUS_DONE = 3,
    /// Jobs that failed.
    MPROC_STATUS_FAILED = 4,
    /// Workers forked since the start.
    MPROC_STATUS_FORKS = 5,
    /// The daemon's own counters.
    MPROC_STATUS_USER0 = 6,
    /// The daemon's own counters.
    MPROC_STATUS_USER1 = 7,
    /// The daemon's own counters.
    MPROC_STATUS_USER2 = 8,
    /// The daemon's own counters.
    MPROC_STATUS_USER3 = 9,
}

/// A board in an anonymous segment (shared with forked children) or a named
/// one (read by other programs).
pub enum Board {
    /// Made without a name.
    Anonymous(Shared<Status>),
    /// Made with a name.
    Named(Box<SharedMemory<Status>>),
}

impl Board {
    fn status(&self) -> &Status {
        match self {
            Board::Anonymous(s) => s,
            Board::Named(s) => s,
        }
    }
}

/// A daemon's status board: its state and counters in shared memory,
/// written by the daemon and its children, and the one-line report the
/// daemon prints on `SIGUSR1`. Made by `mproc_status_new` (before
/// forking the children that update it); each process frees its copy;
/// the creating handle of a named board removes the name. Thread-safe.
pub struct mproc_status_t {
    _opaque: [u8; 0],
}

handle!(mproc_status_t, Board, 0x6d70_7072_6f63_0051, "status board");

/// Makes a status board for this process (state `STARTING`): in a named
/// segment `name` (`"/name"`, for tools that open it) or, with NULL, an
/// anonymous one. NULL on failure (`-EEXIST`, `-ESTALE`, `-EINVAL`).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_status_new(name: *const c_char) -> *mut mproc_status_t {
    const F: &str = "mproc_status_new";
    ptr(F, || {
        let board = if name.is_null() {
            Board::Anonymous(Shared::new(Status::new()).at(F)?)
        } else {
            Board::Named(Box::new(
                SharedMemory::create(text(F, "name", name)?, Status::new()).at(F)?,
            ))
        };
        Ok(into_raw::<mproc_status_t>(board))
    })
}

/// Sets the state, an `mproc_state` (and the time of the last update).
/// Returns 0 or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_status_set_state(s: *const mproc_status_t, state: c_int) -> c_int {
    const F: &str = "mproc_status_set_state";
    int(F, || {
        let st = match state {
            0 => State::Starting,
            1 => State::Running,
            2 => State::Draining,
            3 => State::Idle,
            4 => State::Stopped,
            other => return Err(Fail::inval(F, format_args!("state {other}: 0 to 4"))),
        };
        get(F, s)?.status().set_state(st);
        Ok(0)
    })
}

fn field_op(func: &str, s: &Status, field: c_int, set: Option<u64>, add: i64) -> Res<u64> {
    let r = Ordering::Relaxed;
    macro_rules! apply {
        ($a:expr, $t:ty) => {{
            let a = $a;
            match set {
                Some(v) => {
                    let v = <$t>::try_from(v).map_err(|_| {
                        Fail::new(
                            libc::ERANGE,
                            func,
                            format_args!("{v} does not fit this 32-bit counter"),
                        )
                    })?;
                    a.store(v, r);
                    u64::from(v)
                }
                None => u64::from(a.fetch_add(add as $t, r).wrapping_add(add as $t)),
            }
        }};
    }
    let v = match field {
        0 => apply!(&s.workers, u32),
        1 => apply!(&s.target_workers, u32),
        2 => apply!(&s.queued, u64),
        3 => apply!(&s.done, u64),
        4 => apply!(&s.failed, u64),
        5 => apply!(&s.forks, u64),
        i @ 6..=9 => apply!(&s.user[(i - 6) as usize], u64),
        other => {
            return Err(Fail::inval(
                func,
                format_args!("status field {other}: 0 to 9"),
            ));
        }
    };
    Ok(v)
}

/// Sets a counter (`field`: an `mproc_status_field`). Returns 0, `-EINVAL` for an unknown field, `-ERANGE`
/// for a value past a 32-bit counter (workers).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_status_set(s: *const mproc_status_t, field: c_int, value: u64) -> c_int {
    const F: &str = "mproc_status_set";
    int(F, || {
        let st = get(F, s)?.status();
        field_op(F, st, field, Some(value), 0)?;
        st.touch();
        Ok(0)
    })
}

/// Adds `delta` (negative subtracts, wrapping) to a counter (`field`: an
/// `mproc_status_field`), atomically,
/// from any process sharing the board; the new value goes to `*result` if
/// not NULL. Returns 0 or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_status_add(
    s: *const mproc_status_t,
    field: c_int,
    delta: i64,
    result: *mut u64,
) -> c_int {
    const F: &str = "mproc_status_add";
    int(F, || {
        let v = field_op(F, get(F, s)?.status(), field, None, delta)?;
        put(result, v);
        Ok(0)
    })
}

/// Reads a counter into `*value`. Returns 0 or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_status_get(
    s: *const mproc_status_t,
    field: c_int,
    value: *mut u64,
) -> c_int {
    const F: &str = "mproc_status_get";
    int(F, || {
        let v = field_op(F, get(F, s)?.status(), field, None, 0)?;
        *out(F, "value", value)? = v;
        Ok(0)
    })
}

/// Writes the status line (what a daemon prints on `SIGUSR1`), NUL
/// terminated, into `buf` of `cap` bytes, e.g. `pid=123 state=running
/// workers=2/2 queued=0 done=10 failed=0 forks=2 uptime=5s rss=2048KiB
/// user=3,0,0,0`, and counts a report. Returns the line's length (without
/// the NUL), or `-EMSGSIZE` when `cap` is too short (nothing counted).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_status_line(
    s: *const mproc_status_t,
    buf: *mut c_char,
    cap: usize,
) -> c_int {
    const F: &str = "mproc_status_line";
    int(F, || {
        let st = get(F, s)?.status();
        st.touch();
        let snap = st.snapshot();
        let mut line = String::with_capacity(160);
        let _ = write!(
            line,
            "{snap} user={},{},{},{}",
            snap.user[0], snap.user[1], snap.user[2], snap.user[3]
        );
        let buf = bytes_mut(F, "buf", buf.cast::<u8>(), cap)?;
        let Some(to) = buf.get_mut(..line.len() + 1) else {
            return Err(Fail::new(
                libc::EMSGSIZE,
                F,
                format_args!(
                    "a status line of {} bytes (and its NUL) does not fit in {cap}",
                    line.len()
                ),
            ));
        };
        to[..line.len()].copy_from_slice(line.as_bytes());
        to[line.len()] = 0;
        st.reports.fetch_add(1, Ordering::Relaxed);
        as_int(F, line.len())
    })
}

/// Frees this process's copy (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_status_free(s: *mut mproc_status_t) {
    free("mproc_status_free", s);
}

// ---------------------------------------------------------------- main loop

/// A daemon's main loop (the crate's `MainLoop`): the signals it takes
/// are blocked and read from a `signalfd`, waited for together with the
/// daemon's descriptors and, with `mproc_main_loop_wait_pool`, its
/// pool's workers. Make it before forking: children start with the
/// signals unblocked. `mproc_main_loop_free` unblocks them. Not
/// thread-safe.
pub struct mproc_main_loop_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_main_loop_t,
    MainLoop,
    0x6d70_7072_6f63_0052,
    "main loop"
);

/// Blocks `signals` (`n` numbers, e.g. `SIGTERM`, `SIGUSR1`) in this
/// thread and opens the loop's `signalfd`. NULL on failure: `-EINVAL` for
/// none, `SIGKILL`/`SIGSTOP` or a bad number.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_main_loop_new(signals: *const c_int, n: usize) -> *mut mproc_main_loop_t {
    const F: &str = "mproc_main_loop_new";
    ptr(F, || {
        let nums = ints(F, "signals", signals, n)?;
        let mut set = SigSet::empty();
        for &sig in nums {
            set.insert(Signal::from_raw(sig).at(F)?);
        }
        Ok(into_raw(MainLoop::new(set).at(F)?))
    })
}

fn ints<'a>(func: &str, what: &str, p: *const c_int, n: usize) -> Res<&'a [c_int]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::inval(
            func,
            format_args!("{what} is NULL with a count of {n}"),
        ));
    }
    // SAFETY: non-null; the caller passes `n` readable ints.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// The loop's signal descriptor, for a program's own `poll`/`epoll`.
/// Owned by the handle: do not close it.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_main_loop_fd(ml: *const mproc_main_loop_t) -> c_int {
    const F: &str = "mproc_main_loop_fd";
    int(F, || Ok(get(F, ml)?.signal_fd().as_raw_fd()))
}

fn wait_common(
    func: &str,
    ml: *const mproc_main_loop_t,
    pool: Option<*const crate::pool::mproc_pool_t>,
    fds: *const c_int,
    nfds: usize,
    timeout_ms: c_int,
    sigs: *mut c_int,
    sigs_cap: usize,
    ready: *mut u64,
) -> Res<c_int> {
    let ml = get(func, ml)?;
    let raw = ints(func, "fds", fds, nfds)?;
    if raw.iter().any(|&fd| fd < 0) {
        return Err(Fail::inval(func, "a descriptor is negative"));
    }
    if sigs_cap > 0 && sigs.is_null() {
        return Err(Fail::inval(func, "sigs is NULL with a capacity"));
    }
    // SAFETY: the caller's open descriptors, which stay open for the call.
    let borrowed: Vec<BorrowedFd<'_>> = raw
        .iter()
        .map(|&fd| unsafe { BorrowedFd::borrow_raw(fd) })
        .collect();
    let t = timeout(timeout_ms);
    let wake = match pool {
        None => ml.wait(&borrowed, t).at(func)?,
        Some(p) => ml
            .wait_pool(crate::pool::pool_of(func, p)?, &borrowed, t)
            .at(func)?,
    };
    let mut mask = 0u64;
    for i in wake.ready().iter() {
        if i < 64 {
            mask |= 1 << i;
        }
    }
    put(ready, mask);
    let mut n = 0usize;
    for info in wake.signals().iter().take(sigs_cap) {
        // SAFETY: `sigs` holds `sigs_cap` writable ints (checked non-null
        // above when `sigs_cap > 0`), and `n < sigs_cap`.
        unsafe { sigs.add(n).write(info.signal.as_raw()) };
        n += 1;
    }
    as_int(func, n)
}

/// Waits until a signal of the loop comes, one of the `nfds` descriptors
/// at `fds` is readable, or `timeout_ms` passes. Up to `sigs_cap` signals
/// received (oldest first; more stay pending) go to `sigs`; bit `i` of
/// `*ready` (if not NULL) is set when `fds[i]` is ready. Returns the
/// number of signals written (0 with `*ready` 0: the time ran out).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_main_loop_wait(
    ml: *const mproc_main_loop_t,
    fds: *const c_int,
    nfds: usize,
    timeout_ms: c_int,
    sigs: *mut c_int,
    sigs_cap: usize,
    ready: *mut u64,
) -> c_int {
    const F: &str = "mproc_main_loop_wait";
    int(F, || {
        wait_common(F, ml, None, fds, nfds, timeout_ms, sigs, sigs_cap, ready)
    })
}

/// `mproc_main_loop_wait` that also watches `pool`'s workers and does the
/// pool's pending work before it returns (a dead worker replaced, a task
/// timed out). As `mproc_main_loop_wait`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_main_loop_wait_pool(
    ml: *const mproc_main_loop_t,
    pool: *const crate::pool::mproc_pool_t,
    fds: *const c_int,
    nfds: usize,
    timeout_ms: c_int,
    sigs: *mut c_int,
    sigs_cap: usize,
    ready: *mut u64,
) -> c_int {
    const F: &str = "mproc_main_loop_wait_pool";
    int(F, || {
        wait_common(
            F,
            ml,
            Some(pool),
            fds,
            nfds,
            timeout_ms,
            sigs,
            sigs_cap,
            ready,
        )
    })
}

/// Closes the signal descriptor, unblocks the loop's signals and frees the
/// handle (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_main_loop_free(ml: *mut mproc_main_loop_t) {
    free("mproc_main_loop_free", ml);
}
