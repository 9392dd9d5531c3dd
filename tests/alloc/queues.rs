//! Queues: the fixed `Queue` (tuples and options too), `RecordQueue`, and
//! serde values through `ValueQueue`, a pipe and a message queue.

use super::*;

#[test]
fn queue_put_and_get_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        let q = Queue::<u64, 4>::new().unwrap();
        let q_ref: &Queue<u64, 4> = &q;
        // Watched, so the puts and gets also raise and lower the eventfd.
        let watch = q.watch().unwrap();
        let round = || {
            q.put(1).unwrap();
            q.put_nowait(2).unwrap();
            q.put_timeout(3, Duration::from_millis(1)).unwrap();
            assert_eq!(q.get().unwrap(), 1);
            assert_eq!(q.get_nowait().unwrap(), 2);
            assert_eq!(q.get_timeout(Duration::from_millis(1)).unwrap(), 3);
            assert!(q.get_nowait().is_err());
            // Parked until a child puts.
            let mut putter = Process::new(move || {
                std::thread::sleep(Duration::from_millis(5));
                q_ref.put(4).unwrap();
            });
            putter.start().unwrap();
            assert_eq!(q.get().unwrap(), 4);
            assert_eq!(putter.join().unwrap(), 0);
            q.put(5).unwrap();
            assert!(wait(&[watch.as_fd()], None).unwrap().contains(0));
            assert_eq!(q.get_nowait().unwrap(), 5);
        };
        assert_steady_state_allocates_nothing(10, round);
    });
}

#[test]
fn tuples_and_options_through_a_queue_and_a_pipe_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        type Job = (u32, Option<u64>, bool);
        let q = Queue::<Job, 4>::new().unwrap();
        let q_ref: &Queue<Job, 4> = &q;
        let (here, there) = Pipe::duplex().unwrap();
        let round = || {
            q.put((1, Some(2), true)).unwrap();
            q.put_nowait((3, None, false)).unwrap();
            assert_eq!(q.get().unwrap(), (1, Some(2), true));
            assert_eq!(q.get_nowait().unwrap(), (3, None, false));
            // Across a fork: a child puts, the parent takes.
            let mut putter = Process::new(move || {
                for i in 0..8 {
                    q_ref.put((i, Some(u64::from(i)), i % 2 == 0)).unwrap();
                }
            });
            putter.start().unwrap();
            for i in 0..8 {
                let want = (i, Some(u64::from(i)), i % 2 == 0);
                assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), want);
            }
            assert_eq!(putter.join().unwrap(), 0);
            here.send(&(7u32, Some('x'))).unwrap();
            assert_eq!(there.recv::<(u32, Option<char>)>().unwrap(), (7, Some('x')));
            // A message that is no value: a typed error, still no allocation.
            here.send_bytes(&[2]).unwrap();
            assert!(there.recv::<bool>().is_err());
        };
        assert_steady_state_allocates_nothing(5, round);
    });
}

/// A `RecordQueue`: putting borrowed bytes (copied, or written in place)
/// and getting them into a reused `Vec`, a caller's slice or in place,
/// watched, with a getter parked until a child puts, and its errors.
#[test]
fn record_queue_put_and_get_of_borrowed_bytes_allocate_nothing_in_steady_state() {
    use mproc::ipc::RecordQueue;
    common::isolated(|| {
        let q = RecordQueue::with_capacity(4096).unwrap();
        let q_ref = &q;
        let watch = q.watch().unwrap();
        let big = [0x5au8; 1500];
        let mut buf = Vec::new();
        let mut slice = [0u8; 64];
        let round = || {
            q.put(b"twenty bytes, or so.").unwrap();
            q.put_nowait(&big).unwrap();
            q.put_timeout(b"", Duration::from_millis(1)).unwrap();
            q.put_with(8, |b| b.copy_from_slice(&7u64.to_le_bytes()))
                .unwrap();
            assert_eq!(q.get_into(&mut buf).unwrap(), 20);
            assert_eq!(q.get_into_nowait(&mut buf).unwrap(), 1500);
            assert_eq!(q.get_bytes(&mut slice, None).unwrap(), 0);
            assert!(q.get_with(|r| r == 7u64.to_le_bytes()).unwrap());
            assert!(q.get_into_nowait(&mut buf).is_err());
            assert!(q.put(&[0u8; 4096]).is_err());
            // Parked until a child puts.
            let mut putter = Process::new(move || {
                std::thread::sleep(Duration::from_millis(5));
                q_ref.put(b"late").unwrap();
            });
            putter.start().unwrap();
            assert_eq!(
                q.get_into_timeout(&mut buf, Duration::from_secs(20))
                    .unwrap(),
                4
            );
            assert_eq!(putter.join().unwrap(), 0);
            q.put(&big[..100]).unwrap();
            assert!(wait(&[watch.as_fd()], None).unwrap().contains(0));
            assert!(
                q.get_bytes(&mut slice, None).is_err(),
                "too short: it stays"
            );
            assert_eq!(
                q.get_with_timeout(Duration::ZERO, |r| r.len()).unwrap(),
                100
            );
        };
        assert_steady_state_allocates_nothing(10, round);
    });
}

