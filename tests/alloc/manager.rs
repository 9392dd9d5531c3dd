//! The manager's proxies, fixed and serde values.

use super::*;

#[test]
fn manager_proxy_calls_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        use mproc::manager::Manager;
        let m = Manager::start().unwrap();
        let d = m.dict::<FixedStr<16>, i64>(8).unwrap();
        let l = m.list::<u32>(8).unwrap();
        let v = m.value(&0u64).unwrap();
        let ns = m.namespace(2, 8).unwrap();
        let lock = m.lock().unwrap();
        let sem = m.semaphore(1).unwrap();
        let ev = m.event().unwrap();
        let cond = m.condition().unwrap();
        let q = m.queue::<u64>(4).unwrap();
        let arr = m.array::<u32>(&[1, 2, 3, 4]).unwrap();
        let key: FixedStr<16> = "count".parse().unwrap();
        d.set(&key, &100).unwrap();
        let round = || {
            // The seed's locked decrement: acquire, get, set, release.
            {
                let _g = lock.lock().unwrap();
                let n = d.get(&key).unwrap().unwrap();
                d.set(&key, &(n - 1)).unwrap();
            }
            assert!(d.contains(&key).unwrap());
            let mut items = heapless::Vec::<(FixedStr<16>, i64), 8>::new();
            d.items_into(&mut items).unwrap();
            l.append(&7).unwrap();
            assert_eq!(l.pop(-1).unwrap(), 7);
            let mut snap = heapless::Vec::<u32, 8>::new();
            l.snapshot_into(&mut snap).unwrap();
            v.set(&v.get().unwrap().wrapping_add(1)).unwrap();
            arr.set(-1, &arr.get(0).unwrap().wrapping_add(1)).unwrap();
            assert_eq!(arr.len().unwrap(), 4);
            let mut cells = [0u32; 4];
            arr.snapshot_into(&mut cells).unwrap();
            assert!(arr.get(4).is_err());
            ns.set("x", &1i32).unwrap();
            assert_eq!(ns.get::<i32>("x").unwrap(), Some(1));
            // A refused call: its error is built without allocating.
            assert!(l.get(99).is_err());
            assert!(lock.acquire_timeout(Duration::ZERO).unwrap());
            lock.release().unwrap();
            // The waiting kinds, including a wait the server times out.
            sem.acquire().unwrap();
            assert!(!sem.acquire_timeout(Duration::from_micros(100)).unwrap());
            sem.release(1).unwrap();
            ev.set().unwrap();
            ev.wait().unwrap();
            ev.clear().unwrap();
            {
                let _g = cond.lock().unwrap();
                cond.notify_all().unwrap();
                assert!(!cond.wait_timeout(Duration::from_micros(100)).unwrap());
            }
            q.put(&5).unwrap();
            assert_eq!(q.get().unwrap(), 5);
            assert!(q.get_nowait().is_err());
        };
        assert_steady_state_allocates_nothing(50, round);
    });
}

/// Serde values (feature `serde`) through the manager's dict, list, value,
/// namespace and queue: for types without heap fields, calls allocate
/// nothing in steady state; nor do their refusals (more items than a
/// list holds).
#[cfg(feature = "serde")]
#[test]
fn manager_serde_values_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        use mproc::manager::Manager;
        let m = Manager::start().unwrap();
        let d = m.dict_serde::<(u8, u32), Option<u64>>(8, 256).unwrap();
        let l = m.list_serde::<[u8; 16]>(8, 256).unwrap();
        let v = m.value_serde(&(1u32, true), 16).unwrap();
        let ns = m.namespace(2, 16).unwrap();
        let q = m.queue_serde::<(i64, char)>(4, 64).unwrap();
        let round = || {
            d.set(&(1, 2), &Some(3)).unwrap();
            assert_eq!(d.get(&(1, 2)).unwrap(), Some(Some(3)));
            let mut items = heapless::Vec::<((u8, u32), Option<u64>), 8>::new();
            d.items_into(&mut items).unwrap();
            assert_eq!(d.pop(&(1, 2)).unwrap(), Some(Some(3)));
            l.append(&[7; 16]).unwrap();
            let mut snap = heapless::Vec::<[u8; 16], 8>::new();
            l.snapshot_into(&mut snap).unwrap();
            assert_eq!(l.pop(-1).unwrap(), [7; 16]);
            v.set(&(2, false)).unwrap();
            assert_eq!(v.get().unwrap(), (2, false));
            ns.set_serde("x", &(5u16, 6u16)).unwrap();
            assert_eq!(ns.get_serde::<(u16, u16)>("x").unwrap(), Some((5, 6)));
            q.put(&(-1, 'é')).unwrap();
            assert_eq!(q.get().unwrap(), (-1, 'é'));
            assert!(l.extend(&[[0; 16]; 16]).is_err());
        };
        assert_steady_state_allocates_nothing(20, round);
    });
}
