//! `WatchableEvent`: an `Event` whose descriptor is readable exactly
//! while its flag is set, with no wake-up missed when another process sets
//! it between a look and a park.

use std::io::Write as _;
use std::os::fd::AsFd;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::wait;
use mproc::process::Process;
use mproc::shm::Shared;
use mproc::sync::WatchableEvent;

use crate::common::{gate, isolated, under_qemu};

/// Far longer than any wake-up takes, even under qemu on a loaded machine.
const LONG: Duration = Duration::from_secs(10);

fn readable(fd: &impl AsFd, timeout: Duration) -> bool {
    wait(&[fd.as_fd()], Some(timeout)).unwrap().contains(0)
}

#[test]
fn the_watch_is_readable_exactly_while_the_flag_is_set() {
    isolated(|| {
        let event = WatchableEvent::new().unwrap();
        let watch = event.watch().unwrap();
        assert!(!readable(&watch, Duration::ZERO), "clear, yet readable");
        let (g, mut opener) = gate();
        let ev = &*event;
        let mut setter = Process::new(move || {
            g.wait();
            ev.set();
        });
        setter.start().unwrap();
        assert!(!readable(&watch, Duration::from_millis(20)));
        opener.write_all(&[1]).unwrap();
        assert!(readable(&watch, LONG), "set in another process, no wake-up");
        assert!(event.is_set());
        assert!(readable(&watch, Duration::ZERO), "still set");
        event.clear();
        assert!(!readable(&watch, Duration::ZERO), "cleared, yet readable");
        assert_eq!(setter.join().unwrap(), 0);

        // Set while nobody watched: a new watch starts readable.
        drop(watch);
        event.set();
        let watch = event.watch().unwrap();
        assert!(readable(&watch, Duration::ZERO));
        event.clear();
        assert!(!readable(&watch, Duration::ZERO));
        // The plain waits work as an Event's.
        event.set();
        assert!(event.wait_timeout(Duration::ZERO));
    });
}

#[test]
fn no_wake_up_is_missed_when_a_set_lands_between_the_look_and_the_park() {
    isolated(|| {
        let event = WatchableEvent::new().unwrap();
        let back = WatchableEvent::new().unwrap();
        let rounds = if under_qemu() { 200 } else { 3000 };
        let (ev, bk) = (&*event, &*back);
        // A ping-pong of two events: the child sets `event`; the parent
        // waits for it on its descriptor, clears it and sets `back`; the
        // child waits for `back`, clears it, and sets `event` again.
        let mut child = Process::new(move || {
            for _ in 0..rounds {
                ev.set();
                bk.wait();
                bk.clear();
            }
        });
        child.start().unwrap();
        let held = event.watch().unwrap();
        for i in 0..rounds {
            // Half the rounds register a watch of their own now (racing
            // the child's set), the other half use the one held throughout.
            let own = (i % 2 == 0).then(|| event.watch().unwrap());
            let fd = own.as_ref().map_or(held.as_fd(), |w| w.as_fd());
            while !event.is_set() {
                assert!(readable(&fd, LONG), "round {i}: set, no wake-up");
            }
            event.clear();
            back.set();
        }
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn an_event_made_as_a_plain_shared_value_has_no_descriptor() {
    let bare = Shared::<WatchableEvent>::zeroed().unwrap();
    let err = bare.watch().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
    bare.set();
    assert!(bare.is_set());
}
