//! `wait`: readiness over a mix of pipe ends, a message queue, a process
//! sentinel, a signal descriptor and watched shared-memory queues; the
//! timeout; the source limit.

use std::os::fd::{AsFd as _, BorrowedFd};
use std::time::{Duration, Instant};

use mproc::ipc::{JoinableQueue, MessageQueue, Pipe, Queue, SimpleQueue, WAIT_MAX, Watch, wait};
use mproc::process::{self, Process};
use mproc::shm::Shared;
use mproc::signal::{self, SigSet, Signal, SignalFd};
use mproc::{ErrorKind, Resource};

use crate::common::isolated;

const MUST: Duration = Duration::from_secs(20);

#[test]
fn wait_tells_which_of_many_kinds_of_source_are_ready() {
    isolated(|| {
        let (a, a_peer) = Pipe::duplex().unwrap();
        let (b, b_peer) = Pipe::duplex().unwrap();
        let name = format!("/mproc-test-{}-wait", std::process::id());
        let q = MessageQueue::create(&name, 2, 8).unwrap();
        let sigs = SignalFd::new(SigSet::from(Signal::USR2)).unwrap();
        let (gate_rx, gate_tx) = Pipe::simplex().unwrap();
        let mut child = Process::new(move || {
            // Ends when told to.
            let mut buf = [0u8; 1];
            let _ = gate_rx.recv_bytes(&mut buf);
        });
        child.start().unwrap();
        let sentinel = child.sentinel().unwrap();
        let sources: [BorrowedFd<'_>; 5] =
            [a.as_fd(), b.as_fd(), q.as_fd(), sentinel, sigs.as_fd()];

        // Nothing yet: the timeout.
        let start = Instant::now();
        let ready = wait(&sources, Some(Duration::from_millis(100))).unwrap();
        assert!(ready.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(100));

        b_peer.send_bytes(b"to b").unwrap();
        let ready = wait(&sources, None).unwrap();
        assert_eq!(ready.iter().collect::<Vec<_>>(), [1]);
        b.recv_bytes(&mut [0u8; 8]).unwrap();

        q.send(b"to q", 0).unwrap();
        assert_eq!(
            wait(&sources, Some(MUST))
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [2]
        );
        q.receive(&mut [0u8; 8]).unwrap();

        signal::kill(process::getpid(), Signal::USR2).unwrap();
        assert_eq!(
            wait(&sources, Some(MUST))
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [4]
        );
        sigs.recv().unwrap();

        gate_tx.send_bytes(b"x").unwrap();
        assert_eq!(
            wait(&sources, Some(MUST))
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [3]
        );
        assert_eq!(child.join().unwrap(), 0);

        // Two at once; then a peer's closing counts as ready.
        a_peer.send_bytes(b"to a").unwrap();
        q.send(b"again", 1).unwrap();
        let ready = wait(&sources[..3], Some(MUST)).unwrap();
        assert!(ready.contains(0) && ready.contains(2) && !ready.contains(1));
        assert_eq!(ready.len(), 2);
        drop(b_peer);
        assert!(wait(&[b.as_fd()], Some(MUST)).unwrap().contains(0));
    });
}

#[test]
fn a_blocking_wait_returns_when_another_process_sends() {
    isolated(|| {
        let (here, there) = Pipe::duplex().unwrap();
        let mut sender = Process::new(move || {
            std::thread::sleep(Duration::from_millis(50));
            there.send_bytes(b"late").unwrap();
        });
        sender.start().unwrap();
        let ready = wait(&[here.as_fd()], None).unwrap();
        assert!(ready.contains(0));
        assert_eq!(sender.join().unwrap(), 0);
    });
}

#[test]
fn more_sources_than_wait_takes_is_a_typed_error() {
    let (a, _b) = Pipe::duplex().unwrap();
    let many = vec![a.as_fd(); WAIT_MAX + 1];
    let err = wait(&many, Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded { limit: WAIT_MAX });
    assert_eq!(
        err.resource(),
        Resource::Container {
            what: "wait sources",
            capacity: WAIT_MAX
        }
    );
    assert!(wait(&many[..WAIT_MAX], Some(Duration::ZERO)).is_ok());
}

#[test]
fn a_watched_queue_is_ready_while_it_holds_an_item_or_is_closed() {
    isolated(|| {
        let q = Queue::<u32, 4>::new().unwrap();
        let (a, _a_peer) = Pipe::duplex().unwrap();
        let watch = q.watch().unwrap();
        let now = Some(Duration::ZERO);
        let ready_now = |w: &Watch<'_>| wait(&[a.as_fd(), w.as_fd()], now).unwrap();
        assert!(ready_now(&watch).is_empty());

        let q_ref = &*q;
        let mut putter = Process::new(move || {
            std::thread::sleep(Duration::from_millis(50));
            q_ref.put(1).unwrap();
            q_ref.put(2).unwrap();
        });
        putter.start().unwrap();
        let ready = wait(&[a.as_fd(), watch.as_fd()], Some(MUST)).unwrap();
        assert_eq!(ready.iter().collect::<Vec<_>>(), [1]);
        assert_eq!(putter.join().unwrap(), 0);
        assert_eq!(q.get_nowait().unwrap(), 1);
        assert!(ready_now(&watch).contains(1), "one item is still in");
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(ready_now(&watch).is_empty(), "emptied");

        // Put while nobody watched: a new watch starts ready.
        drop(watch);
        q.put(3).unwrap();
        let watch = q.watch().unwrap();
        assert!(ready_now(&watch).contains(1));
        assert_eq!(q.get().unwrap(), 3);
        assert!(ready_now(&watch).is_empty());

        // Closed is ready for good.
        q.close();
        assert!(ready_now(&watch).contains(1));
        assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::EndOfStream);
        assert!(ready_now(&watch).contains(1));
    });
}

#[test]
fn joinable_and_simple_queues_can_be_watched_and_a_queue_made_otherwise_cannot() {
    let j = JoinableQueue::<u8, 2>::new().unwrap();
    let s = SimpleQueue::<u8, 2>::new().unwrap();
    let (jw, sw) = (j.watch().unwrap(), s.watch().unwrap());
    j.put(1).unwrap();
    let ready = wait(&[jw.as_fd(), sw.as_fd()], Some(MUST)).unwrap();
    assert_eq!(ready.iter().collect::<Vec<_>>(), [0]);
    s.put(2).unwrap();
    let ready = wait(&[jw.as_fd(), sw.as_fd()], Some(MUST)).unwrap();
    assert_eq!(ready.len(), 2);

    // Made as a plain shared value, the queue has no descriptor.
    let bare = Shared::<Queue<u8, 2>>::zeroed().unwrap();
    bare.put(1).unwrap();
    let err = bare.watch().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("Queue"), "{err}");
}
