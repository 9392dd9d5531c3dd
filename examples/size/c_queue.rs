//! Size table, program (c): (b) plus `Queue` and `Pipe`: 10,000 round
//! trips through a queue each way and 10,000 through a duplex pipe, with
//! a child echoing. Measured as (a) is.

use mproc::ipc::{Pipe, Queue};
use mproc::process::Process;
use mproc::signal::{SigSet, Signal};

fn main() -> mproc::Result<()> {
    let steps = SigSet::from_signals(&[Signal::USR1, Signal::TERM]);
    let _blocked = steps.block()?;
    let (to, back) = (Queue::<u64, 16>::new()?, Queue::<u64, 16>::new()?);
    let (here, there) = Pipe::duplex()?;
    println!("ready");
    steps.wait()?;
    let mut echo = Process::new(|| {
        for _ in 0..10_000 {
            let _ = back.put(to.get().unwrap_or(0));
            let n: u64 = there.recv().unwrap_or(0);
            let _ = there.send(&n);
        }
    });
    echo.start()?;
    let mut sum = 0;
    for i in 0..10_000u64 {
        to.put(i)?;
        sum += back.get()?;
        here.send(&i)?;
        sum += here.recv::<u64>()?;
    }
    echo.join()?;
    println!("done {sum}");
    steps.wait()?;
    Ok(())
}
