//! Ring sizes chosen at run time (`PoolBuilder::slots`,
//! `PoolBuilder::task_bytes`): values bigger than the default slot, as
//! many outstanding tasks as the slots and no more, and bad sizes refused
//! with a typed error before any worker is forked.

use mproc::pool::{Pool, SLOTS_MAX, TASK_BYTES_MAX, TASK_BYTES_MIN};
use mproc::{ErrorKind, Resource};

use crate::common::{isolated, under_qemu};

/// Bigger than the default slot (`MPROC_POOL_TASK_BYTES`, 2048 unless
/// the build raised it past this).
const BIG: usize = 12 * 1024;

fn checksum(a: [u8; BIG]) -> u64 {
    a.iter()
        .enumerate()
        .map(|(i, b)| (i as u64 + 1) * u64::from(*b))
        .sum()
}

fn filled(x: u8) -> [u8; BIG] {
    let mut a = [x; BIG];
    a[BIG - 1] = x.wrapping_add(1);
    a
}

fn square(x: u64) -> u64 {
    x * x
}

fn pattern(seed: u8) -> [u8; BIG] {
    let mut a = [0u8; BIG];
    for (i, b) in a.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    a
}

/// Whether this process has no child at all (no worker was forked, or
/// every one was reaped).
fn no_children() -> bool {
    // SAFETY: waitpid with a null status pointer and WNOHANG reaps nothing
    // that is still running and blocks never.
    let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

/// The resource of a run-time knob's refusal names the knob.
fn names(e: &mproc::Error, knob: &str) -> bool {
    matches!(e.resource(), Resource::Capacity(s) if s.contains(knob))
}

#[test]
fn task_bytes_chosen_at_run_time_carry_arrays_bigger_than_the_default_slot() {
    isolated(|| {
        let pool = Pool::builder()
            .processes(2)
            .task_bytes(2 * BIG + 64)
            .build()
            .unwrap();
        assert_eq!(pool.task_bytes(), 2 * BIG + 64);
        assert_eq!(pool.slots(), mproc::config::POOL_SLOTS);
        // An argument and a result of BIG bytes, each way.
        assert_eq!(
            pool.apply(checksum, pattern(3)).unwrap(),
            checksum(pattern(3))
        );
        let got = pool.apply(filled, 7).unwrap();
        assert_eq!((got[0], got[BIG - 1]), (7, 8));
        // A map of them: two items share a slot's bytes.
        let sums = pool.map(checksum, (0..20u8).map(pattern), 2).unwrap();
        for (seed, sum) in sums.into_iter().enumerate() {
            assert_eq!(sum, checksum(pattern(seed as u8)));
        }
        let firsts: Vec<u8> = pool
            .imap(filled, 0..30u8, 1)
            .map(|r| r.unwrap()[0])
            .collect();
        assert_eq!(firsts, (0..30u8).collect::<Vec<_>>());
        pool.close();
        pool.join().unwrap();

        // The same task on a pool of the default slot is refused, naming
        // the build-time knob.
        if mproc::config::POOL_TASK_BYTES < BIG {
            let pool = Pool::new(1).unwrap();
            let e = pool.apply(checksum, pattern(1)).unwrap_err().error();
            assert_eq!(
                e.kind(),
                ErrorKind::CapacityExceeded {
                    limit: mproc::config::POOL_TASK_BYTES
                }
            );
            assert_eq!(e.resource(), Resource::Capacity("MPROC_POOL_TASK_BYTES"));
        }
    });
}

#[test]
fn a_run_time_slot_count_bounds_the_outstanding_tasks_and_no_more() {
    isolated(|| {
        // Fewer slots than the default: a held handle per slot, then the
        // next submission fails (every slot waits for the caller).
        let pool = Pool::builder().processes(2).slots(3).build().unwrap();
        assert_eq!(pool.slots(), 3);
        let held: Vec<_> = (0..3u64)
            .map(|i| pool.apply_async(square, i).unwrap())
            .collect();
        assert_eq!(pool.outstanding(), 3);
        let e = pool.apply_async(square, 99).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: 3 });
        assert_eq!(e.resource(), Resource::Capacity("PoolBuilder::slots"));
        for (i, r) in held.into_iter().enumerate() {
            assert_eq!(r.get().unwrap(), (i * i) as u64);
        }
        // Unheld tasks wait for a slot instead: 100 through 3 slots.
        for i in 0..100u64 {
            drop(pool.apply_async(square, i).unwrap());
        }
        let sum: u64 = pool
            .imap_unordered(square, 0..100u64, 1)
            .map(|r| r.unwrap())
            .sum();
        assert_eq!(sum, (0..100u64).map(square).sum());
        pool.close();
        pool.join().unwrap();
        assert_eq!(pool.outstanding(), 0);

        // More slots than the type's `SLOTS` (the build's 64 by default).
        let n = mproc::config::POOL_SLOTS + 36;
        let pool = Pool::builder().processes(2).slots(n).build().unwrap();
        let held: Vec<_> = (0..n as u64)
            .map(|i| pool.apply_async(square, i).unwrap())
            .collect();
        assert_eq!(pool.outstanding(), n);
        let e = pool.apply_async(square, 99).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: n });
        for (i, r) in held.into_iter().enumerate() {
            assert_eq!(r.get().unwrap(), (i * i) as u64);
        }
        let squares = pool.map(square, 0..1000u64, 1).unwrap();
        assert_eq!(squares[999], 999 * 999);
        // The type's sizes stay the firmware form: const generics, with the
        // run-time knobs winning when given.
        let sized = Pool::builder()
            .processes(1)
            .slots(5)
            .build_sized::<2, 64>()
            .unwrap();
        assert_eq!((sized.slots(), sized.task_bytes()), (5, 64));
        let sized = Pool::builder().processes(1).build_sized::<2, 64>().unwrap();
        assert_eq!((sized.slots(), sized.task_bytes()), (2, 64));
    });
}

