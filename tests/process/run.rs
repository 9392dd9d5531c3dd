//! `Run`: a process defined by a type (Python's `Process` subclass
//! overriding `run()`).

use std::io::{Read as _, Write as _};

use mproc::process::{self, Process, Run};

use crate::common::isolated;

/// Writes `n`, how many times it ran, its pid and its process name.
struct Reporter {
    n: u32,
    runs: u32,
    out: std::io::PipeWriter,
}

impl Run for Reporter {
    fn run(&mut self) {
        self.runs += 1;
        let me = process::current_process();
        let line = format!("{} {} {} {}\n", self.n, self.runs, me.pid.as_raw(), me.name);
        self.out.write_all(line.as_bytes()).unwrap();
    }
}

fn read_all(mut rx: std::io::PipeReader) -> String {
    let mut s = String::new();
    rx.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn from_run_runs_the_types_run_in_a_child() {
    isolated(|| {
        let (rx, tx) = std::io::pipe().unwrap();
        let body = Reporter {
            n: 7,
            runs: 0,
            out: tx,
        };
        let mut p = Process::from_run(body).with_name("reporter").unwrap();
        assert_eq!(p.name(), "reporter");
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let pid = p.pid().unwrap().as_raw();
        assert_ne!(pid, process::getpid().as_raw());
        // The parent's copy (and its write end) went at the start.
        assert_eq!(read_all(rx), format!("7 1 {pid} reporter\n"));
    });
}

#[test]
fn into_process_makes_the_same_process_and_it_can_be_a_daemon() {
    isolated(|| {
        let (rx, tx) = std::io::pipe().unwrap();
        let mut p = Reporter {
            n: 2,
            runs: 0,
            out: tx,
        }
        .into_process()
        .daemon(true);
        assert!(p.is_daemon());
        assert!(p.name().starts_with("Process-"));
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let pid = p.pid().unwrap().as_raw();
        assert_eq!(read_all(rx), format!("2 1 {pid} {}\n", p.name()));
    });
}

#[test]
fn calling_run_directly_runs_it_here_and_again() {
    isolated(|| {
        let (rx, tx) = std::io::pipe().unwrap();
        let mut body = Reporter {
            n: 5,
            runs: 0,
            out: tx,
        };
        body.run();
        body.run();
        assert_eq!(body.runs, 2);
        drop(body);
        let me = process::current_process();
        let (pid, name) = (me.pid.as_raw(), me.name.to_string());
        assert_eq!(
            read_all(rx),
            format!("5 1 {pid} {name}\n5 2 {pid} {name}\n")
        );
    });
}

#[test]
fn a_run_that_panics_exits_with_1() {
    struct Fails;
    impl Run for Fails {
        fn run(&mut self) {
            panic!("run failed (expected by the test)");
        }
    }
    isolated(|| {
        let mut p = Process::from_run(Fails);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 1);
    });
}
