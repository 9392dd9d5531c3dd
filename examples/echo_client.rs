//! The echo server's client: connects, sends a few lines, prints each
//! reply (the line upper-cased, and the pid of the pool worker that
//! served it). `examples/echo_server.rs` runs this logic in its clients.
//!
//! ```python
//! import socket, sys
//!
//! if __name__ == "__main__":
//!     host, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8765").split(":")
//!     with socket.create_connection((host, int(port))) as s:
//!         f = s.makefile("rw")
//!         for line in sys.argv[2:] or ["hello", "pool-served echo", "bye"]:
//!             f.write(line + "\n")
//!             f.flush()
//!             print(f.readline().rstrip())
//! ```
//!
//! `cargo run --example echo_client -- [ADDR [LINE...]]`, against
//! `cargo run --example echo_server -- ADDR` (default `127.0.0.1:8765`).
//! Every reply is checked: it must be the line, upper-cased, with the
//! serving worker's pid.

use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where `echo_server ADDR` listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8765";

/// The lines sent when none are given.
pub const DEFAULT_LINES: [&str; 3] = ["hello", "pool-served echo", "bye"];

/// How long a client waits for a reply before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One reply of the server: the upper-cased line and the pid of the pool
/// worker that served the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The line as the server sent it back.
    pub text: String,
    /// The serving worker's pid.
    pub pid: i32,
}

/// How a reply line is written: the text, then the pid.
pub fn format_reply(text: &str, pid: i32) -> String {
    format!("{text} [pid {pid}]")
}

fn parse_reply(line: &str) -> Option<Reply> {
    let (text, pid) = line.strip_suffix(']')?.rsplit_once(" [pid ")?;
    Some(Reply {
        text: text.to_owned(),
        pid: pid.parse().ok()?,
    })
}

/// A connection to the echo server.
pub struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    /// Connects to `addr`.
    ///
    /// # Errors
    ///
    /// The connection's failure (refused, unreachable).
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Client {
            stream: BufReader::new(stream),
        })
    }

    /// This end's local port (the server sees it as the peer's).
    ///
    /// # Errors
    ///
    /// The kernel's refusal of `getsockname`.
    pub fn local_port(&self) -> io::Result<u16> {
        Ok(self.stream.get_ref().local_addr()?.port())
    }

    /// Sends one line (without its newline).
    ///
    /// # Errors
    ///
    /// The connection's failure.
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        // One write per line: written in pieces, the second piece would
        // wait for the first one's (delayed) acknowledgement (Nagle).
        self.stream
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
    }

    /// Waits for the reply to `line` and checks it is `line` upper-cased.
    ///
    /// # Errors
    ///
    /// The connection's failure, no reply within 10 s (`WouldBlock`), the
    /// server hanging up (`UnexpectedEof`), or a wrong reply
    /// (`InvalidData`).
    pub fn expect(&mut self, line: &str) -> io::Result<Reply> {
        let mut raw = String::new();
        if self.stream.read_line(&mut raw)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server hung up",
            ));
        }
        match parse_reply(raw.trim_end()) {
            Some(reply) if reply.text == line.to_uppercase() => Ok(reply),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{line:?} was answered with {raw:?}"),
            )),
        }
    }

    /// Sends `line` and waits for its reply ([`Client::send`], then
    /// [`Client::expect`]).
    ///
    /// # Errors
    ///
    /// As those two.
    pub fn ask(&mut self, line: &str) -> io::Result<Reply> {
        self.send(line)?;
        self.expect(line)
    }
}

/// Connects to `addr`, sends each line and checks its reply, printed with
/// `name`; hangs up at the end (dropping the connection). Returns the
/// replies.
///
/// # Errors
///
/// As [`Client::connect`] and [`Client::ask`].
pub fn converse(addr: impl ToSocketAddrs, name: &str, lines: &[&str]) -> io::Result<Vec<Reply>> {
    let mut client = Client::connect(addr)?;
    let mut replies = Vec::with_capacity(lines.len());
    for line in lines {
        let reply = client.ask(line)?;
        println!(
            "{name} sent {line:?}, got {:?}",
            format_reply(&reply.text, reply.pid)
        );
        replies.push(reply);
    }
    Ok(replies)
}

/// Talks to the server at the address given on the command line.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let given: Vec<String> = args.collect();
    let lines: Vec<&str> = if given.is_empty() {
        DEFAULT_LINES.to_vec()
    } else {
        given.iter().map(String::as_str).collect()
    };
    converse(addr.as_str(), "client", &lines)?;
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
