//! Producer/consumer over a `Queue` with a poison pill: one cook and one
//! eater, then three cooks and two eaters (the baozi example).
//!
//! ```python
//! from multiprocessing import Process, Queue
//!
//! def cook(name, q, n):
//!     for i in range(n):
//!         q.put("%s's baozi %d" % (name, i))
//!
//! def eater(name, q):
//!     while True:
//!         baozi = q.get()
//!         if baozi is None:           # the poison pill
//!             break
//!         print(name, "ate", baozi)
//!
//! if __name__ == "__main__":
//!     q = Queue(4)
//!     cooks = [Process(target=cook, args=("cook-%d" % c, q, 5)) for c in range(3)]
//!     eaters = [Process(target=eater, args=("eater-%d" % e, q)) for e in range(2)]
//!     for p in cooks + eaters: p.start()
//!     for p in cooks: p.join()
//!     for _ in eaters: q.put(None)    # one pill per eater, after all cooks
//!     for p in eaters: p.join()
//! ```
//!
//! Items are fixed-size values: a baozi is `cook * 100 + n`, and
//! `NONE` (`u32::MAX`) plays Python's `None`. Every eater also counts
//! what it ate in shared memory, so the run checks that each baozi was
//! eaten exactly once.

use std::sync::atomic::{AtomicU32, Ordering};

use mproc::ipc::Queue;
use mproc::process::Process;
use mproc::shm::Shared;

const NONE: u32 = u32::MAX;
const MAX_COOKS: usize = 3;
const PER_COOK: u32 = 5;

type Baozi = Queue<u32, 4>;
type Eaten = [AtomicU32; MAX_COOKS * 100];

fn cook(c: u32, q: &Baozi) {
    for i in 0..PER_COOK {
        let baozi = c * 100 + i;
        if q.put(baozi).is_err() {
            std::process::exit(1);
        }
        println!("cook-{c} made baozi {baozi}");
    }
}

fn eater(e: u32, q: &Baozi, eaten: &Eaten) {
    loop {
        match q.get() {
            Ok(NONE) => return,
            Ok(baozi) => {
                println!("eater-{e} ate baozi {baozi}");
                if let Some(count) = eaten.get(baozi as usize) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => std::process::exit(1),
        }
    }
}

/// `cooks` cooks and `eaters` eaters share one queue; checks every baozi
/// was eaten once.
fn feast(cooks: u32, eaters: u32) -> Result<(), Box<dyn std::error::Error>> {
    let q = Baozi::new()?;
    let eaten = Shared::new([const { AtomicU32::new(0) }; MAX_COOKS * 100])?;
    let (q_ref, eaten_ref) = (&*q, &*eaten);
    let mut cook_ps: Vec<_> = (0..cooks)
        .map(|c| Process::new(move || cook(c, q_ref)))
        .collect();
    let mut eater_ps: Vec<_> = (0..eaters)
        .map(|e| Process::new(move || eater(e, q_ref, eaten_ref)))
        .collect();
    for p in &mut cook_ps {
        p.start()?;
    }
    for p in &mut eater_ps {
        p.start()?;
    }
    for p in &mut cook_ps {
        ended_well(p.join()?)?;
    }
    for _ in 0..eaters {
        q.put(NONE)?; // one pill per eater, after all cooks
    }
    for p in &mut eater_ps {
        ended_well(p.join()?)?;
    }
    for c in 0..cooks {
        for i in 0..PER_COOK {
            let n = eaten[(c * 100 + i) as usize].load(Ordering::Relaxed);
            if n != 1 {
                return Err(format!("baozi {} was eaten {n} times", c * 100 + i).into());
            }
        }
    }
    println!("all {} baozi eaten exactly once", cooks * PER_COOK);
    Ok(())
}

fn ended_well(code: i32) -> Result<(), Box<dyn std::error::Error>> {
    match code {
        0 => Ok(()),
        _ => Err(format!("a cook or eater exited with {code}").into()),
    }
}

/// One cook and one eater, then three cooks and two eaters.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    feast(1, 1)?;
    feast(3, 2)
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
