//! `map`, `map_into`, `map_async` (with callbacks too), `imap`, `imap_unordered`, `starmap`.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use mproc::ErrorKind;
use mproc::pool::Pool;

use crate::common::isolated;

fn square(x: u64) -> u64 {
    x * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[test]
fn map_returns_results_in_input_order_for_every_chunksize() {
    isolated(|| {
        let pool = Pool::new(3).unwrap();
        let want: Vec<u64> = (0..1000).map(|x| x * x).collect();
        for chunksize in [None, Some(1), Some(7), Some(64), Some(1000)] {
            assert_eq!(pool.map(square, 0..1000u64, chunksize).unwrap(), want);
        }
        assert!(pool.map(square, 0..0u64, None).unwrap().is_empty());
    });
}

#[test]
fn map_into_fills_the_buffer_and_leaves_the_rest_of_the_items() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let mut out = [0u64; 100];
        let mut items = 0..150u64;
        assert_eq!(pool.map_into(square, &mut items, &mut out, 8).unwrap(), 100);
        assert!(out.iter().enumerate().all(|(i, &v)| v == (i * i) as u64));
        // Nothing taken beyond the buffer was lost.
        assert_eq!(items.next(), Some(100));
    });
}

#[test]
fn map_async_returns_at_once_and_get_waits() {
    isolated(|| {
        fn slow(x: u64) -> u64 {
            std::thread::sleep(Duration::from_millis(20));
            x + 1
        }
        let pool = Pool::new(2).unwrap();
        let mut out = [0u64; 10];
        let started = std::time::Instant::now();
        let mut r = pool.map_async(slow, 0..10u64, &mut out, 1);
        assert!(started.elapsed() < Duration::from_millis(20));
        assert!(!r.ready());
        r.wait().unwrap();
        assert!(r.ready());
        assert_eq!(r.get().unwrap(), 10);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });
}

#[test]
fn map_async_with_runs_the_callback_once_with_every_result() {
    isolated(|| {
        let pool = Pool::new(3).unwrap();
        let mut out = [0u64; 50];
        let seen = RefCell::new(Vec::new());
        let (calls, errors) = (Cell::new(0), Cell::new(0));
        let mut r = pool.map_async_with(
            square,
            0..50u64,
            &mut out,
            4,
            |results: &[u64]| {
                calls.set(calls.get() + 1);
                seen.borrow_mut().extend_from_slice(results);
            },
            |_| errors.set(errors.get() + 1),
        );
        r.wait().unwrap();
        assert_eq!((calls.get(), errors.get()), (1, 0));
        assert!(r.ready());
        assert_eq!(r.get().unwrap(), 50);
        assert_eq!(calls.get(), 1);
        let want: Vec<u64> = (0..50).map(|x| x * x).collect();
        assert_eq!(*seen.borrow(), want);
        assert_eq!(out.to_vec(), want);
    });
}

#[test]
fn map_async_with_runs_the_error_callback_with_the_first_failure() {
    isolated(|| {
        fn picky(x: u64) -> u64 {
            assert!(x != 13 && x != 40, "unlucky {x}");
            x
        }
        let pool = Pool::new(2).unwrap();
        let mut out = [0u64; 100];
        let failure = RefCell::new(None);
        let calls = Cell::new(0);
        let r = pool.map_async_with(
            picky,
            0..100u64,
            &mut out,
            4,
            |_: &[u64]| calls.set(calls.get() + 1),
            |e| *failure.borrow_mut() = Some(e.message().to_owned()),
        );
        // `get` runs it before it returns the same failure.
        let e = r.get().unwrap_err();
        assert_eq!(e.message(), "unlucky 13");
        assert_eq!(failure.borrow().as_deref(), Some("unlucky 13"));
        assert_eq!(calls.get(), 0);
        assert_eq!(pool.outstanding(), 0);
    });
}

#[test]
fn map_async_with_runs_nothing_for_a_handle_dropped_before_it_saw_the_end() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let mut out = [0u64; 8];
        let calls = Cell::new(0);
        let r = pool.map_async_with(
            square,
            0..8u64,
            &mut out,
            1,
            |_: &[u64]| calls.set(calls.get() + 1),
            |_| calls.set(calls.get() + 1),
        );
        drop(r);
        pool.close();
        pool.join().unwrap();
        assert_eq!(calls.get(), 0);
        assert_eq!(pool.outstanding(), 0);
    });
}

#[test]
fn map_fails_with_the_first_failure_in_input_order() {
    isolated(|| {
        fn picky(x: u64) -> u64 {
            assert!(x != 13 && x != 40, "unlucky {x}");
            x
        }
        let pool = Pool::new(2).unwrap();
        let e = pool.map(picky, 0..100u64, 4).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.message(), "unlucky 13");
        // The pool is fine afterwards, and nothing is left outstanding.
        assert_eq!(pool.outstanding(), 0);
        assert_eq!(pool.map(square, 0..3u64, None).unwrap(), [0, 1, 4]);
    });
}

