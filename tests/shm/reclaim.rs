//! `SharedMemory::reclaim` removes only what it recognises as an mproc
//! segment whose owner is gone: files of other programs under the same
//! name (random bytes, text, another magic, an empty or short file) are
//! refused with a typed error and left as they were, and neither the
//! reclaimer nor an opener dies of `SIGBUS` on them.

use std::io::Read as _;

use mproc::error::SegmentName;
use mproc::process::{self, Process};
use mproc::shm::{Fingerprint, SharedMemory};
use mproc::{ErrorKind, Resource};

use crate::common::isolated;

/// A name no other test (or test run) uses, removed from /dev/shm when
/// dropped if still there.
struct Unique(String);

impl Drop for Unique {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(path(&self.0));
    }
}

fn unique(tag: &str) -> Unique {
    Unique(format!("/mproc-test-{}-reclaim-{tag}", std::process::id()))
}

fn path(name: &str) -> String {
    format!("/dev/shm{name}")
}

/// A pid that is certainly gone: a child that ran and was reaped.
fn dead_pid() -> i32 {
    let mut gone = Process::new(|| ());
    gone.start().unwrap();
    gone.join().unwrap();
    gone.pid().unwrap().as_raw()
}

/// A well-formed version-1 header for a `u64` payload, owned by `owner`
/// (start time unknown), and the payload.
fn segment_bytes(owner: i32) -> Vec<u8> {
    let fp = Fingerprint::of::<u64>();
    let mut b = vec![0u8; 72];
    b[0..8].copy_from_slice(b"mprocSHM");
    b[8..12].copy_from_slice(&1u32.to_ne_bytes());
    b[12..16].copy_from_slice(&64u32.to_ne_bytes());
    b[16..24].copy_from_slice(&64u64.to_ne_bytes());
    b[24..32].copy_from_slice(&8u64.to_ne_bytes());
    b[32..40].copy_from_slice(&fp.align.to_ne_bytes());
    b[40..48].copy_from_slice(&fp.identity.to_ne_bytes());
    b[48..52].copy_from_slice(&owner.to_ne_bytes());
    b
}

/// Writes `bytes` as the file of segment `name`, asks `reclaim` to remove
/// it, and checks that it refused with `NotOurs` naming the segment and
/// what it found, and that the file is as it was. `open` must fail too
/// (without a `SIGBUS`).
fn refused_and_untouched(name: &str, bytes: &[u8], found: &'static str) {
    std::fs::write(path(name), bytes).unwrap();
    let err = SharedMemory::<u64>::reclaim(name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotOurs { found }, "{name}: {err}");
    assert_eq!(
        err.resource(),
        Resource::NamedSegment(SegmentName::new(name))
    );
    assert!(err.to_string().contains(name), "{err}");
    assert_eq!(
        std::fs::read(path(name)).unwrap(),
        bytes,
        "reclaim changed or removed a file that is not an mproc segment"
    );
    assert!(SharedMemory::<u64>::open(name).is_err());
    assert_eq!(std::fs::read(path(name)).unwrap(), bytes);
}

#[test]
fn reclaim_leaves_four_kib_of_random_bytes_alone() {
    isolated(|| {
        let name = unique("random");
        let mut bytes = vec![0u8; 4096];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut bytes)
            .unwrap();
        // Whatever chance made of the owner field, make it a dead pid: the
        // file must still be refused for what it is.
        bytes[48..52].copy_from_slice(&dead_pid().to_ne_bytes());
        bytes[0] = b'X';
        refused_and_untouched(&name.0, &bytes, "no mproc segment magic");
    });
}

#[test]
fn reclaim_leaves_a_text_file_alone() {
    isolated(|| {
        let name = unique("text");
        let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n".repeat(40);
        refused_and_untouched(&name.0, text.as_bytes(), "no mproc segment magic");
    });
}

#[test]
fn reclaim_leaves_another_programs_segment_with_its_own_magic_alone() {
    isolated(|| {
        let name = unique("magic");
        // Our layout to the byte, a dead owner, only the magic differs.
        let mut bytes = segment_bytes(dead_pid());
        bytes[0..8].copy_from_slice(b"otherSHM");
        refused_and_untouched(&name.0, &bytes, "no mproc segment magic");
        let err = SharedMemory::<u64>::open(&name.0).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::LayoutMismatch { field: "magic", .. }),
            "{err}"
        );
    });
}

