//! Manager benchmarks: mproc's [`Manager`] (a forked server process owning
//! the objects, proxies talking to it over a socket plus a shared-memory
//! channel) against Python's `multiprocessing.Manager()` (fork context),
//! and against the same work on shared memory with no server at all, in
//! one run, reported as ratios.
//!
//! 1. **dict get + set round trips**: `N` times `d[key] = d[key] + 1`
//!    from the process that started the manager: a get and a set, two
//!    round trips to the server, each counted as one operation. mproc: a
//!    [`DictProxy<FixedStr<16>, i64>`](mproc::manager::DictProxy) with the
//!    key `"count"`; Python: `m.dict()` with `d['count']`.
//! 2. **Locked decrement, one client**: the seed workload, Python's
//!    `with lock: d['count'] -= 1` (acquire, get, set, release: four round
//!    trips), `M` times in one forked client process, with the dict and a
//!    manager lock of the same manager. mproc: `lock.acquire()`,
//!    `d.get`, `d.set`, `lock.release()` on a
//!    [`LockProxy`](mproc::manager::LockProxy); Python: `m.Lock()`.
//! 3. **Locked decrement, 4 clients**: the same with 4 client processes
//!    at once, `M` decrements each, all on the one key under the one lock.
//! 4. **The same decrement on shared memory**: a [`Value<i64>`] under its
//!    own lock (`*v.lock()? -= 1`), by 1 and by 4 forked processes: no
//!    server, no round trip. The ratio manager/shm is what the server hop
//!    costs. A second table shows where the manager's time went in 2 and
//!    3: the CPU time and context switches of the clients (`getrusage` in
//!    each) and of the server (its CPU clock and `/proc/<pid>/status`).
//!
//! In 2–4 each run forks its clients first; each makes its connection to
//! the server (one untimed get and one untimed acquire + release: a proxy
//! inherited over a fork connects on its first call, in Python as in
//! mproc) and then waits on a start barrier; the time per decrement is
//! from the release of all of them to the last one done, over all the
//! decrements. Python's clients are forked by the peer the same way.
//!
//! Each round runs every contender of a benchmark once, interleaved, so
//! drift hits all of them alike; the tables show medians over the rounds
//! and ratios as the median of the per-round ratios. Every result is
//! checked: the dict ends at `N` after benchmark 1, and at 0 after the
//! `P·M` decrements of 2 and 3 (it starts at `P·M`), the shared value
//! likewise; a lost update fails the bench. The Python contenders run in
//! `scripts/bench_manager_peer.py`, one long-lived `python3` process
//! driven over a pipe, which times its own loops (interpreter start-up,
//! manager start-up and the forks are not counted; neither are mproc's).
//!
//! Nothing is pinned: the server needs a core of its own.
//!
//! Run it with `cargo bench --bench manager` (or `scripts/bench.sh`).
//! Environment: `MPROC_BENCH_QUICK=1` shrinks the run to a smoke test;
//! `MPROC_BENCH_PYTHON` names the interpreter (default `python3`; without
//! one the Python cells read "n/a").
//!
//! The harness is not libtest (`harness = false`), so this process stays
//! single-threaded: nothing here starts a thread, and `Manager::start` and
//! `Process::start` check that before each fork.

#![allow(unsafe_code)] // The watchdog and the CPU clocks of `common` call libc directly.

#[path = "common/mod.rs"]
#[allow(dead_code)] // This bench uses the peer and a few helpers, not all.
mod common;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::*;
use mproc::manager::{DictProxy, LockProxy, Manager};
use mproc::shm::{FixedStr, Value};
use mproc::sync::OwnerDied;

/// Sizes of one run.
struct Plan {
    /// Measured rounds (each runs every contender once).
    rounds: usize,
    /// get + set iterations per round (2 operations each), mproc.
    getset: u32,
    /// get + set iterations per round, Python.
    py_getset: u32,
    /// Locked decrements per round, one client, mproc manager.
    one: u32,
    /// Locked decrements per round, one client, Python.
    py_one: u32,
    /// Locked decrements per client per round, [`CLIENTS`] clients, mproc
    /// manager.
    many: u32,
    /// Locked decrements per client per round, [`CLIENTS`] clients, Python.
    py_many: u32,
    /// Locked decrements per round, one process, shared memory.
    shm_one: u32,
    /// Locked decrements per process per round, [`CLIENTS`] processes,
    /// shared memory.
    shm_many: u32,
}

