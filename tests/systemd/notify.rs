//! The notify protocol against a `SOCK_DGRAM` socket bound here, as
//! systemd binds `$NOTIFY_SOCKET`: each message one datagram with exactly
//! its lines; the watchdog's cadence, and its silence while the daemon is
//! unhealthy (a worker wedged on purpose).

use std::os::fd::AsFd as _;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::daemon::{Env, MainLoop, NOTIFY_MAX, Notifier, Ping, Watchdog};
use mproc::process::{self, Process};
use mproc::shm::{Shared, Value};
use mproc::signal::{SigSet, Signal};
use mproc::sync::Event;

use crate::isolated;
use crate::{set_env, unset_env};

/// A receiver bound to an abstract name of this process's own, and the
/// address as `$NOTIFY_SOCKET` spells it (`@name`).
fn abstract_receiver(tag: &str) -> (UnixDatagram, String) {
    let name = format!("mproc-test-notify-{tag}-{}", process::getpid());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let rx = UnixDatagram::bind_addr(&addr).unwrap();
    rx.set_nonblocking(true).unwrap();
    (rx, format!("@{name}"))
}

/// The next datagram, waited for up to 10 s.
fn next(rx: &UnixDatagram) -> String {
    rx.set_nonblocking(false).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; NOTIFY_MAX + 1];
    let n = rx.recv(&mut buf).expect("a notify datagram");
    rx.set_nonblocking(true).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// Asserts nothing is queued.
fn nothing(rx: &UnixDatagram) {
    let mut buf = [0u8; 16];
    let e = rx.recv(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
}

fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec the call fills in.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

fn check_every_line(notifier: &Notifier, rx: &UnixDatagram) {
    notifier.ready().unwrap();
    assert_eq!(next(rx), "READY=1");
    notifier.ready_with_status("serving on :8000").unwrap();
    assert_eq!(next(rx), "READY=1\nSTATUS=serving on :8000");
    notifier.status("4 workers, 1 busy").unwrap();
    assert_eq!(next(rx), "STATUS=4 workers, 1 busy");
    let before = monotonic_us();
    notifier.reloading().unwrap();
    let after = monotonic_us();
    let msg = next(rx);
    let usec = msg
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("{msg:?}"));
    let usec: u64 = usec.parse().unwrap();
    assert!(
        before <= usec && usec <= after,
        "{before} <= {usec} <= {after}"
    );
    notifier.stopping().unwrap();
    assert_eq!(next(rx), "STOPPING=1");
    notifier.mainpid(process::getpid()).unwrap();
    assert_eq!(next(rx), format!("MAINPID={}", process::getpid()));
    notifier.watchdog().unwrap();
    assert_eq!(next(rx), "WATCHDOG=1");
    notifier
        .extend_timeout(Duration::from_millis(1500))
        .unwrap();
    assert_eq!(next(rx), "EXTEND_TIMEOUT_USEC=1500000");
    notifier.notify("ERRNO=2\nBUSERROR=x.y").unwrap();
    assert_eq!(next(rx), "ERRNO=2\nBUSERROR=x.y");
    // Refused before anything is sent.
    let e = notifier.status("two\nlines").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
    let e = notifier.notify("").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
    let e = notifier.notify("A=\0").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
    let big = "x".repeat(NOTIFY_MAX - "STATUS=".len() + 1);
    let e = notifier.status(&big).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::MessageSize {
            size: NOTIFY_MAX + 1,
            capacity: NOTIFY_MAX
        }
    );
    nothing(rx);
    // The largest message goes whole.
    notifier.status(&big[1..]).unwrap();
    assert_eq!(next(rx).len(), NOTIFY_MAX);
}

