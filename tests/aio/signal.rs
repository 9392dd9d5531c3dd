//! Signals awaited from a `SignalFd`, one by one and as a stream.

use std::io::Write as _;

use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal, SignalFd};

use crate::common::{gate, isolated};
use crate::{LONG, block_on, next};

#[test]
fn signals_arrive_through_recv_async_and_the_stream() {
    isolated(|| {
        let signals = SignalFd::new(SigSet::from_signals(&[Signal::USR1, Signal::USR2])).unwrap();
        let me = process::getpid();
        let (g, mut opener) = gate();
        let mut child = Process::new(move || {
            g.wait();
            signal::kill(me, Signal::USR1).unwrap();
        });
        child.start().unwrap();
        block_on(async {
            opener.write_all(&[1]).unwrap();
            let info = tokio::time::timeout(LONG, signals.recv_async())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(info.signal, Signal::USR1);
            let mut stream = signals.stream().unwrap();
            signal::kill(me, Signal::USR2).unwrap();
            let info = tokio::time::timeout(LONG, next(&mut stream))
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(info.signal, Signal::USR2);
        });
        assert_eq!(child.join().unwrap(), 0);
    });
}