#[test]
fn reclaim_leaves_an_mproc_segment_of_an_unknown_format_alone() {
    isolated(|| {
        let name = unique("version");
        let mut bytes = segment_bytes(dead_pid());
        bytes[8..12].copy_from_slice(&9u32.to_ne_bytes());
        refused_and_untouched(&name.0, &bytes, "an unknown format version");
        let mut bytes = segment_bytes(dead_pid());
        bytes[12..16].copy_from_slice(&128u32.to_ne_bytes());
        refused_and_untouched(&name.0, &bytes, "an unknown header size");
    });
}

#[test]
fn reclaim_and_open_leave_an_empty_or_short_file_alone_without_sigbus() {
    isolated(|| {
        let name = unique("short");
        refused_and_untouched(&name.0, b"", "an empty file");
        // Empty: maybe a creator between shm_open and reserving the file.
        assert_eq!(
            SharedMemory::<u64>::open(&name.0).unwrap_err().kind(),
            ErrorKind::NotReady
        );
        // Shorter than a header: never a stage of an mproc segment.
        let head = &segment_bytes(dead_pid())[..40];
        refused_and_untouched(&name.0, head, "a file shorter than a segment header");
        assert_eq!(
            SharedMemory::<u64>::open(&name.0).unwrap_err().kind(),
            ErrorKind::LayoutMismatch {
                field: "file size",
                expected: 72,
                found: 40
            }
        );
        // A whole header whose payload is cut short: open refuses it
        // before mapping the payload (which would SIGBUS).
        let whole = segment_bytes(process::getpid().as_raw());
        std::fs::write(path(&name.0), &whole[..64]).unwrap();
        assert_eq!(
            SharedMemory::<u64>::open(&name.0).unwrap_err().kind(),
            ErrorKind::LayoutMismatch {
                field: "file size",
                expected: 72,
                found: 64
            }
        );
    });
}

#[test]
fn reclaim_leaves_a_live_owners_segment_and_takes_a_dead_ones() {
    isolated(|| {
        let name = unique("live");
        let (mut rx, tx) = std::io::pipe().unwrap();
        let mut tx = Some(tx);
        let child_name = name.0.clone();
        let mut owner = Process::new(move || {
            let _seg = SharedMemory::create(&child_name, 5u64).unwrap();
            use std::io::Write as _;
            tx.take().unwrap().write_all(b"x").unwrap();
            loop {
                mproc::signal::pause();
            }
        });
        owner.start().unwrap();
        let mut buf = [0u8; 1];
        rx.read_exact(&mut buf).unwrap();
        let before = std::fs::read(path(&name.0)).unwrap();
        assert!(!SharedMemory::<u64>::reclaim(&name.0).unwrap());
        // Reclaim does not look at the payload's type: still alive.
        assert!(!SharedMemory::<u32>::reclaim(&name.0).unwrap());
        assert_eq!(std::fs::read(path(&name.0)).unwrap(), before);
        owner.kill().unwrap();
        assert_eq!(owner.join().unwrap(), -9);
        assert!(SharedMemory::<u64>::reclaim(&name.0).unwrap());
        assert!(!std::path::Path::new(&path(&name.0)).exists());
    });
}

#[test]
fn a_handle_removes_only_its_own_segments_name() {
    isolated(|| {
        let name = unique("own-name");
        // The owner's segment is unlinked by another handle, and a new
        // segment takes the name: the old owner's drop leaves it.
        let old = SharedMemory::create(&name.0, 1u64).unwrap();
        SharedMemory::<u64>::open(&name.0)
            .unwrap()
            .unlink()
            .unwrap();
        let new = SharedMemory::create(&name.0, 2u64).unwrap();
        drop(old);
        assert_eq!(*SharedMemory::<u64>::open(&name.0).unwrap(), 2);
        // An opened handle of the old segment cannot unlink the new one
        // either: its own name is gone.
        let mut stale_view = SharedMemory::<u64>::open(&name.0).unwrap();
        stale_view.unlink().unwrap();
        let newer = SharedMemory::create(&name.0, 3u64).unwrap();
        assert_eq!(stale_view.unlink().unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(*SharedMemory::<u64>::open(&name.0).unwrap(), 3);
        drop((new, newer));
        assert!(!std::path::Path::new(&path(&name.0)).exists());
    });
}
