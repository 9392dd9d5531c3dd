//! Seed 000's echo server in its own shape: the parent accepts each
//! connection and hands it to a pool worker, which upper-cases whatever
//! the client sends and answers it until the client hangs up.
//!
//! ```python
//! from socket import *
//! from multiprocessing import Pool
//! import os
//!
//! server=socket(AF_INET,SOCK_STREAM)
//! server.setsockopt(SOL_SOCKET,SO_REUSEADDR,1)
//! server.bind(('127.0.0.1',8080))
//! server.listen(5)
//!
//! def talk(conn,client_addr):
//!     print('进程pid: %s' %os.getpid())
//!     while True:
//!         try:
//!             msg=conn.recv(1024)
//!             if not msg:break
//!             conn.send(msg.upper())
//!         except Exception:
//!             break
//!
//! if __name__ == '__main__':
//!     p=Pool()
//!     while True:
//!         conn,client_addr=server.accept()
//!         p.apply_async(talk,args=(conn,client_addr))
//! ```
//!
//! `apply_async(talk, args=(conn, client_addr))` becomes
//! [`Pool::apply_async_fd`]`(talk, conn, client_addr)`: the accepted
//! socket travels to the worker that claims the task (`SCM_RIGHTS`, as
//! Python's `multiprocessing.reduction` sends it), and the parent's copy
//! is closed at once. At most the pool's size are served at once; the
//! other connections wait, accepted, until a worker is free, as in Python.
//!
//! `cargo run --example pool_echo_server` serves forever on
//! 127.0.0.1:8080 with `Pool()` (one worker per CPU), like the seed; try it
//! with the seed's client (`python3 seed004_echo_client.py`).
//! `cargo run --example pool_echo_server -- ADDR [N [PROCESSES]]` serves on
//! `ADDR` (port 0: any free port, printed), stops after `N` connections
//! (the pool then finishes them and exits), with `Pool(PROCESSES)`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use mproc::pool::Pool;
use mproc::process;

/// Python's `talk(conn, client_addr)`: runs in a worker, answers each
/// message upper-cased until the client hangs up (or the connection
/// fails), then closes it (dropping `conn`).
pub fn talk(mut conn: TcpStream, _client_addr: SocketAddr) {
    println!("进程pid: {}", process::getpid());
    let mut msg = [0u8; 1024];
    loop {
        let n = match conn.read(&mut msg) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        msg[..n].make_ascii_uppercase();
        if conn.write_all(&msg[..n]).is_err() {
            break;
        }
    }
}

/// The seed's `__main__`: `Pool(processes)` (Python's `Pool()` with
/// `None`), then accept and hand each connection to a worker; after
/// `connections` (forever with `None`), close the pool and wait for the
/// workers to finish the ones they serve.
pub fn serve(
    server: TcpListener,
    processes: Option<usize>,
    connections: Option<usize>,
) -> Result<(), Box<dyn std::error::Error>> {
    let p = match processes {
        Some(n) => Pool::new(n)?,
        None => Pool::builder().build()?,
    };
    let mut accepted = 0;
    while connections.is_none_or(|n| accepted < n) {
        let (conn, client_addr) = server.accept()?;
        // As Python, the result is not kept: the pool collects it.
        drop(p.apply_async_fd(talk, conn, client_addr)?);
        accepted += 1;
    }
    p.close();
    p.join()?;
    Ok(())
}

#[allow(dead_code)] // unused when a test includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let connections = args.next().map(|n| n.parse()).transpose()?;
    let processes = args.next().map(|n| n.parse()).transpose()?;
    // std's TcpListener sets SO_REUSEADDR, as the seed does.
    let server = TcpListener::bind(&addr)?;
    println!("serving on {}", server.local_addr()?);
    serve(server, processes, connections)
}
