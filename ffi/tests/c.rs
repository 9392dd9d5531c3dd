//! The C test program `tests/c/test_mproc.c` (with `test_sync.c` and
//! `test_pool_daemon.c`), compiled with the C compiler
//! (`$CC`, else `cc`) against this run's `libmproc.a` and run: every entry
//! point of the header, with its errors.

mod common;

use std::time::Duration;

#[test]
fn c_test_program_passes() {
    let program = common::compile_all(
        &[
            "tests/c/test_mproc.c",
            "tests/c/test_sync.c",
            "tests/c/test_pool_daemon.c",
        ],
        "test_mproc",
    );
    let child = common::spawn(&program, &[]);
    let pid = child.id();
    let (status, out, err) = common::finish(child, Duration::from_secs(120));
    print!("{out}");
    eprint!("{err}");
    assert!(
        status.success(),
        "test_mproc failed ({status}):\n{out}\n{err}"
    );
    let summary = out
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed"))
        .expect("the program's summary line");
    assert!(summary.ends_with(", 0 failed"), "{summary}");
    let passed: u32 = summary
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 300, "only {passed} checks ran: {summary}");
    // The child's printf (no newline) was flushed by the library before
    // its _exit.
    assert!(out.contains("child says hello"), "{out}");
    // Every named resource it made is gone.
    let tag = format!("-{pid}");
    let ours: Vec<String> = common::leftovers("/dev/shm", &tag)
        .into_iter()
        .chain(common::leftovers("/dev/mqueue", &tag))
        .filter(|n| n.contains("mproc"))
        .collect();
    assert!(ours.is_empty(), "left behind: {ours:?}");
}
