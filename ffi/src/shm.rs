//! Shared memory: `mproc_value_*` (a shared `int64_t` with its lock),
//! `mproc_array_*` (shared `int64_t`s with their lock) and
//! `mproc_shared_memory_*` (named segments of bytes).

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int};

use mproc_rs::shm::{Array, Shareable, SharedMemory, Value};

use crate::error::{Context, Fail, Res, free, get, get_mut, handle, int, into_raw, out, ptr, text};

// ---------------------------------------------------------------- Value

/// A shared `int64_t` with its own lock (Python's `Value('q', 0)`).
/// Made by `mproc_value_new` before forking; each process frees its
/// copy with `mproc_value_free`. Thread-safe.
pub struct mproc_value_t {
    _opaque: [u8; 0],
}

handle!(mproc_value_t, Value<i64>, 0x6d70_7072_6f63_0030, "value");

/// Makes a shared value holding `initial`. NULL on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_value_new(initial: i64) -> *mut mproc_value_t {
    const F: &str = "mproc_value_new";
    ptr(F, || Ok(into_raw(Value::new(initial).at(F)?)))
}

/// Reads the value under its lock into `*out`. Returns 0 or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_value_get(v: *const mproc_value_t, value: *mut i64) -> c_int {
    const F: &str = "mproc_value_get";
    int(F, || {
        let v = get(F, v)?;
        *out(F, "value", value)? = v.get();
        Ok(0)
    })
}

/// Writes the value under its lock. Returns 0 or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_value_set(v: *const mproc_value_t, value: i64) -> c_int {
    const F: &str = "mproc_value_set";
    int(F, || {
        get(F, v)?.set(value);
        Ok(0)
    })
}

/// Adds `delta` under the lock (Python's `with v.get_lock(): v.value +=
/// delta`, wrapping on overflow) and stores the new value in `*result` if
/// it is not NULL. Returns 0 or `-EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_value_add(v: *const mproc_value_t, delta: i64, result: *mut i64) -> c_int {
    const F: &str = "mproc_value_add";
    int(F, || {
        let v = get(F, v)?;
        let mut guard = v.lock().unwrap_or_else(|died| died.into_guard());
        *guard = guard.wrapping_add(delta);
        crate::error::put(result, *guard);
        Ok(0)
    })
}

/// Frees this process's copy (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_value_free(v: *mut mproc_value_t) {
    free("mproc_value_free", v);
}

// ---------------------------------------------------------------- Array

/// The largest array `mproc_array_new` makes, in elements.
pub const MPROC_ARRAY_MAX: usize = 131_072;

/// An array of one of the segment sizes, and its length.
pub struct ArrayCell {
    len: usize,
    data: Sized64,
}

enum Sized64 {
    A64(Array<i64, 64>),
    A1K(Array<i64, 1024>),
    A16K(Array<i64, 16384>),
    A128K(Array<i64, MPROC_ARRAY_MAX>),
}

macro_rules! each_array {
    ($data:expr, $a:ident => $e:expr) => {
        match $data {
            Sized64::A64($a) => $e,
            Sized64::A1K($a) => $e,
            Sized64::A16K($a) => $e,
            Sized64::A128K($a) => $e,
        }
    };
}

/// Shared `int64_t`s with one lock (Python's `Array('q', n)`), zeroed.
/// Made by `mproc_array_new` before forking; each process frees its
/// copy. Thread-safe.
pub struct mproc_array_t {
    _opaque: [u8; 0],
}

handle!(mproc_array_t, ArrayCell, 0x6d70_7072_6f63_0031, "array");

/// Makes a shared array of `len` zeroed `int64_t`s (1 to
/// `MPROC_ARRAY_MAX`). NULL on failure: `-EINVAL` for 0, `-ENOSPC` past
/// the maximum.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_array_new(len: usize) -> *mut mproc_array_t {
    const F: &str = "mproc_array_new";
    ptr(F, || {
        let data = match len {
            0 => return Err(Fail::inval(F, "an array has at least one element")),
            1..=64 => Sized64::A64(Array::from_fn(|_| 0).at(F)?),
            65..=1024 => Sized64::A1K(Array::from_fn(|_| 0).at(F)?),
            1025..=16384 => Sized64::A16K(Array::from_fn(|_| 0).at(F)?),
            16385..=MPROC_ARRAY_MAX => Sized64::A128K(Array::from_fn(|_| 0).at(F)?),
            _ => {
                return Err(Fail::new(
                    libc::ENOSPC,
                    F,
                    format_args!(
                        "an array of {len} elements: at most MPROC_ARRAY_MAX ({MPROC_ARRAY_MAX}); use mproc_shared_memory_create for more"
                    ),
                ));
            }
        };
        Ok(into_raw::<mproc_array_t>(ArrayCell { len, data }))
    })
}

