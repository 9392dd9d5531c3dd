//! Round trips of a 64-byte message: each contender's loop.

use super::*;

/// Per-round µs per round trip.
#[derive(Default)]
pub(super) struct TripSamples {
    pub(super) spin: Vec<f64>,
    pub(super) spin_message: Vec<f64>,
    pub(super) queue: Vec<f64>,
    pub(super) iceoryx2: Vec<f64>,
    pub(super) seqpacket: Vec<f64>,
    pub(super) pipe: Vec<f64>,
    pub(super) raw_mq: Vec<f64>,
    pub(super) mq: Vec<f64>,
    pub(super) raw_pipe: Vec<f64>,
    pub(super) ipc_channel: Vec<f64>,
    pub(super) py_pipe: Vec<f64>,
    pub(super) py_queue: Vec<f64>,
}

pub(super) fn bench_trips(
    plan: &Plan,
    iox: &iox::Env,
    python: &mut Option<Python>,
) -> Result<TripSamples> {
    let mut s = TripSamples::default();
    rounds(plan, |warm, odd| {
        let (n, f, py_n) = (
            size(warm, plan.trips),
            size(warm, plan.spin_trips),
            size(warm, plan.py_trips),
        );
        let us = |d: Duration, n: u32| d.as_secs_f64() * 1e6 / f64::from(n);
        let spinner = |run: &dyn Fn() -> Result<Duration>| -> Result<Option<Duration>> {
            if plan.spinners {
                run().map(Some)
            } else {
                Ok(None)
            }
        };
        let spin = spinner(&|| watched("raw spin round trip", || spin_trip(f)))?;
        let spin_message = spinner(&|| {
            watched("raw spin round trip with the message", || {
                spin_message_trip(f)
            })
        })?;
        let (queue, iceoryx2) = in_turn(
            odd,
            || watched("mproc Queue round trip", || queue_trip(f)),
            || spinner(&|| watched("iceoryx2 round trip", || iceoryx2_trip(iox, f))),
        )?;
        let (seqpacket, pipe) = in_turn(
            odd,
            || watched("raw SOCK_SEQPACKET round trip", || seqpacket_trip(n)),
            || watched("mproc Pipe round trip", || pipe_trip(n)),
        )?;
        let (raw_mq, mq) = in_turn(
            odd,
            || watched("raw mq round trip", || raw_mq_trip(n)),
            || watched("mproc MessageQueue round trip", || mq_trip(n)),
        )?;
        let raw_pipe = watched("raw pipe round trip", || raw_pipe_trip(n))?;
        let ipc_channel = watched("ipc-channel round trip", || ipc_channel_trip(n))?;
        let py_pipe = watched("Python Pipe round trip", || {
            Ok(python_ns(python, &format!("pipe {py_n}")))
        })?;
        let py_queue = watched("Python Queue round trip", || {
            Ok(python_ns(python, &format!("queue {py_n}")))
        })?;
        if !warm {
            s.spin.extend(spin.map(|d| us(d, f)));
            s.spin_message.extend(spin_message.map(|d| us(d, f)));
            s.queue.push(us(queue, f));
            s.iceoryx2.extend(iceoryx2.map(|d| us(d, f)));
            s.seqpacket.push(us(seqpacket, n));
            s.pipe.push(us(pipe, n));
            s.raw_mq.push(us(raw_mq, n));
            s.mq.push(us(mq, n));
            s.raw_pipe.push(us(raw_pipe, n));
            s.ipc_channel.push(us(ipc_channel, n));
            s.py_pipe
                .extend(py_pipe.map(|ns| ns / 1e3 / f64::from(py_n)));
            s.py_queue
                .extend(py_queue.map(|ns| ns / 1e3 / f64::from(py_n)));
        }
        Ok(())
    })?;
    Ok(s)
}

