//! A tokio server that hands CPU-bound work to a process [`Pool`] and
//! awaits the results: Python's `loop.run_in_executor` with a
//! `ProcessPoolExecutor`.
//!
//! ```python
//! import asyncio
//! from concurrent.futures import ProcessPoolExecutor
//!
//! def fib(n):
//!     return n if n < 2 else fib(n - 1) + fib(n - 2)
//!
//! async def handle(reader, writer):
//!     loop = asyncio.get_running_loop()
//!     while line := await reader.readline():
//!         n = int(line)
//!         result = await loop.run_in_executor(pool, fib, n)
//!         writer.write(f"fib({n}) = {result}\n".encode())
//!         await writer.drain()
//!     writer.close()
//!
//! async def main():
//!     server = await asyncio.start_server(handle, "127.0.0.1", 0)
//!     async with server:
//!         await server.serve_forever()
//!
//! if __name__ == "__main__":
//!     pool = ProcessPoolExecutor(4)
//!     asyncio.run(main())
//! ```
//!
//! Here `pool.apply_async(fib, n)?.await` is `await
//! loop.run_in_executor(pool, fib, n)`: the task runs in a worker
//! process while this thread serves the other connections, and the
//! pool's [`watch`](Pool::watch) descriptor wakes the awaiting task when
//! the result is in (no thread is parked in the pool).
//!
//! **The fork rule.** The pool's workers are forked when the pool is
//! made, so make it *before* the runtime (the crate forks only a
//! single-threaded process), and use the current-thread runtime: it
//! starts no thread, so the pool can also fork a replacement for a
//! worker that dies. The pool belongs to this thread (it is not `Send`):
//! the connections are `spawn_local` tasks of a `LocalSet`, sharing it
//! through an `Rc`.
//!
//! The example serves on 127.0.0.1 (port from the first argument, else
//! any free one) and, unless given `--serve`, runs a few clients against
//! itself, prints their answers and exits:
//!
//! ```text
//! cargo run --features tokio --example async_pool
//! cargo run --features tokio --example async_pool -- 8888 --serve
//! printf '30\n31\n' | nc 127.0.0.1 8888
//! ```

use std::rc::Rc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use mproc::pool::Pool;

/// The CPU-bound work: runs in a worker process.
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

/// One connection: a number per line in, `fib(n) = …` per line out.
async fn handle(pool: Rc<Pool>, stream: TcpStream) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = match line.trim().parse::<u64>() {
            // Python: await loop.run_in_executor(pool, fib, n)
            Ok(n) if n <= 45 => match pool.apply_async(fib, n) {
                Ok(r) => match r.await {
                    Ok(v) => format!("fib({n}) = {v}\n"),
                    Err(e) => format!("error: {e}\n"),
                },
                Err(e) => format!("error: {e}\n"),
            },
            _ => "error: send a number from 0 to 45\n".to_string(),
        };
        writer.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// A client that asks for `ns` on one connection and prints the answers.
async fn client(addr: std::net::SocketAddr, ns: &[u64]) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let (reader, mut writer) = stream.into_split();
    let ask: String = ns.iter().map(|n| format!("{n}\n")).collect();
    writer.write_all(ask.as_bytes()).await?;
    let mut lines = BufReader::new(reader).lines();
    for _ in ns {
        if let Some(line) = lines.next_line().await? {
            println!("client {ns:?}: {line}");
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(0);
    let serve_only = args.iter().any(|a| a == "--serve");

    // Fork first: the workers, while this process has one thread.
    let pool = Rc::new(Pool::new(4)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        println!(
            "serving fib on {addr} with {} worker processes",
            pool.processes()
        );
        let server = {
            let pool = Rc::clone(&pool);
            tokio::task::spawn_local(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let pool = Rc::clone(&pool);
                    tokio::task::spawn_local(async move {
                        if let Err(e) = handle(pool, stream).await {
                            eprintln!("connection: {e}");
                        }
                    });
                }
            })
        };
        if serve_only {
            server.await?;
            return Ok::<(), Box<dyn std::error::Error>>(());
        }
        // Three clients at once: their answers interleave, each waiting
        // only for its own work.
        let start = std::time::Instant::now();
        let clients = [
            tokio::task::spawn_local(async move { client(addr, &[32, 10]).await }),
            tokio::task::spawn_local(async move { client(addr, &[5, 31]).await }),
            tokio::task::spawn_local(async move { client(addr, &[30, 1, 2]).await }),
        ];
        for c in clients {
            c.await??;
        }
        println!("all answered in {:?}", start.elapsed());
        server.abort();
        Ok(())
    })?;
    Ok(())
}
