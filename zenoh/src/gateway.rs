//! The gateway: one zenoh session, its bridges, the one thread that
//! pumps the outbound ones, and the counters.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zenoh::Wait as _;
use zenoh::qos::CongestionControl;

use crate::endpoint::{Sink, Source};
use crate::inbound::{Inbound, OnFull};
use crate::journal::Journal;
use crate::outbound::{Nudge, Out, Pump, ack_key, frame, source_id};
use crate::stats::{Snapshot, Stats};

/// What went wrong starting or stopping a gateway.
#[derive(Debug)]
pub enum Error {
    /// zenoh refused: its configuration, a listen or connect endpoint, a
    /// key expression, the session.
    Zenoh {
        /// What the gateway was doing.
        what: String,
        /// zenoh's message.
        message: String,
    },
    /// A local queue could not be watched, or the gateway's thread not
    /// started.
    Local(String),
    /// A bridge name given twice, or a key expression zenoh does not take.
    Bridge(String),
    /// A remote call ([`RemoteDict`](crate::RemoteDict)) got no answer in
    /// time, or the other side refused it.
    Remote {
        /// The key the call went to.
        what: String,
        /// Why.
        message: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Zenoh { what, message } => write!(f, "zenoh: {what}: {message}"),
            Error::Local(m) => write!(f, "local: {m}"),
            Error::Bridge(m) => write!(f, "bridge: {m}"),
            Error::Remote { what, message } => write!(f, "remote {what}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

fn zerr(what: impl Into<String>) -> impl FnOnce(zenoh::Error) -> Error {
    let what = what.into();
    move |e| Error::Zenoh {
        what,
        message: e.to_string(),
    }
}

enum Spec {
    Out {
        name: String,
        key: String,
        source: Box<dyn Source>,
    },
    In {
        name: String,
        key: String,
        sink: Box<dyn Sink>,
        on_full: OnFull,
    },
}

/// Sets a gateway up: its zenoh endpoints and its bridges.
pub struct Builder {
    listen: Vec<String>,
    connect: Vec<String>,
    config: Option<zenoh::Config>,
    specs: Vec<Spec>,
    served: Vec<Served>,
    mode: Option<String>,
    keep: Option<std::path::PathBuf>,
}

/// Declares a served object's queryable on the gateway's session.
type Served = Box<dyn FnOnce(&zenoh::Session) -> Result<zenoh::query::Queryable<()>, Error> + Send>;

impl Builder {
    /// Serves a manager's `dict` on `key` (`key/get`, `key/set`,
    /// `key/pop`, `key/contains`, `key/len`, `key/items`): a program on
    /// another host reads and changes it with a
    /// [`RemoteDict`](crate::RemoteDict) of the same key and value types.
    pub fn dict<K, V, E>(mut self, key: &str, dict: mproc::manager::DictProxy<K, V, E>) -> Builder
    where
        K: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        V: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        E: mproc::manager::Encoding<K> + mproc::manager::Encoding<V> + Send + Sync,
        mproc::manager::DictProxy<K, V, E>: Send + Sync,
    {
        let key = key.to_string();
        self.served.push(Box::new(move |session| {
            crate::remote::serve_dict(session, &key, dict)
        }));
        self
    }

    /// Serves a manager's `list` on `key` (`get`, `set`, `append`, `pop`,
    /// `len`, `snapshot`), for a [`RemoteList`](crate::RemoteList).
    pub fn list<T, E>(mut self, key: &str, list: mproc::manager::ListProxy<T, E>) -> Builder
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        E: mproc::manager::Encoding<T> + Send + Sync,
        mproc::manager::ListProxy<T, E>: Send + Sync,
    {
        let key = key.to_string();
        self.served.push(Box::new(move |session| {
            crate::objects::serve_list(session, &key, list)
        }));
        self
    }

    /// Serves a manager's `value` on `key` (`get`, `set`), for a
    /// [`RemoteValue`](crate::RemoteValue).
    pub fn value<T, E>(mut self, key: &str, value: mproc::manager::ValueProxy<T, E>) -> Builder
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        E: mproc::manager::Encoding<T> + Send + Sync,
        mproc::manager::ValueProxy<T, E>: Send + Sync,
    {
        let key = key.to_string();
        self.served.push(Box::new(move |session| {
            crate::objects::serve_value(session, &key, value)
        }));
        self
    }

    /// Serves a manager's `queue` on `key` (`put` and `get` without
    /// waiting, `qsize`), for a [`RemoteQueue`](crate::RemoteQueue).
    pub fn queue<T, E>(mut self, key: &str, queue: mproc::manager::QueueProxy<T, E>) -> Builder
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        E: mproc::manager::Encoding<T> + Send + Sync,
        mproc::manager::QueueProxy<T, E>: Send + Sync,
    {
        let key = key.to_string();
        self.served.push(Box::new(move |session| {
            crate::objects::serve_queue(session, &key, queue)
        }));
        self
    }

    /// Serves a manager's namespace on `key` (`get`, `set`, `remove`,
    /// `fields`), for a [`RemoteNamespace`](crate::RemoteNamespace) of
    /// `T`: the far side reads and sets the fields that hold `T`s (a
    /// field set with another type is the manager's error).
    pub fn namespace<T>(mut self, key: &str, ns: mproc::manager::NamespaceProxy) -> Builder
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let key = key.to_string();
        self.served.push(Box::new(move |session| {
            crate::calls::serve_namespace::<T>(session, &key, ns)
        }));
        self
    }

    /// Serves one `method` (its argument and result serde values,
    /// answered by the type's `Call::on_serde`) of a registered type's
    /// object on `key`, for a [`RemoteMethod`](crate::RemoteMethod) of the
    /// same types. One key per method; the methods of one object share
    /// its proxy.
    pub fn method<T, A, R>(
        mut self,
        key: &str,
        proxy: std::sync::Arc<mproc::manager::Proxy<T>>,
        method: mproc::manager::Method<A, R>,
    ) -> Builder
    where
        T: mproc::manager::Served,
        mproc::manager::Proxy<T>: Send + Sync,
        A: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let key = key.to_string();
        self.served.push(Box::new(move |session| {
            crate::calls::serve_method(session, &key, proxy, method)
        }));
        self
    }

    /// Listens on a zenoh endpoint (`tcp/127.0.0.1:7447`). Without any
    /// (and without a [`config`](Builder::config) of its own), a gateway
    /// listens on loopback only, on a port the system picks.
    pub fn listen(mut self, endpoint: &str) -> Builder {
        self.listen.push(endpoint.to_string());
        self
    }

    /// Connects to a zenoh endpoint: another gateway, or a router
    /// (`zenohd`). zenoh keeps trying while the peer is away.
    pub fn connect(mut self, endpoint: &str) -> Builder {
        self.connect.push(endpoint.to_string());
        self
    }

    /// zenoh's mode for this gateway's session: `"peer"` (the default:
    /// it talks to the gateways it connects to or that connect to it),
    /// `"client"` (everything through the router it connects to) or
    /// `"router"` (it routes for others too).
    pub fn mode(mut self, mode: &str) -> Builder {
        self.mode = Some(mode.to_string());
        self
    }

    /// Starts from this zenoh configuration, passed through as it is
    /// (`listen` and `connect` added to it): a router's address,
    /// scouting, and access. With the default features, zenoh's TLS link
    /// (`tls/host:port` endpoints, `transport/link/tls` certificates,
    /// mutual TLS with `enable_mtls`) and its user/password
    /// authentication (`transport/auth/usrpwd`) are built in; without
    /// them, TCP only.
    pub fn config(mut self, config: zenoh::Config) -> Builder {
        self.config = Some(config);
        self
    }

    /// [`config`](Builder::config) read from a zenoh configuration file
    /// (JSON5, as `zenohd -c` reads it).
    ///
    /// # Errors
    ///
    /// [`Error::Zenoh`] naming the file, when zenoh cannot read or
    /// accept it.
    pub fn config_file(self, path: impl AsRef<std::path::Path>) -> Result<Builder, Error> {
        let path = path.as_ref();
        let config = zenoh::Config::from_file(path)
            .map_err(zerr(format!("configuration file {}", path.display())))?;
        Ok(self.config(config))
    }

    /// Keeps each outbound bridge's window (the items it took from its
    /// local queue and has not seen acknowledged) in a file of `dir`,
    /// `<bridge name>.window`, written before each item is published. A
    /// gateway killed mid-stream and started again with the same `dir`
    /// sends them again as the same source, so its receivers put each
    /// once and in order: nothing is lost but the one item it may have
    /// been taking at the kill. Without it, those items (at most
    /// [`WINDOW`](crate::WINDOW)) are lost with the gateway. One
    /// gateway at a time runs a bridge of a directory
    /// (`<bridge name>.lock` is locked while it does). Bridge names are
    /// then file names: letters, digits, `_`, `-`, `.`, not starting
    /// with `.`. Costs one `pwrite` per item.
    pub fn keep_windows(mut self, dir: impl Into<std::path::PathBuf>) -> Builder {
        self.keep = Some(dir.into());
        self
    }

    /// Publishes every item of the local `source` on `key` (a key
    /// expression without wildcards), in order, taking an item only
    /// while some remote subscriber matches the key: while none does,
    /// the items stay in the local queue.
    pub fn outbound(mut self, name: &str, key: &str, source: impl Source) -> Builder {
        self.specs.push(Spec::Out {
            name: name.to_string(),
            key: key.to_string(),
            source: Box::new(source),
        });
        self
    }

    /// Puts every item published on `key` (wildcards allowed) into the
    /// local `sink`, checking its type and its source's order.
    pub fn inbound(mut self, name: &str, key: &str, sink: impl Sink, on_full: OnFull) -> Builder {
        self.specs.push(Spec::In {
            name: name.to_string(),
            key: key.to_string(),
            sink: Box::new(sink),
            on_full,
        });
        self
    }

    fn zenoh_config(&mut self) -> Result<zenoh::Config, Error> {
        // A configuration given keeps its own endpoints unless `listen`
        // adds some; without one, loopback only.
        let given = self.config.is_some();
        let mut c = self.config.take().unwrap_or_else(|| {
            let mut c = zenoh::Config::default();
            // Two gateways find each other by their endpoints, not by
            // multicast on whatever network this is.
            let _ = c.insert_json5("scouting/multicast/enabled", "false");
            c
        });
        let listen = if self.listen.is_empty() && !given {
            vec!["tcp/127.0.0.1:0".to_string()]
        } else {
            self.listen.clone()
        };
        let json = |v: &[String]| {
            let quoted: Vec<String> = v.iter().map(|e| format!("{e:?}")).collect();
            format!("[{}]", quoted.join(","))
        };
        if !listen.is_empty() {
            c.insert_json5("listen/endpoints", &json(&listen))
                .map_err(zerr("listen/endpoints"))?;
        }
        if let Some(mode) = &self.mode {
            c.insert_json5("mode", &format!("{mode:?}"))
                .map_err(zerr("mode"))?;
        }
        if !self.connect.is_empty() {
            c.insert_json5("connect/endpoints", &json(&self.connect))
                .map_err(zerr("connect/endpoints"))?;
        }
        Ok(c)
    }

    /// Opens the zenoh session, declares the bridges and starts the
    /// pump (one thread, whatever the number of bridges: it publishes the
    /// outbound items and the acknowledgements).
    /// Make the local queues, and fork what forks, before: zenoh starts
    /// threads of its own, and mproc forks only a single-threaded process.
    ///
    /// # Errors
    ///
    /// [`Error`]: zenoh's refusal, a bridge name given twice, a local
    /// queue that cannot be watched.
    pub fn start(mut self) -> Result<Gateway, Error> {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.specs {
            let name = match s {
                Spec::Out { name, .. } | Spec::In { name, .. } => name.as_str(),
            };
            if names.contains(&name) {
                return Err(Error::Bridge(format!("the name {name:?} is given twice")));
            }
            let file_name = !name.is_empty()
                && !name.starts_with('.')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if self.keep.is_some() && !file_name {
                return Err(Error::Bridge(format!(
                    "the name {name:?} cannot name a window file (keep_windows): \
                     letters, digits, `_`, `-`, `.`, not starting with `.`"
                )));
            }
            names.push(name);
        }
        // Rung when an acknowledgement comes (the pump's window may have
        // room again), and by the first item put while the pump is idle.
        let nudge: Nudge =
            Arc::new(mproc::sync::WatchableEvent::new().map_err(|e| Error::Local(e.to_string()))?);
        let idle = Arc::new(AtomicBool::new(true));
        let config = self.zenoh_config()?;
        let session = zenoh::open(config)
            .wait()
            .map_err(zerr("open the session"))?;
        let mut bridges = Vec::new();
        let mut outs = Vec::new();
        let mut sources = Vec::new();
        let mut subscribers = Vec::new();
        let mut inbounds = Vec::new();
        for spec in std::mem::take(&mut self.specs) {
            let stats = Arc::new(Stats::default());
            match spec {
                Spec::Out { name, key, source } => {
                    let publisher = session
                        .declare_publisher(key.clone())
                        .congestion_control(CongestionControl::Block)
                        .wait()
                        .map_err(zerr(format!("publisher of bridge {name:?} on {key:?}")))?;
                    let (id, seq, acked, window, journal) = match &self.keep {
                        None => (source_id(outs.len()), 0, 0, Default::default(), None),
                        Some(dir) => {
                            let (journal, r) = Journal::open(
                                dir,
                                &name,
                                source.fingerprint(),
                                source_id(outs.len()),
                            )
                            .map_err(Error::Local)?;
                            let window = r
                                .window
                                .iter()
                                .map(|(seq, item)| {
                                    (
                                        *seq,
                                        frame(source.fingerprint(), r.source, *seq, r.acked, item),
                                    )
                                })
                                .collect();
                            (r.source, r.seq, r.acked, window, Some(journal))
                        }
                    };
                    let acked = Arc::new(AtomicU64::new(acked));
                    let seen = Arc::clone(&acked);
                    let ring = Arc::clone(&nudge);
                    let acks = session
                        .declare_subscriber(ack_key(id))
                        .callback(move |sample| {
                            let bytes = sample.payload().to_bytes();
                            if let Ok(b) = <[u8; 8]>::try_from(&bytes[..]) {
                                seen.fetch_max(u64::from_le_bytes(b), Ordering::AcqRel);
                                ring.set();
                            }
                        })
                        .wait()
                        .map_err(zerr(format!("acknowledgements of bridge {name:?}")))?;
                    bridges.push((name, key, Arc::clone(&stats)));
                    sources.push(source);
                    outs.push(Out {
                        publisher,
                        stats,
                        id,
                        seq,
                        window,
                        acked,
                        journal,
                        scratch: Vec::new(),
                        progress: Instant::now(),
                        matched: false,
                        _acks: acks,
                    });
                }
                Spec::In {
                    name,
                    key,
                    sink,
                    on_full,
                } => {
                    let inbound = Arc::new(Inbound {
                        sink,
                        on_full,
                        stats: Arc::clone(&stats),
                        sources: Mutex::new(Default::default()),
                        idle: Arc::clone(&idle),
                        nudge: Arc::clone(&nudge),
                    });
                    inbounds.push(Arc::clone(&inbound));
                    let subscriber = session
                        .declare_subscriber(key.clone())
                        .callback(move |sample| {
                            inbound.take(&sample.payload().to_bytes());
                        })
                        .wait()
                        .map_err(zerr(format!("subscriber of bridge {name:?} on {key:?}")))?;
                    bridges.push((name, key, stats));
                    subscribers.push(subscriber);
                }
            }
        }
        let mut queryables = Vec::new();
        for serve in std::mem::take(&mut self.served) {
            queryables.push(serve(&session)?);
        }
        let (wake_rx, wake_tx) = std::io::pipe().map_err(|e| Error::Local(e.to_string()))?;
        let draining = Arc::new(AtomicBool::new(false));
        let work = Pump {
            sources,
            outs,
            inbounds,
            session: session.clone(),
            wake: wake_rx,
            draining: Arc::clone(&draining),
            nudge,
            idle,
        };
        let pump = std::thread::Builder::new()
            .name("mproc-zenoh-pump".into())
            .spawn(move || work.run())
            .map_err(|e| Error::Local(format!("the pump's thread: {e}")))?;
        Ok(Gateway {
            session,
            bridges,
            _subscribers: subscribers,
            _queryables: queryables,
            wake: wake_tx,
            draining,
            pump: Some(pump),
        })
    }
}

/// A running gateway. Dropping it stops it as [`Gateway::stop`] with no
/// time to drain.
pub struct Gateway {
    session: zenoh::Session,
    bridges: Vec<(String, String, Arc<Stats>)>,
    _subscribers: Vec<zenoh::pubsub::Subscriber<()>>,
    _queryables: Vec<zenoh::query::Queryable<()>>,
    wake: std::io::PipeWriter,
    draining: Arc<AtomicBool>,
    pump: Option<JoinHandle<Result<(), String>>>,
}

impl Gateway {
    /// A gateway to set up.
    pub fn builder() -> Builder {
        Builder {
            listen: Vec::new(),
            connect: Vec::new(),
            config: None,
            specs: Vec::new(),
            served: Vec::new(),
            mode: None,
            keep: None,
        }
    }