#[test]
fn every_message_is_one_datagram_with_exactly_its_lines_to_a_path() {
    let _turn = crate::serial();
    let dir = std::env::temp_dir().join(format!("mproc-test-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_nonblocking(true).unwrap();
    let notifier = Notifier::to(path.to_str().unwrap()).unwrap();
    assert!(notifier.is_enabled());
    assert_eq!(notifier.address(), path.to_str());
    check_every_line(&notifier, &rx);
    drop(rx);
    std::fs::remove_dir_all(&dir).unwrap();
    // Nobody bound there now: named in the error.
    let e = notifier.ready().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn every_message_is_one_datagram_with_exactly_its_lines_to_an_abstract_name() {
    let _turn = crate::serial();
    let (rx, address) = abstract_receiver("abstract");
    let notifier = Notifier::to(&address).unwrap();
    check_every_line(&notifier, &rx);
}

#[test]
fn notify_socket_from_the_environment_or_a_no_op_without_it() {
    isolated(|| {
        unset_env("NOTIFY_SOCKET");
        let n = Notifier::from_env().unwrap();
        assert!(!n.is_enabled());
        n.ready().unwrap();
        set_env("NOTIFY_SOCKET", "");
        assert!(!Notifier::from_env().unwrap().is_enabled());
        set_env("NOTIFY_SOCKET", "relative/path");
        let e = Notifier::from_env().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains("relative/path"), "{e}");

        let (rx, address) = abstract_receiver("env");
        set_env("NOTIFY_SOCKET", &address);
        let n = Notifier::from_env().unwrap();
        assert_eq!(n.address(), Some(address.as_str()));
        n.ready().unwrap();
        assert_eq!(next(&rx), "READY=1");
        // Kept by default (an exec'd new binary needs it)…
        assert_eq!(std::env::var("NOTIFY_SOCKET").unwrap(), address);
        // …removed on request; the notifier still sends.
        let n = Notifier::from_env_with(Env::Remove).unwrap();
        assert!(std::env::var_os("NOTIFY_SOCKET").is_none());
        n.stopping().unwrap();
        assert_eq!(next(&rx), "STOPPING=1");
    });
}

#[test]
fn a_manager_that_stops_reading_makes_a_send_time_out_instead_of_hanging() {
    let _turn = crate::serial();
    let (rx, address) = abstract_receiver("full");
    let notifier = Notifier::to(&address).unwrap();
    let started = Instant::now();
    let e = loop {
        // The receiver's queue fills (max_dgram_qlen), then a send waits
        // NOTIFY_SEND_TIMEOUT and gives up.
        if let Err(e) = notifier.watchdog() {
            break e;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never filled");
    };
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains(&address), "{e}");
    drop(rx);
}

#[test]
fn watchdog_settings_come_from_the_environment_for_this_process_only() {
    isolated(|| {
        unset_env("WATCHDOG_USEC");
        unset_env("WATCHDOG_PID");
        assert!(Watchdog::from_env().unwrap().is_none());
        set_env("WATCHDOG_USEC", "600000");
        let w = Watchdog::from_env().unwrap().unwrap();
        assert_eq!(w.interval(), Duration::from_millis(600));
        assert_eq!(w.period(), Duration::from_millis(300));
        set_env("WATCHDOG_PID", &process::getpid().to_string());
        assert!(Watchdog::from_env().unwrap().is_some());
        // Meant for another process (our parent): not ours.
        set_env("WATCHDOG_PID", &process::getppid().to_string());
        assert!(Watchdog::from_env().unwrap().is_none());
        set_env("WATCHDOG_PID", "12ab");
        let e = Watchdog::from_env().unwrap_err();
        assert!(e.to_string().contains("WATCHDOG_PID"), "{e}");
        set_env("WATCHDOG_PID", &process::getpid().to_string());
        for bad in ["", "0", "-5", "1.5", "six"] {
            set_env("WATCHDOG_USEC", bad);
            let e = Watchdog::from_env().unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::InvalidArgument(_)),
                "{bad:?}: {e}"
            );
            assert!(e.to_string().contains("WATCHDOG_USEC"), "{e}");
        }
        set_env("WATCHDOG_USEC", "600000");
        assert!(Watchdog::from_env_with(Env::Remove).unwrap().is_some());
        assert!(std::env::var_os("WATCHDOG_USEC").is_none());
        assert!(std::env::var_os("WATCHDOG_PID").is_none());
    });
}

