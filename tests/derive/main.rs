//! The derive macros (feature `derive`): `Shareable`, `TaskData` and `Wire`
//! declared without `unsafe impl` (their module forbids unsafe code), and the
//! values travelling through shared memory, a `Queue`, a `Pipe`, a `Pool`
//! task and a `Manager` dict and value. The refusals are `compile_fail`
//! doctests on the traits (src/sys/mem.rs, src/sys/task.rs,
//! src/manager/wire.rs).
#![cfg(feature = "derive")]

#[path = "../common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use mproc::ipc::{Pipe, Queue};
use mproc::manager::{Manager, Wire};
use mproc::pool::{Pool, TaskData};
use mproc::process::Process;
use mproc::shm::{FixedStr, Shareable, Shared};

use common::isolated;

/// The derived types: no `unsafe` here, not even one the derives hide
/// behind an `allow`.
#[forbid(unsafe_code)]
mod types {
    use mproc::manager::Wire;
    use mproc::pool::TaskData;
    use mproc::shm::{FixedStr, Shareable};
    use std::sync::atomic::AtomicU32;

    /// A user type in shared memory: fixed-width fields, no padding.
    #[repr(C)]
    #[derive(Shareable, Clone, Copy, Debug, PartialEq)]
    pub struct Point {
        pub x: i64,
        pub y: i32,
        pub flags: u8,
        pub pad: [u8; 3],
    }

    /// A struct of shareable structs, atomics and a string.
    #[repr(C)]
    #[derive(Shareable)]
    pub struct Board {
        pub hits: AtomicU32,
        pub len: u32,
        pub at: [Point; 2],
        pub name: FixedStr<12>,
    }

    /// A newtype.
    #[repr(transparent)]
    #[derive(Shareable, Clone, Copy, Debug, PartialEq)]
    pub struct Meters(pub f64);

    /// A pool task's argument: anything `TaskData`, padding and `usize` too.
    #[derive(TaskData, Clone, Copy, Debug, PartialEq)]
    pub struct Job {
        pub id: usize,
        pub weight: f64,
        pub urgent: bool,
        pub label: FixedStr<8>,
    }

    /// A pool task's result: an enum, generic.
    #[derive(TaskData, Clone, Copy, Debug, PartialEq)]
    pub enum Outcome<T> {
        Skipped,
        Done(u32, T),
        Failed { code: i32 },
    }

    /// A manager key (a raw identifier for a field name, too).
    #[derive(Wire, TaskData, Clone, Copy, Debug, PartialEq)]
    pub struct Key {
        pub user: u32,
        pub r#type: u8,
    }

    /// A manager value of mixed kinds (Python's `None`, `int`, `str`…).
    #[derive(Wire, Clone, Debug, PartialEq)]
    #[mproc(type_identity = "tests::derive::Py")]
    pub enum Py {
        None,
        Int(i64),
        Str(FixedStr<15>),
        Pair { a: u8, b: bool },
    }

    /// Generic, tuple and unit shapes.
    #[derive(Wire, Debug, PartialEq)]
    pub struct Tagged<T>(pub u16, pub T);

    #[derive(Wire, Debug, PartialEq)]
    pub struct Nothing;
}

use types::*;

fn s(text: &str) -> FixedStr<15> {
    text.parse().unwrap()
}

#[test]
fn a_derived_shareable_struct_is_shared_across_a_fork() {
    isolated(|| {
        let board = Shared::new(Board {
            hits: AtomicU32::new(0),
            len: 2,
            at: [Point {
                x: -1,
                y: 2,
                flags: 1,
                pad: [0; 3],
            }; 2],
            name: "board".parse().unwrap(),
        })
        .unwrap();
        let mut p = Process::new(|| {
            board.hits.fetch_add(5, Ordering::SeqCst);
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(board.hits.load(Ordering::SeqCst), 5);
        assert_eq!(board.at[1].x, -1);
        assert_eq!(board.name.as_str(), "board");
        assert_eq!(
            <Board as Shareable>::type_identity(),
            core::any::type_name::<Board>()
        );
    });
}

#[test]
fn derived_values_travel_through_a_queue_and_a_pipe() {
    isolated(|| {
        let q = Queue::<Point, 4>::new().unwrap();
        let (here, there) = Pipe::duplex().unwrap();
        let queue = &q;
        let mut p = Process::new(move || {
            let m: Meters = there.recv().unwrap();
            there.send(&Meters(m.0 * 2.0)).unwrap();
            for i in 0..3 {
                queue
                    .put(Point {
                        x: i,
                        y: -(i as i32),
                        flags: 7,
                        pad: [0; 3],
                    })
                    .unwrap();
            }
        });
        p.start().unwrap();
        here.send(&Meters(1.25)).unwrap();
        assert_eq!(here.recv::<Meters>().unwrap(), Meters(2.5));
        for i in 0..3 {
            assert_eq!(
                q.get().unwrap(),
                Point {
                    x: i,
                    y: -(i as i32),
                    flags: 7,
                    pad: [0; 3]
                }
            );
        }
        assert_eq!(p.join().unwrap(), 0);
    });
}

fn grade(job: Job) -> Outcome<f64> {
    match job.id {
        0 => Outcome::Skipped,
        _ if job.urgent => Outcome::Done(job.label.len() as u32, job.weight * 2.0),
        id => Outcome::Failed { code: -(id as i32) },
    }
}

#[test]
fn derived_task_data_is_a_pool_task_argument_and_result() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let job = |id, urgent| Job {
            id,
            weight: 1.5,
            urgent,
            label: "abc".parse().unwrap(),
        };
        assert_eq!(pool.apply(grade, job(0, true)).unwrap(), Outcome::Skipped);
        assert_eq!(
            pool.apply(grade, job(1, true)).unwrap(),
            Outcome::Done(3, 3.0)
        );
        assert_eq!(
            pool.apply(grade, job(4, false)).unwrap(),
            Outcome::Failed { code: -4 }
        );
        pool.close();
        pool.join().unwrap();
    });
}

