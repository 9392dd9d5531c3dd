//! Pool results awaited: `.await` on an `AsyncResult`, `wait_async`,
//! `imap` as a stream; no result lost to a dropped future.

use std::future::{Future as _, IntoFuture as _};
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mproc::ErrorKind;
use mproc::pool::Pool;
use mproc::process;
use mproc::signal::{self, Signal};

use crate::common::isolated;
use crate::{LONG, block_on, next};

fn square(x: u64) -> u64 {
    x * x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Blocks until one byte arrives on descriptor `fd` (inherited through
/// the fork), then returns `fd + 1`.
fn wait_for_byte(fd: i32) -> i32 {
    let mut b = 0u8;
    // SAFETY: reads one byte into `b` from a descriptor the worker
    // inherited open.
    let n = unsafe { libc::read(fd, (&raw mut b).cast(), 1) };
    assert_eq!(n, 1);
    fd + 1
}

fn die(x: u64) -> u64 {
    signal::kill(process::getpid(), Signal::KILL).unwrap();
    x
}

#[test]
fn an_awaited_50_ms_task_wakes_its_task_without_a_blocking_pool_call() {
    // The case: waiting on `Pool::sentinel` slept 500 ms past a
    // 50 ms task.
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        block_on(async {
            let start = Instant::now();
            let r = pool.apply_async(sleep_ms, 50).unwrap();
            let v = tokio::time::timeout(LONG, r).await.expect("never woke");
            assert_eq!(v.unwrap(), 50);
            let took = start.elapsed();
            assert!(took < LONG / 4, "woke after {took:?}");
        });
    });
}

#[test]
fn many_results_awaited_at_once_each_get_their_own_value() {
    isolated(|| {
        // Leaked: the tasks spawned below borrow it for 'static.
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(3).unwrap()));
        block_on(async {
            let handles: Vec<_> = (0..40u64)
                .map(|i| {
                    let r = pool.apply_async(square, i).unwrap();
                    tokio::task::spawn_local(async move { (i, r.await) })
                })
                .collect();
            for h in handles {
                let (i, v) = tokio::time::timeout(LONG, h).await.unwrap().unwrap();
                assert_eq!(v.unwrap(), i * i);
            }
        });
        pool.terminate().unwrap();
    });
}

#[test]
fn an_awaited_task_whose_worker_dies_fails_with_worker_died() {
    isolated(|| {
        let pool = Pool::new(1).unwrap();
        block_on(async {
            let r = pool.apply_async(die, 1).unwrap();
            let e = tokio::time::timeout(LONG, r.get_async())
                .await
                .expect("the death never woke the task")
                .unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::WorkerDied { .. }), "{e:?}");
            // The replacement serves the next one.
            let r = pool.apply_async(square, 6).unwrap();
            assert_eq!(tokio::time::timeout(LONG, r).await.unwrap().unwrap(), 36);
        });
    });
}

#[test]
fn a_dropped_wait_async_loses_no_result() {
    isolated(|| {
        let (gate, mut opener) = std::io::pipe().unwrap();
        let pool = Pool::new(1).unwrap();
        let fd = gate.as_raw_fd();
        block_on(async {
            let r = pool.apply_async(wait_for_byte, fd).unwrap();
            let waited = tokio::time::timeout(Duration::from_millis(30), r.wait_async()).await;
            assert!(
                waited.is_err(),
                "the task cannot have ended: its gate is shut"
            );
            opener.write_all(&[1]).unwrap();
            tokio::time::timeout(LONG, r.wait_async())
                .await
                .unwrap()
                .unwrap();
            assert!(r.ready());
            assert_eq!(r.get().unwrap(), fd + 1);
        });
        drop(gate);
    });
}

#[test]
fn a_dropped_await_drops_the_handle_and_the_pool_goes_on() {
    isolated(|| {
        let (gate, mut opener) = std::io::pipe().unwrap();
        let pool = Pool::new(1).unwrap();
        let fd = gate.as_raw_fd();
        block_on(async {
            let r = pool.apply_async(wait_for_byte, fd).unwrap();
            let out = tokio::time::timeout(Duration::from_millis(30), r).await;
            assert!(out.is_err());
            assert_eq!(pool.outstanding(), 1, "the task runs on");
            opener.write_all(&[1]).unwrap();
            let r = pool.apply_async(square, 3).unwrap();
            assert_eq!(tokio::time::timeout(LONG, r).await.unwrap().unwrap(), 9);
        });
        pool.join_timeout(LONG).ok();
        drop(gate);
    });
}

#[test]
fn imap_as_a_stream_gives_every_result_in_order() {
    isolated(|| {
        let pool = Pool::new(2).unwrap();
        block_on(async {
            let mut s = pool.imap(square, 0..200u64, 7).into_stream();
            let mut got = Vec::new();
            while let Some(r) = tokio::time::timeout(LONG, next(&mut s)).await.unwrap() {
                got.push(r.unwrap());
            }
            assert_eq!(got, (0..200u64).map(square).collect::<Vec<_>>());
            let mut s = pool
                .imap_unordered(sleep_ms, [30u64, 1, 1, 1], 1)
                .into_stream();
            let mut got = Vec::new();
            while let Some(r) = tokio::time::timeout(LONG, next(&mut s)).await.unwrap() {
                got.push(r.unwrap());
            }
            got.sort();
            assert_eq!(got, [1, 1, 1, 30]);
        });
    });
}

