//! Managers reached by address: abstract names and paths, connections
//! from processes that did not inherit a proxy, and peer credentials.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use mproc::ErrorKind;
use mproc::manager::{DictProxy, Manager};
use mproc::process::{self, Process};
use mproc::shm::FixedStr;

use crate::common::isolated;

type Inventory = DictProxy<FixedStr<16>, i64>;

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "mproc-test-{tag}-{}-{}",
        process::getpid(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn key(text: &str) -> FixedStr<16> {
    text.parse().unwrap()
}

#[test]
fn a_process_that_connects_by_name_shares_a_published_dict() {
    isolated(|| {
        let address = format!("@{}", unique("named"));
        let m = Manager::builder().address(&address).start().unwrap();
        assert_eq!(m.address(), address);
        let d = m.dict::<FixedStr<16>, i64>(8).unwrap();
        d.set(&key("apples"), &3).unwrap();
        d.publish("inventory").unwrap();
        // The child uses nothing it inherited from the manager: only the
        // address, as an unrelated program would.
        let addr = address.clone();
        let mut other = Process::new(move || {
            let client = Manager::connect(&addr).unwrap();
            let d = client.open::<Inventory>("inventory").unwrap();
            assert_eq!(d.get(&key("apples")).unwrap(), Some(3));
            d.set(&key("pears"), &5).unwrap();
        });
        other.start().unwrap();
        assert_eq!(other.join().unwrap(), 0);
        assert_eq!(d.get(&key("pears")).unwrap(), Some(5));
        assert_eq!(
            Manager::builder()
                .address(&address)
                .start()
                .unwrap_err()
                .kind(),
            ErrorKind::AlreadyExists
        );
    });
}

#[test]
fn a_manager_on_a_path_makes_it_0600_and_removes_it_at_shutdown() {
    isolated(|| {
        let path = std::env::temp_dir().join(unique("path"));
        let address = path.to_str().unwrap().to_owned();
        let m = Manager::builder().address(&address).start().unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let client = Manager::connect(&address).unwrap();
        let v = client.value(&1u8).unwrap();
        assert_eq!(v.get().unwrap(), 1);
        m.shutdown().unwrap();
        assert!(!path.exists(), "the server removed its socket path");
        assert_eq!(v.get().unwrap_err().kind(), ErrorKind::ManagerGone);
        assert_eq!(
            Manager::connect(&address).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
}

#[test]
fn a_server_killed_leaves_no_path_behind_once_its_owner_drops_it() {
    isolated(|| {
        let path = std::env::temp_dir().join(unique("killed"));
        let address = path.to_str().unwrap().to_owned();
        let m = Manager::builder().address(&address).start().unwrap();
        mproc::signal::kill(m.pid().unwrap(), mproc::Signal::KILL).unwrap();
        assert_eq!(m.stats().unwrap_err().kind(), ErrorKind::ManagerGone);
        drop(m);
        assert!(!path.exists());
    });
}

#[test]
fn connecting_to_nobody_is_not_found() {
    let e = Manager::connect(&format!("@{}", unique("nobody"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn a_peer_of_another_uid_is_refused_unless_allowed() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        crate::common::raw_stderr("skipped: needs root to run a child as another uid\n");
        return;
    }
    isolated(|| {
        const NOBODY: u32 = 65534;
        let connect_as_nobody = |address: String| {
            let mut p = Process::new(move || {
                // SAFETY: drops privileges in this child only.
                assert_eq!(unsafe { libc::setgid(NOBODY) }, 0);
                // SAFETY: as above.
                assert_eq!(unsafe { libc::setuid(NOBODY) }, 0);
                match Manager::connect(&address) {
                    Ok(c) => {
                        assert_eq!(c.open::<Inventory>("inventory").unwrap().len().unwrap(), 0);
                        process::exit(0)
                    }
                    // Told why, and how to be let in; not "gone".
                    Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                        let text = e.to_string();
                        for part in ["uid 65534", "serves uid 0", "allow_uid(65534)"] {
                            assert!(text.contains(part), "{part} in {text}");
                        }
                        process::exit(3)
                    }
                    Err(e) => panic!("{e}"),
                }
            });
            p.start().unwrap();
            p.join().unwrap()
        };
        let refusing = Manager::builder()
            .address(&format!("@{}", unique("uid")))
            .start()
            .unwrap();
        let d = refusing.dict::<FixedStr<16>, i64>(1).unwrap();
        d.publish("inventory").unwrap();
        assert_eq!(connect_as_nobody(refusing.address().to_owned()), 3);
        let admitting = Manager::builder()
            .address(&format!("@{}", unique("uid")))
            .allow_uid(NOBODY)
            .start()
            .unwrap();
        let d2 = admitting.dict::<FixedStr<16>, i64>(1).unwrap();
        d2.publish("inventory").unwrap();
        assert_eq!(connect_as_nobody(admitting.address().to_owned()), 0);
    });
}

#[test]
fn a_uid_other_than_the_servers_holds_at_most_half_the_connections() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        crate::common::raw_stderr("skipped: needs root to run a child as another uid\n");
        return;
    }
    isolated(|| {
        const NOBODY: u32 = 65534;
        let limit = (mproc::config::MANAGER_CONNECTIONS / 2).max(1);
        let m = Manager::builder()
            .address(&format!("@{}", unique("share")))
            .allow_uid(NOBODY)
            .start()
            .unwrap();
        let address = m.address().to_owned();
        let mut guest = Process::new(move || {
            // SAFETY: drops privileges in this child only.
            assert_eq!(unsafe { libc::setgid(NOBODY) }, 0);
            // SAFETY: as above.
            assert_eq!(unsafe { libc::setuid(NOBODY) }, 0);
            let mut held: Vec<_> = (0..limit)
                .map(|_| Manager::connect(&address).unwrap())
                .collect();
            let e = Manager::connect(&address).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit }, "{e}");
            assert!(e.to_string().contains("one uid"), "{e}");
            // One fewer, and there is room again (once the server has
            // seen that connection end).
            held.pop();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                match Manager::connect(&address) {
                    Ok(c) => break held.push(c),
                    Err(e) if matches!(e.kind(), ErrorKind::CapacityExceeded { .. }) => {
                        assert!(std::time::Instant::now() < deadline, "{e}");
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        });
        guest.start().unwrap();
        assert_eq!(guest.join().unwrap(), 0);
        // The owner's uid was never short of room, and the guest's
        // connections end with it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while m.stats().unwrap().connections != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the guest's connections ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
}

#[test]
fn a_manager_removes_only_the_socket_file_it_made() {
    isolated(|| {
        let path = std::env::temp_dir().join(unique("owned"));
        let address = path.to_str().unwrap().to_owned();
        let is_socket = |p: &std::path::Path| {
            std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket())
        };

        // Its path replaced by a regular file while it runs: the server
        // leaves the file at shutdown.
        let m = Manager::builder().address(&address).start().unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"not a socket").unwrap();
        m.shutdown().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
        std::fs::remove_file(&path).unwrap();

        // Its path taken by another manager: neither its server at
        // shutdown nor its owner after a kill removes the other's socket.
        let first = Manager::builder().address(&address).start().unwrap();
        std::fs::remove_file(&path).unwrap();
        let second = Manager::builder().address(&address).start().unwrap();
        let second_pid = second.server_pid().unwrap();
        first.shutdown().unwrap();
        assert!(is_socket(&path));
        let third = Manager::builder()
            .address(&format!("{address}-3"))
            .start()
            .unwrap();
        std::fs::remove_file(format!("{address}-3")).unwrap();
        std::fs::rename(&path, format!("{address}-3")).unwrap();
        mproc::signal::kill(third.pid().unwrap(), mproc::Signal::KILL).unwrap();
        drop(third);
        assert!(is_socket(std::path::Path::new(&format!("{address}-3"))));
        std::fs::rename(format!("{address}-3"), &path).unwrap();
        assert_eq!(
            Manager::connect(&address).unwrap().server_pid().unwrap(),
            second_pid
        );

        // Its own socket, with nobody answering after a kill: the owner
        // removes it.
        mproc::signal::kill(second.pid().unwrap(), mproc::Signal::KILL).unwrap();
        drop(second);
        assert!(!path.exists());
    });
}
