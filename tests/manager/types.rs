//! Lists, namespaces, values and rlocks operation by operation; type
//! checks on every call; registered types.

use mproc::ErrorKind;
use mproc::manager::{Call, DictProxy, Manager, Method, Served};
use mproc::pool::Pool;
use mproc::shm::FixedStr;

use crate::common::isolated;

#[test]
fn a_list_behaves_like_pythons() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let l = m.list::<i64>(5).unwrap();
        assert_eq!(
            l.pop(-1).unwrap_err().kind(),
            ErrorKind::IndexOutOfRange {
                index: -1i64 as usize,
                len: 0
            }
        );
        assert_eq!(l.append(&1).unwrap(), 1);
        l.extend(&[2, 3]).unwrap();
        l.insert(0, &0).unwrap();
        l.insert(-1, &9).unwrap(); // before the last, as in Python
        assert_eq!(l.snapshot().unwrap(), [0, 1, 2, 9, 3]);
        let e = l.append(&4).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 5 });
        assert_eq!(l.extend(&[7]).unwrap_err().kind(), e.kind());
        assert_eq!(l.len().unwrap(), 5, "nothing was added");
        assert_eq!(l.get(-1).unwrap(), 3);
        assert_eq!(l.pop(3).unwrap(), 9);
        l.set(0, &5).unwrap();
        assert_eq!(l.index(&2).unwrap(), Some(2));
        assert_eq!(l.index(&42).unwrap(), None);
        assert!(l.remove(&5).unwrap());
        assert!(!l.remove(&5).unwrap());
        assert_eq!(l.count(&1).unwrap(), 1);
        assert_eq!(
            l.get(7).unwrap_err().kind(),
            ErrorKind::IndexOutOfRange { index: 7, len: 3 }
        );
        let mut out = heapless::Vec::<i64, 8>::new();
        assert_eq!(l.snapshot_into(&mut out).unwrap(), 3);
        assert_eq!(out, [1, 2, 3]);
        l.clear().unwrap();
        assert!(l.is_empty().unwrap());
    });
}

#[test]
fn a_namespace_holds_fields_of_their_own_types() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let ns = m.namespace(4, 16).unwrap();
        ns.set("x", &10i32).unwrap();
        ns.set("name", &"hello".parse::<FixedStr<8>>().unwrap())
            .unwrap();
        assert_eq!(ns.get::<i32>("x").unwrap(), Some(10));
        assert_eq!(ns.get::<i32>("y").unwrap(), None);
        let e = ns.get::<i64>("x").unwrap_err();
        assert!(matches!(
            e.kind(),
            ErrorKind::LayoutMismatch {
                field: "value type",
                ..
            }
        ));
        assert_eq!(ns.get::<FixedStr<8>>("name").unwrap().unwrap(), "hello");
        // A value larger than a field.
        let e = ns.set("big", &[0u8; 17]).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::MessageSize {
                size: 17,
                capacity: 16
            }
        );
        let mut names = Vec::new();
        ns.fields_into(&mut names).unwrap();
        assert_eq!(names, ["x", "name"]);
        assert!(ns.remove("x").unwrap());
        assert_eq!(ns.get::<i32>("x").unwrap(), None);
    });
}

#[test]
fn wrong_key_and_value_types_are_refused_by_the_server() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict::<u32, u64>(4).unwrap();
        d.set(&1, &2).unwrap();
        d.publish("typed").unwrap();
        let wrong_key = m.open::<DictProxy<i32, u64>>("typed").unwrap_err();
        assert!(matches!(
            wrong_key.kind(),
            ErrorKind::LayoutMismatch {
                field: "key type",
                ..
            }
        ));
        let wrong_value = m.open::<DictProxy<u32, u32>>("typed").unwrap_err();
        assert!(matches!(
            wrong_value.kind(),
            ErrorKind::LayoutMismatch {
                field: "value type",
                ..
            }
        ));
        let l = m.list::<u8>(2).unwrap();
        l.publish("a list").unwrap();
        let wrong_kind = m.open::<DictProxy<u32, u64>>("a list").unwrap_err();
        assert!(matches!(
            wrong_kind.kind(),
            ErrorKind::LayoutMismatch {
                field: "object kind",
                ..
            }
        ));
        assert_eq!(
            m.open::<DictProxy<u32, u64>>("nothing").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            l.publish("typed").unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        let right = m.open::<DictProxy<u32, u64>>("typed").unwrap();
        assert_eq!(right.get(&1).unwrap(), Some(2));
    });
}

