//! Queues awaited: `get_async`, `put_async`, `join_async`; a dropped
//! future never loses or duplicates an item.

use std::io::Write as _;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::{JoinableQueue, Queue, RecordQueue};
use mproc::process::Process;

use crate::common::{gate, isolated};
use crate::{LONG, block_on};

const SHORT: Duration = Duration::from_millis(30);

#[test]
fn get_async_waits_for_another_process_put() {
    isolated(|| {
        let q = Queue::<u64, 4>::new().unwrap();
        let (g, mut opener) = gate();
        let q_ref = &*q;
        let mut putter = Process::new(move || {
            g.wait();
            q_ref.put(42).unwrap();
        });
        putter.start().unwrap();
        block_on(async {
            let early = tokio::time::timeout(SHORT, q.get_async()).await;
            assert!(early.is_err(), "nothing was put yet");
            opener.write_all(&[1]).unwrap();
            let v = tokio::time::timeout(LONG, q.get_async()).await.unwrap();
            assert_eq!(v.unwrap(), 42);
        });
        assert_eq!(putter.join().unwrap(), 0);
    });
}

#[test]
fn a_dropped_get_async_leaves_the_item_for_the_next_get() {
    isolated(|| {
        let q = Queue::<u64, 4>::new().unwrap();
        block_on(async {
            for round in 0..50u64 {
                let dropped = tokio::time::timeout(Duration::from_millis(1), q.get_async()).await;
                assert!(dropped.is_err());
                q.put(round).unwrap();
                let v = tokio::time::timeout(LONG, q.get_async()).await.unwrap();
                assert_eq!(v.unwrap(), round, "the item arrives once");
                assert!(q.empty(), "and only once");
            }
        });
    });
}

#[test]
fn put_async_waits_for_room_and_a_dropped_one_puts_nothing() {
    isolated(|| {
        let q = Queue::<u64, 2>::new().unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        let (g, mut opener) = gate();
        let q_ref = &*q;
        let mut getter = Process::new(move || {
            g.wait();
            assert_eq!(q_ref.get().unwrap(), 1);
        });
        getter.start().unwrap();
        block_on(async {
            let dropped = tokio::time::timeout(SHORT, q.put_async(99)).await;
            assert!(dropped.is_err(), "the queue is full");
            assert_eq!(q.qsize(), 2, "a dropped put_async put nothing");
            opener.write_all(&[1]).unwrap();
            tokio::time::timeout(LONG, q.put_async(3))
                .await
                .unwrap()
                .unwrap();
        });
        assert_eq!(getter.join().unwrap(), 0);
        assert_eq!((q.get().unwrap(), q.get().unwrap()), (2, 3));
        assert!(q.empty());
        q.close();
        block_on(async {
            let e = q.get_async().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::EndOfStream);
            let e = q.put_async(4).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenPipe);
        });
    });
}

#[test]
fn join_async_returns_once_every_task_is_done() {
    isolated(|| {
        let q = JoinableQueue::<u64, 8>::new().unwrap();
        let q_ref = &*q;
        let mut worker = Process::new(move || {
            for _ in 0..5 {
                q_ref.get().unwrap();
                q_ref.task_done().unwrap();
            }
        });
        worker.start().unwrap();
        block_on(async {
            for i in 0..5 {
                q.put_async(i).await.unwrap();
            }
            tokio::time::timeout(LONG, q.join_async())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(q.unfinished(), 0);
        });
        assert_eq!(worker.join().unwrap(), 0);
    });
}

#[test]
fn two_tasks_may_await_the_same_queue_at_once() {
    isolated(|| {
        let q: &'static _ = Box::leak(Box::new(Queue::<u64, 4>::new().unwrap()));
        block_on(async {
            let a = tokio::task::spawn_local(async { q.get_async().await.unwrap() });
            let b = tokio::task::spawn_local(async { q.get_async().await.unwrap() });
            tokio::task::yield_now().await;
            q.put_async(1).await.unwrap();
            q.put_async(2).await.unwrap();
            let (a, b) = (a.await.unwrap(), b.await.unwrap());
            assert_eq!(a + b, 3);
        });
    });
}

#[test]
fn a_record_queue_is_awaited_too() {
    isolated(|| {
        let q = RecordQueue::with_capacity(4096).unwrap();
        let (g, mut opener) = gate();
        let q_ref = &q;
        let mut putter = Process::new(move || {
            g.wait();
            q_ref.put(b"hello").unwrap();
        });
        putter.start().unwrap();
        block_on(async {
            let mut buf = Vec::new();
            assert!(
                tokio::time::timeout(SHORT, q.get_into_async(&mut buf))
                    .await
                    .is_err()
            );
            opener.write_all(&[1]).unwrap();
            let n = tokio::time::timeout(LONG, q.get_into_async(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], b"hello");
        });
        assert_eq!(putter.join().unwrap(), 0);
    });
}

#[cfg(feature = "serde")]
#[test]
fn a_value_queue_is_awaited_and_a_dropped_get_takes_nothing() {
    isolated(|| {
        let q = mproc::ipc::ValueQueue::<String>::with_capacity(4096).unwrap();
        let (g, mut opener) = gate();
        let q_ref = &q;
        let mut putter = Process::new(move || {
            g.wait();
            q_ref.put(&"a value of any serde type".to_string()).unwrap();
        });
        putter.start().unwrap();
        block_on(async {
            assert!(tokio::time::timeout(SHORT, q.get_async()).await.is_err());
            opener.write_all(&[1]).unwrap();
            let v = tokio::time::timeout(LONG, q.get_async()).await.unwrap();
            assert_eq!(v.unwrap(), "a value of any serde type");
            assert!(q.empty());
        });
        assert_eq!(putter.join().unwrap(), 0);
    });
}

#[test]
fn a_watchable_event_is_awaited() {
    isolated(|| {
        let event = mproc::sync::WatchableEvent::new().unwrap();
        let (g, mut opener) = gate();
        let ev = &*event;
        let mut setter = Process::new(move || {
            g.wait();
            ev.set();
        });
        setter.start().unwrap();
        block_on(async {
            let mut waiting = std::pin::pin!(event.wait_async());
            assert!(tokio::time::timeout(SHORT, waiting.as_mut()).await.is_err());
            opener.write_all(&[1]).unwrap();
            tokio::time::timeout(LONG, waiting).await.unwrap().unwrap();
        });
        assert_eq!(setter.join().unwrap(), 0);
        assert!(event.is_set());
    });
}
