//! Jobs through the POSIX message queue: jobs/s and where the master's CPU goes.

use super::*;

/// Per round: jobs/s and CPU µs per job.
#[derive(Default)]
pub(super) struct Throughput {
    pub(super) workers: usize,
    pub(super) per_s: Vec<f64>,
    pub(super) master_us: Vec<f64>,
    pub(super) workers_us: Vec<f64>,
    pub(super) sender_us: Vec<f64>,
    /// (master + workers + sender) CPU time / wall time.
    pub(super) busy: Vec<f64>,
    /// The master's CPU per job ÷ the bare receiver's per message, in
    /// the same round.
    pub(super) master_to_floor: Vec<f64>,
}

/// The message queue's floor: a process that only waits for the queue
/// to be readable and drains it, as the master's loop does, and nothing
/// else (no pool, no log). Its CPU per message is what the system calls
/// a job needs cost, the kernel's wake of a sender blocked on the full
/// queue included.
struct Floor {
    queue: MessageQueue,
    receiver: Process<Box<dyn FnOnce() + Send>>,
    readings: FloorReadings,
}

/// What [`Floor`] measured, per round.
#[derive(Default)]
pub(super) struct FloorReadings {
    /// The receiver's CPU µs per message.
    pub(super) us: Vec<f64>,
    /// This (sending) process's CPU µs per message.
    pub(super) sender_us: Vec<f64>,
}

/// The floor queue's depth: the daemon's default `--queue-depth`.
const FLOOR_DEPTH: usize = 10;

/// What tells the bare receiver to exit (a job is [`daemon::JOB_BYTES`]).
const FLOOR_STOP: &[u8] = b"stop";

impl Floor {
    /// A queue of the daemon's default depth and job size, and its
    /// receiver running.
    fn start() -> Result<Floor> {
        let name = format!("/mproc-bd-{}-floor", std::process::id());
        let _ = MessageQueue::reclaim(&name);
        let queue = MessageQueue::create(&name, FLOOR_DEPTH, daemon::JOB_BYTES)?;
        let q = MessageQueue::open(&name)?;
        let body: Box<dyn FnOnce() + Send> = Box::new(move || {
            let mut buf = [0u8; daemon::JOB_BYTES];
            loop {
                if mproc::ipc::wait(&[q.as_fd()], None).is_err() {
                    std::process::exit(2);
                }
                loop {
                    match q.try_receive(&mut buf) {
                        Ok((n, _)) if &buf[..n] == FLOOR_STOP => return,
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::Empty => break,
                        Err(_) => std::process::exit(2),
                    }
                }
            }
        });
        let mut receiver = Process::new(body);
        receiver.start()?;
        Ok(Floor {
            queue,
            receiver,
            readings: FloorReadings::default(),
        })
    }

    /// Sends `n` jobs as a throughput run does and waits until the
    /// receiver has drained them; records the CPU per message unless
    /// `warm`.
    fn run(&mut self, n: u32, next_id: &mut u64, warm: bool) -> Result<()> {
        let pid = self
            .receiver
            .pid()
            .ok_or("the floor's receiver has no pid")?;
        let (before, sender0) = (Usage::of_pid(pid.as_raw()), Usage::of_self());
        for _ in 0..n {
            self.queue.send(&Job::sleep(*next_id, 0).encode(), 0)?;
            *next_id += 1;
        }
        let sender = Usage::of_self().since(sender0);
        let start = Instant::now();
        while self.queue.attributes()?.current > 0 {
            if start.elapsed() > PATIENCE {
                return Err("the floor's receiver stopped receiving".into());
            }
            std::thread::sleep(JOB_POLL);
        }
        // The last message taken, its drain done and the receiver asleep.
        std::thread::sleep(Duration::from_millis(2));
        let used = Usage::of_pid(pid.as_raw())
            .zip(before)
            .map(|(a, b)| a.since(b))
            .ok_or("the floor's receiver's CPU clock cannot be read")?;
        if !warm {
            let per = |ns: u64| ns as f64 / 1e3 / f64::from(n);
            self.readings.us.push(per(used.cpu_ns));
            self.readings.sender_us.push(per(sender.cpu_ns));
        }
        Ok(())
    }

