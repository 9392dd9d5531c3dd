//! The [`Manager`]: a server process that owns shared objects — dicts,
//! lists, arrays, values, namespaces, locks, semaphores, events, conditions,
//! barriers, queues and registered types — and serves
//! proxies to forked children and to unrelated programs (Python's
//! `multiprocessing.Manager()` and `managers.BaseManager`).
//!
//! ```no_run
//! use mproc::manager::Manager;
//! use mproc::process::Process;
//! use mproc::shm::FixedStr;
//!
//! // Python: with Manager() as m: d = m.dict(); l = m.list(range(10))
//! let m = Manager::start()?;
//! let d = m.dict::<u32, FixedStr<8>>(16)?;
//! let l = m.list::<i32>(10)?;
//! l.extend(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])?;
//! let mut p = Process::new(|| {
//!     d.set(&1, &"1".parse().unwrap()).unwrap();
//!     l.reverse().unwrap();
//! });
//! p.start()?;
//! p.join()?;
//! assert_eq!(d.get(&1)?.unwrap(), "1");
//! assert_eq!(l.snapshot()?, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
//! # Ok::<(), mproc::Error>(())
//! ```
//!
//! # How it works
//!
//! - [`Manager::start`] forks the server: one process, one thread, one
//!   loop. Every operation on an object is one request and one reply,
//!   atomic on the server. It listens on a fresh abstract socket name (no
//!   file), or on the address given to [`Builder::address`]; it is a
//!   daemon child of its owner (it ends when the owner does).
//! - Objects have **fixed capacities**, allocated on the server once when
//!   they are made, and **fixed-size types**: keys, values and items are
//!   [`Wire`] values (integers, floats, `bool`, `char`,
//!   [`FixedStr`](crate::shm::FixedStr), arrays, tuples, `Option`, your
//!   own), encoded in one canonical little-endian form, never pickled.
//!   Every request carries the caller's type check, so a dict made for
//!   `u32` keys refuses an `i64` key with a typed error.
//! - **Values of any size** (feature `serde`): `Client::dict_serde`,
//!   `list_serde`, `value_serde` and `queue_serde` make objects of any
//!   `Serialize + DeserializeOwned` keys, values and items (postcard),
//!   with proxies of the same methods ([`DictProxy`]`<K, V, `[`Serde`]`>`…);
//!   [`NamespaceProxy`]'s `set_serde`/`get_serde` and [`Proxy`]'s
//!   `call_serde` ([`Call`]'s `on_serde`) do the same for fields and
//!   registered types. Such an object holds at most a number of entries
//!   and of bytes, both chosen when it is made and allocated once on the
//!   server, its values kept one after another (a 20-byte value takes 20
//!   bytes). A value that does not fit is [`ErrorKind::EncodedSize`]
//!   naming its size, the room and the knob ([`OBJECT_BYTES_KNOB`],
//!   [`MESSAGE_KNOB`]), and changes nothing; bytes that do not decode are
//!   [`ErrorKind::InvalidData`]. The server never decodes them (but for a
//!   registered type's arguments), and compares keys and items by their
//!   encoded bytes.
//! - **Capacities** are chosen at run time: each object's when it is made,
//!   the server's object count and message size with [`Builder::objects`]
//!   and [`Builder::message_bytes`] (defaults: the build settings
//!   `MPROC_MANAGER_OBJECTS` and `MPROC_MANAGER_MESSAGE_BYTES`).
//! - **Transport**: each connection is a `SOCK_SEQPACKET` socket plus a
//!   channel of shared memory (a memfd the server passes over the socket,
//!   its size sealed).
//!   Requests and replies are copied through the channel; while both sides
//!   are busy a round trip makes no system call, and a side that has been
//!   idle for a moment parks on the socket, where the other rings a
//!   one-byte doorbell. The socket's hang-up is how each side learns of
//!   the other's death, at once.
//! - **Proxies** ([`DictProxy`], [`ListProxy`], [`ArrayProxy`], [`ValueProxy`],
//!   [`NamespaceProxy`], [`Proxy`] for registered types, and the waiting
//!   objects below) are handles: an object number and this process's
//!   connection. A forked child that uses an inherited proxy makes its own
//!   connection on its first call (as Python's proxies reconnect after a
//!   fork). The proxy that made an object releases it when dropped in the
//!   process that made it; proxies opened by name, copies in children and
//!   [`Token`]s do not.
//! - **Calls allocate nothing**; making an object or a connection does
//!   (once).
//! - **Threads**: the proxies made through one [`Client`] share one
//!   connection per process, and a call holds it until its reply, so a
//!   thread waiting in `acquire` holds up the other threads' calls through
//!   that client. Give each thread its own [`Manager::connect`].
//!
//! # Who may connect: peer credentials, not an `authkey`
//!
//! Python's manager checks an HMAC over a shared `authkey`. The server here
//! asks the kernel who connected (`SO_PEERCRED`) and serves only its own
//! uid and those added with [`Builder::allow_uid`], as
//! [`Listener`] does. A process of another uid is told so: its
//! [`Manager::connect`] fails with [`ErrorKind::PermissionDenied`], the
//! error naming its uid, the uids served and the remedy
//! ([`Resource::ManagerPeer`]).
//!
//! # Connections: the handshake, the limits
//!
//! The server never waits on one client. A new connection's handshake (the
//! client's hello, the server's welcome with the channel) is a state the
//! connection passes through in the server's one loop: a connection that
//! says nothing is dropped after 2 s, one that sends anything but a hello
//! (a byte, a half-close) at once, and meanwhile every other client is
//! served as usual. At most `MPROC_MANAGER_CONNECTIONS` connections are
//! open at once, handshakes included; a uid other than the server's own
//! holds at most half of them, so an admitted uid cannot lock out the
//! owner's processes. A connection past a limit is refused with
//! [`ErrorKind::CapacityExceeded`] naming it (a [`Resource::Capacity`]).
//!
//! # Clients that break the rules
//!
//! A client that writes garbage into its channel, truncates or grows it
//! (its size is sealed: the kernel refuses), unmaps it or stops in the
//! middle of a request can spoil its own connection only: the server
//! copies each request out of the channel once and checks every length,
//! object number, generation, index and state before it uses them, and
//! drops the connection of a client that breaks the channel's protocol
//! (see the protocol's docs). Every other client goes on as before. (A
//! process of an admitted uid can still do what any client can: release
//! objects it can name, hold a lock forever, fill the object table.)
//!
//! # Failures
//!
//! - A server that is gone — shut down, killed, crashed — makes every call
//!   fail with [`ErrorKind::ManagerGone`], at once, never a hang.
//! - A client that dies mid-request leaves the server and every other
//!   client as they were; a lock it held is released (Python's manager
//!   keeps it locked forever). The server watches each client process
//!   (a pidfd) besides its socket, so this holds even when a child the
//!   client forked keeps a copy of the socket open.
//! - The server runs a registered type's handler in its one loop: a
//!   handler that never returns stops the manager for everyone (one that
//!   panics fails its own call only).
//! - Bad input is a typed error and changes nothing: a full object
//!   ([`ErrorKind::CapacityExceeded`]), a wrong key or value type
//!   ([`ErrorKind::LayoutMismatch`]), an index out of range, a method a
//!   registered type does not have ([`ErrorKind::UnknownMethod`]), an
//!   object that could never hold anything (a dict, list or namespace of
//!   capacity 0, a bounded semaphore of 0, a barrier of no parties:
//!   [`ErrorKind::InvalidArgument`] naming the minimum). A queue of
//!   `maxsize` 0, unbounded in Python, is the largest one message allows.
//!
//! # Objects that wait
//!
//! [`LockProxy`], [`RLockProxy`], [`ConditionProxy`], [`SemaphoreProxy`]
//! (also bounded), [`EventProxy`], [`BarrierProxy`] and [`QueueProxy`]
//! answer a request that must wait later: the server parks it (the caller
//! spins briefly, then sleeps on its socket) and answers it when another
//! request makes it possible, oldest first; except that a lock released
//! while its waiters sleep on their sockets may go to a client that asks
//! for it while running (waking a sleeper costs tens of microseconds),
//! and no waiter is passed over for more than 4 ms. A timeout travels with the
//! request and the server keeps it, so a timed-out wait never leaves a
//! half-done request behind. A lock or condition whose holder's process
//! dies is released; a barrier one of whose waiters dies is broken (the
//! others get [`ErrorKind::BrokenBarrier`]).
//!
//! For forked children alone, the shared-memory versions in
//! [`sync`](crate::sync) and [`ipc`](crate::ipc) do the same work at a
//! fraction of a round trip; the manager's versions are for objects that
//! unrelated programs open by name, and for code written against
//! Python's manager.

