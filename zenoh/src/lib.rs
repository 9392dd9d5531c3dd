//! A zenoh gateway for mproc: local queues bridged to zenoh key
//! expressions, so that a program's queue on one host feeds a queue on
//! another, without a home-made network protocol.
//!
//! ```no_run
//! use std::time::Duration;
//! use mproc::ipc::ValueQueue;
//! use mproc_zenoh::{Gateway, OnFull};
//!
//! // Host A: what its workers put into `results` goes to host B.
//! let results = std::sync::Arc::new(ValueQueue::<String>::new()?);
//! let gw = Gateway::builder()
//!     .listen("tcp/127.0.0.1:7447")
//!     .outbound("results", "site/a/results", results.clone())
//!     .start()?;
//! results.put(&"done".to_string())?;
//!
//! // Host B (another program): `inbox` gets them.
//! let inbox = std::sync::Arc::new(ValueQueue::<String>::new()?);
//! let gw_b = Gateway::builder()
//!     .connect("tcp/127.0.0.1:7447")
//!     .inbound("results", "site/*/results", inbox.clone(), OnFull::default())
//!     .start()?;
//! assert_eq!(inbox.get_timeout(Duration::from_secs(5))?, "done");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What crosses, and what a failure loses
//!
//! - **Items, each once, in order per source, acknowledged.** An
//!   outbound bridge takes an item from its local queue only while some
//!   remote subscriber matches its key (while none does, the items wait in
//!   the local queue), publishes it with a header ([`frame`]) and keeps it
//!   until the receiving gateway acknowledges it; unacknowledged items go
//!   again when a receiver comes (back) and after [`RESEND_AFTER`]
//!   without an acknowledgement, and at most [`WINDOW`] are out at once.
//! - **Checked on arrival.** An inbound bridge refuses an item whose
//!   fingerprint is not its queue's ([`Stats::refused_type`]), puts each
//!   source's items in order and once ([`Stats::duplicates`],
//!   [`Stats::ahead`]), and acknowledges what it put.
//! - **More than one receiver of a key** each get every item published
//!   while they are connected, in order; the sender keeps an item until
//!   one of them acknowledges it, so one that joins mid-stream starts
//!   from there and one that falls behind skips what the others
//!   acknowledged ([`Stats::skipped`]). For each item once in one place,
//!   have one receiving gateway per key.
//! - **A full receiving queue** leaves the item unacknowledged after the
//!   wait [`OnFull`] says ([`Stats::full`]): its sender sends it again.
//! - **Failures.** A link cut or a receiving gateway's restart loses
//!   nothing (a killed receiver may put again what it had not yet
//!   acknowledged); a sending gateway killed loses what it had taken and
//!   not seen acknowledged, at most its window, unless it keeps its
//!   window in a file ([`Builder::keep_windows`]): started again, it
//!   sends those again as the same source, and nothing is lost but the
//!   one item it may have been taking.
//!
//! # A manager's objects, from another host
//!
//! [`Builder::dict`], [`Builder::list`], [`Builder::value`],
//! [`Builder::queue`], [`Builder::namespace`] and [`Builder::method`] (a
//! registered type's method) serve a manager's objects on a key
//! expression (a zenoh queryable answering `<key>/<operation>`);
//! [`RemoteDict`], [`RemoteList`], [`RemoteValue`], [`RemoteQueue`],
//! [`RemoteNamespace`] and [`RemoteMethod`] call them from any host of the
//! zenoh network, one query per call, the types checked.
//!
//! # Threads
//!
//! zenoh runs threads of its own (its runtime); the inbound bridges run
//! in its callbacks. The gateway adds one thread, the pump (it publishes
//! the outbound items and the acknowledgements),
//! whatever the number of bridges. Start the gateway after every fork.

mod calls;
pub mod endpoint;
pub mod frame;
mod gateway;
mod inbound;
mod journal;
mod objects;
mod outbound;
mod remote;
mod stats;

pub use calls::{RemoteMethod, RemoteNamespace};
pub use endpoint::{Sink, Source};
pub use gateway::{Builder, Error, Gateway};
pub use inbound::OnFull;
pub use objects::{RemoteList, RemoteQueue, RemoteValue};
pub use outbound::{RESEND_AFTER, WINDOW};
pub use remote::RemoteDict;
pub use stats::{Snapshot, Stats};

/// zenoh itself, as this crate uses it (its configuration type, for
/// [`Builder::config`]).
pub use zenoh;
