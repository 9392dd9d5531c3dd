//! # mproc — Python's `multiprocessing`, rebuilt for Linux daemons and small targets
//!
//! `mproc` brings the model of Python's `multiprocessing` to Rust programs on
//! Linux: fork-based processes, `kill`-style signals with `alarm` and `pause`,
//! message queues, pipes, fixed-layout shared memory, process-shared locks
//! a static worker pool and a `Manager` server with proxies. It allocates
//! nothing in steady state, never leaves a child unreaped, and cross-compiles
//! for ARM. It is built for system daemons steered with `kill -SIGUSR1` and for
//! firmware teams that size everything at build time.
//!
//! ```no_run
//! use mproc::process::{self, Process};
//! use mproc::signal::{self, Signal};
//!
//! // Python: p = Process(target=f, name="worker"); p.start(); p.join()
//! let mut p = Process::new(|| println!("hello from {}", process::current_process().name))
//!     .with_name("worker")?;
//! p.start()?;
//! assert_eq!(p.join()?, 0);
//!
//! // Python: os.kill(pid, signal.SIGTERM); p.exitcode == -15
//! let mut sleeper = Process::new(|| loop { signal::pause() });
//! sleeper.start()?;
//! signal::kill(sleeper.pid().unwrap(), Signal::TERM)?;
//! assert_eq!(sleeper.join()?, -15);
//! # Ok::<(), mproc::Error>(())
//! ```
//!
//! ## Anatomy of the crate
//!
//! | module | what it holds | Python |
//! |---|---|---|
//! | [`process`] | [`fork`](process::fork), [`Process`], `waitpid`, `current_process`, `parent_process`, `active_children`, `is_daemon`, `cpu_count`, `setpgid`; children joined at exit ([`set_join_at_exit`](process::set_join_at_exit)) | `os.fork`, `multiprocessing.Process`, `os.setpgid`, … |
//! | [`signal`] | [`Signal`], `kill`, `killpg`, `alarm`, `set_alarm`, `pause`, masks, `sigwait`, [`SignalFd`](signal::SignalFd), handlers through `signal-hook` | `os.kill`, `signal.*` |
//! | [`shm`] | [`Shareable`](shm::Shareable) (what may live in shared memory), [`Item`](shm::Item) (what a `Queue` or a `Pipe` copies, checked on the way out: also tuples, `Option`, `bool`, `char`), [`Shared`](shm::Shared) anonymous segments, [`Value`](shm::Value), [`Array`](shm::Array), [`RawValue`](shm::RawValue), [`RawArray`](shm::RawArray), [`FixedStr`](shm::FixedStr), named segments [`SharedMemory`](shm::SharedMemory) (checked header, owner, reclaiming only a segment of ours whose owner is gone, else [`NotOurs`](ErrorKind::NotOurs)), layout [`Fingerprint`](shm::Fingerprint) | `multiprocessing.Value`, `Array`, `sharedctypes`, `shared_memory.SharedMemory` |
//! | [`sync`] | futex-based, process-shared [`Lock`](sync::Lock), [`RLock`](sync::RLock), [`Semaphore`](sync::Semaphore), [`BoundedSemaphore`](sync::BoundedSemaphore), [`Event`](sync::Event) (and [`WatchableEvent`](sync::WatchableEvent), with a descriptor readable while it is set), [`Condition`](sync::Condition), [`Barrier`](sync::Barrier); a dead holder is reported once ([`OwnerDied`](sync::OwnerDied)), within microseconds through the kernel's robust-futex list; a semaphore's units held by a dead process come back; a dead condition waiter absorbs no notification | `multiprocessing.Lock`, … |
//! | [`ipc`] | [`Pipe`](ipc::Pipe) and its [`Connection`](ipc::Connection) ends: message boundaries kept, bytes or fixed-size values, try and timed forms, closed peers as errors (never `SIGPIPE`); raw POSIX [`MessageQueue`](ipc::MessageQueue) with priorities, `mq_notify`, kernel limits named, and `reclaim` of a dead creator's queue; the shared-memory [`Queue`](ipc::Queue), [`SimpleQueue`](ipc::SimpleQueue) and [`JoinableQueue`](ipc::JoinableQueue) of fixed-size [`Item`](shm::Item)s (tuples, `Option`, `bool` checked on the way out); [`RecordQueue`](ipc::RecordQueue), byte records of any length in a segment sized at run time; [`wait`](ipc::wait) over any mix of them (queues through [`Watch`](ipc::Watch): items, room with `watch_put`, every task done with `watch_join`), process sentinels and signal descriptors; named connections between unrelated processes ([`Listener`](ipc::Listener), [`client`](ipc::client)) checked by peer credentials; descriptors through a connection (`send_fd`/`recv_fd`, `send_with_fds`); with the `serde` feature, values of any serde type through a connection (`send_value`/`recv_value`) and a message queue (`send_value`/`receive_value`), encoded with postcard by `ipc::codec` into reusable buffers, and through `ValueQueue`, `ValueSimpleQueue` and `ValueJoinableQueue` (Python's `Queue()`), encoded straight into a record | `multiprocessing.Pipe`, `Connection`, `Queue`, `SimpleQueue`, `JoinableQueue`, `connection.wait`, `connection.Listener`/`Client`; `posix_ipc.MessageQueue` |
//! | [`pool`] | the static worker [`Pool`](pool::Pool): workers forked once, a ring of task slots in shared memory (sized by `MPROC_POOL_*`, the type's const generics, or at run time with `slots`/`task_bytes`), `apply`, `apply_async` → [`AsyncResult`](pool::AsyncResult) with callbacks run in the parent, `map`/`imap`/`imap_unordered`/`starmap`, `close`/`terminate`/`join`, `apply_async_fd` for a task that takes a descriptor; [`watch`](pool::Pool::watch), a descriptor readable while a result is ready or a worker died, for an event loop or an async runtime; with the `serde` feature the `_value` forms (`apply_value`, `map_values`, …) for arguments and results of any serde type, encoded into the task slots; a task's panic or its worker's death fails that task alone ([`TaskError`](pool::TaskError)) and never hangs the pool | `multiprocessing.Pool` |
//! | [`manager`] | the [`Manager`](manager::Manager) server process and its proxies: [`DictProxy`](manager::DictProxy), [`ListProxy`](manager::ListProxy), [`ArrayProxy`](manager::ArrayProxy), [`ValueProxy`](manager::ValueProxy), [`NamespaceProxy`](manager::NamespaceProxy), [`LockProxy`](manager::LockProxy), [`RLockProxy`](manager::RLockProxy), registered types ([`Served`](manager::Served), [`Proxy`](manager::Proxy)); fixed capacities (chosen when an object is made; the object count and message size also at run time through the builder), typed [`Wire`](manager::Wire) values (with the `serde` feature, objects of any serde values: `dict_serde`, `list_serde`, `value_serde`, `queue_serde`), a memfd channel per connection, peers checked by credentials, [`ManagerGone`](ErrorKind::ManagerGone) instead of a hang; [`Detached`](manager::Detached) proxies whose lock, event and queue waits are started, then finished when a descriptor is readable (any event loop), withdrawn when dropped; with the `tokio` feature, `AsyncProxy`: those waits as futures | `multiprocessing.Manager`, `managers.BaseManager`, `register` |
//! | [`daemon`] | a pre-fork master's kit: [`MainLoop`](daemon::MainLoop) (signals from a `signalfd`, job sources and the pool's workers in one wait), [`Pidfile`](daemon::Pidfile) (exclusive; only a stale pidfile of ours is replaced), [`Status`](daemon::Status) board for a named segment, [`LogFile`](daemon::LogFile) that follows log rotation and batches a busy loop's lines into one write; systemd, natively: the notify protocol ([`Notifier`](daemon::Notifier): `READY=1`, `STATUS=`, `RELOADING=1`, `WATCHDOG=1`… without libsystemd), a [`Watchdog`](daemon::Watchdog) that pings only while the caller vouches for the daemon's health, socket activation ([`ListenFds`](daemon::ListenFds)), and with the `log` feature a logger that writes journald priorities when stderr is the journal (`daemon::journal`); with the [`pool`]'s steering (`resize`, `replace_workers`, `drain`, task timeouts, [`healthy`](pool::Pool::healthy) for the watchdog) | gunicorn's and nginx's masters; `sd_notify`, `sd_listen_fds` |
//! | [`server`] | a pre-fork socket server: [`Listener`](server::Listener)s (TCP with `SO_REUSEADDR`/`SO_REUSEPORT`, Unix stream, or a listening descriptor handed in) opened by the master and inherited by the forked workers, which accept on them; [`Server`](server::Server) with sync workers calling a plain function per [`Conn`](server::Conn), steered by signals (`HUP` replaces the workers gracefully, `TTIN`/`TTOU`, `TERM` drains within a grace period, `INT`/`QUIT` stop now, `USR2` re-executes the binary on the same sockets and hands over once the new master is ready, or rolls back: [`Takeover`](server::Takeover)), a dead worker replaced, a connection timeout, the clients beyond the workers waiting in the backlog or answered ([`Overflow`](server::Overflow)), per-worker state in shared memory ([`Server::workers`](server::Server::workers), [`healthy`](server::Server::healthy)), hooks for readiness, reload and stop ([`Event`](server::Event)) and other worker bodies ([`WorkerBody`](server::WorkerBody)); with the `tokio` feature, async workers (`AsyncWorker`, `Builder::build_async`): a tokio current-thread runtime built in each worker after the fork, a task per connection, `max_connections`, a heartbeat the master watches | gunicorn's sync and async workers, nginx's and unicorn's binary upgrade; seed 004's `Pool(4)` echo server; seed 001's gevent server |
//! | `aio` (feature `tokio`) | async forms of the waits, on the descriptors below (so any runtime can do the same): an [`AsyncResult`](pool::AsyncResult) awaited (`IntoFuture`, `get_async`, `wait_async`), `Imap::into_stream`, `Queue::get_async`/`put_async`, `JoinableQueue::join_async`, `RecordQueue` and `ValueQueue` gets, puts and joins, `Connection` and `MessageQueue` receives and sends (bytes, items and serde values), `SignalFd::recv_async` and `stream`; a dropped future loses nothing; the fork rule for async programs | `loop.run_in_executor(ProcessPoolExecutor)`, `asyncio` streams |
//! | [`error`] | the one [`Error`] type: operation, resource, [`ErrorKind`], errno | exceptions |
//! | [`config`] | capacities fixed at build time from `MPROC_*` variables | — |
//! | `sys` (private) | every raw libc/nix/signal-hook call, each `unsafe` block with its `SAFETY` note | — |
//!
//! Layers depend downwards only: `pool`, `manager`, `daemon` and `server` on the
//! primitives, the primitives on `sys`.
//!
//! `pool`, `manager`, `daemon` (needs `pool`) and `server` (needs `daemon`)
//! are features, on by default: a small build leaves out the ones it does
//! not use (`default-features = false`); the primitives are always there.
//! README's "Small builds" has the `size` profile and what each part costs.
//!
//! ## The fork contract
//!
//! [`Process::start`] and [`process::fork`] fork the calling process. When a
//! handler has been registered through [`signal`], every signal is blocked
//! around the `fork`, so no signal can run that handler in the child before
//! it is set up (otherwise the mask is left alone: nothing to protect). The
//! child then, before anything else:
//!
//! 1. sets every signal that had a handler registered through
//!    [`signal`] back to its default action, then empties its signal mask
//!    if it is not empty (so `terminate()` ends a child even when the parent
//!    catches `SIGTERM`, and a child never inherits a blocked set);
//! 2. forgets its parent's children (it can only wait for its own) and
//!    records its parent for [`process::parent_process`];
//! 3. for a [`Process`]: takes its name, arms `PR_SET_PDEATHSIG` if it is a
//!    daemon, runs the target, joins the children it started itself,
//!    flushes Rust's stdout and stderr, and ends with `_exit` — it never
//!    returns into the parent's code, and no destructor of the parent's
//!    objects runs in it (their copies are abandoned, as in Python's
//!    `os._exit`).
//!
//! **Ending.** As in Python, a process that has started [`Process`]
//! children does not end before them: when it exits normally (`main`
//! returns, a panic unwinds out of `main`, `std::process::exit`; for a
//! [`Process`] child, its target returns or panics), an `atexit` hook
//! registered by its first [`Process::start`] sends `SIGTERM` to its
//! daemonic children, joins the others, then joins the daemonic ones
//! (`SIGKILL` after one second). [`process::exit`] (`_exit`) and death by
//! a signal skip it; children of a plain [`process::fork`] are never
//! joined. The opt-out is [`process::set_join_at_exit`]`(false)`. A child
//! that only serves its parent — a [`daemon`](Process::daemon), a
//! [`Pool`](pool::Pool)'s worker, a [`Manager`](manager::Manager)'s
//! server — dies with it even when the parent is `SIGKILL`ed
//! (`PR_SET_PDEATHSIG`, which Linux fires when the parent *thread* that
//! forked it ends: fork them from the main thread or a thread as
//! long-lived). A daemonic process may not have children
//! ([`ErrorKind::DaemonicParent`]: no [`Process`], `Pool` or `Manager`), as
//! Python rules; a plain `fork` stays allowed. See the [`process`] docs.
//!
//! Everything the target captured is available in the child as it was at the
//! moment of the fork: values travel by `fork`, nothing is serialised.
//! Buffered stdout is flushed *before* the fork, so nothing prints twice.
//!
//! **Threads.** A process that runs more than one thread is not forked:
//! the call fails with [`ErrorKind::ThreadsRunning`]. The child would inherit
//! every lock the other threads held at that instant — stdout's, `std::env`'s,
//! a logger's — held forever, and deadlock on its first `println!`. Fork the
//! workers at start-up, then start threads: the shape of a pre-fork daemon.
//! The opt-in is `unsafe` ([`process::fork_with_threads`],
//! [`Process::start_with_threads`]) and its contract says what the child may
//! touch. Under qemu-user the thread count is hidden and the check lets the
//! fork through.
//!
//! ## Signals: the crate claims none
//!
//! Nothing in `mproc` installs a handler, changes a disposition or blocks a
//! signal unless asked. Handlers go through `signal-hook`'s registry, which
//! chains to whatever the host program installed first. Daemons should take
//! signals synchronously — a [`SignalFd`](signal::SignalFd) in the main loop,
//! or a [`flag`](signal::flag) polled there — and never do real work inside a
//! handler.
//!
//! ## Safety model
//!
//! `unsafe` is denied at the crate root; the private `sys` module opts back
//! in for every FFI call, mapping and pointer, and each `unsafe` block states
//! why it is sound. Outside `sys` the only `unsafe` items, each allowed one
//! by one with its reason, are the `unsafe impl Shareable` declarations of
//! the crate's own shared types (a promise about their layout) and the
//! `Deref` of the [`Value`](shm::Value)/[`Array`](shm::Array) guards (the
//! lock they hold is what makes the reference exclusive), the `TaskData` declaration of a manager
//! [`Token`](manager::Token) (an inline address and two numbers), and the
//! calls into `sys` that need a protocol kept above it: borrowing the eventfd a
//! [`Queue`](ipc::Queue) keeps, the bytes of a [`RecordQueue`](ipc::RecordQueue)'s
//! ring read and written under its lock, and the [`pool`]'s moves of task values
//! through a slot whose ownership its state word hands over (the type
//! erasure itself — task entries by address, sealed with a per-pool key,
//! inline callbacks — is in `sys::task`). Five public items are `unsafe`
//! because they take a promise the compiler cannot check: forking with
//! threads running (two functions), running an arbitrary closure inside a
//! signal handler ([`signal::register`]), and implementing
//! [`Shareable`](shm::Shareable) or [`TaskData`](pool::TaskData) for a type
//! of your own by hand. User code need not: `#[derive(Shareable)]` and
//! `#[derive(TaskData)]` (feature `derive`, on by default; crate
//! `mproc-derive`) check the contract when the program is built — every
//! field itself shareable, no padding, no drop glue, no pointer, reference
//! or `usize` — and refuse with a message that names the field and why.
//!
//! ## Errors
//!
//! Every fallible call returns [`Error`], which names the operation, the
//! resource it acted on and the limit that was hit, keeps the `errno`, and
//! allocates nothing. Bad input — signal 0 or 999, a pid that does not exist,
//! `join` before `start`, a second `start`, a name or child count over its
//! capacity — is a typed error and loses nothing already accepted. Library
//! code does not panic on anything a caller or another process can cause.
//!
//! ## Allocation
//!
//! Names are stored inline (`MPROC_NAME_LEN`), the child table is a static
//! array (`MPROC_MAX_CHILDREN`), [`process::active_children`] returns a
//! `heapless::Vec`. Starting, joining, signalling and waiting allocate
//! nothing; registering a [`signal::flag`] allocates once. Shared values and
//! primitives live in `mmap`ed segments, made once; locking, waiting,
//! notifying and reading or writing a `Value` allocate nothing.
//!
//! ## Limitations and non-goals
//!
//! Linux only (a `compile_error!` elsewhere); only the fork start method
//! (`spawn` and `forkserver` are out of scope on purpose); targets are plain
//! `FnOnce()` closures run in the forked child, never pickled; no Windows or
//! macOS; one machine.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "mproc supports Linux only: it is built on fork, pidfd, signalfd, futex and POSIX message queues."
);

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod aio;
pub mod config;
#[cfg(feature = "daemon")]
#[cfg_attr(docsrs, doc(cfg(feature = "daemon")))]
pub mod daemon;
pub mod error;
pub mod ipc;
#[cfg(feature = "manager")]
#[cfg_attr(docsrs, doc(cfg(feature = "manager")))]
pub mod manager;
mod name;
#[cfg(feature = "pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
pub mod pool;
pub mod process;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
pub mod shm;
pub mod signal;
pub mod sync;
mod sys;

// The derives name the traits `::mproc::…`, in this crate's own tests and
// docs too.
extern crate self as mproc;

pub use error::{Error, ErrorKind, Resource, Result};
/// The derive macros (feature `derive`, on by default): `#[derive(Shareable)]`,
/// `#[derive(Item)]`, `#[derive(TaskData)]`, `#[derive(Wire)]`, also
/// re-exported beside each trait ([`shm::Shareable`], [`shm::Item`],
/// [`pool::TaskData`], [`manager::Wire`]).
#[cfg(feature = "derive")]
pub use mproc_derive::{Item, Shareable, TaskData, Wire};
pub use process::{Pid, Process};
pub use signal::Signal;