impl Plan {
    fn from_env() -> Plan {
        if quick_run() {
            Plan {
                rounds: 2,
                getset: 2_000,
                py_getset: 50,
                one: 2_000,
                py_one: 25,
                many: 500,
                py_many: 10,
                shm_one: 20_000,
                shm_many: 5_000,
            }
        } else {
            Plan {
                rounds: 7,
                getset: 20_000,
                py_getset: 500,
                one: 20_000,
                py_one: 250,
                many: 2_000,
                py_many: 60,
                shm_one: 200_000,
                shm_many: 50_000,
            }
        }
    }
}

/// Client processes of benchmarks 3 and 4.
const CLIENTS: usize = 4;
/// How long one run may take before the watchdog ends the bench.
const PATIENCE: Duration = Duration::from_secs(60);
/// The dict's key, in both languages.
const KEY: &str = "count";

/// The dict of this bench.
type Dict = DictProxy<FixedStr<16>, i64>;

fn main() -> ExitCode {
    exit_code("manager", run())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let plan = Plan::from_env();
    let load = load_average();
    watchdog::install("manager")?;
    let python = Peer::start_file("bench_manager_peer.py", "manager");
    let (m, python_version) = with_peer(python, |python| benches(&plan, python))?;

    let mut out = String::new();
    machine_with_load(&mut out, "manager", python_version.as_deref(), &load);
    let _ = writeln!(
        out,
        "- method: {} rounds after a warm-up round (a tenth of the sizes); in each round the \
         contenders of a benchmark run in turn (get + set: mproc → Python; locked decrement: \
         mproc manager → mproc shm → Python); per-operation times: median over the rounds; \
         ratios: median of the per-round ratios. Managers: mproc `Manager::start()` with \
         `dict::<FixedStr<16>, i64>(16)` and `lock()`, Python \
         `SyncManager(ctx=get_context(\"fork\"))` with `m.dict()` and `m.Lock()`, made once \
         before the first round, never timed; the key is \"{KEY}\". Sizes per round: get + \
         set {} iterations (Python {}), 2 operations each, from the manager's owner; locked \
         decrement, 1 client: {} (Python {}, shm {}); {CLIENTS} clients: {} each (Python {}, \
         shm {}), the clients forked per run, connected and released together by a start \
         barrier. Every run's final count is checked. Not pinned: every process on every \
         CPU.{}\n",
        plan.rounds,
        plan.getset,
        plan.py_getset,
        plan.one,
        plan.py_one,
        plan.shm_one,
        plan.many,
        plan.py_many,
        plan.shm_many,
        quick_note(),
    );
    report(&mut out, &m);
    print_report(out, started);
    Ok(())
}

/// Per-round ns per operation of each contender of one benchmark.
#[derive(Default)]
struct Samples {
    mproc: Vec<f64>,
    shm: Vec<f64>,
    python: Vec<f64>,
    /// Where the mproc manager's time went, per run (locked decrement).
    mproc_use: Vec<UseRates>,
}

/// Everything [`benches`] measured.
struct Measured {
    getset: Samples,
    one: Samples,
    many: Samples,
    /// 64-byte values: the fixed `Wire` dict's ns per operation, and the
    /// serde dict's (empty without the feature).
    value64: (Vec<f64>, Vec<f64>),
}

