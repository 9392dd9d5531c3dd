//! Values of any serde type (feature `serde`): through a `Connection`
//! (`send_value`/`recv_value`, the try, timed and `_in` forms) and a
//! `MessageQueue` (`send_value`/`receive_value`), across a fork; empty
//! values, the largest value a queue takes and one byte over, garbage and
//! trailing bytes, and the codec itself.

use std::time::Duration;

use mproc::ErrorKind;
use mproc::ipc::{MessageQueue, Pipe, QUEUE_KNOB, codec};
use mproc::process::Process;
use serde::{Deserialize, Serialize};

use crate::common::isolated;
use crate::mq::unique;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Job {
    name: String,
    data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Nothing,
    Point(i32, i32),
    Named { label: String, sides: u8 },
}

fn kind<T: std::fmt::Debug>(r: mproc::Result<T>) -> ErrorKind {
    r.unwrap_err().kind()
}

fn job() -> Job {
    Job {
        name: "résumé.pdf".into(),
        data: (0..=255).collect(),
    }
}

fn empty_job() -> Job {
    Job {
        name: String::new(),
        data: Vec::new(),
    }
}

fn words() -> Vec<String> {
    vec!["a".into(), String::new(), "a list, as in seed 004".into()]
}

fn shapes() -> [Shape; 3] {
    [
        Shape::Nothing,
        Shape::Point(-3, 4),
        Shape::Named {
            label: "hexagon".into(),
            sides: 6,
        },
    ]
}