    /// Tells the receiver to exit, joins it and removes the queue; what
    /// it measured.
    fn stop(mut self) -> Result<FloorReadings> {
        self.queue.send(FLOOR_STOP, 0)?;
        let code = self.receiver.join()?;
        self.queue.unlink()?;
        if code != 0 {
            return Err(format!("the floor's receiver exited with {code}").into());
        }
        Ok(self.readings)
    }
}

pub(super) fn bench_throughput(
    plan: &Plan,
    bins: &Binaries,
    stalls: &mut Vec<String>,
) -> Result<(Vec<Throughput>, FloorReadings)> {
    let mut floor = Floor::start()?;
    let mut daemons = Vec::new();
    for k in WORKER_COUNTS {
        let mut d = guarded("starting a throughput daemon", PATIENCE, || {
            Daemon::start(&bins.daemon, k, None)
        })?;
        d.settle(Duration::ZERO)?;
        let q = MessageQueue::open(&d.queue)?;
        daemons.push((d, q));
    }
    let mut s: Vec<Throughput> = WORKER_COUNTS
        .iter()
        .map(|&workers| Throughput {
            workers,
            ..Throughput::default()
        })
        .collect();
    let mut next_id = 1u64;
    rounds_indexed(plan.rounds, |warm, i| {
        let n = size(warm, plan.jobs);
        floor.run(n, &mut next_id, warm)?;
        for j in 0..daemons.len() {
            let k = if i % 2 == 0 { j } else { daemons.len() - 1 - j };
            let (d, q) = &daemons[k];
            let what = format!(
                "throughput, {} worker(s), {}",
                WORKER_COUNTS[k],
                if warm {
                    "warm-up round".to_owned()
                } else {
                    format!("round {}", i + 1)
                }
            );
            let run = guarded("a throughput run", PATIENCE, || {
                run_jobs_retrying(&what, d, q, n, &mut next_id, stalls)
            })?;
            if !warm {
                let t = &mut s[k];
                let wall = run.elapsed.as_secs_f64();
                let per_job = |ns: u64| ns as f64 / 1e3 / f64::from(n);
                t.per_s.push(f64::from(n) / wall);
                t.sender_us.push(per_job(run.sender.cpu_ns));
                if let (Some(m), Some(w)) = (run.master, run.workers) {
                    t.master_us.push(per_job(m.cpu_ns));
                    if let Some(f) = floor.readings.us.last() {
                        t.master_to_floor.push(per_job(m.cpu_ns) / f);
                    }
                    t.workers_us.push(per_job(w.cpu_ns));
                    t.busy
                        .push((m.cpu_ns + w.cpu_ns + run.sender.cpu_ns) as f64 / 1e9 / wall);
                }
            }
        }
        Ok(())
    })?;
    for (d, q) in daemons {
        drop(q);
        d.stop()?;
    }
    Ok((s, floor.stop()?))
}

/// One throughput run: its wall time and the CPU used meanwhile, and
/// what the bench saw if the daemon stalled.
pub(super) struct Run {
    pub(super) elapsed: Duration,
    pub(super) sender: Usage,
    pub(super) master: Option<Usage>,
    pub(super) workers: Option<Usage>,
    pub(super) stall: Option<String>,
}

/// The workers' usage, summed (`None` if one cannot be read).
pub(super) fn workers_usage(pids: &[i32]) -> Option<Usage> {
    let mut sum = Usage::default();
    for &pid in pids {
        let u = Usage::of_pid(pid)?;
        sum.cpu_ns += u.cpu_ns;
        sum.parks += u.parks;
        sum.preempted += u.preempted;
    }
    Some(sum)
}

