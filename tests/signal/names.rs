//! `Signal`: numbers, names as `kill -l` prints them, parsing, bad input.

use mproc::signal::Signal;
use mproc::{ErrorKind, Resource};

#[test]
fn bad_signal_numbers_are_typed_errors() {
    for n in [0, -1, 65, 999] {
        let err = Signal::from_raw(n).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidSignal, "{n}");
        assert_eq!(err.resource(), Resource::Signal(n));
        assert!(err.to_string().contains(&format!("signal {n}")), "{err}");
    }
    assert!(Signal::rtmin_plus(1000).is_err());
}

#[test]
fn constants_have_the_kernels_numbers() {
    let pairs = [
        (Signal::HUP, libc::SIGHUP),
        (Signal::INT, libc::SIGINT),
        (Signal::KILL, libc::SIGKILL),
        (Signal::USR1, libc::SIGUSR1),
        (Signal::USR2, libc::SIGUSR2),
        (Signal::ALRM, libc::SIGALRM),
        (Signal::TERM, libc::SIGTERM),
        (Signal::CHLD, libc::SIGCHLD),
        (Signal::TTIN, libc::SIGTTIN),
        (Signal::TTOU, libc::SIGTTOU),
        (Signal::WINCH, libc::SIGWINCH),
    ];
    for (sig, raw) in pairs {
        assert_eq!(sig.as_raw(), raw, "{sig}");
    }
    assert_eq!(Signal::rtmin().as_raw(), libc::SIGRTMIN());
    assert_eq!(Signal::rtmax().as_raw(), libc::SIGRTMAX());
    assert!(Signal::rtmin().is_realtime() && !Signal::USR1.is_realtime());
}

#[test]
fn names_print_as_kill_l_does() {
    assert_eq!(Signal::USR1.to_string(), "SIGUSR1");
    assert_eq!(Signal::IO.to_string(), "SIGIO");
    assert_eq!(Signal::rtmin().to_string(), "SIGRTMIN");
    assert_eq!(Signal::rtmin_plus(3).unwrap().to_string(), "SIGRTMIN+3");
    assert_eq!(Signal::rtmax().to_string(), "SIGRTMAX");
    let max_minus_2 = Signal::from_raw(Signal::rtmax().as_raw() - 2).unwrap();
    assert_eq!(max_minus_2.to_string(), "SIGRTMAX-2");
    assert_eq!(format!("{:?}", Signal::TERM), "SIGTERM(15)");
}

/// The whole list agrees with bash's `kill -l`, name for name.
#[test]
fn the_list_matches_bash_kill_l() {
    let Ok(out) = std::process::Command::new("bash")
        .args(["-c", "kill -l"])
        .output()
    else {
        crate::common::raw_stderr("SKIPPED: bash not found\n");
        return;
    };
    let text = String::from_utf8(out.stdout).unwrap();
    // " 1) SIGHUP\t 2) SIGINT ..." → (number, name)
    let mut bash: Vec<(i32, String)> = Vec::new();
    let mut tokens = text.split_whitespace();
    while let (Some(num), Some(name)) = (tokens.next(), tokens.next()) {
        bash.push((num.trim_end_matches(')').parse().unwrap(), name.to_string()));
    }
    let ours: Vec<(i32, String)> = Signal::all().map(|s| (s.as_raw(), s.to_string())).collect();
    assert_eq!(ours, bash);
}

#[test]
fn names_parse_with_or_without_sig_in_any_case() {
    for text in ["USR1", "SIGUSR1", "sigusr1", "usr1", "10"] {
        assert_eq!(text.parse::<Signal>().unwrap(), Signal::USR1, "{text}");
    }
    assert_eq!("POLL".parse::<Signal>().unwrap(), Signal::IO);
    assert_eq!("RTMIN".parse::<Signal>().unwrap(), Signal::rtmin());
    assert_eq!(
        "SIGRTMIN+2".parse::<Signal>().unwrap(),
        Signal::rtmin_plus(2).unwrap()
    );
    assert_eq!(
        "rtmax-1".parse::<Signal>().unwrap().as_raw(),
        Signal::rtmax().as_raw() - 1
    );
    for s in Signal::all() {
        assert_eq!(
            s.to_string().parse::<Signal>().unwrap(),
            s,
            "round trip of {s}"
        );
    }
    for bad in [
        "", "SIG", "FOO", "0", "999", "RTMIN+99", "RTMIN-1", "RTMAX+1", "SIGUSR3",
    ] {
        let err = bad.parse::<Signal>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidSignal, "{bad:?}");
    }
}
