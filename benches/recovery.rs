//! Recovery benchmarks: what it costs that a primitive survives a process
//! that dies in it, on the fast path and at the moment of the death.
//!
//! 1. **Semaphore, uncontended acquire + drop of the guard**, in one
//!    process, ns per pair: [`Semaphore`] and [`BoundedSemaphore`] (value
//!    1, in a [`Shared`]), whose units held by a dead process come back
//!    (one compare-exchange of a 64-bit word that moves a unit between the
//!    free count and the holder's slot), against the **previous algorithm**
//!    (commit 6dff7f1) reproduced here as `OldSemaphore`, also in a
//!    `Shared`: a `u32` value word taken with load + `compare_exchange_weak`
//!    (Acquire), given back with load + `compare_exchange_weak` (SeqCst) and
//!    a SeqCst load of the `parked` word, the guard checking its pid
//!    (`mproc::process::getpid`, cached, as the crate's own) on both sides
//!    as the old guard did. The floor is a bare `AtomicU32` `fetch_sub` +
//!    `fetch_add` pair. Target: new/old ≤ 1.2 (what unit recovery may cost
//!    a process that never dies).
//! 2. **Lock take-over after a SIGKILL**: a holder process takes a
//!    [`Lock`] (in a `Shared`) and says so through a pipe; three waiter
//!    processes park on `lock()` (the bench waits until
//!    `/proc/<pid>/stat` shows each asleep, state `S`, or 2 s at most);
//!    the bench SIGKILLs the holder. Latency: from a `CLOCK_MONOTONIC`
//!    stamp the bench takes right before `kill(2)` to the one the first
//!    waiter takes when `lock()` returns `Err(OwnerDied)` (one clock for
//!    every process). Two ways: the holder **reaped** at once (`waitpid`
//!    right after the kill: its pid is gone) and left a **zombie** until
//!    the waiters are done (its pid still exists, dead only per `/proc`).
//!    The same for an [`RLock`]; and for a `Lock` whose waiters were parked
//!    a long while before the kill (300 ms plus an offset spread evenly
//!    over 0–100 ms from kill to kill), so that their looks at the holder
//!    have backed off to the longest interval and the kill falls anywhere
//!    in it. Exactly one waiter
//!    must get `OwnerDied` per kill (counted). Target: ≤ 1 ms (median and
//!    p99 are checked).
//! 3. **Condition, dead waiter**: waiter A waits on a [`Condition`] (in a
//!    `Shared`), then waiter B (`wait_timeout` of 200 ms); when both are
//!    asleep the bench SIGKILLs A (reaped at once, or left a zombie), then
//!    takes the lock and calls `notify(1)`. Measured: from a stamp right
//!    before `notify` to B's stamp when its wait returns (the lock taken
//!    again), over the runs where B was notified, and the count of runs
//!    where B was not woken within 100 ms (a dead waiter that absorbs the
//!    notification leaves B to its timeout). A run where the notification
//!    came more than 90 ms after B began to wait (a slow machine) is
//!    dropped and counted, so that B's own timeout cannot pass for a lost
//!    notification. Target: no run without a wake-up.
//!
//! Benchmark 1 runs its five contenders in turn in each round, the
//! starting one rotated from round to round, so drift hits all of them
//! alike; the table shows medians and p90 over the rounds and ratios as the
//! median of the per-round ratios. Benchmarks 2 and 3 interleave their
//! variants kill by kill. Every process a run starts is killed and reaped
//! before the next run (also on an error); the watchdog ends the bench if a
//! part hangs.
//!
//! Run it with `scripts/bench.sh` (or `cargo bench --bench recovery`).
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test.
//!
//! The harness is not libtest (`harness = false`), so this process stays
//! single-threaded: nothing here starts a thread, and `Process::start`
//! checks that before each fork.

#![allow(unsafe_code)] // The reference semaphore, kill(2), pipes and clocks call libc directly.

#[path = "common/mod.rs"]
#[allow(dead_code)] // Each bench uses part of it.
mod common;

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mproc::process::{self, Process};
use mproc::shm::{Shareable, Shared};
use mproc::sync::{BoundedSemaphore, Condition, Lock, RLock, Semaphore};