/// Sends `n` `sleep 0` jobs to `d` through `q` and waits until its `done`
/// counter has grown by `n`; no job may fail and no worker be replaced.
///
/// A daemon that makes no progress for [`STALL`] while its master and
/// every worker sleep has stalled: the bench records its counters, sends
/// it `SIGUSR1` (which makes its master run the pool's work) and waits on;
/// the run then says so in [`Run::stall`].
pub(super) fn run_jobs(d: &Daemon, q: &MessageQueue, n: u32, next_id: &mut u64) -> Result<Run> {
    let board = d.board();
    let (done0, failed0) = (board.done.load(Relaxed), board.failed.load(Relaxed));
    let workers = d.worker_pids();
    let (master0, workers0) = (Usage::of_pid(d.pid.as_raw()), workers_usage(&workers));
    let sender0 = Usage::of_self();
    let start = Instant::now();
    for _ in 0..n {
        q.send(&Job::sleep(*next_id, 0).encode(), 0)?;
        *next_id += 1;
    }
    let want = done0 + u64::from(n);
    let (mut seen, mut since) = (board.done.load(Relaxed), Instant::now());
    let mut stall: Option<(String, Instant)> = None;
    loop {
        let done = board.done.load(Relaxed);
        if done >= want {
            break;
        }
        if board.failed.load(Relaxed) != failed0 {
            return Err(format!("sleep 0 jobs failed\n{}", d.dump()).into());
        }
        if done != seen {
            (seen, since) = (done, Instant::now());
        } else if stall.is_none() && since.elapsed() > STALL && d.all_asleep() {
            let s = board.snapshot();
            let what = format!(
                "{} of {n} jobs done, then none for {} ms with the master and all {} workers \
                 asleep (the board: queued={} accepted={} started={} done={} waiting={})",
                done - done0,
                since.elapsed().as_millis(),
                workers.len(),
                s.queued,
                s.user[daemon::ACCEPTED],
                s.user[daemon::STARTED],
                s.done,
                s.user[daemon::WAITING],
            );
            signal::kill(d.pid, Signal::USR1)?;
            stall = Some((what, Instant::now()));
        }
        if start.elapsed() > PATIENCE {
            return Err(format!(
                "{} of {n} jobs done after {PATIENCE:?}\n{}",
                done - done0,
                d.dump()
            )
            .into());
        }
        std::thread::sleep(JOB_POLL);
    }
    let elapsed = start.elapsed();
    let sender = Usage::of_self().since(sender0);
    let master = Usage::of_pid(d.pid.as_raw())
        .zip(master0)
        .map(|(a, b)| a.since(b));
    let used = workers_usage(&workers)
        .zip(workers0)
        .map(|(a, b)| a.since(b));
    if board.done.load(Relaxed) != want || board.failed.load(Relaxed) != failed0 {
        return Err(format!("more jobs ended than were sent\n{}", d.dump()).into());
    }
    if d.worker_pids() != workers {
        return Err(format!(
            "the workers changed during the run: {workers:?} → {:?}\n{}",
            d.worker_pids(),
            d.dump()
        )
        .into());
    }
    Ok(Run {
        elapsed,
        sender,
        master,
        workers: used,
        stall: stall.map(|(what, nudged)| {
            format!(
                "{what}; after a SIGUSR1 the rest were done {} ms later",
                nudged.elapsed().as_millis()
            )
        }),
    })
}

/// [`run_jobs`] until a run does not stall (at most [`TRIES`] runs); each
/// stall is added to `stalls`, naming `what`.
pub(super) fn run_jobs_retrying(
    what: &str,
    d: &Daemon,
    q: &MessageQueue,
    n: u32,
    next_id: &mut u64,
    stalls: &mut Vec<String>,
) -> Result<Run> {
    for _ in 0..TRIES {
        let run = run_jobs(d, q, n, next_id)?;
        match &run.stall {
            Some(s) => stalls.push(format!("{what}: {s}")),
            None => return Ok(run),
        }
    }
    Err(format!("{what}: the daemon stalled in {TRIES} runs in a row").into())
}
