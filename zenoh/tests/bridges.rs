//! Two gateways on loopback, each in a forked child (its "host"), with
//! mproc queues in shared memory on either side: items cross once and in
//! order, a type mismatch is refused and counted, a full receiving queue
//! holds the sender back and loses nothing; a manager's objects read and
//! changed from the other host. The parent forks before any zenoh thread exists, and
//! drives and checks the queues itself.
//!
//! `cargo test -p mproc-zenoh --test bridges` (a harness of its own: the
//! cases run one after another in the one thread, so that they may fork).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mproc::Process;
use mproc::ipc::ValueQueue;
use mproc::manager::{Call, Method, Served};
use mproc::shm::Shared;
use mproc::sync::Event;
use mproc_zenoh::{
    Gateway, OnFull, RemoteDict, RemoteList, RemoteMethod, RemoteNamespace, RemoteQueue,
    RemoteValue, Snapshot,
};

/// What must happen, happens well within this.
const MUST: Duration = Duration::from_secs(20);

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Job {
    id: u64,
    path: String,
}

/// A free loopback port (the system's pick, released for the gateway).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Runs `host` in a forked child: it starts its gateway, signals `up`
/// once the gateway runs, waits for `stop`, then hands the gateway to
/// `check` (which panics, failing the child, on what it must not see).
fn host(
    up: &'static Event,
    stop: &'static Event,
    start: impl FnOnce() -> Gateway + 'static,
    check: impl FnOnce(&Gateway) + 'static,
) -> Process<impl FnOnce() + 'static> {
    let mut p = Process::new(move || {
        let gw = start();
        up.set();
        assert!(stop.wait_timeout(MUST * 3), "never told to stop");
        check(&gw);
        gw.stop(Duration::from_millis(200)).expect("stop");
    });
    p.start().expect("fork a host");
    p
}

/// Leaks a fresh shared event (the cases' processes reach it through the
/// fork).
fn event() -> &'static Event {
    Box::leak(Box::new(Shared::new(Event::new()).expect("event")))
}

fn stats(gw: &Gateway, name: &str) -> Snapshot {
    gw.stats(name).expect("the bridge")
}

