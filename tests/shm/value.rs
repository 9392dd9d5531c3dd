//! `Value<T>` (with its lock) and `RawValue<T>` (without) across fork.

use std::io::Write as _;

use mproc::process::{self, Fork, Process};
use mproc::shm::{FixedStr, RawValue, Value};

use crate::common::{gate, isolated};

#[test]
fn value_get_and_set_cross_processes_for_several_types() {
    isolated(|| {
        let int = Value::new(-5i32).unwrap();
        let float = Value::new(0.0f64).unwrap();
        let big = Value::new(u64::MAX - 1).unwrap();
        let text = Value::new("Hello".parse::<FixedStr<32>>().unwrap()).unwrap();
        let world: FixedStr<32> = "World, and a bit more: 32 bytes!".parse().unwrap();
        let mut p = Process::new(|| {
            // What the parent set before the fork is here...
            let ok = int.get() == -5
                && float.get() == 0.0
                && big.get() == u64::MAX - 1
                && text.get() == "Hello";
            // ...and what this child sets reaches the parent.
            int.set(int.get() * 3);
            float.set(1234.5678);
            big.set(big.get() + 1);
            text.set(world);
            process::exit(if ok { 0 } else { 3 });
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0, "the child saw other values");
        assert_eq!(int.get(), -15);
        assert_eq!(float.get(), 1234.5678);
        assert_eq!(big.get(), u64::MAX);
        assert_eq!(text.get(), "World, and a bit more: 32 bytes!");
        assert_eq!(text.get().len(), 32);
    });
}

#[test]
fn the_parents_set_after_the_fork_reaches_a_running_child() {
    isolated(|| {
        let v = Value::new(0u64).unwrap();
        let (go, mut open) = gate();
        let mut p = Process::new(|| {
            go.wait();
            process::exit(if v.get() == 0xdead_beef { 0 } else { 1 });
        });
        p.start().unwrap();
        v.set(0xdead_beef);
        open.write_all(b"x").unwrap();
        assert_eq!(
            p.join().unwrap(),
            0,
            "the child did not see the parent's set"
        );
    });
}

#[test]
fn value_lock_gives_a_read_modify_write_guard() {
    isolated(|| {
        let v = Value::new(10i32).unwrap();
        {
            let mut g = v.lock().unwrap();
            *g += 5;
            assert_eq!(*g, 15);
            assert!(v.get_lock().is_locked());
            assert_eq!(v.get_lock().holder(), Some(process::getpid()));
            assert!(g.lock_guard().lock().is_consistent());
        }
        assert!(!v.get_lock().is_locked());
        let mut p = Process::new(|| {
            let mut g = v.lock().unwrap();
            *g *= 2;
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(v.get(), 30);
    });
}

#[test]
fn value_debug_shows_the_value() {
    let v = Value::new(7u32).unwrap();
    assert_eq!(format!("{v:?}"), "Value(7)");
    let s = Value::new("hi".parse::<FixedStr<8>>().unwrap()).unwrap();
    assert_eq!(format!("{s:?}"), "Value(\"hi\")");
    let r = RawValue::new(-1i8).unwrap();
    assert_eq!(format!("{r:?}"), "RawValue(-1)");
}

#[test]
fn raw_value_get_and_set_cross_processes() {
    isolated(|| {
        let n = RawValue::new(1.5f32).unwrap();
        let s = RawValue::new(FixedStr::<16>::new()).unwrap();
        let mut p = Process::new(|| {
            let ok = n.get() == 1.5 && s.get().is_empty();
            n.set(-2.25);
            s.set("from the child".parse().unwrap());
            process::exit(if ok { 0 } else { 3 });
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(n.get(), -2.25);
        assert_eq!(s.get(), "from the child");
    });
}

#[test]
fn a_value_guard_forked_into_a_child_does_not_release_the_parents_lock() {
    isolated(|| {
        let v = Value::new(1u32).unwrap();
        let me = process::getpid();
        let g = v.lock().unwrap();
        match process::fork().unwrap() {
            Fork::Child(_) => {
                drop(g); // the child's copy: not the holder, releases nothing
                let still_held = v.get_lock().holder() == Some(me);
                process::exit(if still_held { 0 } else { 1 });
            }
            Fork::Parent(pid) => {
                assert_eq!(
                    process::waitpid(pid).unwrap(),
                    0,
                    "the child's drop released"
                );
                assert_eq!(v.get_lock().holder(), Some(me));
                drop(g);
                assert!(!v.get_lock().is_locked());
                assert_eq!(v.get(), 1);
            }
        }
    });
}
