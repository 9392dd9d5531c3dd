//! The `Send`/`Sync` promises the docs make, checked when the tests are
//! built: what may move into another thread or an async task, and what
//! stays with the thread that made it.

use static_assertions::{assert_impl_all, assert_not_impl_any};

use mproc::ipc::{
    Connection, JoinableQueue, Listener, MessageQueue, Queue, RecordQueue, SimpleQueue, Watch,
};
use mproc::manager::{
    ArrayProxy, BarrierProxy, Client, ConditionProxy, DictProxy, EventProxy, ListProxy, LockProxy,
    Manager, NamespaceProxy, QueueProxy, RLockProxy, SemaphoreProxy, ValueProxy,
};
use mproc::pool::{AsyncResult, Pool, PoolWatch};
use mproc::shm::Shared;
use mproc::signal::SignalFd;
use mproc::sync::{Event, Lock, WatchableEvent};

// The manager's handle and its proxies: a socket and an `Arc`'d link
// each, no per-thread state: they may move into another thread or a
// multi-threaded runtime's task, and be shared.
assert_impl_all!(Manager: Send, Sync);
assert_impl_all!(Client: Send, Sync);
assert_impl_all!(DictProxy<u32, u64>: Send, Sync);
assert_impl_all!(ListProxy<u32>: Send, Sync);
assert_impl_all!(ArrayProxy<u32>: Send, Sync);
assert_impl_all!(ValueProxy<u32>: Send, Sync);
assert_impl_all!(NamespaceProxy: Send, Sync);
assert_impl_all!(QueueProxy<u32>: Send, Sync);
assert_impl_all!(LockProxy: Send, Sync);
assert_impl_all!(RLockProxy: Send, Sync);
assert_impl_all!(EventProxy: Send, Sync);
assert_impl_all!(ConditionProxy: Send, Sync);
assert_impl_all!(SemaphoreProxy: Send, Sync);
assert_impl_all!(BarrierProxy: Send, Sync);

// Shared memory and descriptors: the queues, their watches, the
// primitives, the connections.
assert_impl_all!(Shared<Queue<u64, 8>>: Send, Sync);
assert_impl_all!(Shared<JoinableQueue<u64, 8>>: Send, Sync);
assert_impl_all!(Shared<SimpleQueue<u64, 8>>: Send, Sync);
assert_impl_all!(Shared<Event>: Send, Sync);
assert_impl_all!(Shared<Lock>: Send, Sync);
assert_impl_all!(Shared<WatchableEvent>: Send, Sync);
assert_impl_all!(RecordQueue: Send, Sync);
assert_impl_all!(Watch<'static>: Send, Sync);
assert_impl_all!(Connection: Send, Sync);
assert_impl_all!(MessageQueue: Send, Sync);
assert_impl_all!(Listener: Send, Sync);

// The pool belongs to the thread that made it: its bookkeeping is in
// `Cell`s, its callbacks and initializer may hold `Rc`s, and the
// replacements it forks die with the thread that forks them. A
// current-thread runtime (or a `LocalSet`) holds it in a task.
assert_not_impl_any!(Pool: Send, Sync);
assert_not_impl_any!(AsyncResult<'static, u64, 64, 2048>: Send, Sync);
assert_not_impl_any!(PoolWatch<'static>: Send, Sync);
// A signal descriptor goes with the thread whose mask blocks its signals.
assert_not_impl_any!(SignalFd: Send, Sync);

#[test]
fn the_promises_above_were_checked_when_this_file_was_built() {}
