//! A type of your own, served by a manager: a `Counter` registered with
//! the manager, incremented 50 times by each of five pool tasks.
//!
//! ```python
//! from multiprocessing import Pool
//! from multiprocessing.managers import BaseManager
//!
//! class Counter:
//!     def __init__(self):
//!         self.count = 0
//!     def increment(self):
//!         self.count += 1
//!     def value(self):
//!         return self.count
//!
//! class MyManager(BaseManager):
//!     pass
//!
//! MyManager.register('Counter', Counter)
//!
//! def work(counter):
//!     for _ in range(50):
//!         counter.increment()
//!
//! if __name__ == '__main__':
//!     with MyManager() as m:
//!         c = m.Counter()
//!         with Pool(5) as pool:
//!             pool.map(work, [c] * 5)
//!         print(c.value())                     # 250
//! ```
//!
//! The counter lives in the manager's server process, and every call is
//! one request the server answers in turn, so `increment` needs no lock:
//! no update is lost.
//!
//! - `MyManager.register('Counter', Counter)` is
//!   [`Builder::register`](mproc::manager::Builder::register), and the
//!   class's methods are [`Method`] constants with a number and fixed-size
//!   argument and result types, answered in [`Served::serve`]. The server
//!   checks both types on every call.
//! - `m.Counter()` is [`create`](mproc::manager::Client::create); its
//!   argument goes to [`Served::new`] (Python's `__init__` arguments).
//! - Python pickles the proxy `c` into each task, and the worker
//!   reconnects to the manager; here the task's argument is the proxy's
//!   [`Token`] (plain data, copied into the task), and the worker's
//!   [`Token::connect`] makes its connection and its proxy.

use mproc::manager::{Call, Manager, Method, Proxy, Served, Token};
use mproc::pool::Pool;
use mproc::shm::FixedStr;

/// Python's `Counter`, kept on the server.
pub struct Counter {
    count: u64,
}

/// `counter.increment()`.
pub const INCREMENT: Method<(), ()> = Method::new(0);
/// `counter.value()`.
pub const VALUE: Method<(), u64> = Method::new(1);

impl Served for Counter {
    const TYPEID: &'static str = "Counter";
    /// The count it starts from.
    type Init = u64;

    fn new(start: u64) -> Counter {
        Counter { count: start }
    }

    fn serve(&mut self, call: &mut Call<'_>) {
        call.on(INCREMENT, |()| self.count += 1);
        call.on(VALUE, |()| self.count);
    }
}

/// Pool workers, tasks, and increments per task.
const WORKERS: usize = 5;
const TASKS: usize = 5;
const INCREMENTS: u64 = 50;

/// Why a task failed, cut to 96 bytes (a task's result is plain data).
type Failure = FixedStr<96>;

fn failure(e: &mproc::Error) -> Failure {
    let text = e.to_string();
    let mut cut = text.len().min(96);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].parse().unwrap_or_default()
}

/// The task, run in a pool worker: `for _ in range(50): counter.increment()`.
fn work(counter: Token<Proxy<Counter>>) -> Result<(), Failure> {
    let counter = counter.connect().map_err(|e| failure(&e))?;
    for _ in 0..INCREMENTS {
        counter.call(INCREMENT, &()).map_err(|e| failure(&e))?;
    }
    Ok(())
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let m = Manager::builder().register::<Counter>().start()?;
    let c = m.create::<Counter>(&0)?;
    {
        let pool = Pool::new(WORKERS)?;
        let done = pool.map(work, std::iter::repeat_n(c.token(), TASKS), None)?;
        for outcome in done {
            outcome.map_err(|f| format!("a task failed: {f}"))?;
        }
        pool.close();
        pool.join()?;
    }
    let value = c.call(VALUE, &())?;
    println!("Pool({WORKERS}).map(work, [c] * {TASKS}): {INCREMENTS} increments each");
    println!("{value}");
    let expected = TASKS as u64 * INCREMENTS;
    if value != expected {
        return Err(format!("c.value() is {value}, not {expected}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
