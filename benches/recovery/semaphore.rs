//! The semaphore's fast path: uncontended acquire + drop of the guard against the previous algorithm, reproduced here as `OldSemaphore`.

use super::*;

/// The semaphore before unit recovery (6dff7f1: `src/sync/semaphore.rs`),
/// its uncontended path exactly: `value` is the futex word, `parked`
/// counts parked waiters, `max` is `u32::MAX` for a `Semaphore` and the
/// bound for a `BoundedSemaphore`.
#[repr(C)]
pub(super) struct OldSemaphore {
    pub(super) value: AtomicU32,
    pub(super) parked: AtomicU32,
    pub(super) max: u32,
}

// SAFETY: repr(C) of two AtomicU32 and a u32 set once at construction: no
// pointers, no drop glue, every bit pattern valid; all mutation is atomic.
unsafe impl Shareable for OldSemaphore {}

/// The old guard: the acquiring process's pid, checked on drop.
pub(super) struct OldGuard<'a> {
    pub(super) sem: &'a OldSemaphore,
    pub(super) pid: u32,
}

/// The pid as the crate's `sync::raw::me` gives it (cached `getpid`).
pub(super) fn me() -> u32 {
    process::getpid().as_raw().unsigned_abs() & ((1 << 30) - 1)
}

impl OldSemaphore {
    pub(super) const fn new(value: u32, max: u32) -> OldSemaphore {
        OldSemaphore {
            value: AtomicU32::new(value),
            parked: AtomicU32::new(0),
            max,
        }
    }

    pub(super) fn try_down(&self) -> bool {
        let mut v = self.value.load(Ordering::Relaxed);
        while v > 0 {
            // SYNC POINT: Acquire pairs with the releaser's SeqCst update.
            match self
                .value
                .compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    pub(super) fn acquire(&self) -> OldGuard<'_> {
        if !self.try_down() {
            self.down_slow();
        }
        OldGuard {
            sem: self,
            pid: me(),
        }
    }

    /// Never taken here (one process, value 1): the old back-off and park,
    /// reduced to yielding.
    #[cold]
    #[inline(never)]
    pub(super) fn down_slow(&self) {
        while !self.try_down() {
            std::thread::yield_now();
        }
    }

    pub(super) fn up(&self, n: u32) -> std::result::Result<(), ()> {
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            let Some(next) = v.checked_add(n).filter(|&next| next <= self.max) else {
                return Err(());
            };
            // SYNC POINT: SeqCst pairs with the Acquire in `try_down` and
            // orders this update before the read of `parked` below.
            match self
                .value
                .compare_exchange_weak(v, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if self.parked.load(Ordering::SeqCst) > 0 {
            self.wake(n);
        }
        Ok(())
    }

    /// Never taken here: nobody parks.
    #[cold]
    #[inline(never)]
    pub(super) fn wake(&self, n: u32) {
        // SAFETY: `value` is a live, aligned u32 in shared memory; FUTEX_WAKE
        // only looks up the kernel's wait queue for it.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.value.as_ptr(),
                libc::FUTEX_WAKE,
                n,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }
}

impl Drop for OldGuard<'_> {
    fn drop(&mut self) {
        if self.pid == me() {
            let _ = self.sem.up(1);
        }
    }
}

/// Per-round ns per acquire + drop pair.
#[derive(Default)]
pub(super) struct SemSamples {
    pub(super) floor: Vec<f64>,
    pub(super) old: Vec<f64>,
    pub(super) new: Vec<f64>,
    pub(super) old_bounded: Vec<f64>,
    pub(super) new_bounded: Vec<f64>,
}

/// ns per run of `pair`, over `n` runs.
pub(super) fn per_pair(n: u32, mut pair: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        pair();
    }
    ns_per_op(start.elapsed(), n)
}

pub(super) fn bench_semaphore(plan: &Plan) -> Result<SemSamples> {
    let floor = Shared::new(AtomicU32::new(1))?;
    let old = Shared::new(OldSemaphore::new(1, u32::MAX))?;
    let old_bounded = Shared::new(OldSemaphore::new(1, 1))?;
    let new = Shared::new(Semaphore::new(1))?;
    let new_bounded = Shared::new(BoundedSemaphore::new(1))?;
    let mut s = SemSamples::default();
    rounds_indexed(plan.rounds, |warm, round| {
        let n = size(warm, plan.pairs);
        let mut got = [0.0; 5];
        for k in 0..5 {
            let who = (k + round) % 5;
            got[who] = match who {
                0 => per_pair(n, || {
                    let a = black_box(&*floor);
                    a.fetch_sub(1, Ordering::Acquire);
                    a.fetch_add(1, Ordering::Release);
                }),
                1 => per_pair(n, || drop(black_box(black_box(&*old).acquire()))),
                2 => per_pair(n, || drop(black_box(black_box(&*new).acquire()))),
                3 => per_pair(n, || {
                    drop(black_box(black_box(&*old_bounded).acquire()));
                }),
                _ => per_pair(n, || {
                    drop(black_box(black_box(&*new_bounded).acquire()));
                }),
            };
        }
        let values = [
            floor.load(Ordering::Relaxed),
            old.value.load(Ordering::Relaxed),
            old_bounded.value.load(Ordering::Relaxed),
            new.get_value(),
            new_bounded.get_value(),
        ];
        if values != [1; 5] {
            return Err(format!("a semaphore's value drifted: {values:?}, expected all 1").into());
        }
        if !warm {
            let [f, o, n, ob, nb] = got;
            s.floor.push(f);
            s.old.push(o);
            s.new.push(n);
            s.old_bounded.push(ob);
            s.new_bounded.push(nb);
        }
        Ok(())
    })?;
    Ok(s)
}
