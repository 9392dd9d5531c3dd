//! One process serves several clients cooperatively with `wait()`: no
//! threads, no green threads, one loop that handles whichever connection
//! is ready (the answer to the gevent examples).
//!
//! ```python
//! from multiprocessing import Process, Pipe
//! from multiprocessing.connection import wait
//!
//! def client(conn, n):
//!     for i in range(3):
//!         conn.send("client %d request %d" % (n, i))
//!         print("client", n, "got", conn.recv())
//!     conn.close()
//!
//! if __name__ == "__main__":
//!     conns = []
//!     for n in range(3):
//!         server_end, client_end = Pipe()
//!         Process(target=client, args=(client_end, n)).start()
//!         client_end.close()
//!         conns.append(server_end)
//!     while conns:
//!         for c in wait(conns):
//!             try:
//!                 msg = c.recv()
//!             except EOFError:
//!                 conns.remove(c)
//!             else:
//!                 c.send(msg.upper())
//! ```

use std::os::fd::AsFd as _;

use mproc::ErrorKind;
use mproc::ipc::{Connection, Pipe, wait};
use mproc::process::{self, Process};
use mproc::shm::FixedStr;

type Msg = FixedStr<32>;
const CLIENTS: usize = 3;
const REQUESTS: usize = 3;

fn client(conn: Connection, n: usize) -> i32 {
    for i in 0..REQUESTS {
        let Ok(request) = format!("client {n} request {i}").parse::<Msg>() else {
            return 1;
        };
        if conn.send(&request).is_err() {
            return 1;
        }
        match conn.recv::<Msg>() {
            Ok(reply) if reply.as_str() == request.as_str().to_uppercase() => {
                println!("client {n} got {reply}");
            }
            _ => return 1,
        }
    }
    0 // dropping `conn` closes it: the server reads end-of-stream
}

/// Starts the clients, serves them until each has hung up, and checks
/// that every request was answered.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut conns = Vec::new();
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let (server_end, client_end) = Pipe::duplex()?;
        // The client end moves into the target, which `start` drops in this
        // process: only the client holds it then.
        let mut p = Process::new(move || process::exit(client(client_end, n)));
        p.start()?;
        clients.push(p);
        conns.push(server_end);
    }
    let mut served = 0;
    while !conns.is_empty() {
        let fds: Vec<_> = conns.iter().map(|c| c.as_fd()).collect();
        let ready = wait(&fds, None)?;
        drop(fds);
        // Highest index first, so removing one keeps the others' indices.
        let ready: Vec<usize> = ready.iter().collect();
        for &i in ready.iter().rev() {
            match conns[i].recv::<Msg>() {
                Ok(msg) => {
                    conns[i].send(&msg.as_str().to_uppercase().parse::<Msg>()?)?;
                    served += 1;
                }
                Err(e) if e.kind() == ErrorKind::EndOfStream => {
                    conns.remove(i);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    for p in &clients {
        let code = p.join()?;
        if code != 0 {
            return Err(format!("{} exited with {code}", p.name()).into());
        }
    }
    println!("served {served} requests from {CLIENTS} clients in one loop");
    if served != CLIENTS * REQUESTS {
        return Err(format!("served {served}, expected {}", CLIENTS * REQUESTS).into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