/// The benchmarks, in order, on one manager of each side.
fn benches(plan: &Plan, python: &mut Option<Peer>) -> Result<Measured> {
    let manager = guarded("starting the mproc manager", PATIENCE, || {
        Ok(Manager::start()?)
    })?;
    let server = manager.pid().map(|p| p.as_raw());
    let d: Dict = manager.dict(16)?;
    let lock = manager.lock()?;
    let key: FixedStr<16> = KEY.parse()?;
    if let Some(answer) = guarded("starting the Python manager", PATIENCE, || {
        Ok(ask_or_drop(python, "manager"))
    })? && answer != "ok"
    {
        drop_peer(python, &format!("manager: {answer}"));
    }

    let getset = bench_getset(plan, &d, &key, python)?;
    let value64 = bench_value64(plan, &manager)?;
    let objects = Objects {
        d: &d,
        lock: &lock,
        key: &key,
        server,
    };
    let one = bench_locked(plan, 1, &objects, python)?;
    let many = bench_locked(plan, CLIENTS, &objects, python)?;

    // A clean end: the proxies release their objects, then the server
    // shuts down and is reaped.
    drop((d, lock));
    guarded("shutting the mproc manager down", PATIENCE, || {
        Ok(manager.shutdown()?)
    })?;
    Ok(Measured {
        getset,
        one,
        many,
        value64,
    })
}

// ------------------------------------------------- 64-byte values: serde

/// A text of `len` bytes.
fn text64(len: usize) -> String {
    "v".repeat(len)
}

/// `n` times a set then a get of one 64-byte value under the key, in a
/// fixed dict (`FixedStr<60>`: 4 bytes of length, 60 of text) and, with
/// the `serde` feature, a serde one (`String`: 1 byte of length, 63 of
/// text); each checked.
fn bench_value64(plan: &Plan, manager: &Manager) -> Result<(Vec<f64>, Vec<f64>)> {
    let key: FixedStr<16> = KEY.parse()?;
    let fixed: DictProxy<FixedStr<16>, FixedStr<60>> = manager.dict(16)?;
    let value: FixedStr<60> = text64(60).parse()?;
    #[cfg(feature = "serde")]
    let serde_dict = manager.dict_serde::<String, String>(16, 4096)?;
    let mut wire = Vec::new();
    #[cfg_attr(not(feature = "serde"), allow(unused_mut))]
    let mut serde = Vec::new();
    rounds(plan.rounds, |warm| {
        let n = size(warm, plan.getset);
        let t = guarded("mproc 64-byte Wire value", PATIENCE, || {
            let start = Instant::now();
            for _ in 0..n {
                fixed.set(&key, &value)?;
                if fixed.get(&key)?.as_ref() != Some(&value) {
                    return Err("the 64-byte Wire value came back changed".into());
                }
            }
            Ok(start.elapsed())
        })?;
        if !warm {
            wire.push(ns_per_op(t, 2.0 * f64::from(n)));
        }
        #[cfg(feature = "serde")]
        {
            let (key, value) = (KEY.to_string(), text64(63));
            let t = guarded("mproc 64-byte serde value", PATIENCE, || {
                let start = Instant::now();
                for _ in 0..n {
                    serde_dict.set(&key, &value)?;
                    if serde_dict.get(&key)?.as_ref() != Some(&value) {
                        return Err("the 64-byte serde value came back changed".into());
                    }
                }
                Ok(start.elapsed())
            })?;
            if !warm {
                serde.push(ns_per_op(t, 2.0 * f64::from(n)));
            }
        }
        Ok(())
    })?;
    Ok((wire, serde))
}

// ------------------------------------------------------------- machinery

fn check_count(who: &str, got: i64, want: i64) -> Result<()> {
    if got != want {
        return Err(format!("{who}: final count {got}, expected {want}").into());
    }
    Ok(())
}

// ---------------------------------------------------------------- get+set

fn bench_getset(
    plan: &Plan,
    d: &Dict,
    key: &FixedStr<16>,
    python: &mut Option<Peer>,
) -> Result<Samples> {
    let mut s = Samples::default();
    rounds(plan.rounds, |warm| {
        let (n, py_n) = (size(warm, plan.getset), size(warm, plan.py_getset));
        let ours = guarded("mproc dict get + set", PATIENCE, || mproc_getset(d, key, n))?;
        let py = guarded("Python dict get + set", PATIENCE, || {
            python_run(python, &format!("getset {py_n}"), i64::from(py_n))
        })?;
        if !warm {
            s.mproc.push(ns_per_op(ours, 2.0 * f64::from(n)));
            s.python
                .extend(py.map(|d| ns_per_op(d, 2.0 * f64::from(py_n))));
        }
        Ok(())
    })?;
    Ok(s)
}

