//! kill, killpg, sigqueue between processes.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal};
use mproc::{ErrorKind, Resource};

use crate::common::isolated;

/// A child that blocks `set`, says it is ready, and exits with the number of
/// the first signal of the set it receives, or 100 + n if the sender was not
/// its parent.
fn receiver(set: SigSet) -> (Process<impl FnOnce()>, std::io::PipeReader) {
    let (ready_rx, ready_tx) = std::io::pipe().unwrap();
    let mut ready_tx = Some(ready_tx);
    let p = Process::new(move || {
        let _blocked = set.block().unwrap();
        ready_tx.take().unwrap().write_all(b"r").unwrap();
        let info = set.wait().unwrap();
        let from_parent = info.sender == Some(process::getppid());
        process::exit(info.signal.as_raw() + if from_parent { 0 } else { 100 });
    });
    (p, ready_rx)
}

#[test]
fn kill_between_two_processes_reaches_the_waiting_child() {
    isolated(|| {
        let (mut child, mut ready) = receiver(SigSet::from(Signal::USR1));
        child.start().unwrap();
        ready.read_exact(&mut [0u8; 1]).unwrap();
        signal::kill(child.pid().unwrap(), Signal::USR1).unwrap();
        assert_eq!(child.join().unwrap(), Signal::USR1.as_raw());
    });
}

#[test]
fn a_default_action_signal_ends_the_child_with_minus_its_number() {
    isolated(|| {
        let mut child = Process::new(|| {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        child.start().unwrap();
        signal::kill(child.pid().unwrap(), Signal::USR2).unwrap();
        assert_eq!(child.join().unwrap(), -Signal::USR2.as_raw());
    });
}

#[test]
fn killpg_reaches_every_process_of_the_group() {
    isolated(|| {
        // This isolated body leads its own process group; its children join it.
        let group = process::getpgrp();
        assert_eq!(group, process::getpid());
        let mut children: Vec<_> = (0..3)
            .map(|_| {
                let mut p = Process::new(|| {
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                });
                p.start().unwrap();
                p
            })
            .collect();
        // Keep this process out of it: TERM would end us too.
        let _shield = SigSet::from(Signal::TERM).block().unwrap();
        signal::killpg(group, Signal::TERM).unwrap();
        for p in &mut children {
            assert_eq!(p.join().unwrap(), -15);
        }
        // Take our own pending TERM so it is not delivered when the shield goes.
        assert_eq!(
            SigSet::from(Signal::TERM)
                .try_wait()
                .unwrap()
                .unwrap()
                .signal,
            Signal::TERM
        );
    });
}

#[test]
fn kill_of_a_process_that_does_not_exist_is_a_typed_error() {
    isolated(|| {
        let mut p = Process::new(|| ());
        p.start().unwrap();
        let gone = p.pid().unwrap();
        p.join().unwrap();
        let err = signal::kill(gone, Signal::USR1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoSuchProcess);
        assert_eq!(err.resource(), Resource::Pid(gone));
        assert_eq!(err.op(), "kill");
    });
}

#[test]
fn realtime_signals_queue_and_standard_ones_merge() {
    isolated(|| {
        let rt = Signal::rtmin_plus(1).unwrap();
        let set = SigSet::from_signals(&[rt, Signal::USR1]);
        let _blocked = set.block().unwrap();
        let me = process::getpid();
        for value in [7, 8, 9] {
            signal::sigqueue(me, rt, value).unwrap();
            signal::kill(me, Signal::USR1).unwrap();
        }
        let mut rt_seen = 0;
        let mut usr1_seen = 0;
        while let Some(info) = set.try_wait().unwrap() {
            assert_eq!(info.sender, Some(me));
            if info.signal == rt {
                rt_seen += 1;
            } else {
                usr1_seen += 1;
            }
        }
        assert_eq!((rt_seen, usr1_seen), (3, 1));
    });
}
