//! The static worker pool over C functions: `mproc_pool_*`,
//! `mproc_async_result_*`.
//!
//! A task is a C function pointer, a context pointer and input bytes; it
//! writes output bytes. All three travel to a forked worker as numbers and
//! bytes (the crate's serde route, encoded into the pool's shared slots):
//! the worker is a fork of the program, so the function's address is valid
//! there, and so is the context if it points at memory that existed when
//! the pool was made (static data, or a shared segment).

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::time::Duration;

use mproc_rs::pool::{AsyncResult, Pool, TaskError};
use mproc_rs::process;

use crate::error::{
    Context, Fail, Res, bytes, bytes_mut, flag, free, get, get_mut, handle, int, into_raw, out,
    ptr, timeout,
};

/// A C task: reads `in_len` bytes at `in`, writes at most `out_cap` bytes
/// at `out` and their count to `*out_len`, and returns 0, or a negative
/// errno-style code that the caller of `mproc_pool_apply` (or `_get`)
/// receives as is (a positive return is taken as `-EIO`). Runs in a worker
/// process: what it changes in its own memory stays there.
pub type mproc_task_fn = Option<
    unsafe extern "C" fn(
        input: *const u8,
        in_len: usize,
        output: *mut u8,
        out_cap: usize,
        out_len: *mut usize,
        ctx: *mut c_void,
    ) -> c_int,
>;

type RawTask =
    unsafe extern "C" fn(*const u8, usize, *mut u8, usize, *mut usize, *mut c_void) -> c_int;

/// What travels to a worker: the function and the context as numbers, the
/// room for the output, the input.
type Job = (u64, u64, u32, Vec<u8>);
/// What comes back: the output, or the function's negative code.
type Outcome = Result<Vec<u8>, i32>;

/// Runs a C task in a worker.
fn run_task(job: Job) -> Outcome {
    let (f, ctx, cap, input) = job;
    let Ok(addr) = usize::try_from(f) else {
        return Err(-libc::EINVAL);
    };
    // SAFETY: `addr` is a non-null `RawTask` the parent passed to
    // `mproc_pool_apply`/`_map` (checked there); this worker is a fork of
    // that parent, so the code is at the same address.
    let f = unsafe { std::mem::transmute::<usize, RawTask>(addr) };
    let mut output = vec![0u8; cap as usize];
    let mut len = 0usize;
    // SAFETY: the caller's function, called as `mproc_task_fn` documents:
    // `input` and `output` are live buffers of the lengths given.
    let rc = unsafe {
        f(
            input.as_ptr(),
            input.len(),
            output.as_mut_ptr(),
            output.len(),
            &mut len,
            ctx as usize as *mut c_void,
        )
    };
    // SAFETY: fflush(NULL) flushes C stdio: a worker ends with `_exit`.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    match rc {
        0 if len <= output.len() => {
            output.truncate(len);
            Ok(output)
        }
        0 => Err(-libc::EMSGSIZE),
        rc if rc < 0 => Err(rc),
        _ => Err(-libc::EIO),
    }
}

/// What a pool handle holds: the pool, and how many of its async results
/// are still out (the pool is freed only when none is).
pub struct PoolCell {
    outstanding: Cell<usize>,
    pool: Pool,
}

/// A static pool of worker processes (Python's `multiprocessing.Pool`)
/// running C functions over byte buffers. Made by `mproc_pool_new`
/// (which forks the workers: call it before starting threads), freed by
/// `mproc_pool_free` (which stops the workers) after every
/// `mproc_async_result_t` of it was freed. Used only by the process and
/// the thread that made it.
pub struct mproc_pool_t {
    _opaque: [u8; 0],
}

handle!(mproc_pool_t, PoolCell, 0x6d70_7072_6f63_0040, "pool");

/// Forks `processes` workers (0: one per CPU) whose task slots hold
/// `task_bytes` bytes each (0: the build's `MPROC_POOL_TASK_BYTES`): a
/// task's input and then its output, plus about 16 bytes, must fit. NULL on
/// failure (`-EINVAL`, `-ENOSPC` past `MPROC_POOL_MAX_WORKERS`,
/// `-EDEADLK` when threads run, `-EPERM` in a daemonic process).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_new(processes: usize, task_bytes: usize) -> *mut mproc_pool_t {
    const F: &str = "mproc_pool_new";
    ptr(F, || {
        let n = if processes == 0 {
            process::cpu_count().at(F)?
        } else {
            processes
        };
        let mut b = Pool::builder().processes(n);
        if task_bytes != 0 {
            b = b.task_bytes(task_bytes);
        }
        // SAFETY: fflush(NULL): nothing buffered in C stdio is copied into
        // the workers and printed twice.
        unsafe { libc::fflush(std::ptr::null_mut()) };
        Ok(into_raw::<mproc_pool_t>(PoolCell {
            outstanding: Cell::new(0),
            pool: b.build().at(F)?,
        }))
    })
}

