//! The C examples, compiled against this run's `libmproc.a` and run:
//! `examples/c/hello.c` (the README's program) and `examples/c/daemon.c`
//! (children, a queue, a pool of C functions, a lock-protected counter,
//! a status line on `SIGUSR1`, a clean stop on `SIGTERM`).

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn hello_prints_and_joins_its_child() {
    let program = common::compile("examples/c/hello.c", "hello");
    let (status, out, err) = common::finish(common::spawn(&program, &[]), Duration::from_secs(60));
    assert!(status.success(), "hello failed ({status}): {out}{err}");
    assert_eq!(out, "hello from the child\nthe child exited with 3\n");
}

#[test]
fn hello_runs_against_the_shared_library() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let so = common::shared_lib();
    let dir = so.parent().expect("the library's directory");
    let program = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hello_shared");
    let status = std::process::Command::new(common::cc())
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(manifest.join("include"))
        .arg(manifest.join("examples/c/hello.c"))
        .arg("-L")
        .arg(dir)
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .args(["-lmproc", "-o"])
        .arg(&program)
        .status()
        .expect("the C compiler");
    assert!(
        status.success(),
        "linking hello.c with -lmproc (libmproc.so) failed"
    );
    let (status, out, err) = common::finish(common::spawn(&program, &[]), Duration::from_secs(60));
    assert!(
        status.success(),
        "hello (shared) failed ({status}): {out}{err}"
    );
    assert_eq!(out, "hello from the child\nthe child exited with 3\n");
}

fn next_line(lines: &mpsc::Receiver<String>, want: &str, seen: &mut Vec<String>) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                seen.push(line.clone());
                if line.starts_with(want) {
                    return line;
                }
            }
            Err(e) => panic!("no line starting with {want:?} ({e}); the daemon said: {seen:#?}"),
        }
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on the daemon this test started and has not reaped.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

#[test]
fn daemon_reports_on_usr1_and_stops_cleanly_on_term() {
    let program = common::compile("examples/c/daemon.c", "daemon");
    let pidfile = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("c-daemon.pid");
    let _ = std::fs::remove_file(&pidfile);
    let mut child = common::spawn(&program, &[pidfile.to_str().unwrap(), "60"]);
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let ready = next_line(&lines, "ready", &mut seen);
    assert_eq!(ready, format!("ready pid={pid}"));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    assert!(
        !common::leftovers("/dev/shm", &format!("mproc-cdaemon-{pid}")).is_empty(),
        "the status board is in /dev/shm while the daemon runs"
    );

    signal(pid, libc::SIGUSR1);
    let status = next_line(&lines, "status:", &mut seen);
    assert!(
        status.contains(&format!("pid={pid} state=running workers=2/2")),
        "{status}"
    );
    assert!(
        status.contains(" done=") && status.contains(" user="),
        "{status}"
    );
    signal(pid, libc::SIGHUP);
    next_line(&lines, "reload:", &mut seen);

    signal(pid, libc::SIGTERM);
    let stopped = next_line(&lines, "stopped", &mut seen);
    assert!(stopped.starts_with("stopped cleanly: "), "{stopped}");
    drop(lines);
    let (status, _, err) = common::finish(child, Duration::from_secs(30));
    let _ = reader.join();
    assert!(status.success(), "the daemon exited with {status}: {err}");
    assert!(!pidfile.exists(), "the pidfile is removed");
    let left: Vec<String> = common::leftovers("/dev/shm", &pid.to_string())
        .into_iter()
        .chain(common::leftovers("/dev/mqueue", &pid.to_string()))
        .filter(|n| n.contains("mproc"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
