//! `Shared<T>`: one anonymous `MAP_SHARED` segment, the same memory in the
//! process that made it and in every process it forks afterwards.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use mproc::process::{self, Fork, Process};
use mproc::shm::Shared;

use crate::common::isolated;

#[test]
fn a_shared_atomic_is_the_same_memory_in_parent_and_child() {
    isolated(|| {
        let counter = Shared::new(AtomicU64::new(0)).unwrap();
        let c: &AtomicU64 = &counter;
        let mut p = Process::new(move || {
            for _ in 0..1000 {
                c.fetch_add(1, Ordering::Relaxed);
            }
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(counter.load(Ordering::Relaxed), 1000);
        // And the other way round: the parent's store reaches a child.
        counter.store(7, Ordering::Relaxed);
        let mut q = Process::new(move || {
            let seen = c.load(Ordering::Relaxed);
            c.store(seen * 6, Ordering::Relaxed);
        });
        q.start().unwrap();
        assert_eq!(q.join().unwrap(), 0);
        assert_eq!(counter.load(Ordering::Relaxed), 42);
    });
}

#[test]
fn a_private_copy_is_not_shared_but_a_segment_is() {
    // The control: the same write to ordinary memory stays in the child.
    isolated(|| {
        let private = AtomicU64::new(1);
        let shared = Shared::new(AtomicU64::new(1)).unwrap();
        let (p_ref, s_ref) = (&private, &*shared);
        let mut p = Process::new(move || {
            p_ref.store(99, Ordering::Relaxed);
            s_ref.store(99, Ordering::Relaxed);
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(
            private.load(Ordering::Relaxed),
            1,
            "fork copies private memory"
        );
        assert_eq!(
            shared.load(Ordering::Relaxed),
            99,
            "the segment was not shared"
        );
    });
}

#[test]
fn zeroed_big_arrays_are_all_zero_and_shared() {
    isolated(|| {
        // 800 kB: far too big for a small stack, built in place.
        let plain = Shared::<[u64; 100_000]>::zeroed().unwrap();
        assert!(plain.iter().all(|&x| x == 0));
        assert_eq!(plain.len(), 100_000);

        let words = Shared::<[AtomicU64; 100_000]>::zeroed().unwrap();
        assert!(words.iter().all(|w| w.load(Ordering::Relaxed) == 0));
        let w: &[AtomicU64; 100_000] = &words;
        let mut p = Process::new(move || {
            for (i, word) in w.iter().enumerate().step_by(1000) {
                word.store(i as u64 + 1, Ordering::Relaxed);
            }
            w[99_999].store(u64::MAX, Ordering::Relaxed);
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        for (i, word) in words.iter().enumerate() {
            let expected = match i {
                99_999 => u64::MAX,
                i if i % 1000 == 0 => i as u64 + 1,
                _ => 0,
            };
            assert_eq!(word.load(Ordering::Relaxed), expected, "element {i}");
        }
    });
}

#[test]
fn two_children_meet_in_a_segment_made_before_both_forks() {
    isolated(|| {
        // A hand-made flag protocol: the second child waits (without
        // sleeping) for the first one's word, then answers in another.
        let words = Shared::new([AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
        let w: &[AtomicU32; 2] = &words;
        let mut first = Process::new(move || w[0].store(0xfeed, Ordering::Release));
        let mut second = Process::new(move || {
            while w[0].load(Ordering::Acquire) != 0xfeed {
                std::thread::yield_now();
            }
            w[1].store(0xbeef, Ordering::Release);
        });
        second.start().unwrap();
        first.start().unwrap();
        assert_eq!(first.join().unwrap(), 0);
        assert_eq!(second.join().unwrap(), 0);
        assert_eq!(w[1].load(Ordering::Acquire), 0xbeef);
    });
}

#[test]
fn dropping_the_handle_in_a_child_unmaps_only_there() {
    isolated(|| {
        let counter = Shared::new(AtomicU64::new(5)).unwrap();
        match process::fork().unwrap() {
            Fork::Child(_) => {
                counter.fetch_add(1, Ordering::Relaxed);
                drop(counter); // munmap in this process only
                process::exit(0);
            }
            Fork::Parent(pid) => {
                assert_eq!(process::waitpid(pid).unwrap(), 0);
                // Still mapped here, with the child's write.
                assert_eq!(counter.load(Ordering::Relaxed), 6);
                counter.fetch_add(1, Ordering::Relaxed);
                assert_eq!(counter.load(Ordering::Relaxed), 7);
            }
        }
    });
}

#[test]
fn debug_shows_the_value() {
    let s = Shared::new(AtomicU32::new(17)).unwrap();
    assert_eq!(format!("{s:?}"), "Shared(17)");
}
