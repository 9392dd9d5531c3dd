//! The daemon steered by an operator's signals: status lines, worker
//! counts, replacement, drains and stops, jobs of every kind.

use super::*;

#[test]
fn usr1_writes_an_accurate_status_line_into_a_log_recreated_after_rotation() {
    let Some(mut d) = Daemon::start("usr1", &[]) else {
        return;
    };
    d.submit(&["--id", "1", "--count", "5", "sleep", "1"]);
    d.submit(&["--id", "6", "fail"]);
    d.until("six jobs to end", |d| {
        let s = d.snap();
        s.done == 5 && s.failed == 1 && s.queued == 0
    });
    // logrotate's move, then its signal.
    let rotated = d.log.with_extension("log.1");
    std::fs::rename(&d.log, &rotated).unwrap();
    d.kill("USR1");
    d.until("a recreated log with the status line", |d| {
        d.line("status #1 ").is_some()
    });
    let line = d.line("status #1 ").unwrap();
    let expected = format!(
        "status #1 pid={} state=running workers=2/2 queued=0 done=5 failed=1 forks=2 ",
        d.pid
    );
    assert!(line.starts_with(&expected), "{line}\nexpected {expected}");
    assert!(
        line.contains(" accepted=6 started=6 timeouts=0 waiting=0 "),
        "{line}"
    );
    assert!(line.contains(" rss="), "{line}");
    d.until("the report counted", |d| d.snap().reports == 1);
    assert_eq!(d.log_lines().len(), 1, "the new file holds only the report");
    let old = read_log(&rotated);
    let mut done = jobs(&old, "done");
    done.sort_unstable();
    assert_eq!(done, [1, 2, 3, 4, 5]);
    assert_eq!(jobs(&old, "failed"), [6]);
    assert!(!old.iter().any(|l| l.starts_with("status")));
    // A second report, no rotation: the same file.
    d.kill("USR1");
    d.until("the second status line", |d| d.line("status #2 ").is_some());
    assert_eq!(d.log_lines().len(), 2);
    let _ = std::fs::remove_file(&rotated);
}

#[test]
fn a_second_daemon_on_the_same_pidfile_is_refused() {
    let Some(d) = Daemon::start("pidfile", &[]) else {
        return;
    };
    let bins = binaries().unwrap();
    let out = Command::new(&bins.daemon)
        .arg("--pidfile")
        .arg(&d.pidfile)
        .arg("--log")
        .arg(d.dir.join("other.log"))
        .args(["--queue", &format!("{}-other", d.queue)])
        .args(["--status", &format!("{}-other", d.status)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("already running: the pidfile names pid {}", d.pid)),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&d.pidfile).unwrap().trim(),
        d.pid.to_string()
    );
    // The status tool reads the running one.
    let out = Command::new(&bins.status)
        .args(["--status", &d.status])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("pid={} state=running workers=2/2 ", d.pid)),
        "{text}"
    );
}

#[test]
fn jobs_of_every_kind_end_with_one_line_each() {
    let Some(mut d) = Daemon::start("kinds", &[]) else {
        return;
    };
    let file = d.dir.join("nine.txt");
    std::fs::write(&file, "123456789").unwrap();
    let missing = d.dir.join("missing.txt");
    d.submit(&["--id", "1", "checksum", file.to_str().unwrap()]);
    d.submit(&["--id", "2", "fail"]);
    d.submit(&["--id", "3", "crash"]);
    d.submit(&["--id", "4", "checksum", missing.to_str().unwrap()]);
    d.submit(&["--id", "5", "sleep", "3"]);
    d.until("five jobs to end", |d| {
        let s = d.snap();
        (s.done, s.failed, s.queued) == (2, 3, 0)
    });
    let lines = d.log_lines();
    let one = |prefix: &str| {
        let found: Vec<_> = lines.iter().filter(|l| l.starts_with(prefix)).collect();
        assert_eq!(found.len(), 1, "{prefix}: {lines:#?}");
        found[0].clone()
    };
    one(&format!(
        "job 1 done crc32=cbf43926 bytes=9 {} (pid ",
        file.display()
    ));
    one("job 2 failed as asked (kind fail) (pid ");
    assert!(one("job 3 failed its worker (pid ").contains("was killed by signal 9"));
    assert!(
        one(&format!("job 4 failed checksum {}: ", missing.display())).contains("No such file")
    );
    one("job 5 done slept 3 ms (pid ");
    d.until("the crashed worker's replacement", |d| {
        d.workers().len() == 2 && d.snap().workers == 2
    });
}