fn job(
    func: &str,
    f: mproc_task_fn,
    ctx: *mut c_void,
    input: *const u8,
    in_len: usize,
    out_cap: usize,
) -> Res<Job> {
    let f = f.ok_or_else(|| Fail::inval(func, "the task function is NULL"))?;
    let cap = u32::try_from(out_cap).map_err(|_| {
        Fail::new(
            libc::EMSGSIZE,
            func,
            format_args!("an output capacity of {out_cap} bytes: at most 4 GiB"),
        )
    })?;
    Ok((
        f as usize as u64,
        ctx as usize as u64,
        cap,
        bytes(func, "input", input, in_len)?.to_vec(),
    ))
}

fn task_fail(func: &str, e: &TaskError) -> Fail {
    let err = e.error();
    let msg = e.message();
    let mut fail = Fail::from_error(func, &err);
    if !msg.is_empty() {
        fail = Fail::new(-fail.neg(), func, format_args!("{err}: {msg}"));
    }
    fail
}

/// Copies an outcome to the caller's buffer.
fn deliver(
    func: &str,
    o: Outcome,
    output: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> Res<c_int> {
    let bytes = o.map_err(|code| {
        Fail::new(
            -code,
            func,
            format_args!("the task function returned {code}"),
        )
    })?;
    let out_len = out(func, "out_len", out_len)?;
    let buf = bytes_mut(func, "output", output, out_cap)?;
    let to = buf.get_mut(..bytes.len()).ok_or_else(|| {
        Fail::new(
            libc::EMSGSIZE,
            func,
            format_args!(
                "an output of {} bytes does not fit in {out_cap}",
                bytes.len()
            ),
        )
    })?;
    to.copy_from_slice(&bytes);
    *out_len = bytes.len();
    Ok(0)
}

/// Runs `f(input, in_len, output, out_cap, out_len, ctx)` in a worker and
/// waits for it (Python's `apply(f, (arg,))`). Returns 0 with the output
/// in `output` and its length in `*out_len`; the function's own negative
/// code; `-EMSGSIZE` when the input or output does not fit a task slot
/// (`task_bytes`) or `out_cap`; `-ECHILD` when the worker died during the
/// task (it is replaced); `-ESHUTDOWN` after `mproc_pool_close`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_apply(
    pool: *const mproc_pool_t,
    f: mproc_task_fn,
    ctx: *mut c_void,
    input: *const u8,
    in_len: usize,
    output: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> c_int {
    const F: &str = "mproc_pool_apply";
    int(F, || {
        let cell = get(F, pool)?;
        let job = job(F, f, ctx, input, in_len, out_cap)?;
        let o = cell
            .pool
            .apply_value(run_task, job)
            .map_err(|e| task_fail(F, &e))?;
        deliver(F, o, output, out_cap, out_len)
    })
}

/// What an async result handle holds.
pub struct ResultCell {
    result: Option<
        AsyncResult<
            'static,
            Outcome,
            { mproc_rs::config::POOL_SLOTS },
            { mproc_rs::config::POOL_TASK_BYTES },
        >,
    >,
    pool: *const PoolCell,
    out_cap: usize,
}

impl Drop for ResultCell {
    fn drop(&mut self) {
        // The result borrows the pool: let it go first.
        self.result = None;
        // SAFETY: the pool handle outlives its results (mproc_pool_free
        // refuses while any is out).
        let pool = unsafe { &*self.pool };
        pool.outstanding
            .set(pool.outstanding.get().saturating_sub(1));
    }
}

/// A task submitted with `mproc_pool_apply_async` (Python's
/// `AsyncResult`). Freed by `mproc_async_result_free`, before its pool;
/// freeing it uncollected lets the task run to its end unobserved.
pub struct mproc_async_result_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_async_result_t,
    ResultCell,
    0x6d70_7072_6f63_0041,
    "async result"
);