/// Serde values (feature `serde`) through a `ValueQueue`: encoded into the
/// record and decoded from it, nothing allocated for a value whose type
/// has no heap fields; nor for its errors.
#[cfg(feature = "serde")]
#[test]
fn serde_values_through_a_value_queue_allocate_nothing_in_steady_state() {
    use mproc::ipc::{ValueQueue, ValueSimpleQueue};
    common::isolated(|| {
        let q = ValueQueue::<(u32, [u8; 16])>::with_capacity(256).unwrap();
        let options = ValueSimpleQueue::<Option<u32>>::new().unwrap();
        let q_ref = &q;
        let value: (u32, [u8; 16]) = (7, [0xa5; 16]);
        let round = || {
            q.put(&value).unwrap();
            q.put_nowait(&value).unwrap();
            q.put_timeout(&value, Duration::from_millis(1)).unwrap();
            assert_eq!(q.get().unwrap(), value);
            assert_eq!(q.get_nowait().unwrap(), value);
            assert_eq!(q.get_timeout(Duration::from_millis(1)).unwrap(), value);
            assert!(q.get_nowait().is_err());
            options.put(&Some(5)).unwrap();
            options.put(&None).unwrap();
            assert_eq!(options.get().unwrap(), Some(5));
            assert_eq!(options.get().unwrap(), None);
            // Parked until a child puts.
            let mut putter = Process::new(move || {
                std::thread::sleep(Duration::from_millis(5));
                q_ref.put(&(1, [2; 16])).unwrap();
            });
            putter.start().unwrap();
            assert_eq!(q.get().unwrap(), (1, [2; 16]));
            assert_eq!(putter.join().unwrap(), 0);
            // A record that is not a value: an error, built without
            // allocating.
            q.records().put(&[0xff; 3]).unwrap();
            assert!(q.get().is_err());
        };
        assert_steady_state_allocates_nothing(10, round);
    });
}

/// Serde values (feature `serde`) through a pipe and a message queue: the
/// `*_in` forms with the caller's buffers, and the plain forms with the
/// thread's buffer once warm, allocate nothing for a value whose type has
/// no heap fields; nor do their errors.
#[cfg(feature = "serde")]
#[test]
fn serde_values_through_a_pipe_and_a_message_queue_allocate_nothing_in_steady_state() {
    use mproc::ipc::MessageQueue;
    common::isolated(|| {
        let (here, there) = Pipe::duplex().unwrap();
        let name = format!("/mproc-alloc-serde-{}", std::process::id());
        let q = MessageQueue::create(&name, 4, 64).unwrap();
        let value: (u32, [u8; 16]) = (7, [0xa5; 16]);
        // Sized before the first call: the `_in` forms never allocate.
        let mut out = Vec::with_capacity(64);
        let mut into = Vec::with_capacity(64);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        here.send_value_in(&value, &mut out).unwrap();
        assert_eq!(
            there.recv_value_in::<(u32, [u8; 16])>(&mut into).unwrap(),
            value
        );
        q.send_value_in(&value, 3, &mut out).unwrap();
        assert_eq!(
            q.receive_value_in::<(u32, [u8; 16])>(&mut into).unwrap(),
            (value, 3)
        );
        assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), before);
        let round = || {
            here.send_value(&value).unwrap();
            assert_eq!(there.recv_value::<(u32, [u8; 16])>().unwrap(), value);
            there.send_value(&Some(5u32)).unwrap();
            assert_eq!(here.try_recv_value::<Option<u32>>().unwrap(), Some(Some(5)));
            there.send_value(&(1u8, 2u64)).unwrap();
            assert_eq!(
                here.recv_value_timeout::<(u8, u64)>(Duration::from_secs(20))
                    .unwrap(),
                Some((1, 2))
            );
            assert_eq!(here.try_recv_value::<u8>().unwrap(), None);
            q.send_value(&value, 1).unwrap();
            q.try_send_value(&[9u8; 32], 2).unwrap();
            assert_eq!(q.receive_value::<[u8; 32]>().unwrap(), ([9; 32], 2));
            assert_eq!(
                q.try_receive_value::<(u32, [u8; 16])>().unwrap(),
                (value, 1)
            );
            // Errors are built without allocating too: too long for the
            // queue, garbage, an empty queue.
            assert!(q.send_value(&[0u8; 80][..], 0).is_err());
            here.send_bytes(b"\xff\xff").unwrap();
            assert!(there.recv_value::<u32>().is_err());
            assert!(q.try_receive_value::<u32>().is_err());
        };
        assert_steady_state_allocates_nothing(10, round);
    });
}
