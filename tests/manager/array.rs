//! `Manager().Array(typecode, sequence)`: a fixed-length array on the
//! server, read and written by index from the owner and from children.

use mproc::ErrorKind;
use mproc::manager::{ArrayProxy, ListProxy, Manager};
use mproc::process::Process;

use crate::common::isolated;

#[test]
fn an_array_written_by_children_is_seen_by_the_parent_and_keeps_its_length() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let a = m.array::<i64>(&[0; 8]).unwrap();
        assert_eq!(a.len().unwrap(), 8);
        let mut children: Vec<_> = (0..4i64)
            .map(|c| {
                let a = &a;
                Process::new(move || {
                    // Child c writes slots 2c and 2c+1, the second by a
                    // negative index.
                    a.set(2 * c, &(c * 10)).unwrap();
                    a.set(2 * c + 1 - 8, &(c * 10 + 1)).unwrap();
                })
            })
            .collect();
        for p in &mut children {
            p.start().unwrap();
        }
        for p in &children {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(a.snapshot().unwrap(), [0, 1, 10, 11, 20, 21, 30, 31]);
        assert_eq!(a.get(3).unwrap(), 11);
        assert_eq!(a.get(-1).unwrap(), 31);
        assert_eq!(a.get(-8).unwrap(), 0);
        assert_eq!(a.len().unwrap(), 8);
        assert!(!a.is_empty().unwrap());
    });
}

#[test]
fn an_index_out_of_range_is_index_out_of_range_and_changes_nothing() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let a = m.array::<u8>(b"abc").unwrap();
        let e = a.get(3).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IndexOutOfRange { index: 3, len: 3 });
        let e = a.set(7, &b'z').unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IndexOutOfRange { index: 7, len: 3 });
        assert!(matches!(
            a.get(-4).unwrap_err().kind(),
            ErrorKind::IndexOutOfRange { len: 3, .. }
        ));
        assert!(matches!(
            a.set(-4, &b'z').unwrap_err().kind(),
            ErrorKind::IndexOutOfRange { len: 3, .. }
        ));
        assert_eq!(a.snapshot().unwrap(), b"abc");
        // Python allows an empty array; every index is out of its range.
        let empty = m.array::<u32>(&[]).unwrap();
        assert!(empty.is_empty().unwrap());
        assert_eq!(
            empty.get(0).unwrap_err().kind(),
            ErrorKind::IndexOutOfRange { index: 0, len: 0 }
        );
        assert_eq!(empty.snapshot().unwrap(), Vec::<u32>::new());
    });
}

#[test]
fn snapshot_into_fills_the_callers_buffer_and_reports_the_length() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let a = m.array::<u16>(&[1, 2, 3, 4, 5]).unwrap();
        let mut short = [0u16; 3];
        assert_eq!(a.snapshot_into(&mut short).unwrap(), 5);
        assert_eq!(short, [1, 2, 3]);
        let mut long = [9u16; 7];
        assert_eq!(a.snapshot_into(&mut long).unwrap(), 5);
        assert_eq!(long, [1, 2, 3, 4, 5, 9, 9]);
    });
}

#[test]
fn an_array_too_big_for_a_message_is_refused_and_nothing_is_made() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let room = mproc::config::MANAGER_MESSAGE_BYTES - 88;
        let most = vec![7u8; room];
        let a = m.array::<u8>(&most).unwrap();
        assert_eq!(a.len().unwrap(), room);
        drop(a);
        let e = m.array::<u8>(&vec![0u8; room + 1]).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::MessageSize {
                size: room + 1,
                capacity: room
            }
        );
        assert_eq!(m.stats().unwrap().objects, 0);
    });
}

#[test]
fn a_published_array_opens_as_an_array_of_its_type_only() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let a = m.array::<i32>(&[5, 6]).unwrap();
        a.publish("grid").unwrap();
        let mut p = Process::new(|| {
            let b = m.open::<ArrayProxy<i32>>("grid").unwrap();
            b.set(1, &60).unwrap();
            // Not a list (no append on an array), not another type.
            let e = m.open::<ListProxy<i32>>("grid").unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::LayoutMismatch { .. }), "{e}");
            let e = m.open::<ArrayProxy<u32>>("grid").unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::LayoutMismatch { .. }), "{e}");
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(a.snapshot().unwrap(), [5, 60]);
        // A token gives a pool task (or any process) its own connection.
        let t = a.token();
        let mut q = Process::new(move || {
            let c = t.connect().unwrap();
            assert_eq!(c.get(0).unwrap(), 5);
            c.set(0, &50).unwrap();
        });
        q.start().unwrap();
        assert_eq!(q.join().unwrap(), 0);
        assert_eq!(a.get(0).unwrap(), 50);
    });
}
