//! Named segments (`SharedMemory`): opening by name from other processes,
//! ownership of the name (drop, persist, unlink), permissions, stale
//! leftovers of a dead owner and their reclaiming, the header's on-disk
//! layout and every check `open` makes, and no leftovers in /dev/shm.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use mproc::error::SegmentName;
use mproc::process::{self, Process};
use mproc::shm::{Fingerprint, Shareable, SharedMemory};
use mproc::sync::Lock;
use mproc::{ErrorKind, Resource};

use crate::common::isolated;

/// A name no other test (or test run) uses, removed from /dev/shm when
/// dropped if still there: a failing test leaves nothing behind either.
struct Unique(String);

impl std::ops::Deref for Unique {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl Drop for Unique {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(path(&self.0));
    }
}

fn unique(tag: &str) -> Unique {
    Unique(format!("/mproc-test-{}-{tag}", std::process::id()))
}

fn path(name: &str) -> String {
    format!("/dev/shm{name}")
}

fn exists(name: &str) -> bool {
    std::path::Path::new(&path(name)).exists()
}

/// A counter and the lock that guards it, as one shared struct.
#[repr(C)]
struct Tally {
    lock: Lock,
    count: AtomicU64,
}

// SAFETY: repr(C) of a Lock (itself Shareable) and an atomic: no pointers,
// no drop glue, every bit pattern valid, shared mutation through atomics.
unsafe impl Shareable for Tally {
    fn type_identity() -> &'static str {
        "tests::Tally/v1"
    }
}

