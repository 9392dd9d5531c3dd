//! Values of any serde type through the pool (feature `serde`): `String`
//! arguments and results through every entry point, callbacks, the
//! empty, largest and one-byte-over cases, results too big or that do
//! not decode, and a worker killed mid-task.

use std::cell::RefCell;
use std::rc::Rc;

use mproc::ErrorKind;
use mproc::pool::{CHUNK_KNOB, Pool, TASK_BYTES_KNOB, TaskError};
use mproc::process;
use mproc::signal::{self, Signal};
use serde::{Deserialize, Serialize};

use crate::common::isolated;

fn shout(s: String) -> String {
    s.to_uppercase()
}

fn echo(s: String) -> String {
    s
}

fn join(a: String, b: String) -> String {
    format!("{a}-{b}")
}

/// A result `n` bytes long.
fn long(n: u64) -> String {
    "x".repeat(n as usize)
}

/// Kills its own worker for "die".
fn die_on(s: String) -> String {
    if s == "die" {
        signal::kill(process::getpid(), Signal::KILL).unwrap();
    }
    s.to_uppercase()
}

/// Serialises any number but refuses 13 when read back.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(try_from = "u32", into = "u32")]
struct NotThirteen(u32);

impl TryFrom<u32> for NotThirteen {
    type Error = &'static str;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        if v == 13 {
            Err("13")
        } else {
            Ok(NotThirteen(v))
        }
    }
}

impl From<NotThirteen> for u32 {
    fn from(v: NotThirteen) -> u32 {
        v.0
    }
}

fn thirteen(x: u32) -> NotThirteen {
    NotThirteen(x)
}

fn words(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("word-{i}")).collect()
}

fn shouted(n: usize) -> Vec<String> {
    words(n).iter().map(|w| w.to_uppercase()).collect()
}

#[test]
fn strings_travel_through_every_entry_point() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        assert_eq!(pool.apply_value(shout, "abc".to_string()).unwrap(), "ABC");
        let r = pool.apply_async_value(shout, "def".to_string()).unwrap();
        assert_eq!(r.get().unwrap(), "DEF");

        let seen = Rc::new(RefCell::new(String::new()));
        let s = Rc::clone(&seen);
        let r = pool
            .apply_async_value_with(
                shout,
                "callback".to_string(),
                move |v: &String| s.borrow_mut().push_str(v),
                |e| panic!("{e}"),
            )
            .unwrap();
        assert_eq!(r.get().unwrap(), "CALLBACK");
        assert_eq!(*seen.borrow(), "CALLBACK");
        let s = Rc::clone(&seen);
        let r = pool
            .apply_async_value_callback(shout, "only".to_string(), move |v: &String| {
                s.borrow_mut().push_str(v)
            })
            .unwrap();
        drop(r);
        pool.close();
        pool.join().unwrap();
        assert_eq!(*seen.borrow(), "CALLBACKONLY", "the callback ran at join");

        let pool = Pool::new(2).unwrap();
        for chunksize in [None, Some(1), Some(7), Some(256)] {
            assert_eq!(
                pool.map_values(shout, words(500), chunksize).unwrap(),
                shouted(500)
            );
        }
        let mut out = vec![String::new(); 100];
        assert_eq!(
            pool.map_values_into(shout, words(120), &mut out, None)
                .unwrap(),
            100
        );
        assert_eq!(out, shouted(100));
        let mut out = vec![String::new(); 50];
        let mut m = pool.map_async_values(shout, words(50), &mut out, 3);
        m.wait().unwrap();
        assert_eq!(m.get().unwrap(), 50);
        assert_eq!(out, shouted(50));
        let mut out = vec![String::new(); 30];
        let total = RefCell::new(0);
        let m = pool.map_async_values_with(
            shout,
            words(30),
            &mut out,
            None,
            |rs: &[String]| *total.borrow_mut() = rs.len(),
            |e| panic!("{e}"),
        );
        assert_eq!(m.get().unwrap(), 30);
        assert_eq!(*total.borrow(), 30);
        let got: Vec<String> = pool
            .imap_values(shout, words(200), 4)
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got, shouted(200));
        let mut got: Vec<String> = pool
            .imap_unordered_values(shout, words(200), None)
            .map(|r| r.unwrap())
            .collect();
        got.sort();
        let mut want = shouted(200);
        want.sort();
        assert_eq!(got, want);
        let pairs: Vec<(String, String)> = words(40).into_iter().zip(words(40)).collect();
        let joined = pool.starmap_values(join, pairs, 3).unwrap();
        assert_eq!(joined[39], "word-39-word-39");
        assert_eq!(joined.len(), 40);
        // The TaskData forms still work beside them.
        assert_eq!(pool.apply(|x: u64| x + 1, 1).unwrap(), 2);
    });
}

