//! Descriptor tasks (`Pool::apply_async_fd`): sockets reach the workers;
//! the descriptor tables of the parent and the workers are counted, also
//! when a worker dies holding a connection and when the pool is
//! terminated with connections still queued.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::pool::Pool;
use mproc::process;
use mproc::signal::{self, Signal};

use crate::common::isolated;

/// Descriptors open in this process now.
fn open_fds() -> u32 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u32
}

/// The inode of a socket, as /proc/self/fd shows it (`socket:[ino]`).
fn socket_inode(fd: &impl AsRawFd) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    let link = link.to_str().unwrap();
    link.strip_prefix("socket:[")
        .and_then(|s| s.strip_suffix(']'))
        .unwrap()
        .parse()
        .unwrap()
}

/// How many of this process's descriptors are the socket `ino`.
fn holding(ino: u64) -> u32 {
    let want = format!("socket:[{ino}]");
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter(|l| l.to_str() == Some(want.as_str()))
        .count() as u32
}

/// Serves one line: upper-cases what comes and answers it, then reports
/// `tag`, this worker's descriptor count while it held the connection and
/// once it closed it, and its pid.
fn serve(mut conn: UnixStream, tag: u32) -> (u32, u32, u32, i32) {
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap();
    buf[..n].make_ascii_uppercase();
    conn.write_all(&buf[..n]).unwrap();
    let held = open_fds();
    drop(conn);
    (tag, held, open_fds(), process::getpid().as_raw())
}

#[test]
fn tasks_receive_sockets_and_every_table_stays_as_it_was() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        let mut mine = Vec::new();
        let mut results = Vec::new();
        let before = open_fds();
        for i in 0..6u32 {
            let (here, there) = UnixStream::pair().unwrap();
            results.push(pool.apply_async_fd(serve, there, i).unwrap());
            mine.push(here);
        }
        // Only this side's ends are left here: the others were handed.
        assert_eq!(open_fds(), before + 6);
        for (i, c) in mine.iter_mut().enumerate() {
            c.write_all(format!("hello {i}").as_bytes()).unwrap();
            let mut buf = [0u8; 64];
            let n = c.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], format!("HELLO {i}").as_bytes());
        }
        let mut idle = std::collections::BTreeMap::new();
        for (i, r) in results.into_iter().enumerate() {
            let (tag, held, after, pid) = r.get().unwrap();
            assert_eq!(tag, i as u32);
            // The connection, and nothing else, came with the task, and
            // nothing stays behind in the worker from task to task.
            assert_eq!(held, after + 1, "task {i}");
            assert_eq!(*idle.entry(pid).or_insert(after), after, "task {i}");
        }
        // Each worker closed its copy: the peers read end-of-stream.
        for c in &mut mine {
            let mut buf = [0u8; 1];
            assert_eq!(c.read(&mut buf).unwrap(), 0);
        }
        drop(mine);
        assert_eq!(open_fds(), before);
        // A plain file and an `OwnedFd` too.
        let path = std::env::temp_dir().join(format!("mproc-fds-{}.stat", std::process::id()));
        let file = std::fs::File::create_new(&path).unwrap();
        let got = pool.apply_fd(
            |f: std::os::fd::OwnedFd, ()| {
                std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .ends_with(".stat")
            },
            std::os::fd::OwnedFd::from(file),
            (),
        );
        std::fs::remove_file(&path).unwrap();
        assert!(got.unwrap());
    });
}

/// Says it holds the connection, then dies with it.
fn die_holding(mut conn: UnixStream, _: ()) {
    conn.write_all(b"holding").unwrap();
    signal::kill(process::getpid(), Signal::KILL).unwrap();
}

