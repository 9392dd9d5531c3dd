//! Steady state allocates nothing: starting, joining, signalling and waiting,
//! locking and unlocking, shared values, queues, the pool and the manager,
//! counted with a global allocator that counts every allocation. The
//! queues', the pool's and the manager's cases are in their own files.
#![allow(unsafe_code)]

#[path = "../common/mod.rs"]
mod common;
mod manager;
mod pool;
mod queues;
mod server;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mproc::ipc::{Pipe, Queue, wait};
use mproc::process::{self, Process};
use mproc::shm::{Array, FixedStr, RawArray, RawValue, Shared, Value};
use mproc::signal::{self, SigSet, Signal};
use mproc::sync::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, OwnerDied, RLock, Semaphore, TryLockError,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One round of the steady-state operations.
fn round(usr1: SigSet) {
    let mut p = Process::new(|| ()).with_name("worker").unwrap();
    p.start().unwrap();
    assert!(p.join_timeout(Duration::from_secs(20)).unwrap().is_some());
    assert_eq!(p.join().unwrap(), 0);
    let mut q = Process::new(|| {
        loop {
            signal::pause();
        }
    });
    q.start().unwrap();
    q.kill().unwrap();
    assert_eq!(q.join().unwrap(), -9);
    signal::kill(process::getpid(), Signal::USR1).unwrap();
    assert_eq!(usr1.wait().unwrap().signal, Signal::USR1);
    assert_eq!(usr1.try_wait().unwrap(), None);
    let _ = process::active_children();
    let _ = process::current_process();
    let _ = signal::alarm(0);
}

/// Runs `round` once to warm up (lazy statics of std and the crate), checks
/// that the counter is live (a Box counts), then runs it `rounds` more
/// times and asserts that those allocated nothing.
fn assert_steady_state_allocates_nothing(rounds: usize, mut round: impl FnMut()) {
    round();
    let probe_before = ALLOCATIONS.load(Ordering::Relaxed);
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), probe_before + 1);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..rounds {
        round();
    }
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        allocated, 0,
        "{allocated} allocations in {rounds} steady-state rounds"
    );
}

#[test]
fn process_and_signal_operations_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        let usr1 = SigSet::from(Signal::USR1);
        let _blocked = usr1.block().unwrap();
        assert_steady_state_allocates_nothing(10, || round(usr1));
    });
}

/// The shared values and the lock, in one process.
struct Shm {
    lock: Shared<Lock>,
    value: Value<u64>,
    text: Value<FixedStr<32>>,
    array: Array<i32, 10>,
    raw: RawValue<f64>,
    raw_array: RawArray<u16, 8>,
}

/// One round of lock and shared-value operations, uncontended and with a
/// holder in another process, alive and then killed.
fn shm_round(shm: &Shm, hello: FixedStr<32>) {
    // Uncontended: lock/unlock in every form.
    drop(shm.lock.lock().unwrap());
    drop(shm.lock.try_lock().unwrap());
    drop(shm.lock.lock_timeout(Duration::from_millis(10)).unwrap());
    assert!(!shm.lock.is_locked());
    // Value, Array, Raw*: get, set, lock.
    shm.value.set(shm.value.get() + 1);
    *shm.value.lock().unwrap() += 1;
    shm.text.set(hello);
    assert_eq!(shm.text.get(), "hello");
    shm.array.set(3, shm.array.get(3).unwrap() + 1).unwrap();
    assert!(shm.array.set(10, 0).is_err());
    shm.array.lock().unwrap()[0] += 1;
    let _ = std::hint::black_box(shm.array.to_array());
    shm.raw.set(shm.raw.get() + 0.5);
    shm.raw_array
        .set(7, shm.raw_array.get(7).unwrap() + 1)
        .unwrap();
    let _ = std::hint::black_box(shm.raw_array.to_array());
    // Making and dropping a segment is mmap and munmap only.
    drop(std::hint::black_box(Value::new(1u8).unwrap()));
    drop(std::hint::black_box(Shared::new(Lock::new()).unwrap()));
    // Held by a live child: would block, times out; killed: taken over.
    let (mut ready, tx) = std::io::pipe().unwrap();
    let lock: &Lock = &shm.lock;
    let mut holder = Process::new(move || {
        let _held = lock.lock().unwrap_or_else(OwnerDied::into_guard);
        let mut tx = tx;
        tx.write_all(b"x").unwrap();
        loop {
            signal::pause();
        }
    });
    holder.start().unwrap();
    std::io::Read::read_exact(&mut ready, &mut [0u8; 1]).unwrap();
    assert!(matches!(shm.lock.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(matches!(
        shm.lock.lock_timeout(Duration::from_millis(1)),
        Err(TryLockError::TimedOut)
    ));
    holder.kill().unwrap();
    // Not reaped yet: the take-over reads /proc for the zombie.
    let died = shm.lock.lock().unwrap_err();
    assert_eq!(died.pid(), holder.pid());
    died.guard().mark_consistent();
    drop(died);
    assert_eq!(holder.join().unwrap(), -9);
}

#[test]
fn lock_and_shared_value_operations_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        let shm = Shm {
            lock: Shared::new(Lock::new()).unwrap(),
            value: Value::new(0).unwrap(),
            text: Value::new(FixedStr::new()).unwrap(),
            array: Array::from_fn(|i| i as i32).unwrap(),
            raw: RawValue::new(0.0).unwrap(),
            raw_array: RawArray::from_fn(|i| i as u16).unwrap(),
        };
        let hello: FixedStr<32> = "hello".parse().unwrap();
        assert_steady_state_allocates_nothing(10, || shm_round(&shm, hello));
        assert_eq!(shm.value.get(), 22);
        assert_eq!(shm.array.to_array()[..4], [11, 1, 2, 14]);
        assert_eq!(shm.raw.get(), 5.5);
    });
}

