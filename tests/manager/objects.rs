//! Dicts, lists, values, namespaces and locks served by a manager, used
//! from the owner and from forked children.

use mproc::ErrorKind;
use mproc::manager::Manager;
use mproc::process::Process;
use mproc::shm::FixedStr;

use crate::common::isolated;

type Str = FixedStr<16>;

fn s(text: &str) -> Str {
    text.parse().unwrap()
}

#[test]
fn a_dict_and_a_list_changed_by_a_child_are_seen_by_the_parent() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict::<u32, Str>(8).unwrap();
        let l = m.list::<i32>(10).unwrap();
        l.extend(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        let mut p = Process::new(|| {
            d.set(&1, &s("1")).unwrap();
            d.set(&2, &s("2")).unwrap();
            l.reverse().unwrap();
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(d.items().unwrap(), [(1, s("1")), (2, s("2"))]);
        assert_eq!(l.snapshot().unwrap(), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert_eq!(d.get(&3).unwrap(), None);
        assert_eq!(d.pop(&1).unwrap(), Some(s("1")));
        assert_eq!(d.len().unwrap(), 1);
    });
}

#[test]
fn a_hundred_processes_decrement_under_a_lock_to_zero() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict::<Str, i64>(4).unwrap();
        d.set(&s("count"), &100).unwrap();
        let lock = m.lock().unwrap();
        let mut children = Vec::new();
        for _ in 0..100 {
            let mut p = Process::new(|| {
                let _g = lock.lock().unwrap();
                let v = d.get(&s("count")).unwrap().unwrap();
                d.set(&s("count"), &(v - 1)).unwrap();
            });
            p.start().unwrap();
            children.push(p);
        }
        for p in &children {
            assert_eq!(p.join().unwrap(), 0);
        }
        assert_eq!(d.get(&s("count")).unwrap(), Some(0));
    });
}

#[test]
fn a_full_dict_refuses_a_new_key_and_keeps_the_old_ones() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let d = m.dict::<u8, u8>(2).unwrap();
        d.set(&1, &10).unwrap();
        d.set(&2, &20).unwrap();
        let e = d.set(&3, &30).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 2 });
        d.set(&2, &21).unwrap();
        assert_eq!(d.items().unwrap(), [(1, 10), (2, 21)]);
    });
}

#[test]
fn the_server_gone_is_manager_gone() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let v = m.value(&7u64).unwrap();
        assert_eq!(v.get().unwrap(), 7);
        let pid = m.pid().unwrap();
        mproc::signal::kill(pid, mproc::Signal::KILL).unwrap();
        let e = v.get().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ManagerGone);
        drop(v);
        drop(m);
    });
}

#[test]
fn a_capacity_that_could_never_work_is_refused_and_queue_zero_is_the_largest() {
    isolated(|| {
        let m = Manager::start().unwrap();
        for (what, e) in [
            ("dict", m.dict::<u8, u8>(0).map(drop).unwrap_err()),
            ("list", m.list::<u8>(0).map(drop).unwrap_err()),
            ("namespace", m.namespace(0, 8).map(drop).unwrap_err()),
            (
                "bounded semaphore",
                m.bounded_semaphore(0).map(drop).unwrap_err(),
            ),
            ("barrier", m.barrier(0).map(drop).unwrap_err()),
        ] {
            assert!(
                matches!(e.kind(), ErrorKind::InvalidArgument(_)),
                "{what}: {e}"
            );
            let text = e.to_string();
            assert!(text.contains(what) && text.contains("at least"), "{text}");
        }
        assert_eq!(m.stats().unwrap().objects, 0);
        // Python's Semaphore(0): it waits for a first release.
        let sem = m.semaphore(0).unwrap();
        assert!(!sem.try_acquire().unwrap());
        sem.release(1).unwrap();
        assert!(sem.try_acquire().unwrap());
        // Python's Queue(0) is unbounded; here it is the largest queue
        // one message allows.
        let q = m.queue::<u64>(0).unwrap();
        let most = (mproc::config::MANAGER_MESSAGE_BYTES - 88) / 8;
        assert_eq!(q.maxsize().unwrap(), most);
        for i in 0..most as u64 {
            q.put_nowait(&i).unwrap();
        }
        assert_eq!(q.put_nowait(&0).unwrap_err().kind(), ErrorKind::Full);
        assert_eq!(q.get().unwrap(), 0);
        // Items of no bytes are counted (Python's q.put(None) as a token).
        let tokens = m.queue::<()>(2).unwrap();
        tokens.put(&()).unwrap();
        tokens.put(&()).unwrap();
        assert_eq!(tokens.qsize().unwrap(), 2);
        assert_eq!(tokens.put_nowait(&()).unwrap_err().kind(), ErrorKind::Full);
        tokens.get_nowait().unwrap();
        tokens.get_nowait().unwrap();
        assert_eq!(tokens.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
        let units = m.list::<()>(3).unwrap();
        assert_eq!(units.extend(&[(), ()]).unwrap(), 2);
        assert_eq!(units.append(&()).unwrap(), 3);
        assert!(matches!(
            units.append(&()).unwrap_err().kind(),
            ErrorKind::CapacityExceeded { limit: 3 }
        ));
        assert_eq!(units.snapshot().unwrap(), [(), (), ()]);
    });
}
