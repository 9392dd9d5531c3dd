//! `Pipe`: boundaries and order, both kinds, typed values, every timeout and
//! non-blocking form, closed ends, bad input.

use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::ipc::{Connection, Pipe};
use mproc::process::Process;

use crate::common::isolated;

const MUST: Duration = Duration::from_secs(20);

fn kind<T: std::fmt::Debug>(r: mproc::Result<T>) -> ErrorKind {
    r.unwrap_err().kind()
}

#[test]
fn duplex_keeps_message_boundaries_both_ways() {
    isolated(|| {
        let (here, there) = Pipe::duplex().unwrap();
        assert!(here.readable() && here.writable());
        let mut child = Process::new(move || {
            let mut buf = [0u8; 8192];
            // Echo each message back with its length as the first byte's
            // worth of proof: same bytes, same boundaries.
            for _ in 0..3 {
                let n = there.recv_bytes(&mut buf).unwrap();
                there.send_bytes(&buf[..n]).unwrap();
            }
        });
        child.start().unwrap();
        let messages: [Vec<u8>; 3] = [vec![7], (0..100).collect(), vec![0xab; 5000]];
        for m in &messages {
            here.send_bytes(m).unwrap();
        }
        let mut buf = [0u8; 8192];
        for m in &messages {
            let n = here.recv_bytes(&mut buf).unwrap();
            assert_eq!(&buf[..n], &m[..]);
        }
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn messages_from_one_sender_arrive_in_order() {
    isolated(|| {
        let (rx, tx) = Pipe::simplex().unwrap();
        let mut sender = Process::new(move || {
            for i in 0..2000u32 {
                tx.send(&i).unwrap();
            }
        });
        sender.start().unwrap();
        for i in 0..2000u32 {
            assert_eq!(rx.recv::<u32>().unwrap(), i);
        }
        assert_eq!(sender.join().unwrap(), 0);
    });
}

#[test]
fn simplex_ends_go_one_way_only() {
    let (rx, tx) = Pipe::simplex().unwrap();
    assert!(rx.readable() && !rx.writable());
    assert!(!tx.readable() && tx.writable());
    assert!(matches!(
        kind(rx.send_bytes(b"x")),
        ErrorKind::InvalidArgument(_)
    ));
    assert!(matches!(
        kind(tx.recv_bytes(&mut [0; 4])),
        ErrorKind::InvalidArgument(_)
    ));
    assert!(matches!(
        kind(tx.poll(Some(Duration::ZERO))),
        ErrorKind::InvalidArgument(_)
    ));
    tx.send_bytes(b"one way").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(rx.recv_bytes(&mut buf).unwrap(), 7);
}

#[test]
fn a_message_too_long_for_the_buffer_is_reported_with_its_size_and_the_next_is_whole() {
    let (a, b) = Pipe::duplex().unwrap();
    let long: Vec<u8> = (0..100).collect();
    a.send_bytes(&long).unwrap();
    a.send_bytes(&[2u8; 3]).unwrap();
    a.send_bytes(&[3u8; 10]).unwrap();
    let mut small = [0u8; 10];
    let err = b.recv_bytes(&mut small).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::MessageSize {
            size: 100,
            capacity: 10
        }
    );
    assert!(err.to_string().contains("100 bytes"), "{err}");
    // Its head is in the buffer (Python's BufferTooShort takes it off the
    // pipe too); the messages after it are whole and in order.
    assert_eq!(small, long[..10]);
    assert_eq!(b.recv_bytes(&mut small).unwrap(), 3);
    assert_eq!(small[..3], [2u8; 3]);
    assert_eq!(
        b.try_recv_bytes(&mut small).unwrap(),
        Some(10),
        "exactly full"
    );
    assert_eq!(small, [3u8; 10]);
    assert_eq!(b.try_recv_bytes(&mut small).unwrap(), None);
}

#[test]
fn typed_values_cross_processes_and_a_wrong_size_is_reported_and_skipped() {
    isolated(|| {
        let (here, there) = Pipe::duplex().unwrap();
        let mut child = Process::new(move || {
            let v: [u64; 4] = there.recv().unwrap();
            there.send(&v.map(|x| x * 2)).unwrap();
            there.send(&7u16).unwrap();
            there.send(&9u32).unwrap();
        });
        child.start().unwrap();
        here.send(&[1u64, 2, 3, 4]).unwrap();
        assert_eq!(here.recv::<[u64; 4]>().unwrap(), [2, 4, 6, 8]);
        assert_eq!(
            kind(here.recv::<u32>()),
            ErrorKind::MessageSize {
                size: 2,
                capacity: 4
            }
        );
        assert_eq!(here.recv::<u32>().unwrap(), 9, "the next message is whole");
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn a_closed_peer_reads_as_end_of_stream_after_its_messages_and_breaks_sends() {
    isolated(|| {
        let (here, there) = Pipe::duplex().unwrap();
        let mut child = Process::new(move || {
            there.send_bytes(b"first").unwrap();
            there.send_bytes(b"last").unwrap();
        });
        // `there` moved into the target, which `start` drops in this
        // process: the child's copy is then the only one, and its exit
        // closes the end.
        child.start().unwrap();
        assert_eq!(child.join().unwrap(), 0);
        let mut buf = [0u8; 16];
        assert_eq!(here.recv_bytes(&mut buf).unwrap(), 5);
        assert_eq!(here.recv_bytes(&mut buf).unwrap(), 4);
        assert_eq!(kind(here.recv_bytes(&mut buf)), ErrorKind::EndOfStream);
        assert_eq!(kind(here.try_recv_bytes(&mut buf)), ErrorKind::EndOfStream);
        assert_eq!(kind(here.recv::<u32>()), ErrorKind::EndOfStream);
        assert!(
            here.poll(Some(Duration::ZERO)).unwrap(),
            "the end is readable"
        );
        // Sending to a closed end is an error, not a SIGPIPE that kills
        // this process (the default action).
        assert_eq!(kind(here.send_bytes(b"anyone?")), ErrorKind::BrokenPipe);
        assert_eq!(kind(here.try_send_bytes(b"anyone?")), ErrorKind::BrokenPipe);
        assert_eq!(kind(here.send(&1u32)), ErrorKind::BrokenPipe);
    });
}

#[test]
fn close_is_seen_by_the_other_end() {
    let (rx, tx) = Pipe::simplex().unwrap();
    tx.send_bytes(b"bye").unwrap();
    tx.close();
    let mut buf = [0u8; 8];
    assert_eq!(rx.recv_bytes(&mut buf).unwrap(), 3);
    assert_eq!(kind(rx.recv_bytes(&mut buf)), ErrorKind::EndOfStream);
    let (rx, tx) = Pipe::simplex().unwrap();
    drop(rx);
    assert_eq!(kind(tx.send_bytes(b"x")), ErrorKind::BrokenPipe);
}

#[test]
fn timeouts_and_non_blocking_forms() {
    isolated(|| {
        let (a, b) = Pipe::duplex().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.try_recv_bytes(&mut buf).unwrap(), None);
        assert_eq!(b.try_recv::<u32>().unwrap(), None);
        assert!(!b.poll(Some(Duration::ZERO)).unwrap());
        let start = Instant::now();
        assert!(!b.poll(Some(Duration::from_millis(100))).unwrap());
        assert!(start.elapsed() >= Duration::from_millis(100));
        let start = Instant::now();
        assert_eq!(
            b.recv_bytes_timeout(&mut buf, Duration::from_millis(100))
                .unwrap(),
            None
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        let start = Instant::now();
        assert_eq!(
            b.recv_timeout::<u32>(Duration::from_millis(100)).unwrap(),
            None
        );
        assert!(start.elapsed() >= Duration::from_millis(100));

        // A message that comes during the wait is received at once.
        let a_ref: &Connection = &a;
        let mut sender = Process::new(move || {
            std::thread::sleep(Duration::from_millis(50));
            a_ref.send(&99u32).unwrap();
        });
        sender.start().unwrap();
        assert_eq!(b.recv_timeout::<u32>(MUST).unwrap(), Some(99));
        assert_eq!(sender.join().unwrap(), 0);
        a.send_bytes(b"hi").unwrap();
        assert!(b.poll(None).unwrap());
        assert_eq!(b.recv_bytes_timeout(&mut buf, MUST).unwrap(), Some(2));
    });
}

#[test]
fn a_full_connection_would_block_without_losing_anything() {
    let (a, b) = Pipe::duplex().unwrap();
    let msg = [5u8; 1000];
    let mut sent = 0;
    loop {
        match a.try_send_bytes(&msg) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::WouldBlock);
                break;
            }
        }
        assert!(sent < 100_000, "the buffer never filled");
    }
    assert!(sent > 0);
    let mut buf = [0u8; 1000];
    for _ in 0..sent {
        assert_eq!(b.try_recv_bytes(&mut buf).unwrap(), Some(1000));
        assert_eq!(buf, msg);
    }
    assert_eq!(b.try_recv_bytes(&mut buf).unwrap(), None);
}

#[test]
fn empty_and_oversized_messages_are_refused() {
    let (a, _b) = Pipe::duplex().unwrap();
    assert!(matches!(
        kind(a.send_bytes(&[])),
        ErrorKind::InvalidArgument(_)
    ));
    assert!(matches!(
        kind(a.send(&[0u8; 0])),
        ErrorKind::InvalidArgument(_)
    ));
    let huge = vec![0u8; 4 << 20];
    match kind(a.send_bytes(&huge)) {
        ErrorKind::MessageSize { size, capacity } => {
            assert_eq!(size, huge.len());
            assert!(capacity > 0 && capacity < huge.len(), "{capacity}");
        }
        other => panic!("expected MessageSize, got {other:?}"),
    }
    // The connection still works.
    a.send_bytes(b"ok").unwrap();
}
