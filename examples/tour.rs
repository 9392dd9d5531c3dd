//! The tour: every scenario implemented so far, end to end, in a few
//! seconds. Each is also its own example (`cargo run --example <name>`).
//!
//! `tour` runs them all, `tour <name>…` only those named, `tour --list`
//! names them.
//!
//! Nothing outlives the tour: each scenario runs in a process group of
//! its own that a watcher kills, names removed, if the tour dies (see
//! `tour/watch.rs`).

use std::time::Instant;

#[path = "tour/watch.rs"]
mod watch;

/// A scenario that needs the `serde` feature: its file with the feature,
/// and without it a stand-in that says it was skipped.
macro_rules! serde_scenario {
    ($name:ident, $file:literal) => {
        #[cfg(feature = "serde")]
        #[path = $file]
        mod $name;
        #[cfg(not(feature = "serde"))]
        mod $name {
            pub fn run() -> Result<(), Box<dyn std::error::Error>> {
                println!(
                    "skipped: {} needs the serde feature (--features serde)",
                    stringify!($name)
                );
                Ok(())
            }
        }
    };
}

serde_scenario!(manager_dict_list, "manager_dict_list.rs");
serde_scenario!(pipe_dict, "pipe_dict.rs");
serde_scenario!(queue_list, "queue_list.rs");
serde_scenario!(pool_map_objects, "pool_map_objects.rs");
serde_scenario!(pool_crawler, "pool_crawler.rs");

#[path = "alarm_pause.rs"]
mod alarm_pause;
#[path = "baozi.rs"]
mod baozi;
#[path = "condition.rs"]
mod condition;
#[path = "consumer_task.rs"]
mod consumer_task;
#[path = "counter.rs"]
mod counter;
#[path = "daemon/main.rs"]
mod daemon;
#[path = "daemon_child.rs"]
mod daemon_child;
#[path = "echo_server.rs"]
mod echo_server;
#[path = "event.rs"]
mod event;
#[path = "event_loop.rs"]
mod event_loop;
#[path = "five_processes.rs"]
mod five_processes;
#[path = "fork_pids.rs"]
mod fork_pids;
#[path = "full_queue.rs"]
mod full_queue;
#[path = "joinable_queue.rs"]
mod joinable_queue;
#[path = "kill_between.rs"]
mod kill_between;
#[path = "manager_array.rs"]
mod manager_array;
#[path = "manager_counter.rs"]
mod manager_counter;
#[path = "manager_lock.rs"]
mod manager_lock;
#[path = "manager_server.rs"]
mod manager_server;
#[path = "manager_string.rs"]
mod manager_string;
#[path = "message_queue.rs"]
mod message_queue;
#[path = "pipe.rs"]
mod pipe;
#[path = "pool_apply.rs"]
mod pool_apply;
#[path = "pool_apply_async.rs"]
mod pool_apply_async;
#[path = "pool_callback.rs"]
mod pool_callback;
#[path = "pool_callbacks.rs"]
mod pool_callbacks;
#[path = "pool_map.rs"]
mod pool_map;
#[path = "pool_starmap.rs"]
mod pool_starmap;
#[path = "process_subclass.rs"]
mod process_subclass;
#[path = "queue_writer_reader.rs"]
mod queue_writer_reader;
#[path = "semaphore.rs"]
mod semaphore;
#[path = "terminate.rs"]
mod terminate;
#[path = "tickets.rs"]
mod tickets;
#[path = "value_array.rs"]
mod value_array;
#[path = "wait_server.rs"]
mod wait_server;
#[path = "write_files.rs"]
mod write_files;

type Scenario = fn() -> Result<(), Box<dyn std::error::Error>>;