#[test]
fn derived_wire_types_are_manager_dict_keys_and_values() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict::<Key, Py>(8).unwrap();
        let v = m.value(&Py::None).unwrap();
        let mut p = Process::new(|| {
            d.set(&Key { user: 1, r#type: 0 }, &Py::Int(-7)).unwrap();
            d.set(&Key { user: 1, r#type: 1 }, &Py::Str(s("hé")))
                .unwrap();
            v.set(&Py::Pair { a: 3, b: true }).unwrap();
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(
            d.get(&Key { user: 1, r#type: 0 }).unwrap(),
            Some(Py::Int(-7))
        );
        assert_eq!(
            d.get(&Key { user: 1, r#type: 1 }).unwrap(),
            Some(Py::Str(s("hé")))
        );
        assert_eq!(d.get(&Key { user: 2, r#type: 0 }).unwrap(), None);
        assert_eq!(v.get().unwrap(), Py::Pair { a: 3, b: true });
    });
}

fn encoded<T: Wire>(value: &T) -> Vec<u8> {
    let mut buf = vec![0xAA; T::SIZE];
    value.encode(&mut buf);
    buf
}

#[test]
fn a_derived_wire_struct_is_its_fields_one_after_another() {
    assert_eq!(Key::SIZE, 5);
    assert_eq!(
        encoded(&Key {
            user: 0x0102_0304,
            r#type: 9
        }),
        [4, 3, 2, 1, 9]
    );
    assert_eq!(
        Key::decode(&[4, 3, 2, 1, 9]),
        Some(Key {
            user: 0x0102_0304,
            r#type: 9
        })
    );
    assert_eq!(Key::decode(&[4, 3, 2, 1]), None, "too short");
    assert_eq!(Key::decode(&[4, 3, 2, 1, 9, 0]), None, "too long");

    assert_eq!(Tagged::<char>::SIZE, 6);
    assert_eq!(encoded(&Tagged(7, 'x')), [7, 0, b'x', 0, 0, 0]);
    assert_eq!(
        Tagged::<char>::decode(&[7, 0, 0, 0xD8, 0, 0]),
        None,
        "a surrogate"
    );
    assert_eq!(Tagged::<bool>::decode(&[7, 0, 1]), Some(Tagged(7, true)));
    assert_eq!(Tagged::<bool>::decode(&[7, 0, 2]), None);

    assert_eq!(Nothing::SIZE, 0);
    assert_eq!(Nothing::decode(&[]), Some(Nothing));
    assert_eq!(Nothing::decode(&[0]), None);
}

#[test]
fn a_derived_wire_enum_is_a_tag_its_fields_and_zeros() {
    assert_eq!(Py::SIZE, 1 + 4 + 15, "the tag and the largest variant");
    assert_eq!(Py::type_identity(), "tests::derive::Py");
    for v in [
        Py::None,
        Py::Int(-3),
        Py::Str(s("")),
        Py::Str(s("fifteen bytes!!")),
        Py::Pair { a: 3, b: true },
    ] {
        let bytes = encoded(&v);
        assert_eq!(Py::decode(&bytes), Some(v));
    }
    let int = encoded(&Py::Int(1));
    assert_eq!(int[..10], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(int[10..].iter().all(|&b| b == 0), "unused room is zeros");
    // One value, one encoding: a byte after the variant's fields, a tag
    // that is no variant, a field that doesn't decode: all refused.
    let mut stray = int.clone();
    stray[12] = 1;
    assert_eq!(Py::decode(&stray), None);
    let mut tag = int.clone();
    tag[0] = 4;
    assert_eq!(Py::decode(&tag), None);
    let mut pair = encoded(&Py::Pair { a: 0, b: false });
    pair[2] = 2;
    assert_eq!(Py::decode(&pair), None, "a bool that is neither 0 nor 1");
    // Equal values have equal bytes (the server compares keys by them).
    let mut long = FixedStr::<15>::new();
    long.set("longer text").unwrap();
    long.set("ab").unwrap();
    assert_eq!(encoded(&Py::Str(long)), encoded(&Py::Str(s("ab"))));
}

#[test]
fn the_derived_traits_are_implemented() {
    fn task_data<T: TaskData>() {}
    task_data::<Job>();
    task_data::<Outcome<Job>>();
    task_data::<Outcome<[u8; 3]>>();
    fn shareable<T: Shareable>() {}
    shareable::<Point>();
    shareable::<[Meters; 4]>();
}
