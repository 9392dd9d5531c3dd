//! Benchmark 3, the Event ping-pong, against a raw futex and a raw spin, in its three placements.

use super::*;

/// Per-round results of one ping-pong placement.
#[derive(Default)]
pub(super) struct PingSamples {
    /// µs per round trip.
    pub(super) spin: Vec<f64>,
    pub(super) futex: Vec<f64>,
    pub(super) mproc: Vec<f64>,
    pub(super) python: Vec<f64>,
    /// Voluntary context switches (parks) of A and B per round trip.
    pub(super) futex_parks: Vec<f64>,
    pub(super) mproc_parks: Vec<f64>,
}

/// Where the two processes of a ping-pong run.
#[derive(Clone, Copy)]
pub(super) enum Placement {
    /// Wherever the scheduler puts them, on every CPU the bench may use.
    Unpinned,
    /// Both on this CPU (the raw spin is left out: each of its hops would
    /// wait for a preemption).
    Shared(usize),
    /// A on the first CPU, B on the second.
    Split(usize, usize),
}

impl Placement {
    pub(super) fn label(self) -> String {
        match self {
            Placement::Unpinned => "unpinned".into(),
            Placement::Shared(cpu) => format!("both pinned to CPU {cpu}"),
            Placement::Split(a, b) => format!("A pinned to CPU {a}, B to CPU {b}"),
        }
    }
}

/// Runs the ping-pong contenders at `place`; the caller has set this
/// process's (A's) affinity and the Python peer's to match.
pub(super) fn bench_ping(
    plan: &Plan,
    python: &mut Option<Peer>,
    place: Placement,
) -> Result<PingSamples> {
    let (with_spin, b_cpu) = match place {
        Placement::Unpinned => (true, None),
        Placement::Shared(_) => (false, None),
        Placement::Split(_, b) => (true, Some(b)),
    };
    let b_set = b_cpu.map(one_cpu).transpose()?;
    let b_set = b_set.as_ref();
    let py_b = b_cpu.map_or_else(String::new, |b| format!(" {b}"));
    let mut s = PingSamples::default();
    rounds(plan.rounds, |warm| {
        let (n, py_n) = (size(warm, plan.ping), size(warm, plan.py_ping));
        let spin = if with_spin {
            Some(spin_ping(n, b_set)?)
        } else {
            None
        };
        let futex = futex_ping(n, b_set)?;
        let ours = mproc_ping(n, b_set)?;
        let py = ask_numbers(python, &format!("pingpong {py_n}{py_b}"))
            .map(|[ns]: [f64; 1]| ns / 1e3 / f64::from(py_n));
        if !warm {
            s.spin.extend(spin.map(|r| per_op_us(r.elapsed, n)));
            s.futex.push(per_op_us(futex.elapsed, n));
            s.mproc.push(per_op_us(ours.elapsed, n));
            s.python.extend(py);
            s.futex_parks.push(futex.parks as f64 / f64::from(n));
            s.mproc_parks.push(ours.parks as f64 / f64::from(n));
        }
        Ok(())
    })?;
    Ok(s)
}

/// One ping-pong run.
pub(super) struct PingRun {
    /// The `n` timed round trips.
    pub(super) elapsed: Duration,
    /// Voluntary context switches of A in them, plus B's in all its loop.
    pub(super) parks: u64,
}