#[test]
fn ttin_and_ttou_change_the_worker_count_never_below_one() {
    let Some(mut d) = Daemon::start("ttin", &["--workers", "2"]) else {
        return;
    };
    d.until("two workers", |d| d.workers().len() == 2);
    d.kill("TTIN");
    d.until("three workers", |d| {
        let s = d.snap();
        s.workers == 3 && s.target_workers == 3 && d.workers().len() == 3
    });
    // USR2: one line per worker, naming the pids the kernel lists.
    d.kill("USR2");
    d.until("the worker list", |d| {
        d.log_lines()
            .iter()
            .filter(|l| l.starts_with("worker #1 pid="))
            .count()
            == 3
    });
    assert!(d.line("workers #1 live=3 target=3").is_some());
    let listed: BTreeSet<u32> = d
        .log_lines()
        .iter()
        .filter_map(|l| l.strip_prefix("worker #1 pid="))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(listed, d.workers());
    for expected in [2, 1] {
        d.kill("TTOU");
        d.until("one worker fewer", |d| {
            let s = d.snap();
            s.target_workers == expected
                && s.workers == expected
                && d.workers().len() == expected as usize
        });
    }
    d.kill("TTOU");
    d.until("the refusal to go below one", |d| {
        d.line("TTOU: 1 worker(s): never fewer than 1").is_some()
    });
    let s = d.snap();
    assert_eq!((s.workers, s.target_workers), (1, 1));
    assert_eq!(d.workers().len(), 1);
}

#[test]
fn hup_replaces_every_worker_and_loses_no_accepted_job() {
    let Some(mut d) = Daemon::start("hup", &["--workers", "2"]) else {
        return;
    };
    d.until("two workers", |d| d.workers().len() == 2);
    let before = d.workers();
    d.submit(&["--id", "100", "--count", "40", "sleep", "10"]);
    d.until("the first job to start", |d| d.snap().user[STARTED] >= 1);
    d.kill("HUP");
    d.until("all forty jobs to end", |d| {
        d.snap().done + d.snap().failed == 40
    });
    let s = d.snap();
    assert_eq!((s.done, s.failed), (40, 0), "{s}");
    let mut done = jobs(&d.log_lines(), "done");
    done.sort_unstable();
    assert_eq!(done, (100..140).collect::<Vec<u64>>());
    d.until("two fresh workers", |d| {
        let now = d.workers();
        let s = d.snap();
        now.len() == 2 && now.is_disjoint(&before) && s.workers == 2 && s.forks >= 4
    });
    assert!(d.line("HUP: replacing 2 workers").is_some());
}

#[test]
fn a_worker_killed_with_kill_9_fails_its_job_and_is_replaced() {
    let Some(mut d) = Daemon::start("kill9", &["--workers", "1", "--task-timeout", "0"]) else {
        return;
    };
    d.until("one worker", |d| d.workers().len() == 1);
    let victim = *d.workers().iter().next().unwrap();
    d.submit(&["--id", "7", "sleep", "60000"]);
    d.until("the job to start", |d| d.snap().user[STARTED] == 1);
    signal_pid("KILL", victim);
    let expected =
        format!("job 7 failed its worker (pid {victim}) was killed by signal 9 (not retried)");
    d.until("the job's failure", |d| d.line(&expected).is_some());
    d.until("a replacement worker, counted", |d| {
        let now = d.workers();
        let s = d.snap();
        now.len() == 1 && !now.contains(&victim) && (s.workers, s.forks) == (1, 2)
    });
    let s = d.snap();
    assert_eq!((s.done, s.failed, s.queued), (0, 1, 0), "{s}");
}