fn index(func: &str, a: &ArrayCell, i: usize) -> Res<usize> {
    if i < a.len {
        Ok(i)
    } else {
        Err(Fail::new(
            libc::ERANGE,
            func,
            format_args!("index {i} out of range for an array of length {}", a.len),
        ))
    }
}

/// The array's length, or 0 for a bad handle.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_array_len(a: *const mproc_array_t) -> usize {
    const F: &str = "mproc_array_len";
    crate::error::call(F, |_| 0, || Ok(get(F, a)?.len))
}

/// Reads element `i` into `*value`. Returns 0, or `-ERANGE` past the end.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_array_get(a: *const mproc_array_t, i: usize, value: *mut i64) -> c_int {
    const F: &str = "mproc_array_get";
    int(F, || {
        let a = get(F, a)?;
        let i = index(F, a, i)?;
        let v = each_array!(&a.data, x => x.get(i)).unwrap_or(0);
        *out(F, "value", value)? = v;
        Ok(0)
    })
}

/// Writes element `i`. Returns 0, or `-ERANGE` past the end.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_array_set(a: *const mproc_array_t, i: usize, value: i64) -> c_int {
    const F: &str = "mproc_array_set";
    int(F, || {
        let a = get(F, a)?;
        let i = index(F, a, i)?;
        each_array!(&a.data, x => x.set(i, value)).at(F)?;
        Ok(0)
    })
}

/// Adds `delta` to element `i` under the array's lock, storing the new
/// value in `*result` if not NULL. Returns 0, or `-ERANGE`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_array_add(
    a: *const mproc_array_t,
    i: usize,
    delta: i64,
    result: *mut i64,
) -> c_int {
    const F: &str = "mproc_array_add";
    int(F, || {
        let a = get(F, a)?;
        let i = index(F, a, i)?;
        let new = each_array!(&a.data, x => {
            let mut g = x.lock().unwrap_or_else(|died| died.into_guard());
            g[i] = g[i].wrapping_add(delta);
            g[i]
        });
        crate::error::put(result, new);
        Ok(0)
    })
}

/// Frees this process's copy (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_array_free(a: *mut mproc_array_t) {
    free("mproc_array_free", a);
}

// ---------------------------------------------------------------- SharedMemory

/// `N` bytes a C program reads and writes through a pointer.
#[repr(C, align(64))]
pub struct Bytes<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: plain bytes: every bit pattern (all-zero included) is valid, no
// pointer, no drop glue; the crate only maps them and never reads them, the
// C program synchronizes its own accesses (as with any shm_open segment).
unsafe impl<const N: usize> Shareable for Bytes<N> {}
// SAFETY: see above: the crate never touches the bytes; the C program
// synchronizes its accesses.
unsafe impl<const N: usize> Sync for Bytes<N> {}

/// The largest named segment, in bytes (the sizes are 4 KiB, 64 KiB, 1 MiB,
/// 16 MiB, 256 MiB; a segment has the smallest that holds the size asked).
pub const MPROC_SHARED_MEMORY_MAX: usize = 256 << 20;

/// A named segment of one of the sizes.
pub struct Segment(Sized8);

enum Sized8 {
    K4(SharedMemory<Bytes<4096>>),
    K64(SharedMemory<Bytes<65536>>),
    M1(SharedMemory<Bytes<{ 1 << 20 }>>),
    M16(SharedMemory<Bytes<{ 16 << 20 }>>),
    M256(SharedMemory<Bytes<MPROC_SHARED_MEMORY_MAX>>),
}

macro_rules! each_segment {
    ($seg:expr, $s:ident => $e:expr) => {
        match $seg {
            Sized8::K4($s) => $e,
            Sized8::K64($s) => $e,
            Sized8::M1($s) => $e,
            Sized8::M16($s) => $e,
            Sized8::M256($s) => $e,
        }
    };
}

impl Segment {
    /// Opens `name` whatever its size class: the first class whose header
    /// matches (the largest class's error when none does).
    fn open_any(func: &str, name: &str) -> Res<Segment> {
        fn class<T>(
            r: mproc_rs::Result<T>,
            wrap: fn(T) -> Sized8,
        ) -> Option<mproc_rs::Result<Segment>> {
            match r {
                Err(e) if matches!(e.kind(), mproc_rs::ErrorKind::LayoutMismatch { .. }) => None,
                r => Some(r.map(|seg| Segment(wrap(seg)))),
            }
        }
        class(SharedMemory::open(name), Sized8::K4)
            .or_else(|| class(SharedMemory::open(name), Sized8::K64))
            .or_else(|| class(SharedMemory::open(name), Sized8::M1))
            .or_else(|| class(SharedMemory::open(name), Sized8::M16))
            .unwrap_or_else(|| SharedMemory::open(name).map(|seg| Segment(Sized8::M256(seg))))
            .at(func)
    }

