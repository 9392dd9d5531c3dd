//! `Pool.starmap`: tasks of several arguments, an instance method among
//! them, with no pickling helper.
//!
//! ```python
//! from multiprocessing import Pool
//!
//! class Calculator:
//!     def __init__(self, factor):
//!         self.factor = factor
//!     def scale(self, x, offset):
//!         return x * self.factor + offset
//!
//! def scale_helper(args):             # the pickling workaround: Pool could not
//!     calc, x, offset = args          # send the bound method calc.scale itself
//!     return calc.scale(x, offset)
//!
//! if __name__ == "__main__":
//!     calc = Calculator(3)
//!     with Pool(2) as pool:
//!         print(pool.map(scale_helper, [(calc, x, 1) for x in range(10)]))
//!         print(pool.starmap(pow, [(2, 10), (3, 4), (10, 3)]))
//! ```
//!
//! Nothing is pickled here, so no helper is needed: a method taking `self`
//! by value is a `fn` of three arguments, `Calculator::scale(calc, x,
//! offset)`, and `starmap` calls it with the fields of each `(calc, x,
//! offset)` tuple. The `Calculator` travels by its bytes, like the numbers
//! (it is a plain `Copy` struct that derives [`TaskData`]). Standard-library
//! methods are tasks the same way: `u64::pow` plays Python's `pow`.

use mproc::pool::{Pool, TaskData};

#[derive(TaskData, Clone, Copy, Debug)]
struct Calculator {
    factor: u64,
}

impl Calculator {
    fn scale(self, x: u64, offset: u64) -> u64 {
        x * self.factor + offset
    }
}

/// `starmap` with a method of three arguments, then with `u64::pow`.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let calc = Calculator { factor: 3 };
    let pool = Pool::new(2)?;

    let scaled = pool.starmap(Calculator::scale, (0..10).map(|x| (calc, x, 1)), None)?;
    println!("{calc:?}.scale(x, 1) for x in 0..10: {scaled:?}");
    let expected: Vec<u64> = (0..10).map(|x| x * 3 + 1).collect();
    if scaled != expected {
        return Err(format!("scale gave {scaled:?}").into());
    }

    let powers = pool.starmap(u64::pow, [(2, 10), (3, 4), (10, 3)], None)?;
    println!("pow over (2, 10), (3, 4), (10, 3): {powers:?}");
    if powers != [1024, 81, 1000] {
        return Err(format!("pow gave {powers:?}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
