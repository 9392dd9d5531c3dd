//! `wait`: readiness over a mix of pipe ends, a message queue, a process
//! sentinel and a signal descriptor; the timeout; the source limit.

use std::os::fd::{AsFd as _, BorrowedFd};
use std::time::{Duration, Instant};

use mproc::ipc::{MessageQueue, Pipe, WAIT_MAX, wait};
use mproc::process::{self, Process};
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
