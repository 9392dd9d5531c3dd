//! A daemon child dies with its parent — even when the parent is SIGKILLed.
//!
//! ```python
//! def parent():
//!     d = Process(target=time.sleep, args=(1000,), daemon=True)
//!     d.start()
//!     ...                                  # the parent dies here
//! ```
//!
//! Here a middle process starts a daemon, tells us its pid, and is killed
//! with SIGKILL (which skips every clean-up a parent could run). We adopt
//! the orphan as a child subreaper and watch it die: `PR_SET_PDEATHSIG`.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use mproc::process::{self, Pid, Process};

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    process::set_child_subreaper(true)?;
    let (mut pid_rx, pid_tx) = std::io::pipe()?;
    let mut pid_tx = Some(pid_tx);
    let mut parent = Process::new(move || {
        let mut daemon = Process::new(|| std::thread::sleep(Duration::from_secs(1000)))
            .with_name("daemon")
            .unwrap()
            .daemon(true);
        daemon.start().unwrap();
        let pid = daemon.pid().unwrap().as_raw();
        pid_tx
            .take()
            .unwrap()
            .write_all(&pid.to_le_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_secs(1000));
    })
    .with_name("parent")?;
    parent.start()?;
    let mut buf = [0u8; 4];
    pid_rx.read_exact(&mut buf)?;
    let daemon = Pid::from_raw(i32::from_le_bytes(buf)).ok_or("bad pid")?;
    println!(
        "parent {} started daemon {daemon}",
        parent.pid().ok_or("no pid")?
    );
    parent.kill()?;
    println!("parent killed: exit code {}", parent.join()?);
    match process::waitpid_timeout(daemon, Duration::from_secs(5))? {
        Some(code) => println!("daemon {daemon} died with its parent: exit code {code}"),
        None => return Err(format!("daemon {daemon} outlived its parent").into()),
    }
    process::set_child_subreaper(false)?;
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
