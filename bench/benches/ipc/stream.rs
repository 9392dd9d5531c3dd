//! One-way throughput: each contender's producer and receiving loop.

use super::*;

/// Per-round messages per second.
#[derive(Default)]
pub(super) struct StreamSamples {
    pub(super) ring: Vec<f64>,
    pub(super) queue: Vec<f64>,
    pub(super) iceoryx2: Vec<f64>,
    pub(super) seqpacket: Vec<f64>,
    pub(super) pipe: Vec<f64>,
    pub(super) raw_mq: Vec<f64>,
    pub(super) mq: Vec<f64>,
    pub(super) ipc_channel: Vec<f64>,
    pub(super) py_queue: Vec<f64>,
}

/// Stages of a one-way run: the producer is set up; go.
pub(super) const READY: u32 = 1;
pub(super) const GO: u32 = 2;

pub(super) fn bench_streams(
    plan: &Plan,
    iox: &iox::Env,
    python: &mut Option<Python>,
) -> Result<StreamSamples> {
    let mut s = StreamSamples::default();
    rounds(plan, |warm, odd| {
        let (m, py_m) = (size(warm, plan.messages), size(warm, plan.py_messages));
        let rate = |d: Duration, m: u32| f64::from(m) / d.as_secs_f64();
        let spinner = |run: &dyn Fn() -> Result<Duration>| -> Result<Option<Duration>> {
            if plan.spinners {
                run().map(Some)
            } else {
                Ok(None)
            }
        };
        let ring = spinner(&|| watched("raw spin ring one-way", || ring_stream(m)))?;
        let (queue, iceoryx2) = in_turn(
            odd,
            || watched("mproc Queue one-way", || queue_stream(m)),
            || spinner(&|| watched("iceoryx2 one-way", || iceoryx2_stream(iox, m))),
        )?;
        let (seqpacket, pipe) = in_turn(
            odd,
            || watched("raw SOCK_SEQPACKET one-way", || seqpacket_stream(m)),
            || watched("mproc Pipe one-way", || pipe_stream(m)),
        )?;
        let (raw_mq, mq) = in_turn(
            odd,
            || watched("raw mq one-way", || raw_mq_stream(m)),
            || watched("mproc MessageQueue one-way", || mq_stream(m)),
        )?;
        let ipc_channel = watched("ipc-channel one-way", || ipc_channel_stream(m))?;
        let py_queue = watched("Python Queue one-way", || {
            Ok(python_ns(python, &format!("queue_oneway {py_m}")))
        })?;
        if !warm {
            s.ring.extend(ring.map(|d| rate(d, m)));
            s.queue.push(rate(queue, m));
            s.iceoryx2.extend(iceoryx2.map(|d| rate(d, m)));
            s.seqpacket.push(rate(seqpacket, m));
            s.pipe.push(rate(pipe, m));
            s.raw_mq.push(rate(raw_mq, m));
            s.mq.push(rate(mq, m));
            s.ipc_channel.push(rate(ipc_channel, m));
            s.py_queue
                .extend(py_queue.map(|ns| f64::from(py_m) / (ns / 1e9)));
        }
        Ok(())
    })?;
    Ok(s)
}

/// The usual one-way run: the producer, forked, waits for the go and sends
/// messages `0..n` with `send`; the bench takes them with `take`.
pub(super) fn stream(
    n: u32,
    mut send: impl FnMut(u32) -> Result<()>,
    take: impl FnMut(u32) -> Result<()>,
) -> Result<Duration> {
    let stage = Stage::new()?;
    let stage = &stage;
    duel(
        move || {
            stage.reach(READY);
            stage.wait(GO)?;
            for i in 0..n {
                send(i)?;
            }
            Ok(())
        },
        || {
            stage.wait(READY)?;
            timed_stream(stage, GO, n, take)
        },
    )
}

pub(super) fn queue_stream(n: u32) -> Result<Duration> {
    let q = Queue::<Msg, CAPACITY>::new()?;
    let q = &*q;
    stream(n, |i| Ok(q.put(message(i))?), |i| expect(&q.get()?, i))
}