#[test]
fn imap_is_ordered_and_imap_unordered_yields_as_tasks_end() {
    isolated(|| {
        fn sleepy(x: u64) -> u64 {
            // The first item is slow: one worker is stuck on it while the
            // other runs all the rest.
            std::thread::sleep(Duration::from_millis(if x == 0 { 400 } else { 1 }));
            x
        }
        let pool = Pool::new(2).unwrap();
        let ordered: Vec<u64> = pool
            .imap(sleepy, 0..12u64, None)
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(ordered, (0..12).collect::<Vec<_>>());
        let unordered: Vec<u64> = pool
            .imap_unordered(sleepy, 0..12u64, None)
            .map(|r| r.unwrap())
            .collect();
        let mut sorted = unordered.clone();
        sorted.sort();
        assert_eq!(sorted, (0..12).collect::<Vec<_>>());
        // The slow first item comes last.
        assert_eq!(unordered.last(), Some(&0), "{unordered:?}");
    });
}

#[test]
fn imap_yields_one_result_per_item_with_failures_in_place() {
    isolated(|| {
        fn odd_panics(x: u64) -> u64 {
            assert!(x.is_multiple_of(2), "odd");
            x
        }
        let pool = Pool::new(2).unwrap();
        let got: Vec<_> = pool.imap(odd_panics, 0..40u64, 6).collect();
        assert_eq!(got.len(), 40);
        for (i, r) in got.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, i as u64),
                Err(e) => {
                    assert_eq!(i % 2, 1);
                    assert_eq!(e.kind(), ErrorKind::Panicked);
                }
            }
        }
    });
}

#[test]
fn dropping_an_imap_early_frees_its_slots() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let mut it = pool.imap(square, 0..10_000u64, 16);
        assert_eq!(it.next().unwrap().unwrap(), 0);
        drop(it);
        pool.close();
        pool.join().unwrap();
        assert_eq!(pool.outstanding(), 0);
    });
}

#[test]
fn starmap_calls_with_the_tuple_fields() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let pairs: Vec<(u64, u64)> = (0..50).map(|i| (i, 100 * i)).collect();
        let sums = pool.starmap(add, pairs.iter().copied(), None).unwrap();
        assert_eq!(sums, (0..50).map(|i| 101 * i).collect::<Vec<_>>());
        let mut out = [0i64; 3];
        let n = pool
            .starmap_into(
                |a: i64, b: i64, c: i64| a * b - c,
                [(2, 3, 1), (4, 5, 0), (-1, 1, 1)],
                &mut out,
                None,
            )
            .unwrap();
        assert_eq!((n, out), (3, [5, 20, -2]));
    });
}

#[test]
fn tasks_carry_strings_vectors_and_structs() {
    isolated(|| {
        use heapless::{String, Vec};
        fn shout(s: String<64>) -> String<64> {
            let mut out = String::new();
            for c in s.chars() {
                let _ = out.push(c.to_ascii_uppercase());
            }
            out
        }
        fn stats(v: Vec<u32, 16>) -> (u32, u32, Option<u32>) {
            (v.iter().sum(), v.len() as u32, v.iter().copied().max())
        }
        let pool = Pool::new(2).unwrap();
        let mut s = String::<64>::new();
        s.push_str("hello, pool").unwrap();
        assert_eq!(pool.apply(shout, s).unwrap().as_str(), "HELLO, POOL");
        let v: Vec<u32, 16> = [3, 9, 4].into_iter().collect();
        assert_eq!(pool.apply(stats, v).unwrap(), (16, 3, Some(9)));
        let words = ["a", "bc", "def"].map(|w| String::<64>::try_from(w).unwrap());
        let shouted = pool.map(shout, words, None).unwrap();
        assert_eq!(
            shouted
                .iter()
                .map(|s| s.as_str())
                .collect::<std::vec::Vec<_>>(),
            ["A", "BC", "DEF"]
        );
    });
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn an_imap_waits_for_the_slots_of_tasks_whose_handles_were_dropped() {
    isolated(|| {
        // Every slot busy with a task nobody holds: the imap waits for
        // them to end (as `apply_async` does), it does not fail.
        let pool = Pool::builder().processes(2).build_sized::<3, 64>().unwrap();
        for _ in 0..3 {
            drop(pool.apply_async(nap, 50).unwrap());
        }
        assert_eq!(pool.outstanding(), 3);
        let sum: u64 = pool
            .imap_unordered(square, 0..20u64, 1)
            .map(|r| r.unwrap())
            .sum();
        assert_eq!(sum, (0..20u64).map(square).sum());
        for _ in 0..3 {
            drop(pool.apply_async(nap, 50).unwrap());
        }
        let squares: Vec<u64> = pool.imap(square, 0..20u64, 2).map(|r| r.unwrap()).collect();
        assert_eq!(squares[19], 361);
        for _ in 0..3 {
            drop(pool.apply_async(nap, 50).unwrap());
        }
        assert_eq!(pool.map(square, 0..20u64, None).unwrap()[19], 361);
    });
}