mod encoding;
mod link;
mod protocol;
mod proxy;
mod records;
mod served;
mod server;
mod socket_file;
mod store;
mod wire;

pub use encoding::{Encoding, Fixed, MESSAGE_KNOB, OBJECT_BYTES_KNOB, Serde};
/// `#[derive(Wire)]`: the encoding and its validating decode, field by field.
#[cfg(feature = "derive")]
pub use mproc_derive::Wire;
#[cfg(feature = "tokio")]
pub use proxy::AsyncProxy;
pub use proxy::{
    ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, FieldName, ListProxy,
    LockProxy, ManagerGuard, NamespaceProxy, Proxied, Proxy, QueueProxy, RLockProxy,
    SemaphoreProxy, Token, ValueProxy,
};
pub use proxy::{Detached, DetachedGuard, Pending};
pub use served::{Call, Method, Served};
pub use wire::Wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Resource, Result, SegmentName};
use crate::ipc::{ALLOWED_UIDS, Listener};
use crate::process::{self, Pid, Process};
use crate::sys;
use link::{ADDRESS_MAX, Link};
use protocol::{Request, op};
use served::Registration;
use socket_file::SocketFile;

/// The most types one manager registers.
pub const TYPES_MAX: usize = 16;

/// The most objects [`Builder::objects`] allows (`MPROC_MANAGER_OBJECTS`'s
/// range too).
pub const OBJECTS_MAX: usize = 65_536;