/// Queues `f` over `input` for a worker and returns at once (Python's
/// `apply_async`); the output, at most `out_cap` bytes, is collected by
/// `mproc_async_result_get`. NULL on failure (as `mproc_pool_apply`;
/// `-ENOSPC` when every task slot waits for a result not yet collected).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_apply_async(
    pool: *const mproc_pool_t,
    f: mproc_task_fn,
    ctx: *mut c_void,
    input: *const u8,
    in_len: usize,
    out_cap: usize,
) -> *mut mproc_async_result_t {
    const F: &str = "mproc_pool_apply_async";
    ptr(F, || {
        let cell = get(F, pool)?;
        let job = job(F, f, ctx, input, in_len, out_cap)?;
        let result = cell.pool.apply_async_value(run_task, job).at(F)?;
        // SAFETY: the result borrows `cell.pool`, which lives in its boxed
        // handle at a fixed address until `mproc_pool_free`, which refuses
        // while this result is out (counted below, uncounted by its Drop).
        let result = unsafe {
            std::mem::transmute::<AsyncResult<'_, Outcome, _, _>, AsyncResult<'static, Outcome, _, _>>(
                result,
            )
        };
        cell.outstanding.set(cell.outstanding.get() + 1);
        Ok(into_raw::<mproc_async_result_t>(ResultCell {
            result: Some(result),
            pool: cell,
            out_cap,
        }))
    })
}

/// Whether the task has ended (Python's `ready()`): 1 or 0.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_async_result_ready(r: *const mproc_async_result_t) -> c_int {
    const F: &str = "mproc_async_result_ready";
    int(F, || {
        Ok(flag(get(F, r)?.result.as_ref().is_none_or(|r| r.ready())))
    })
}

/// Waits at most `timeout_ms` for the task and copies its output to
/// `output` (Python's `get(timeout)`). Returns as `mproc_pool_apply`, or
/// `-ETIMEDOUT` (the task runs on: call again), or `-EINVAL` once the
/// result was taken.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_async_result_get(
    r: *mut mproc_async_result_t,
    output: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    timeout_ms: c_int,
) -> c_int {
    const F: &str = "mproc_async_result_get";
    int(F, || {
        let cell = get_mut(F, r)?;
        let _ = cell.out_cap;
        let result = cell
            .result
            .as_mut()
            .ok_or_else(|| Fail::inval(F, "the result was taken already"))?;
        let t = timeout(timeout_ms);
        let o = match t {
            None => {
                result.wait().at(F)?;
                result.get_timeout(Duration::ZERO)
            }
            Some(t) => result.get_timeout(t),
        };
        let o = o.map_err(|e| {
            if e.kind() == mproc_rs::ErrorKind::Timeout && timeout_ms == 0 {
                Fail::with_code(F, &e.error(), libc::EAGAIN)
            } else {
                task_fail(F, &e)
            }
        })?;
        deliver(F, o, output, out_cap, out_len)
    })
}

/// Frees the result (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_async_result_free(r: *mut mproc_async_result_t) {
    free("mproc_async_result_free", r);
}

