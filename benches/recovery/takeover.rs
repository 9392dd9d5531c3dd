//! A lock held by a killed process: how long until the next acquirer takes it over.

use super::*;

/// A lock that reports a take-over from a dead holder.
pub(super) trait Recoverable: Shareable {
    fn fresh() -> Self;
    /// Takes it, runs `f` (told whether it was taken over from a dead
    /// holder), then releases it.
    fn with_taken(&self, f: impl FnOnce(bool));
}

impl Recoverable for Lock {
    fn fresh() -> Lock {
        Lock::new()
    }

    fn with_taken(&self, f: impl FnOnce(bool)) {
        match self.lock() {
            Ok(_guard) => f(false),
            Err(died) => {
                let _guard = died.into_guard();
                f(true);
            }
        }
    }
}

impl Recoverable for RLock {
    fn fresh() -> RLock {
        RLock::new()
    }

    fn with_taken(&self, f: impl FnOnce(bool)) {
        match self.lock() {
            Ok(_guard) => f(false),
            Err(died) => {
                let _guard = died.into_guard();
                f(true);
            }
        }
    }
}

/// Whether the dead process is reaped at once or left a zombie.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Reap {
    AtOnce,
    Zombie,
}

impl Reap {
    pub(super) fn label(self) -> &'static str {
        match self {
            Reap::AtOnce => "reaped at once",
            Reap::Zombie => "left a zombie",
        }
    }
}

/// One take-over variant's kills.
pub(super) struct Takeover {
    pub(super) label: String,
    /// Kills made.
    pub(super) kills: usize,
    /// ns from the kill to the first `OwnerDied`, per kill that had one.
    pub(super) latency: Vec<f64>,
    /// Kills after which not exactly one waiter got `OwnerDied`.
    pub(super) wrong_count: usize,
    /// Kills made before every waiter was seen asleep.
    pub(super) not_asleep: usize,
}

impl Takeover {
    pub(super) fn new(label: String) -> Takeover {
        Takeover {
            label,
            kills: 0,
            latency: Vec::new(),
            wrong_count: 0,
            not_asleep: 0,
        }
    }
}

pub(super) fn bench_takeover(plan: &Plan, pipe: &Pipe) -> Result<Vec<Takeover>> {
    let variants = [
        ("Lock", Reap::AtOnce, false),
        ("Lock", Reap::Zombie, false),
        ("RLock", Reap::AtOnce, false),
        ("RLock", Reap::Zombie, false),
        ("Lock", Reap::AtOnce, true),
    ];
    let mut out: Vec<Takeover> = variants
        .iter()
        .map(|&(what, reap, long)| {
            let park = if long {
                format!(
                    ", waiters parked {}–{} ms",
                    LONG_PARK.as_millis(),
                    (LONG_PARK + LONG_SPREAD).as_millis()
                )
            } else {
                String::new()
            };
            Takeover::new(format!("{what}, holder {}{park}", reap.label()))
        })
        .collect();
    let long_every = (plan.kills / plan.long_kills.max(1)).max(1);
    // A warm-up kill of each kind, not recorded.
    takeover_once::<Lock>(
        pipe,
        Reap::AtOnce,
        Duration::ZERO,
        &mut Takeover::new(String::new()),
    )?;
    takeover_once::<RLock>(
        pipe,
        Reap::AtOnce,
        Duration::ZERO,
        &mut Takeover::new(String::new()),
    )?;
    let mut long_done = 0;
    for i in 0..plan.kills {
        for (v, &(what, reap, long)) in variants.iter().enumerate() {
            if long && (i % long_every != 0 || long_done == plan.long_kills) {
                continue;
            }
            let park = if long {
                let step = LONG_SPREAD / plan.long_kills.max(1) as u32;
                LONG_PARK + step * long_done as u32
            } else {
                Duration::ZERO
            };
            match what {
                "Lock" => takeover_once::<Lock>(pipe, reap, park, &mut out[v])?,
                _ => takeover_once::<RLock>(pipe, reap, park, &mut out[v])?,
            }
            long_done += usize::from(long);
        }
    }
    Ok(out)
}

/// One kill: a holder and [`WAITERS`] waiters on a fresh `L`; records the
/// latency in `into`.
pub(super) fn takeover_once<L: Recoverable>(
    pipe: &Pipe,
    reap: Reap,
    park: Duration,
    into: &mut Takeover,
) -> Result<()> {
    let lock = Shared::new(L::fresh())?;
    // Waiters started, `OwnerDied`s, the first one's stamp.
    let board: Shared<[AtomicU64; 3]> = Shared::zeroed()?;
    let (l, b) = (&*lock, &*board);
    let holder = Kid::start(move || {
        l.with_taken(|_| {
            pipe.signal();
            loop {
                // SAFETY: pause has no preconditions; SIGKILL ends it.
                unsafe { libc::pause() };
            }
        });
    })?;
    pipe.wait("the holder")?;
    let waiters = Gang::start(WAITERS, |_| {
        move || {
            b[0].fetch_add(1, Ordering::SeqCst);
            l.with_taken(|died| {
                if died {
                    let now = mono_ns();
                    let _ = b[2].compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
                    b[1].fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    })?;
    let pids: Vec<i32> = (0..WAITERS)
        .map(|i| waiters.pid(i).map(|p| p.as_raw()))
        .collect::<Option<_>>()
        .ok_or("a waiter has no pid")?;
    let asleep = wait_asleep(&pids, || b[0].load(Ordering::SeqCst) == WAITERS as u64);
    if !park.is_zero() {
        std::thread::sleep(park);
    }
    let t0 = holder.kill_stamped()?;
    if reap == Reap::AtOnce {
        holder.reap()?;
    }
    // Joining reaps them: their stores are visible after it.
    waiters.join(PATIENCE)?;
    holder.reap()?;
    let (died, first) = (b[1].load(Ordering::SeqCst), b[2].load(Ordering::SeqCst));
    into.kills += 1;
    if first != 0 {
        into.latency.push(first.saturating_sub(t0) as f64);
    }
    into.wrong_count += usize::from(died != 1);
    into.not_asleep += usize::from(!asleep);
    Ok(())
}