/// `d[key] = 0`, then `n` times `d[key] = d[key] + 1`; checks `d[key] == n`.
fn mproc_getset(d: &Dict, key: &FixedStr<16>, n: u32) -> Result<Duration> {
    d.set(key, &0)?;
    let start = Instant::now();
    for _ in 0..n {
        let v = d.get(key)?.ok_or("mproc dict get + set: the key is gone")?;
        d.set(key, &(v + 1))?;
    }
    let elapsed = start.elapsed();
    let end = d.get(key)?.unwrap_or(-1);
    check_count("mproc dict get + set", end, i64::from(n))?;
    Ok(elapsed)
}

// ------------------------------------------------------- locked decrement

/// The mproc manager's objects of the locked decrement, and its server's
/// pid (for the diagnostics).
struct Objects<'a> {
    d: &'a Dict,
    lock: &'a LockProxy,
    key: &'a FixedStr<16>,
    server: Option<i32>,
}

fn bench_locked(
    plan: &Plan,
    procs: usize,
    objects: &Objects<'_>,
    python: &mut Option<Peer>,
) -> Result<Samples> {
    let (m, py_m, shm_m) = if procs == 1 {
        (plan.one, plan.py_one, plan.shm_one)
    } else {
        (plan.many, plan.py_many, plan.shm_many)
    };
    let mut s = Samples::default();
    rounds(plan.rounds, |warm| {
        let (m, py_m, shm_m) = (size(warm, m), size(warm, py_m), size(warm, shm_m));
        let ours = guarded("mproc manager locked decrement", PATIENCE, || {
            mproc_locked(procs, m, objects)
        })?;
        let shm = guarded("mproc shm locked decrement", PATIENCE, || {
            shm_locked(procs, shm_m)
        })?;
        let py = guarded("Python manager locked decrement", PATIENCE, || {
            python_run(python, &format!("locked {procs} {py_m}"), 0)
        })?;
        if !warm {
            let total = |m: u32| procs as f64 * f64::from(m);
            s.mproc.push(ns_per_op(ours.elapsed, total(m)));
            s.mproc_use.push(UseRates::of(&ours, total(m)));
            s.shm.push(ns_per_op(shm.elapsed, total(shm_m)));
            s.python.extend(py.map(|d| ns_per_op(d, total(py_m))));
        }
        Ok(())
    })?;
    Ok(s)
}

/// `d[key] = procs·m`, then `procs` clients do `m` locked decrements each
/// (acquire, get, set, release); checks `d[key] == 0`.
fn mproc_locked(procs: usize, m: u32, objects: &Objects<'_>) -> Result<Run> {
    let Objects { d, lock, key, .. } = *objects;
    let total = procs as i64 * i64::from(m);
    d.set(key, &total)?;
    let run = clients_run(
        procs,
        m,
        objects.server,
        || {
            // Connects this child (the first call of an inherited proxy).
            d.get(key)?;
            lock.acquire()?;
            lock.release()?;
            Ok(())
        },
        || {
            lock.acquire()?;
            let v = d.get(key)?.ok_or("the key is gone")?;
            d.set(key, &(v - 1))?;
            lock.release()?;
            Ok(())
        },
    )?;
    let end = d.get(key)?.unwrap_or(-1);
    check_count(&format!("mproc manager, {procs} clients"), end, 0)?;
    Ok(run)
}

/// The same on a fresh [`Value<i64>`] under its lock: no server.
fn shm_locked(procs: usize, m: u32) -> Result<Run> {
    let total = procs as i64 * i64::from(m);
    let v = Value::new(total)?;
    let run = clients_run(
        procs,
        m,
        None,
        || Ok(()),
        || {
            let mut g = v.lock().unwrap_or_else(OwnerDied::into_guard);
            *g -= 1;
            Ok(())
        },
    )?;
    check_count(
        &format!("mproc shm Value<i64>, {procs} processes"),
        v.get(),
        0,
    )?;
    Ok(run)
}