/// The other primitives, in one process.
struct Prims {
    event: Shared<Event>,
    sem: Shared<Semaphore>,
    bounded: Shared<BoundedSemaphore>,
    rlock: Shared<RLock>,
    cond: Shared<Condition>,
    barrier: Shared<Barrier>,
}

/// One round of Event, Semaphore, RLock, Condition and Barrier operations,
/// the Event also set by another process while this one waits parked.
fn prims_round(p: &Prims) {
    // Event: set, wait (at once), a timed wait while clear, clear.
    p.event.set();
    assert!(p.event.is_set());
    p.event.wait();
    p.event.clear();
    assert!(!p.event.wait_timeout(Duration::from_millis(1)));
    // Set by a child while this process waits (the parking path).
    let event: &Event = &p.event;
    let mut setter = Process::new(move || {
        std::thread::sleep(Duration::from_millis(5));
        event.set();
    });
    setter.start().unwrap();
    p.event.wait();
    assert_eq!(setter.join().unwrap(), 0);
    p.event.clear();
    // Semaphore: every form, and release.
    drop(p.sem.acquire());
    drop(p.sem.try_acquire().unwrap());
    let unit = p.sem.acquire_timeout(Duration::from_millis(1)).unwrap();
    assert!(p.sem.try_acquire().is_none());
    assert!(p.sem.acquire_timeout(Duration::from_millis(1)).is_none());
    unit.forget();
    p.sem.release().unwrap();
    p.sem.release_n(1).unwrap();
    p.sem.acquire().forget();
    // BoundedSemaphore: the over-release error is built without allocating.
    assert!(p.bounded.release().is_err());
    drop(p.bounded.acquire());
    // RLock, nested.
    let a = p.rlock.lock().unwrap();
    let b = p.rlock.try_lock().unwrap();
    drop((b, a));
    // Condition: notify nobody, a timed wait.
    let g = p.cond.acquire().unwrap();
    assert_eq!(g.notify_all(), 0);
    let (g, notified) = g.wait_timeout(Duration::from_millis(1)).unwrap();
    assert!(!notified);
    drop(g);
    // Barrier of one: passes at once.
    assert_eq!(p.barrier.wait().unwrap(), 0);
}

#[test]
fn event_semaphore_rlock_condition_barrier_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        let p = Prims {
            event: Shared::new(Event::new()).unwrap(),
            sem: Shared::new(Semaphore::new(1)).unwrap(),
            bounded: Shared::new(BoundedSemaphore::new(1)).unwrap(),
            rlock: Shared::new(RLock::new()).unwrap(),
            cond: Shared::new(Condition::new()).unwrap(),
            barrier: Shared::new(Barrier::new(1)).unwrap(),
        };
        assert_steady_state_allocates_nothing(10, || prims_round(&p));
        assert_eq!(p.sem.get_value(), 1);
        assert_eq!(p.bounded.get_value(), 1);
    });
}

#[test]
fn pipe_send_and_recv_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        let (here, there) = Pipe::duplex().unwrap();
        // An echo process: every message straight back, until "q" (it
        // holds a copy of `here` too, so it would never read the end).
        let mut echo = Process::new(move || {
            let mut buf = [0u8; 256];
            loop {
                let n = there.recv_bytes(&mut buf).unwrap();
                if buf[..n] == *b"q" {
                    break;
                }
                there.send_bytes(&buf[..n]).unwrap();
            }
        });
        echo.start().unwrap();
        let round = || {
            let mut buf = [0u8; 256];
            here.send_bytes(&[7u8; 64]).unwrap();
            assert_eq!(here.recv_bytes(&mut buf).unwrap(), 64);
            here.send(&[1u64; 4]).unwrap();
            assert_eq!(here.recv::<[u64; 4]>().unwrap(), [1; 4]);
            assert_eq!(here.try_recv_bytes(&mut buf).unwrap(), None);
            here.send(&2u32).unwrap();
            assert_eq!(
                here.recv_timeout::<u32>(Duration::from_secs(20)).unwrap(),
                Some(2)
            );
            // Errors are built without allocating too.
            here.send(&3u16).unwrap();
            assert!(here.recv::<u32>().is_err());
            here.send_bytes(&[5u8; 64]).unwrap();
            assert!(here.recv_bytes(&mut buf[..8]).is_err());
        };
        assert_steady_state_allocates_nothing(10, round);
        here.send_bytes(b"q").unwrap();
        assert_eq!(echo.join().unwrap(), 0);
    });
}