    /// The counters of the bridge `name`.
    pub fn stats(&self, name: &str) -> Option<Snapshot> {
        self.bridges
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, s)| s.snapshot())
    }

    /// One line per bridge: its name, key expression and counters.
    pub fn status(&self) -> String {
        self.bridges
            .iter()
            .map(|(n, k, s)| format!("{n} {k}: {}\n", s.snapshot()))
            .collect()
    }

    /// The zenoh session, for what the bridges do not cover.
    pub fn session(&self) -> &zenoh::Session {
        &self.session
    }

    /// Stops: the outbound bridges go on publishing what their local
    /// queues hold, while a remote subscriber matches, for up to `drain`
    /// (Python's `TERM` drains), then the subscribers and the session
    /// close. Items still in a local queue stay there.
    ///
    /// # Errors
    ///
    /// The pump's error, if it stopped on one; zenoh's, closing.
    pub fn stop(mut self, drain: Duration) -> Result<(), Error> {
        self.halt(drain)?;
        let session = self.session.clone();
        drop(self);
        session.close().wait().map_err(zerr("close the session"))
    }

    fn halt(&mut self, drain: Duration) -> Result<(), Error> {
        let until_ms = |t: Instant| {
            (t.saturating_duration_since(Instant::now()).as_millis() as u64).to_le_bytes()
        };
        let Some(pump) = self.pump.take() else {
            return Ok(());
        };
        self.draining.store(true, Ordering::SeqCst);
        let until = Instant::now() + drain;
        let _ = self.wake.write_all(&until_ms(until));
        pump.join()
            .map_err(|_| Error::Local("the pump panicked".into()))?
            .map_err(Error::Local)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.halt(Duration::ZERO);
    }
}
