//! Pipe ends and message queues awaited.

use std::io::Write as _;
use std::time::Duration;

use mproc::ipc::{MessageQueue, Pipe};
use mproc::process::Process;

use crate::common::{gate, isolated};
use crate::{LONG, block_on};

const SHORT: Duration = Duration::from_millis(30);

#[test]
fn recv_async_waits_for_a_message_and_a_dropped_one_takes_none() {
    isolated(|| {
        let (a, b) = Pipe::duplex().unwrap();
        let (g, mut opener) = gate();
        let b_ref = &b;
        let mut child = Process::new(move || {
            g.wait();
            b_ref.send(&7u32).unwrap();
            assert_eq!(b_ref.recv::<u64>().unwrap(), 8);
        });
        child.start().unwrap();
        block_on(async {
            assert!(
                tokio::time::timeout(SHORT, a.recv_async::<u32>())
                    .await
                    .is_err()
            );
            opener.write_all(&[1]).unwrap();
            let v = tokio::time::timeout(LONG, a.recv_async::<u32>())
                .await
                .unwrap();
            assert_eq!(v.unwrap(), 7);
            assert_eq!(a.try_recv::<u32>().unwrap(), None, "taken once");
            a.send_async(&8u64).await.unwrap();
        });
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn send_async_waits_for_room_in_a_full_pipe() {
    isolated(|| {
        let (a, b) = Pipe::duplex().unwrap();
        let msg = [5u8; 1024];
        let mut sent = 0usize;
        while a.try_send_bytes(&msg).is_ok() {
            sent += 1;
        }
        block_on(async {
            assert!(
                tokio::time::timeout(SHORT, a.send_bytes_async(&msg))
                    .await
                    .is_err(),
                "the pipe is full"
            );
            let mut buf = [0u8; 2048];
            let mut writer = std::pin::pin!(a.send_bytes_async(&msg));
            assert!(tokio::time::timeout(SHORT, writer.as_mut()).await.is_err());
            // Room made: the writable edge wakes the pending send.
            for _ in 0..sent {
                b.recv_bytes_async(&mut buf).await.unwrap();
            }
            tokio::time::timeout(LONG, writer).await.unwrap().unwrap();
            // Exactly one more message: the dropped send sent nothing.
            let n = b.recv_bytes_async(&mut buf).await.unwrap();
            assert_eq!(n, 1024);
            assert_eq!(b.try_recv_bytes(&mut buf).unwrap(), None);
        });
    });
}

#[test]
fn a_message_queue_is_awaited() {
    isolated(|| {
        let name = format!("/mproc-aio-{}", std::process::id());
        let mut mq = match MessageQueue::create(&name, 4, 64) {
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
            mq_ref.send(b"ping", 3).unwrap();
        });
        child.start().unwrap();
        block_on(async {
            let mut buf = [0u8; 64];
            assert!(
                tokio::time::timeout(SHORT, mq.receive_async(&mut buf))
                    .await
                    .is_err()
            );
            opener.write_all(&[1]).unwrap();
            let (n, prio) = tokio::time::timeout(LONG, mq.receive_async(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!((&buf[..n], prio), (&b"ping"[..], 3));
            for _ in 0..4 {
                mq.send_async(b"x", 0).await.unwrap();
            }
            assert!(
                tokio::time::timeout(SHORT, mq.send_async(b"y", 0))
                    .await
                    .is_err(),
                "full"
            );
        });
        assert_eq!(child.join().unwrap(), 0);
    });
}
