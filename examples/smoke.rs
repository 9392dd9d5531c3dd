use mproc::process::{self, Process};
use std::time::{Duration, Instant};
fn main() -> Result<(), mproc::Error> {
    let t = Instant::now();
    for _ in 0..1000 { let _ = process::thread_count()?; }
    println!("thread_count: {:?}/call", t.elapsed() / 1000);
    let mut p = Process::new(|| { println!("child {}", process::current_process().name); 3 });
    p.start()?;
    println!("join -> {}", p.join()?);
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(10)));
    p.start()?;
    println!("timeout -> {:?}", p.join_timeout(Duration::from_millis(100))?);
    p.kill()?;
    println!("after kill -> {}", p.join()?);
    let mut p = Process::new(|| -> () { panic!("boom") });
    p.start()?;
    println!("panic -> {}", p.join()?);
    let t = Instant::now();
    for _ in 0..200 { let mut p = Process::new(|| ()); p.start()?; p.join()?; }
    println!("spawn+join: {:?}", t.elapsed() / 200);
    Ok(())
}