#[test]
fn other_processes_open_it_by_name_and_share_the_memory() {
    isolated(|| {
        let name = unique("by-name");
        let tally = SharedMemory::create(
            &name,
            Tally {
                lock: Lock::new(),
                count: AtomicU64::new(0),
            },
        )
        .unwrap();
        assert!(tally.owns());
        assert_eq!(tally.name(), name.as_str());
        assert_eq!(tally.owner(), Some(process::getpid()));
        // Each child opens the name itself (not the handle it inherited) and
        // counts under the shared lock: an exact total.
        let (children, rounds) = (4, 500);
        let mut kids: Vec<_> = (0..children)
            .map(|_| {
                let name = name.clone();
                Process::new(move || {
                    let mine = SharedMemory::<Tally>::open(&name).unwrap();
                    assert!(!mine.owns());
                    for _ in 0..rounds {
                        let _held = mine.lock.lock().unwrap();
                        let n = mine.count.load(Ordering::Relaxed);
                        std::hint::spin_loop();
                        mine.count.store(n + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for k in &mut kids {
            k.start().unwrap();
        }
        for k in &kids {
            assert_eq!(k.join().unwrap(), 0);
        }
        assert_eq!(tally.count.load(Ordering::Relaxed), children * rounds);
        // Dropping the children's handles (at their exit) left the name.
        assert!(exists(&name));
        drop(tally);
        assert!(!exists(&name), "the owner's drop did not remove the name");
    });
}

#[test]
fn a_segment_is_mode_0600_and_the_payload_follows_the_header() {
    isolated(|| {
        let name = unique("mode");
        let seg = SharedMemory::create(&name, AtomicU32::new(0x0102_0304)).unwrap();
        let meta = std::fs::metadata(path(&name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 64 + 4, "header, then the payload");
        drop(seg);
    });
}

#[test]
fn the_header_has_the_documented_layout_on_every_target() {
    isolated(|| {
        let name = unique("header");
        let seg = SharedMemory::create(&name, 7u64).unwrap();
        let bytes = std::fs::read(path(&name)).unwrap();
        let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
        let fp = Fingerprint::of::<u64>();
        assert_eq!(&bytes[0..8], b"mprocSHM", "magic");
        assert_eq!(u32_at(8), 1, "format version");
        assert_eq!(u32_at(12), 64, "header size");
        assert_eq!(u64_at(16), 64, "payload offset");
        assert_eq!(u64_at(24), 8, "payload size");
        assert_eq!(u64_at(32), fp.align, "payload alignment");
        assert_eq!(u64_at(40), fp.identity, "type identity");
        assert_eq!(u32_at(48) as i32, process::getpid().as_raw(), "owner pid");
        assert_eq!(u32_at(52), 0, "reserved");
        assert_eq!(u64_at(64), 7, "payload");
        assert_eq!(bytes.len(), 72);
        drop(seg);
    });
}

#[test]
fn a_payload_aligned_beyond_the_header_starts_at_its_alignment() {
    #[repr(C, align(128))]
    struct Wide([u8; 128]);
    // SAFETY: repr(C) bytes: no pointers, no drop glue, every bit pattern
    // valid; only read here.
    unsafe impl Shareable for Wide {}
    isolated(|| {
        let name = unique("aligned");
        let seg = SharedMemory::create(&name, Wide([9; 128])).unwrap();
        assert_eq!(std::fs::metadata(path(&name)).unwrap().len(), 128 + 128);
        let other = SharedMemory::<Wide>::open(&name).unwrap();
        assert_eq!(other.0[127], 9);
        assert_eq!((&*other as *const Wide as usize) % 128, 0);
        drop((other, seg));
    });
}

#[test]
fn the_name_outlives_only_a_persisted_owner() {
    isolated(|| {
        let name = unique("persist");
        // A non-owner's drop leaves the name.
        let owner = SharedMemory::create(&name, 1u32).unwrap();
        drop(SharedMemory::<u32>::open(&name).unwrap());
        assert!(exists(&name));
        drop(owner);
        assert!(!exists(&name));

        // Persisted: no owner, survives its creator, opens fine.
        let mut seg = SharedMemory::create(&name, 2u32).unwrap();
        seg.persist();
        assert!(!seg.owns());
        assert_eq!(seg.owner(), None);
        drop(seg);
        assert!(exists(&name));
        let mut later = SharedMemory::<u32>::open(&name).unwrap();
        assert_eq!(*later, 2);
        // A persisted segment is not stale: reclaim leaves it.
        assert!(!SharedMemory::<u32>::reclaim(&name).unwrap());
        later.unlink().unwrap();
        assert!(!exists(&name));
        assert_eq!(*later, 2, "the mapping outlives the name");
        assert_eq!(later.unlink().unwrap_err().kind(), ErrorKind::NotFound);
    });
}

#[test]
fn a_taken_name_is_refused_and_loses_nothing() {
    isolated(|| {
        let name = unique("taken");
        let first = SharedMemory::create(&name, AtomicU64::new(5)).unwrap();
        let err = SharedMemory::create(&name, AtomicU64::new(6)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            err.resource(),
            Resource::NamedSegment(SegmentName::new(&name))
        );
        assert!(err.to_string().contains(name.as_str()), "{err}");
        assert_eq!(first.load(Ordering::Relaxed), 5);
        assert!(exists(&name));
        drop(first);
        assert_eq!(
            SharedMemory::<u64>::open(&name).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
}

#[test]
fn a_dead_owners_leftover_is_reported_and_reclaimed_only_on_request() {
    isolated(|| {
        let name = unique("stale");
        let child_name = name.clone();
        let (mut rx, tx) = std::io::pipe().unwrap();
        let mut tx = Some(tx);
        let mut owner = Process::new(move || {
            let _seg = SharedMemory::create(&child_name, AtomicU64::new(41)).unwrap();
            use std::io::Write as _;
            tx.take().unwrap().write_all(b"x").unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        owner.start().unwrap();
        let pid = owner.pid().unwrap().as_raw();
        use std::io::Read as _;
        let mut buf = [0u8; 1];
        rx.read_exact(&mut buf).unwrap();

        // Alive owner: opens fine, reclaim declines, create is refused.
        let live = SharedMemory::<AtomicU64>::open(&name).unwrap();
        assert_eq!(live.owner().map(|p| p.as_raw()), Some(pid));
        assert!(!SharedMemory::<AtomicU64>::reclaim(&name).unwrap());
        assert_eq!(
            SharedMemory::create(&name, AtomicU64::new(0))
                .unwrap_err()
                .kind(),
            ErrorKind::AlreadyExists
        );

        owner.kill().unwrap();
        assert_eq!(owner.join().unwrap(), -9);
        assert!(exists(&name), "SIGKILL left the name behind, as expected");
        let stale = ErrorKind::StaleSegment { owner: pid };
        assert_eq!(
            SharedMemory::<AtomicU64>::open(&name).unwrap_err().kind(),
            stale
        );
        assert_eq!(
            SharedMemory::create(&name, AtomicU64::new(0))
                .unwrap_err()
                .kind(),
            stale
        );
        // The handle opened earlier still works.
        live.fetch_add(1, Ordering::Relaxed);
        assert_eq!(live.load(Ordering::Relaxed), 42);

        assert!(SharedMemory::<AtomicU64>::reclaim(&name).unwrap());
        assert!(!exists(&name));
        assert!(!SharedMemory::<AtomicU64>::reclaim(&name).unwrap());
        let fresh = SharedMemory::create(&name, AtomicU64::new(0)).unwrap();
        assert_eq!(fresh.load(Ordering::Relaxed), 0);
        drop((fresh, live));
        assert!(!exists(&name));
    });
}

/// Writes a raw segment file: a header with the given fields, then
/// `payload` bytes.
fn write_raw(name: &str, fields: &[(usize, &[u8])], len: usize) {
    let mut bytes = vec![0u8; len];
    for (at, data) in fields {
        bytes[*at..*at + data.len()].copy_from_slice(data);
    }
    std::fs::write(path(name), bytes).unwrap();
}

/// A well-formed header for a `u64` payload owned by `owner`.
fn header_fields(owner: i32) -> Vec<(usize, Vec<u8>)> {
    let fp = Fingerprint::of::<u64>();
    vec![
        (0, b"mprocSHM".to_vec()),
        (8, 1u32.to_ne_bytes().to_vec()),
        (12, 64u32.to_ne_bytes().to_vec()),
        (16, 64u64.to_ne_bytes().to_vec()),
        (24, 8u64.to_ne_bytes().to_vec()),
        (32, fp.align.to_ne_bytes().to_vec()),
        (40, fp.identity.to_ne_bytes().to_vec()),
        (48, owner.to_ne_bytes().to_vec()),
    ]
}

fn write_header(name: &str, fields: &[(usize, Vec<u8>)], len: usize) {
    let refs: Vec<(usize, &[u8])> = fields.iter().map(|(a, d)| (*a, d.as_slice())).collect();
    write_raw(name, &refs, len);
}

#[test]
fn open_names_the_header_field_that_differs() {
    isolated(|| {
        let name = unique("mismatch");
        let me = process::getpid().as_raw();

        // Created as one type, opened as others.
        let seg = SharedMemory::create(&name, AtomicU64::new(0)).unwrap();
        let field = |kind: ErrorKind| match kind {
            ErrorKind::LayoutMismatch { field, .. } => field,
            other => panic!("expected a layout mismatch, got {other:?}"),
        };
        let err = SharedMemory::<u32>::open(&name).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::LayoutMismatch {
                field: "payload size",
                expected: 4,
                found: 8
            }
        );
        assert!(err.to_string().contains("payload size"), "{err}");
        assert_eq!(
            field(SharedMemory::<[u32; 2]>::open(&name).unwrap_err().kind()),
            "payload alignment"
        );
        assert_eq!(
            field(SharedMemory::<i64>::open(&name).unwrap_err().kind()),
            "type identity"
        );
        assert!(SharedMemory::<AtomicU64>::open(&name).is_ok());
        drop(seg);

        // Hand-made files, one field wrong at a time.
        let good = header_fields(me);
        write_header(&name, &good, 72);
        assert!(
            SharedMemory::<u64>::open(&name).is_ok(),
            "the baseline opens"
        );
        let cases: [(usize, Vec<u8>, &str); 4] = [
            (0, b"notmproc".to_vec(), "magic"),
            (8, 2u32.to_ne_bytes().to_vec(), "format version"),
            (16, 128u64.to_ne_bytes().to_vec(), "payload offset"),
            (40, 1u64.to_ne_bytes().to_vec(), "type identity"),
        ];
        for (at, data, want) in cases {
            let mut fields = good.clone();
            fields.push((at, data));
            write_header(&name, &fields, 72);
            assert_eq!(
                field(SharedMemory::<u64>::open(&name).unwrap_err().kind()),
                want
            );
        }
        write_header(&name, &good, 80);
        assert_eq!(
            SharedMemory::<u64>::open(&name).unwrap_err().kind(),
            ErrorKind::LayoutMismatch {
                field: "file size",
                expected: 72,
                found: 80
            }
        );
        std::fs::remove_file(path(&name)).unwrap();
    });
}

#[test]
fn a_segment_being_set_up_is_not_ready_until_its_creator_dies() {
    isolated(|| {
        let name = unique("setup");
        // Version 0, owner alive (this process): not ready.
        let mut fields = header_fields(process::getpid().as_raw());
        fields.push((8, 0u32.to_ne_bytes().to_vec()));
        write_header(&name, &fields, 72);
        assert_eq!(
            SharedMemory::<u64>::open(&name).unwrap_err().kind(),
            ErrorKind::NotReady
        );
        assert!(!SharedMemory::<u64>::reclaim(&name).unwrap());

        // Version 0, owner dead: stale, and reclaimable.
        let mut gone = Process::new(|| ());
        gone.start().unwrap();
        gone.join().unwrap();
        let dead = gone.pid().unwrap().as_raw();
        let mut fields = header_fields(dead);
        fields.push((8, 0u32.to_ne_bytes().to_vec()));
        write_header(&name, &fields, 72);
        assert_eq!(
            SharedMemory::<u64>::open(&name).unwrap_err().kind(),
            ErrorKind::StaleSegment { owner: dead }
        );
        assert!(SharedMemory::<u64>::reclaim(&name).unwrap());

        // An empty file (a creator right after shm_open, or another
        // program's file): not ready, and not reclaimed (it cannot be told
        // from a file that is not ours; see tests/shm/reclaim.rs).
        write_raw(&name, &[], 0);
        assert_eq!(
            SharedMemory::<u64>::open(&name).unwrap_err().kind(),
            ErrorKind::NotReady
        );
        assert_eq!(
            SharedMemory::<u64>::reclaim(&name).unwrap_err().kind(),
            ErrorKind::NotOurs {
                found: "an empty file"
            }
        );
        assert!(exists(&name));
        std::fs::remove_file(path(&name)).unwrap();
    });
}

#[test]
fn an_owner_pid_reused_by_another_process_counts_as_dead() {
    isolated(|| {
        // The start time tells a reused pid from the owner. Read as the
        // crate reads it: `/proc//<pid>/stat`, which qemu-user does not
        // answer with made-up values (as it does `/proc/self/stat`).
        let stat = std::fs::read_to_string(format!("/proc//{}/stat", std::process::id())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let start: u64 = after.split(' ').nth(19).unwrap().parse().unwrap();
        if start == 0 {
            eprintln!("skipped: procfs hides process start times here");
            return;
        }
        let name = unique("reused");
        let me = process::getpid().as_raw();
        let mut fields = header_fields(me);
        fields.push((56, (start + 1).to_ne_bytes().to_vec()));
        write_header(&name, &fields, 72);
        assert_eq!(
            SharedMemory::<u64>::open(&name).unwrap_err().kind(),
            ErrorKind::StaleSegment { owner: me }
        );
        // With the right start time it is this live process's: reclaim
        // leaves it; with another, its owner is gone and reclaim takes it.
        let mut fields = header_fields(me);
        fields.push((56, start.to_ne_bytes().to_vec()));
        write_header(&name, &fields, 72);
        assert!(SharedMemory::<u64>::open(&name).is_ok());
        assert!(!SharedMemory::<u64>::reclaim(&name).unwrap());
        let mut fields = header_fields(me);
        fields.push((56, (start + 1).to_ne_bytes().to_vec()));
        write_header(&name, &fields, 72);
        assert!(SharedMemory::<u64>::reclaim(&name).unwrap());
        assert!(!exists(&name));
        write_header(&name, &header_fields(me), 72);
        std::fs::remove_file(path(&name)).unwrap();
    });
}

#[test]
fn bad_names_are_refused_before_anything_is_made() {
    let long = "x".repeat(256);
    for bad in ["", "/", "a/b", "/a/b", "/..", ".", "nul\0", long.as_str()] {
        let err = SharedMemory::create(bad, 0u32).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidArgument(_)),
            "{bad:?}: {err}"
        );
        assert_eq!(
            err.resource(),
            Resource::Text {
                what: "segment name",
                len: bad.len()
            }
        );
    }
    // Without the slash, the name gets one; 255 bytes is the limit.
    isolated(|| {
        let bare = unique("bare");
        let seg = SharedMemory::create(&bare[1..], 0u32).unwrap();
        assert_eq!(seg.name(), bare.as_str());
        assert!(exists(&bare));
        drop(seg);
        let mut longest = unique("long");
        longest.0.push_str(&"y".repeat(300));
        longest.0.truncate(256);
        let longest = &longest;
        let seg = SharedMemory::create(longest, 0u32).unwrap();
        drop(seg);
        assert!(!exists(longest));
    });
}

#[cfg(target_pointer_width = "64")]
#[test]
fn a_segment_dev_shm_cannot_hold_fails_at_creation_and_leaves_nothing() {
    isolated(|| {
        // 1 TiB: more than any /dev/shm here; fallocate refuses it at once.
        type Huge = [u64; 1 << 37];
        let name = unique("huge");
        let err = SharedMemory::<Huge>::create_zeroed(&name).unwrap_err();
        assert_eq!(err.op(), "fallocate");
        assert!(
            matches!(
                err.errno(),
                Some(libc::ENOSPC) | Some(libc::EFBIG) | Some(libc::ENOMEM)
            ),
            "{err}"
        );
        assert!(!exists(&name));
    });
}
