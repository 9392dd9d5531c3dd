//! Processes and signals: `mproc_process_*`, `mproc_kill`, `mproc_alarm`,
//! `mproc_pause`, `mproc_signal_flag_*`.

use std::ffi::{c_char, c_int, c_uint, c_void};

use mproc_rs::process::{self, Pid, Process};
use mproc_rs::signal::{self, Signal, SignalFlag};

use crate::error::{
    Context, Fail, Res, flag, free, get, get_mut, handle, int, into_raw, out, ptr, text, timeout,
};

/// A C process body: runs in the child; its return value is the child's
/// exit code (0 to 255).
pub type mproc_target_fn = Option<unsafe extern "C" fn(arg: *mut c_void) -> c_int>;

type Target = Box<dyn FnOnce()>;

/// A child process (Python's `multiprocessing.Process`). Made by
/// `mproc_process_new`, freed by `mproc_process_free` in the process
/// that made it. Freeing a running child's handle does not stop it (as
/// in Python): it runs on and is reaped when it ends, or joined when
/// the program exits. Not thread-safe.
pub struct mproc_process_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_process_t,
    Option<Process<Target>>,
    0x6d70_7072_6f63_0001,
    "process"
);

/// Makes a process that will run `target(arg)` once started (Python's
/// `Process(target=f, args=(arg,))`). `arg` is passed as is: after the fork
/// the child has a copy of the parent's memory, so any pointer valid in the
/// parent at `mproc_process_start` is valid in the child.
///
/// In the child: `target` runs, C's stdio is flushed (`fflush(NULL)`), the
/// children it started with `mproc_process_start` are joined, and it exits
/// with `target`'s return value through `_exit` (the parent's `atexit`
/// handlers do not run in it).
///
/// Returns NULL (with `mproc_last_error`) for a NULL `target`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_new(
    target: mproc_target_fn,
    arg: *mut c_void,
) -> *mut mproc_process_t {
    const F: &str = "mproc_process_new";
    ptr(F, || {
        let target = target.ok_or_else(|| Fail::inval(F, "target is NULL"))?;
        let arg = arg as usize;
        let body: Target = Box::new(move || {
            let parent = Pid::from_raw(std::os::unix::process::parent_id() as i32);
            // SAFETY: the caller's function, called as the header says, with
            // the argument it gave (its memory was copied by the fork).
            let code = unsafe { target(arg as *mut c_void) };
            // SAFETY: fflush(NULL) flushes every C stdio stream; `_exit`
            // follows, which would drop their buffers.
            unsafe { libc::fflush(std::ptr::null_mut()) };
            if code != 0 {
                // As a return would, with this code: join the children
                // this child started, then leave.
                if let Some(parent) = parent {
                    process::join_children_of_fork(parent);
                }
                process::exit(code);
            }
        });
        Ok(into_raw::<mproc_process_t>(Some(Process::new(body))))
    })
}

/// Names the process (Python's `name=`): at most `MPROC_NAME_LEN` bytes.
/// Returns 0, `-EINVAL`, or `-ENOSPC` for a name too long.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_set_name(p: *mut mproc_process_t, name: *const c_char) -> c_int {
    const F: &str = "mproc_process_set_name";
    int(F, || {
        let p = proc_mut(F, get_mut(F, p)?)?;
        p.set_name(text(F, "name", name)?).at(F)?;
        Ok(0)
    })
}

/// Marks the process as a daemon (Python's `daemon=True`): it is killed
/// when its parent dies, and may not start children of its own. Call
/// before `mproc_process_start`. Returns 0 or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_set_daemon(p: *mut mproc_process_t, daemon: bool) -> c_int {
    const F: &str = "mproc_process_set_daemon";
    int(F, || {
        let p = get_mut(F, p)?;
        if proc_mut(F, p)?.pid().is_some() {
            return Err(Fail::inval(F, "the process has been started"));
        }
        *p = p.take().map(|old| old.daemon(daemon));
        Ok(0)
    })
}

