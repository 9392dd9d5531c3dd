//! Making objects of serde values (feature `serde`): the [`Client`]
//! methods `dict_serde`, `list_serde`, `value_serde` and `queue_serde`.
//! Each object holds at most a number of entries and of bytes, both
//! chosen here and allocated once on the server.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{DictProxy, ListProxy, Proxied, QueueProxy, ValueProxy};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::manager::Client;
use crate::manager::encoding::{Encoding, Serde, enc};
use crate::manager::protocol::{AREA, REPLY_HEADER, create, kind};

/// The knob that bounds an object's entries and bytes: one message.
const ROOM_KNOB: &str = "4 × entries + bytes ≤ Builder::message_bytes − 88 \
     (MPROC_MANAGER_MESSAGE_BYTES): an object's snapshot is one reply";

impl Client {
    /// The room for an object's records: what one reply holds.
    fn record_room(&self) -> usize {
        self.link.message_bytes() - REPLY_HEADER - AREA
    }

    /// Checks `entries` and `bytes` for an object of records, then makes
    /// it.
    fn make_records<P: Proxied>(
        &self,
        op_name: &'static str,
        entries: usize,
        bytes: usize,
        fp_b: u64,
        rest: impl FnOnce(&mut [u8]) -> Result<usize>,
    ) -> Result<P> {
        let what = kind::name(P::KIND);
        if entries == 0 {
            return Err(Error::new(
                op_name,
                Resource::Container {
                    what,
                    capacity: entries,
                },
                ErrorKind::InvalidArgument(
                    "an object's capacity must be at least 1 entry (one of 0 could never hold one)",
                ),
            ));
        }
        let room = self.record_room();
        if entries.saturating_mul(4).saturating_add(bytes) > room {
            return Err(Error::new(
                op_name,
                Resource::Capacity(ROOM_KNOB),
                ErrorKind::CapacityExceeded { limit: room },
            ));
        }
        self.make_as(
            op_name,
            (P::KIND, create::VARIABLE),
            entries,
            (bytes, 0),
            fp_b,
            rest,
        )
    }

    /// A new dict of serde keys and values (Python's `manager.dict()`):
    /// at most `entries` entries, whose keys and values take at most
    /// `bytes` bytes in all (postcard-encoded, plus 4 bytes per entry);
    /// released when the returned proxy is dropped in this process.
    ///
    /// ```no_run
    /// use mproc::manager::Manager;
    ///
    /// let m = Manager::start()?;
    /// let d = m.dict_serde::<String, Vec<String>>(64, 16 * 1024)?;
    /// d.set(&"fruit".to_string(), &vec!["apple".into(), "fig".into()])?;
    /// assert_eq!(d.get(&"fruit".to_string())?.unwrap().len(), 2);
    /// # Ok::<(), mproc::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for 0 entries;
    /// [`ErrorKind::CapacityExceeded`] when 4 × `entries` + `bytes` do not
    /// fit in one reply (the knob: [`Builder::message_bytes`](crate::manager::Builder::message_bytes));
    /// as [`Client::dict`].
    pub fn dict_serde<K, V>(&self, entries: usize, bytes: usize) -> Result<DictProxy<K, V, Serde>>
    where
        K: Serialize + DeserializeOwned + 'static,
        V: Serialize + DeserializeOwned + 'static,
    {
        let fp_b = <Serde as Encoding<V>>::fingerprint();
        self.make_records("Client::dict_serde", entries, bytes, fp_b, |_| Ok(0))
    }

    /// A new list of serde items (Python's `manager.list()`): at most
    /// `entries` items of at most `bytes` bytes in all (postcard-encoded).
    ///
    /// # Errors
    ///
    /// As [`Client::dict_serde`].
    pub fn list_serde<T>(&self, entries: usize, bytes: usize) -> Result<ListProxy<T, Serde>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        self.make_records("Client::list_serde", entries, bytes, 0, |_| Ok(0))
    }

    /// A new value holding `initial` (Python's `manager.Value(typecode,
    /// value)`), of any serde type: later values encode to at most `bytes`
    /// bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EncodedSize`] when `initial` does not fit in `bytes`;
    /// as [`Client::dict_serde`].
    pub fn value_serde<T>(&self, initial: &T, bytes: usize) -> Result<ValueProxy<T, Serde>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        const OP: &str = "Client::value_serde";
        let resource = Resource::Container {
            what: "value",
            capacity: bytes,
        };
        self.make_records(OP, 1, bytes, 0, |out| {
            let room = out.len().min(bytes);
            enc::<Serde, T>(OP, resource, initial, &mut out[..room]).map_err(|e| {
                match e.kind() {
                    // The room that counts is the value's.
                    ErrorKind::EncodedSize { size, .. } if room == bytes => Error::new(
                        OP,
                        resource,
                        ErrorKind::EncodedSize {
                            size,
                            capacity: bytes,
                            knob: crate::manager::OBJECT_BYTES_KNOB,
                        },
                    ),
                    _ => e,
                }
            })
        })
    }

    /// A new queue of serde items (Python's `manager.Queue(maxsize)`): at
    /// most `maxsize` items of at most `bytes` bytes in all
    /// (postcard-encoded); a put waits for room in both. Python's
    /// `maxsize` 0 ("unbounded") makes as many items as one message allows
    /// beside `bytes` ((`MPROC_MANAGER_MESSAGE_BYTES` − 88 − `bytes`) / 4).
    ///
    /// # Errors
    ///
    /// As [`Client::dict_serde`].
    pub fn queue_serde<T>(&self, maxsize: usize, bytes: usize) -> Result<QueueProxy<T, Serde>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let entries = match maxsize {
            0 => (self.record_room().saturating_sub(bytes) / 4).max(1),
            n => n,
        };
        self.make_records("Client::queue_serde", entries, bytes, 0, |_| Ok(0))
    }
}