#[test]
fn an_object_too_big_for_one_message_is_refused_before_it_is_made() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let e = m
            .dict::<u64, [u8; 1024]>(mproc::config::MANAGER_MESSAGE_BYTES)
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::MessageSize { .. }), "{e}");
        assert_eq!(m.stats().unwrap().objects, 0);
    });
}

#[test]
fn an_rlock_is_reentrant_for_its_holder_only() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let r = m.rlock().unwrap();
        r.acquire().unwrap();
        r.acquire().unwrap();
        let mut other = mproc::process::Process::new(|| {
            assert!(!r.try_acquire().unwrap());
            let e = r.release().unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)));
        });
        other.start().unwrap();
        assert_eq!(other.join().unwrap(), 0);
        r.release().unwrap();
        assert!(r.is_locked().unwrap());
        r.release().unwrap();
        assert!(!r.is_locked().unwrap());
        assert!(matches!(
            r.release().unwrap_err().kind(),
            ErrorKind::InvalidArgument(_)
        ));
        let l = m.lock().unwrap();
        assert!(l.try_acquire().unwrap());
        assert!(!l.try_acquire().unwrap(), "a Lock is not reentrant");
    });
}

struct Counter {
    count: u64,
}

const INCREMENT: Method<(), ()> = Method::new(0);
const VALUE: Method<(), u64> = Method::new(1);
const ADD: Method<u64, u64> = Method::new(2);
const PANIC: Method<(), ()> = Method::new(3);

impl Served for Counter {
    const TYPEID: &'static str = "Counter";
    type Init = u64;
    fn new(start: u64) -> Counter {
        Counter { count: start }
    }
    fn serve(&mut self, call: &mut Call<'_>) {
        call.on(INCREMENT, |()| self.count += 1);
        call.on(VALUE, |()| self.count);
        call.on(ADD, |n| {
            self.count += n;
            self.count
        });
        call.on(PANIC, |()| panic!("asked to"));
    }
}

fn increment_fifty(token: mproc::manager::Token<mproc::manager::Proxy<Counter>>) -> u64 {
    let counter = token.connect().unwrap();
    for _ in 0..50 {
        counter.call(INCREMENT, &()).unwrap();
    }
    0
}

#[test]
fn a_registered_counter_is_shared_by_pool_tasks() {
    isolated(|| {
        let m = Manager::builder().register::<Counter>().start().unwrap();
        let c = m.create::<Counter>(&0).unwrap();
        let pool = Pool::new(3).unwrap();
        let tokens = [(); 5].map(|()| c.token());
        let done = pool.map(increment_fifty, tokens, None).unwrap();
        assert_eq!(done.len(), 5);
        assert_eq!(c.call(VALUE, &()).unwrap(), 250);
        assert_eq!(c.call(ADD, &5).unwrap(), 255);
        drop(pool);
    });
}

#[test]
fn a_registered_type_refuses_unknown_methods_wrong_types_and_survives_a_panic() {
    isolated(|| {
        let m = Manager::builder().register::<Counter>().start().unwrap();
        let c = m.create::<Counter>(&7).unwrap();
        let unknown: Method<(), ()> = Method::new(99);
        assert_eq!(
            c.call(unknown, &()).unwrap_err().kind(),
            ErrorKind::UnknownMethod { method: 99 }
        );
        let wrong_arg: Method<u32, u64> = Method::new(2);
        assert!(matches!(
            c.call(wrong_arg, &1).unwrap_err().kind(),
            ErrorKind::LayoutMismatch {
                field: "argument type",
                ..
            }
        ));
        let wrong_result: Method<(), i8> = Method::new(1);
        assert!(matches!(
            c.call(wrong_result, &()).unwrap_err().kind(),
            ErrorKind::LayoutMismatch {
                field: "result type",
                ..
            }
        ));
        assert_eq!(c.call(PANIC, &()).unwrap_err().kind(), ErrorKind::Panicked);
        assert_eq!(c.call(VALUE, &()).unwrap(), 7, "the server lives on");
        // A type the server was not told about.
        struct Other;
        impl Served for Other {
            const TYPEID: &'static str = "Other";
            type Init = ();
            fn new((): ()) -> Other {
                Other
            }
            fn serve(&mut self, _call: &mut Call<'_>) {}
        }
        assert_eq!(
            m.create::<Other>(&()).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
}