/// Sizes of one run.
struct Plan {
    /// Measured rounds of benchmark 1.
    rounds: usize,
    /// Acquire + drop pairs per contender and round.
    pairs: u32,
    /// Kills per take-over variant (parked briefly).
    kills: usize,
    /// Kills of the long-parked take-over variant.
    long_kills: usize,
    /// Runs per dead-waiter variant.
    cond_runs: usize,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                rounds: 9,
                pairs: 50_000,
                kills: 10,
                long_kills: 3,
                cond_runs: 10,
            }
        } else {
            Plan {
                rounds: 51,
                pairs: 500_000,
                kills: 200,
                long_kills: 40,
                cond_runs: 100,
            }
        }
    }
}

/// Waiter processes of the take-over benchmark.
const WAITERS: usize = 3;
/// How long the long-parked waiters park before the kill, at least; an
/// offset spread over `LONG_SPREAD` is added.
const LONG_PARK: Duration = Duration::from_millis(300);
const LONG_SPREAD: Duration = Duration::from_millis(100);
/// B's wait in the dead-waiter benchmark.
const LIVE_TIMEOUT: Duration = Duration::from_millis(200);
/// B must be woken within this to count as woken.
const WAKE_LIMIT_NS: u64 = 100_000_000;
/// A notification later than this after B began to wait drops the run.
const LATE_NOTIFY_NS: u64 = 90_000_000;
/// How long the bench waits for a process to be seen asleep.
const PARK_PATIENCE: Duration = Duration::from_secs(2);
/// How long a child may take to get ready or to end.
const PATIENCE: Duration = Duration::from_secs(10);
/// The take-over latency target, ns.
const TAKEOVER_TARGET_NS: f64 = 1e6;
/// The semaphore cost target: new/old.
const SEM_TARGET: f64 = 1.2;

fn main() -> ExitCode {
    exit_code("recovery", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let load = load_average();
    let plan = Plan::from_env();
    watchdog::install("recovery")?;
    let sem = guarded("semaphore acquire + drop", Duration::from_secs(300), || {
        bench_semaphore(&plan)
    })?;
    let pipe = Pipe::new()?;
    let takeover = guarded("lock take-over", Duration::from_secs(900), || {
        bench_takeover(&plan, &pipe)
    })?;
    let cond = guarded("condition dead waiter", Duration::from_secs(900), || {
        bench_condition(&plan, &pipe)
    })?;

    let mut out = String::new();
    machine_with_load(&mut out, "recovery", None, &load);
    let _ = writeln!(
        out,
        "- method: semaphore: {} rounds after a warm-up round, {} acquire + drop pairs per \
         contender and round, in one process, the five contenders in turn (starting one \
         rotated per round); ns/pair: median and p90 over the rounds; ratios: median of the \
         per-round ratios. Take-over: {} kills per variant ({} for the long-parked one), \
         variants interleaved kill by kill, {WAITERS} waiters each, a fresh lock, holder and \
         waiters per kill; latency from the bench's CLOCK_MONOTONIC stamp right before \
         kill(2) to the first waiter's stamp at Err(OwnerDied). Dead waiter: {} runs per \
         variant, interleaved; B waits with a {} ms timeout.{}\n",
        plan.rounds,
        plan.pairs,
        plan.kills,
        plan.long_kills,
        plan.cond_runs,
        LIVE_TIMEOUT.as_millis(),
        quick_note(),
    );
    report_semaphore(&mut out, &sem);
    report_takeover(&mut out, &takeover);
    report_condition(&mut out, &cond);
    print_report(out, started);
    Ok(())
}

// -------------------------------------------------------------- machinery

/// `CLOCK_MONOTONIC` now, ns: the same clock in every process.
fn mono_ns() -> u64 {
    // SAFETY: a zeroed timespec is valid storage that clock_gettime fills.
    let t = unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t);
        t
    };
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// The state letter of `/proc/<pid>/stat` (`S`: asleep, `Z`: zombie).
fn proc_state(pid: i32) -> Option<u8> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// Waits until every process of `pids` is asleep (state `S`) and `ready()`
/// holds, `PARK_PATIENCE` at most; whether they were all seen asleep.
fn wait_asleep(pids: &[i32], ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + PARK_PATIENCE;
    loop {
        if ready() && pids.iter().all(|&p| proc_state(p) == Some(b'S')) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// A pipe through which a child says it is ready (one byte).
struct Pipe {
    read: i32,
    write: i32,
}

impl Pipe {
    fn new() -> Result<Pipe> {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is storage for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(os_error("pipe2"));
        }
        Ok(Pipe {
            read: fds[0],
            write: fds[1],
        })
    }

    /// In a child: says it is ready.
    fn signal(&self) {
        // SAFETY: writes one byte from a live buffer to our pipe.
        unsafe { libc::write(self.write, b"r".as_ptr().cast(), 1) };
    }

    /// In the bench: waits for one child's byte, `PATIENCE` at most.
    fn wait(&self, who: &str) -> Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.read,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = PATIENCE.as_millis() as libc::c_int;
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n != 1 {
            return Err(format!("{who} never said it was ready").into());
        }
        let mut byte = 0u8;
        // SAFETY: reads one byte into a live u8.
        if unsafe { libc::read(self.read, (&raw mut byte).cast(), 1) } != 1 {
            return Err(os_error("reading the ready pipe"));
        }
        Ok(())
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: closes the two descriptors this pipe owns.
        unsafe {
            libc::close(self.read);
            libc::close(self.write);
        }
    }
}

