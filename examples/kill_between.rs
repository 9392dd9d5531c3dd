//! `os.kill` between two processes: the receiver learns who sent the signal.
//!
//! ```python
//! def receiver(ready):
//!     signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
//!     ready.send(b"r")                          # USR1 is blocked: safe to send
//!     info = signal.sigwaitinfo({signal.SIGUSR1})
//!     print(f"got {info.si_signo} from pid {info.si_pid}")
//!     sys.exit(0 if info.si_pid == os.getppid() else 1)
//!
//! p = Process(target=receiver, args=(w,)); p.start()
//! r.recv()                                      # wait until it is ready
//! os.kill(p.pid, signal.SIGUSR1); p.join()      # p.exitcode == 0
//!
//! s = Process(target=time.sleep, args=(1000,)); s.start()
//! os.kill(s.pid, signal.SIGTERM); s.join()      # s.exitcode == -15
//! ```

use std::io::{Read as _, Write as _};
use std::time::Duration;

use mproc::process::{self, Process};
use mproc::signal::{self, SigSet, Signal};

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    // A child starts with an empty signal mask, so it blocks SIGUSR1 itself
    // and says so through the pipe; only then does the parent send it.
    let (mut ready_rx, ready_tx) = std::io::pipe()?;
    let mut receiver = Process::new(move || {
        let mut ready_tx = ready_tx;
        let usr1 = SigSet::from(Signal::USR1);
        let _blocked = usr1.block().unwrap();
        ready_tx.write_all(b"r").unwrap();
        drop(ready_tx);
        let info = usr1.wait().unwrap();
        let sender = info.sender.map_or(0, |p| p.as_raw());
        println!(
            "receiver ({}): got {} from pid {sender}",
            process::getpid(),
            info.signal
        );
        process::exit(if info.sender == Some(process::getppid()) {
            0
        } else {
            1
        });
    })
    .with_name("receiver")?;
    receiver.start()?;
    if let Err(e) = ready_rx.read_exact(&mut [0u8; 1]) {
        // End of file: the receiver ended before it was ready.
        receiver.join()?;
        return Err(e.into());
    }
    let pid = receiver.pid().ok_or("no pid")?;
    println!("sender ({}): os.kill({pid}, SIGUSR1)", process::getpid());
    signal::kill(pid, Signal::USR1)?;
    println!(
        "receiver exitcode {} (0: the sender was its parent)",
        receiver.join()?
    );

    let mut sleeper = Process::new(|| std::thread::sleep(Duration::from_secs(1000)));
    sleeper.start()?;
    let pid = sleeper.pid().ok_or("no pid")?;
    signal::kill(pid, Signal::TERM)?;
    println!("os.kill({pid}, SIGTERM): exitcode {}", sleeper.join()?);
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