/// Forks the child, which runs the target (Python's `start()`). C's stdio
/// is flushed first, so nothing buffered prints twice.
///
/// Returns 0; `-EALREADY` on a second call; `-EPERM` in a daemonic
/// process; `-EDEADLK` when other threads run (a child would inherit their
/// locks held); `-ENOSPC` past `MPROC_MAX_CHILDREN`; `-EAGAIN` when the
/// kernel refuses a process.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_start(p: *mut mproc_process_t) -> c_int {
    const F: &str = "mproc_process_start";
    int(F, || {
        let p = proc_mut(F, get_mut(F, p)?)?;
        // SAFETY: fflush(NULL) flushes every C stdio stream.
        unsafe { libc::fflush(std::ptr::null_mut()) };
        p.start().at(F)?;
        Ok(0)
    })
}

/// Waits for the child to end (Python's `join(timeout)`), at most
/// `timeout_ms` (negative: as long as it takes). On 0 `*exitcode` (if not
/// NULL) is the exit status, or minus the signal that killed it (-9,
/// -15), as Python's `exitcode`.
///
/// Returns 0; `-ETIMEDOUT` when it still runs; `-ECHILD` before
/// `mproc_process_start` or in another process than its parent.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_join(
    p: *mut mproc_process_t,
    timeout_ms: c_int,
    exitcode: *mut c_int,
) -> c_int {
    const F: &str = "mproc_process_join";
    int(F, || {
        let p = proc_ref(F, p)?;
        let code = match timeout(timeout_ms) {
            None => p.join().at(F)?,
            Some(t) => p.join_timeout(t).at(F)?.ok_or_else(|| {
                Fail::new(
                    libc::ETIMEDOUT,
                    F,
                    format_args!(
                        "Process::join_timeout(pid {}): still running after {timeout_ms} ms",
                        raw_pid(p)
                    ),
                )
            })?,
        };
        crate::error::put(exitcode, code);
        Ok(0)
    })
}

fn proc_ref<'a>(func: &str, p: *const mproc_process_t) -> Res<&'a Process<Target>> {
    get(func, p)?
        .as_ref()
        .ok_or_else(|| Fail::inval(func, "the process handle is broken"))
}

fn proc_mut<'a>(func: &str, p: &'a mut Option<Process<Target>>) -> Res<&'a mut Process<Target>> {
    p.as_mut()
        .ok_or_else(|| Fail::inval(func, "the process handle is broken"))
}

fn raw_pid(p: &Process<Target>) -> i32 {
    p.pid().map_or(0, Pid::as_raw)
}

/// The child's pid (Python's `pid`): positive once started, `-ECHILD`
/// before.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_pid(p: *const mproc_process_t) -> c_int {
    const F: &str = "mproc_process_pid";
    int(F, || {
        let p = proc_ref(F, p)?;
        p.pid()
            .map(Pid::as_raw)
            .ok_or_else(|| Fail::new(libc::ECHILD, F, "the process has not been started"))
    })
}

/// The child's exit code without waiting (Python's `exitcode`): 0 with
/// `*exitcode` set once it has ended (reaping it), `-EAGAIN` while it runs,
/// `-ECHILD` before the start.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_exitcode(p: *const mproc_process_t, exitcode: *mut c_int) -> c_int {
    const F: &str = "mproc_process_exitcode";
    int(F, || {
        let p = proc_ref(F, p)?;
        if p.pid().is_none() {
            return Err(Fail::new(
                libc::ECHILD,
                F,
                "the process has not been started",
            ));
        }
        let code = p.exitcode().ok_or_else(|| {
            Fail::new(
                libc::EAGAIN,
                F,
                format_args!("pid {} is still running", raw_pid(p)),
            )
        })?;
        *out(F, "exitcode", exitcode)? = code;
        Ok(0)
    })
}

/// Whether the child runs (Python's `is_alive()`): 1 or 0 (0 before the
/// start), or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_is_alive(p: *const mproc_process_t) -> c_int {
    const F: &str = "mproc_process_is_alive";
    int(F, || Ok(flag(proc_ref(F, p)?.is_alive())))
}

/// Sends `SIGTERM` to the child (Python's `terminate()`); nothing once it
/// has ended. Returns 0, or `-ECHILD` before the start.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_terminate(p: *const mproc_process_t) -> c_int {
    const F: &str = "mproc_process_terminate";
    int(F, || {
        proc_ref(F, p)?.terminate().at(F)?;
        Ok(0)
    })
}

/// Sends `SIGKILL` to the child (Python's `kill()`). As
/// `mproc_process_terminate`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_kill(p: *const mproc_process_t) -> c_int {
    const F: &str = "mproc_process_kill";
    int(F, || {
        proc_ref(F, p)?.kill().at(F)?;
        Ok(0)
    })
}

