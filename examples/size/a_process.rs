//! Size table, program (a): `Process` and signals only. The measuring
//! script (`scripts/size-table.sh`) reads this process's memory at rest,
//! sends `SIGUSR1`, reads it again after 10,000 operations (here: a child
//! forked, signalled and joined, and a signal to itself, 10,000 times),
//! and sends `SIGTERM`.

use mproc::process::Process;
use mproc::signal::{self, SigSet, Signal};

fn main() -> mproc::Result<()> {
    let steps = SigSet::from_signals(&[Signal::USR1, Signal::TERM]);
    let _blocked = steps.block()?;
    println!("ready");
    steps.wait()?;
    let own = SigSet::from(Signal::USR2);
    let _own = own.block()?;
    for _ in 0..10_000 {
        let mut p = Process::new(|| {});
        p.start()?;
        p.join()?;
        signal::kill(mproc::process::getpid(), Signal::USR2)?;
        own.wait()?;
    }
    println!("done");
    steps.wait()?;
    Ok(())
}