#[test]
fn a_worker_dying_with_a_connection_leaks_it_nowhere() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        let (mut here, there) = UnixStream::pair().unwrap();
        let ino = socket_inode(&there);
        let before = open_fds();
        let r = pool.apply_async_fd(die_holding, there, ()).unwrap();
        assert_eq!(open_fds(), before - 1);
        assert_eq!(holding(ino), 0);
        here.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 7];
        here.read_exact(&mut buf).unwrap();
        let e = r.get().unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::WorkerDied { exitcode: -9, .. }),
            "{e}"
        );
        // Nobody holds the other end any more: not the parent, not the
        // queue, not a worker.
        let mut rest = [0u8; 1];
        assert_eq!(here.read(&mut rest).unwrap(), 0);
        assert_eq!(open_fds(), before - 1);
        // The replacement does not hold it either, and serves on.
        assert_eq!(pool.apply(holding, ino).unwrap(), 0);
        let (mut here, there) = UnixStream::pair().unwrap();
        let r = pool.apply_async_fd(serve, there, 1).unwrap();
        here.write_all(b"again").unwrap();
        let mut buf = [0u8; 5];
        here.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"AGAIN");
        assert_eq!(r.get().unwrap().0, 1);
    });
}

/// Waits for a byte on the pipe `fd` (inherited from the parent).
fn block_on(fd: i32) -> u32 {
    // The test keeps `fd` open in every process of the pool.
    let mut gate = std::fs::File::from(dup(fd));
    let mut b = [0u8; 1];
    let _ = gate.read(&mut b);
    0
}

fn dup(fd: i32) -> std::os::fd::OwnedFd {
    // SAFETY: `fd` is open (the test keeps it); dup makes a new one ours.
    let d = unsafe { libc::dup(fd) };
    assert!(d >= 0);
    // SAFETY: new and owned by nobody else.
    unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(d) }
}

#[test]
fn queued_connections_wait_for_a_free_worker_and_terminate_closes_them() {
    isolated(|| {
        let (gate_r, mut gate_w) = std::io::pipe().unwrap();
        let pool = Pool::new(1).unwrap();
        let before = open_fds();
        // The only worker is busy; two connections wait for it.
        let busy = pool.apply_async(block_on, gate_r.as_raw_fd()).unwrap();
        let (mut a, there_a) = UnixStream::pair().unwrap();
        let (mut b, there_b) = UnixStream::pair().unwrap();
        let mut ra = pool.apply_async_fd(serve, there_a, 1).unwrap();
        let rb = pool.apply_async_fd(serve, there_b, 2).unwrap();
        a.write_all(b"first").unwrap();
        a.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 5];
        // Not served while the worker is busy (as Python's Pool(1)).
        assert!(a.read(&mut buf).is_err());
        assert!(ra.get_timeout(Duration::ZERO).is_err());
        gate_w.write_all(b"x").unwrap();
        assert_eq!(busy.get().unwrap(), 0);
        a.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        a.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"FIRST");
        assert_eq!(ra.get().unwrap().0, 1);
        // The worker now waits on b's line; block it behind another
        // connection, then terminate: the queued one is closed.
        let (mut c, there_c) = UnixStream::pair().unwrap();
        // A failure here is an error, not a hang.
        b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let rc = pool.apply_async_fd(serve, there_c, 3).unwrap();
        pool.terminate().unwrap();
        assert_eq!(rb.get().unwrap_err().kind(), ErrorKind::Terminated);
        assert_eq!(rc.get().unwrap_err().kind(), ErrorKind::Terminated);
        let mut rest = [0u8; 1];
        assert_eq!(b.read(&mut rest).unwrap(), 0, "b's other end is closed");
        assert_eq!(c.read(&mut rest).unwrap(), 0, "c's other end is closed");
        drop((a, b, c));
        assert_eq!(open_fds(), before);
    });
}

/// The socket descriptors open in this process.
fn sockets() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let link = std::fs::read_link(e.path()).ok()?;
            link.to_str()?.starts_with("socket:[").then_some(())?;
            e.file_name().to_str()?.parse().ok()
        })
        .collect()
}

