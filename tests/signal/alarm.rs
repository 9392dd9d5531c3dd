//! alarm, set_alarm, pause.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal};

use crate::common::isolated;

/// Sleeps (race-free) until SIGALRM has been handled; returns how long.
fn wait_for_alarm(flag: &signal::SignalFlag, blocked: &signal::MaskGuard) -> Duration {
    let start = Instant::now();
    while !flag.take() {
        blocked.pause();
    }
    start.elapsed()
}

#[test]
fn alarm_fires_after_its_seconds() {
    isolated(|| {
        let alarmed = signal::flag(Signal::ALRM).unwrap();
        let blocked = SigSet::from(Signal::ALRM).block().unwrap();
        assert_eq!(signal::alarm(1), 0, "no alarm was pending");
        let took = wait_for_alarm(&alarmed, &blocked);
        assert!(took >= Duration::from_millis(950), "fired early: {took:?}");
        assert!(took < Duration::from_secs(3), "fired late: {took:?}");
    });
}

#[test]
fn a_second_alarm_replaces_the_first() {
    isolated(|| {
        let alarmed = signal::flag(Signal::ALRM).unwrap();
        let blocked = SigSet::from(Signal::ALRM).block().unwrap();
        assert_eq!(signal::alarm(30), 0);
        let left = signal::alarm(1);
        assert!(
            (29..=30).contains(&left),
            "the first alarm had {left} s left"
        );
        let took = wait_for_alarm(&alarmed, &blocked);
        assert!(
            took < Duration::from_secs(3),
            "the first alarm was not replaced: {took:?}"
        );
        // Only one fired: nothing is pending any more.
        assert_eq!(signal::alarm(0), 0);
    });
}

#[test]
fn a_sub_second_alarm_fires_and_shares_the_timer() {
    isolated(|| {
        let alarmed = signal::flag(Signal::ALRM).unwrap();
        let blocked = SigSet::from(Signal::ALRM).block().unwrap();
        assert_eq!(signal::alarm(20), 0);
        let left = signal::set_alarm(Duration::from_millis(200)).unwrap();
        assert!(
            left > Duration::from_secs(19) && left <= Duration::from_secs(20),
            "{left:?}"
        );
        let took = wait_for_alarm(&alarmed, &blocked);
        assert!(took >= Duration::from_millis(190), "fired early: {took:?}");
        assert!(took < Duration::from_secs(2), "fired late: {took:?}");
        // Cancelling returns what was left; zero when nothing is armed.
        assert_eq!(signal::set_alarm(Duration::ZERO).unwrap(), Duration::ZERO);
        signal::set_alarm(Duration::from_secs(5)).unwrap();
        let left = signal::set_alarm(Duration::ZERO).unwrap();
        assert!(left > Duration::from_secs(4), "{left:?}");
    });
}

#[test]
fn an_unhandled_alarm_ends_the_process_with_sigalrm() {
    isolated(|| {
        let mut p = Process::new(|| {
            signal::set_alarm(Duration::from_millis(50)).unwrap();
            loop {
                signal::pause();
            }
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), -Signal::ALRM.as_raw());
    });
}

#[test]
fn pause_returns_after_a_handled_signal_from_another_process() {
    isolated(|| {
        let (mut ready_rx, ready_tx) = std::io::pipe().unwrap();
        let mut ready_tx = Some(ready_tx);
        let mut child = Process::new(move || {
            let usr1 = signal::flag(Signal::USR1).unwrap();
            let blocked = SigSet::from(Signal::USR1).block().unwrap();
            ready_tx.take().unwrap().write_all(b"r").unwrap();
            let start = Instant::now();
            while !usr1.take() {
                blocked.pause();
                if start.elapsed() > Duration::from_secs(20) {
                    process::exit(2);
                }
            }
        });
        child.start().unwrap();
        ready_rx.read_exact(&mut [0u8; 1]).unwrap();
        signal::kill(child.pid().unwrap(), Signal::USR1).unwrap();
        assert_eq!(
            child.join_timeout(Duration::from_secs(20)).unwrap(),
            Some(0)
        );
    });
}

#[test]
fn plain_pause_returns_after_a_handler_ran() {
    isolated(|| {
        let alarmed = signal::flag(Signal::ALRM).unwrap();
        signal::set_alarm(Duration::from_millis(100)).unwrap();
        while !alarmed.take() {
            signal::pause();
        }
    });
}
