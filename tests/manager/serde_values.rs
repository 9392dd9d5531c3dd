//! Serde values through the manager (feature `serde`): dict keys and
//! values, list items, a value, namespace fields, a queue, a registered
//! type's method; empty, the largest that fits and one byte over (a typed
//! error that loses nothing); garbage from a hostile client.

use std::time::Duration;

use mproc::ErrorKind;
use mproc::manager::{
    Call, DictProxy, MESSAGE_KNOB, Manager, Method, OBJECT_BYTES_KNOB, Serde, Served,
};
use mproc::process::Process;
use serde::{Deserialize, Serialize};

use crate::common::isolated;
use crate::rogue::{self, Garbage, Rogue, header, word};

/// Python's mixed values.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Py {
    None,
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Py>),
}

fn s(text: &str) -> String {
    text.to_string()
}

#[test]
fn a_dict_of_strings_to_lists_and_of_mixed_values_crosses_to_a_child_and_back() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict_serde::<String, Vec<String>>(8, 1024).unwrap();
        let mixed = m.dict_serde::<Py, Py>(8, 1024).unwrap();
        let mut p = Process::new(|| {
            d.set(&s("fruit"), &vec![s("apple"), s("fig")]).unwrap();
            d.set(&s("none"), &vec![]).unwrap();
            mixed.set(&Py::Int(1), &Py::Str(s("1"))).unwrap();
            mixed.set(&Py::Str(s("2")), &Py::Int(2)).unwrap();
            mixed.set(&Py::Float(0.25), &Py::None).unwrap();
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(
            d.get(&s("fruit")).unwrap(),
            Some(vec![s("apple"), s("fig")])
        );
        assert_eq!(d.get(&s("none")).unwrap(), Some(vec![]));
        assert_eq!(d.get(&s("absent")).unwrap(), None);
        // A longer value, then a shorter one, in place: order kept.
        d.set(&s("fruit"), &vec![s("apple"); 20]).unwrap();
        d.set(&s("fruit"), &vec![s("kiwi")]).unwrap();
        assert_eq!(
            d.items().unwrap(),
            [(s("fruit"), vec![s("kiwi")]), (s("none"), vec![])]
        );
        assert!(d.contains(&s("none")).unwrap());
        assert_eq!(d.pop(&s("none")).unwrap(), Some(vec![]));
        assert_eq!(
            d.setdefault(&s("new"), &vec![s("x")]).unwrap(),
            vec![s("x")]
        );
        assert_eq!(
            d.setdefault(&s("new"), &vec![s("y")]).unwrap(),
            vec![s("x")]
        );
        assert_eq!(d.len().unwrap(), 2);
        assert_eq!(
            mixed.items().unwrap(),
            [
                (Py::Int(1), Py::Str(s("1"))),
                (Py::Str(s("2")), Py::Int(2)),
                (Py::Float(0.25), Py::None),
            ]
        );
        mixed.clear().unwrap();
        assert!(mixed.is_empty().unwrap());
    });
}

#[test]
fn a_list_holds_items_of_mixed_sizes_in_order() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let l = m.list_serde::<Py>(16, 4096).unwrap();
        let long = Py::Str("é".repeat(500));
        l.append(&Py::None).unwrap();
        l.append(&long).unwrap();
        l.extend(&[Py::Int(-1), Py::List(vec![Py::Int(2), Py::Str(s("two"))])])
            .unwrap();
        l.insert(0, &Py::Str(String::new())).unwrap();
        l.insert(-1, &Py::Float(1.5)).unwrap();
        assert_eq!(
            l.snapshot().unwrap(),
            [
                Py::Str(String::new()),
                Py::None,
                long.clone(),
                Py::Int(-1),
                Py::Float(1.5),
                Py::List(vec![Py::Int(2), Py::Str(s("two"))]),
            ]
        );
        assert_eq!(l.get(2).unwrap(), long);
        assert_eq!(
            l.get(-1).unwrap(),
            Py::List(vec![Py::Int(2), Py::Str(s("two"))])
        );
        l.set(2, &Py::Int(7)).unwrap();
        l.set(0, &long).unwrap();
        assert_eq!(l.index(&Py::Int(7)).unwrap(), Some(2));
        assert_eq!(l.count(&long).unwrap(), 1);
        assert!(l.remove(&Py::None).unwrap());
        assert!(!l.remove(&Py::None).unwrap());
        assert_eq!(l.pop(0).unwrap(), long);
        l.reverse().unwrap();
        assert_eq!(
            l.snapshot().unwrap(),
            [
                Py::List(vec![Py::Int(2), Py::Str(s("two"))]),
                Py::Float(1.5),
                Py::Int(-1),
                Py::Int(7),
            ]
        );
        let e = l.get(9).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IndexOutOfRange { index: 9, len: 4 });
        l.clear().unwrap();
        assert_eq!(l.len().unwrap(), 0);
    });
}

