//! The harness: pinning, forking a child for a run, timing it, the messages and their checks.

use super::*;

/// `MPROC_BENCH_IPC_PIN=A,B`: the bench (and the Python peer) on CPU `A`,
/// every forked child on CPU `B`; `MPROC_BENCH_IPC_PIN=A`: all on CPU `A`.
#[derive(Clone, Copy)]
pub(super) struct Pin {
    pub(super) bench: usize,
    pub(super) child: usize,
}

impl Pin {
    pub(super) fn from_env() -> Result<Option<Pin>> {
        let Ok(v) = std::env::var("MPROC_BENCH_IPC_PIN") else {
            return Ok(None);
        };
        let cpus: Vec<usize> = v
            .split(',')
            .map(|c| c.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .unwrap_or_default();
        let pin = match cpus[..] {
            [cpu] => Pin {
                bench: cpu,
                child: cpu,
            },
            [bench, child] => Pin { bench, child },
            _ => return Err(format!("MPROC_BENCH_IPC_PIN={v}: expected A or A,B").into()),
        };
        if pin.bench.max(pin.child) >= libc::CPU_SETSIZE as usize {
            return Err(format!("MPROC_BENCH_IPC_PIN={v}: beyond CPU_SETSIZE").into());
        }
        Ok(Some(pin))
    }
}

/// The CPU a forked child moves to first (`usize::MAX`: it stays where
/// it is).
pub(super) static CHILD_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Pins this process (and what it forks later) to `cpu`.
pub(super) fn set_affinity(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays inside it
    // for cpu < CPU_SETSIZE (checked by `Pin::from_env`); the kernel reads
    // the set's size.
    let ret = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set)
    };
    if ret != 0 {
        return Err(os_error("sched_setaffinity"));
    }
    Ok(())
}

/// A child forked for one run: a daemon (it dies with the bench), killed
/// and reaped if the bench leaves before joining it (an error, a panic).
pub(super) struct Forked<F: FnOnce()>(Option<Process<F>>);

/// Forks a child that runs `body`; an error there is printed and the child
/// exits with 1.
pub(super) fn fork(body: impl FnOnce() -> Result<()>) -> Result<Forked<impl FnOnce()>> {
    let mut p = Process::new(move || {
        let cpu = CHILD_CPU.load(Ordering::Relaxed);
        let moved = if cpu == usize::MAX {
            Ok(())
        } else {
            set_affinity(cpu)
        };
        if let Err(e) = moved.and_then(|()| body()) {
            eprintln!("bench ipc: child: {e}");
            mproc::process::exit(1);
        }
    })
    .daemon(true);
    p.start()?;
    Ok(Forked(Some(p)))
}

impl<F: FnOnce()> Forked<F> {
    /// Joins the child, which must exit with 0.
    pub(super) fn join(mut self) -> Result<()> {
        let Some(p) = self.0.take() else {
            return Ok(());
        };
        match p.join_timeout(PATIENCE)? {
            Some(0) => Ok(()),
            Some(code) => Err(format!("the child exited with {code}").into()),
            None => {
                let _ = p.kill();
                let _ = p.join();
                Err(format!("the child hung for {PATIENCE:?}").into())
            }
        }
    }
}

impl<F: FnOnce()> Drop for Forked<F> {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = p.kill();
            let _ = p.join();
        }
    }
}

/// Runs `child` in a forked child and `parent` here; `parent`'s result,
/// once the child has exited with 0.
pub(super) fn duel<T>(
    child: impl FnOnce() -> Result<()>,
    parent: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let forked = fork(child)?;
    let out = parent()?;
    forked.join()?;
    Ok(out)
}

/// Round trip `0` untimed, then `1..=n` timed. The echoing side answers
/// `n + 1` messages.
pub(super) fn timed_trips(n: u32, mut trip: impl FnMut(u32) -> Result<()>) -> Result<Duration> {
    trip(0)?;
    let start = Instant::now();
    for i in 1..=n {
        trip(i)?;
    }
    Ok(start.elapsed())
}

/// Gives the producer waiting for stage `go` its go and takes messages
/// `0..n` with `take`; the time from the go to the last one.
pub(super) fn timed_stream(
    stage: &Stage,
    go: u32,
    n: u32,
    mut take: impl FnMut(u32) -> Result<()>,
) -> Result<Duration> {
    let start = Instant::now();
    stage.reach(go);
    for i in 0..n {
        take(i)?;
    }
    Ok(start.elapsed())
}

/// Message `i`: its sequence number, then a fixed pattern.
pub(super) fn message(i: u32) -> Msg {
    let mut m: Msg = std::array::from_fn(|k| k as u8);
    m[..4].copy_from_slice(&i.to_le_bytes());
    m
}

/// Checks that `got` is message `i`.
pub(super) fn expect(got: &[u8], i: u32) -> Result<()> {
    if got == message(i) {
        return Ok(());
    }
    let seq = got
        .get(..4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    Err(format!(
        "expected message {i} ({SIZE} bytes), got {} bytes{}",
        got.len(),
        seq.map_or_else(String::new, |s| format!(" numbered {s}"))
    )
    .into())
}