/// One run: wall time from the release to the last client done; the
/// clients' usage in that time, summed; the server's over the same span
/// (read just before the release and after the clients are reaped).
struct Run {
    elapsed: Duration,
    clients: Usage,
    server: Option<Usage>,
}

/// Forks `procs` clients that each run `prepare` once, wait until all are
/// ready and released together, then run `op` `m` times; returns the time
/// from the release to the last one done, and the usage of the clients and
/// of process `server`. A client whose `prepare` or `op` fails says so on
/// stderr and exits with 1, which fails the run.
fn clients_run(
    procs: usize,
    m: u32,
    server: Option<i32>,
    prepare: impl Fn() -> Result<()>,
    op: impl Fn() -> Result<()>,
) -> Result<Run> {
    let mut server_before = None;
    let clients = run_released(
        "manager",
        procs,
        PATIENCE,
        |lane| {
            prepare()?;
            lane.run(|| {
                for _ in 0..m {
                    op()?;
                }
                Ok(())
            })
        },
        || server_before = server.and_then(Usage::of_pid),
    )?;
    let server_after = server.and_then(Usage::of_pid);
    Ok(Run {
        elapsed: clients.elapsed,
        clients: clients.usage,
        server: server_before
            .zip(server_after)
            .map(|(before, after)| after.since(before)),
    })
}

/// One manager run's [`Usage`] as rates per decrement.
#[derive(Clone, Copy)]
struct UseRates {
    /// CPU ns of all the clients.
    clients_cpu: f64,
    /// The clients' voluntary and involuntary switches.
    clients_parks: f64,
    clients_preempted: f64,
    /// CPU ns of the server, and its switches (n/a without its figures).
    server_cpu: Option<f64>,
    server_parks: Option<f64>,
    server_preempted: Option<f64>,
    /// (Clients + server) CPU time / wall time: how many CPUs were busy.
    busy: Option<f64>,
}

impl UseRates {
    fn of(run: &Run, ops: f64) -> UseRates {
        let wall = run.elapsed.as_secs_f64() * 1e9;
        let c = run.clients;
        UseRates {
            clients_cpu: c.cpu_ns as f64 / ops,
            clients_parks: c.parks as f64 / ops,
            clients_preempted: c.preempted as f64 / ops,
            server_cpu: run.server.map(|s| s.cpu_ns as f64 / ops),
            server_parks: run.server.map(|s| s.parks as f64 / ops),
            server_preempted: run.server.map(|s| s.preempted as f64 / ops),
            busy: run.server.map(|s| (c.cpu_ns + s.cpu_ns) as f64 / wall),
        }
    }
}

// ----------------------------------------------------------------- Python

/// Runs `line` (`getset N`, `locked P M`) on the peer: its time, or
/// nothing without a (working) peer. A final count other than `want`
/// fails the bench.
fn python_run(python: &mut Option<Peer>, line: &str, want: i64) -> Result<Option<Duration>> {
    let Some([ns, count]) = ask_numbers::<i64, 2>(python, line) else {
        return Ok(None);
    };
    check_count(&format!("Python {line}"), count, want)?;
    Ok(Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(0))))
}

// ----------------------------------------------------------------- report

