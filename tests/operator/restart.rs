//! A daemon killed with `kill -9` and started again on its names.

use super::*;

#[test]
fn a_daemon_killed_with_kill_9_restarts_on_its_names_and_takes_them_over() {
    let Some(mut d) = Daemon::start("kill9-restart", &["--workers", "2"]) else {
        return;
    };
    d.until("two workers", |d| d.workers().len() == 2);
    let old = d.pid;
    d.submit(&["--id", "1", "sleep", "1"]);
    d.until("the first job", |d| d.snap().done == 1);
    signal_pid("KILL", old);
    let status = d.wait_exit(WATCHDOG);
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(9));
    // Its workers die with it (the pool forks them with PR_SET_PDEATHSIG).
    wait_for("the killed daemon's workers to die", || {
        d.group_left().is_empty()
    });
    // It left everything behind.
    assert_eq!(
        std::fs::read_to_string(&d.pidfile).unwrap().trim(),
        old.to_string()
    );
    assert!(Path::new("/dev/shm").join(&d.status[1..]).exists());
    assert!(MessageQueue::open(&d.queue).is_ok());
    assert!(Path::new(&owner_record(&d.queue)).exists());
    let (pidfile, status_name, queue) = (d.pidfile.clone(), d.status.clone(), d.queue.clone());

    // Started again on the same names: it takes each over, one line each.
    let Some(mut d) = d.restart(&["--workers", "2"]) else {
        return;
    };
    assert_ne!(d.pid, old);
    let took: Vec<String> = d
        .log_lines()
        .into_iter()
        .filter(|l| l.starts_with("took over "))
        .collect();
    assert_eq!(
        took,
        [
            format!(
                "took over the pidfile {} of pid {old}, which is gone",
                pidfile.display()
            ),
            format!("took over the status segment {status_name} of pid {old}, which is gone"),
            format!("took over the job queue {queue} of pid {old}, which is gone"),
        ],
        "{}",
        d.dump()
    );
    // It serves.
    d.submit(&["--id", "2", "sleep", "1"]);
    d.until("the job after the restart", |d| d.snap().done == 1);
    assert!(d.line("job 2 done slept 1 ms").is_some());
    // A second one on the same names is still refused: the pidfile's
    // daemon lives.
    let (code, stderr) = d.run_again(&d.pidfile);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("already running: the pidfile names pid {}", d.pid)),
        "{stderr}"
    );
    // So are its segment and queue, under another pidfile.
    let (code, stderr) = d.run_again(&d.dir.join("other.pid"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("status segment"), "{stderr}");
    // Stopped normally, it leaves no name behind.
    d.kill("TERM");
    let status = d.wait_exit(WATCHDOG);
    assert_eq!(status.code(), Some(0), "{}", d.dump());
    d.assert_nothing_left();
}

#[test]
#[allow(unsafe_code)] // mq_open as another program would call it
fn a_restarted_daemon_refuses_a_queue_name_that_is_not_its_own() {
    let Some(mut d) = Daemon::start("foreign-queue", &["--workers", "1"]) else {
        return;
    };
    signal_pid("KILL", d.pid);
    d.wait_exit(WATCHDOG);
    wait_for("the killed daemon's workers to die", || {
        d.group_left().is_empty()
    });
    // Another program has since made a queue under the daemon's queue
    // name (its own: the old queue and record are gone).
    MessageQueue::reclaim(&d.queue).unwrap();
    let c = std::ffi::CString::new(d.queue.as_str()).unwrap();
    // SAFETY: a NUL-terminated name; a null attr asks for the defaults.
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
    let (code, stderr) = d.run_again(&d.pidfile);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("a queue without an mproc owner record; left untouched"),
        "{stderr}"
    );
    assert!(
        MessageQueue::open(&d.queue).is_ok(),
        "the daemon removed a queue that is not its own"
    );
    // (The guard removes the foreign queue: it has no record to check.)
    // SAFETY: a NUL-terminated name.
    unsafe { libc::mq_unlink(c.as_ptr()) };
}