/// One child process; killed and reaped if dropped unreaped (an error).
/// A daemon, so it dies with the bench even if the bench is killed.
struct Kid<F: FnOnce()>(Process<F>);

impl<F: FnOnce()> Kid<F> {
    fn start(f: F) -> Result<Kid<F>> {
        let mut p = Process::new(f).daemon(true);
        p.start()?;
        Ok(Kid(p))
    }

    fn pid(&self) -> Result<i32> {
        Ok(self.0.pid().ok_or("a started child has no pid")?.as_raw())
    }

    /// SIGKILL, right after the stamp the latency is measured from.
    fn kill_stamped(&self) -> Result<u64> {
        let pid = self.pid()?;
        let t0 = mono_ns();
        // SAFETY: kill has no memory preconditions; `pid` is our unreaped
        // child, so it cannot name another process.
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            return Err(os_error("kill(SIGKILL)"));
        }
        Ok(t0)
    }

    /// Reaps it (it must end within `PATIENCE`); its exit code.
    fn reap(&self) -> Result<i32> {
        match self.0.join_timeout(PATIENCE)? {
            Some(code) => Ok(code),
            None => Err(format!("a child hung for {PATIENCE:?}").into()),
        }
    }
}

impl<F: FnOnce()> Drop for Kid<F> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.join();
    }
}

// ------------------------------------------------------------- semaphore

/// The semaphore before unit recovery (6dff7f1: `src/sync/semaphore.rs`),
/// its uncontended path exactly: `value` is the futex word, `parked`
/// counts parked waiters, `max` is `u32::MAX` for a `Semaphore` and the
/// bound for a `BoundedSemaphore`.
#[repr(C)]
struct OldSemaphore {
    value: AtomicU32,
    parked: AtomicU32,
    max: u32,
}

// SAFETY: repr(C) of two AtomicU32 and a u32 set once at construction: no
// pointers, no drop glue, every bit pattern valid; all mutation is atomic.
unsafe impl Shareable for OldSemaphore {}

/// The old guard: the acquiring process's pid, checked on drop.
struct OldGuard<'a> {
    sem: &'a OldSemaphore,
    pid: u32,
}

/// The pid as the crate's `sync::raw::me` gives it (cached `getpid`).
fn me() -> u32 {
    process::getpid().as_raw().unsigned_abs() & ((1 << 30) - 1)
}

impl OldSemaphore {
    const fn new(value: u32, max: u32) -> OldSemaphore {
        OldSemaphore {
            value: AtomicU32::new(value),
            parked: AtomicU32::new(0),
            max,
        }
    }

