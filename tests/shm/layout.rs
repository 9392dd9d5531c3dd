//! Layouts that must agree between processes and builds: the pinned sizes
//! of the shared types (the same on 64- and 32-bit targets, which the
//! cross-test runs check), and `Fingerprint`.

use std::mem::{align_of, size_of};

use mproc::process::Process;
use mproc::shm::{Fingerprint, FixedStr, Shareable, Shared, Value};
use mproc::sync::Lock;

use crate::common::isolated;

/// A user type in shared memory: `#[repr(C)]` fixed-width fields.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    x: i32,
    y: i32,
    weight: f64,
}

// SAFETY: repr(C) of fixed-width numbers: no pointers, no drop glue, every
// bit pattern valid; shared only through Value (by copy, under its lock).
unsafe impl Shareable for Point {
    fn type_identity() -> &'static str {
        "Point/v1"
    }
}

/// The documented hash: 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[test]
fn lock_is_ten_u32_words_aligned_to_8_on_every_target() {
    // The word, its state, the last holder and the robust-list entry.
    assert_eq!(size_of::<Lock>(), 40);
    assert_eq!(align_of::<Lock>(), 8);
}

#[test]
fn fixed_str_is_a_u32_length_and_inline_bytes_on_every_target() {
    assert_eq!(size_of::<FixedStr<32>>(), 36);
    assert_eq!(align_of::<FixedStr<32>>(), 4);
    assert_eq!(size_of::<FixedStr<0>>(), 4);
    assert_eq!(size_of::<FixedStr<1>>(), 8);
    assert_eq!(size_of::<FixedStr<255>>(), 260);
}

#[test]
fn fingerprint_size_and_align() {
    let cases = [
        (Fingerprint::of::<u8>(), 1, 1),
        (Fingerprint::of::<i32>(), 4, 4),
        (Fingerprint::of::<u64>(), 8, 8),
        (Fingerprint::of::<f64>(), 8, 8),
        (Fingerprint::of::<Lock>(), 40, 8),
        (Fingerprint::of::<FixedStr<32>>(), 36, 4),
        (Fingerprint::of::<[u16; 5]>(), 10, 2),
        (Fingerprint::of::<[u64; 100_000]>(), 800_000, 8),
        (Fingerprint::of::<Point>(), 16, 8),
    ];
    for (i, (fp, size, align)) in cases.into_iter().enumerate() {
        assert_eq!((fp.size, fp.align), (size, align), "case {i}: {fp:?}");
    }
}

#[test]
fn fingerprint_identity_is_fnv1a_of_the_type_identity() {
    assert_eq!(
        Fingerprint::of::<u64>().identity,
        fnv1a(std::any::type_name::<u64>().as_bytes())
    );
    // An overridden identity is what gets hashed.
    assert_eq!(Fingerprint::of::<Point>().identity, fnv1a(b"Point/v1"));
    // Stable between calls.
    assert_eq!(Fingerprint::of::<Lock>(), Fingerprint::of::<Lock>());
}

#[test]
fn fingerprints_tell_same_sized_types_apart() {
    let distinct = [
        Fingerprint::of::<u32>(),
        Fingerprint::of::<i32>(),
        Fingerprint::of::<f32>(),
        Fingerprint::of::<[u8; 4]>(),
        Fingerprint::of::<[u16; 2]>(),
        Fingerprint::of::<std::sync::atomic::AtomicU32>(),
        Fingerprint::of::<FixedStr<0>>(),
    ];
    for (i, a) in distinct.iter().enumerate() {
        assert_eq!(a.size, 4);
        for b in &distinct[i + 1..] {
            assert_ne!(a, b);
            assert_ne!(a.identity, b.identity);
        }
    }
    assert_ne!(
        Fingerprint::of::<FixedStr<32>>(),
        Fingerprint::of::<FixedStr<31>>()
    );
}

#[test]
fn a_user_repr_c_struct_travels_in_a_value() {
    isolated(|| {
        let v = Value::new(Point {
            x: 1,
            y: 2,
            weight: 0.5,
        })
        .unwrap();
        let mut p = Process::new(|| {
            let mut g = v.lock().unwrap();
            g.x = -g.x;
            g.y *= 10;
            g.weight += 0.25;
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(
            v.get(),
            Point {
                x: -1,
                y: 20,
                weight: 0.75
            }
        );
    });
}

#[test]
fn a_user_struct_of_atomics_can_be_shared_directly() {
    #[repr(C)]
    struct Stats {
        hits: std::sync::atomic::AtomicU64,
        misses: std::sync::atomic::AtomicU32,
    }
    // SAFETY: repr(C) of atomics: no pointers, no drop glue, every bit
    // pattern valid, mutated only atomically.
    unsafe impl Shareable for Stats {}
    use std::sync::atomic::Ordering::Relaxed;

    isolated(|| {
        let stats = Shared::<Stats>::zeroed().unwrap();
        let s: &Stats = &stats;
        let mut p = Process::new(move || {
            s.hits.fetch_add(3, Relaxed);
            s.misses.fetch_add(1, Relaxed);
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(
            (stats.hits.load(Relaxed), stats.misses.load(Relaxed)),
            (3, 1)
        );
    });
}
