//! [`Value`], [`Array`] (with a lock) and [`RawValue`], [`RawArray`]
//! (without): Python's `multiprocessing.Value`, `Array`, `RawValue`,
//! `RawArray`.

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::{Shareable, segment_error};
use crate::sync::{Lock, LockGuard, LockResult, OwnerDied};
use crate::sys::mem::{SharedCell, SharedRegion, cells_get_mut, cells_get_ref};

/// A lock and what it protects, side by side in one segment.
#[repr(C)]
struct Locked<D> {
    lock: Lock,
    data: D,
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of a Lock and a Shareable payload (cells of Shareable
// values): no pointers, no drop glue, every bit pattern valid.
unsafe impl<D: Shareable> Shareable for Locked<D> {}

fn lock_result<'a, G>(
    taken: LockResult<LockGuard<'a>>,
    wrap: impl FnOnce(LockGuard<'a>) -> G,
) -> LockResult<G> {
    match taken {
        Ok(guard) => Ok(wrap(guard)),
        Err(died) => Err(died.map(wrap)),
    }
}

fn index_error(op: &'static str, index: usize, len: usize) -> Error {
    Error::new(
        op,
        Resource::Container {
            what: "Array",
            capacity: len,
        },
        ErrorKind::IndexOutOfRange { index, len },
    )
}

// ------------------------------------------------------------------ Value

/// One shared value with its own lock (Python's `Value(typecode, v)`, whose
/// default is `lock=True`).
///
/// [`Value::get`] and [`Value::set`] each take the lock for the one access
/// (Python's `.value`). For read-modify-write, hold the lock: [`Value::lock`]
/// gives a guard that derefs to the value (Python's
/// `with v.get_lock(): v.value += 1`).
///
/// A holder that died: `lock` reports it ([`OwnerDied`]); `get` and `set`
/// go ahead (the value is plain data, valid whatever was half-written) and
/// leave [`Lock::is_consistent`] false for whoever checks.
pub struct Value<T: Shareable + Copy> {
    region: SharedRegion<Locked<SharedCell<T>>>,
}

impl<T: Shareable + Copy> Value<T> {
    /// A shared value holding `value`.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`).
    pub fn new(value: T) -> Result<Value<T>> {
        let region = SharedRegion::new(Locked {
            lock: Lock::new(),
            data: SharedCell::new(value),
        })
        .map_err(segment_error::<Locked<SharedCell<T>>>)?;
        Ok(Value { region })
    }

    fn cell(&self) -> &SharedCell<T> {
        &self.region.get().data
    }

    /// The lock (Python's `get_lock()`).
    ///
    /// **Not re-entrant**, unlike Python's default `RLock`: [`Value::get`]
    /// and [`Value::set`] take this same lock, so calling them while you
    /// hold it waits forever. Python's `with v.get_lock(): v.value += 1` is
    /// `*v.lock()? += 1` here (the guard gives the value).
    pub fn get_lock(&self) -> &Lock {
        &self.region.get().lock
    }

    /// Reads the value under the lock (Python's `v.value`).
    pub fn get(&self) -> T {
        let _held = self.get_lock().lock().unwrap_or_else(OwnerDied::into_guard);
        self.cell().load()
    }

    /// Writes the value under the lock (Python's `v.value = x`).
    pub fn set(&self, value: T) {
        let _held = self.get_lock().lock().unwrap_or_else(OwnerDied::into_guard);
        self.cell().store(value);
    }

    /// Takes the lock and gives access to the value until the guard drops.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (holding the guard) when the lock was taken over from a
    /// process that died holding it.
    pub fn lock(&self) -> LockResult<ValueGuard<'_, T>> {
        lock_result(self.get_lock().lock(), |guard| ValueGuard {
            guard,
            cell: self.cell(),
        })
    }
}

impl<T: Shareable + Copy + std::fmt::Debug> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Value").field(&self.get()).finish()
    }
}

/// The lock of a [`Value`], held; derefs to the value.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Shareable + Copy> {
    guard: LockGuard<'a>,
    cell: &'a SharedCell<T>,
}