    fn try_down(&self) -> bool {
        let mut v = self.value.load(Ordering::Relaxed);
        while v > 0 {
            // SYNC POINT: Acquire pairs with the releaser's SeqCst update.
            match self
                .value
                .compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    fn acquire(&self) -> OldGuard<'_> {
        if !self.try_down() {
            self.down_slow();
        }
        OldGuard {
            sem: self,
            pid: me(),
        }
    }

    /// Never taken here (one process, value 1): the old back-off and park,
    /// reduced to yielding.
    #[cold]
    #[inline(never)]
    fn down_slow(&self) {
        while !self.try_down() {
            std::thread::yield_now();
        }
    }

    fn up(&self, n: u32) -> std::result::Result<(), ()> {
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            let Some(next) = v.checked_add(n).filter(|&next| next <= self.max) else {
                return Err(());
            };
            // SYNC POINT: SeqCst pairs with the Acquire in `try_down` and
            // orders this update before the read of `parked` below.
            match self
                .value
                .compare_exchange_weak(v, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if self.parked.load(Ordering::SeqCst) > 0 {
            self.wake(n);
        }
        Ok(())
    }

    /// Never taken here: nobody parks.
    #[cold]
    #[inline(never)]
    fn wake(&self, n: u32) {
        // SAFETY: `value` is a live, aligned u32 in shared memory; FUTEX_WAKE
        // only looks up the kernel's wait queue for it.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.value.as_ptr(),
                libc::FUTEX_WAKE,
                n,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }
}

impl Drop for OldGuard<'_> {
    fn drop(&mut self) {
        if self.pid == me() {
            let _ = self.sem.up(1);
        }
    }
}

/// Per-round ns per acquire + drop pair.
#[derive(Default)]
struct SemSamples {
    floor: Vec<f64>,
    old: Vec<f64>,
    new: Vec<f64>,
    old_bounded: Vec<f64>,
    new_bounded: Vec<f64>,
}

/// ns per run of `pair`, over `n` runs.
fn per_pair(n: u32, mut pair: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        pair();
    }
    ns_per_op(start.elapsed(), n)
}

fn bench_semaphore(plan: &Plan) -> Result<SemSamples> {
    let floor = Shared::new(AtomicU32::new(1))?;
    let old = Shared::new(OldSemaphore::new(1, u32::MAX))?;
    let old_bounded = Shared::new(OldSemaphore::new(1, 1))?;
    let new = Shared::new(Semaphore::new(1))?;
    let new_bounded = Shared::new(BoundedSemaphore::new(1))?;
    let mut s = SemSamples::default();
    rounds_indexed(plan.rounds, |warm, round| {
        let n = size(warm, plan.pairs);
        let mut got = [0.0; 5];
        for k in 0..5 {
            let who = (k + round) % 5;
            got[who] = match who {
                0 => per_pair(n, || {
                    let a = black_box(&*floor);
                    a.fetch_sub(1, Ordering::Acquire);
                    a.fetch_add(1, Ordering::Release);
                }),
                1 => per_pair(n, || drop(black_box(black_box(&*old).acquire()))),
                2 => per_pair(n, || drop(black_box(black_box(&*new).acquire()))),
                3 => per_pair(n, || {
                    drop(black_box(black_box(&*old_bounded).acquire()));
                }),
                _ => per_pair(n, || {
                    drop(black_box(black_box(&*new_bounded).acquire()));
                }),
            };
        }
        let values = [
            floor.load(Ordering::Relaxed),
            old.value.load(Ordering::Relaxed),
            old_bounded.value.load(Ordering::Relaxed),
            new.get_value(),
            new_bounded.get_value(),
        ];
        if values != [1; 5] {
            return Err(format!("a semaphore's value drifted: {values:?}, expected all 1").into());
        }
        if !warm {
            let [f, o, n, ob, nb] = got;
            s.floor.push(f);
            s.old.push(o);
            s.new.push(n);
            s.old_bounded.push(ob);
            s.new_bounded.push(nb);
        }
        Ok(())
    })?;
    Ok(s)
}

// -------------------------------------------------------------- take-over