/// Pings the watchdog from a main loop for `length`, healthy while the
/// worker's heartbeat counter moved in the last `STALE`; returns when
/// each ping went out (each checked to arrive as `WATCHDOG=1`).
fn run_loop(
    main: &MainLoop,
    watchdog: &mut Watchdog,
    notifier: &Notifier,
    rx: &UnixDatagram,
    beats: &Value<u64>,
    length: Duration,
) -> Vec<Instant> {
    const STALE: Duration = Duration::from_millis(150);
    let end = Instant::now() + length;
    let mut seen = (beats.get(), Instant::now());
    let mut sent = Vec::new();
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        let timeout = Watchdog::timeout(Some(watchdog), Some(left.min(STALE / 3)));
        let woke = main.wait(&[rx.as_fd()], timeout).unwrap();
        assert!(woke.signals().is_empty());
        let now_beats = beats.get();
        if now_beats != seen.0 {
            seen = (now_beats, Instant::now());
        }
        let healthy = seen.1.elapsed() < STALE;
        if watchdog.ping_if(notifier, healthy).unwrap() == Ping::Sent {
            sent.push(Instant::now());
            assert_eq!(next(rx), "WATCHDOG=1");
        }
    }
    nothing(rx);
    sent
}

#[test]
fn the_watchdog_pings_every_half_interval_and_stops_while_a_worker_is_wedged() {
    isolated(|| {
        let (rx, address) = abstract_receiver("watchdog");
        set_env("NOTIFY_SOCKET", &address);
        set_env("WATCHDOG_USEC", "600000");
        set_env("WATCHDOG_PID", &process::getpid().to_string());
        let notifier = Notifier::from_env().unwrap();
        let mut watchdog = Watchdog::from_env().unwrap().unwrap();
        let main = MainLoop::new(SigSet::from_signals(&[Signal::USR2])).unwrap();
        let period = watchdog.period();

        // A worker whose heartbeat the loop watches; wedged on request.
        let beats = Value::new(0u64).unwrap();
        let wedged = Shared::new(Event::new()).unwrap();
        let beating = Shared::new(Event::new()).unwrap();
        let mut worker = Process::new(|| {
            loop {
                if !wedged.is_set() {
                    beats.set(beats.get() + 1);
                    beating.set();
                }
                // The heartbeat's own pace (this is the watched thing).
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        worker.start().unwrap();
        assert!(
            beating.wait_timeout(Duration::from_secs(10)),
            "no heartbeat"
        );

        // Healthy: a ping at once, then one per period.
        let sent = run_loop(&main, &mut watchdog, &notifier, &rx, &beats, period * 5);
        assert!(sent.len() >= 3, "{} pings in 5 periods", sent.len());
        for pair in sent.windows(2) {
            let gap = pair[1] - pair[0];
            // Never early; and well inside systemd's deadline (the
            // interval), with room for a loaded machine.
            assert!(gap >= period - Duration::from_millis(5), "{gap:?}");
            assert!(gap < watchdog.interval(), "{gap:?}");
        }

        // Wedged: once the heartbeat is stale the pings stop.
        wedged.set();
        let wedge = Instant::now();
        let sent = run_loop(&main, &mut watchdog, &notifier, &rx, &beats, period * 4);
        for at in &sent {
            assert!(
                *at - wedge < Duration::from_millis(250),
                "a ping {:?} after the worker wedged",
                *at - wedge
            );
        }
        assert!(sent.len() <= 1, "{} pings while wedged", sent.len());

        // Recovered: pings resume within an eighth of a period (plus the
        // heartbeat's detection).
        wedged.clear();
        let recovered = Instant::now();
        let sent = run_loop(&main, &mut watchdog, &notifier, &rx, &beats, period * 2);
        assert!(!sent.is_empty(), "no ping after recovery");
        assert!(sent[0] - recovered < period, "{:?}", sent[0] - recovered);

        worker.terminate().unwrap();
        assert_eq!(worker.join().unwrap(), -15);
    });
}
