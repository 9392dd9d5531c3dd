//! `Listener` and `client`: named connections, peer credentials instead of
//! an authkey, addresses checked, paths cleaned up.

use std::os::fd::AsFd as _;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::{Listener, client, wait};
use mproc::process::{self, Process};

use crate::common::isolated;

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "mproc-test-{tag}-{}-{}",
        process::getpid(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[test]
fn a_client_reaches_an_abstract_listener_and_both_know_who_the_other_is() {
    let address = format!("@{}", unique("abstract"));
    let listener = Listener::bind(&address).unwrap();
    assert_eq!(listener.address(), address);
    assert!(
        listener
            .accept_timeout(Duration::from_millis(10))
            .unwrap()
            .is_none()
    );
    let conn = client(&address).unwrap();
    assert!(
        wait(&[listener.as_fd()], Some(Duration::from_secs(5)))
            .unwrap()
            .contains(0)
    );
    let served = listener.accept().unwrap();
    conn.send_bytes(b"ping").unwrap();
    let mut buf = [0u8; 8];
    let n = served.recv_bytes(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    served.send(&7u64).unwrap();
    assert_eq!(conn.recv::<u64>().unwrap(), 7);
    let me = served.peer_credentials().unwrap();
    assert_eq!(me.pid, process::getpid());
    // SAFETY: geteuid has no preconditions.
    assert_eq!(me.uid, unsafe { libc::geteuid() });
    assert_eq!(conn.peer_credentials().unwrap().pid, process::getpid());
    // Python's spelling of an abstract name reaches the same listener.
    let python_spelling = format!("\0{}", &address[1..]);
    let _other = client(&python_spelling).unwrap();
    assert!(
        listener
            .accept_timeout(Duration::from_secs(5))
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_path_listener_is_0600_serves_a_forked_child_and_is_removed_on_drop() {
    isolated(|| {
        let path = std::env::temp_dir().join(unique("path"));
        let address = path.to_str().unwrap().to_string();
        let listener = Listener::bind(&address).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            Listener::bind(&address).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        let child_address = address.clone();
        let mut p = Process::new(move || {
            let conn = client(&child_address).unwrap();
            conn.send_bytes(b"from the child").unwrap();
            let mut buf = [0u8; 4];
            assert_eq!(conn.recv_bytes(&mut buf).unwrap(), 2);
        });
        p.start().unwrap();
        let served = listener.accept().unwrap();
        assert_eq!(served.peer_credentials().unwrap().pid, p.pid().unwrap());
        let mut buf = [0u8; 32];
        let n = served.recv_bytes(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"from the child");
        served.send_bytes(b"ok").unwrap();
        assert_eq!(p.join().unwrap(), 0);
        drop(listener);
        assert!(!path.exists(), "the socket file was left behind");
        assert_eq!(client(&address).unwrap_err().kind(), ErrorKind::NotFound);
        // The name is free again.
        drop(Listener::bind(&address).unwrap());
        assert!(!path.exists());
    });
}

#[test]
fn bad_addresses_and_absent_listeners_are_typed_errors() {
    let long = format!("@{}", "x".repeat(108));
    let e = Listener::bind(&long).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 107 });
    assert!(matches!(
        Listener::bind("@").unwrap_err().kind(),
        ErrorKind::InvalidArgument(_)
    ));
    assert!(matches!(
        Listener::bind("").unwrap_err().kind(),
        ErrorKind::InvalidArgument(_)
    ));
    assert!(matches!(
        Listener::bind("/tmp/a\0b").unwrap_err().kind(),
        ErrorKind::InvalidArgument(_)
    ));
    let nobody = format!("@{}", unique("nobody"));
    assert_eq!(client(&nobody).unwrap_err().kind(), ErrorKind::NotFound);
    let taken = format!("@{}", unique("taken"));
    let _first = Listener::bind(&taken).unwrap();
    assert_eq!(
        Listener::bind(&taken).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    let mut l = Listener::bind(&format!("@{}", unique("uids"))).unwrap();
    for uid in 1000..1000 + mproc::ipc::ALLOWED_UIDS as u32 {
        l.allow_uid(uid).unwrap();
    }
    l.allow_uid(1000).unwrap(); // already there: no room needed
    assert!(matches!(
        l.allow_uid(5).unwrap_err().kind(),
        ErrorKind::CapacityExceeded { .. }
    ));
}

#[test]
fn a_peer_with_another_uid_is_refused_until_allowed() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        crate::common::raw_stderr("skipped: needs root to run a child as another uid\n");
        return;
    }
    isolated(|| {
        const NOBODY: u32 = 65534;
        let address = format!("@{}", unique("uid"));
        let mut listener = Listener::bind(&address).unwrap();
        let connect_as_nobody = |address: String| {
            Process::new(move || {
                // SAFETY: drops privileges in this child only.
                assert_eq!(unsafe { libc::setgid(NOBODY) }, 0);
                // SAFETY: as above.
                assert_eq!(unsafe { libc::setuid(NOBODY) }, 0);
                // A listener run by root is accepted by the client side.
                let conn = client(&address).unwrap();
                let _ = conn.send_bytes(b"let me in");
                let mut buf = [0u8; 8];
                match conn.recv_bytes(&mut buf) {
                    Ok(n) => assert_eq!(&buf[..n], b"welcome"),
                    // Closed by the listener: end-of-stream, or a reset
                    // when our message was still unread there.
                    Err(_) => process::exit(3),
                }
            })
        };
        let mut refused = connect_as_nobody(address.clone());
        refused.start().unwrap();
        let e = listener.accept().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(e.resource(), mproc::Resource::Pid(refused.pid().unwrap()));
        assert_eq!(
            refused.join().unwrap(),
            3,
            "the refused client saw its connection closed"
        );
        listener.allow_uid(NOBODY).unwrap();
        let mut admitted = connect_as_nobody(address.clone());
        admitted.start().unwrap();
        let served = listener.accept().unwrap();
        assert_eq!(served.peer_credentials().unwrap().uid, NOBODY);
        let mut buf = [0u8; 16];
        let n = served.recv_bytes(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"let me in");
        served.send_bytes(b"welcome").unwrap();
        assert_eq!(admitted.join().unwrap(), 0);
    });
}

#[test]
fn a_listener_removes_only_the_socket_file_it_made() {
    isolated(|| {
        let path = std::env::temp_dir().join(unique("own-file"));
        let address = path.to_str().unwrap().to_string();
        // Its file removed, and a regular file put there: drop leaves it.
        let first = Listener::bind(&address).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "someone's data").unwrap();
        drop(first);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone's data");
        std::fs::remove_file(&path).unwrap();
        // Its file removed, and another listener bound there: drop leaves
        // the other's socket, which still serves.
        let first = Listener::bind(&address).unwrap();
        std::fs::remove_file(&path).unwrap();
        let second = Listener::bind(&address).unwrap();
        drop(first);
        assert!(
            path.exists(),
            "the first listener removed the second's socket"
        );
        let _conn = client(&address).unwrap();
        assert!(
            second
                .accept_timeout(Duration::from_secs(5))
                .unwrap()
                .is_some()
        );
        drop(second);
        assert!(!path.exists());
    });
}

