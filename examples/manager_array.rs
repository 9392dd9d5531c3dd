//! A manager's `Array`: ten children each square one cell, the parent
//! reads it whole, and an index past the end is an `IndexError`.
//!
//! ```python
//! from multiprocessing import Process, Manager
//!
//! def square(a, i):
//!     a[i] = a[i] * a[i]
//!
//! if __name__ == "__main__":
//!     with Manager() as manager:
//!         a = manager.Array("i", range(10))
//!         ps = [Process(target=square, args=(a, i)) for i in range(len(a))]
//!         for p in ps:
//!             p.start()
//!         for p in ps:
//!             p.join()
//!         print(a[:])                      # [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
//!         print(len(a), a[-1])             # 10 81
//!         try:
//!             a[10] = 0
//!         except IndexError as e:
//!             print("IndexError:", e)
//! ```
//!
//! The typecode `"i"` is the item type, `i32`; the array's length is the
//! sequence's and never changes. `a[:]` is `snapshot` (or, without
//! allocating, `snapshot_into` a buffer of the caller's).

use mproc::ErrorKind;
use mproc::manager::Manager;
use mproc::process::Process;

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Manager::start()?;
    let start: Vec<i32> = (0..10).collect();
    let a = manager.array::<i32>(&start)?;
    let mut ps: Vec<_> = (0..a.len()? as i64)
        .map(|i| {
            let a = &a;
            Process::new(move || {
                let x = a.get(i).unwrap();
                a.set(i, &(x * x)).unwrap();
            })
        })
        .collect();
    for p in &mut ps {
        p.start()?;
    }
    for p in &ps {
        p.join()?;
    }
    let squares = a.snapshot()?;
    println!("{squares:?}");
    println!("{} {}", a.len()?, a.get(-1)?);
    let want: Vec<i32> = (0..10).map(|x| x * x).collect();
    if squares != want {
        return Err(format!("the array holds {squares:?}").into());
    }
    match a.set(10, &0) {
        Err(e) if matches!(e.kind(), ErrorKind::IndexOutOfRange { .. }) => {
            println!("IndexError: {e}");
        }
        other => return Err(format!("a[10] = 0 gave {other:?}").into()),
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
