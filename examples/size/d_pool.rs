//! Size table, program (d): (c) plus `Pool`: `Pool(2).apply` 10,000
//! times. Measured as (a) is (this process only, not its workers).

use mproc::pool::Pool;
use mproc::signal::{SigSet, Signal};

fn square(n: u64) -> u64 {
    n * n
}

fn main() -> mproc::Result<()> {
    let steps = SigSet::from_signals(&[Signal::USR1, Signal::TERM]);
    let _blocked = steps.block()?;
    let pool = Pool::new(2)?;
    println!("ready");
    steps.wait()?;
    let mut sum = 0u64;
    for i in 0..10_000 {
        sum = sum.wrapping_add(pool.apply(square, i)?);
    }
    println!("done {sum}");
    steps.wait()?;
    pool.close();
    pool.join()
}
