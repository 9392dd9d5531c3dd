//! `os.kill` between two processes: the receiver learns who sent it.
//!
//! ```python
//! # child: signal.sigwait({signal.SIGUSR1})
//! os.kill(child_pid, signal.SIGUSR1)
//! ```

use std::io::{Read as _, Write as _};
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal};

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (mut ready_rx, ready_tx) = std::io::pipe()?;
    let mut ready_tx = Some(ready_tx);
    let mut receiver = Process::new(move || {
        let usr1 = SigSet::from(Signal::USR1);
        let _blocked = usr1.block().unwrap();
        ready_tx.take().unwrap().write_all(b"r").unwrap(); // ready: USR1 is blocked
        let info = usr1.wait().unwrap();
        let sender = info.sender.map_or(0, |p| p.as_raw());
        println!(
            "receiver {}: got {} from pid {sender}",
            process::getpid(),
            info.signal
        );
        process::exit(if Some(process::getppid()) == info.sender {
            0
        } else {
            1
        });
    });
    receiver.start()?;
    ready_rx.read_exact(&mut [0u8; 1])?;
    let pid = receiver.pid().ok_or("no pid")?;
    println!("sender {}: kill({pid}, SIGUSR1)", process::getpid());
    signal::kill(pid, Signal::USR1)?;
    println!(
        "receiver exit code {} (0: the sender was its parent)",
        receiver.join()?
    );

    let mut sleeper = Process::new(|| std::thread::sleep(Duration::from_secs(1000)));
    sleeper.start()?;
    signal::kill(sleeper.pid().ok_or("no pid")?, Signal::TERM)?;
    println!("kill(sleeper, SIGTERM): exit code {}", sleeper.join()?);
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
