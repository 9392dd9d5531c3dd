//! The serde routes awaited (features `tokio` and `serde`): values
//! through pipes and message queues, and the queues of records' room and
//! join (a timer's ticks, as documented).

use std::future::Future as _;
use std::io::Write as _;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::{
    MessageQueue, Pipe, RecordQueue, ValueJoinableQueue, ValueQueue, ValueSimpleQueue,
};
use mproc::process::Process;

use crate::common::{gate, isolated};
use crate::{LONG, block_on};

const SHORT: Duration = Duration::from_millis(30);

#[test]
fn values_through_a_pipe_are_awaited_and_a_dropped_send_sends_nothing() {
    isolated(|| {
        let (a, b) = Pipe::duplex().unwrap();
        let (g, mut opener) = gate();
        let b_ref = &b;
        let mut child = Process::new(move || {
            g.wait();
            b_ref
                .send_value(&("job".to_string(), vec![1u8, 2, 3]))
                .unwrap();
        });
        child.start().unwrap();
        block_on(async {
            let recv = a.recv_value_async::<(String, Vec<u8>)>();
            assert!(tokio::time::timeout(SHORT, recv).await.is_err());
            opener.write_all(&[1]).unwrap();
            let v = tokio::time::timeout(LONG, a.recv_value_async::<(String, Vec<u8>)>())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(v, ("job".to_string(), vec![1, 2, 3]));

            // Fill a → b until a send would block.
            let big = "x".repeat(1000);
            let mut sent = 0usize;
            loop {
                match a.try_send_value(&(sent, &big)) {
                    Ok(()) => sent += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(sent > 0);
            let (never, last) = ((usize::MAX, &big), (sent, &big));
            let dropped = a.send_value_async(&never);
            assert!(tokio::time::timeout(SHORT, dropped).await.is_err());
            let mut pending = std::pin::pin!(a.send_value_async(&last));
            assert!(tokio::time::timeout(SHORT, pending.as_mut()).await.is_err());
            for i in 0..sent {
                let (n, s) = b.recv_value_async::<(usize, String)>().await.unwrap();
                assert_eq!((n, s.len()), (i, 1000));
            }
            tokio::time::timeout(LONG, pending).await.unwrap().unwrap();
            let (n, _) = b.recv_value_async::<(usize, String)>().await.unwrap();
            assert_eq!(n, sent, "the dropped send sent nothing");
            assert!(b.try_recv_value::<(usize, String)>().unwrap().is_none());
        });
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn values_through_a_message_queue_are_awaited() {
    isolated(|| {
        let name = format!("/mproc-aio-values-{}", std::process::id());
        let mut mq = match MessageQueue::create(&name, 2, 128) {
            Ok(mq) => mq,
            Err(e) => {
                eprintln!("skipped: no POSIX message queues here ({e})");
                return;
            }
        };
        mq.unlink().unwrap();
        let (g, mut opener) = gate();
        let mq_ref = &mq;
        let mut child = Process::new(move || {
            g.wait();
            mq_ref
                .send_value(&vec!["a".to_string(), "b".to_string()], 5)
                .unwrap();
        });
        child.start().unwrap();
        block_on(async {
            let recv = mq.receive_value_async::<Vec<String>>();
            assert!(tokio::time::timeout(SHORT, recv).await.is_err());
            opener.write_all(&[1]).unwrap();
            let (v, prio) = tokio::time::timeout(LONG, mq.receive_value_async::<Vec<String>>())
                .await
                .unwrap()
                .unwrap();
            assert_eq!((v, prio), (vec!["a".to_string(), "b".to_string()], 5));
            mq.send_value_async(&1u32, 0).await.unwrap();
            mq.send_value_async(&2u32, 0).await.unwrap();
            let full = mq.send_value_async(&3u32, 0);
            assert!(tokio::time::timeout(SHORT, full).await.is_err(), "full");
            let mut pending = std::pin::pin!(mq.send_value_async(&4u32, 0));
            assert!(tokio::time::timeout(SHORT, pending.as_mut()).await.is_err());
            assert_eq!(mq.receive_value_async::<u32>().await.unwrap().0, 1);
            tokio::time::timeout(LONG, pending).await.unwrap().unwrap();
            assert_eq!(mq.receive_value_async::<u32>().await.unwrap().0, 2);
            assert_eq!(mq.receive_value_async::<u32>().await.unwrap().0, 4);
            assert_eq!(
                mq.try_receive_value::<u32>().unwrap_err().kind(),
                ErrorKind::Empty,
                "the dropped send sent nothing"
            );
        });
        assert_eq!(child.join().unwrap(), 0);
    });
}

/// Puts `item(i)` until the queue is full; how many went in.
fn fill(q: &ValueQueue<String>, item: impl Fn(usize) -> String) -> usize {
    let mut n = 0;
    loop {
        match q.put_nowait(&item(n)) {
            Ok(()) => n += 1,
            Err(e) if e.kind() == ErrorKind::Full => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn put_async_on_a_full_value_queue_waits_for_room_and_a_dropped_one_puts_nothing() {
    isolated(|| {
        let q = ValueQueue::<String>::with_capacity(512).unwrap();
        let item = |i: usize| format!("item {i:04} of a full queue");
        let n = fill(&q, item);
        assert!(n >= 2, "{n}");
        let (g, mut opener) = gate();
        let q_ref = &q;
        let mut getter = Process::new(move || {
            g.wait();
            assert_eq!(q_ref.get().unwrap(), "item 0000 of a full queue");
        });
        getter.start().unwrap();
        block_on(async {
            let (never, last) = (item(9998), item(9999));
            let dropped = q.put_async(&never);
            assert!(tokio::time::timeout(SHORT, dropped).await.is_err());
            let mut pending = std::pin::pin!(q.put_async(&last));
            assert!(tokio::time::timeout(SHORT, pending.as_mut()).await.is_err());
            opener.write_all(&[1]).unwrap();
            tokio::time::timeout(LONG, pending).await.unwrap().unwrap();
        });
        assert_eq!(getter.join().unwrap(), 0);
        let mut got = Vec::new();
        while let Ok(v) = q.get_nowait() {
            got.push(v);
        }
        let mut want: Vec<String> = (1..n).map(item).collect();
        want.push(item(9999));
        assert_eq!(got, want, "in order; the dropped put put nothing");
    });
}

#[test]
fn a_value_too_large_for_the_queue_fails_at_once_instead_of_waiting() {
    isolated(|| {
        let q = ValueQueue::<String>::with_capacity(256).unwrap();
        block_on(async {
            let e = tokio::time::timeout(LONG, q.put_async(&"y".repeat(1000)))
                .await
                .unwrap()
                .unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::EncodedSize { .. }), "{e}");
        });
    });
}

#[test]
fn a_record_queue_awaits_room_and_its_join() {
    isolated(|| {
        let q = RecordQueue::with_capacity(256).unwrap();
        let mut n = 0u8;
        while q.put_nowait(&[n; 24]).is_ok() {
            n += 1;
        }
        let (g, mut opener) = gate();
        let q_ref = &q;
        let mut consumer = Process::new(move || {
            g.wait();
            let mut buf = Vec::new();
            for _ in 0..=n {
                q_ref.get_into(&mut buf).unwrap();
                q_ref.task_done().unwrap();
            }
        });
        consumer.start().unwrap();
        block_on(async {
            let last = [n; 24];
            let mut put = std::pin::pin!(q.put_async(&last));
            assert!(tokio::time::timeout(SHORT, put.as_mut()).await.is_err());
            let mut join = std::pin::pin!(q.join_async());
            assert!(tokio::time::timeout(SHORT, join.as_mut()).await.is_err());
            opener.write_all(&[1]).unwrap();
            tokio::time::timeout(LONG, put).await.unwrap().unwrap();
            tokio::time::timeout(LONG, join).await.unwrap().unwrap();
        });
        assert_eq!(consumer.join().unwrap(), 0);
        assert!(q.empty());
    });
}

#[test]
fn the_simple_and_joinable_value_queues_are_awaited() {
    isolated(|| {
        let simple = ValueSimpleQueue::<Vec<u32>>::new().unwrap();
        let joinable = ValueJoinableQueue::<String>::new().unwrap();
        let (g, mut opener) = gate();
        let (s, j) = (&simple, &joinable);
        let mut worker = Process::new(move || {
            g.wait();
            let v = s.get().unwrap();
            s.put(&v.iter().map(|x| x * 2).collect()).unwrap();
            assert_eq!(j.get().unwrap(), "task");
            j.task_done().unwrap();
        });
        worker.start().unwrap();
        block_on(async {
            simple.put_async(&vec![1, 2, 3]).await.unwrap();
            joinable.put_async(&"task".to_string()).await.unwrap();
            let mut join = std::pin::pin!(joinable.join_async());
            assert!(tokio::time::timeout(SHORT, join.as_mut()).await.is_err());
            opener.write_all(&[1]).unwrap();
            tokio::time::timeout(LONG, join).await.unwrap().unwrap();
            // The worker's answer (its own get may take ours first: wait).
            let back = tokio::time::timeout(LONG, async {
                loop {
                    let v = simple.get_async().await.unwrap();
                    if v != [1, 2, 3] {
                        return v;
                    }
                    simple.put_async(&v).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await
            .unwrap();
            assert_eq!(back, [2, 4, 6]);
        });
        assert_eq!(worker.join().unwrap(), 0);
    });
}

#[test]
fn put_async_outside_a_runtime_is_a_typed_error_not_a_panic() {
    isolated(|| {
        let q = ValueQueue::<String>::with_capacity(256).unwrap();
        fill(&q, |i| format!("{i:08}"));
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let item = "one more".to_string();
        let mut f = std::pin::pin!(q.put_async(&item));
        // It may yield once (and wake itself) before it makes its timer.
        let polled = (0..3)
            .map(|_| f.as_mut().poll(&mut cx))
            .find(|p| p.is_ready());
        match polled {
            Some(std::task::Poll::Ready(Err(e))) => {
                assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
            }
            other => panic!("{other:?}"),
        }
    });
}