#[test]
fn term_with_a_thousand_queued_jobs_finishes_them_all_and_leaves_nothing_behind() {
    let Some(mut d) = Daemon::start("term", &["--workers", "4"]) else {
        return;
    };
    // 1,000 jobs of 2 ms on 4 workers: half a second of work at least.
    let out = d.submit(&["--id", "1", "--count", "1000", "sleep", "2"]);
    assert!(out.starts_with("sent 1000 jobs"), "{out}");
    let at_term = d.snap();
    assert!(at_term.done < 1000, "the jobs ended before TERM: {at_term}");
    d.kill("TERM");
    let status = d.wait_exit(WATCHDOG);
    assert_eq!(status.code(), Some(0), "{}", d.dump());
    let lines = d.log_lines();
    let mut done = jobs(&lines, "done");
    done.sort_unstable();
    assert_eq!(done, (1..=1000).collect::<Vec<u64>>(), "{}", d.dump());
    assert!(jobs(&lines, "failed").is_empty());
    assert!(
        lines.iter().any(|l| l.starts_with("TERM: draining ")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "TERM: drained, every accepted job ended")
    );
    // The board outlives its name in our mapping: its last words.
    let s = d.snap();
    assert_eq!(
        (s.state, s.done, s.failed, s.queued, s.workers),
        (State::Stopped, 1000, 0, 0, 0)
    );
    assert_eq!(s.user[ACCEPTED], 1000);
    d.assert_nothing_left();
}

#[test]
fn quit_and_int_stop_promptly_and_clean_up() {
    for sig in ["QUIT", "INT"] {
        let Some(mut d) = Daemon::start(&sig.to_lowercase(), &["--task-timeout", "0"]) else {
            return;
        };
        d.submit(&["--id", "9", "sleep", "60000"]);
        d.until("the job to start", |d| d.snap().user[STARTED] == 1);
        let asked = Instant::now();
        d.kill(sig);
        let status = d.wait_exit(Duration::from_secs(10));
        let took = asked.elapsed();
        assert_eq!(status.code(), Some(0), "{}", d.dump());
        assert!(took < Duration::from_secs(3), "{sig} took {took:?}");
        assert!(
            d.line(&format!(
                "job 9 failed stopped unfinished: the daemon was stopped at once ({sig})"
            ))
            .is_some(),
            "{}",
            d.dump()
        );
        assert!(d.line(&format!("{sig}: stopping now")).is_some());
        d.assert_nothing_left();
    }
}

#[test]
fn winch_leaves_no_workers_and_ttin_brings_one_back() {
    let Some(mut d) = Daemon::start("winch", &["--workers", "2"]) else {
        return;
    };
    d.until("two workers", |d| d.workers().len() == 2);
    d.kill("WINCH");
    d.until("no workers, the master idle", |d| {
        let s = d.snap();
        s.state == State::Idle && s.workers == 0 && s.target_workers == 0 && d.workers().is_empty()
    });
    // Jobs are still accepted; they wait for a worker.
    d.submit(&["--id", "5", "sleep", "1"]);
    d.until("the job accepted", |d| d.snap().user[ACCEPTED] == 1);
    // No worker can have taken it.
    let s = d.snap();
    assert_eq!((s.queued, s.done, s.user[STARTED]), (1, 0, 0), "{s}");
    d.kill("TTIN");
    d.until("one worker, running, the job done", |d| {
        let s = d.snap();
        s.state == State::Running && s.workers == 1 && s.done == 1 && d.workers().len() == 1
    });
    assert!(d.line("job 5 done slept 1 ms").is_some());
}

#[test]
fn an_overrunning_job_fails_as_timed_out_and_its_worker_is_replaced() {
    let Some(mut d) = Daemon::start("overrun", &["--workers", "1", "--task-timeout", "200"]) else {
        return;
    };
    d.until("one worker", |d| d.workers().len() == 1);
    let victim = *d.workers().iter().next().unwrap();
    let asked = Instant::now();
    d.submit(&["--id", "3", "overrun"]);
    let expected =
        format!("job 3 failed timed out after 200 ms (worker pid {victim} stopped and replaced)");
    d.until("the timeout", |d| d.line(&expected).is_some());
    assert!(asked.elapsed() < Duration::from_secs(10));
    d.until("a replacement worker, the timeout counted", |d| {
        let now = d.workers();
        let s = d.snap();
        now.len() == 1
            && !now.contains(&victim)
            && (s.workers, s.forks, s.failed, s.user[TIMEOUTS], s.queued) == (1, 2, 1, 1, 0)
    });
    // The replacement works.
    d.submit(&["--id", "4", "sleep", "1"]);
    d.until("the next job", |d| d.snap().done == 1);
}