fn pool_fd_len(f: std::fs::File, _: ()) -> u64 {
    f.metadata().map(|m| m.len()).unwrap_or(u64::MAX)
}

#[test]
fn descriptors_through_a_pipe_and_to_pool_workers_allocate_nothing_in_steady_state() {
    common::isolated(|| {
        use std::os::fd::AsFd;
        let (a, b) = Pipe::duplex().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let pool = mproc::pool::Pool::new(1).unwrap();
        let round = || {
            a.send_fd(file.as_fd()).unwrap();
            drop(b.recv_fd().unwrap());
            a.send_with_fds(&7u32, &[file.as_fd(), file.as_fd()])
                .unwrap();
            let mut fds = [None];
            assert_eq!(b.recv_with_fds::<u32>(&mut fds).unwrap(), (7, 1));
            drop(fds);
            a.send_bytes(b"none").unwrap();
            assert!(b.recv_fd().is_err());
            let dup = file.try_clone().unwrap();
            assert_eq!(pool.apply_fd(pool_fd_len, dup, ()).unwrap(), 0);
        };
        assert_steady_state_allocates_nothing(10, round);
    });
}

/// The primitives again, each on the path where another process is
/// involved: this process parked until a child releases, sets, notifies or
/// arrives, and a child killed while it holds an RLock or a Condition's
/// lock (the take-over).
struct Contended {
    sem: Shared<Semaphore>,
    event: Shared<Event>,
    rlock: Shared<RLock>,
    cond: Shared<Condition>,
    /// Set under `cond`'s lock by this process just before it waits.
    waiting: Shared<std::sync::atomic::AtomicU32>,
    barrier: Shared<Barrier>,
}

/// In a child: waits until process `pid` sleeps (parked on a futex). What
/// the child allocates is its own, not counted here.
fn until_parked(pid: mproc::Pid) {
    let parked = common::eventually(Duration::from_secs(20), || {
        common::proc_state(pid.as_raw()) == Some('S')
    });
    assert!(parked, "the parent never parked");
}

/// Starts `target` in a child and returns its handle.
fn spawn<F: FnOnce()>(target: F) -> Process<F> {
    let mut p = Process::new(target);
    p.start().unwrap();
    p
}