pub use link::{MESSAGE_BYTES_MAX, MESSAGE_BYTES_MIN};

/// How long [`Manager::shutdown`] waits for the server to exit before it
/// kills it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A connection to a manager server: makes objects and opens published
/// ones. Cheap to clone (the clones share one connection per process).
/// [`Manager`] derefs to the one its owner uses; [`Manager::connect`]
/// makes one in any process.
///
/// `Send` and `Sync`, as every proxy is (`DictProxy`, `LockProxy`,
/// `QueueProxy`…): the connection is behind an `Arc` and a lock, so a
/// client or a proxy may move into another thread or a multi-threaded
/// runtime's task, and be used from several (each call is one request and
/// its answer under the connection's lock).
#[derive(Clone, Debug)]
pub struct Client {
    link: Arc<Link>,
}

/// What a server holds now: [`Client::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Live objects.
    pub objects: usize,
    /// Open connections (one per process that called, per client).
    pub connections: usize,
}

impl Client {
    /// The server's address.
    pub fn address(&self) -> &str {
        self.link.address()
    }

    fn resource(&self) -> Resource {
        Resource::Manager(SegmentName::new(self.link.address()))
    }

    fn manager_call(&self, name: &'static str, op: u16) -> Result<(u64, u64)> {
        let request = Request {
            op,
            ..Request::default()
        };
        self.link
            .call(name, self.resource(), request, |_| 0, |r, _| Ok((r.a, r.b)))
    }