#[test]
fn values_of_every_shape_cross_a_fork_through_a_pipe_and_back() {
    isolated(|| {
        let (here, there) = Pipe::duplex().unwrap();
        let mut child = Process::new(move || {
            // Decode each as its type, then send it back as it came.
            there
                .send_value(&there.recv_value::<Job>().unwrap())
                .unwrap();
            there
                .send_value(&there.recv_value::<Job>().unwrap())
                .unwrap();
            there
                .send_value(&there.recv_value::<Vec<String>>().unwrap())
                .unwrap();
            there
                .send_value(&there.recv_value::<Vec<String>>().unwrap())
                .unwrap();
            for _ in 0..2 {
                there
                    .send_value(&there.recv_value::<Option<u32>>().unwrap())
                    .unwrap();
            }
            there
                .send_value(&there.recv_value::<(u32, u64)>().unwrap())
                .unwrap();
            for _ in 0..3 {
                there
                    .send_value(&there.recv_value::<Shape>().unwrap())
                    .unwrap();
            }
            there
                .send_value(&there.recv_value::<()>().unwrap())
                .unwrap();
            there
                .send_value(&there.recv_value::<String>().unwrap())
                .unwrap();
        });
        child.start().unwrap();
        here.send_value(&job()).unwrap();
        here.send_value(&empty_job()).unwrap();
        here.send_value(&words()).unwrap();
        here.send_value(&Vec::<String>::new()).unwrap();
        here.send_value(&Some(7u32)).unwrap();
        here.send_value(&None::<u32>).unwrap();
        here.send_value(&(u32::MAX, u64::MAX)).unwrap();
        for s in shapes() {
            here.send_value(&s).unwrap();
        }
        // A value that encodes to nothing is still one message.
        here.send_value(&()).unwrap();
        here.send_value("").unwrap();

        assert_eq!(here.recv_value::<Job>().unwrap(), job());
        assert_eq!(here.recv_value::<Job>().unwrap(), empty_job());
        assert_eq!(here.recv_value::<Vec<String>>().unwrap(), words());
        assert_eq!(
            here.recv_value::<Vec<String>>().unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(here.recv_value::<Option<u32>>().unwrap(), Some(7));
        assert_eq!(here.recv_value::<Option<u32>>().unwrap(), None);
        assert_eq!(
            here.recv_value::<(u32, u64)>().unwrap(),
            (u32::MAX, u64::MAX)
        );
        for s in shapes() {
            assert_eq!(here.recv_value::<Shape>().unwrap(), s);
        }
        here.recv_value::<()>().unwrap();
        assert_eq!(here.recv_value::<String>().unwrap(), "");
        assert_eq!(child.join().unwrap(), 0);
        // The child is gone: end of stream, as for bytes.
        assert_eq!(kind(here.recv_value::<u32>()), ErrorKind::EndOfStream);
    });
}

#[test]
fn a_value_larger_than_any_buffer_so_far_is_taken_whole() {
    isolated(|| {
        let (rx, tx) = Pipe::simplex().unwrap();
        let big = Job {
            name: "big".into(),
            data: (0..150_000u32).map(|i| i as u8).collect(),
        };
        let sent = big.clone();
        let mut child = Process::new(move || {
            tx.send_value(&1u8).unwrap();
            tx.send_value(&sent).unwrap();
            tx.send_value(&2u8).unwrap();
        });
        child.start().unwrap();
        // A small one first, then one far longer than the buffer has been.
        assert_eq!(rx.recv_value::<u8>().unwrap(), 1);
        assert_eq!(rx.recv_value::<Job>().unwrap(), big);
        assert_eq!(rx.recv_value::<u8>().unwrap(), 2);
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn the_in_forms_use_the_callers_buffer_and_grow_it() {
    let (a, b) = Pipe::duplex().unwrap();
    let mut out = Vec::new();
    let mut into = Vec::new();
    a.send_value_in(&job(), &mut out).unwrap();
    assert!(out.len() > 256, "grown to the message: {}", out.len());
    assert_eq!(b.recv_value_in::<Job>(&mut into).unwrap(), job());
    assert!(into.len() > 256);
    // A buffer long enough already is used as it is.
    let (cap_out, cap_into) = (out.capacity(), into.capacity());
    a.send_value_in(&words(), &mut out).unwrap();
    assert_eq!(b.recv_value_in::<Vec<String>>(&mut into).unwrap(), words());
    assert_eq!((out.capacity(), into.capacity()), (cap_out, cap_into));
}

#[test]
fn try_and_timed_receives_return_none_when_nothing_came() {
    // Isolated: a process forked by another test meanwhile would hold a
    // copy of `a`, and `b` would never see it closed.
    isolated(|| {
        let (a, b) = Pipe::duplex().unwrap();
        assert_eq!(b.try_recv_value::<u32>().unwrap(), None);
        assert_eq!(
            b.recv_value_timeout::<u32>(Duration::from_millis(20))
                .unwrap(),
            None
        );
        a.send_value(&Some(5u32)).unwrap();
        assert_eq!(b.try_recv_value::<Option<u32>>().unwrap(), Some(Some(5)));
        a.send_value(&words()).unwrap();
        assert_eq!(
            b.recv_value_timeout::<Vec<String>>(Duration::from_secs(20))
                .unwrap(),
            Some(words())
        );
        drop(a);
        assert_eq!(kind(b.try_recv_value::<u32>()), ErrorKind::EndOfStream);
    });
}

#[test]
fn garbage_and_trailing_bytes_are_typed_errors_and_the_next_value_still_arrives() {
    let (a, b) = Pipe::duplex().unwrap();
    // Plain bytes, without send_value's tag.
    a.send_bytes(b"\xff\xff\xff garbage").unwrap();
    a.send_value(&1u32).unwrap();
    assert!(matches!(
        kind(b.recv_value::<Job>()),
        ErrorKind::InvalidData(_)
    ));
    assert_eq!(b.recv_value::<u32>().unwrap(), 1);
    // A value of another type: a string whose length runs past the end.
    a.send_value(&(1000u32, 0u8)).unwrap();
    assert!(matches!(
        kind(b.recv_value::<String>()),
        ErrorKind::InvalidData(_)
    ));
    // One value with bytes after it.
    a.send_value(&(1u8, 2u8)).unwrap();
    assert!(matches!(
        kind(b.recv_value::<u8>()),
        ErrorKind::InvalidData("bytes left over after the value")
    ));
    // Invalid UTF-8 in a String, and a bool that is neither 0 nor 1.
    a.send_value(&[1u8, 0xff]).unwrap();
    assert!(matches!(
        kind(b.recv_value::<String>()),
        ErrorKind::InvalidData(_)
    ));
    a.send_value(&7u8).unwrap();
    assert!(matches!(
        kind(b.recv_value::<bool>()),
        ErrorKind::InvalidData(_)
    ));
    a.send_value(&job()).unwrap();
    assert_eq!(b.recv_value::<Job>().unwrap(), job());
    // On a send-only end and a receive-only end: typed errors.
    let (rx, tx) = Pipe::simplex().unwrap();
    assert!(matches!(
        kind(rx.send_value(&1u8)),
        ErrorKind::InvalidArgument(_)
    ));
    assert!(matches!(
        kind(tx.recv_value::<u8>()),
        ErrorKind::InvalidArgument(_)
    ));
}

#[test]
fn message_queue_values_cross_a_fork_by_priority() {
    isolated(|| {
        let name = unique("serde-prio");
        let q = MessageQueue::create(&name.0, 10, 512).unwrap();
        let child_name = name.0.clone();
        let mut producer = Process::new(move || {
            let q = MessageQueue::open(&child_name).unwrap();
            q.send_value(&words(), 1).unwrap();
            q.send_value(&job(), 9).unwrap();
            q.send_value(&(), 0).unwrap();
        });
        producer.start().unwrap();
        assert_eq!(producer.join().unwrap(), 0);
        assert_eq!(q.receive_value::<Job>().unwrap(), (job(), 9));
        assert_eq!(q.receive_value::<Vec<String>>().unwrap(), (words(), 1));
        // `()` encodes to nothing: an empty message.
        assert_eq!(q.receive_value::<()>().unwrap(), ((), 0));
        assert_eq!(kind(q.try_receive_value::<u32>()), ErrorKind::Empty);
        assert_eq!(
            kind(q.receive_value_timeout::<u32>(Duration::from_millis(20))),
            ErrorKind::Empty
        );
    });
}

#[test]
fn message_queue_takes_the_largest_value_that_fits_and_refuses_one_byte_more() {
    let name = unique("serde-size");
    let q = MessageQueue::create(&name.0, 2, 64).unwrap();
    // A Vec<u8> of n < 128 bytes encodes as one length byte and n bytes.
    let fits = vec![0xa5u8; 63];
    let over = vec![0xa5u8; 64];
    assert_eq!(codec::encoded_size(&fits).unwrap(), 64);
    let err = q.send_value(&over, 3).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::EncodedSize {
            size: 65,
            capacity: 64,
            knob: QUEUE_KNOB
        }
    );
    assert!(err.to_string().contains("msgsize_max"), "{err}");
    assert_eq!(
        kind(q.try_send_value(&over, 3)),
        ErrorKind::EncodedSize {
            size: 65,
            capacity: 64,
            knob: QUEUE_KNOB
        }
    );
    // Nothing was sent, and the queue still works.
    assert_eq!(q.attributes().unwrap().current, 0);
    q.send_value(&fits, 2).unwrap();
    q.try_send_value(&Vec::<u8>::new(), 1).unwrap();
    assert_eq!(
        kind(q.send_value_timeout(&1u8, 0, Duration::from_millis(20))),
        ErrorKind::Full
    );
    assert_eq!(q.receive_value::<Vec<u8>>().unwrap(), (fits, 2));
    assert_eq!(q.try_receive_value::<Vec<u8>>().unwrap(), (Vec::new(), 1));
    // The caller's buffer forms.
    let (mut out, mut into) = (Vec::new(), Vec::new());
    q.send_value_in(&Some(9u32), 4, &mut out).unwrap();
    assert_eq!(out.len(), 64);
    assert_eq!(
        q.receive_value_in::<Option<u32>>(&mut into).unwrap(),
        (Some(9), 4)
    );
    assert!(matches!(
        kind(q.send_value(&1u8, mproc::ipc::PRIORITY_LIMIT)),
        ErrorKind::InvalidArgument(_)
    ));
}

#[test]
fn message_queue_garbage_is_a_typed_error_and_the_queue_goes_on() {
    let name = unique("serde-garbage");
    let q = MessageQueue::create(&name.0, 4, 32).unwrap();
    q.send(b"\xff\xff\xff\xff\xff\xff", 0).unwrap();
    q.send_value(&(1u32, 2u64), 0).unwrap();
    assert!(matches!(
        kind(q.receive_value::<u32>()),
        ErrorKind::InvalidData(_)
    ));
    assert_eq!(q.receive_value::<(u32, u64)>().unwrap(), ((1, 2), 0));
}

#[test]
fn the_codec_never_cuts_a_value_and_refuses_what_is_not_one() {
    let mut buf = [0u8; 300];
    let len = codec::encode(&job(), &mut buf).unwrap();
    assert_eq!(len, codec::encoded_size(&job()).unwrap());
    assert_eq!(codec::decode::<Job>(&buf[..len]).unwrap(), job());
    // One byte short: typed, with both sizes.
    let err = codec::encode(&job(), &mut buf[..len - 1]).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::EncodedSize {
            size: len,
            capacity: len - 1,
            knob: codec::BUFFER_KNOB
        }
    );
    // Cut short, or with a byte after it.
    assert!(matches!(
        kind(codec::decode::<Job>(&buf[..len - 1])),
        ErrorKind::InvalidData(_)
    ));
    assert!(matches!(
        kind(codec::decode::<Job>(&buf[..len + 1])),
        ErrorKind::InvalidData("bytes left over after the value")
    ));
    assert_eq!(codec::encode(&(), &mut []).unwrap(), 0);
    codec::decode::<()>(&[]).unwrap();
    // As an io::Error: InvalidData.
    let io: std::io::Error = codec::decode::<bool>(&[2]).unwrap_err().into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
}
