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
//! - **Items, each once, in order per source.** An outbound bridge takes
//!   an item from its local queue only while some remote subscriber
//!   matches its key; while none does (the other gateway is down, the
//!   link is cut), the items wait in the local queue. Each item is
//!   published with a header ([`frame`]): its type's fingerprint, the
//!   bridge's random source number and a sequence number.
//! - **Checked on arrival.** An inbound bridge refuses an item whose
//!   fingerprint is not its queue's (counted in
//!   [`Stats::refused_type`]), drops one it saw already, counts the
//!   numbers it never saw ([`Stats::missed`]), and puts the rest in order.
//! - **A full receiving queue** holds zenoh's receiving path back for a
//!   while (back-pressure: the sender's publisher blocks on a full link)
//!   or drops at once, as [`OnFull`] says; a drop is counted in
//!   [`Stats::dropped_full`], never silent.
//! - **Nothing is acknowledged end to end.** zenoh's link is reliable
//!   (TCP), but an item taken from the local queue and not yet in the
//!   remote queue when a gateway dies or the link breaks is lost: at most
//!   what was in flight, counted by the receiver as missed when that
//!   source goes on.
//!
//! # Threads
//!
//! zenoh runs threads of its own (its runtime); the inbound bridges run
//! in its callbacks. The gateway adds one thread, the outbound pump,
//! whatever the number of bridges. Start the gateway after every fork.

pub mod endpoint;
pub mod frame;
mod gateway;
mod inbound;
mod stats;

pub use endpoint::{Sink, Source};
pub use gateway::{Builder, Error, Gateway};
pub use inbound::OnFull;
pub use stats::{Snapshot, Stats};

/// zenoh itself, as this crate uses it (its configuration type, for
/// [`Builder::config`]).
pub use zenoh;
