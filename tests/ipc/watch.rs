//! The queues' other descriptors: `Queue::watch_put` (room for a putter)
//! and `JoinableQueue::watch_join` (every task done), each readable
//! exactly when the wait it stands for would return, with no wake-up
//! missed when the other process acts between a look and a park.

use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::{JoinableQueue, Queue, SimpleQueue, wait};
use mproc::process::Process;
use mproc::shm::Shared;

use crate::common::{gate, isolated, under_qemu};

/// Far longer than any wake-up takes, even under qemu on a loaded machine.
const LONG: Duration = Duration::from_secs(10);

fn readable(fd: &impl AsFd, timeout: Duration) -> bool {
    wait(&[fd.as_fd()], Some(timeout)).unwrap().contains(0)
}

fn rounds() -> u32 {
    if under_qemu() { 300 } else { 5000 }
}

#[test]
fn the_put_watch_is_readable_exactly_while_the_queue_has_room_or_is_closed() {
    isolated(|| {
        let q = Queue::<u32, 2>::new().unwrap();
        let room = q.watch_put().unwrap();
        assert!(room.as_raw_fd() >= 0);
        assert!(readable(&room, Duration::ZERO), "an empty queue has room");
        q.put(1).unwrap();
        assert!(readable(&room, Duration::ZERO));
        q.put(2).unwrap();
        assert!(!readable(&room, Duration::ZERO), "full, yet readable");
        assert_eq!(q.put_nowait(3).unwrap_err().kind(), ErrorKind::Full);

        // Another process makes room after a gate: the watch fires
        // without this process calling the queue.
        let (g, mut opener) = gate();
        let q_ref = &*q;
        let mut getter = Process::new(move || {
            g.wait();
            assert_eq!(q_ref.get().unwrap(), 1);
        });
        getter.start().unwrap();
        assert!(!readable(&room, Duration::from_millis(20)));
        opener.write_all(&[1]).unwrap();
        assert!(
            readable(&room, LONG),
            "the get made room and raised nothing"
        );
        assert_eq!(getter.join().unwrap(), 0);
        q.put_nowait(3).unwrap();
        assert!(!readable(&room, Duration::ZERO));

        // Filled while nobody watched: a new watch starts current.
        drop(room);
        assert_eq!(q.get().unwrap(), 2);
        let room = q.watch_put().unwrap();
        assert!(readable(&room, Duration::ZERO));
        q.put(4).unwrap();
        assert!(!readable(&room, Duration::ZERO));

        // Closed: a put returns at once (with BrokenPipe), so readable.
        q.close();
        assert!(readable(&room, Duration::ZERO));
        assert_eq!(q.put_nowait(5).unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn the_join_watch_is_readable_exactly_while_no_task_is_unfinished() {
    isolated(|| {
        let q = JoinableQueue::<u32, 4>::new().unwrap();
        let done = q.watch_join().unwrap();
        assert!(readable(&done, Duration::ZERO), "nothing put: joined");
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert!(!readable(&done, Duration::ZERO));
        assert_eq!(q.get().unwrap(), 1);
        q.task_done().unwrap();
        assert!(!readable(&done, Duration::ZERO), "one task left");

        let (g, mut opener) = gate();
        let q_ref = &*q;
        let mut worker = Process::new(move || {
            g.wait();
            assert_eq!(q_ref.get().unwrap(), 2);
            q_ref.task_done().unwrap();
        });
        worker.start().unwrap();
        assert!(!readable(&done, Duration::from_millis(20)));
        opener.write_all(&[1]).unwrap();
        assert!(readable(&done, LONG), "the last task_done raised nothing");
        assert!(q.join_timeout(Duration::ZERO));
        assert_eq!(worker.join().unwrap(), 0);
    });
}

#[test]
fn no_room_wake_up_is_missed_when_a_get_lands_between_the_look_and_the_park() {
    isolated(|| {
        let q = Queue::<u32, 1>::new().unwrap();
        let n = rounds();
        let q_ref = &*q;
        let mut getter = Process::new(move || {
            for i in 0..n {
                assert_eq!(q_ref.get().unwrap(), i);
            }
        });
        getter.start().unwrap();
        let room = q.watch_put().unwrap();
        for i in 0..n {
            loop {
                match q.put_nowait(i) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::Full => {
                        assert!(readable(&room, LONG), "round {i}: room came, no wake-up");
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert_eq!(getter.join().unwrap(), 0);
    });
}

#[test]
fn no_item_or_join_wake_up_is_missed_between_the_look_and_the_park() {
    isolated(|| {
        let q = JoinableQueue::<u32, 1>::new().unwrap();
        let back = SimpleQueue::<u32, 1>::new().unwrap();
        let n = rounds();
        let (q_ref, back_ref) = (&*q, &*back);
        // The child takes each item and marks it done; the parent waits
        // for the join on its descriptor, then the child puts it back on
        // the second queue, which the parent waits for on its items'
        // descriptor.
        let mut child = Process::new(move || {
            for _ in 0..n {
                let i = q_ref.get().unwrap();
                q_ref.task_done().unwrap();
                back_ref.put(i).unwrap();
            }
        });
        child.start().unwrap();
        let done = q.watch_join().unwrap();
        let items = back.watch().unwrap();
        for i in 0..n {
            q.put(i).unwrap();
            while q.unfinished() != 0 {
                assert!(readable(&done, LONG), "round {i}: joined, no wake-up");
            }
            loop {
                if !back.empty() {
                    assert_eq!(back.get().unwrap(), i);
                    break;
                }
                assert!(
                    readable(&items, LONG),
                    "round {i}: an item came, no wake-up"
                );
            }
        }
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn a_queue_made_as_a_plain_shared_value_has_no_put_or_join_descriptor() {
    let bare = Shared::<Queue<u8, 2>>::zeroed().unwrap();
    let err = bare.watch_put().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
    let bare = Shared::<JoinableQueue<u8, 2>>::zeroed().unwrap();
    let err = bare.watch_join().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
    // A plain Queue made by `new` has no join descriptor to give: its
    // `JoinableQueue` form is the one that counts tasks.
    let s = SimpleQueue::<u8, 2>::new().unwrap();
    assert!(readable(&s.watch_put().unwrap(), Duration::ZERO));
}
