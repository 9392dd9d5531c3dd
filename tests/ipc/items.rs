//! `Item`s that are not `Shareable` — tuples, `Option`, `bool`, `char`,
//! arrays of them — through the fixed `Queue`, `SimpleQueue`,
//! `JoinableQueue` and a `Pipe`'s `send`/`recv` (with descriptors too),
//! across a fork; and bytes that are no value read back as a typed error.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::{JoinableQueue, Pipe, Queue, SimpleQueue};
use mproc::process::Process;

use crate::common::isolated;

const MUST: Duration = Duration::from_secs(20);

#[test]
fn options_go_through_a_queue_across_a_fork() {
    isolated(|| {
        let q = Queue::<Option<u32>, 8>::new().unwrap();
        let q_ref: &Queue<Option<u32>, 8> = &q;
        let mut child = Process::new(move || {
            for i in 0..100u32 {
                q_ref.put(if i % 3 == 0 { None } else { Some(i) }).unwrap();
            }
        });
        child.start().unwrap();
        for i in 0..100u32 {
            let want = if i % 3 == 0 { None } else { Some(i) };
            assert_eq!(q.get_timeout(MUST).unwrap(), want);
        }
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn tuples_go_through_a_queue_across_a_fork() {
    isolated(|| {
        let q = Queue::<(u32, u64), 8>::new().unwrap();
        let q_ref: &Queue<(u32, u64), 8> = &q;
        let mut child = Process::new(move || {
            for i in 0..100u32 {
                q_ref.put((i, u64::from(i) << 40 | 0xabc)).unwrap();
            }
        });
        child.start().unwrap();
        for i in 0..100u32 {
            assert_eq!(
                q.get_timeout(MUST).unwrap(),
                (i, u64::from(i) << 40 | 0xabc)
            );
        }
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn bools_and_chars_go_through_queues() {
    let bools = Queue::<bool, 4>::new().unwrap();
    bools.put(true).unwrap();
    bools.put(false).unwrap();
    assert_eq!((bools.get().unwrap(), bools.get().unwrap()), (true, false));

    let chars = Queue::<char, 4>::new().unwrap();
    for c in ['a', 'é', '字', '🦀'] {
        chars.put(c).unwrap();
    }
    assert!(chars.full());
    let got: String = (0..4).map(|_| chars.get().unwrap()).collect();
    assert_eq!(got, "aé字🦀");

    let simple = SimpleQueue::<[Option<bool>; 3], 2>::new().unwrap();
    simple.put([Some(true), None, Some(false)]).unwrap();
    assert_eq!(simple.get().unwrap(), [Some(true), None, Some(false)]);
}

#[test]
fn a_joinable_queue_of_tuples_with_options_counts_its_tasks() {
    isolated(|| {
        let q = JoinableQueue::<(u8, Option<i64>), 4>::new().unwrap();
        let q_ref: &JoinableQueue<(u8, Option<i64>), 4> = &q;
        let mut consumer = Process::new(move || {
            // Checks each item, and says so through the task count only
            // when it was the one expected.
            for i in 0..20u8 {
                let want = (i, (i % 2 == 0).then_some(-i64::from(i) * 1_000_000_007));
                assert_eq!(q_ref.get().unwrap(), want);
                q_ref.task_done().unwrap();
            }
        });
        consumer.start().unwrap();
        for i in 0..20u8 {
            q.put((i, (i % 2 == 0).then_some(-i64::from(i) * 1_000_000_007)))
                .unwrap();
        }
        assert!(q.join_timeout(MUST), "the consumer marked every task done");
        assert_eq!(consumer.join().unwrap(), 0);
    });
}

#[test]
fn tuples_with_options_go_through_a_pipe_across_a_fork() {
    isolated(|| {
        let (here, there) = Pipe::duplex().unwrap();
        let mut child = Process::new(move || {
            let (a, b) = there.recv::<(u32, Option<u64>)>().unwrap();
            there.send(&(a + 1, b.map(|b| b * 2), a == 1)).unwrap();
            let flags = there.recv::<[bool; 3]>().unwrap();
            there.send(&flags.map(|f| !f)).unwrap();
        });
        child.start().unwrap();
        here.send(&(1u32, Some(2u64))).unwrap();
        assert_eq!(
            here.recv_timeout::<(u32, Option<u64>, bool)>(MUST).unwrap(),
            Some((2, Some(4), true))
        );
        here.send(&[true, false, true]).unwrap();
        assert_eq!(here.recv::<[bool; 3]>().unwrap(), [false, true, false]);
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn a_message_that_is_no_value_is_invalid_data_not_a_value() {
    let (a, b) = Pipe::duplex().unwrap();
    a.send_bytes(&[2]).unwrap();
    assert!(matches!(
        b.recv::<bool>().unwrap_err().kind(),
        ErrorKind::InvalidData(_)
    ));
    // A surrogate is no char; an Option's tag is 0 or 1; each taken whole.
    a.send_bytes(&0xD800u32.to_ne_bytes()).unwrap();
    let [x, y, z, w] = 1u32.to_ne_bytes();
    a.send_bytes(&[7, x, y, z, w]).unwrap();
    a.send_bytes(&[1, x, y, z, w]).unwrap();
    assert!(matches!(
        b.try_recv::<char>().unwrap_err().kind(),
        ErrorKind::InvalidData(_)
    ));
    assert!(matches!(
        b.recv_timeout::<Option<u32>>(MUST).unwrap_err().kind(),
        ErrorKind::InvalidData(_)
    ));
    // The messages after a bad one are untouched.
    assert_eq!(b.recv::<Option<u32>>().unwrap(), Some(1));
    // `()` is one byte, so it travels as Python's `send(None)` does.
    a.send(&()).unwrap();
    b.recv::<()>().unwrap();
    // The size is still checked first.
    a.send_bytes(&[1, 0]).unwrap();
    assert!(matches!(
        b.recv::<bool>().unwrap_err().kind(),
        ErrorKind::MessageSize {
            size: 2,
            capacity: 1
        }
    ));
}

#[test]
fn a_slot_that_is_no_value_is_invalid_data_and_does_not_block_the_queue() {
    let q = Queue::<u8, 4>::new().unwrap();
    // Another program's view of the same memory (a `Queue<bool, _>` stores
    // `u8`s): what a named segment shared with a foreign writer could hold.
    #[allow(unsafe_code)]
    // SAFETY: a `Queue<bool, 4>` has the layout of a `Queue<u8, 4>` (its
    // slots hold `<bool as Item>::Repr`, a `u8`), and every bit pattern of
    // its stored form is valid memory for it: only `from_repr` judges it.
    let as_bools = unsafe { &*(&*q as *const Queue<u8, 4>).cast::<Queue<bool, 4>>() };
    q.put(2).unwrap();
    q.put(1).unwrap();
    assert!(matches!(
        as_bools.get().unwrap_err().kind(),
        ErrorKind::InvalidData(_)
    ));
    assert!(as_bools.get_nowait().unwrap());
    assert!(as_bools.empty());
}

#[test]
fn an_item_travels_with_descriptors_and_one_that_is_no_value_closes_them() {
    isolated(|| {
        let open_fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let (a, b) = Pipe::duplex().unwrap();
        let (_mine, theirs) = UnixStream::pair().unwrap();
        let before = open_fds();
        a.send_with_fds(&(3u16, Some(true)), &[theirs.as_fd()])
            .unwrap();
        let mut fds = [None, None];
        let (value, n) = b.recv_with_fds::<(u16, Option<bool>)>(&mut fds).unwrap();
        assert_eq!((value, n), ((3, Some(true)), 1));
        assert!(fds[0].is_some() && fds[1].is_none());
        drop(fds);
        assert_eq!(open_fds(), before);
        // A bool of 2: refused, its descriptor closed on arrival.
        a.send_with_fds(&2u8, &[theirs.as_fd()]).unwrap();
        let mut fds = [None];
        let e = b.recv_with_fds::<bool>(&mut fds).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidData(_)));
        assert!(fds[0].is_none());
        assert_eq!(open_fds(), before);
    });
}

/// A struct `Shareable` refuses (a `bool`, an `Option`, a tuple, a `char`).
#[derive(mproc::Item, Debug, PartialEq, Clone, Copy)]
struct Job {
    id: u32,
    urgent: bool,
    deadline: Option<u64>,
    span: (u8, u16),
    tag: char,
}

#[derive(mproc::Item, Debug, PartialEq, Clone, Copy)]
enum State {
    Idle,
    Busy,
    Done,
}

#[test]
fn derived_items_go_through_a_queue_and_a_pipe_across_a_fork() {
    isolated(|| {
        let job = |i: u32| Job {
            id: i,
            urgent: i.is_multiple_of(2),
            deadline: (!i.is_multiple_of(3)).then_some(u64::from(i) * 1000),
            span: (i as u8, i as u16 * 7),
            tag: char::from(b'a' + (i % 26) as u8),
        };
        let q = Queue::<(State, Job), 4>::new().unwrap();
        let q_ref: &Queue<(State, Job), 4> = &q;
        let (here, there) = Pipe::duplex().unwrap();
        let mut child = Process::new(move || {
            for i in 0..50 {
                q_ref.put((State::Busy, job(i))).unwrap();
            }
            there.send(&(State::Idle, State::Done)).unwrap();
        });
        child.start().unwrap();
        for i in 0..50 {
            assert_eq!(q.get_timeout(MUST).unwrap(), (State::Busy, job(i)));
        }
        assert_eq!(
            here.recv::<(State, State)>().unwrap(),
            (State::Idle, State::Done)
        );
        assert_eq!(child.join().unwrap(), 0);
        // A fourth variant is no State.
        let (a, b) = Pipe::duplex().unwrap();
        a.send_bytes(&[3]).unwrap();
        assert!(matches!(
            b.recv::<State>().unwrap_err().kind(),
            ErrorKind::InvalidData(_)
        ));
    });
}

#[test]
fn pids_durations_and_usizes_go_through_a_queue_across_a_fork() {
    isolated(|| {
        type Report = (mproc::Pid, Duration, usize);
        let q = Queue::<Report, 2>::new().unwrap();
        let q_ref: &Queue<Report, 2> = &q;
        let mut child = Process::new(move || {
            let me = mproc::process::current_process().pid;
            q_ref.put((me, Duration::new(1, 500), usize::MAX)).unwrap();
        });
        child.start().unwrap();
        let (pid, took, n) = q.get_timeout(MUST).unwrap();
        assert_eq!(Some(pid), child.pid());
        assert_eq!((took, n), (Duration::new(1, 500), usize::MAX));
        assert_eq!(child.join().unwrap(), 0);
    });
}