/// Forks B (moved to `b_set` if given), which runs `b` `n + 1` times; runs
/// `a` once untimed, then `n` times timed. B is moved by the bench, which
/// sees a failure (and then kills B) before A starts.
pub(super) fn ping_pong(
    n: u32,
    b_set: Option<&libc::cpu_set_t>,
    a: impl Fn(),
    b: impl Fn(),
) -> Result<PingRun> {
    let b_parks = Shared::new(AtomicU64::new(0))?;
    let (b, b_parks_ref) = (&b, &b_parks);
    let gang = Gang::start(1, |_| {
        move || {
            let before = Usage::of_self();
            for _ in 0..=n {
                b();
            }
            b_parks_ref.store(Usage::of_self().since(before).parks, Ordering::Relaxed);
        }
    })?;
    if let Some(set) = b_set {
        let pid = gang.pid(0).ok_or("B has no pid")?;
        // SAFETY: `set` is a live cpu_set_t; the kernel reads its size.
        if unsafe { libc::sched_setaffinity(pid.as_raw(), size_of::<libc::cpu_set_t>(), set) } != 0
        {
            return Err(os_error("moving B to its CPU"));
        }
    }
    a();
    let before = Usage::of_self();
    let start = Instant::now();
    for _ in 0..n {
        a();
    }
    let elapsed = start.elapsed();
    let a_parks = Usage::of_self().since(before).parks;
    // Joining reaps B: its store is visible after it.
    gang.join(PATIENCE)?;
    Ok(PingRun {
        elapsed,
        parks: a_parks + b_parks.load(Ordering::Relaxed),
    })
}

/// mproc: `Event`s `[ping, pong]` in one segment.
pub(super) fn mproc_ping(n: u32, b_set: Option<&libc::cpu_set_t>) -> Result<PingRun> {
    let ev = Shared::new([Event::new(), Event::new()])?;
    let (ping, pong) = (&ev[0], &ev[1]);
    ping_pong(
        n,
        b_set,
        || {
            ping.set();
            pong.wait();
            pong.clear();
        },
        || {
            ping.wait();
            ping.clear();
            pong.set();
        },
    )
}

/// Raw futex: flags `[ping, pong]`; a waiter parks whenever the flag is not
/// set yet (no spinning), a setter always calls `FUTEX_WAKE`.
pub(super) fn futex_ping(n: u32, b_set: Option<&libc::cpu_set_t>) -> Result<PingRun> {
    let w = Shared::new([AtomicU32::new(0), AtomicU32::new(0)])?;
    let (ping, pong) = (&w[0], &w[1]);
    ping_pong(
        n,
        b_set,
        || {
            raise(ping);
            park_until_set(pong);
            pong.store(0, Ordering::Relaxed);
        },
        || {
            park_until_set(ping);
            ping.store(0, Ordering::Relaxed);
            raise(pong);
        },
    )
}

pub(super) fn raise(word: &AtomicU32) {
    // SYNC POINT: Release pairs with the Acquire in `park_until_set`.
    word.store(1, Ordering::Release);
    // SAFETY: `word` is a live, aligned u32 in shared memory; FUTEX_WAKE
    // only looks up the kernel's wait queue for it. Not FUTEX_PRIVATE: the
    // waiter is another process.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

pub(super) fn park_until_set(word: &AtomicU32) {
    // SYNC POINT: Acquire pairs with the Release in `raise`.
    while word.load(Ordering::Acquire) == 0 {
        // SAFETY: `word` is a live, aligned u32 in shared memory, read by the
        // kernel only; no timeout. EAGAIN (already set) and EINTR just loop.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                0u32,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }
}

/// Raw spin: flags `[ping, pong]`, waited for with `spin_loop` only.
pub(super) fn spin_ping(n: u32, b_set: Option<&libc::cpu_set_t>) -> Result<PingRun> {
    let w = Shared::new([AtomicU32::new(0), AtomicU32::new(0)])?;
    let (ping, pong) = (&w[0], &w[1]);
    let spin_until_set = |word: &AtomicU32| {
        // SYNC POINT: Acquire pairs with the Release stores below.
        while word.load(Ordering::Acquire) == 0 {
            std::hint::spin_loop();
        }
    };
    ping_pong(
        n,
        b_set,
        || {
            ping.store(1, Ordering::Release);
            spin_until_set(pong);
            pong.store(0, Ordering::Relaxed);
        },
        || {
            spin_until_set(ping);
            ping.store(0, Ordering::Relaxed);
            pong.store(1, Ordering::Release);
        },
    )
}
