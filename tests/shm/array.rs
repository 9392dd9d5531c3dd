//! `Array<T, N>` (with its lock) and `RawArray<T, N>` (without).

use mproc::process::{self, Process};
use mproc::shm::{Array, RawArray};
use mproc::{ErrorKind, Resource};

use crate::common::isolated;

#[test]
fn from_fn_new_len_get_and_to_array() {
    let arr = Array::<i32, 10>::from_fn(|i| i as i32 * 10).unwrap();
    assert_eq!(arr.len(), 10);
    assert!(!arr.is_empty());
    assert_eq!(arr.get(0), Some(0));
    assert_eq!(arr.get(9), Some(90));
    assert_eq!(arr.get(10), None);
    assert_eq!(arr.get(usize::MAX), None);
    assert_eq!(arr.to_array(), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);

    let b = Array::new([1.5f64, -2.0, 0.0]).unwrap();
    assert_eq!(b.to_array(), [1.5, -2.0, 0.0]);
    assert_eq!(format!("{b:?}"), "Array([1.5, -2.0, 0.0])");

    let empty = Array::<u8, 0>::new([]).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.get(0), None);
    assert_eq!(empty.to_array(), [0u8; 0]);
}

#[test]
fn set_out_of_range_is_a_typed_error_and_writes_nothing() {
    let arr = Array::<i32, 10>::from_fn(|i| i as i32).unwrap();
    let before = arr.to_array();
    for index in [10, 11, usize::MAX] {
        let err = arr.set(index, -1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IndexOutOfRange { index, len: 10 });
        assert_eq!(err.op(), "Array::set");
        assert_eq!(
            err.resource(),
            Resource::Container {
                what: "Array",
                capacity: 10
            }
        );
        assert_eq!(err.errno(), None);
    }
    assert_eq!(arr.to_array(), before, "a failed set wrote something");
    assert!(
        !arr.get_lock().is_locked(),
        "a failed set left the lock held"
    );
    let err = arr.set(10, -1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Array::set(Array of capacity 10): index 10 out of range for length 10"
    );
}

#[test]
fn set_and_get_cross_processes() {
    isolated(|| {
        let arr = Array::<i32, 10>::from_fn(|i| i as i32).unwrap();
        let mut p = Process::new(|| {
            let ok = (0..10).all(|i| arr.get(i) == Some(i as i32));
            for i in 0..10 {
                arr.set(i, arr.get(i).unwrap() * 100).unwrap();
            }
            process::exit(if ok { 0 } else { 3 });
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0, "the child saw other values");
        assert_eq!(arr.to_array(), std::array::from_fn(|i| i as i32 * 100));
    });
}

#[test]
fn the_lock_guard_derefs_to_the_array_and_changes_cross_processes() {
    isolated(|| {
        let arr = Array::<i32, 10>::from_fn(|i| i as i32).unwrap();
        let mut p = Process::new(|| {
            let mut a = arr.lock().unwrap();
            assert_eq!(a.len(), 10);
            for x in a.iter_mut() {
                *x = -*x;
            }
            a.swap(0, 9);
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let expected = [-9, -1, -2, -3, -4, -5, -6, -7, -8, 0];
        assert_eq!(arr.to_array(), expected);
        {
            let a = arr.lock().unwrap();
            assert_eq!(*a, expected);
            assert_eq!(a.iter().sum::<i32>(), -45);
            assert_eq!(a.lock_guard().lock().holder(), Some(process::getpid()));
        }
        assert!(!arr.get_lock().is_locked());
    });
}

#[test]
fn a_big_array_is_built_in_place() {
    isolated(|| {
        // 4 MB: would not fit a default 2 MB thread stack as a value.
        let arr = Array::<u32, 1_000_000>::from_fn(|i| i as u32).unwrap();
        let mut p = Process::new(|| {
            let mut a = arr.lock().unwrap();
            a[999_999] = 7;
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(arr.get(999_999), Some(7));
        assert_eq!(arr.get(123_456), Some(123_456));
        assert_eq!(arr.get(1_000_000), None);
    });
}

#[test]
fn raw_array_basics_across_fork() {
    isolated(|| {
        let raw = RawArray::<u64, 4>::new([1, 2, 3, 4]).unwrap();
        assert_eq!(raw.len(), 4);
        assert!(!raw.is_empty());
        let mut p = Process::new(|| {
            for i in 0..4 {
                raw.set(i, raw.get(i).unwrap() << 32).unwrap();
            }
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(raw.to_array(), [1 << 32, 2 << 32, 3 << 32, 4 << 32]);

        let err = raw.set(4, 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IndexOutOfRange { index: 4, len: 4 });
        assert_eq!(err.op(), "RawArray::set");
        assert_eq!(
            err.resource(),
            Resource::Container {
                what: "Array",
                capacity: 4
            }
        );
        assert_eq!(raw.get(4), None);
        assert_eq!(raw.to_array(), [1 << 32, 2 << 32, 3 << 32, 4 << 32]);

        let from_fn = RawArray::<i8, 3>::from_fn(|i| -(i as i8)).unwrap();
        assert_eq!(from_fn.to_array(), [0, -1, -2]);
        assert_eq!(format!("{from_fn:?}"), "RawArray([0, -1, -2])");
    });
}