fn contended_round(c: &Contended) {
    let me = process::getpid();
    let must = Duration::from_secs(20);
    // Semaphore: parked in acquire, then in a timed acquire, until a child
    // releases.
    let sem: &Semaphore = &c.sem;
    let releaser = spawn(move || {
        until_parked(me);
        sem.release().unwrap();
    });
    c.sem.acquire().forget();
    assert_eq!(releaser.join().unwrap(), 0);
    let releaser = spawn(move || {
        until_parked(me);
        sem.release_n(1).unwrap();
    });
    drop(c.sem.acquire_timeout(must).unwrap());
    assert_eq!(releaser.join().unwrap(), 0);
    c.sem.acquire().forget();
    // Event: parked in wait, then in a timed wait, until a child sets.
    let event: &Event = &c.event;
    let setter = spawn(move || {
        until_parked(me);
        event.set();
    });
    c.event.wait();
    assert_eq!(setter.join().unwrap(), 0);
    c.event.clear();
    let setter = spawn(move || {
        until_parked(me);
        event.set();
    });
    assert!(c.event.wait_timeout(must));
    assert_eq!(setter.join().unwrap(), 0);
    c.event.clear();
    // Condition: parked in wait until a child notifies.
    let (cond, waiting): (&Condition, &std::sync::atomic::AtomicU32) = (&c.cond, &c.waiting);
    let g = c.cond.acquire().unwrap();
    c.waiting.store(1, Ordering::Relaxed);
    let notifier = spawn(move || {
        loop {
            let g = cond.acquire().unwrap();
            if waiting.load(Ordering::Relaxed) == 1 {
                waiting.store(0, Ordering::Relaxed);
                assert_eq!(g.notify(1), 1);
                break;
            }
            drop(g);
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let (g, notified) = g.wait_timeout(must).unwrap();
    assert!(notified);
    drop(g);
    assert_eq!(notifier.join().unwrap(), 0);
    // Barrier of two: parked until a child arrives; a lone timed wait
    // breaks it; reset mends it.
    let barrier: &Barrier = &c.barrier;
    let party = spawn(move || {
        until_parked(me);
        barrier.wait().unwrap();
    });
    assert!(c.barrier.wait().is_ok());
    assert_eq!(party.join().unwrap(), 0);
    assert_eq!(
        c.barrier.wait_timeout(Duration::from_millis(1)),
        Err(mproc::sync::BarrierError::TimedOut)
    );
    assert_eq!(c.barrier.wait(), Err(mproc::sync::BarrierError::Broken));
    c.barrier.reset();
    // RLock and the Condition's lock, held by a child: would block, times
    // out; the child killed: taken over (the zombie look reads /proc).
    let rlock: &RLock = &c.rlock;
    let (mut ready, tx) = std::io::pipe().unwrap();
    let holder = spawn(move || {
        let _a = rlock.lock().unwrap_or_else(OwnerDied::into_guard);
        let _b = rlock.lock().unwrap();
        let _c = cond.acquire().unwrap_or_else(OwnerDied::into_guard);
        let mut tx = tx;
        tx.write_all(b"x").unwrap();
        loop {
            signal::pause();
        }
    });
    std::io::Read::read_exact(&mut ready, &mut [0u8; 1]).unwrap();
    assert!(matches!(c.rlock.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(matches!(
        c.rlock.lock_timeout(Duration::from_millis(1)),
        Err(TryLockError::TimedOut)
    ));
    assert!(matches!(
        c.cond.try_acquire(),
        Err(TryLockError::WouldBlock)
    ));
    assert!(matches!(
        c.cond.acquire_timeout(Duration::from_millis(1)),
        Err(TryLockError::TimedOut)
    ));
    holder.kill().unwrap();
    let died = c.rlock.lock().unwrap_err();
    assert_eq!(died.pid(), holder.pid());
    let outer = died.into_guard();
    let inner = c.rlock.lock().unwrap();
    inner.mark_consistent();
    drop((inner, outer));
    let died = c.cond.acquire().unwrap_err();
    assert_eq!(died.pid(), holder.pid());
    died.guard().mark_consistent();
    drop(died);
    assert_eq!(holder.join().unwrap(), -9);
}

#[test]
fn primitives_waiting_on_other_processes_and_taking_over_from_dead_ones_allocate_nothing() {
    common::isolated(|| {
        let c = Contended {
            sem: Shared::new(Semaphore::new(0)).unwrap(),
            event: Shared::new(Event::new()).unwrap(),
            rlock: Shared::new(RLock::new()).unwrap(),
            cond: Shared::new(Condition::new()).unwrap(),
            waiting: Shared::new(std::sync::atomic::AtomicU32::new(0)).unwrap(),
            barrier: Shared::new(Barrier::new(2)).unwrap(),
        };
        assert_steady_state_allocates_nothing(5, || contended_round(&c));
        assert_eq!(c.sem.get_value(), 0);
        assert!(!c.event.is_set());
        assert!(c.rlock.is_consistent() && c.cond.get_lock().is_consistent());
        assert!(!c.barrier.is_broken());
    });
}

#[test]
fn a_daemon_main_loop_with_a_steered_pool_allocates_nothing_in_steady_state() {
    common::isolated(|| {
        use mproc::daemon::{LogFile, MainLoop, Status};
        use mproc::pool::Pool;
        let main = MainLoop::new(SigSet::from_signals(&[Signal::USR1])).unwrap();
        let pool = Pool::builder()
            .processes(2)
            .task_timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let status = Status::new();
        let path = std::env::temp_dir().join(format!("mproc-alloc-log-{}", process::getpid()));
        let mut log = LogFile::open(&path).unwrap();
        let (rx, tx) = Pipe::simplex().unwrap();
        let round = || {
            signal::kill(process::getpid(), Signal::USR1).unwrap();
            tx.send_bytes(b"job").unwrap();
            let woke = main
                .wait_pool(&pool, &[rx.as_fd()], Some(Duration::from_secs(10)))
                .unwrap();
            assert!(!woke.signals().is_empty() || woke.ready().contains(0));
            let mut buf = [0u8; 8];
            while rx.try_recv_bytes(&mut buf).unwrap().is_some() {}
            let _ = main.signal_fd().pending().count();
            assert_eq!(pool.apply(pool::pool_square, 5).unwrap(), 25);
            let _ = pool.poll_timeout();
            status.touch();
            log.line(format_args!("{}", status.snapshot())).unwrap();
        };
        assert_steady_state_allocates_nothing(20, round);
        let _ = std::fs::remove_file(&path);
    });
}