impl<T: Shareable + Copy> ValueGuard<'_, T> {
    /// The lock guard (e.g. to [`LockGuard::mark_consistent`]).
    pub fn lock_guard(&self) -> &LockGuard<'_> {
        &self.guard
    }
}

impl<T: Shareable + Copy> std::ops::Deref for ValueGuard<'_, T> {
    type Target = T;
    #[allow(unsafe_code)]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the value's lock, which every access to
        // the cell in every process takes (Value has no unlocked access).
        unsafe { self.cell.get_ref() }
    }
}

impl<T: Shareable + Copy> std::ops::DerefMut for ValueGuard<'_, T> {
    #[allow(unsafe_code)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // handed out by this guard.
        unsafe { self.cell.get_mut() }
    }
}

// ------------------------------------------------------------------ Array

/// `N` shared values with one lock (Python's `Array(typecode, …)`, whose
/// default is `lock=True`).
///
/// [`Array::get`] and [`Array::set`] take the lock for one element; hold
/// [`Array::lock`] to work on several (the guard derefs to `[T; N]`).
pub struct Array<T: Shareable + Copy, const N: usize> {
    region: SharedRegion<Locked<[SharedCell<T>; N]>>,
}

impl<T: Shareable + Copy, const N: usize> Array<T, N> {
    /// A shared array holding `values`.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`).
    pub fn new(values: [T; N]) -> Result<Array<T, N>> {
        Array::from_fn(|i| values[i])
    }

    /// A shared array whose element `i` is `f(i)` (Python's
    /// `Array('i', range(10))` is `Array::from_fn(|i| i as i32)`). Built in
    /// place: fine for arrays too big for the stack.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`).
    pub fn from_fn(mut f: impl FnMut(usize) -> T) -> Result<Array<T, N>> {
        let region = SharedRegion::<Locked<[SharedCell<T>; N]>>::zeroed()
            .map_err(segment_error::<Locked<[SharedCell<T>; N]>>)?;
        for (i, cell) in region.get().data.iter().enumerate() {
            cell.store(f(i));
        }
        Ok(Array { region })
    }

    fn cells(&self) -> &[SharedCell<T>; N] {
        &self.region.get().data
    }

    /// The lock (Python's `get_lock()`). **Not re-entrant**: see
    /// [`Value::get_lock`]; hold [`Array::lock`] instead to work on the
    /// elements.
    pub fn get_lock(&self) -> &Lock {
        &self.region.get().lock
    }

    /// The length, `N` (Python's `len(arr)`).
    pub const fn len(&self) -> usize {
        N
    }

    /// Whether `N` is 0.
    pub const fn is_empty(&self) -> bool {
        N == 0
    }

    /// Element `index`, read under the lock; `None` past the end (Python's
    /// `arr[i]`).
    pub fn get(&self, index: usize) -> Option<T> {
        let cell = self.cells().get(index)?;
        let _held = self.get_lock().lock().unwrap_or_else(OwnerDied::into_guard);
        Some(cell.load())
    }

    /// Writes element `index` under the lock (Python's `arr[i] = x`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::IndexOutOfRange`] past the end; nothing is written.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        let cell = self
            .cells()
            .get(index)
            .ok_or_else(|| index_error("Array::set", index, N))?;
        let _held = self.get_lock().lock().unwrap_or_else(OwnerDied::into_guard);
        cell.store(value);
        Ok(())
    }

    /// A copy of all elements, taken under the lock (Python's `arr[:]`).
    pub fn to_array(&self) -> [T; N] {
        let guard = self.lock().unwrap_or_else(OwnerDied::into_guard);
        *guard
    }

    /// Takes the lock and gives access to all elements until the guard
    /// drops.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (holding the guard) when the lock was taken over from a
    /// process that died holding it.
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T, N>> {
        lock_result(self.get_lock().lock(), |guard| ArrayGuard {
            guard,
            cells: self.cells(),
        })
    }
}

impl<T: Shareable + Copy + std::fmt::Debug, const N: usize> std::fmt::Debug for Array<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Array").field(&self.to_array()).finish()
    }
}

/// The lock of an [`Array`], held; derefs to `[T; N]`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Shareable + Copy, const N: usize> {
    guard: LockGuard<'a>,
    cells: &'a [SharedCell<T>; N],
}