    /// The server's pid, asked of the server (a round trip).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn server_pid(&self) -> Result<Pid> {
        let (pid, _) = self.manager_call("Client::server_pid", op::PING)?;
        Ok(Pid::from_kernel(pid as i32))
    }

    /// How many objects and connections the server holds now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ManagerGone`].
    pub fn stats(&self) -> Result<Stats> {
        let (objects, connections) = self.manager_call("Client::stats", op::COUNT)?;
        Ok(Stats {
            objects: objects as usize,
            connections: connections as usize,
        })
    }
}

/// Python's `multiprocessing.Manager()`: the handle of a running server
/// process (see the [module docs](self)). Derefs to its [`Client`], which
/// makes the objects. Dropping it in the process that started it shuts
/// the server down, as leaving Python's `with Manager() as m:` does.
///
/// `Send` and `Sync`: once started, the handle is a client and the
/// server's pid, and may move into another thread or an async task. The
/// server is forked when the manager starts, so start it before the
/// program starts threads (a runtime's included): it dies with the
/// *thread* that started it (`PR_SET_PDEATHSIG`), so start it from the
/// main thread or one that lives as long as the manager.
#[derive(Debug)]
pub struct Manager {
    client: Client,
    server: Option<Process<Box<dyn FnOnce() + Send + Sync>>>,
    owner: i32,
    /// The socket file to remove if the server could not (it was killed).
    path: Option<SocketFile>,
}

/// Sets up a [`Manager`] before its server starts: its address, who else
/// may connect, the types it serves (Python's `BaseManager` subclass with
/// `register` calls).
#[derive(Debug, Default)]
pub struct Builder {
    address: Option<heapless::String<ADDRESS_MAX>>,
    allowed: heapless::Vec<u32, ALLOWED_UIDS>,
    registry: heapless::Vec<Registration, TYPES_MAX>,
    objects: Option<usize>,
    message_bytes: Option<usize>,
    error: Option<Error>,
}

impl Builder {
    /// Listens on `address` instead of a fresh abstract name: `"@name"`
    /// for Linux's abstract namespace (no file), or a filesystem path
    /// (mode `0600`, removed when the server ends, or by the owner when the
    /// server was killed; only while the path still names the socket made
    /// for it, and for the owner only when no server answers there: a file
    /// put there meanwhile stays). Unrelated programs
    /// reach the manager with [`Manager::connect`]`(address)`.
    pub fn address(mut self, address: &str) -> Builder {
        let mut kept = heapless::String::new();
        if kept.push_str(address).is_err() {
            self.error.get_or_insert(Error::new(
                "Builder::address",
                Resource::Manager(SegmentName::new(address)),
                ErrorKind::CapacityExceeded {
                    limit: ADDRESS_MAX - 1,
                },
            ));
        }
        self.address = Some(kept);
        self
    }

    /// Serves processes running as `uid` too (besides the server's own
    /// uid), at most [`ALLOWED_UIDS`].
    pub fn allow_uid(mut self, uid: u32) -> Builder {
        if !self.allowed.contains(&uid) && self.allowed.push(uid).is_err() {
            self.error.get_or_insert(Error::new(
                "Builder::allow_uid",
                Resource::Container {
                    what: "allowed uids",
                    capacity: ALLOWED_UIDS,
                },
                ErrorKind::CapacityExceeded {
                    limit: ALLOWED_UIDS,
                },
            ));
        }
        self
    }

    /// Holds at most `n` objects at once (instead of the build's
    /// `MPROC_MANAGER_OBJECTS`), 1 to [`OBJECTS_MAX`]: a creation past
    /// them is [`ErrorKind::CapacityExceeded`] naming the knob.
    pub fn objects(mut self, n: usize) -> Builder {
        if !(1..=OBJECTS_MAX).contains(&n) {
            self.error.get_or_insert(Error::new(
                "Builder::objects",
                Resource::Capacity("Builder::objects (MPROC_MANAGER_OBJECTS): 1 to OBJECTS_MAX"),
                ErrorKind::CapacityExceeded { limit: OBJECTS_MAX },
            ));
        }
        self.objects = Some(n);
        self
    }