/// Runs `f` over `n` inputs of `item_len` bytes each, laid out one after
/// the other at `inputs` (an array of C structs), in the workers, and
/// waits for all (Python's `map`). Output `i` goes to `outputs + i *
/// out_item_cap` and its length to `out_lens[i]`. Returns 0; or the first
/// failure in input order (a task function's code, or as
/// `mproc_pool_apply`), the other items' outputs written all the same.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_map(
    pool: *const mproc_pool_t,
    f: mproc_task_fn,
    ctx: *mut c_void,
    inputs: *const u8,
    item_len: usize,
    n: usize,
    outputs: *mut u8,
    out_item_cap: usize,
    out_lens: *mut usize,
) -> c_int {
    const F: &str = "mproc_pool_map";
    int(F, || {
        let cell = get(F, pool)?;
        let total = item_len
            .checked_mul(n)
            .ok_or_else(|| Fail::inval(F, "item_len * n overflows"))?;
        let all_in = bytes(F, "inputs", inputs, total)?;
        let out_total = out_item_cap
            .checked_mul(n)
            .ok_or_else(|| Fail::inval(F, "out_item_cap * n overflows"))?;
        let all_out = bytes_mut(F, "outputs", outputs, out_total)?;
        if n > 0 && out_lens.is_null() {
            return Err(Fail::inval(F, "out_lens is NULL"));
        }
        if n == 0 {
            return Ok(0);
        }
        let first = job(F, f, ctx, inputs, 0, out_item_cap)?;
        let jobs = (0..n).map(|i| {
            let input = if item_len == 0 {
                Vec::new()
            } else {
                all_in[i * item_len..(i + 1) * item_len].to_vec()
            };
            (first.0, first.1, first.2, input)
        });
        let outcomes = cell
            .pool
            .map_values(run_task, jobs, None)
            .map_err(|e| task_fail(F, &e))?;
        // SAFETY: non-null (checked above); the caller passes `n` writable
        // lengths.
        let lens = unsafe { std::slice::from_raw_parts_mut(out_lens, n) };
        let mut failed = None;
        for (i, o) in outcomes.into_iter().enumerate() {
            let to = &mut all_out[i * out_item_cap..(i + 1) * out_item_cap];
            match o {
                Ok(bytes) if bytes.len() <= to.len() => {
                    to[..bytes.len()].copy_from_slice(&bytes);
                    lens[i] = bytes.len();
                }
                Ok(bytes) => {
                    lens[i] = 0;
                    failed.get_or_insert(Fail::new(
                        libc::EMSGSIZE,
                        F,
                        format_args!(
                            "item {i}: an output of {} bytes does not fit in {out_item_cap}",
                            bytes.len()
                        ),
                    ));
                }
                Err(code) => {
                    lens[i] = 0;
                    failed.get_or_insert(Fail::new(
                        -code,
                        F,
                        format_args!("item {i}: the task function returned {code}"),
                    ));
                }
            }
        }
        failed.map_or(Ok(0), Err)
    })
}

/// Takes no more tasks (Python's `close()`); queued ones run. Returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_close(pool: *const mproc_pool_t) -> c_int {
    const F: &str = "mproc_pool_close";
    int(F, || {
        get(F, pool)?.pool.close();
        Ok(0)
    })
}

/// Stops the workers now (Python's `terminate()`); unfinished tasks fail
/// with `-ECANCELED`. Returns 0 or a negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_terminate(pool: *const mproc_pool_t) -> c_int {
    const F: &str = "mproc_pool_terminate";
    int(F, || {
        get(F, pool)?.pool.terminate().at(F)?;
        Ok(0)
    })
}

/// Waits for the workers to end after `mproc_pool_close` or
/// `_terminate` (Python's `join()`), at most `timeout_ms`. Returns 0,
/// `-ETIMEDOUT`, or `-EINVAL` while the pool still takes tasks.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_join(pool: *const mproc_pool_t, timeout_ms: c_int) -> c_int {
    const F: &str = "mproc_pool_join";
    int(F, || {
        let pool = &get(F, pool)?.pool;
        match timeout(timeout_ms) {
            None => pool.join().at(F)?,
            Some(t) => {
                if !pool.join_timeout(t).at(F)? {
                    return Err(Fail::new(
                        libc::ETIMEDOUT,
                        F,
                        format_args!("workers still running after {timeout_ms} ms"),
                    ));
                }
            }
        }
        Ok(0)
    })
}

/// The number of workers, or a negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_processes(pool: *const mproc_pool_t) -> c_int {
    const F: &str = "mproc_pool_processes";
    int(F, || {
        crate::error::as_int(F, get(F, pool)?.pool.processes())
    })
}

/// Stops the workers and frees the pool (NULL is ignored). Returns 0, or
/// `-EBUSY` (and frees nothing) while an `mproc_async_result_t` of it is
/// not freed.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_pool_free(pool: *mut mproc_pool_t) -> c_int {
    const F: &str = "mproc_pool_free";
    int(F, || {
        if pool.is_null() {
            return Ok(0);
        }
        let n = get(F, pool)?.outstanding.get();
        if n > 0 {
            return Err(Fail::new(
                libc::EBUSY,
                F,
                format_args!("{n} async results of this pool are not freed"),
            ));
        }
        free(F, pool);
        Ok(0)
    })
}

/// The main loop's view of a pool.
pub(crate) fn pool_of<'a>(func: &str, pool: *const mproc_pool_t) -> Res<&'a Pool> {
    Ok(&get(func, pool)?.pool)
}
