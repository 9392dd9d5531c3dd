//! Masks, sigwait, SignalFd.

use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal, SignalFd};

use crate::common::isolated;

#[test]
fn a_mask_guard_unblocks_exactly_what_it_blocked() {
    isolated(|| {
        assert!(SigSet::blocked().unwrap().is_empty());
        let outer = SigSet::from(Signal::USR1).block().unwrap();
        {
            let inner = SigSet::from_signals(&[Signal::USR1, Signal::USR2])
                .block()
                .unwrap();
            assert_eq!(
                inner.signals(),
                SigSet::from(Signal::USR2),
                "USR1 was already blocked"
            );
            assert_eq!(
                SigSet::blocked().unwrap(),
                SigSet::from_signals(&[Signal::USR1, Signal::USR2])
            );
        }
        assert_eq!(SigSet::blocked().unwrap(), SigSet::from(Signal::USR1));
        drop(outer);
        assert!(SigSet::blocked().unwrap().is_empty());
    });
}

#[test]
fn kill_and_stop_cannot_be_blocked_or_handled() {
    for sig in [Signal::KILL, Signal::STOP] {
        assert_eq!(
            SigSet::from(sig).block().unwrap_err().kind(),
            ErrorKind::UncatchableSignal
        );
        assert_eq!(
            signal::flag(sig).unwrap_err().kind(),
            ErrorKind::UncatchableSignal
        );
        assert_eq!(
            SignalFd::new(SigSet::from(sig)).unwrap_err().kind(),
            ErrorKind::UncatchableSignal
        );
    }
    // signal-hook refuses handlers for the fault signals: a typed error, no panic.
    assert_eq!(
        signal::flag(Signal::SEGV).unwrap_err().kind(),
        ErrorKind::UncatchableSignal
    );
}

#[test]
fn sigwait_takes_a_pending_signal_and_names_its_sender() {
    isolated(|| {
        let set = SigSet::from_signals(&[Signal::USR1, Signal::USR2]);
        let _blocked = set.block().unwrap();
        assert_eq!(set.try_wait().unwrap(), None);
        signal::kill(process::getpid(), Signal::USR2).unwrap();
        let info = set.wait().unwrap();
        assert_eq!(info.signal, Signal::USR2);
        assert_eq!(info.sender, Some(process::getpid()));
        assert_eq!(info.code, 0, "SI_USER");
    });
}

#[test]
fn sigwait_with_timeout_returns_none_when_nothing_arrives() {
    isolated(|| {
        let set = SigSet::from(Signal::USR1);
        let _blocked = set.block().unwrap();
        let start = Instant::now();
        assert_eq!(set.wait_timeout(Duration::from_millis(100)).unwrap(), None);
        assert!(start.elapsed() >= Duration::from_millis(95));
        let err = SigSet::empty().wait_timeout(Duration::ZERO).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)));
    });
}

#[test]
fn signal_round_trip_between_two_processes_with_sigwait() {
    isolated(|| {
        let set = SigSet::from_signals(&[Signal::USR1, Signal::USR2]);
        let _blocked = set.block().unwrap();
        let parent = process::getpid();
        let (mut ready_rx, ready_tx) = std::io::pipe().unwrap();
        let mut ready_tx = Some(ready_tx);
        let mut child = Process::new(move || {
            let only_usr1 = SigSet::from(Signal::USR1);
            let _blocked = only_usr1.block().unwrap();
            ready_tx.take().unwrap().write_all(b"r").unwrap();
            for _ in 0..100 {
                only_usr1.wait().unwrap();
                signal::kill(parent, Signal::USR2).unwrap();
            }
        });
        child.start().unwrap();
        ready_rx.read_exact(&mut [0u8; 1]).unwrap();
        let pid = child.pid().unwrap();
        for _ in 0..100 {
            signal::kill(pid, Signal::USR1).unwrap();
            let info = SigSet::from(Signal::USR2).wait().unwrap();
            assert_eq!(info.sender, Some(pid));
        }
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn signalfd_receives_signals_with_their_sender_and_is_pollable() {
    isolated(|| {
        let fd = SignalFd::new(SigSet::from_signals(&[Signal::USR1, Signal::TERM])).unwrap();
        assert_eq!(fd.try_recv().unwrap(), None);
        assert_eq!(fd.recv_timeout(Duration::from_millis(20)).unwrap(), None);
        let parent = process::getpid();
        let mut child = Process::new(move || {
            signal::kill(parent, Signal::USR1).unwrap();
        });
        child.start().unwrap();
        let child_pid = child.pid().unwrap();
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 20_000) };
        assert_eq!(ready, 1, "not readable");
        let info = fd.recv().unwrap();
        assert_eq!(info.signal, Signal::USR1);
        assert_eq!(info.sender, Some(child_pid));
        assert_eq!(child.join().unwrap(), 0);
        // Several pending: drained by `pending`, standard signals merged.
        signal::kill(parent, Signal::TERM).unwrap();
        signal::kill(parent, Signal::USR1).unwrap();
        let got: Vec<Signal> = fd.pending().map(|i| i.signal).collect();
        assert_eq!(got, [Signal::USR1, Signal::TERM]);
        drop(fd);
        assert!(
            SigSet::blocked().unwrap().is_empty(),
            "dropping the SignalFd restores the mask"
        );
    });
}