/// A lock that reports a take-over from a dead holder.
trait Recoverable: Shareable {
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
enum Reap {
    AtOnce,
    Zombie,
}

impl Reap {
    fn label(self) -> &'static str {
        match self {
            Reap::AtOnce => "reaped at once",
            Reap::Zombie => "left a zombie",
        }
    }
}

/// One take-over variant's kills.
struct Takeover {
    label: String,
    /// Kills made.
    kills: usize,
    /// ns from the kill to the first `OwnerDied`, per kill that had one.
    latency: Vec<f64>,
    /// Kills after which not exactly one waiter got `OwnerDied`.
    wrong_count: usize,
    /// Kills made before every waiter was seen asleep.
    not_asleep: usize,
}

impl Takeover {
    fn new(label: String) -> Takeover {
        Takeover {
            label,
            kills: 0,
            latency: Vec::new(),
            wrong_count: 0,
            not_asleep: 0,
        }
    }
}

fn bench_takeover(plan: &Plan, pipe: &Pipe) -> Result<Vec<Takeover>> {
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
fn takeover_once<L: Recoverable>(
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

// ------------------------------------------------------------ dead waiter

/// One dead-waiter variant's runs.
struct DeadWaiter {
    reap: Reap,
    /// ns from `notify` to B's return, runs where B was notified.
    latency: Vec<f64>,
    /// Runs kept (not dropped as late).
    runs: usize,
    /// Kept runs where B was not woken within 100 ms.
    missed: usize,
    /// Runs dropped: the notification came too late after B's wait began.
    late: usize,
    /// Runs where A and B were not both seen asleep before the kill.
    not_asleep: usize,
}

fn bench_condition(plan: &Plan, pipe: &Pipe) -> Result<Vec<DeadWaiter>> {
    let mut out: Vec<DeadWaiter> = [Reap::AtOnce, Reap::Zombie]
        .into_iter()
        .map(|reap| DeadWaiter {
            reap,
            latency: Vec::new(),
            runs: 0,
            missed: 0,
            late: 0,
            not_asleep: 0,
        })
        .collect();
    for _ in 0..plan.cond_runs {
        for d in &mut out {
            dead_waiter_once(pipe, d)?;
        }
    }
    Ok(out)
}

/// Takes a condition's lock, a dead holder or not.
fn cond_lock(c: &Condition) -> mproc::sync::ConditionGuard<'_> {
    c.acquire().unwrap_or_else(|died| died.into_guard())
}

/// One run: A waits, B waits, A is killed, `notify(1)`.
fn dead_waiter_once(pipe: &Pipe, into: &mut DeadWaiter) -> Result<()> {
    let cond = Shared::new(Condition::new())?;
    // B's stamps: wait begun, wait returned; then 1 + whether notified.
    let board: Shared<[AtomicU64; 3]> = Shared::zeroed()?;
    let (c, b) = (&*cond, &*board);
    let victim = Kid::start(move || {
        let g = cond_lock(c);
        pipe.signal();
        let _ = g.wait();
    })?;
    pipe.wait("waiter A")?;
    // The lock is free again once A waits: A has its ticket.
    drop(cond_lock(c));
    let live = Kid::start(move || {
        let g = cond_lock(c);
        pipe.signal();
        b[0].store(mono_ns(), Ordering::SeqCst);
        let (g, notified) = g
            .wait_timeout(LIVE_TIMEOUT)
            .unwrap_or_else(|died| died.into_guard());
        b[1].store(mono_ns(), Ordering::SeqCst);
        b[2].store(1 + u64::from(notified), Ordering::SeqCst);
        drop(g);
    })?;
    pipe.wait("waiter B")?;
    drop(cond_lock(c));
    let asleep = wait_asleep(&[victim.pid()?, live.pid()?], || true);
    victim.kill_stamped()?;
    if into.reap == Reap::AtOnce {
        victim.reap()?;
    }
    let g = cond_lock(c);
    let t0 = mono_ns();
    g.notify(1);
    drop(g);
    let code = live.reap()?;
    victim.reap()?;
    if code != 0 {
        return Err(format!("waiter B exited with {code}").into());
    }
    let [begun, returned, flag] = [0, 1, 2].map(|i| b[i].load(Ordering::SeqCst));
    if t0.saturating_sub(begun) > LATE_NOTIFY_NS {
        into.late += 1;
        return Ok(());
    }
    into.runs += 1;
    into.not_asleep += usize::from(!asleep);
    let latency = returned.saturating_sub(t0);
    let woken = flag == 2 && latency <= WAKE_LIMIT_NS;
    if flag == 2 {
        into.latency.push(latency as f64);
    }
    into.missed += usize::from(!woken);
    Ok(())
}

// ----------------------------------------------------------------- report

fn report_semaphore(out: &mut String, s: &SemSamples) {
    let _ = writeln!(
        out,
        "| benchmark (one process, uncontended) | ns/pair | p90 | previous algorithm ns/pair | new/previous | new/floor | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|---|---|");
    for (name, new, old) in [
        ("Semaphore acquire + drop", &s.new, &s.old),
        (
            "BoundedSemaphore acquire + drop",
            &s.new_bounded,
            &s.old_bounded,
        ),
    ] {
        let ratio = paired_ratio(new, old);
        let target = check("new/previous", ratio, true, SEM_TARGET);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            cell(median(new)),
            cell(percentile(new, 90.0)),
            cell(median(old)),
            ratio_cell(ratio),
            ratio_cell(paired_ratio(new, &s.floor)),
            target.0,
            verdict(&target),
        );
    }
    let _ = writeln!(
        out,
        "| floor: AtomicU32 fetch_sub + fetch_add | {} | {} | n/a | n/a | 1.00 | n/a | n/a |",
        cell(median(&s.floor)),
        cell(percentile(&s.floor, 90.0)),
    );
    spread_table(
        out,
        "Spread over the rounds (min–max ns/pair):",
        [
            ("Semaphore", "mproc", &s.new[..]),
            ("Semaphore", "previous algorithm", &s.old[..]),
            ("BoundedSemaphore", "mproc", &s.new_bounded[..]),
            ("BoundedSemaphore", "previous algorithm", &s.old_bounded[..]),
            ("AtomicU32 pair", "floor", &s.floor[..]),
        ],
    );
}

