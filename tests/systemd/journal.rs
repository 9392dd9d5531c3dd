//! The journal logger (feature `log`): priority prefixes when standard
//! error is the stream `$JOURNAL_STREAM` names, timestamped lines
//! otherwise. Standard error is a pipe here, read back whole.

use std::io::Read as _;

use log::LevelFilter;
use mproc::daemon::journal::{self, LINE_MAX, Mode};

use crate::common::redirect;
use crate::isolated;
use crate::{set_env, unset_env};

/// `<dev>:<ino>` of this process's fd 2, as systemd writes it.
fn stderr_id() -> String {
    // SAFETY: stat is plain data; all zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a live stat the call fills in.
    assert_eq!(unsafe { libc::fstat(2, &mut st) }, 0);
    format!("{}:{}", st.st_dev, st.st_ino)
}

/// Runs `log` with standard error sent into a pipe after `setup`, and
/// returns what was written.
fn captured(setup: impl FnOnce(), log: impl FnOnce()) -> String {
    let (mut reader, writer) = std::io::pipe().unwrap();
    redirect(&writer, 2);
    drop(writer);
    setup();
    log();
    // Standard error away from the pipe, so the reader sees its end.
    redirect(&std::fs::File::open("/dev/null").unwrap(), 2);
    let mut out = String::new();
    reader.read_to_string(&mut out).unwrap();
    out
}

fn lines() {
    log::error!("disk {} full", "/var");
    log::warn!("slow");
    log::info!("two\nlines");
    log::debug!("debug");
    log::trace!("not at this level");
}

#[test]
fn stderr_in_the_journal_gets_priority_prefixes_on_every_line() {
    isolated(|| {
        let out = captured(
            || {
                set_env("JOURNAL_STREAM", &stderr_id());
                assert_eq!(journal::detect(), Mode::Journal);
                journal::init(LevelFilter::Debug).unwrap();
            },
            || {
                lines();
                log::info!("{}", "x".repeat(2 * LINE_MAX));
            },
        );
        let (short, long) = out.split_at(out.find("<6>xxx").unwrap());
        assert_eq!(
            short,
            "<3>disk /var full\n<4>slow\n<6>two\n<6>lines\n<7>debug\n"
        );
        assert!(
            long.len() <= LINE_MAX && long.ends_with("x…\n"),
            "{}",
            long.len()
        );
    });
}

#[test]
fn elsewhere_lines_carry_a_utc_time_and_the_level() {
    isolated(|| {
        let out = captured(
            || {
                unset_env("JOURNAL_STREAM");
                assert_eq!(journal::detect(), Mode::Plain);
                // A stream that is not our stderr (inherited, redirected).
                set_env("JOURNAL_STREAM", "1:2");
                assert_eq!(journal::detect(), Mode::Plain);
                set_env("JOURNAL_STREAM", "garbage");
                journal::init(LevelFilter::Info).unwrap();
                // A second init is refused and changes nothing.
                journal::init_with(LevelFilter::Trace, Mode::Journal).unwrap_err();
            },
            lines,
        );
        // Each record's first line starts with the time (a continuation
        // line of a multi-line message does not).
        let rest: Vec<&str> = out
            .lines()
            .map(|line| match line.split_once(' ') {
                Some((time, rest)) if time.len() == 24 => {
                    // 2026-12-04T22:02:28.123Z
                    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
                    rest
                }
                _ => line,
            })
            .collect();
        assert_eq!(
            rest,
            ["ERROR disk /var full", "WARN slow", "INFO two", "lines"]
        );
    });
}

/// The socket server's own lines go through the logger: readiness, a
/// worker that died and was replaced, the stop.
#[test]
fn the_server_master_logs_its_events_to_the_journal() {
    use mproc::daemon::MainLoop;
    use mproc::process::Process;
    use mproc::server::{Command, Event, Listener, Server};
    use mproc::signal::Signal;
    use std::cell::Cell;

    isolated(|| {
        let killed = std::rc::Rc::new(Cell::new(None));
        let seen = std::rc::Rc::clone(&killed);
        let out = captured(
            || {
                set_env("JOURNAL_STREAM", &stderr_id());
                journal::init(LevelFilter::Info).unwrap();
            },
            || {
                let listener = Listener::tcp("127.0.0.1:0").unwrap();
                let mut listener = Some(listener);
                let mut master = Process::new(move || {
                    let main = MainLoop::new(Server::signals()).unwrap();
                    let mut server = Server::builder()
                        .listener(listener.take().unwrap())
                        .workers(1)
                        .tick(std::time::Duration::from_millis(10))
                        .build(|_conn| {})
                        .unwrap();
                    let victim = Cell::new(None);
                    server
                        .serve_with(&main, |server, event| {
                            let first = server.workers().next().map(|w| w.pid);
                            match (victim.get(), first) {
                                (None, Some(pid)) if event == Event::Ready => {
                                    victim.set(Some(pid));
                                    mproc::signal::kill(pid, Signal::KILL).unwrap();
                                }
                                (Some(old), Some(pid)) if pid != old => return Command::StopNow,
                                _ => {}
                            }
                            Command::Continue
                        })
                        .unwrap();
                });
                master.start().unwrap();
                assert_eq!(master.join().unwrap(), 0);
                seen.set(Some(()));
            },
        );
        assert!(killed.get().is_some());
        assert!(out.contains("<6>ready: 1 workers accept\n"), "{out}");
        assert!(
            out.lines().any(|l| l.starts_with("<4>worker ")
                && l.ends_with(" killed by signal 9; a new worker replaces it")),
            "{out}"
        );
        assert!(out.contains("<6>stopping now: 1 workers killed\n"), "{out}");
    });
}
