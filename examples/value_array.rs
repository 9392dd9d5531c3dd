//! Shared `Value` and `Array`, as in Python's documentation — the child run
//! twice, one after the other — and a shared string.
//!
//! ```python
//! from multiprocessing import Process, Value, Array
//! from ctypes import c_char_p
//!
//! def f(n, a):
//!     n.value = 3.1415927
//!     for i in range(len(a)):
//!         a[i] = -a[i]
//!
//! num = Value('d', 0.0)
//! arr = Array('i', range(10))
//! for _ in range(2):
//!     p = Process(target=f, args=(num, arr))
//!     p.start()
//!     p.join()
//!     print(num.value)                     # 3.1415927
//!     print(arr[:])                        # [0, -1, ..., -9], then [0, 1, ..., 9]
//!
//! def g(s):
//!     s.value = b"World"
//!
//! s = Value(c_char_p, b"Hello")
//! p = Process(target=g, args=(s,)); p.start(); p.join()
//! print(s.value)                           # b'World'
//! ```
//!
//! Python's `c_char_p` in shared memory is a pointer into the child's own
//! heap, so the parent cannot read what a child stored; `FixedStr<32>`
//! holds the bytes themselves.

use mproc::process::Process;
use mproc::shm::{Array, FixedStr, Value};

/// The number from Python's documentation (not `std::f64::consts::PI`).
#[allow(clippy::approx_constant)]
const NUM: f64 = 3.1415927;

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let num = Value::new(0.0f64)?;
    let arr = Array::<i32, 10>::from_fn(|i| i as i32)?;
    let f = || {
        num.set(NUM);
        // One lock for the whole loop: Python's `a[i] = -a[i]` takes it
        // twice per element.
        let mut a = arr.lock().unwrap_or_else(|died| died.into_guard());
        for x in a.iter_mut() {
            *x = -*x;
        }
    };

    for run in 1..=2 {
        let mut p = Process::new(f);
        p.start()?;
        let code = p.join()?;
        if code != 0 {
            return Err(format!("child {run} exited with {code}").into());
        }
        let (n, a) = (num.get(), arr.to_array());
        println!("child {run}: num = {n}, arr = {a:?}");
        let sign = if run == 1 { -1 } else { 1 };
        if n != NUM || a != std::array::from_fn(|i| sign * i as i32) {
            return Err(format!("child {run} left num = {n}, arr = {a:?}").into());
        }
    }

    let s = Value::<FixedStr<32>>::new("Hello".parse()?)?;
    println!("s = {:?}", s.get());
    let world = "World".parse()?;
    let g = || s.set(world);
    let mut p = Process::new(g);
    p.start()?;
    let code = p.join()?;
    let text = s.get();
    println!("after the child: s = {text:?}");
    if code != 0 || text != "World" {
        return Err(format!("child exited with {code}, s = {text:?}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
