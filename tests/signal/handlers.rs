//! Handlers: flags, register, composition with the host's handlers, and
//! what a forked child starts with.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal};

use crate::common::isolated;

static HOST_HITS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn host_handler(_: libc::c_int) {
    HOST_HITS.fetch_add(1, Ordering::SeqCst);
}

/// Installs a handler the way a host program would, without signal-hook.
fn install_host_handler(sig: Signal) {
    // SAFETY: zeroed sigaction with a valid handler address; the handler only
    // touches an atomic.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = host_handler as *const () as usize;
        libc::sigemptyset(&mut act.sa_mask);
        assert_eq!(libc::sigaction(sig.as_raw(), &act, std::ptr::null_mut()), 0);
    }
}

/// Every signal's disposition, as (number, handler address).
fn dispositions() -> Vec<(i32, usize)> {
    (1..=64)
        .filter(|&n| n != libc::SIGKILL && n != libc::SIGSTOP)
        .map(|n| {
            // SAFETY: querying only; `old` is valid storage.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a null new action only reads the current one.
            unsafe { libc::sigaction(n, std::ptr::null(), &mut old) };
            (n, old.sa_sigaction)
        })
        .collect()
}

#[test]
fn a_flag_is_set_by_its_signal_and_taken_once() {
    isolated(|| {
        let flag = signal::flag(Signal::USR1).unwrap();
        assert!(!flag.is_set());
        signal::raise(Signal::USR1).unwrap();
        assert!(flag.is_set());
        assert!(flag.take());
        assert!(!flag.take());
        assert_eq!(flag.signal(), Signal::USR1);
    });
}

#[test]
fn handlers_compose_with_the_hosts_own() {
    isolated(|| {
        install_host_handler(Signal::USR2);
        let flag = signal::flag(Signal::USR2).unwrap();
        signal::raise(Signal::USR2).unwrap();
        assert!(flag.take(), "our handler did not run");
        assert_eq!(
            HOST_HITS.load(Ordering::SeqCst),
            1,
            "the host's handler did not run"
        );
        drop(flag);
        signal::raise(Signal::USR2).unwrap();
        assert_eq!(
            HOST_HITS.load(Ordering::SeqCst),
            2,
            "the host's handler is gone after ours"
        );
    });
}

#[test]
fn registered_actions_run_in_the_handler() {
    isolated(|| {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        // SAFETY: the action only increments an atomic.
        let registration = unsafe {
            signal::register(Signal::HUP, move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
        }
        .unwrap();
        signal::raise(Signal::HUP).unwrap();
        signal::raise(Signal::HUP).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        drop(registration);
        // signal-hook keeps its handler: the action no longer runs, and (as
        // documented) the default action is not restored, so HUP is ignored.
        signal::raise(Signal::HUP).unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(!signal::is_default(Signal::HUP).unwrap());
    });
}

#[test]
fn the_library_changes_no_disposition_unless_asked() {
    isolated(|| {
        let before = dispositions();
        // Exercise everything that does not register a handler.
        let _ = signal::alarm(0);
        let _ = signal::set_alarm(std::time::Duration::ZERO);
        let mut p = Process::new(|| ());
        p.start().unwrap();
        p.join().unwrap();
        {
            let fd = signal::SignalFd::new(SigSet::from(Signal::USR1)).unwrap();
            signal::raise(Signal::USR1).unwrap();
            assert!(fd.try_recv().unwrap().is_some());
        }
        let _ = process::active_children();
        assert_eq!(dispositions(), before);
    });
}

#[test]
fn a_child_starts_with_an_empty_mask_and_default_dispositions() {
    isolated(|| {
        let _flag = signal::flag(Signal::TERM).unwrap();
        let _blocked = SigSet::from_signals(&[Signal::USR1, Signal::INT])
            .block()
            .unwrap();
        assert!(!signal::is_default(Signal::TERM).unwrap());
        let mut p = Process::new(|| {
            let clean = SigSet::blocked().unwrap().is_empty();
            let default = signal::is_default(Signal::TERM).unwrap();
            process::exit(i32::from(!clean) + 2 * i32::from(!default));
        });
        p.start().unwrap();
        assert_eq!(
            p.join().unwrap(),
            0,
            "1: mask not empty, 2: TERM handler inherited"
        );
        // So terminate() works on the child even though the parent catches TERM.
        let mut q = Process::new(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        });
        q.start().unwrap();
        q.terminate().unwrap();
        assert_eq!(q.join().unwrap(), -15);
    });
}

#[test]
fn a_child_starts_with_an_empty_mask_when_nothing_was_registered() {
    // Without a registered handler the fork does not block signals itself:
    // the child must still start with the parent's blocked set cleared.
    isolated(|| {
        let _blocked = SigSet::from_signals(&[Signal::USR1, Signal::rtmin()])
            .block()
            .unwrap();
        let mut p = Process::new(|| {
            let clean = SigSet::blocked().unwrap().is_empty();
            process::exit(i32::from(!clean));
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0, "the child kept the parent's mask");
        assert!(SigSet::blocked().unwrap().contains(Signal::USR1));
        // And with an empty parent mask the child's stays empty.
        drop(_blocked);
        let mut q = Process::new(|| {
            process::exit(i32::from(!SigSet::blocked().unwrap().is_empty()));
        });
        q.start().unwrap();
        assert_eq!(q.join().unwrap(), 0);
    });
}

#[test]
fn a_child_can_register_again_what_was_reset() {
    isolated(|| {
        let _parent_flag = signal::flag(Signal::USR1).unwrap();
        let mut p = Process::new(|| {
            assert!(signal::is_default(Signal::USR1).unwrap());
            let flag = signal::flag(Signal::USR1).unwrap();
            signal::raise(Signal::USR1).unwrap();
            process::exit(if flag.take() { 0 } else { 1 });
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    });
}