#[test]
fn empty_values_and_empty_maps() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        assert_eq!(pool.apply_value(echo, String::new()).unwrap(), "");
        assert_eq!(
            pool.apply_value(|v: Vec<u8>| v.len() as u64, vec![])
                .unwrap(),
            0
        );
        assert_eq!(pool.apply_value(|(): ()| (), ()).unwrap(), ());
        assert!(
            pool.map_values(shout, Vec::<String>::new(), None)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            pool.imap_values(shout, Vec::<String>::new(), None).count(),
            0
        );
        let empties = vec![String::new(); 300];
        assert_eq!(
            pool.map_values(echo, empties.clone(), 256).unwrap(),
            empties
        );
    });
}

#[test]
fn the_largest_argument_fits_and_one_byte_over_is_refused_losing_nothing() {
    isolated(|| {
        // 256-byte slots: 248 for an encoding after the 8-byte header; a
        // 246-byte string encodes to 248 (a 2-byte length first).
        let pool = Pool::builder()
            .processes(1)
            .build_sized::<4, 256>()
            .unwrap();
        let earlier = pool
            .apply_async_value(shout, "earlier".to_string())
            .unwrap();
        let largest = "a".repeat(246);
        assert_eq!(pool.apply_value(echo, largest.clone()).unwrap(), largest);
        let e = pool.apply_async_value(echo, "a".repeat(247)).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::EncodedSize {
                size: 249,
                capacity: 248,
                knob: TASK_BYTES_KNOB
            }
        );
        assert!(e.to_string().contains("MPROC_POOL_TASK_BYTES"), "{e}");
        assert_eq!(earlier.get().unwrap(), "EARLIER");
        assert_eq!(pool.outstanding(), 0, "the refused task took no slot");
        assert_eq!(
            pool.apply_value(shout, "after".to_string()).unwrap(),
            "AFTER"
        );

        // In a map: the items before the oversized one end with their
        // results, then the error, and nothing after it is submitted.
        let mut items = words(20);
        items[12] = "b".repeat(300);
        let got: Vec<Result<String, TaskError>> = pool.imap_values(shout, items, 3).collect();
        assert_eq!(got.len(), 13);
        for (i, r) in got[..12].iter().enumerate() {
            assert_eq!(r.as_ref().unwrap(), &format!("WORD-{i}"));
        }
        let e = got[12].as_ref().unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::EncodedSize {
                size: 302,
                capacity: 248,
                knob: TASK_BYTES_KNOB
            }
        );
        let mut items = words(20);
        items[5] = "b".repeat(300);
        assert!(matches!(
            pool.map_values(shout, items, None).unwrap_err().kind(),
            ErrorKind::EncodedSize { size: 302, .. }
        ));
        assert_eq!(
            pool.map_values(shout, words(50), None).unwrap(),
            shouted(50)
        );
    });
}

#[test]
fn a_result_too_big_fails_its_task_alone_with_both_sizes() {
    isolated(|| {
        let pool = Pool::builder()
            .processes(1)
            .build_sized::<4, 256>()
            .unwrap();
        assert_eq!(pool.apply_value(long, 246).unwrap().len(), 246);
        let e = pool.apply_value(long, 247).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::EncodedSize {
                size: 249,
                capacity: 248,
                knob: TASK_BYTES_KNOB
            }
        );
        // The error callback hears of it; the callback does not run.
        let seen = Rc::new(RefCell::new(None));
        let s = Rc::clone(&seen);
        let r = pool
            .apply_async_value_with(
                long,
                1000,
                |_: &String| panic!("no result fits"),
                move |e: &TaskError| *s.borrow_mut() = Some(e.kind()),
            )
            .unwrap();
        assert!(r.get().is_err());
        assert!(matches!(
            *seen.borrow(),
            Some(ErrorKind::EncodedSize {
                size: 1002,
                capacity: 248,
                ..
            })
        ));
        // In a chunk, a result gets the room its chunk-mates left (here
        // 30 bytes for the third); alone, the whole slot.
        let lens = vec![100u64, 100, 100];
        let got: Vec<_> = pool.imap_values(long, lens.clone(), 3).collect();
        assert_eq!(got[0].as_ref().unwrap().len(), 100);
        assert!(matches!(
            got[2].as_ref().unwrap_err().kind(),
            ErrorKind::EncodedSize {
                size: 101,
                capacity: 30,
                knob: CHUNK_KNOB
            }
        ));
        let alone = pool.map_values(long, lens, 1).unwrap();
        assert!(alone.iter().all(|s| s.len() == 100));
        assert_eq!(
            pool.apply_value(shout, "still".to_string()).unwrap(),
            "STILL"
        );
    });
}

