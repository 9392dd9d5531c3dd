//! Size table, program (b): (a) plus shared memory and a process-shared
//! lock: a child and this process add to a `Value` under its lock, 10,000
//! times each. Measured as (a) is.

use mproc::process::Process;
use mproc::shm::Value;
use mproc::signal::{SigSet, Signal};

fn main() -> mproc::Result<()> {
    let steps = SigSet::from_signals(&[Signal::USR1, Signal::TERM]);
    let _blocked = steps.block()?;
    let total = Value::new(0u64)?;
    let add = || {
        for _ in 0..10_000 {
            *total.lock().unwrap_or_else(|died| died.into_guard()) += 1;
        }
    };
    println!("ready");
    steps.wait()?;
    let mut p = Process::new(add);
    p.start()?;
    add();
    p.join()?;
    println!("done {}", total.get());
    steps.wait()?;
    Ok(())
}
