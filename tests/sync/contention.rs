//! Exact results under contention: many processes, one lock, no lost
//! update, never two holders at once.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::shm::{Array, RawValue, Shared, Value};
use mproc::sync::{Lock, TryLockError};

use crate::common::{Gate, gate, isolated};

/// Processes.
const N: usize = 8;
/// Increments per process.
const M: u64 = 2000;

/// Starts `N` children that each run `work` once all of them are forked
/// (released together through one gate), and checks they all exit with 0.
fn run_together(work: impl Fn() + Copy) {
    let (start, mut open) = gate();
    let mut children: Vec<_> = (0..N)
        .map(|_| {
            let start: Gate = start.try_clone();
            Process::new(move || {
                start.wait();
                work();
            })
        })
        .collect();
    for p in &mut children {
        p.start().unwrap();
    }
    open.write_all(&[b'x'; N]).unwrap();
    for (i, p) in children.iter().enumerate() {
        assert_eq!(p.join().unwrap(), 0, "child {i}");
    }
}

#[test]
fn a_value_counter_under_its_lock_is_exact() {
    isolated(|| {
        let counter = Value::new(0u64).unwrap();
        let c = &counter;
        run_together(move || {
            for _ in 0..M {
                *c.lock().unwrap() += 1;
            }
        });
        assert_eq!(counter.get(), N as u64 * M);
        assert!(!counter.get_lock().is_locked());
        assert!(counter.get_lock().is_consistent());
    });
}

#[test]
fn a_raw_value_read_then_write_under_a_shared_lock_is_exact() {
    isolated(|| {
        let shared = Shared::new(Lock::new()).unwrap();
        let raw = RawValue::new(0u64).unwrap();
        let (lock, r): (&Lock, &RawValue<u64>) = (&shared, &raw);
        run_together(move || {
            for _ in 0..M {
                let _held = lock.lock().unwrap();
                let seen = r.get();
                // Widen the window a lost update would need.
                std::hint::spin_loop();
                r.set(seen + 1);
            }
        });
        assert_eq!(raw.get(), N as u64 * M);
        assert!(!lock.is_locked());
    });
}

#[test]
fn array_updates_under_its_lock_are_exact() {
    isolated(|| {
        let arr = Array::<u64, 16>::new([0; 16]).unwrap();
        let a = &arr;
        run_together(move || {
            for _ in 0..500 {
                let mut g = a.lock().unwrap();
                for (i, x) in g.iter_mut().enumerate() {
                    *x += i as u64 + 1;
                }
            }
        });
        let expected: [u64; 16] = std::array::from_fn(|i| N as u64 * 500 * (i as u64 + 1));
        assert_eq!(arr.to_array(), expected);
    });
}

#[test]
fn never_two_holders_with_lock_try_lock_and_lock_timeout_mixed() {
    isolated(|| {
        #[repr(C)]
        struct Counters {
            inside: AtomicU32,
            overlaps: AtomicU32,
            total: AtomicU64,
            would_block: AtomicU64,
        }
        // SAFETY: repr(C) of atomics: no pointers, no drop glue, every bit
        // pattern valid, mutated only atomically.
        unsafe impl mproc::shm::Shareable for Counters {}

        let shared = Shared::new(Lock::new()).unwrap();
        let counters = Shared::<Counters>::zeroed().unwrap();
        let (lock, k): (&Lock, &Counters) = (&shared, &counters);
        let section = move || {
            if k.inside.fetch_add(1, Ordering::SeqCst) != 0 {
                k.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            let t = k.total.load(Ordering::Relaxed);
            std::hint::spin_loop();
            k.total.store(t + 1, Ordering::Relaxed);
            k.inside.fetch_sub(1, Ordering::SeqCst);
        };
        run_together(move || {
            let me = process::getpid().as_raw() as u64;
            for i in 0..M {
                match (me + i) % 3 {
                    0 => {
                        let _held = lock.lock().unwrap();
                        section();
                    }
                    1 => loop {
                        match lock.try_lock() {
                            Ok(_held) => {
                                section();
                                break;
                            }
                            Err(TryLockError::WouldBlock) => {
                                k.would_block.fetch_add(1, Ordering::Relaxed);
                                std::thread::yield_now();
                            }
                            Err(other) => panic!("try_lock: {other}"),
                        }
                    },
                    _ => loop {
                        match lock.lock_timeout(Duration::from_micros(200)) {
                            Ok(_held) => {
                                section();
                                break;
                            }
                            Err(TryLockError::TimedOut) => {}
                            Err(other) => panic!("lock_timeout: {other}"),
                        }
                    },
                }
            }
        });
        assert_eq!(counters.overlaps.load(Ordering::SeqCst), 0);
        assert_eq!(counters.total.load(Ordering::SeqCst), N as u64 * M);
        assert!(!lock.is_locked());
        assert!(lock.is_consistent());
    });
}
