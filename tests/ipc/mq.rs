//! `MessageQueue`: priorities and order between processes, attributes, the
//! try and timed forms, sizes, names, ownership of the name, kernel limits
//! (as an unprivileged user), `mq_notify`, and polling the descriptor.

use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use mproc::error::SegmentName;
use mproc::ipc::{Attributes, MessageQueue};
use mproc::process::Process;
use mproc::signal::{SigSet, Signal};
use mproc::{ErrorKind, Resource};

use crate::common::isolated;

const MUST: Duration = Duration::from_secs(20);

/// A name no other test (or run) uses; the queue is unlinked when dropped
/// if still there, so a failing test leaves nothing behind either.
pub(crate) struct Unique(pub(crate) String);

impl Drop for Unique {
    fn drop(&mut self) {
        let _ = MessageQueue::open(&self.0).map(|mut q| q.unlink());
        let _ = std::fs::remove_file(record_path(&self.0));
    }
}

/// Where the owner record of queue `name` is, as `mproc::ipc::mq`
/// documents it: `/dev/shm/mproc-mq-owner-<FNV-1a 64 of the name, hex>`.
fn record_path(name: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("/dev/shm/mproc-mq-owner-{hash:016x}")
}

fn has_record(name: &str) -> bool {
    std::path::Path::new(&record_path(name)).exists()
}

pub(crate) fn unique(tag: &str) -> Unique {
    Unique(format!("/mproc-test-{}-{tag}", std::process::id()))
}

fn gone(name: &str) -> bool {
    matches!(MessageQueue::open(name), Err(e) if e.kind() == ErrorKind::NotFound)
}

#[test]
fn highest_priority_first_and_in_order_within_a_priority_across_processes() {
    isolated(|| {
        let name = unique("prio");
        let q = MessageQueue::create(&name.0, 10, 64).unwrap();
        assert!(q.owns());
        let child_name = name.0.clone();
        let mut producer = Process::new(move || {
            let q = MessageQueue::open(&child_name).unwrap();
            assert!(!q.owns());
            for (msg, prio) in [("a1", 1), ("b5", 5), ("a2", 1), ("c0", 0), ("b6", 5)] {
                q.send(msg.as_bytes(), prio).unwrap();
            }
        });
        producer.start().unwrap();
        assert_eq!(producer.join().unwrap(), 0);
        assert_eq!(
            q.attributes().unwrap(),
            Attributes {
                max_messages: 10,
                message_size: 64,
                current: 5
            }
        );
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        for _ in 0..5 {
            let (n, prio) = q.receive(&mut buf).unwrap();
            got.push((String::from_utf8(buf[..n].to_vec()).unwrap(), prio));
        }
        let want = [("b5", 5), ("b6", 5), ("a1", 1), ("a2", 1), ("c0", 0)];
        assert_eq!(
            got,
            want.map(|(m, p)| (m.to_string(), p)).to_vec(),
            "priority order, first in first out within one"
        );
        assert!(!gone(&name.0));
        assert!(has_record(&name.0), "no owner record beside the queue");
        drop(q);
        assert!(gone(&name.0), "the owner's drop did not unlink");
        assert!(!has_record(&name.0), "the owner record was left behind");
    });
}

