//! The serde queues (feature `serde`): `ValueQueue`, `ValueSimpleQueue`,
//! `ValueJoinableQueue` with values of every shape across a fork, empty
//! values, the largest value that fits and one byte over, a record that is
//! not a value, and many producers and consumers.

use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::{RECORD_KNOB, ValueJoinableQueue, ValueQueue, ValueSimpleQueue, codec};
use mproc::process::Process;
use serde::{Deserialize, Serialize};

use crate::common::isolated;

const MUST: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Job {
    name: String,
    data: Vec<u8>,
}

fn job(i: u32) -> Job {
    Job {
        name: format!("job-{i}-résumé"),
        data: (0..(i % 300)).map(|b| b as u8).collect(),
    }
}

#[test]
fn values_of_every_shape_cross_a_fork_in_order() {
    isolated(|| {
        let jobs = ValueQueue::<Job>::new().unwrap();
        let lists = ValueQueue::<Vec<String>>::with_capacity(4096).unwrap();
        let options = ValueQueue::<Option<u32>>::with_capacity(256).unwrap();
        let pairs = ValueQueue::<(u32, u64)>::with_capacity(256).unwrap();
        let units = ValueQueue::<()>::with_capacity(64).unwrap();
        let (j, l, o, p, u) = (&jobs, &lists, &options, &pairs, &units);
        let mut child = Process::new(move || {
            for i in 0..50 {
                j.put(&job(i)).unwrap();
            }
            j.put(&Job {
                name: String::new(),
                data: Vec::new(),
            })
            .unwrap();
            l.put(&vec![
                "a".into(),
                String::new(),
                "a list, as in seed 004".into(),
            ])
            .unwrap();
            l.put(&Vec::new()).unwrap();
            o.put(&Some(7)).unwrap();
            o.put(&None).unwrap();
            o.put(&Some(u32::MAX)).unwrap();
            p.put(&(1, u64::MAX)).unwrap();
            u.put(&()).unwrap();
        });
        child.start().unwrap();
        for i in 0..50 {
            assert_eq!(jobs.get_timeout(MUST).unwrap(), job(i));
        }
        let empty = jobs.get().unwrap();
        assert!(empty.name.is_empty() && empty.data.is_empty());
        assert_eq!(lists.get().unwrap(), ["a", "", "a list, as in seed 004"]);
        assert!(lists.get().unwrap().is_empty());
        assert_eq!(options.get().unwrap(), Some(7));
        assert_eq!(options.get().unwrap(), None);
        assert_eq!(options.get().unwrap(), Some(u32::MAX));
        assert_eq!(pairs.get().unwrap(), (1, u64::MAX));
        units.get().unwrap();
        assert_eq!(child.join().unwrap(), 0);
        assert!(jobs.empty() && lists.empty() && options.empty() && units.empty());
        assert_eq!(jobs.capacity(), 1 << 20, "Queue() is 1 MiB");
    });
}

#[test]
fn the_largest_value_fits_and_one_byte_over_is_a_typed_error_that_loses_nothing() {
    let q = ValueQueue::<Vec<u8>>::with_capacity(1024).unwrap();
    assert_eq!(q.max_record(), 1016);
    // 1014 bytes and a two-byte length: 1016.
    let largest = vec![0xA5u8; 1014];
    assert_eq!(codec::encoded_size(&largest).unwrap(), 1016);
    q.put(&largest).unwrap();
    assert!(q.full());
    assert_eq!(q.get().unwrap(), largest);

    q.put(&vec![1, 2, 3]).unwrap();
    let over = vec![0u8; 1015];
    for err in [
        q.put(&over).unwrap_err(),
        q.put_nowait(&over).unwrap_err(),
        q.put_timeout(&over, MUST).unwrap_err(),
    ] {
        assert_eq!(
            err.kind(),
            ErrorKind::EncodedSize {
                size: 1017,
                capacity: 1016,
                knob: RECORD_KNOB
            },
            "{err}"
        );
        assert!(err.to_string().contains("with_capacity"), "{err}");
    }
    assert_eq!(q.qsize(), 1, "nothing lost");
    assert_eq!(q.get_nowait().unwrap(), [1, 2, 3]);
    assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::Empty);
    // Full: the nowait form says so, and puts nothing.
    q.put(&vec![9; 600]).unwrap();
    assert_eq!(
        q.put_nowait(&vec![9; 600]).unwrap_err().kind(),
        ErrorKind::Full
    );
    assert_eq!(q.qsize(), 1);
}