/// A descriptor that becomes readable when the child ends (Python's
/// `sentinel`): for `poll`/`epoll`. Owned by the handle: do not close it.
/// Returns the descriptor, or `-ECHILD` before the start.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_sentinel(p: *const mproc_process_t) -> c_int {
    const F: &str = "mproc_process_sentinel";
    int(F, || {
        use std::os::fd::AsRawFd;
        Ok(proc_ref(F, p)?.sentinel().at(F)?.as_raw_fd())
    })
}

/// Frees the handle (NULL is ignored). A running child is not stopped: see
/// `mproc_process_t`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_process_free(p: *mut mproc_process_t) {
    free("mproc_process_free", p);
}

/// The number of CPUs this process may run on (Python's
/// `os.process_cpu_count()`; the default size of a pool), or a negative
/// code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_cpu_count() -> c_int {
    const F: &str = "mproc_cpu_count";
    int(F, || crate::error::as_int(F, process::cpu_count().at(F)?))
}

// ---------------------------------------------------------------- signals

fn signal_of(func: &str, sig: c_int) -> Res<Signal> {
    Signal::from_raw(sig).at(func)
}

/// Sends `sig` to process `pid` (Python's `os.kill`); `sig` 0 checks that
/// the process exists. Returns 0, `-ESRCH`, `-EPERM`, or `-EINVAL` for a
/// pid that is not positive or a signal out of 1..64.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_kill(pid: c_int, sig: c_int) -> c_int {
    const F: &str = "mproc_kill";
    int(F, || {
        let target = Pid::from_raw(pid).ok_or_else(|| {
            Fail::inval(
                F,
                format_args!("pid {pid}: a pid is positive (use killpg for groups)"),
            )
        })?;
        if sig == 0 {
            return match process::exists(target).at(F)? {
                true => Ok(0),
                false => Err(Fail::new(
                    libc::ESRCH,
                    F,
                    format_args!("kill(pid {pid}, 0): no such process"),
                )),
            };
        }
        signal::kill(target, signal_of(F, sig)?).at(F)?;
        Ok(0)
    })
}

/// Arms `SIGALRM` in `seconds` (0 cancels); returns the seconds that were
/// left on the previous alarm (Python's `signal.alarm`). Cannot fail.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_alarm(seconds: c_uint) -> c_uint {
    crate::error::call("mproc_alarm", |_| 0, || Ok(signal::alarm(seconds)))
}

/// Sleeps until a signal is delivered (Python's `signal.pause`): returns 0
/// after a handler ran (a signal that kills the process never returns).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pause() -> c_int {
    int("mproc_pause", || {
        signal::pause();
        Ok(0)
    })
}

/// A flag raised by a signal, for a C loop to poll (the signal's
/// handler only sets it). Made by `mproc_signal_flag_new`, freed by
/// `mproc_signal_flag_free`, which removes the handler. Thread-safe.
pub struct mproc_signal_flag_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_signal_flag_t,
    SignalFlag,
    0x6d70_7072_6f63_0002,
    "signal flag"
);

/// Catches `sig` from now on: each delivery raises the flag (the default
/// action, e.g. dying of `SIGTERM`, no longer happens). Python's
/// `signal.signal(sig, handler)` where the handler only records. Returns
/// NULL for `SIGKILL`, `SIGSTOP`, the fault signals or a bad number.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_signal_flag_new(sig: c_int) -> *mut mproc_signal_flag_t {
    const F: &str = "mproc_signal_flag_new";
    ptr(F, || Ok(into_raw(signal::flag(signal_of(F, sig)?).at(F)?)))
}

/// Takes the flag: 1 if the signal came since the last take (and lowers
/// it), 0 if not, or a negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_signal_flag_take(f: *const mproc_signal_flag_t) -> c_int {
    const F: &str = "mproc_signal_flag_take";
    int(F, || Ok(flag(get(F, f)?.take())))
}

/// Whether the flag is raised (1 or 0), without lowering it.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_signal_flag_is_set(f: *const mproc_signal_flag_t) -> c_int {
    const F: &str = "mproc_signal_flag_is_set";
    int(F, || Ok(flag(get(F, f)?.is_set())))
}

/// Removes the handler and frees the flag (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_signal_flag_free(f: *mut mproc_signal_flag_t) {
    free("mproc_signal_flag_free", f);
}
