//! A daemon child dies with its parent — even when the parent is SIGKILLed.
//!
//! ```python
//! def middle(conn):
//!     d = Process(target=time.sleep, args=(1000,), daemon=True, name="D")
//!     d.start()
//!     conn.send(d.pid)
//!     time.sleep(1000)
//!
//! p = Process(target=middle, args=(w,), name="P"); p.start()
//! d_pid = r.recv()
//! p.kill(); p.join()                 # p.exitcode == -9
//! os.waitpid(d_pid, 0)               # D was killed with P
//! ```
//!
//! SIGKILL skips every clean-up P could run, so D's death comes from the
//! kernel (`PR_SET_PDEATHSIG`). To see it, this process makes itself a child
//! subreaper: the orphaned D is adopted by us, and we can reap it.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use mproc::process::{self, Pid, Process};
use mproc::signal::{self, Signal};

/// Runs the scenario (a child subreaper only for its duration).
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    process::set_child_subreaper(true)?;
    let result = kill_middle();
    process::set_child_subreaper(false)?;
    result
}

fn kill_middle() -> Result<(), Box<dyn std::error::Error>> {
    let (mut pid_rx, pid_tx) = std::io::pipe()?;
    let mut p = Process::new(move || {
        let mut pid_tx = pid_tx;
        let mut d = Process::new(|| std::thread::sleep(Duration::from_secs(1000)))
            .with_name("D")
            .unwrap()
            .daemon(true);
        d.start().unwrap();
        let d_pid = d.pid().unwrap().as_raw();
        pid_tx.write_all(&d_pid.to_le_bytes()).unwrap();
        drop(pid_tx);
        std::thread::sleep(Duration::from_secs(1000));
    })
    .with_name("P")?;
    p.start()?;
    let mut buf = [0u8; 4];
    let received = pid_rx.read_exact(&mut buf);

    // Whatever P managed to send, it dies now, as if it had crashed.
    p.kill()?;
    println!(
        "P ({}) killed: exitcode {}",
        p.pid().ok_or("no pid")?,
        p.join()?
    );
    received?;
    let d = Pid::from_raw(i32::from_le_bytes(buf)).ok_or("bad pid from P")?;

    match process::waitpid_timeout(d, Duration::from_secs(5))? {
        Some(code) => {
            println!("D ({d}), daemon child of P: exitcode {code} (killed with its parent)")
        }
        None => {
            signal::kill(d, Signal::KILL)?;
            process::waitpid(d)?;
            return Err(format!("daemon D ({d}) outlived its parent").into());
        }
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
