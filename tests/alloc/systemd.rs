//! systemd's notify protocol: a notifier's messages and the watchdog's
//! pings, each one datagram built on the stack.

use super::*;

#[test]
fn notify_messages_and_watchdog_pings_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        use mproc::daemon::{Notifier, Ping, Watchdog};
        use std::os::unix::net::UnixDatagram;
        let name = format!("@mproc-alloc-notify-{}", process::getpid());
        let addr = <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(&name.as_bytes()[1..]).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = Notifier::to(&name).unwrap();
        // A period of 1 µs: due again by the next round.
        let mut watchdog = Watchdog::new(Duration::from_micros(2)).unwrap();
        let mut buf = [0u8; 64];
        let round = move || {
            notifier.ready().unwrap();
            notifier.status("serving 4 workers").unwrap();
            notifier.reloading().unwrap();
            notifier.mainpid(process::getpid()).unwrap();
            notifier.stopping().unwrap();
            assert_eq!(watchdog.ping_if(&notifier, true).unwrap(), Ping::Sent);
            for _ in 0..6 {
                let n = receiver.recv(&mut buf).unwrap();
                assert!(n > 0);
            }
        };
        assert_steady_state_allocates_nothing(20, round);
    });
}

#[cfg(feature = "log")]
#[test]
fn journal_log_lines_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        use mproc::daemon::journal::{self, Mode};
        let saved = std::io::stderr().as_fd().try_clone_to_owned().unwrap();
        let null = std::fs::File::options()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let outcome = std::panic::catch_unwind(|| {
            common::redirect(&null, 2);
            journal::init_with(log::LevelFilter::Debug, Mode::Plain).unwrap();
            let round = || {
                log::error!("disk {} full", "/var");
                log::info!(
                    "worker {} replaced after {:?}",
                    1234,
                    Duration::from_millis(5)
                );
                log::debug!("two\nlines");
                log::trace!("filtered out");
            };
            assert_steady_state_allocates_nothing(20, round);
            journal::init_with(log::LevelFilter::Debug, Mode::Journal).unwrap_err();
        });
        common::redirect(&saved, 2);
        if let Err(payload) = outcome {
            std::panic::resume_unwind(payload);
        }
    });
}
