//! `FixedStr<N>`: inline UTF-8 of at most `N` bytes with a C layout; what
//! another process left in its bytes is never trusted.

use std::mem::size_of;

use mproc::process::Process;
use mproc::shm::{FixedStr, Shared, Value};
use mproc::{ErrorKind, Resource};

use crate::common::isolated;

/// A `FixedStr<N>` with arbitrary bytes, as another process (or a build
/// with a bug) could leave it in shared memory: the length word, then the
/// `N` bytes, in the documented `#[repr(C)]` layout.
fn raw_fixed_str<const N: usize>(len: u32, bytes: [u8; N]) -> FixedStr<N> {
    assert_eq!(size_of::<FixedStr<N>>(), (4 + N).next_multiple_of(4));
    let mut out = FixedStr::<N>::new();
    let base: *mut FixedStr<N> = &mut out;
    // SAFETY: FixedStr<N> is #[repr(C)] { len: u32, bytes: [u8; N] }: the
    // u32 at offset 0 and the N bytes at offset 4 lie inside `out`, whose
    // every bit pattern is a valid value (Shareable contract).
    unsafe {
        base.cast::<u32>().write(len);
        base.cast::<u8>().add(4).cast::<[u8; N]>().write(bytes);
    }
    out
}

#[test]
fn parse_within_capacity() {
    let s: FixedStr<8> = "hello".parse().unwrap();
    assert_eq!(s.as_str(), "hello");
    assert_eq!(s.as_bytes(), b"hello");
    assert_eq!(s.len(), 5);
    assert!(!s.is_empty());
    assert_eq!(s.capacity(), 8);
    assert_eq!(s.to_string(), "hello");
    assert_eq!(format!("{s:?}"), "\"hello\"");
    assert_eq!(
        format!("[{s:>7}]"),
        "[hello]",
        "Display writes the text as is"
    );

    // Exactly full, multi-byte characters counted in bytes.
    let full: FixedStr<8> = "ab€cde".parse().unwrap();
    assert_eq!(full.len(), 8);
    assert_eq!(full.as_str().chars().count(), 6);
    let euro: FixedStr<6> = "€€".parse().unwrap();
    assert_eq!(euro.len(), 6);
    assert_eq!(euro, "€€");

    let empty = FixedStr::<4>::new();
    assert!(empty.is_empty());
    assert_eq!(empty.as_str(), "");
    assert_eq!(empty, FixedStr::<4>::default());
    let zero: FixedStr<0> = "".parse().unwrap();
    assert_eq!(zero.capacity(), 0);
    assert!(zero.is_empty());

    let via_try: FixedStr<4> = FixedStr::try_from("abcd").unwrap();
    assert_eq!(via_try, "abcd");
}

#[test]
fn over_capacity_is_a_typed_error() {
    let err = "hello!!!!".parse::<FixedStr<8>>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit: 8 });
    assert_eq!(
        err.resource(),
        Resource::Text {
            what: "a string",
            len: 9
        }
    );
    assert_eq!(err.op(), "FixedStr::set");
    // Counted in bytes, not characters: 3 euro signs are 9 bytes.
    let err = FixedStr::<8>::try_from("€€€").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit: 8 });
    let err = "x".parse::<FixedStr<0>>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit: 0 });
}

#[test]
fn a_failed_set_leaves_the_old_contents() {
    let mut s: FixedStr<4> = "abcd".parse().unwrap();
    let err = s.set("abcde").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit: 4 });
    assert_eq!(s, "abcd");
    assert_eq!(s.len(), 4);
    // A shorter set replaces it all (no tail of the old text).
    s.set("xy").unwrap();
    assert_eq!(s, "xy");
    assert_eq!(s.as_bytes(), b"xy");
    s.set("").unwrap();
    assert!(s.is_empty());
}

#[test]
fn equality_is_on_the_text() {
    let a: FixedStr<16> = "same".parse().unwrap();
    let mut b: FixedStr<16> = "a longer text".parse().unwrap();
    assert_ne!(a, b);
    b.set("same").unwrap(); // old bytes remain past the length
    assert_eq!(a, b);
    assert!(a == "same");
    assert!(a == *"same");
    assert!(a != "sam");
}