const SCENARIOS: &[(&str, &str, Scenario)] = &[
    (
        "fork_pids",
        "os.fork: parent and child pids",
        fork_pids::run,
    ),
    (
        "five_processes",
        "multiprocessing: 5 processes started, then joined",
        five_processes::run,
    ),
    (
        "process_subclass",
        "class Counter(Process) overriding run(): 3 started as children, 1 run() here",
        process_subclass::run,
    ),
    (
        "write_files",
        "multiprocessing: 5 processes each write a file of 100 lines",
        write_files::run,
    ),
    (
        "daemon_child",
        "daemon=True: a daemon child dies with its SIGKILLed parent",
        daemon_child::run,
    ),
    (
        "terminate",
        "Process.terminate and is_alive",
        terminate::run,
    ),
    (
        "alarm_pause",
        "signal.alarm, then signal.pause",
        alarm_pause::run,
    ),
    (
        "kill_between",
        "os.kill between two processes",
        kill_between::run,
    ),
    (
        "value_array",
        "Value('d') and Array('i') changed by a child, run twice; Value(c_char_p)",
        value_array::run,
    ),
    (
        "counter",
        "a Counter of Value('i') + Lock: 10 processes x 50 increments",
        counter::run,
    ),
    (
        "tickets",
        "100 processes grab 3 tickets from a file, without and with a Lock",
        tickets::run,
    ),
    (
        "semaphore",
        "Semaphore(3): 5 processes, at most 3 inside at a time",
        semaphore::run,
    ),
    (
        "event",
        "Event: one process wait()s, one wait(t)s, sees it clear and set()s it",
        event::run,
    ),
    (
        "condition",
        "Condition: 2 stage-2 processes wait until stage 1 notify_all()s",
        condition::run,
    ),
    (
        "pipe",
        "Pipe: two processes talk, each logs what it hears to one file under a Lock",
        pipe::run,
    ),
    (
        "pipe_dict",
        "Pipe (serde): a dict of mixed values to a child and a reply dict back",
        pipe_dict::run,
    ),
    (
        "message_queue",
        "POSIX message queue: a producer's urgent jobs overtake its routine ones",
        message_queue::run,
    ),
    (
        "wait_server",
        "connection.wait: one loop serves 3 clients cooperatively, no threads",
        wait_server::run,
    ),
    (
        "queue_writer_reader",
        "Queue: a writer puts A, B, C; a reader gets them until the queue is closed",
        queue_writer_reader::run,
    ),
    (
        "queue_list",
        "Queue() (serde): a writer puts lists of strings, a reader gets them",
        queue_list::run,
    ),
    (
        "full_queue",
        "Queue(maxsize=3): put_nowait raises Full, get_nowait raises Empty",
        full_queue::run,
    ),
    (
        "baozi",
        "Queue + poison pill: 1 cook and 1 eater, then 3 cooks and 2 eaters",
        baozi::run,
    ),
    (
        "joinable_queue",
        "JoinableQueue: daemon workers, join() until every task_done()",
        joinable_queue::run,
    ),
    (
        "consumer_task",
        "Consumer/Task: cpu_count()*2 consumers, a task and a result queue",
        consumer_task::run,
    ),
    (
        "event_loop",
        "a daemon's loop: one wait() over a watched Queue, SIGUSR1/SIGTERM and sentinels",
        event_loop::run,
    ),
    (
        "pool_apply",
        "Pool(3).apply: 10 squares, only the pool's 3 workers ever compute",
        pool_apply::run,
    ),
    (
        "pool_apply_async",
        "Pool.apply_async: 10 tasks, close(), join(), then get() each result",
        pool_apply_async::run,
    ),
    (
        "pool_map_objects",
        "Pool.map (serde) over instances of a user type with a String field",
        pool_map_objects::run,
    ),
    (
        "pool_crawler",
        "apply_async(fetch, path, callback=parse) (serde): local files to Strings",
        pool_crawler::run,
    ),
    (
        "pool_callbacks",
        "apply_async(callback=print_result, error_callback=...): once each, in the parent",
        pool_callbacks::run,
    ),
    (
        "pool_callback",
        "apply_async(callback=results.append) alone: the failure stays with its AsyncResult",
        pool_callback::run,
    ),
    (
        "pool_map",
        "Pool(cpu_count()).map against a loop: primes below 1,000,000, both timed",
        pool_map::run,
    ),
    (
        "pool_starmap",
        "Pool.starmap: a method and u64::pow as multi-argument tasks, no pickling helper",
        pool_starmap::run,
    ),
    (
        "echo_server",
        "a pre-fork TCP echo server: Pool(4) serves 6 echo_client processes, 4 at a time",
        echo_server::run,
    ),
    (
        "daemon",
        "a pre-fork daemon: 4 jobs through a message queue, kill -USR1 for a status line, kill -TERM drains",
        daemon::run,
    ),
    (
        "manager_dict_list",
        "Manager: a child sets d[1], d['2'], d[0.25] and reverses l; the parent prints both",
        manager_dict_list::run,
    ),
    (
        "manager_array",
        "Manager Array('i', range(10)): 10 children square a cell each; a[10] is an IndexError",
        manager_array::run,
    ),
    (
        "manager_lock",
        "Manager dict + Lock: 100 processes each do `with lock: d['count'] -= 1`",
        manager_lock::run,
    ),
    (
        "manager_string",
        "Manager Value: 3 processes append \", World!\" to \"Hello\" under a manager Lock",
        manager_string::run,
    ),
    (
        "manager_counter",
        "BaseManager.register('Counter'): Pool(5).map(work, [c] * 5), 50 increments each",
        manager_counter::run,
    ),
    (
        "manager_server",
        "Manager at an address: a server publishes a dict, a client opens it by name and changes it",
        manager_server::run,
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _, _) in SCENARIOS {
            println!("{name}");
        }
        return Ok(());
    }
    if let Some(unknown) = args
        .iter()
        .find(|a| !SCENARIOS.iter().any(|(name, _, _)| name == a))
    {
        return Err(format!("no scenario {unknown:?} (`tour --list` names them)").into());
    }
    let chosen: Vec<_> = SCENARIOS
        .iter()
        .filter(|(name, _, _)| args.is_empty() || args.iter().any(|a| a == name))
        .collect();
    watch::sweep_leftovers();
    let start = Instant::now();
    for (example, title, run) in &chosen {
        let t = Instant::now();
        if !watch::run_watched(title, *run)? {
            return Err(format!("the scenario {example} failed").into());
        }
        println!(
            "-- ok in {:.2?} (cargo run --example {example})",
            t.elapsed()
        );
    }
    println!(
        "\ntour: {} scenarios ran in {:.2?}",
        chosen.len(),
        start.elapsed()
    );
    Ok(())
}
