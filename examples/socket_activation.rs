//! Socket activation: the listeners systemd (or `systemd-socket-activate`)
//! opened for this program, taken with their names and kinds.
//!
//! ```text
//! systemd-socket-activate -l 127.0.0.1:8000 -l /tmp/ctl.sock --fdname=web:ctl \
//!     target/debug/examples/socket_activation
//! nc 127.0.0.1 8000    # prints "web TcpListener"
//! nc -U /tmp/ctl.sock  # prints "ctl UnixListener"
//! ```
//!
//! It prints what it was given, then answers one connection on each stream
//! listener, in the order systemd passed them, with the listener's name and
//! kind, and exits. Started without `LISTEN_FDS` it says so and exits.
//!
//! Python has no socket activation in its standard library; the
//! `systemd.daemon.listen_fds()` of python-systemd is the nearest.

use std::io::Write as _;

use mproc::daemon::{FdKind, ListenFds};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First thing: taking them removes LISTEN_* from the environment,
    // which is sound only while this is the process's one thread.
    let fds = ListenFds::from_env()?;
    if fds.is_empty() {
        eprintln!("not socket-activated: run me under systemd-socket-activate -l ADDRESS");
        return Ok(());
    }
    let left = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
        .iter()
        .filter(|v| std::env::var_os(v).is_some())
        .count();
    println!(
        "{} descriptors; LISTEN_* left in the environment: {left}",
        fds.len()
    );
    for fd in &fds {
        println!("{} {:?}", fd.name(), fd.kind());
    }
    for fd in fds {
        let (name, kind) = (fd.name().to_owned(), fd.kind());
        let reply = format!("{name} {kind:?}\n");
        match kind {
            FdKind::TcpListener => {
                let (mut client, _) = fd.into_tcp_listener()?.accept()?;
                client.write_all(reply.as_bytes())?;
            }
            FdKind::UnixListener => {
                let (mut client, _) = fd.into_unix_listener()?.accept()?;
                client.write_all(reply.as_bytes())?;
            }
            _ => println!("{name}: not a stream listener, left alone"),
        }
    }
    Ok(())
}
