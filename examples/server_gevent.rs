//! Seed 001's gevent echo server, in Rust: one process serves many
//! clients at once, each connection a task on the worker's event loop
//! (an [`AsyncWorker`]: a tokio current-thread runtime, built in the
//! worker after the fork). What a client sends comes back as is; at the
//! end of its stream the server shuts its side and closes.
//!
//! ```python
//! import  sys
//! import  socket
//! import time
//! import gevent
//!
//! from gevent import socket,monkey
//! monkey.patch_all()
//!
//! def server(port):
//!     s = socket.socket()
//!     s.bind(('localhost',port))
//!     s.listen(500)
//!     while True:
//!         cli,addr = s.accept()
//!         #交给协程处理
//!         gevent.spawn(handle_request,cli)
//!
//! def handle_request(conn):
//!     try:
//!         while True:
//!             data = conn.recv(1024)
//!             print("recv:",data)
//!             conn.send(data)
//!             if not data:
//!                 conn.shutdown(socket.SHUT_WR)
//!
//!     except  Exception as  ex:
//!         print(ex)
//!
//!     finally:
//!         conn.close()
//!
//! if __name__ == '__main__':
//!     server(9001)
//! ```
//!
//! `server(port)`'s accept loop is the worker's; `gevent.spawn` is the
//! task the worker spawns for each connection; `handle_request` is
//! [`handle_request`] below. The master (one process, one async worker
//! by default: gevent's single process) steers it: `HUP` replaces the
//! worker without dropping a connection, `TERM` drains, `INT`/`QUIT`
//! stop now (see [`mproc::server`]).
//!
//! ```text
//! cargo run --features tokio --example server_gevent              # localhost:9001
//! cargo run --features tokio --example server_gevent -- 9002 --workers 2
//! python3 tests/seeds-py/echo_load_client.py 9001 6               # six at once
//! ```
//!
//! The port may also come from `MPROC_SERVER_GEVENT_PORT`. It prints
//! `serving on ADDR (pid P, N async workers)` once the workers accept
//! (a test waits for that line), and `recv: b'...'` for each message, as
//! the Python prints `recv: data` (`--quiet` leaves those out).

use mproc::daemon::MainLoop;
use mproc::server::{AsyncConn, AsyncWorker, Command, Event, Listener, Server, Stopped};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Python's `handle_request(conn)`: sends back each message as it came,
/// until the client ends its stream; then shuts the write side
/// (`conn.shutdown(socket.SHUT_WR)`) and closes (`conn.close()`).
pub async fn handle_request(mut conn: AsyncConn, print: bool) {
    let mut data = [0u8; 1024];
    loop {
        let n = match conn.read(&mut data).await {
            Ok(n) => n,
            Err(ex) => {
                println!("{ex}");
                break;
            }
        };
        if print {
            println!("recv: {}", py_bytes(&data[..n]));
        }
        if n == 0 {
            break;
        }
        if let Err(ex) = conn.write_all(&data[..n]).await {
            println!("{ex}");
            break;
        }
    }
    let _ = conn.shutdown().await;
}

/// Python's repr of bytes: `b'hi\n'`.
fn py_bytes(data: &[u8]) -> String {
    let mut s = String::from("b'");
    for &b in data {
        match b {
            b'\'' => s.push_str("\\'"),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('\'');
    s
}

/// Serves on `listener` with `workers` async workers, steered by the
/// signals of `main`; `ready` is called each time every worker accepts.
pub fn serve(
    main: &MainLoop,
    listener: Listener,
    workers: usize,
    print: bool,
    mut ready: impl FnMut(&str),
) -> mproc::Result<Stopped> {
    let addr = listener
        .local_addr()
        .map_or_else(|| "a Unix socket".to_owned(), |a| a.to_string());
    // s.listen(500): the backlog; 500 connections open per worker.
    let worker = AsyncWorker::new(move |conn| handle_request(conn, print)).max_connections(500);
    let mut server = Server::builder()
        .listener(listener)
        .workers(workers)
        .build_with(worker)?;
    server.serve_with(main, |server, event| {
        if event == Event::Ready {
            ready(&format!(
                "serving on {addr} (pid {}, {} async workers)",
                mproc::process::getpid(),
                server.target()
            ));
        }
        Command::Continue
    })
}

#[allow(dead_code)] // unused when a test includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = match std::env::var("MPROC_SERVER_GEVENT_PORT") {
        Ok(p) => p.parse()?,
        Err(_) => 9001,
    };
    let (mut workers, mut print) = (1, true);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workers" => workers = args.next().ok_or("--workers N")?.parse()?,
            "--quiet" => print = false,
            _ => port = arg.parse()?,
        }
    }
    // First: the signals are blocked from here on, and the workers start
    // with an empty mask. No runtime here: each worker builds its own.
    let main = MainLoop::new(Server::signals())?;
    // s.bind(('localhost', port)); s.listen(500)
    let listener = Listener::tcp_with(("localhost", port), false, 500)?;
    let mut first = true;
    let end = serve(&main, listener, workers, print, |line| {
        if std::mem::take(&mut first) {
            println!("{line}");
        } else {
            println!("workers replaced; {line}");
        }
    })?;
    println!("stopped: {end:?}");
    Ok(())
}