#[test]
fn awaiting_outside_a_runtime_is_a_typed_error_not_a_panic() {
    isolated(|| {
        let (gate, mut opener) = std::io::pipe().unwrap();
        let pool = Pool::new(1).unwrap();
        let fd = gate.as_raw_fd();
        let r = pool.apply_async(wait_for_byte, fd).unwrap();
        // Polled by hand, outside any runtime.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        {
            let mut f = std::pin::pin!(r.wait_async());
            // It may yield once (and wake itself) before it registers.
            let polled = (0..3)
                .map(|_| f.as_mut().poll(&mut cx))
                .find(|p| p.is_ready());
            match polled {
                Some(std::task::Poll::Ready(Err(e))) => {
                    assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
                }
                other => panic!("{other:?}"),
            }
        }
        opener.write_all(&[1]).unwrap();
        assert_eq!(r.get().unwrap(), fd + 1);
    });
}

/// Counts the polls of the future it wraps.
struct Counted<'c, F> {
    inner: std::pin::Pin<Box<F>>,
    polls: &'c std::cell::Cell<u32>,
}

impl<F: std::future::Future> std::future::Future for Counted<'_, F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn a_result_that_ends_wakes_only_the_task_awaiting_it() {
    isolated(|| {
        let (gate, mut opener) = std::io::pipe().unwrap();
        // Gated tasks on all workers but two, which run the ones awaited
        // one by one.
        let workers = mproc::config::POOL_MAX_WORKERS.min(32);
        let pool: &'static Pool = Box::leak(Box::new(
            Pool::builder().processes(workers).build().unwrap(),
        ));
        let waiters = workers - 2;
        let fd = gate.as_raw_fd();
        block_on(async {
            let polls: &'static std::cell::Cell<u32> = Box::leak(Box::new(std::cell::Cell::new(0)));
            let waiting: Vec<_> = (0..waiters)
                .map(|_| {
                    let long = pool.apply_async(wait_for_byte, fd).unwrap();
                    tokio::task::spawn_local(Counted {
                        inner: Box::pin(long.into_future()),
                        polls,
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            let settled = polls.get();
            // 100 other results awaited and collected meanwhile, one by one.
            for i in 0..100u64 {
                let r = pool.apply_async(sleep_ms, 1).unwrap();
                assert_eq!(tokio::time::timeout(LONG, r).await.unwrap().unwrap(), 1);
                let _ = i;
            }
            let during = polls.get() - settled;
            opener.write_all(&vec![1u8; waiters]).unwrap();
            for w in waiting {
                let v = tokio::time::timeout(LONG, w).await.unwrap().unwrap();
                assert_eq!(v.unwrap(), fd + 1);
            }
            // At most one waiting task is woken per result that ended (to
            // take the driving of the pool's watch over), not every one.
            assert!(
                during <= 3 * 100,
                "{waiters} waiting tasks were polled {during} times while 100 other results ended"
            );
            eprintln!("{waiters} waiting tasks, {during} polls while 100 other results ended");
        });
        pool.terminate().unwrap();
        drop(gate);
    });
}

#[test]
fn many_awaits_some_dropped_some_killed_all_settle() {
    isolated(|| {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(3).unwrap()));
        block_on(async {
            let handles: Vec<_> = (0..60u64)
                .map(|i| {
                    let r = if i % 7 == 3 {
                        pool.apply_async(die, i % 5)
                    } else {
                        pool.apply_async(sleep_ms, i % 5)
                    }
                    .unwrap();
                    tokio::task::spawn_local(async move {
                        if i % 4 == 1 {
                            // Dropped early: its task runs on unawaited.
                            let _ = tokio::time::timeout(Duration::from_millis(1), r).await;
                            None
                        } else {
                            Some(tokio::time::timeout(LONG, r).await)
                        }
                    })
                })
                .collect();
            for (i, h) in handles.into_iter().enumerate() {
                let i = i as u64;
                match h.await.unwrap() {
                    None => assert_eq!(i % 4, 1),
                    Some(out) => {
                        let out = out.expect("an await never woke");
                        if i % 7 == 3 {
                            let e = out.unwrap_err();
                            assert!(matches!(e.kind(), ErrorKind::WorkerDied { .. }), "{e:?}");
                        } else {
                            assert_eq!(out.unwrap(), i % 5);
                        }
                    }
                }
            }
            // Nothing left awaited: the pool serves the next one as ever.
            let r = pool.apply_async(square, 12).unwrap();
            assert_eq!(tokio::time::timeout(LONG, r).await.unwrap().unwrap(), 144);
        });
        pool.terminate().unwrap();
    });
}