#[test]
fn a_value_of_a_string_is_replaced_by_longer_and_shorter_ones() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let v = m.value_serde(&s("start"), 64).unwrap();
        assert_eq!(v.get().unwrap(), "start");
        let mut p = Process::new(|| v.set(&"x".repeat(60)).unwrap());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(v.get().unwrap(), "x".repeat(60));
        v.set(&String::new()).unwrap();
        assert_eq!(v.get().unwrap(), "");
        // 63 bytes of text and one of length: the most that fits.
        v.set(&"y".repeat(63)).unwrap();
        let e = v.set(&"z".repeat(64)).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::EncodedSize {
                size: 65,
                capacity: 64,
                knob: OBJECT_BYTES_KNOB
            }
        );
        assert_eq!(v.get().unwrap(), "y".repeat(63), "the old value kept");
        let e = m.value_serde(&"w".repeat(64), 64).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::EncodedSize { size: 65, .. }),
            "{e}"
        );
    });
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Job {
    name: String,
    tags: Vec<String>,
    retries: Option<u8>,
}

#[test]
fn a_namespace_field_holds_a_struct_and_refuses_another_type() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let ns = m.namespace(4, 64).unwrap();
        let job = Job {
            name: s("backup"),
            tags: vec![s("nightly"), s("db")],
            retries: Some(3),
        };
        let mut p = Process::new(|| ns.set_serde("job", &job).unwrap());
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        drop(p);
        assert_eq!(ns.get_serde::<Job>("job").unwrap(), Some(job));
        assert_eq!(ns.get_serde::<Job>("other").unwrap(), None);
        let e = ns.get_serde::<String>("job").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::LayoutMismatch { .. }), "{e}");
        // A serde field and a Wire field of the same Rust type differ.
        ns.set("n", &7u32).unwrap();
        let e = ns.get_serde::<u32>("n").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::LayoutMismatch { .. }), "{e}");
        // Past the field size: a typed error, the old value kept.
        ns.set_serde("text", &"a".repeat(63)).unwrap();
        let e = ns.set_serde("text", &"a".repeat(64)).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::EncodedSize {
                size: 65,
                capacity: 64,
                knob: OBJECT_BYTES_KNOB
            }
        );
        assert_eq!(
            ns.get_serde::<String>("text").unwrap(),
            Some("a".repeat(63))
        );
    });
}

#[test]
fn a_queue_of_strings_waits_for_room_in_its_bytes() {
    isolated(|| {
        let m = Manager::start().unwrap();
        // 10 bytes: "abcd" (5 encoded) twice fills it.
        let q = m.queue_serde::<String>(8, 10).unwrap();
        q.put(&s("abcd")).unwrap();
        q.put(&s("efgh")).unwrap();
        assert_eq!(q.put_nowait(&s("")).unwrap_err().kind(), ErrorKind::Full);
        let e = q.put(&"x".repeat(10)).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::EncodedSize {
                size: 11,
                capacity: 10,
                knob: OBJECT_BYTES_KNOB
            }
        );
        // A child's put waits for room; a get makes it.
        let mut p = Process::new(|| {
            q.put(&s("ijk")).unwrap();
            q.put(&String::new()).unwrap();
        });
        p.start().unwrap();
        assert_eq!(q.get().unwrap(), "abcd");
        assert_eq!(q.get().unwrap(), "efgh");
        assert_eq!(q.get().unwrap(), "ijk");
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), "");
        assert_eq!(p.join().unwrap(), 0);
        assert!(q.empty().unwrap());
        assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
        // A getter that waits is handed the next put straight.
        let mut p = Process::new(|| q.put(&s("late")).unwrap());
        p.start().unwrap();
        assert_eq!(q.get().unwrap(), "late");
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(q.maxsize().unwrap(), 8);
    });
}

