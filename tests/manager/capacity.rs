//! Capacities chosen at run time: the object count and the message size
//! of one manager ([`Builder::objects`], [`Builder::message_bytes`]), and
//! each limit one over it: a typed error naming its knob.

use mproc::manager::{MESSAGE_BYTES_MAX, MESSAGE_BYTES_MIN, Manager, OBJECTS_MAX};
use mproc::process::Process;
use mproc::{ErrorKind, Resource};

use crate::common::isolated;

#[test]
fn a_manager_of_two_objects_refuses_a_third_naming_the_knob() {
    isolated(|| {
        let m = Manager::builder().objects(2).start().unwrap();
        let a = m.dict::<u32, u32>(4).unwrap();
        let _b = m.lock().unwrap();
        let e = m.list::<u32>(4).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 2 });
        let Resource::Capacity(knob) = e.resource() else {
            panic!("{e}")
        };
        assert!(knob.contains("Builder::objects"), "{e}");
        drop(a);
        m.list::<u32>(4).unwrap();
    });
}

#[test]
fn a_small_message_size_bounds_objects_and_a_child_learns_it() {
    isolated(|| {
        let m = Manager::builder().message_bytes(1024).start().unwrap();
        // 1024 − 88 bytes for a snapshot: 117 entries of 8 bytes.
        let d = m.dict::<u32, u32>(117).unwrap();
        let e = m.dict::<u32, u32>(118).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::MessageSize { capacity: 936, .. }),
            "{e}"
        );
        let q = m.queue::<u64>(0).unwrap();
        assert_eq!(q.maxsize().unwrap(), 936 / 8);
        // A forked child connects anew and takes the server's size.
        let mut p = Process::new(|| {
            d.set(&1, &2).unwrap();
            let far = Manager::connect(m.address()).unwrap();
            assert_eq!(far.stats().unwrap().objects, 2);
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(d.get(&1).unwrap(), Some(2));
        let l = m.list::<[u8; 64]>(14).unwrap();
        let e = l.extend(&[[0; 64]; 16]).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::MessageSize { .. }), "{e}");
    });
}

#[test]
fn settings_out_of_range_are_refused_before_the_server_starts() {
    for (builder, knob) in [
        (Manager::builder().objects(0), "Builder::objects"),
        (
            Manager::builder().objects(OBJECTS_MAX + 1),
            "Builder::objects",
        ),
        (
            Manager::builder().message_bytes(MESSAGE_BYTES_MIN - 1),
            "Builder::message_bytes",
        ),
        (
            Manager::builder().message_bytes(MESSAGE_BYTES_MAX + 1),
            "Builder::message_bytes",
        ),
    ] {
        let e = builder.start().unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::CapacityExceeded { .. }),
            "{e}"
        );
        let Resource::Capacity(name) = e.resource() else {
            panic!("{e}")
        };
        assert!(name.contains(knob), "{e}");
    }
}

#[cfg(feature = "serde")]
#[test]
fn a_serde_objects_entries_and_bytes_are_bounded_by_one_message() {
    isolated(|| {
        let m = Manager::builder().message_bytes(1024).start().unwrap();
        // 4 × entries + bytes ≤ 1024 − 88.
        let d = m.dict_serde::<String, String>(34, 800).unwrap();
        let e = m.dict_serde::<String, String>(35, 800).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 936 });
        let Resource::Capacity(knob) = e.resource() else {
            panic!("{e}")
        };
        assert!(knob.contains("Builder::message_bytes"), "{e}");
        let e = m.list_serde::<String>(0, 8).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        // The largest entry of the largest dict fits in one message; a
        // value past a message is refused before it is sent.
        let big = m.dict_serde::<String, String>(1, 932).unwrap();
        // 4 + 2 ("k") + 2 (a length of 924) + 924 = 932.
        big.set(&"k".to_string(), &"v".repeat(924)).unwrap();
        assert_eq!(big.items().unwrap()[0].1.len(), 924);
        let e = d.set(&"k".to_string(), &"v".repeat(2000)).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::EncodedSize {
                    knob: mproc::manager::MESSAGE_KNOB,
                    ..
                }
            ),
            "{e}"
        );
    });
}
