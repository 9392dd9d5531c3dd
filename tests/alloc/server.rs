//! The server's master: its loop (signals, workers reaped and forked,
//! replacements, growing and shrinking, the ticks) allocates nothing in
//! steady state. The master is a child of the test body; its hook reads
//! the counter (the master's own) when asked with `USR1` and sends it
//! back as eight bytes.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use mproc::daemon::MainLoop;
use mproc::server::{Command, Event, Listener, Server};

use super::*;

/// The test's end of the master's messages: nine bytes each, a tag
/// (`R`: every worker accepts; `C`: the count) and a number.
struct Lines {
    from: UnixStream,
    /// `R` messages read and not yet waited for.
    readies: usize,
}

impl Lines {
    fn next(&mut self) -> (u8, u64) {
        let mut b = [0u8; 9];
        self.from.read_exact(&mut b).unwrap();
        let mut n = [0u8; 8];
        n.copy_from_slice(&b[1..]);
        (b[0], u64::from_le_bytes(n))
    }

    /// The master's count of allocations, asked for with `USR1`. Every
    /// signal sent before has been taken once it answers: the kernel hands
    /// pending signals lowest number first, and of those the master takes
    /// only HUP (1) comes before USR1 (10); TTIN and TTOU come after, so
    /// `round` asks twice.
    fn count(&mut self, master: mproc::Pid) -> usize {
        signal::kill(master, Signal::USR1).unwrap();
        loop {
            match self.next() {
                (b'C', n) => return n as usize,
                _ => self.readies += 1,
            }
        }
    }

    fn ready(&mut self) {
        while self.readies == 0 {
            if self.next().0 == b'R' {
                self.readies += 1;
            }
        }
        self.readies -= 1;
    }
}

/// Some connections, one answered by each; `HUP` (waited for until the
/// new workers accept), `TTIN`, `TTOU`.
fn round(addr: std::net::SocketAddr, master: mproc::Pid, lines: &mut Lines) {
    for i in 0..8u8 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&[b'a' + i]).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        assert_eq!(b[0], b'A' + i);
    }
    signal::kill(master, Signal::HUP).unwrap();
    lines.ready();
    for sig in [Signal::TTIN, Signal::TTOU] {
        signal::kill(master, sig).unwrap();
        // Taken by the time the second count comes back.
        let _ = lines.count(master);
        let _ = lines.count(master);
    }
}

#[test]
fn the_server_master_allocates_nothing_in_steady_state() {
    common::isolated(|| {
        let l = Listener::tcp("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (mut out, from) = UnixStream::pair().unwrap();
        from.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut master = Process::new(move || {
            let main = MainLoop::new(Server::signals().with(Signal::USR1)).unwrap();
            let mut server = Server::builder()
                .listener(l)
                .workers(2)
                .tick(Duration::from_millis(5))
                .connection_timeout(Duration::from_secs(30))
                .build(|mut conn| {
                    let mut b = [0u8; 16];
                    while let Ok(n @ 1..) = conn.read(&mut b) {
                        b[..n].make_ascii_uppercase();
                        let _ = conn.write_all(&b[..n]);
                    }
                })
                .unwrap();
            server
                .serve_with(&main, |server, event| {
                    match event {
                        Event::Ready => {
                            let _ = out.write_all(&[b'R', 0, 0, 0, 0, 0, 0, 0, 0]);
                        }
                        Event::Signal(_) => {
                            let n = ALLOCATIONS.load(Ordering::Relaxed) as u64;
                            let mut m = [b'C'; 9];
                            m[1..].copy_from_slice(&n.to_le_bytes());
                            let _ = out.write_all(&m);
                        }
                        _ => {
                            let _ = std::hint::black_box(server.healthy());
                        }
                    }
                    Command::Continue
                })
                .unwrap();
        });
        master.start().unwrap();
        let pid = master.pid().unwrap();
        let mut lines = Lines { from, readies: 0 };
        lines.ready();
        // Warm up (lazy statics, the first fork of each kind).
        round(addr, pid, &mut lines);
        round(addr, pid, &mut lines);
        let before = lines.count(pid);
        for _ in 0..5 {
            round(addr, pid, &mut lines);
        }
        let after = lines.count(pid);
        signal::kill(pid, Signal::TERM).unwrap();
        assert_eq!(master.join().unwrap(), 0);
        assert_eq!(after - before, 0, "the master allocated in steady state");
    });
}
