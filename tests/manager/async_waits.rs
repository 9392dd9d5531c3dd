//! `AsyncProxy` (feature `tokio`): a manager's lock, event and queue
//! waits as futures on a current-thread runtime, other tasks running
//! meanwhile, and futures dropped mid-wait: withdrawn, or undone when the
//! server's answer crossed the withdrawal (no lock left held, no item
//! lost or duplicated, order kept).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mproc::ErrorKind;
use mproc::manager::{AsyncProxy, Manager};
use mproc::process::Process;

use crate::common::isolated;

/// What must happen, happens well within this.
const MUST: Duration = Duration::from_secs(10);

fn join<F: FnOnce()>(p: &Process<F>) {
    assert_eq!(p.join().unwrap(), 0);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_async_acquire_waits_for_the_holder_while_other_tasks_run() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        lock.acquire().unwrap();
        runtime().block_on(async {
            let alock = AsyncProxy::new(&lock).unwrap();
            let ticks = Arc::new(AtomicU32::new(0));
            let counter = ticks.clone();
            tokio::spawn(async move {
                loop {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            // Held by the manager's own connection: the async one waits.
            let waited = tokio::time::timeout(Duration::from_millis(50), alock.acquire()).await;
            assert!(waited.is_err(), "the lock was held");
            assert!(
                ticks.load(Ordering::SeqCst) >= 5,
                "the other task ran meanwhile"
            );
            lock.release().unwrap();
            let guard = tokio::time::timeout(MUST, alock.acquire())
                .await
                .expect("granted once released")
                .unwrap();
            assert!(!lock.try_acquire().unwrap(), "held through the async proxy");
            drop(guard);
            assert!(lock.try_acquire().unwrap(), "the guard released it");
            lock.release().unwrap();
            assert!(
                alock
                    .acquire_timeout(Duration::ZERO)
                    .await
                    .unwrap()
                    .is_some()
            );
        });
    });
}

#[test]
fn a_dropped_acquire_is_withdrawn_not_granted_later() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        runtime().block_on(async {
            let alock = AsyncProxy::new(&lock).unwrap();
            lock.acquire().unwrap();
            let gave_up = tokio::time::timeout(Duration::from_millis(20), alock.acquire()).await;
            assert!(gave_up.is_err());
            lock.release().unwrap();
            // A request still parked would be granted the lock now.
            assert!(
                lock.try_acquire().unwrap(),
                "the dropped acquire was withdrawn"
            );
            lock.release().unwrap();
            // The async proxy's connection is usable after the withdrawal.
            drop(alock.acquire().await.unwrap());
        });
    });
}

#[test]
fn acquires_dropped_as_the_lock_is_released_never_leave_it_held() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let lock = m.lock().unwrap();
        runtime().block_on(async {
            let alock = AsyncProxy::new(&lock).unwrap();
            for round in 0..1000 {
                lock.acquire().unwrap();
                let mut acquire = Box::pin(alock.acquire());
                // Parked at the server (or about to be).
                assert!(
                    tokio::time::timeout(Duration::from_micros(30), &mut acquire)
                        .await
                        .is_err()
                );
                // The release grants it to the async proxy's request,
                // which is dropped at about the same instant.
                lock.release().unwrap();
                drop(acquire);
                // Either way the lock is free again.
                assert!(
                    lock.try_acquire().unwrap(),
                    "round {round}: a dropped acquire left the lock held"
                );
                lock.release().unwrap();
            }
        });
    });
}

#[test]
fn an_async_event_wait_returns_when_another_process_sets_it() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let ev = m.event().unwrap();
        let go = m.event().unwrap();
        let mut setter = Process::new(|| {
            go.wait().unwrap();
            ev.set().unwrap();
        });
        setter.start().unwrap();
        runtime().block_on(async {
            let aev = AsyncProxy::new(&ev).unwrap();
            assert!(!aev.wait_timeout(Duration::from_millis(20)).await.unwrap());
            go.set().unwrap();
            tokio::time::timeout(MUST, aev.wait())
                .await
                .unwrap()
                .unwrap();
            assert!(aev.wait_timeout(Duration::ZERO).await.unwrap());
        });
        join(&setter);
    });
}

#[test]
fn an_async_queue_passes_items_both_ways_and_times_out() {
    isolated(|| {
        let m = Manager::start().unwrap();
        let q = m.queue::<u64>(2).unwrap();
        let mut child = Process::new(|| {
            for i in 0..10u64 {
                q.put(&i).unwrap();
            }
        });
        child.start().unwrap();
        runtime().block_on(async {
            let aq = AsyncProxy::new(&q).unwrap();
            for i in 0..10u64 {
                assert_eq!(
                    tokio::time::timeout(MUST, aq.get()).await.unwrap().unwrap(),
                    i
                );
            }
            let e = aq.get_timeout(Duration::from_millis(10)).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Empty, "{e}");
            aq.put(&7).await.unwrap();
            aq.put(&8).await.unwrap();
            let e = aq
                .put_timeout(&9, Duration::from_millis(10))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Full, "{e}");
            assert_eq!(q.get().unwrap(), 7);
            assert_eq!(aq.get().await.unwrap(), 8);
        });
        join(&child);
    });
}