struct Greeter {
    greeting: u32,
}

const GREET: Method<String, String> = Method::new(0);
const SPLIT: Method<String, Vec<String>> = Method::new(1);
const COUNT: Method<(), u64> = Method::new(2);

impl Served for Greeter {
    const TYPEID: &'static str = "Greeter";
    type Init = u32;
    fn new(greeting: u32) -> Greeter {
        Greeter { greeting }
    }
    fn serve(&mut self, call: &mut Call<'_>) {
        call.on_serde(GREET, |name: String| {
            self.greeting += 1;
            format!("hello, {name}")
        });
        call.on_serde(SPLIT, |text: String| {
            text.split(' ').map(str::to_string).collect()
        });
        call.on(COUNT, |()| u64::from(self.greeting));
    }
}

#[test]
fn a_registered_types_methods_take_and_return_strings() {
    isolated(|| {
        let m = Manager::builder().register::<Greeter>().start().unwrap();
        let g = m.create::<Greeter>(&0).unwrap();
        assert_eq!(g.call_serde(GREET, &s("world")).unwrap(), "hello, world");
        assert_eq!(g.call_serde(GREET, &String::new()).unwrap(), "hello, ");
        assert_eq!(
            g.call_serde(SPLIT, &s("a bc d")).unwrap(),
            [s("a"), s("bc"), s("d")]
        );
        assert_eq!(g.call(COUNT, &()).unwrap(), 2);
        // Declared with other types: refused before the handler runs.
        const WRONG: Method<u32, String> = Method::new(0);
        let e = g.call_serde(WRONG, &1).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::LayoutMismatch { .. }), "{e}");
        // A result larger than a message.
        let big = "b".repeat(mproc::config::MANAGER_MESSAGE_BYTES);
        let e = g.call_serde(SPLIT, &big).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::EncodedSize {
                    knob: MESSAGE_KNOB,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(g.call(COUNT, &()).unwrap(), 2);
    });
}

#[test]
fn the_largest_entry_fits_and_one_byte_more_is_refused_losing_nothing() {
    isolated(|| {
        let m = Manager::start().unwrap();
        // An entry takes 4 bytes besides its key's and value's encodings.
        let d = m.dict_serde::<String, String>(4, 100).unwrap();
        d.set(&s("k"), &s("")).unwrap();
        assert_eq!(d.get(&s("k")).unwrap(), Some(String::new()));
        // 4 + 2 ("k") + 94 = 100: the whole dict.
        let most = "v".repeat(93);
        d.set(&s("k"), &most).unwrap();
        let e = d.set(&s("k"), &"v".repeat(94)).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::EncodedSize {
                size: 101,
                capacity: 100,
                knob: OBJECT_BYTES_KNOB
            }
        );
        let e = d.set(&s("other"), &String::new()).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::EncodedSize { .. }), "{e}");
        assert_eq!(d.items().unwrap(), [(s("k"), most)], "nothing lost");
        // Entries: four of them, then a fifth is refused.
        d.clear().unwrap();
        for k in ["a", "b", "c", "d"] {
            d.set(&s(k), &s(k)).unwrap();
        }
        let e = d.set(&s("e"), &s("e")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 4 });
        assert_eq!(d.len().unwrap(), 4);
        // Larger than a message: refused before it is sent.
        let huge = "h".repeat(mproc::config::MANAGER_MESSAGE_BYTES);
        let e = d.set(&s("a"), &huge).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::EncodedSize {
                    knob: MESSAGE_KNOB,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(d.get(&s("a")).unwrap(), Some(s("a")));
        // A list and a queue: the same bound.
        let l = m.list_serde::<Vec<u8>>(2, 10).unwrap();
        l.append(&vec![7; 9]).unwrap();
        let e = l.append(&vec![]).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::EncodedSize {
                    size: 1,
                    capacity: 0,
                    ..
                }
            ),
            "{e}"
        );
        let e = l.extend(&[vec![], vec![]]).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::CapacityExceeded { limit: 2 }),
            "{e}"
        );
        assert_eq!(l.snapshot().unwrap(), [vec![7; 9]]);
    });
}

