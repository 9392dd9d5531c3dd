//! `kill -USR1` to status line: latency, pinned and unpinned.

use super::*;

/// Per signal: µs to the line, µs to the counter, ns per poll iteration.
#[derive(Default)]
pub(super) struct Latency {
    /// Where the bench and the daemon ran.
    pub(super) placement: String,
    pub(super) line: Vec<f64>,
    pub(super) counter: Vec<f64>,
    pub(super) poll_ns: Vec<f64>,
    /// Signals whose line the first poll found already (the bench was off
    /// its CPU while the daemon answered).
    pub(super) first_look: usize,
    /// The master's CPU time per report, µs: its CPU clock read before
    /// each signal, after the gap (by then it sleeps again).
    pub(super) master_us: Vec<f64>,
}

/// Both placements: unpinned, then (with 2 CPUs or more) the bench on its
/// CPU and the daemon on the others.
pub(super) fn bench_usr1(plan: &Plan, bins: &Binaries) -> Result<Vec<Latency>> {
    let mut all = vec![guarded("USR1 latency, unpinned", PATIENCE, || {
        usr1_run(plan, bins, "unpinned: bench and daemon on any CPU", None)
    })?];
    let cpus = get_affinity()?;
    // SAFETY: sched_getcpu has no preconditions.
    let here = usize::try_from(unsafe { libc::sched_getcpu() }).ok();
    let others: Vec<usize> = cpus_of(&cpus)
        .into_iter()
        .filter(|&c| Some(c) != here)
        .collect();
    if let (Some(here), false) = (here, others.is_empty()) {
        let mut set = empty_cpu_set();
        for &c in &others {
            // SAFETY: CPU_SET writes inside the set for c < CPU_SETSIZE
            // (cpus_of lists no other).
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        let mut mine = empty_cpu_set();
        // SAFETY: as above; `here` is a CPU this process runs on.
        unsafe { libc::CPU_SET(here, &mut mine) };
        set_affinity(&mine)?;
        let placement = format!("apart: the bench on CPU {here}, the daemon on CPU {others:?}");
        let run = guarded("USR1 latency, apart", PATIENCE, || {
            usr1_run(plan, bins, &placement, Some(set))
        });
        set_affinity(&cpus)?;
        all.push(run?);
    }
    Ok(all)
}

pub(super) fn usr1_run(
    plan: &Plan,
    bins: &Binaries,
    placement: &str,
    cpus: Option<libc::cpu_set_t>,
) -> Result<Latency> {
    let mut d = Daemon::start(&bins.daemon, 2, cpus)?;
    d.settle(plan.settle)?;
    let mut log = File::open(&d.log)?;
    let mut s = Latency {
        placement: placement.to_owned(),
        ..Latency::default()
    };
    let mut text = String::new();
    let master = d.pid.as_raw();
    let mut cpu_before: Option<Usage> = None;
    for i in 0..=plan.warm_signals + plan.signals {
        std::thread::sleep(plan.gap);
        // What the master used since the last signal: the last report.
        let cpu = Usage::of_pid(master);
        if i > plan.warm_signals
            && let (Some(now), Some(then)) = (cpu, cpu_before)
        {
            s.master_us.push(now.since(then).cpu_ns as f64 / 1e3);
        }
        cpu_before = cpu;
        if i == plan.warm_signals + plan.signals {
            break;
        }
        let board = d.board();
        let n = board.reports.load(Relaxed) + 1;
        let before = log.metadata()?.len();
        let start = Instant::now();
        signal::kill(d.pid, Signal::USR1)?;
        let (mut line, mut counter, mut polls, mut first) = (None, None, 0u64, false);
        while line.is_none() || counter.is_none() {
            polls += 1;
            if line.is_none() && log.metadata()?.len() > before {
                line = Some(start.elapsed());
                first = polls == 1;
            }
            if counter.is_none() && board.reports.load(Relaxed) >= n {
                counter = Some(start.elapsed());
            }
            if start.elapsed() > STEP {
                return Err(format!(
                    "no status line {n} within {STEP:?} of SIGUSR1\n{}",
                    d.dump()
                )
                .into());
            }
        }
        let polled = start.elapsed();
        log.seek(SeekFrom::Start(before))?;
        text.clear();
        log.read_to_string(&mut text)?;
        if !text.contains(&format!(" status #{n} pid={} ", d.pid)) {
            return Err(format!("after SIGUSR1 #{n} the log grew by {text:?}").into());
        }
        if i >= plan.warm_signals {
            let us = |t: Option<Duration>| t.map_or(f64::NAN, |t| t.as_secs_f64() * 1e6);
            s.line.push(us(line));
            s.counter.push(us(counter));
            s.poll_ns.push(ns_per_op(polled, polls as f64));
            s.first_look += usize::from(first);
        }
    }
    if d.board().reports.load(Relaxed) != (plan.warm_signals + plan.signals) as u64 {
        return Err(format!("the daemon counted other reports\n{}", d.dump()).into());
    }
    d.stop()?;
    Ok(s)
}

pub(super) fn empty_cpu_set() -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is the empty set.
    unsafe { std::mem::zeroed() }
}

pub(super) fn get_affinity() -> Result<libc::cpu_set_t> {
    let mut set = empty_cpu_set();
    // SAFETY: `set` is valid storage; sched_getaffinity writes at most its
    // size.
    if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Err(os_error("sched_getaffinity"));
    }
    Ok(set)
}

pub(super) fn set_affinity(set: &libc::cpu_set_t) -> Result<()> {
    // SAFETY: `set` is a live cpu_set_t; the kernel reads its size.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(os_error("sched_setaffinity"));
    }
    Ok(())
}

/// The CPUs in `set`.
pub(super) fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads inside the set for i < CPU_SETSIZE.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, set) })
        .collect()
}