pub(super) fn pipe_stream(n: u32) -> Result<Duration> {
    let (rx, tx) = Pipe::simplex()?;
    let mut buf = [0u8; SIZE];
    stream(
        n,
        move |i| Ok(tx.send_bytes(&message(i))?),
        |i| {
            let len = rx.recv_bytes(&mut buf)?;
            expect(&buf[..len], i)
        },
    )
}

pub(super) fn mq_stream(n: u32) -> Result<Duration> {
    let q = anonymous_mq("oneway")?;
    let q = &q;
    let mut buf = [0u8; SIZE];
    stream(
        n,
        |i| Ok(q.send(&message(i), 0)?),
        |i| {
            let (len, _) = q.receive(&mut buf)?;
            expect(&buf[..len], i)
        },
    )
}

pub(super) fn seqpacket_stream(n: u32) -> Result<Duration> {
    let (rx, tx) = raw::seqpacket_pair()?;
    let mut buf = [0u8; SIZE];
    let (rx, tx) = (rx.as_raw_fd(), tx.as_raw_fd());
    stream(
        n,
        |i| raw::send(tx, &message(i)),
        |i| {
            let len = raw::recv(rx, &mut buf)?;
            expect(&buf[..len], i)
        },
    )
}

pub(super) fn raw_mq_stream(n: u32) -> Result<Duration> {
    let q = raw::Mq::anonymous(&mq_name("raw-oneway"))?;
    let q = &q;
    let mut buf = [0u8; SIZE];
    stream(
        n,
        |i| q.send(&message(i)),
        |i| {
            let len = q.receive(&mut buf)?;
            expect(&buf[..len], i)
        },
    )
}

/// The floor: a single-producer single-consumer ring of `CAPACITY` slots in
/// an anonymous shared mapping, both sides spinning. `head` (messages
/// taken) and `tail` (messages put) are on cache lines of their own.
pub(super) fn ring_stream(n: u32) -> Result<Duration> {
    let page = RawPage::new()?;
    let (head, tail) = (page.word(0), page.word(1));
    let cap = CAPACITY as u64;
    let page = &page;
    let mut buf = [0u8; SIZE];
    stream(
        n,
        |i| {
            let t = u64::from(i);
            // SYNC POINT: Acquire pairs with the consumer's Release of head:
            // the slot is free again once it has been read.
            while t - head.load(Ordering::Acquire) == cap {
                std::hint::spin_loop();
            }
            page.put(t % cap, &message(i));
            // SYNC POINT: Release pairs with the consumer's Acquire of tail.
            tail.store(t + 1, Ordering::Release);
            Ok(())
        },
        |i| {
            let h = u64::from(i);
            // SYNC POINT: Acquire pairs with the producer's Release of tail:
            // the slot's bytes are there.
            while tail.load(Ordering::Acquire) == h {
                std::hint::spin_loop();
            }
            page.take(h % cap, &mut buf);
            // SYNC POINT: Release pairs with the producer's Acquire of head.
            head.store(h + 1, Ordering::Release);
            expect(&buf, i)
        },
    )
}

pub(super) fn iceoryx2_stream(env: &iox::Env, n: u32) -> Result<Duration> {
    let name = env.service_name("oneway")?;
    let stage = Stage::new()?;
    let (name, stage) = (&name, &stage);
    // Stages: the bench made the service and subscribed; the producer made
    // its publisher and connected it; go.
    duel(
        move || {
            stage.wait(1)?;
            let mut me = env.endpoint()?;
            me.publish(name, iox::Make::Open)?;
            me.connect()?;
            stage.reach(2);
            stage.wait(3)?;
            for i in 0..n {
                me.send(message(i))?;
            }
            Ok(())
        },
        || {
            let mut me = env.endpoint()?;
            me.subscribe(name, iox::Make::Create)?;
            stage.reach(1);
            stage.wait(2)?;
            me.connect()?;
            let time = timed_stream(stage, 3, n, |i| expect(&me.receive()?, i))?;
            Ok((time, me))
        },
    )
    // The bench's node goes after the child's (see `iox::Endpoint`).
    .map(|(time, _me)| time)
}

pub(super) fn ipc_channel_stream(n: u32) -> Result<Duration> {
    let (tx, rx) = ipc_channel::ipc::bytes_channel()?;
    stream(
        n,
        move |i| Ok(tx.send(&message(i))?),
        |i| expect(&rx.recv()?, i),
    )
}