#[test]
fn serde_and_wire_objects_do_not_open_as_each_other() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict_serde::<u32, u32>(4, 64).unwrap();
        d.set(&1, &2).unwrap();
        d.publish("serde-dict").unwrap();
        let e = m.open::<DictProxy<u32, u32>>("serde-dict").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::LayoutMismatch { .. }), "{e}");
        let same = m.open::<DictProxy<u32, u32, Serde>>("serde-dict").unwrap();
        assert_eq!(same.get(&1).unwrap(), Some(2));
        let e = m
            .open::<DictProxy<u32, String, Serde>>("serde-dict")
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::LayoutMismatch { .. }), "{e}");
    });
}

/// The type check the crate gives a serde type: FNV-1a over `serde:` and
/// its name.
fn serde_fingerprint(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in b"serde:".iter().chain(name.as_bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[test]
fn garbage_values_from_a_hostile_client_are_invalid_data_and_the_server_goes_on() {
    isolated(|| {
        let m = Manager::start().unwrap();
        // Objects 1 to 3, each of generation 1 (a fresh server).
        let d = m.dict_serde::<String, String>(8, 512).unwrap();
        let l = m.list_serde::<String>(8, 512).unwrap();
        let q = m.queue_serde::<String>(8, 512).unwrap();
        let mine = m.dict_serde::<String, String>(4, 256).unwrap();
        let fp = serde_fingerprint(std::any::type_name::<String>());
        let rogue = Rogue::connect(m.address());
        // A value that is no String: a length far past the bytes.
        let mut entry = Vec::new();
        entry.extend_from_slice(&4u32.to_le_bytes());
        entry.extend_from_slice(&[3, b'k', b'e', b'y']);
        entry.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0x0F]);
        rogue.request(1, &header(1, 1, 2, entry.len() as u32, (fp, fp)), &entry);
        assert!(rogue.wait_state(word(1, rogue::REPLY), Duration::from_secs(10)));
        let e = d.get(&s("key")).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidData(_)), "{e}");
        let e = d.items().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidData(_)), "{e}");
        // Not UTF-8, through the list and the queue.
        let bad = [2, 0xC3, 0x28];
        rogue.request(2, &header(2, 1, 9, 3, (fp, 0)), &bad);
        assert!(rogue.wait_state(word(2, rogue::REPLY), Duration::from_secs(10)));
        let e = l.get(0).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidData(_)), "{e}");
        let mut put = [0u8; 11];
        put[8..].copy_from_slice(&bad);
        rogue.request(3, &header(3, 1, 10, 11, (fp, 0)), &put);
        assert!(rogue.wait_state(word(3, rogue::REPLY), Duration::from_secs(10)));
        let e = q.get().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidData(_)), "{e}");
        drop(rogue);
        // Then garbage of every shape at the serde objects: whatever the
        // server makes of it, another client's dict is served.
        let mut g = Garbage(0x2545_f491_4f6c_dd1d);
        let mut rogue = Rogue::connect(m.address());
        for round in 1..300u32 {
            let object = 1 + (g.next() % 3) as u32;
            let op = (g.next() % 18) as u16;
            let len = (g.next() % 96) as u32;
            let mut args = vec![0u8; 96];
            g.fill(&mut args);
            if g.next().is_multiple_of(2) {
                // A plausible length word first.
                args[0..4].copy_from_slice(&((g.next() % 100) as u32).to_le_bytes());
            }
            if op == 11 || op == 10 {
                // A queue's get or put: no waiting.
                args[0..8].fill(0);
            }
            let fps = (fp, if object == 1 { fp } else { 0 });
            rogue.request(round, &header(object, 1, op, len, fps), &args);
            mine.set(&s("n"), &round.to_string()).unwrap();
            assert_eq!(mine.get(&s("n")).unwrap(), Some(round.to_string()));
            if rogue.dropped(Duration::ZERO) {
                rogue = Rogue::connect(m.address());
            }
        }
        // The objects still answer, in values or typed errors.
        for r in [d.items().map(drop), l.snapshot().map(drop)] {
            if let Err(e) = r {
                assert!(matches!(e.kind(), ErrorKind::InvalidData(_)), "{e}");
            }
        }
        assert!(m.stats().unwrap().objects >= 4);
    });
}