#[test]
fn bad_ring_sizes_are_refused_with_the_knob_and_its_limit_before_any_fork() {
    isolated(|| {
        let e = Pool::builder().processes(2).slots(0).build().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        assert!(names(&e, "PoolBuilder::slots"), "{e}");

        let e = Pool::builder()
            .processes(2)
            .slots(SLOTS_MAX + 1)
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CapacityExceeded { limit: SLOTS_MAX });
        assert!(names(&e, "PoolBuilder::slots"), "{e}");
        assert!(e.to_string().contains("MPROC_POOL_SLOTS"), "{e}");

        let e = Pool::builder()
            .processes(2)
            .task_bytes(TASK_BYTES_MIN - 1)
            .build()
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        assert!(names(&e, "PoolBuilder::task_bytes"), "{e}");

        let e = Pool::builder()
            .processes(2)
            .task_bytes(TASK_BYTES_MAX + 1)
            .build()
            .unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::CapacityExceeded {
                limit: TASK_BYTES_MAX
            }
        );
        assert!(names(&e, "PoolBuilder::task_bytes"), "{e}");
        assert!(e.to_string().contains("MPROC_POOL_TASK_BYTES"), "{e}");

        assert!(no_children(), "a refused pool forks no worker");

        // The extremes are accepted.
        let pool = Pool::builder()
            .processes(1)
            .slots(1)
            .task_bytes(TASK_BYTES_MIN)
            .build()
            .unwrap();
        assert_eq!(pool.apply(square, 9).unwrap(), 81);
    });
}

#[test]
fn a_ring_the_kernel_will_not_map_is_a_typed_error_before_any_fork() {
    if under_qemu() {
        // qemu-user keeps RLIMIT_AS to itself (it does not pass it on).
        eprintln!("skipped under qemu-user: RLIMIT_AS is not applied to the guest");
        return;
    }
    isolated(|| {
        // Room for about 64 MiB more address space: a ring of 256 slots of
        // 1 MiB (256 MiB) cannot be mapped.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let vm_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        let limit = (vm_kb + 64 * 1024) * 1024;
        let rl = libc::rlimit {
            rlim_cur: limit as libc::rlim_t,
            rlim_max: limit as libc::rlim_t,
        };
        // SAFETY: setrlimit with a valid struct; this forked test process
        // alone is limited.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) }, 0);
        let e = Pool::builder()
            .processes(2)
            .slots(256)
            .task_bytes(TASK_BYTES_MAX)
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Os, "{e}");
        assert!(names(&e, "PoolBuilder::task_bytes"), "{e}");
        assert!(no_children(), "a refused pool forks no worker");
        // What fits is still mapped.
        let pool = Pool::builder()
            .processes(1)
            .slots(4)
            .task_bytes(4096)
            .build()
            .unwrap();
        assert_eq!(pool.apply(square, 3).unwrap(), 9);
    });
}

/// With the `serde` feature: a 60 KiB `String` through a pool of 64 KiB
/// slots, each way, alone and in a map; refused by the default slot with
/// the knob that raises it.
#[cfg(feature = "serde")]
mod values {
    use mproc::ErrorKind;
    use mproc::pool::{Pool, TASK_BYTES_KNOB};

    use crate::common::isolated;

    const SIXTY_KIB: usize = 60 * 1024;

    fn shout(s: String) -> String {
        s.to_uppercase()
    }

    fn long(n: u64) -> String {
        "x".repeat(n as usize)
    }

    fn text(seed: usize) -> String {
        (0..SIXTY_KIB)
            .map(|i| char::from(b'a' + ((i + seed) % 26) as u8))
            .collect()
    }

    #[test]
    fn a_sixty_kib_string_travels_through_apply_value_and_map_values_with_64_kib_slots() {
        isolated(|| {
            let pool = Pool::builder()
                .processes(2)
                .task_bytes(64 * 1024)
                .build()
                .unwrap();
            let big = text(0);
            assert_eq!(
                pool.apply_value(shout, big.clone()).unwrap(),
                big.to_uppercase()
            );
            assert_eq!(
                pool.apply_value(long, SIXTY_KIB as u64).unwrap().len(),
                SIXTY_KIB
            );
            let r = pool.apply_async_value(shout, text(1)).unwrap();
            assert_eq!(r.get().unwrap(), text(1).to_uppercase());

            let items: Vec<String> = (0..12).map(text).collect();
            let got = pool.map_values(shout, items.clone(), None).unwrap();
            assert_eq!(got.len(), 12);
            for (i, s) in got.iter().enumerate() {
                assert_eq!(*s, items[i].to_uppercase(), "item {i}");
            }
            let lens: Vec<usize> = pool
                .imap_values(long, vec![SIXTY_KIB as u64; 6], 1)
                .map(|r| r.unwrap().len())
                .collect();
            assert_eq!(lens, vec![SIXTY_KIB; 6]);
            pool.close();
            pool.join().unwrap();

            // The default slot refuses it, naming the run-time knob too.
            let pool = Pool::new(1).unwrap();
            let e = pool.apply_value(shout, text(2)).unwrap_err();
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::EncodedSize {
                        knob: TASK_BYTES_KNOB,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(TASK_BYTES_KNOB.contains("task_bytes("), "{TASK_BYTES_KNOB}");
            assert!(e.to_string().contains("MPROC_POOL_TASK_BYTES"), "{e}");
        });
    }
}