    /// Makes each request and reply at most `n` bytes (instead of the
    /// build's `MPROC_MANAGER_MESSAGE_BYTES`), [`MESSAGE_BYTES_MIN`] to
    /// [`MESSAGE_BYTES_MAX`]. Every connection's channel has that many
    /// bytes, and an object's whole contents fit in one message (its
    /// snapshot is one reply), so this bounds the objects' capacities too.
    /// Clients learn the size when they connect.
    pub fn message_bytes(mut self, n: usize) -> Builder {
        if !(MESSAGE_BYTES_MIN..=MESSAGE_BYTES_MAX).contains(&n) {
            self.error.get_or_insert(Error::new(
                "Builder::message_bytes",
                Resource::Capacity(
                    "Builder::message_bytes (MPROC_MANAGER_MESSAGE_BYTES): MESSAGE_BYTES_MIN to \
                     MESSAGE_BYTES_MAX",
                ),
                ErrorKind::CapacityExceeded {
                    limit: MESSAGE_BYTES_MAX,
                },
            ));
        }
        self.message_bytes = Some(n);
        self
    }

    /// Serves the type `T`: clients make objects of it with
    /// [`Client::create`] (Python's `BaseManager.register(typeid,
    /// callable)`). At most [`TYPES_MAX`] types; names at most 32 bytes
    /// and distinct.
    pub fn register<T: Served>(mut self) -> Builder {
        let op = "Builder::register";
        let name = Resource::Text {
            what: "a registered type name",
            len: T::TYPEID.len(),
        };
        if T::TYPEID.is_empty() || T::TYPEID.len() > server::TYPEID_MAX {
            self.error.get_or_insert(Error::new(
                op,
                name,
                ErrorKind::CapacityExceeded {
                    limit: server::TYPEID_MAX,
                },
            ));
        } else if self.registry.iter().any(|r| r.typeid == T::TYPEID) {
            self.error
                .get_or_insert(Error::new(op, name, ErrorKind::AlreadyExists));
        } else if self.registry.push(Registration::of::<T>()).is_err() {
            self.error.get_or_insert(Error::new(
                op,
                Resource::Container {
                    what: "registered types",
                    capacity: TYPES_MAX,
                },
                ErrorKind::CapacityExceeded { limit: TYPES_MAX },
            ));
        }
        self
    }

    /// Binds the address, forks the server and connects to it.
    ///
    /// # Errors
    ///
    /// The first error of the settings above; as
    /// [`Listener::bind`](crate::ipc::Listener::bind) for the address
    /// ([`ErrorKind::AlreadyExists`] when it is taken); as
    /// [`Process::start`] for the fork.
    pub fn start(self) -> Result<Manager> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let address = match self.address {
            Some(a) => a,
            None => fresh_address(),
        };
        let mut listener = Listener::bind(&address)?;
        for &uid in &self.allowed {
            listener.allow_uid(uid)?;
        }
        let is_path = !address.starts_with('@') && !address.starts_with('\0');
        // The socket file, as bound: the server removes it when it ends
        // (the owner if the server was killed), and only while the path
        // still names it. Neither copy of the listener removes it.
        let path = if is_path {
            SocketFile::bound(&address)
        } else {
            None
        };
        listener.disown();
        let spec = server::Spec {
            listener,
            registry: self.registry,
            allowed: self.allowed,
            path: path.clone(),
            objects: self.objects.unwrap_or(crate::config::MANAGER_OBJECTS),
            message_bytes: self
                .message_bytes
                .unwrap_or(crate::config::MANAGER_MESSAGE_BYTES),
        };
        let target: Box<dyn FnOnce() + Send + Sync> = Box::new(move || {
            let code = server::run(spec);
            process::exit(code);
        });
        let mut server = Process::new(target).daemon(true).with_name("SyncManager")?;
        if let Err(e) = server.start() {
            if let Some(path) = &path {
                path.remove();
            }
            return Err(e);
        }
        let mut manager = Manager {
            client: Client {
                link: Arc::new(Link::dormant(&address)),
            },
            server: Some(server),
            owner: sys::process::getpid(),
            path,
        };
        // The server accepts once it runs; the listener queued us anyway.
        match Link::connect(&address) {
            Ok(link) => {
                manager.client.link = Arc::new(link);
                Ok(manager)
            }
            Err(e) => Err(e),
        }
    }
}