/// ns as µs, for a cell.
fn us(v: Option<f64>) -> Option<f64> {
    v.map(|ns| ns / 1e3)
}

fn report_takeover(out: &mut String, t: &[Takeover]) {
    let _ = writeln!(
        out,
        "\n| take-over after SIGKILL of the holder, {WAITERS} waiters | kills | median µs | p90 µs | p99 µs | max µs | not 1 OwnerDied | killed before all asleep | median ≤ 1 ms | p99 ≤ 1 ms |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|---|---|");
    for v in t {
        let med = median(&v.latency);
        let p99 = percentile(&v.latency, 99.0);
        let ms = |x: Option<f64>| x.map(|ns| ns / TAKEOVER_TARGET_NS);
        let (m, p) = (
            check("median", ms(med), true, 1.0),
            check("p99", ms(p99), true, 1.0),
        );
        let max = v.latency.iter().copied().reduce(f64::max);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            v.label,
            v.kills,
            cell(us(med)),
            cell(us(percentile(&v.latency, 90.0))),
            cell(us(p99)),
            cell(us(max)),
            v.wrong_count,
            v.not_asleep,
            verdict(&m),
            verdict(&p),
        );
    }
}

fn report_condition(out: &mut String, d: &[DeadWaiter]) {
    let _ = writeln!(
        out,
        "\n| Condition: A killed while waiting, then notify(1); B waits | runs | B notified | median µs (notified runs) | p99 µs | not woken within 100 ms | dropped (notify > 90 ms after B's wait began) | not both asleep | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|---|---|");
    for v in d {
        let target = (String::new(), (v.runs > 0).then_some(v.missed == 0));
        let _ = writeln!(
            out,
            "| dead waiter {} | {} | {} | {} | {} | {} | {} | {} | runs not woken = 0 | {} |",
            v.reap.label(),
            v.runs,
            v.latency.len(),
            cell(us(median(&v.latency))),
            cell(us(percentile(&v.latency, 99.0))),
            v.missed,
            v.late,
            v.not_asleep,
            verdict(&target),
        );
    }
}