    fn make(func: &str, size: usize, create: bool, name: &str) -> Res<Segment> {
        macro_rules! one {
            ($v:ident) => {
                if create {
                    Sized8::$v(SharedMemory::create_zeroed(name).at(func)?)
                } else {
                    Sized8::$v(SharedMemory::open(name).at(func)?)
                }
            };
        }
        Ok(Segment(match size {
            0 => return Err(Fail::inval(func, "a segment has at least one byte")),
            1..=4096 => one!(K4),
            4097..=65536 => one!(K64),
            65537..=0x10_0000 => one!(M1),
            0x10_0001..=0x100_0000 => one!(M16),
            0x100_0001..=MPROC_SHARED_MEMORY_MAX => one!(M256),
            _ => {
                return Err(Fail::new(
                    libc::ENOSPC,
                    func,
                    format_args!(
                        "named segment {name}: {size} bytes, at most MPROC_SHARED_MEMORY_MAX ({MPROC_SHARED_MEMORY_MAX})"
                    ),
                ));
            }
        }))
    }

    fn buf(&self) -> *mut u8 {
        each_segment!(&self.0, s => s.0.get().cast::<u8>())
    }

    fn size(&self) -> usize {
        each_segment!(&self.0, s => std::mem::size_of_val(&**s))
    }
}

/// A named shared-memory segment of bytes (Python's
/// `shared_memory.SharedMemory`), for unrelated processes: `/dev/shm`
/// holds it under its name, mode 0600, with a checked header. The
/// handle that created it owns the name: its `mproc_shared_memory_free`
/// removes it (forked copies do not). The bytes are yours to
/// synchronize (a `mproc_lock_t`, or atomics). Not thread-safe.
pub struct mproc_shared_memory_t {
    _opaque: [u8; 0],
}

handle!(
    mproc_shared_memory_t,
    Segment,
    0x6d70_7072_6f63_0032,
    "shared memory"
);

/// Creates the segment `name` (`"/name"`) of at least `size` bytes,
/// zeroed. NULL on failure: `-EEXIST` when the name is taken, `-ESTALE` for
/// a leftover of a dead owner, `-EINVAL` for a bad name or size 0,
/// `-ENOSPC` past `MPROC_SHARED_MEMORY_MAX`.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_shared_memory_create(
    name: *const c_char,
    size: usize,
) -> *mut mproc_shared_memory_t {
    const F: &str = "mproc_shared_memory_create";
    ptr(F, || {
        let name = text(F, "name", name)?;
        Ok(into_raw::<mproc_shared_memory_t>(Segment::make(
            F, size, true, name,
        )?))
    })
}

/// Opens the existing segment `name` (Python's `SharedMemory(name)`):
/// `size` 0 takes it whatever its size; otherwise it must have been created
/// with a size of the same class. NULL on failure: `-ENOENT`; `-EPROTO`
/// when its header does not match (another size class, not an mproc
/// segment).
#[unsafe(no_mangle)]
pub extern "C" fn mproc_shared_memory_open(
    name: *const c_char,
    size: usize,
) -> *mut mproc_shared_memory_t {
    const F: &str = "mproc_shared_memory_open";
    ptr(F, || {
        let name = text(F, "name", name)?;
        let seg = if size == 0 {
            Segment::open_any(F, name)?
        } else {
            Segment::make(F, size, false, name)?
        };
        Ok(into_raw::<mproc_shared_memory_t>(seg))
    })
}

/// The segment's bytes (Python's `buf`): valid until this handle is freed.
/// NULL for a bad handle.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_shared_memory_buf(s: *const mproc_shared_memory_t) -> *mut u8 {
    const F: &str = "mproc_shared_memory_buf";
    ptr(F, || Ok(get(F, s)?.buf()))
}

/// The segment's size (at least the size asked for), or 0 for a bad handle.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_shared_memory_size(s: *const mproc_shared_memory_t) -> usize {
    const F: &str = "mproc_shared_memory_size";
    crate::error::call(F, |_| 0, || Ok(get(F, s)?.size()))
}

/// Removes the segment's name now (Python's `unlink()`); mappings stay
/// valid. Returns 0 or a negative code.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_shared_memory_unlink(s: *mut mproc_shared_memory_t) -> c_int {
    const F: &str = "mproc_shared_memory_unlink";
    int(F, || {
        each_segment!(&mut get_mut(F, s)?.0, x => x.unlink()).at(F)?;
        Ok(0)
    })
}

/// Unmaps and frees this handle (NULL is ignored); the creating handle also
/// removes the name.
#[unsafe(no_mangle)]
pub extern "C" fn mproc_shared_memory_free(s: *mut mproc_shared_memory_t) {
    free("mproc_shared_memory_free", s);
}