/// `@mproc-manager-<pid>-<n>-<nanoseconds>`: unique on this machine.
fn fresh_address() -> heapless::String<ADDRESS_MAX> {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut s = heapless::String::new();
    let _ = core::fmt::Write::write_fmt(
        &mut s,
        format_args!("@mproc-manager-{}-{n}-{nanos}", sys::process::getpid()),
    );
    s
}

impl Manager {
    /// Starts a manager with the defaults (Python's `Manager()`): a fresh
    /// abstract address, this uid only, no registered types.
    ///
    /// # Errors
    ///
    /// As [`Builder::start`].
    pub fn start() -> Result<Manager> {
        Builder::default().start()
    }

    /// A [`Builder`] to set the address, allowed uids and registered types
    /// first.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Connects to the manager listening at `address`, from any process
    /// (Python's `BaseManager(address).connect()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when nobody listens there;
    /// [`ErrorKind::PermissionDenied`] when the server runs as another uid
    /// (and not as root), or when it does not serve this process's uid
    /// (then on a [`Resource::ManagerPeer`] that names the uids it serves
    /// and [`Builder::allow_uid`]); [`ErrorKind::CapacityExceeded`] naming
    /// `MPROC_MANAGER_CONNECTIONS` when the server holds that many
    /// connections, or half of them for this uid when it is not the
    /// server's; [`ErrorKind::Timeout`] when no answer came in 10 s;
    /// [`ErrorKind::ManagerGone`] when the server closed the connection
    /// without a word.
    pub fn connect(address: &str) -> Result<Client> {
        Ok(Client {
            link: Arc::new(Link::connect(address)?),
        })
    }

    /// The server's pid (`None` after shutdown).
    pub fn pid(&self) -> Option<Pid> {
        self.server.as_ref().and_then(Process::pid)
    }

    /// Stops the server (Python's `shutdown()`): proxies' calls fail with
    /// [`ErrorKind::ManagerGone`] from then on. Waits for it to exit, and
    /// kills it after two seconds.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] in a process other than the one that
    /// started it (a forked child's copy), which leaves it running.
    pub fn shutdown(mut self) -> Result<()> {
        if self.owner != sys::process::getpid() {
            return Err(Error::new(
                "Manager::shutdown",
                Resource::Manager(SegmentName::new(self.client.address())),
                ErrorKind::InvalidArgument("only the process that started a manager shuts it down"),
            ));
        }
        self.stop();
        Ok(())
    }

    fn stop(&mut self) {
        let Some(server) = self.server.take() else {
            return;
        };
        // Already gone is fine: it is what shutting down wants.
        let _ = self.client.manager_call("Manager::shutdown", op::SHUTDOWN);
        let clean = match server.join_timeout(SHUTDOWN_GRACE) {
            Ok(Some(code)) => code == 0,
            _ => {
                let _ = server.kill();
                let _ = server.join();
                false
            }
        };
        if !clean && let Some(path) = &self.path {
            path.remove_abandoned();
        }
    }
}

impl std::ops::Deref for Manager {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if self.owner == sys::process::getpid() {
            self.stop();
        }
    }
}