#[test]
fn gets_dropped_mid_wait_never_lose_or_duplicate_an_item() {
    const N: u64 = 400;
    isolated(|| {
        let m = Manager::start().unwrap();
        let q = m.queue::<u64>(4).unwrap();
        let mut producer = Process::new(|| {
            for i in 0..N {
                q.put(&i).unwrap();
                if i % 3 == 0 {
                    std::thread::sleep(Duration::from_micros(40));
                }
            }
        });
        producer.start().unwrap();
        let mut got = Vec::new();
        runtime().block_on(async {
            // Fresh async proxies now and then: one dropped with an item
            // it kept gives it back to the queue's front.
            let mut aq = AsyncProxy::new(&q).unwrap();
            let mut round = 0u32;
            let deadline = std::time::Instant::now() + MUST;
            while (got.len() as u64) < N {
                round += 1;
                if round.is_multiple_of(16) {
                    aq = AsyncProxy::new(&q).unwrap();
                }
                let patience = Duration::from_micros(u64::from(round % 7) * 15);
                if let Ok(item) = tokio::time::timeout(patience, aq.get()).await {
                    got.push(item.unwrap());
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "stalled at {} items ({}); queue size {:?}",
                    got.len(),
                    gaps(&got, N),
                    q.qsize()
                );
            }
        });
        join(&producer);
        assert_eq!(
            got,
            (0..N).collect::<Vec<_>>(),
            "every item once, in order: {}",
            gaps(&got, N)
        );
        assert_eq!(q.qsize().unwrap(), 0);
    });
}

#[cfg(feature = "serde")]
#[test]
fn a_withdrawn_put_of_serde_items_no_longer_holds_back_the_puts_behind_it() {
    isolated(|| {
        let m = Manager::start().unwrap();
        // 64 bytes of items: a 40-byte string and a 30-byte one do not fit
        // together.
        let q = m.queue_serde::<String>(8, 64).unwrap();
        q.put(&"a".repeat(40)).unwrap();
        let small = m.event().unwrap();
        runtime().block_on(async {
            let aq = AsyncProxy::new(&q).unwrap();
            // Too big for the room left: parked.
            let big = "b".repeat(30);
            let mut parked = Box::pin(aq.put(&big));
            assert!(
                tokio::time::timeout(Duration::from_millis(20), &mut parked)
                    .await
                    .is_err(),
                "no room for it"
            );
            // A small put that fits waits behind it: puts keep their order.
            let mut child = Process::new(|| {
                q.put_timeout(&"c".to_string(), MUST).unwrap();
                small.set().unwrap();
            });
            child.start().unwrap();
            assert!(
                !small.wait_timeout(Duration::from_millis(50)).unwrap(),
                "held back by the older put"
            );
            // The parked put is withdrawn: the small one goes in at once.
            drop(parked);
            assert!(small.wait_timeout(MUST).unwrap(), "the small put went in");
            join(&child);
            assert_eq!(q.qsize().unwrap(), 2);
            assert_eq!(aq.get().await.unwrap(), "a".repeat(40));
            assert_eq!(aq.get().await.unwrap(), "c");
        });
    });
}

#[cfg(feature = "serde")]
#[test]
fn serde_gets_dropped_mid_wait_never_lose_or_duplicate_an_item() {
    const N: usize = 200;
    isolated(|| {
        let m = Manager::start().unwrap();
        let q = m.queue_serde::<String>(4, 256).unwrap();
        let mut producer = Process::new(|| {
            for i in 0..N {
                q.put(&format!("item {i}")).unwrap();
                if i % 3 == 0 {
                    std::thread::sleep(Duration::from_micros(40));
                }
            }
        });
        producer.start().unwrap();
        let mut got = Vec::new();
        runtime().block_on(async {
            let mut aq = AsyncProxy::new(&q).unwrap();
            let deadline = std::time::Instant::now() + MUST;
            let mut round = 0u64;
            while got.len() < N {
                round += 1;
                if round.is_multiple_of(16) {
                    aq = AsyncProxy::new(&q).unwrap();
                }
                let patience = Duration::from_micros(round % 7 * 15);
                if let Ok(item) = tokio::time::timeout(patience, aq.get()).await {
                    got.push(item.unwrap());
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "stalled at {}",
                    got.len()
                );
            }
        });
        join(&producer);
        let want: Vec<String> = (0..N).map(|i| format!("item {i}")).collect();
        assert_eq!(got, want, "every item once, in order");
    });
}

/// What `got` lacks of `0..n`, what it has twice and where it is out of
/// order, for a failure's message.
fn gaps(got: &[u64], n: u64) -> String {
    let missing: Vec<u64> = (0..n).filter(|i| !got.contains(i)).collect();
    let mut seen = std::collections::HashSet::new();
    let twice: Vec<u64> = got.iter().copied().filter(|i| !seen.insert(*i)).collect();
    let disorder: Vec<(usize, u64)> = got
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1] < w[0])
        .map(|(i, w)| (i + 1, w[1]))
        .collect();
    format!("missing {missing:?}, twice {twice:?}, out of order at {disorder:?}")
}