fn report(out: &mut String, m: &Measured) {
    // 1–3: against Python.
    let _ = writeln!(
        out,
        "| benchmark (one manager each, dict key \"{KEY}\") | mproc ns/op | Python ns/op | \
         Python/mproc | target | result |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|---|");
    let rows: [(String, &Samples, Option<f64>); 3] = [
        (
            "dict round trip, per operation: `d[key] = d[key] + 1` from the manager's owner \
             (a get or a set is one op)"
                .into(),
            &m.getset,
            Some(100.0),
        ),
        (
            "locked decrement `with lock: d[key] -= 1` (acquire, get, set, release), 1 client \
             process, per decrement"
                .into(),
            &m.one,
            Some(100.0),
        ),
        (
            format!(
                "the same, {CLIENTS} client processes at once on one key and one lock, per \
                 decrement (all clients' decrements / wall time)"
            ),
            &m.many,
            None,
        ),
    ];
    for (bench, s, limit) in rows {
        let r = paired_ratio(&s.python, &s.mproc);
        let (target, result) = match limit {
            Some(limit) => {
                let c = check("Python/mproc", r, false, limit);
                let v = verdict(&c);
                (c.0, v)
            }
            None => ("— (reference)".to_owned(), "—".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {bench} | {} | {} | {} | {target} | {result} |",
            cell(median(&s.mproc)),
            cell(median(&s.python)),
            ratio_cell(r),
        );
    }

    // 64-byte values: serde against Wire.
    let (wire, serde) = &m.value64;
    let _ = writeln!(
        out,
        "\n| dict set + get of a 64-byte value, per operation | Wire `FixedStr<60>` ns/op | \
         serde `String` (63 chars) ns/op | serde/Wire |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|");
    let serde_cell = if cfg!(feature = "serde") {
        cell(median(serde))
    } else {
        "n/a (build with `--features serde`)".to_owned()
    };
    let _ = writeln!(
        out,
        "| from the manager's owner | {} | {serde_cell} | {} |",
        cell(median(wire)),
        ratio_cell(paired_ratio(serde, wire)),
    );

    // 4: against shared memory.
    let _ = writeln!(
        out,
        "\n| locked decrement: what the server hop costs | mproc manager ns/dec | mproc shm \
         `Value<i64>` ns/dec | manager/shm |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|");
    for (who, s) in [
        ("1 client process".to_owned(), &m.one),
        (format!("{CLIENTS} client processes"), &m.many),
    ] {
        let _ = writeln!(
            out,
            "| {who} | {} | {} | {} |",
            cell(median(&s.mproc)),
            cell(median(&s.shm)),
            ratio_cell(paired_ratio(&s.mproc, &s.shm)),
        );
    }

    // Where the manager's time goes.
    let _ = writeln!(
        out,
        "\nWhere the mproc manager's locked decrement spends its time (per decrement; the \
         clients' getrusage from their release to their end, summed; the server's CPU clock \
         (clock_getcpuclockid) and /proc/<pid>/status context switches, read just before \
         the release and after the clients are reaped; medians over the rounds; CPUs busy = \
         (clients + server) CPU time / wall time; parks = voluntary switches, preempted = \
         involuntary ones):\n"
    );
    let _ = writeln!(
        out,
        "| clients | ns/dec | CPUs busy | clients CPU ns/dec | server CPU ns/dec | client parks/dec | \
         client preempted/dec | server parks/dec | server preempted/dec |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (k, s) in [(1, &m.one), (CLIENTS, &m.many)] {
        let pick = |f: fn(&UseRates) -> Option<f64>| {
            median(&s.mproc_use.iter().filter_map(f).collect::<Vec<_>>())
        };
        let _ = writeln!(
            out,
            "| {k} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(median(&s.mproc)),
            ratio_cell(pick(|u| u.busy)),
            cell(pick(|u| Some(u.clients_cpu))),
            cell(pick(|u| u.server_cpu)),
            ratio_cell(pick(|u| Some(u.clients_parks))),
            ratio_cell(pick(|u| Some(u.clients_preempted))),
            ratio_cell(pick(|u| u.server_parks)),
            ratio_cell(pick(|u| u.server_preempted)),
        );
    }

    // Spread.
    let one = "locked decrement, 1 client";
    let many = format!("locked decrement, {CLIENTS} clients");
    let rows: [(&str, &str, &[f64]); 8] = [
        ("dict get + set", "mproc manager", &m.getset.mproc),
        ("dict get + set", "Python manager", &m.getset.python),
        (one, "mproc manager", &m.one.mproc),
        (one, "mproc shm", &m.one.shm),
        (one, "Python manager", &m.one.python),
        (&many, "mproc manager", &m.many.mproc),
        (&many, "mproc shm", &m.many.shm),
        (&many, "Python manager", &m.many.python),
    ];
    spread_table(out, "Spread over the rounds (min–max, ns/op):", rows);
}