#[test]
fn a_length_past_the_capacity_is_clamped() {
    let s = raw_fixed_str::<4>(u32::MAX, *b"abcd");
    assert_eq!(s.as_bytes(), b"abcd");
    assert_eq!(s.as_str(), "abcd");
    assert_eq!(s.len(), 4);
    assert_eq!(s.capacity(), 4);
    let s = raw_fixed_str::<4>(5, *b"ab\0d");
    assert_eq!(s.as_str(), "ab\0d");
}

#[test]
fn non_utf8_bytes_give_the_valid_prefix_never_a_panic() {
    // A lone continuation byte in the middle.
    let s = raw_fixed_str::<6>(6, [b'o', b'k', 0x80, b'n', b'o', b'!']);
    assert_eq!(s.as_bytes(), &[b'o', b'k', 0x80, b'n', b'o', b'!']);
    assert_eq!(s.as_str(), "ok");
    assert_eq!(s.len(), 2);
    assert!(!s.is_empty());
    assert_eq!(s.to_string(), "ok");
    assert_eq!(format!("{s:?}"), "\"ok\"");
    assert_eq!(s, "ok");
    assert_eq!(s, "ok".parse::<FixedStr<6>>().unwrap());

    // A multi-byte character cut by the length: "é" is C3 A9.
    let cut = raw_fixed_str::<4>(3, [b'c', b'a', 0xc3, 0xa9]);
    assert_eq!(cut.as_str(), "ca");
    let whole = raw_fixed_str::<4>(4, [b'c', b'a', 0xc3, 0xa9]);
    assert_eq!(whole.as_str(), "caé");

    // Nothing valid at all.
    let junk = raw_fixed_str::<4>(4, [0xff; 4]);
    assert_eq!(junk.as_str(), "");
    assert!(junk.is_empty());
    assert_eq!(junk.as_bytes().len(), 4);

    // Every length word and a few byte patterns: no panic anywhere.
    for len in [0, 1, 2, 3, 4, 5, 8, 0x8000_0000, u32::MAX] {
        for bytes in [[0xf0, 0x9f, 0x98, 0x80], [0xed, 0xa0, 0x80, 0x41], [0; 4]] {
            let s = raw_fixed_str::<4>(len, bytes);
            let text = s.as_str();
            assert!(text.len() <= 4 && text.len() <= len as usize);
            assert_eq!(s.as_bytes().len(), (len as usize).min(4));
            assert!(s.as_bytes().starts_with(text.as_bytes()));
            let _ = (s.to_string(), format!("{s:?}"), s == "x");
        }
    }

    // A valid set repairs it.
    let mut repaired = junk;
    repaired.set("fine").unwrap();
    assert_eq!(repaired, "fine");
}

#[test]
fn garbage_written_by_another_process_reads_back_safely() {
    isolated(|| {
        // The child writes through the segment's raw bytes, as a buggy or
        // hostile peer could; the parent reads the FixedStr from the same
        // memory.
        let seg = Shared::new(FixedStr::<8>::new()).unwrap();
        let addr = &*seg as *const FixedStr<8> as usize;
        let mut p = Process::new(move || {
            let base = addr as *mut u8;
            // SAFETY: `addr` is the start of the 12-byte segment, mapped
            // here too (inherited); nobody else touches it meanwhile.
            unsafe {
                base.cast::<u32>().write(1000);
                for (i, b) in [b'h', b'i', 0xfe, b'x', 0, 0, 0, 0].iter().enumerate() {
                    base.add(4 + i).write(*b);
                }
            }
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(seg.as_bytes().len(), 8);
        assert_eq!(seg.as_str(), "hi");
        assert_eq!(seg.len(), 2);
    });
}

#[test]
fn a_shared_fixed_str_value_crosses_processes() {
    isolated(|| {
        let s = Value::new(FixedStr::<32>::new()).unwrap();
        let mut p = Process::new(|| s.set("by the child: ünïcödé".parse().unwrap()));
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let got = s.get();
        assert_eq!(got, "by the child: ünïcödé");
        assert_eq!(got.len(), "by the child: ünïcödé".len());
        assert_eq!(got.capacity(), 32);
    });
}