#[test]
fn full_and_empty_queues_in_every_form() {
    isolated(|| {
        let name = unique("forms");
        let q = MessageQueue::create(&name.0, 2, 16).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            q.try_receive(&mut buf).unwrap_err().kind(),
            ErrorKind::Empty
        );
        let start = Instant::now();
        assert_eq!(
            q.receive_timeout(&mut buf, Duration::from_millis(100))
                .unwrap_err()
                .kind(),
            ErrorKind::Empty
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        q.try_send(b"1", 0).unwrap();
        q.send_timeout(b"2", 0, Duration::from_millis(10)).unwrap();
        assert_eq!(q.try_send(b"3", 0).unwrap_err().kind(), ErrorKind::Full);
        let start = Instant::now();
        assert_eq!(
            q.send_timeout(b"3", 0, Duration::from_millis(100))
                .unwrap_err()
                .kind(),
            ErrorKind::Full
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(
            q.attributes().unwrap().current,
            2,
            "the refused sends added nothing"
        );
        // A blocked sender goes on once a receiver makes room.
        let q_ref: &MessageQueue = &q;
        let mut sender = Process::new(move || q_ref.send(b"3", 0).unwrap());
        sender.start().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(q.receive(&mut buf).unwrap(), (1, 0));
        assert_eq!(sender.join().unwrap(), 0);
        assert_eq!(q.receive_timeout(&mut buf, MUST).unwrap(), (1, 0));
        assert_eq!(&buf[..1], b"2");
        assert_eq!(q.try_receive(&mut buf).unwrap(), (1, 0));
        assert_eq!(&buf[..1], b"3");
    });
}

#[test]
fn sizes_and_priorities_out_of_range_are_refused_and_lose_nothing() {
    let name = unique("sizes");
    let q = MessageQueue::create(&name.0, 4, 8).unwrap();
    q.send(b"kept", 3).unwrap();
    assert_eq!(
        q.send(&[0u8; 9], 0).unwrap_err().kind(),
        ErrorKind::MessageSize {
            size: 9,
            capacity: 8
        }
    );
    assert!(matches!(
        q.send(b"x", 32768).unwrap_err().kind(),
        ErrorKind::InvalidArgument(_)
    ));
    let mut small = [0u8; 7];
    assert_eq!(
        q.receive(&mut small).unwrap_err().kind(),
        ErrorKind::MessageSize {
            size: 8,
            capacity: 7
        }
    );
    let mut buf = [0u8; 8];
    assert_eq!(q.receive(&mut buf).unwrap(), (4, 3));
    assert_eq!(&buf[..4], b"kept");
    assert_eq!(q.attributes().unwrap().current, 0);
    assert!(matches!(
        MessageQueue::create(&unique("zero").0, 0, 8)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument(_)
    ));
}

#[test]
fn names_are_checked_and_owned() {
    isolated(|| {
        for bad in ["", "/", "a/b", "/..", "nul\0"] {
            let err = MessageQueue::create(bad, 1, 1).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::InvalidArgument(_)),
                "{bad:?}"
            );
            assert_eq!(
                err.resource(),
                Resource::Text {
                    what: "message queue name",
                    len: bad.len()
                }
            );
        }
        let name = unique("owned");
        assert_eq!(
            MessageQueue::open(&name.0).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let mut q = MessageQueue::create(&name.0[1..], 1, 1).unwrap();
        assert_eq!(q.name(), name.0);
        let err = MessageQueue::create(&name.0, 1, 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(err.to_string().contains(&name.0), "{err}");
        // Persisted: outlives the handle; then unlinked by another.
        q.persist();
        drop(q);
        assert!(has_record(&name.0), "a persisted queue keeps its record");
        assert!(
            !MessageQueue::reclaim(&name.0).unwrap(),
            "persisted: not a leftover"
        );
        let mut again = MessageQueue::open(&name.0).unwrap();
        again.unlink().unwrap();
        assert!(gone(&name.0));
        assert!(!has_record(&name.0), "unlink leaves the record");
        assert_eq!(again.unlink().unwrap_err().kind(), ErrorKind::NotFound);
    });
}

#[test]
fn kernel_limits_are_named_with_their_values_for_an_unprivileged_user() {
    isolated(|| {
        // Root bypasses msg_max and msgsize_max: drop to nobody first.
        // SAFETY: plain integer arguments; this forked test process is
        // single-threaded and only this test runs in it.
        unsafe {
            if libc::geteuid() == 0 {
                assert_eq!(libc::setgid(65534), 0);
                assert_eq!(libc::setuid(65534), 0);
            }
        }
        let read = |f: &str| -> u64 {
            std::fs::read_to_string(format!("/proc/sys/fs/mqueue/{f}"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let (msg_max, msgsize_max) = (read("msg_max"), read("msgsize_max"));
        let name = unique("limits");
        let err = MessageQueue::create(&name.0, msg_max as usize + 1, 8).unwrap_err();
        match err.kind() {
            ErrorKind::KernelLimit { limit, value, fix } => {
                assert_eq!(limit, "/proc/sys/fs/mqueue/msg_max");
                assert_eq!(value, msg_max);
                assert!(fix.contains("msg_max"), "{fix}");
            }
            other => panic!("expected the msg_max limit, got {other:?}: {err}"),
        }
        assert!(err.to_string().contains(&msg_max.to_string()), "{err}");
        let err = MessageQueue::create(&name.0, 1, msgsize_max as usize + 1).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::KernelLimit {
                    limit: "/proc/sys/fs/mqueue/msgsize_max",
                    ..
                }
            ),
            "{err}"
        );
        assert!(gone(&name.0), "a refused create left a queue");
    });
}

#[test]
fn notify_signals_a_message_arriving_in_an_empty_queue() {
    isolated(|| {
        let name = unique("notify");
        let q = MessageQueue::create(&name.0, 4, 8).unwrap();
        let usr1 = SigSet::from(Signal::USR1);
        let _blocked = usr1.block().unwrap();
        match q.notify(Signal::USR1) {
            Err(e) if e.errno() == Some(libc::ENOSYS) => {
                eprintln!("skipped: mq_notify is not available here (qemu-user)");
                return;
            }
            other => other.unwrap(),
        }
        assert!(usr1.try_wait().unwrap().is_none());
        let q_ref: &MessageQueue = &q;
        let mut sender = Process::new(move || q_ref.send(b"ding", 0).unwrap());
        sender.start().unwrap();
        assert_eq!(sender.join().unwrap(), 0);
        let got = usr1.wait_timeout(MUST).unwrap().expect("no signal came");
        assert_eq!(got.signal, Signal::USR1);
        // SI_MESGQ: sent by the queue, not by a process.
        assert_eq!(got.code, -3);
        // Registered again, then cancelled: no signal.
        q.notify(Signal::USR1).unwrap();
        q.cancel_notify().unwrap();
        let mut buf = [0u8; 8];
        q.receive(&mut buf).unwrap();
        q.send(b"dong", 0).unwrap();
        assert!(
            usr1.wait_timeout(Duration::from_millis(100))
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn the_descriptor_polls_readable_while_a_message_waits() {
    let name = unique("poll");
    let q = MessageQueue::create(&name.0, 2, 8).unwrap();
    let poll = || {
        let mut pfd = libc::pollfd {
            fd: q.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 0) }
    };
    assert_eq!(poll(), 0);
    q.send(b"x", 0).unwrap();
    assert_eq!(poll(), 1);
    let mut buf = [0u8; 8];
    q.receive(&mut buf).unwrap();
    assert_eq!(poll(), 0);
}

/// Makes the queue `name` with `mq_open` itself, as another program would:
/// no owner record.
fn foreign_queue(name: &str) {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name; a null attr pointer asks for the
    // kernel's defaults.
    let fd = unsafe {
        libc::mq_open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            0o600 as libc::mode_t,
            std::ptr::null::<libc::mq_attr>(),
        )
    };
    assert!(fd >= 0, "mq_open: {}", std::io::Error::last_os_error());
    // SAFETY: the descriptor just made, closed once.
    unsafe { libc::close(fd) };
}

/// A pid that is certainly gone: a child that ran and was reaped.
fn dead_pid() -> i32 {
    let mut gone = Process::new(|| ());
    gone.start().unwrap();
    gone.join().unwrap();
    gone.pid().unwrap().as_raw()
}

/// Starts a child that creates the queue `name`, says so, and waits to be
/// killed.
fn creator(name: &str) -> Process<impl FnOnce()> {
    let (mut rx, tx) = std::io::pipe().unwrap();
    let mut tx = Some(tx);
    let child_name = name.to_string();
    let mut p = Process::new(move || {
        let q = MessageQueue::create(&child_name, 4, 16).unwrap();
        q.send(b"left", 0).unwrap();
        use std::io::Write as _;
        tx.take().unwrap().write_all(b"x").unwrap();
        loop {
            mproc::signal::pause();
        }
    });
    p.start().unwrap();
    use std::io::Read as _;
    let mut buf = [0u8; 1];
    rx.read_exact(&mut buf).unwrap();
    p
}

#[test]
fn reclaim_removes_a_killed_creators_queue_and_record_and_leaves_a_live_ones() {
    isolated(|| {
        let name = unique("reclaim");
        let owner = creator(&name.0);
        // Alive: nothing to reclaim, and the name is taken.
        assert!(!MessageQueue::reclaim(&name.0).unwrap());
        assert!(!gone(&name.0));
        assert_eq!(
            MessageQueue::create(&name.0, 4, 16).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        let pid = owner.pid().unwrap().as_raw();
        owner.kill().unwrap();
        assert_eq!(owner.join().unwrap(), -9);
        assert!(!gone(&name.0) && has_record(&name.0), "SIGKILL left both");
        let err = MessageQueue::create(&name.0, 4, 16).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StaleSegment { owner: pid });
        assert_eq!(
            err.resource(),
            Resource::MessageQueue(SegmentName::new(&name.0))
        );
        assert!(MessageQueue::reclaim(&name.0).unwrap());
        assert!(gone(&name.0));
        assert!(!has_record(&name.0));
        assert!(!MessageQueue::reclaim(&name.0).unwrap());
        // The name is free again, and the new queue is empty.
        let q = MessageQueue::create(&name.0, 4, 16).unwrap();
        assert_eq!(q.attributes().unwrap().current, 0);
        drop(q);
        assert!(gone(&name.0) && !has_record(&name.0));
    });
}

#[test]
fn reclaim_removes_a_record_left_without_its_queue() {
    isolated(|| {
        let name = unique("orphan");
        let owner = creator(&name.0);
        owner.kill().unwrap();
        owner.join().unwrap();
        // As if killed between removing the queue and its record.
        MessageQueue::open(&name.0)
            .map(|mut q| {
                // An opened handle removes only the record of its own queue:
                // here, that one. Put it back to stage the orphan.
                let bytes = std::fs::read(record_path(&name.0)).unwrap();
                q.unlink().unwrap();
                std::fs::write(record_path(&name.0), bytes).unwrap();
            })
            .unwrap();
        assert!(gone(&name.0) && has_record(&name.0));
        assert!(MessageQueue::reclaim(&name.0).unwrap());
        assert!(!has_record(&name.0));
    });
}

/// `mq_unlink` itself, as another program would: the record stays.
fn raw_unlink(name: &str) {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name.
    assert_eq!(unsafe { libc::mq_unlink(c.as_ptr()) }, 0);
}

#[test]
fn reclaim_leaves_a_queue_that_is_not_ours() {
    isolated(|| {
        let not_ours = |name: &str, found: &'static str| {
            let err = MessageQueue::reclaim(name).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotOurs { found }, "{err}");
            assert_eq!(
                err.resource(),
                Resource::MessageQueue(SegmentName::new(name))
            );
            assert!(err.to_string().contains(name), "{err}");
            assert!(!gone(name), "reclaim removed a queue that is not ours");
        };
        // Another program's queue: no record.
        let name = unique("foreign");
        foreign_queue(&name.0);
        not_ours(&name.0, "a queue without an mproc owner record");

        // Something else where the record would be: both stay.
        let junk = vec![0x5au8; 4096];
        std::fs::write(record_path(&name.0), &junk).unwrap();
        not_ours(&name.0, "something else where its owner record should be");
        assert_eq!(std::fs::read(record_path(&name.0)).unwrap(), junk);
        std::fs::remove_file(record_path(&name.0)).unwrap();
        raw_unlink(&name.0);

        // A killed creator's record, and a foreign queue made since under
        // the name: the record is of another queue.
        let owner = creator(&name.0);
        owner.kill().unwrap();
        owner.join().unwrap();
        raw_unlink(&name.0);
        foreign_queue(&name.0);
        not_ours(&name.0, "an owner record of another queue");
        assert!(has_record(&name.0), "the record stays too");
        raw_unlink(&name.0);
        std::fs::remove_file(record_path(&name.0)).unwrap();

        // A killed creator's own record, but others may write it (and so
        // may have forged its pid): not trusted until it is 0600 again.
        let owner = creator(&name.0);
        owner.kill().unwrap();
        owner.join().unwrap();
        let perms = |mode| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(record_path(&name.0), std::fs::Permissions::from_mode(mode))
                .unwrap();
        };
        perms(0o666);
        not_ours(
            &name.0,
            "an owner record of another user, or that others may write",
        );
        perms(0o600);
        assert!(MessageQueue::reclaim(&name.0).unwrap());
        assert!(gone(&name.0) && !has_record(&name.0));

        // A record whose creator died before publishing it (version 0)
        // beside a foreign queue: that creator made no queue.
        foreign_queue(&name.0);
        let mut head = vec![0u8; 64 + 24 + 256];
        head[0..8].copy_from_slice(b"mprocSHM");
        head[12..16].copy_from_slice(&64u32.to_ne_bytes());
        head[48..52].copy_from_slice(&dead_pid().to_ne_bytes());
        std::fs::write(record_path(&name.0), &head).unwrap();
        not_ours(
            &name.0,
            "an owner record whose creator died before making a queue",
        );
        raw_unlink(&name.0);
        // Without the queue it is a leftover of ours, and goes.
        assert!(MessageQueue::reclaim(&name.0).unwrap());
        assert!(!has_record(&name.0));
    });
}

#[test]
fn a_handle_removes_only_its_own_queues_name() {
    isolated(|| {
        let name = unique("own-name");
        // The owner's queue is unlinked by another handle, and a new queue
        // takes the name: the old owner's drop leaves it and its record.
        let old = MessageQueue::create(&name.0, 2, 8).unwrap();
        MessageQueue::open(&name.0).unwrap().unlink().unwrap();
        assert!(gone(&name.0) && !has_record(&name.0));
        let new = MessageQueue::create(&name.0, 2, 8).unwrap();
        new.send(b"new", 0).unwrap();
        drop(old);
        assert!(!gone(&name.0), "the old owner removed the new queue");
        assert!(has_record(&name.0), "the old owner removed the new record");
        assert_eq!(
            MessageQueue::open(&name.0)
                .unwrap()
                .attributes()
                .unwrap()
                .current,
            1
        );
        // Nor does an opened handle of a queue that lost its name.
        let mut stale_view = MessageQueue::open(&name.0).unwrap();
        let mut other = MessageQueue::open(&name.0).unwrap();
        other.unlink().unwrap();
        let newer = MessageQueue::create(&name.0, 2, 8).unwrap();
        assert_eq!(stale_view.unlink().unwrap_err().kind(), ErrorKind::NotFound);
        assert!(!gone(&name.0) && has_record(&name.0));
        drop((new, newer));
        assert!(gone(&name.0) && !has_record(&name.0));
    });
}