/// The bridge's counters once `done` holds of them (or after [`MUST`]).
fn settled(gw: &Gateway, name: &str, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = Instant::now() + MUST;
    loop {
        let s = stats(gw, name);
        if done(&s) || Instant::now() >= deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn items_cross_once_and_in_order() {
    const N: u64 = 2_000;
    let out = Arc::new(ValueQueue::<Job>::with_capacity(1 << 20).unwrap());
    let inbox = Arc::new(ValueQueue::<Job>::with_capacity(1 << 20).unwrap());
    let port = free_port();
    let (up_a, up_b, stop) = (event(), event(), event());
    let (o, i) = (Arc::clone(&out), Arc::clone(&inbox));
    let a = host(
        up_a,
        stop,
        move || {
            Gateway::builder()
                .listen(&format!("tcp/127.0.0.1:{port}"))
                .outbound("jobs", "test/a/jobs", o)
                .start()
                .expect("gateway A")
        },
        |gw| {
            let s = settled(gw, "jobs", |s| s.sent >= N);
            assert_eq!((s.sent, s.errors), (N, 0), "{s}");
        },
    );
    let b = host(
        up_b,
        stop,
        move || {
            Gateway::builder()
                .connect(&format!("tcp/127.0.0.1:{port}"))
                .inbound("jobs", "test/*/jobs", i, OnFull::default())
                .start()
                .expect("gateway B")
        },
        |gw| {
            let s = settled(gw, "jobs", |s| s.received >= N);
            assert_eq!(
                (s.received, s.ahead, s.duplicates, s.full, s.refused_type),
                (N, 0, 0, 0, 0),
                "{s}"
            );
        },
    );
    assert!(up_a.wait_timeout(MUST) && up_b.wait_timeout(MUST));
    for id in 0..N {
        out.put(&Job {
            id,
            path: format!("/var/spool/{id}"),
        })
        .unwrap();
    }
    let deadline = Instant::now() + MUST;
    for id in 0..N {
        let left = deadline.saturating_duration_since(Instant::now());
        let job = inbox
            .get_timeout(left)
            .unwrap_or_else(|e| panic!("item {id}: {e}"));
        assert_eq!(
            job,
            Job {
                id,
                path: format!("/var/spool/{id}")
            }
        );
    }
    assert!(
        inbox.get_timeout(Duration::from_millis(200)).is_err(),
        "nothing more"
    );
    assert!(out.empty());
    stop.set();
    assert_eq!(a.join().unwrap(), 0, "host A's check");
    assert_eq!(b.join().unwrap(), 0, "host B's check");
}

fn items_wait_in_the_local_queue_while_no_one_subscribes() {
    let out = Arc::new(ValueQueue::<u64>::with_capacity(4096).unwrap());
    let inbox = Arc::new(ValueQueue::<u64>::with_capacity(4096).unwrap());
    let port = free_port();
    let (up_a, up_b, stop) = (event(), event(), event());
    let o = Arc::clone(&out);
    let a = host(
        up_a,
        stop,
        move || {
            Gateway::builder()
                .listen(&format!("tcp/127.0.0.1:{port}"))
                .outbound("n", "test/wait/n", o)
                .start()
                .expect("gateway A")
        },
        |_| {},
    );
    assert!(up_a.wait_timeout(MUST));
    for n in 0..10 {
        out.put(&n).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(out.qsize(), 10, "no subscriber: nothing taken");
    let i = Arc::clone(&inbox);
    let b = host(
        up_b,
        stop,
        move || {
            Gateway::builder()
                .connect(&format!("tcp/127.0.0.1:{port}"))
                .inbound("n", "test/wait/n", i, OnFull::default())
                .start()
                .expect("gateway B")
        },
        |_| {},
    );
    assert!(up_b.wait_timeout(MUST));
    for n in 0..10 {
        assert_eq!(inbox.get_timeout(MUST).unwrap(), n);
    }
    stop.set();
    assert_eq!(a.join().unwrap(), 0);
    assert_eq!(b.join().unwrap(), 0);
}

fn a_type_mismatch_is_refused_and_counted() {
    const N: u64 = 20;
    let out = Arc::new(ValueQueue::<String>::with_capacity(4096).unwrap());
    let inbox = Arc::new(ValueQueue::<u64>::with_capacity(4096).unwrap());
    let port = free_port();
    let (up_a, up_b, stop) = (event(), event(), event());
    let (o, i) = (Arc::clone(&out), Arc::clone(&inbox));
    let a = host(
        up_a,
        stop,
        move || {
            Gateway::builder()
                .listen(&format!("tcp/127.0.0.1:{port}"))
                .outbound("s", "test/mismatch", o)
                .start()
                .expect("gateway A")
        },
        |_| {},
    );
    let b = host(
        up_b,
        stop,
        move || {
            Gateway::builder()
                .connect(&format!("tcp/127.0.0.1:{port}"))
                .inbound("n", "test/mismatch", i, OnFull::default())
                .start()
                .expect("gateway B")
        },
        |gw| {
            let s = settled(gw, "n", |s| s.refused_type + s.received >= N);
            assert_eq!((s.received, s.refused_type), (0, N), "{s}");
        },
    );
    assert!(up_a.wait_timeout(MUST) && up_b.wait_timeout(MUST));
    for n in 0..N {
        out.put(&format!("item {n}")).unwrap();
    }
    let deadline = Instant::now() + MUST;
    while !out.empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(out.empty(), "every item sent");
    std::thread::sleep(Duration::from_millis(300));
    assert!(inbox.empty(), "nothing of another type put");
    stop.set();
    assert_eq!(a.join().unwrap(), 0);
    assert_eq!(b.join().unwrap(), 0, "host B counted every refusal");
}

fn a_full_receiving_queue_holds_the_sender_back_and_loses_nothing() {
    const N: u64 = 300;
    let out = Arc::new(ValueQueue::<u64>::with_capacity(1 << 16).unwrap());
    // Room for a few items only, and nobody takes them for a while.
    let inbox = Arc::new(ValueQueue::<u64>::with_capacity(256).unwrap());
    let port = free_port();
    let (up_a, up_b, stop) = (event(), event(), event());
    let (o, i) = (Arc::clone(&out), Arc::clone(&inbox));
    let a = host(
        up_a,
        stop,
        move || {
            Gateway::builder()
                .listen(&format!("tcp/127.0.0.1:{port}"))
                .outbound("n", "test/full", o)
                .start()
                .expect("gateway A")
        },
        |gw| {
            let s = stats(gw, "n");
            assert!(s.resent > 0, "what was not acknowledged went again: {s}");
        },
    );
    let b = host(
        up_b,
        stop,
        move || {
            Gateway::builder()
                .connect(&format!("tcp/127.0.0.1:{port}"))
                .inbound("n", "test/full", i, OnFull::Drop)
                .start()
                .expect("gateway B")
        },
        move |gw| {
            let s = settled(gw, "n", |s| s.received >= N);
            assert_eq!(s.received, N, "{s}");
            assert!(s.full > 0, "{s}");
        },
    );
    assert!(up_a.wait_timeout(MUST) && up_b.wait_timeout(MUST));
    for n in 0..N {
        out.put(&n).unwrap();
    }
    // The inbox fills up; the rest waits with the sender.
    let deadline = Instant::now() + MUST;
    while !inbox.full() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    // Then taken: everything arrives, once, in order.
    for n in 0..N {
        assert_eq!(
            inbox
                .get_timeout(MUST)
                .unwrap_or_else(|e| panic!("item {n}: {e}")),
            n
        );
    }
    assert!(
        inbox.get_timeout(Duration::from_millis(200)).is_err(),
        "nothing twice"
    );
    stop.set();
    assert_eq!(a.join().unwrap(), 0, "host A's counts");
    assert_eq!(b.join().unwrap(), 0, "host B's counts");
}

fn a_managers_objects_are_read_and_changed_from_another_host() {
    let m = mproc::manager::Manager::start().unwrap();
    let dict = m.dict_serde::<String, Vec<u32>>(16, 4096).unwrap();
    dict.set(&"here".to_string(), &vec![1, 2]).unwrap();
    let port = free_port();
    let (up_a, up_b, stop) = (event(), event(), event());
    let token = dict.token();
    let list = m.list_serde::<String>(8, 1024).unwrap();
    let value = m.value_serde(&(1u32, "one".to_string()), 256).unwrap();
    let queue = m.queue_serde::<Vec<u8>>(2, 256).unwrap();
    let (lt, vt, qt) = (list.token(), value.token(), queue.token());
    let a = host(
        up_a,
        stop,
        move || {
            Gateway::builder()
                .listen(&format!("tcp/127.0.0.1:{port}"))
                .dict(
                    "test/dict",
                    token.connect().expect("the dict, reached again"),
                )
                .list("test/list", lt.connect().expect("the list"))
                .value("test/value", vt.connect().expect("the value"))
                .queue("test/queue", qt.connect().expect("the queue"))
                .start()
                .expect("gateway A")
        },
        |_| {},
    );
    assert!(up_a.wait_timeout(MUST));
    let b = host(
        up_b,
        stop,
        move || {
            let gw = Gateway::builder()
                .connect(&format!("tcp/127.0.0.1:{port}"))
                .start()
                .expect("gateway B");
            let d = RemoteDict::<String, Vec<u32>>::new(gw.session(), "test/dict", MUST);
            // The queryable may take a moment to be known here.
            let deadline = Instant::now() + MUST;
            while d.len().is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(d.get(&"here".to_string()).unwrap(), Some(vec![1, 2]));
            d.set(&"there".to_string(), &vec![3, 4, 5]).unwrap();
            assert!(d.contains(&"there".to_string()).unwrap());
            assert_eq!(d.len().unwrap(), 2);
            assert_eq!(d.pop(&"here".to_string()).unwrap(), Some(vec![1, 2]));
            assert_eq!(d.pop(&"here".to_string()).unwrap(), None);
            assert_eq!(
                d.items().unwrap(),
                vec![("there".to_string(), vec![3, 4, 5])]
            );
            // Other types: refused, naming the mismatch.
            let wrong = RemoteDict::<String, u64>::new(gw.session(), "test/dict", MUST);
            let e = wrong.get(&"there".to_string()).unwrap_err();
            assert!(e.to_string().contains("types differ"), "{e}");
            // The list, the value and the queue.
            let l = RemoteList::<String>::new(gw.session(), "test/list", MUST);
            assert_eq!(l.append(&"a".to_string()).unwrap(), 1);
            assert_eq!(l.append(&"b".to_string()).unwrap(), 2);
            l.set(-1, &"B".to_string()).unwrap();
            assert_eq!(l.get(0).unwrap(), "a");
            assert_eq!(l.pop(0).unwrap(), "a");
            assert_eq!(l.snapshot().unwrap(), vec!["B".to_string()]);
            assert!(l.get(5).is_err(), "out of range");
            let v = RemoteValue::<(u32, String)>::new(gw.session(), "test/value", MUST);
            assert_eq!(v.get().unwrap(), (1, "one".to_string()));
            v.set(&(2, "two".to_string())).unwrap();
            let q = RemoteQueue::<Vec<u8>>::new(gw.session(), "test/queue", MUST);
            q.put_nowait(&vec![1, 2]).unwrap();
            q.put_nowait(&vec![3]).unwrap();
            assert!(q.put_nowait(&vec![4]).is_err(), "full at its maxsize of 2");
            assert_eq!(q.qsize().unwrap(), 2);
            assert_eq!(q.get_nowait().unwrap(), vec![1, 2]);
            let wrong = RemoteQueue::<String>::new(gw.session(), "test/queue", MUST);
            let e = wrong.get_nowait().unwrap_err();
            assert!(e.to_string().contains("types differ"), "{e}");
            gw
        },
        |_| {},
    );
    assert!(up_b.wait_timeout(MUST * 2));
    stop.set();
    assert_eq!(a.join().unwrap(), 0, "host A");
    assert_eq!(b.join().unwrap(), 0, "host B's calls");
    // What host B did is in the manager's objects here.
    assert_eq!(
        dict.items().unwrap(),
        vec![("there".to_string(), vec![3, 4, 5])]
    );
    assert_eq!(list.snapshot().unwrap(), vec!["B".to_string()]);
    assert_eq!(value.get().unwrap(), (2, "two".to_string()));
    assert_eq!(queue.get_nowait().unwrap(), vec![3]);
    m.shutdown().unwrap();
}

struct Counter {
    total: u64,
}

const ADD: Method<Vec<u64>, u64> = Method::new(0);
const NAME: Method<(), String> = Method::new(1);

impl Served for Counter {
    const TYPEID: &'static str = "Counter";
    type Init = u64;
    fn new(total: u64) -> Counter {
        Counter { total }
    }
    fn serve(&mut self, call: &mut Call<'_>) {
        call.on_serde(ADD, |xs: Vec<u64>| {
            self.total += xs.iter().sum::<u64>();
            self.total
        });
        call.on_serde(NAME, |()| format!("counter at {}", self.total));
    }
}

fn a_managers_namespace_and_methods_are_reached_from_another_host() {
    let m = mproc::manager::Manager::builder()
        .register::<Counter>()
        .start()
        .unwrap();
    let ns = m.namespace(8, 256).unwrap();
    ns.set_serde("site", &"north".to_string()).unwrap();
    ns.set("count", &7u32).unwrap();
    let counter = m.create::<Counter>(&10).unwrap();
    let (nt, ct) = (ns.token(), counter.token());
    let port = free_port();
    let (up_a, up_b, stop) = (event(), event(), event());
    let a = host(
        up_a,
        stop,
        move || {
            let c = Arc::new(ct.connect().expect("the counter"));
            Gateway::builder()
                .listen(&format!("tcp/127.0.0.1:{port}"))
                .namespace::<String>("test/ns", nt.connect().expect("the namespace"))
                .method("test/counter/add", Arc::clone(&c), ADD)
                .method("test/counter/name", c, NAME)
                .start()
                .expect("gateway A")
        },
        |_| {},
    );
    assert!(up_a.wait_timeout(MUST));
    let b = host(
        up_b,
        stop,
        move || {
            let gw = Gateway::builder()
                .connect(&format!("tcp/127.0.0.1:{port}"))
                .start()
                .expect("gateway B");
            let n = RemoteNamespace::<String>::new(gw.session(), "test/ns", MUST);
            let deadline = Instant::now() + MUST;
            while n.fields().is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(n.fields().unwrap(), ["site", "count"]);
            assert_eq!(n.get("site").unwrap(), Some("north".to_string()));
            assert_eq!(n.get("nowhere").unwrap(), None);
            n.set("owner", &"b".to_string()).unwrap();
            assert!(n.remove("site").unwrap());
            assert!(!n.remove("site").unwrap());
            // A field of another type: the manager's refusal comes back.
            assert!(n.get("count").is_err(), "count holds a u32");
            // Another type on the far side: refused, naming the mismatch.
            let wrong = RemoteNamespace::<u64>::new(gw.session(), "test/ns", MUST);
            let e = wrong.get("owner").unwrap_err();
            assert!(e.to_string().contains("types differ"), "{e}");
            let add = RemoteMethod::<Vec<u64>, u64>::new(gw.session(), "test/counter/add", MUST);
            assert_eq!(add.call(&vec![1, 2, 3]).unwrap(), 16);
            assert_eq!(add.call(&vec![]).unwrap(), 16);
            let name = RemoteMethod::<(), String>::new(gw.session(), "test/counter/name", MUST);
            assert_eq!(name.call(&()).unwrap(), "counter at 16");
            let wrong = RemoteMethod::<u64, u64>::new(gw.session(), "test/counter/add", MUST);
            let e = wrong.call(&1).unwrap_err();
            assert!(e.to_string().contains("types differ"), "{e}");
            gw
        },
        |_| {},
    );
    assert!(up_b.wait_timeout(MUST * 2));
    stop.set();
    assert_eq!(a.join().unwrap(), 0, "host A");
    assert_eq!(b.join().unwrap(), 0, "host B's calls");
    // What host B did is in the manager's objects here.
    assert_eq!(
        ns.get_serde::<String>("owner").unwrap(),
        Some("b".to_string())
    );
    assert_eq!(ns.get_serde::<String>("site").unwrap(), None);
    assert_eq!(counter.call_serde(NAME, &()).unwrap(), "counter at 16");
    m.shutdown().unwrap();
}

fn a_zenoh_configuration_given_keeps_its_endpoints() {
    let out = Arc::new(ValueQueue::<u64>::with_capacity(4096).unwrap());
    let inbox = Arc::new(ValueQueue::<u64>::with_capacity(4096).unwrap());
    let port = free_port();
    let (up_a, up_b, stop) = (event(), event(), event());
    let (o, i) = (Arc::clone(&out), Arc::clone(&inbox));
    let a = host(
        up_a,
        stop,
        move || {
            // The listen endpoint comes with the configuration only.
            let mut c = mproc_zenoh::zenoh::Config::default();
            c.insert_json5("scouting/multicast/enabled", "false")
                .unwrap();
            c.insert_json5("listen/endpoints", &format!("[\"tcp/127.0.0.1:{port}\"]"))
                .unwrap();
            Gateway::builder()
                .config(c)
                .outbound("n", "test/config/n", o)
                .start()
                .expect("gateway A")
        },
        |_| {},
    );
    assert!(up_a.wait_timeout(MUST));
    let b = host(
        up_b,
        stop,
        move || {
            Gateway::builder()
                .connect(&format!("tcp/127.0.0.1:{port}"))
                .inbound("n", "test/config/n", i, OnFull::default())
                .start()
                .expect("gateway B")
        },
        |_| {},
    );
    assert!(up_b.wait_timeout(MUST));
    for n in 0..10 {
        out.put(&n).unwrap();
    }
    for n in 0..10 {
        assert_eq!(inbox.get_timeout(MUST).unwrap(), n);
    }
    stop.set();
    assert_eq!(a.join().unwrap(), 0);
    assert_eq!(b.join().unwrap(), 0);
}

fn main() {
    let cases: [(&str, fn()); 7] = [
        (
            "items_cross_once_and_in_order",
            items_cross_once_and_in_order,
        ),
        (
            "items_wait_in_the_local_queue_while_no_one_subscribes",
            items_wait_in_the_local_queue_while_no_one_subscribes,
        ),
        (
            "a_type_mismatch_is_refused_and_counted",
            a_type_mismatch_is_refused_and_counted,
        ),
        (
            "a_managers_objects_are_read_and_changed_from_another_host",
            a_managers_objects_are_read_and_changed_from_another_host,
        ),
        (
            "a_managers_namespace_and_methods_are_reached_from_another_host",
            a_managers_namespace_and_methods_are_reached_from_another_host,
        ),
        (
            "a_zenoh_configuration_given_keeps_its_endpoints",
            a_zenoh_configuration_given_keeps_its_endpoints,
        ),
        (
            "a_full_receiving_queue_holds_the_sender_back_and_loses_nothing",
            a_full_receiving_queue_holds_the_sender_back_and_loses_nothing,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let t = Instant::now();
        match std::panic::catch_unwind(case) {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({:.1} s)", t.elapsed().as_secs_f64());
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