#[test]
fn reclaim_removes_only_a_socket_nobody_listens_on() {
    isolated(|| {
        let path = std::env::temp_dir().join(unique("reclaim"));
        let address = path.to_str().unwrap().to_string();
        let not_ours = |what: &str| {
            let e = Listener::reclaim(&address).unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::NotOurs {
                    found: "a file that is not a socket"
                },
                "{what}: {e}"
            );
            assert_eq!(
                e.resource(),
                mproc::Resource::Socket(mproc::error::SegmentName::new(&address))
            );
        };
        assert!(!Listener::reclaim(&address).unwrap(), "nothing there");
        // A regular file, a directory, a symbolic link to a dead socket:
        // not ours.
        std::fs::write(&path, "data").unwrap();
        not_ours("a regular file");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        not_ours("a directory");
        assert!(path.is_dir());
        std::fs::remove_dir(&path).unwrap();

        // A live listener: left alone, and still serving.
        let live = Listener::bind(&address).unwrap();
        assert!(!Listener::reclaim(&address).unwrap());
        assert!(path.exists());
        let _c = client(&address).unwrap();
        drop(live);

        // Live sockets of other types: left alone.
        let dgram = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        assert!(!Listener::reclaim(&address).unwrap());
        assert!(path.exists());
        drop(dgram);
        std::fs::remove_file(&path).unwrap();
        let stream = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(!Listener::reclaim(&address).unwrap());
        assert!(path.exists());
        drop(stream);
        std::fs::remove_file(&path).unwrap();

        // A listener killed with SIGKILL left its socket: bind is refused,
        // reclaim removes it, bind works again.
        let (mut rx, tx) = std::io::pipe().unwrap();
        let mut tx = Some(tx);
        let child_address = address.clone();
        let mut owner = Process::new(move || {
            let _l = Listener::bind(&child_address).unwrap();
            use std::io::Write as _;
            tx.take().unwrap().write_all(b"x").unwrap();
            loop {
                mproc::signal::pause();
            }
        });
        owner.start().unwrap();
        use std::io::Read as _;
        let mut b = [0u8; 1];
        rx.read_exact(&mut b).unwrap();
        owner.kill().unwrap();
        owner.join().unwrap();
        assert!(path.exists());
        let symlink = path.with_extension("link");
        std::os::unix::fs::symlink(&path, &symlink).unwrap();
        let link_address = symlink.to_str().unwrap();
        assert_eq!(
            Listener::reclaim(link_address).unwrap_err().kind(),
            ErrorKind::NotOurs {
                found: "a file that is not a socket"
            }
        );
        std::fs::remove_file(&symlink).unwrap();
        assert_eq!(
            Listener::bind(&address).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        assert!(Listener::reclaim(&address).unwrap());
        assert!(!path.exists());
        drop(Listener::bind(&address).unwrap());
        assert!(!path.exists());
        // Abstract names leave nothing behind: nothing to reclaim.
        assert!(!Listener::reclaim(&format!("@{}", unique("abstract"))).unwrap());
    });
}