#[test]
fn a_record_that_is_not_a_value_is_taken_and_reported() {
    let q = ValueQueue::<(u32, String)>::with_capacity(256).unwrap();
    // A string of invalid UTF-8, put as raw bytes.
    q.records().put(&[7, 2, 0xff, 0xfe]).unwrap();
    q.put(&(1, "ok".into())).unwrap();
    let err = q.get().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidData(_)), "{err}");
    assert_eq!(q.get().unwrap(), (1, "ok".into()), "the next one comes");
    // Pre-encoded bytes go through as they are.
    let mut buf = [0u8; 32];
    let len = codec::encode(&(2u32, "pre"), &mut buf).unwrap();
    q.records().put(&buf[..len]).unwrap();
    assert_eq!(q.get().unwrap(), (2, "pre".into()));
}

#[test]
fn many_producers_and_consumers_each_value_once_in_order() {
    isolated(|| {
        const PRODUCERS: u32 = 3;
        const VALUES: u32 = 1000;
        let q = ValueQueue::<(u32, u32, String)>::with_capacity(2048).unwrap();
        let done = ValueQueue::<Vec<u32>>::with_capacity(64 * 1024).unwrap();
        let (q_ref, done_ref) = (&q, &done);
        let mut producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                Process::new(move || {
                    for i in 0..VALUES {
                        q_ref.put(&(p, i, "x".repeat((i % 50) as usize))).unwrap();
                    }
                })
            })
            .collect();
        let mut consumers: Vec<_> = (0..2)
            .map(|_| {
                Process::new(move || {
                    let mut last = [None::<u32>; PRODUCERS as usize];
                    let mut got = vec![0u32; PRODUCERS as usize];
                    while let Ok((p, i, s)) = q_ref.get() {
                        assert_eq!(s.len(), (i % 50) as usize);
                        let p = p as usize;
                        assert!(last[p].is_none_or(|l| l < i), "producer {p} out of order");
                        last[p] = Some(i);
                        got[p] += 1;
                    }
                    done_ref.put(&got).unwrap();
                })
            })
            .collect();
        for p in &mut producers {
            p.start().unwrap();
        }
        for c in &mut consumers {
            c.start().unwrap();
        }
        for p in &producers {
            assert_eq!(p.join().unwrap(), 0);
        }
        q.close();
        let mut total = vec![0u32; PRODUCERS as usize];
        for _ in 0..2 {
            for (t, g) in total.iter_mut().zip(done.get_timeout(MUST).unwrap()) {
                *t += g;
            }
        }
        for c in &consumers {
            assert_eq!(c.join().unwrap(), 0);
        }
        assert_eq!(total, vec![VALUES; PRODUCERS as usize]);
    });
}

#[test]
fn joinable_and_simple_queues_read_like_python() {
    isolated(|| {
        let tasks = ValueJoinableQueue::<String>::new().unwrap();
        let results = ValueSimpleQueue::<(String, usize)>::with_capacity(4096).unwrap();
        let (t, r) = (&tasks, &results);
        let mut worker = Process::new(move || {
            while let Ok(path) = t.get() {
                r.put(&(path.to_uppercase(), path.len())).unwrap();
                t.task_done().unwrap();
            }
        });
        worker.start().unwrap();
        for path in ["/etc/hosts", "/tmp", ""] {
            tasks.put(&path.to_string()).unwrap();
        }
        assert!(tasks.join_timeout(MUST), "every task done");
        assert_eq!(tasks.unfinished(), 0);
        assert_eq!(results.get().unwrap(), ("/ETC/HOSTS".into(), 10));
        assert_eq!(results.get().unwrap(), ("/TMP".into(), 4));
        assert_eq!(results.get().unwrap(), (String::new(), 0));
        assert!(results.empty());
        tasks.close();
        assert_eq!(worker.join().unwrap(), 0);
        assert!(matches!(
            tasks.task_done().unwrap_err().kind(),
            ErrorKind::InvalidArgument(_)
        ));
        results.close();
        assert_eq!(results.get().unwrap_err().kind(), ErrorKind::EndOfStream);
        assert_eq!(
            results.put(&(String::new(), 0)).unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
    });
}
