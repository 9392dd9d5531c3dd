//! The pool: apply, apply_async, map and callbacks, serde values, and a
//! pool sized at run time.

use super::*;

pub(crate) fn pool_square(x: u64) -> u64 {
    x * x
}

fn pool_nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn pool_apply_async_get_map_and_callbacks_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        use mproc::pool::Pool;
        let pool = Pool::new(2).unwrap();
        let round = || {
            // apply_async + get, spinning hand-offs and a parked wait.
            let r = pool.apply_async(pool_square, 7).unwrap();
            assert_eq!(r.get().unwrap(), 49);
            assert_eq!(pool.apply(pool_nap, 3).unwrap(), 3);
            let mut r = pool.apply_async(pool_nap, 20).unwrap();
            assert!(r.get_timeout(Duration::from_millis(1)).is_err());
            assert_eq!(r.get_timeout(Duration::from_secs(20)).unwrap(), 20);
            // A failed task: the error carries its message inline.
            let e = pool
                .apply(|x: u64| -> u64 { panic!("no {x}") }, 1)
                .unwrap_err();
            assert_eq!(e.message(), "no 1");
            // Callbacks without captures, and a dropped handle.
            drop(
                pool.apply_async_with(pool_square, 3, |v: &u64| assert_eq!(*v, 9), |_| {})
                    .unwrap(),
            );
            // The allocation-free map forms.
            let mut out = [0u64; 100];
            assert_eq!(
                pool.map_into(pool_square, 0..100u64, &mut out, 8).unwrap(),
                100
            );
            assert_eq!(out[99], 99 * 99);
            // The callback forms without an error callback, and of map_async.
            let r = pool
                .apply_async_callback(pool_square, 4, |v: &u64| assert_eq!(*v, 16))
                .unwrap();
            assert_eq!(r.get().unwrap(), 16);
            let r = pool.map_async_with(
                pool_square,
                0..100u64,
                &mut out,
                8,
                |results: &[u64]| assert_eq!(results[99], 99 * 99),
                |e| panic!("{e}"),
            );
            assert_eq!(r.get().unwrap(), 100);
            let sum: u64 = pool
                .imap_unordered(pool_square, 0..50u64, 4)
                .map(|r| r.unwrap())
                .sum();
            assert_eq!(sum, (0..50u64).map(|x| x * x).sum());
            pool.poll().unwrap();
            // The watchdog's question.
            assert!(pool.healthy());
        };
        assert_steady_state_allocates_nothing(10, round);
    });
}

/// A value whose encoding (3072 bytes) is bigger than a default pool slot.
#[cfg(feature = "serde")]
type Big = [[[u8; 32]; 32]; 3];

#[cfg(feature = "serde")]
fn pool_big(x: u8) -> Big {
    [[[x; 32]; 32]; 3]
}

#[cfg(feature = "serde")]
fn pool_first(b: Big) -> u8 {
    b[0][0][0]
}

#[cfg(feature = "serde")]
fn pool_pair(v: (u32, [u8; 16])) -> (u64, [u8; 16]) {
    (u64::from(v.0) * 2, v.1)
}

/// Serde values (feature `serde`) through a pool: arguments and results
/// encoded into the slots and decoded from them allocate nothing for
/// values whose types have no heap fields; nor do callbacks, the map
/// forms into a buffer, and the errors of a value too big either way.
#[cfg(feature = "serde")]
#[test]
fn serde_values_through_a_pool_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        use mproc::pool::Pool;
        let pool = Pool::new(2).unwrap();
        let round = || {
            assert_eq!(pool.apply_value(pool_square, 7u64).unwrap(), 49);
            let r = pool.apply_async_value(pool_pair, (3, [1; 16])).unwrap();
            assert_eq!(r.get().unwrap(), (6, [1; 16]));
            let r = pool
                .apply_async_value_with(pool_square, 3, |v: &u64| assert_eq!(*v, 9), |_| {})
                .unwrap();
            assert_eq!(r.get().unwrap(), 9);
            drop(
                pool.apply_async_value_callback(pool_square, 4, |v: &u64| assert_eq!(*v, 16))
                    .unwrap(),
            );
            let mut out = [0u64; 100];
            assert_eq!(
                pool.map_values_into(pool_square, 0..100u64, &mut out, 8)
                    .unwrap(),
                100
            );
            assert_eq!(out[99], 99 * 99);
            let sum: u64 = pool
                .imap_unordered_values(pool_square, 0..50u64, 4)
                .map(|r| r.unwrap())
                .sum();
            assert_eq!(sum, (0..50u64).map(|x| x * x).sum());
            // Too big as an argument (refused), and as a result (failed).
            assert!(pool.apply_async_value(pool_first, pool_big(1)).is_err());
            assert!(pool.apply_value(pool_big, 1).is_err());
            pool.poll().unwrap();
        };
        assert_steady_state_allocates_nothing(10, round);
    });
}

/// A pool whose ring was sized at run time (`PoolBuilder::slots`,
/// `task_bytes`): its tables are allocated once when it is built, and
/// nothing after; an array bigger than the default slot travels, and
/// (feature `serde`) a value that encodes bigger than it.
#[test]
fn a_pool_sized_at_run_time_allocates_nothing_in_steady_state() {
    common::isolated(|| {
        use mproc::pool::Pool;
        let pool = Pool::builder()
            .processes(2)
            .slots(100)
            .task_bytes(8 * 1024)
            .build()
            .unwrap();
        let round = || {
            let r = pool.apply_async(pool_square, 7).unwrap();
            assert_eq!(r.get().unwrap(), 49);
            assert_eq!(pool.apply(|a: [u8; 6000]| a[5999], [3; 6000]).unwrap(), 3);
            // More tasks than the type's SLOTS, none held: slots come back.
            for i in 0..150u64 {
                drop(pool.apply_async(pool_square, i).unwrap());
            }
            let mut out = [0u64; 100];
            assert_eq!(
                pool.map_into(pool_square, 0..100u64, &mut out, 8).unwrap(),
                100
            );
            assert_eq!(out[99], 99 * 99);
            let sum: u64 = pool
                .imap_unordered(pool_square, 0..50u64, 4)
                .map(|r| r.unwrap())
                .sum();
            assert_eq!(sum, (0..50u64).map(|x| x * x).sum());
            #[cfg(feature = "serde")]
            {
                assert_eq!(pool.apply_value(pool_first, pool_big(5)).unwrap(), 5);
                assert_eq!(pool.apply_value(pool_big, 6).unwrap()[2][31][31], 6);
            }
            pool.poll().unwrap();
        };
        assert_steady_state_allocates_nothing(10, round);
    });
}