/// Panics for 1, else a result `n` bytes long.
fn long_or_panic(n: u64) -> String {
    assert!(n != 1, "one");
    "x".repeat(n as usize)
}

#[test]
fn a_panic_after_a_result_too_big_in_its_chunk_keeps_its_message() {
    isolated(|| {
        let pool = Pool::builder()
            .processes(1)
            .initializer(|()| std::panic::set_hook(Box::new(|_| {})), ())
            .build_sized::<4, 256>()
            .unwrap();
        let got: Vec<_> = pool
            .imap_values(long_or_panic, [1000u64, 1, 3], 3)
            .collect();
        assert!(matches!(
            got[0].as_ref().unwrap_err().kind(),
            ErrorKind::EncodedSize { size: 1002, .. }
        ));
        let e = got[1].as_ref().unwrap_err();
        assert_eq!((e.kind(), e.message()), (ErrorKind::Panicked, "one"));
        assert_eq!(got[2].as_ref().unwrap(), "xxx");
    });
}

#[test]
fn a_result_that_does_not_decode_fails_its_task() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        assert_eq!(pool.apply_value(thirteen, 12).unwrap(), NotThirteen(12));
        let e = pool.apply_value(thirteen, 13).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidData(_)), "{e:?}");
        let got = pool.map_values(thirteen, 10..16, 2).unwrap_err();
        assert!(matches!(got.kind(), ErrorKind::InvalidData(_)));
        let seen = Rc::new(RefCell::new(None));
        let s = Rc::clone(&seen);
        pool.apply_async_value_with(
            thirteen,
            13,
            |_: &NotThirteen| panic!("13 does not decode"),
            move |e: &TaskError| *s.borrow_mut() = Some(e.kind()),
        )
        .unwrap()
        .wait()
        .unwrap();
        pool.poll().unwrap();
        assert!(matches!(*seen.borrow(), Some(ErrorKind::InvalidData(_))));
    });
}

/// Panics on "word-3".
fn picky(s: String) -> String {
    assert!(s != "word-3", "not {s}");
    s.to_uppercase()
}

#[test]
fn a_panic_in_a_chunk_fails_its_item_and_the_others_read_right() {
    isolated(|| {
        let pool = Pool::builder()
            .processes(1)
            .initializer(|()| std::panic::set_hook(Box::new(|_| {})), ())
            .build()
            .unwrap();
        for ordered in [true, false] {
            let got: Vec<_> = if ordered {
                pool.imap_values(picky, words(12), 8).collect()
            } else {
                pool.imap_unordered_values(picky, words(12), 8).collect()
            };
            assert_eq!(got.len(), 12);
            for (i, r) in got.iter().enumerate() {
                if i == 3 {
                    let e = r.as_ref().unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::Panicked);
                    assert_eq!(e.message(), "not word-3");
                } else {
                    assert_eq!(r.as_ref().unwrap(), &format!("WORD-{i}"));
                }
            }
        }
        let e = pool.map_values(picky, words(12), 8).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
    });
}

#[test]
fn a_worker_killed_mid_task_fails_only_that_value_task() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let names = ["a", "b", "die", "c", "d"];
        let results: Vec<_> = names
            .iter()
            .map(|n| pool.apply_async_value(die_on, n.to_string()).unwrap())
            .collect();
        for (n, r) in names.iter().zip(results) {
            match r.get() {
                Ok(v) => assert_eq!(v, n.to_uppercase()),
                Err(e) => {
                    assert_eq!(*n, "die");
                    assert!(matches!(e.kind(), ErrorKind::WorkerDied { .. }), "{e:?}");
                }
            }
        }
        let items: Vec<String> = ["x", "die", "y"].iter().map(|s| s.to_string()).collect();
        let got: Vec<_> = pool.imap_values(die_on, items, 1).collect();
        assert_eq!(got[0].as_ref().unwrap(), "X");
        assert!(matches!(
            got[1].as_ref().unwrap_err().kind(),
            ErrorKind::WorkerDied { .. }
        ));
        assert_eq!(got[2].as_ref().unwrap(), "Y");
        assert_eq!(
            pool.apply_value(shout, "alive".to_string()).unwrap(),
            "ALIVE"
        );
    });
}

#[path = "../../examples/pool_map_objects.rs"]
#[allow(dead_code)] // the example's `main`
mod pool_map_objects;

#[path = "../../examples/pool_crawler.rs"]
#[allow(dead_code)] // the example's `main`
mod pool_crawler;

#[test]
fn the_seed_shaped_examples_run_and_check_their_results() {
    isolated(|| pool_map_objects::run().unwrap());
    isolated(|| pool_crawler::run().unwrap());
}