impl<T: Shareable + Copy, const N: usize> ArrayGuard<'_, T, N> {
    /// The lock guard (e.g. to [`LockGuard::mark_consistent`]).
    pub fn lock_guard(&self) -> &LockGuard<'_> {
        &self.guard
    }
}

impl<T: Shareable + Copy, const N: usize> std::ops::Deref for ArrayGuard<'_, T, N> {
    type Target = [T; N];
    #[allow(unsafe_code)]
    fn deref(&self) -> &[T; N] {
        // SAFETY: the guard holds the array's lock, which every access to
        // its cells in every process takes (Array has no unlocked access).
        unsafe { cells_get_ref(self.cells) }
    }
}

impl<T: Shareable + Copy, const N: usize> std::ops::DerefMut for ArrayGuard<'_, T, N> {
    #[allow(unsafe_code)]
    fn deref_mut(&mut self) -> &mut [T; N] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // handed out by this guard.
        unsafe { cells_get_mut(self.cells) }
    }
}

// --------------------------------------------------------------- RawValue

/// One shared value without a lock (Python's `RawValue`, or `Value(…,
/// lock=False)`): each `get`/`set` is one volatile access, and a
/// read-modify-write from two processes can lose updates — exactly as in
/// Python. A value wider than the machine word may be read half-updated.
pub struct RawValue<T: Shareable + Copy> {
    region: SharedRegion<SharedCell<T>>,
}

impl<T: Shareable + Copy> RawValue<T> {
    /// A shared value holding `value`.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`).
    pub fn new(value: T) -> Result<RawValue<T>> {
        SharedRegion::new(SharedCell::new(value))
            .map(|region| RawValue { region })
            .map_err(segment_error::<T>)
    }

    /// Reads the value.
    pub fn get(&self) -> T {
        self.region.get().load()
    }

    /// Writes the value.
    pub fn set(&self, value: T) {
        self.region.get().store(value);
    }
}

impl<T: Shareable + Copy + std::fmt::Debug> std::fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RawValue").field(&self.get()).finish()
    }
}

// --------------------------------------------------------------- RawArray

/// `N` shared values without a lock (Python's `RawArray`, or `Array(…,
/// lock=False)`); see [`RawValue`] for what that means.
pub struct RawArray<T: Shareable + Copy, const N: usize> {
    region: SharedRegion<[SharedCell<T>; N]>,
}

impl<T: Shareable + Copy, const N: usize> RawArray<T, N> {
    /// A shared array whose element `i` is `f(i)`, built in place.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`).
    pub fn from_fn(mut f: impl FnMut(usize) -> T) -> Result<RawArray<T, N>> {
        let region = SharedRegion::<[SharedCell<T>; N]>::zeroed()
            .map_err(segment_error::<[SharedCell<T>; N]>)?;
        for (i, cell) in region.get().iter().enumerate() {
            cell.store(f(i));
        }
        Ok(RawArray { region })
    }

    /// A shared array holding `values`.
    ///
    /// # Errors
    ///
    /// The kernel's refusal of the mapping (`ENOMEM`).
    pub fn new(values: [T; N]) -> Result<RawArray<T, N>> {
        RawArray::from_fn(|i| values[i])
    }

    /// The length, `N`.
    pub const fn len(&self) -> usize {
        N
    }

    /// Whether `N` is 0.
    pub const fn is_empty(&self) -> bool {
        N == 0
    }

    /// Element `index`; `None` past the end.
    pub fn get(&self, index: usize) -> Option<T> {
        self.region.get().get(index).map(SharedCell::load)
    }

    /// Writes element `index`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::IndexOutOfRange`] past the end; nothing is written.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        let cell = self
            .region
            .get()
            .get(index)
            .ok_or_else(|| index_error("RawArray::set", index, N))?;
        cell.store(value);
        Ok(())
    }

    /// A copy of all elements (element by element, not atomically).
    pub fn to_array(&self) -> [T; N] {
        let cells = self.region.get();
        std::array::from_fn(|i| cells[i].load())
    }
}

impl<T: Shareable + Copy + std::fmt::Debug, const N: usize> std::fmt::Debug for RawArray<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RawArray").field(&self.to_array()).finish()
    }
}