fn record_lock(fd: i32, lock: bool) {
    // SAFETY: flock is plain data.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = if lock { libc::F_WRLCK } else { libc::F_UNLCK } as _;
    fl.l_whence = libc::SEEK_SET as _;
    // SAFETY: `fl` is live; `fd` is one of this process's sockets.
    let r = unsafe { libc::fcntl(fd, libc::F_SETLK, &raw const fl) };
    assert_eq!(r, 0, "F_SETLK: {}", std::io::Error::last_os_error());
}

/// Whether `pid` waits for a record lock (a `->` line of /proc/locks).
fn waits_for_lock(pid: i32) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks.lines().any(|l| {
        let mut f = l.split_whitespace().skip(1);
        f.next() == Some("->") && f.nth(3) == Some(pid.to_string().as_str())
    })
}

#[test]
fn a_worker_dying_before_it_took_its_descriptor_leaves_it_to_the_parent() {
    isolated(|| {
        let old = sockets();
        let pool = Pool::new(1).unwrap();
        let queue: Vec<i32> = sockets().into_iter().filter(|s| !old.contains(s)).collect();
        assert_eq!(queue.len(), 2, "the pool's descriptor queue");
        // Holding the queue's lock here stops the worker between claiming
        // the task and taking its descriptor.
        for &s in &queue {
            record_lock(s, true);
        }
        let (mut here, there) = UnixStream::pair().unwrap();
        let before = open_fds();
        let r = pool.apply_async_fd(serve, there, 1).unwrap();
        let worker = pool.pids()[0].as_raw();
        assert!(
            crate::common::eventually(Duration::from_secs(20), || waits_for_lock(worker)),
            "the worker never waited for the queue"
        );
        signal::kill(pool.pids()[0], Signal::KILL).unwrap();
        let e = r.get().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::WorkerDied { .. }), "{e}");
        for &s in &queue {
            record_lock(s, false);
        }
        // The parent took the message out of the queue and closed it.
        here.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = [0u8; 1];
        assert_eq!(here.read(&mut rest).unwrap(), 0, "the other end is closed");
        assert_eq!(open_fds(), before - 1);
        // The replacement serves the next one.
        let (mut here, there) = UnixStream::pair().unwrap();
        let r = pool.apply_async_fd(serve, there, 2).unwrap();
        here.write_all(b"next").unwrap();
        let mut buf = [0u8; 4];
        here.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"NEXT");
        assert_eq!(r.get().unwrap().0, 2);
    });
}

fn numbered(_f: std::fs::File, i: u32) -> u32 {
    i
}

#[test]
fn hundreds_of_queued_descriptors_are_each_served_or_refused_with_a_typed_error() {
    isolated(|| {
        let (gate_r, mut gate_w) = std::io::pipe().unwrap();
        let pool = Pool::builder()
            .processes(1)
            .build_sized::<512, 64>()
            .unwrap();
        let busy = pool.apply_async(block_on, gate_r.as_raw_fd()).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let before = open_fds();
        let mut results = Vec::new();
        for i in 0..400u32 {
            match pool.apply_async_fd(numbered, null.try_clone().unwrap(), i) {
                Ok(r) => results.push((i, r)),
                Err(e) => {
                    // Past the queue's send buffer (net.core.wmem_max).
                    assert!(
                        matches!(e.kind(), ErrorKind::CapacityExceeded { .. }),
                        "{e}"
                    );
                    break;
                }
            }
        }
        // Nothing stays in this process's table while they wait.
        assert_eq!(open_fds(), before);
        assert!(results.len() >= 200, "only {} queued", results.len());
        gate_w.write_all(b"x").unwrap();
        assert_eq!(busy.get().unwrap(), 0);
        for (i, r) in results {
            assert_eq!(r.get().unwrap(), i);
        }
        assert_eq!(open_fds(), before);
    });
}