pub(super) fn queue_trip(n: u32) -> Result<Duration> {
    let there = Queue::<Msg, CAPACITY>::new()?;
    let back = Queue::<Msg, CAPACITY>::new()?;
    let (there, back) = (&*there, &*back);
    duel(
        move || {
            for _ in 0..=n {
                back.put(there.get()?)?;
            }
            Ok(())
        },
        || {
            timed_trips(n, |i| {
                there.put(message(i))?;
                expect(&back.get()?, i)
            })
        },
    )
}

pub(super) fn pipe_trip(n: u32) -> Result<Duration> {
    let (here, there) = Pipe::duplex()?;
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for _ in 0..=n {
                let len = there.recv_bytes(&mut buf)?;
                there.send_bytes(&buf[..len])?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            timed_trips(n, |i| {
                here.send_bytes(&message(i))?;
                let len = here.recv_bytes(&mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

/// A name for a message queue of this run: `/mproc-bench-<pid>-<tag>`.
pub(super) fn mq_name(tag: &str) -> String {
    format!("/mproc-bench-{}-{tag}", std::process::id())
}

/// A fresh mproc message queue, its name already unlinked: the queue lives
/// while a descriptor (this one, a forked child's copy) is open.
pub(super) fn anonymous_mq(tag: &str) -> Result<MessageQueue> {
    let mut q = MessageQueue::create(&mq_name(tag), MQ_DEPTH, SIZE)?;
    q.unlink()?;
    Ok(q)
}

pub(super) fn mq_trip(n: u32) -> Result<Duration> {
    let (there, back) = (anonymous_mq("there")?, anonymous_mq("back")?);
    let (there, back) = (&there, &back);
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for _ in 0..=n {
                let (len, _) = there.receive(&mut buf)?;
                back.send(&buf[..len], 0)?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            timed_trips(n, |i| {
                there.send(&message(i), 0)?;
                let (len, _) = back.receive(&mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

/// The floor: A stores `i` to `ping` and spins until `pong` is `i`; B
/// spins until `ping` moves and copies it to `pong`.
pub(super) fn spin_trip(n: u32) -> Result<Duration> {
    let page = RawPage::new()?;
    let (ping, pong) = (page.word(0), page.word(1));
    duel(
        move || {
            for i in 0..=u64::from(n) {
                // SYNC POINT: Acquire pairs with A's Release store to ping.
                while ping.load(Ordering::Acquire) != i + 1 {
                    std::hint::spin_loop();
                }
                // SYNC POINT: Release pairs with A's Acquire load of pong.
                pong.store(i + 1, Ordering::Release);
            }
            Ok(())
        },
        || {
            timed_trips(n, |i| {
                let i = u64::from(i) + 1;
                // SYNC POINT: Release pairs with B's Acquire load of ping.
                ping.store(i, Ordering::Release);
                // SYNC POINT: Acquire pairs with B's Release store to pong.
                while pong.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                Ok(())
            })
        },
    )
}

/// The floor for a hand-off that carries the message: the 64 bytes
/// written to a cache line of their own, then a flag stored on another
/// (what a queue whose count lies apart from its slots moves per
/// hand-off), the echo the same way back.
pub(super) fn spin_message_trip(n: u32) -> Result<Duration> {
    let page = RawPage::new()?;
    let (ping, pong) = (page.word(0), page.word(1));
    let page = &page;
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for i in 0..=u64::from(n) {
                // SYNC POINT: Acquire pairs with A's Release store to ping:
                // the message in slot 0 is there.
                while ping.load(Ordering::Acquire) != i + 1 {
                    std::hint::spin_loop();
                }
                page.take(0, &mut buf);
                page.put(1, &buf);
                // SYNC POINT: Release pairs with A's Acquire load of pong.
                pong.store(i + 1, Ordering::Release);
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            timed_trips(n, |i| {
                let k = u64::from(i) + 1;
                page.put(0, &message(i));
                // SYNC POINT: Release pairs with B's Acquire load of ping.
                ping.store(k, Ordering::Release);
                // SYNC POINT: Acquire pairs with B's Release store to pong:
                // the echo in slot 1 is there.
                while pong.load(Ordering::Acquire) != k {
                    std::hint::spin_loop();
                }
                page.take(1, &mut buf);
                expect(&buf, i)
            })
        },
    )
}

pub(super) fn raw_pipe_trip(n: u32) -> Result<Duration> {
    let (there_r, there_w) = raw::pipe()?;
    let (back_r, back_w) = raw::pipe()?;
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for _ in 0..=n {
                let len = raw::read(there_r.as_raw_fd(), &mut buf)?;
                raw::write(back_w.as_raw_fd(), &buf[..len])?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            let (w, r) = (there_w.as_raw_fd(), back_r.as_raw_fd());
            timed_trips(n, |i| {
                raw::write(w, &message(i))?;
                let len = raw::read(r, &mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

pub(super) fn seqpacket_trip(n: u32) -> Result<Duration> {
    let (here, there) = raw::seqpacket_pair()?;
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            let fd = there.as_raw_fd();
            for _ in 0..=n {
                let len = raw::recv(fd, &mut buf)?;
                raw::send(fd, &buf[..len])?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            let fd = here.as_raw_fd();
            timed_trips(n, |i| {
                raw::send(fd, &message(i))?;
                let len = raw::recv(fd, &mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

pub(super) fn raw_mq_trip(n: u32) -> Result<Duration> {
    let there = raw::Mq::anonymous(&mq_name("raw-there"))?;
    let back = raw::Mq::anonymous(&mq_name("raw-back"))?;
    let (there, back) = (&there, &back);
    duel(
        move || {
            let mut buf = [0u8; SIZE];
            for _ in 0..=n {
                let len = there.receive(&mut buf)?;
                back.send(&buf[..len])?;
            }
            Ok(())
        },
        || {
            let mut buf = [0u8; SIZE];
            timed_trips(n, |i| {
                there.send(&message(i))?;
                let len = back.receive(&mut buf)?;
                expect(&buf[..len], i)
            })
        },
    )
}

pub(super) fn iceoryx2_trip(env: &iox::Env, n: u32) -> Result<Duration> {
    let (ping, pong) = (env.service_name("ping")?, env.service_name("pong")?);
    let stage = Stage::new()?;
    let (ping, pong, stage) = (&ping, &pong, &stage);
    duel(
        move || {
            // Stages: the bench made both services and its ports; this side
            // made its ports and connected them; go.
            stage.wait(1)?;
            let mut me = env.endpoint()?;
            me.subscribe(ping, iox::Make::Open)?;
            me.publish(pong, iox::Make::Open)?;
            me.connect()?;
            stage.reach(2);
            for _ in 0..=n {
                me.send(me.receive()?)?;
            }
            Ok(())
        },
        || {
            let mut me = env.endpoint()?;
            me.publish(ping, iox::Make::Create)?;
            me.subscribe(pong, iox::Make::Create)?;
            stage.reach(1);
            stage.wait(2)?;
            me.connect()?;
            let time = timed_trips(n, |i| {
                me.send(message(i))?;
                expect(&me.receive()?, i)
            })?;
            Ok((time, me))
        },
    )
    // The bench's node goes after the child's (see `iox::Endpoint`).
    .map(|(time, _me)| time)
}

pub(super) fn ipc_channel_trip(n: u32) -> Result<Duration> {
    let (to_child, child_rx) = ipc_channel::ipc::bytes_channel()?;
    let (child_tx, from_child) = ipc_channel::ipc::bytes_channel()?;
    duel(
        move || {
            for _ in 0..=n {
                child_tx.send(&child_rx.recv()?)?;
            }
            Ok(())
        },
        || {
            timed_trips(n, |i| {
                to_child.send(&message(i))?;
                expect(&from_child.recv()?, i)
            })
        },
    )
}
