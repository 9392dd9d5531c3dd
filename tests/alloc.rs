//! Steady state allocates nothing: starting, joining, signalling and waiting,
//! counted with a global allocator that counts every allocation.
#![allow(unsafe_code)]

#[path = "common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One round of the steady-state operations.
fn round(usr1: SigSet) {
    let mut p = Process::new(|| ()).with_name("worker").unwrap();
    p.start().unwrap();
    assert!(p.join_timeout(Duration::from_secs(20)).unwrap().is_some());
    assert_eq!(p.join().unwrap(), 0);
    let mut q = Process::new(|| {
        loop {
            signal::pause();
        }
    });
    q.start().unwrap();
    q.kill().unwrap();
    assert_eq!(q.join().unwrap(), -9);
    signal::kill(process::getpid(), Signal::USR1).unwrap();
    assert_eq!(usr1.wait().unwrap().signal, Signal::USR1);
    assert_eq!(usr1.try_wait().unwrap(), None);
    let _ = process::active_children();
    let _ = process::current_process();
    let _ = signal::alarm(0);
}

#[test]
fn process_and_signal_operations_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        let usr1 = SigSet::from(Signal::USR1);
        let _blocked = usr1.block().unwrap();
        round(usr1); // warm-up: lazy statics of std and the crate
        // The counter is live: a Box counts.
        let probe_before = ALLOCATIONS.load(Ordering::Relaxed);
        drop(std::hint::black_box(Box::new(1u64)));
        assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), probe_before + 1);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..10 {
            round(usr1);
        }
        let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert_eq!(
            allocated, 0,
            "{allocated} allocations in 10 steady-state rounds"
        );
    });
}
