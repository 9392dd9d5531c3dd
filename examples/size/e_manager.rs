//! Size table, program (e): (d) plus `Manager`: a dict set and read
//! 10,000 times through the manager's server process. Measured as (a) is
//! (this process only, not the server).

use mproc::manager::Manager;
use mproc::signal::{SigSet, Signal};

fn main() -> mproc::Result<()> {
    let steps = SigSet::from_signals(&[Signal::USR1, Signal::TERM]);
    let _blocked = steps.block()?;
    let manager = Manager::start()?;
    let d = manager.dict::<u32, u64>(64)?;
    println!("ready");
    steps.wait()?;
    for i in 0..10_000u64 {
        d.set(&((i % 64) as u32), &i)?;
        let _ = d.get(&((i % 64) as u32))?;
    }
    println!("done {}", d.len()?);
    steps.wait()?;
    manager.shutdown()
}
