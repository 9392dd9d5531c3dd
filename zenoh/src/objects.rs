//! A manager's list, value and queue reached from another host, as its
//! dict is ([`RemoteDict`](crate::RemoteDict)): the gateway next to the
//! manager answers `<key>/<operation>` queries with the proxy, the far
//! side asks with [`RemoteList`], [`RemoteValue`] or [`RemoteQueue`].
//! The item type's fingerprint (and the object's kind) travel with each
//! query; other types are refused with an error naming both.

use std::marker::PhantomData;
use std::time::Duration;

use mproc::ipc::codec;
use mproc::manager::{Encoding, ListProxy, QueueProxy, ValueProxy};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::frame::serde_fingerprint;
use crate::gateway::Error;
use crate::remote::{Caller, encode, serve};

/// The check of a `kind` of object holding `T`s.
fn fingerprint<T>(kind: u64) -> u64 {
    serde_fingerprint::<T>() ^ kind.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

const LIST: u64 = 1;
const VALUE: u64 = 2;
const QUEUE: u64 = 3;

type Served = Result<zenoh::query::Queryable<()>, Error>;

fn e(e: mproc::Error) -> String {
    e.to_string()
}

/// Serves `list` on `key/<operation>`: `get`, `set`, `append`, `pop`,
/// `len`, `snapshot`.
pub(crate) fn serve_list<T, E>(session: &zenoh::Session, key: &str, list: ListProxy<T, E>) -> Served
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Encoding<T> + Send + Sync,
    ListProxy<T, E>: Send + Sync,
{
    serve(
        session,
        key,
        "list",
        fingerprint::<T>(LIST),
        move |op, args| match op {
            "get" => encode(
                &list
                    .get(codec::decode::<i64>(args).map_err(e)?)
                    .map_err(e)?,
            ),
            "set" => {
                let (i, x) = codec::decode::<(i64, T)>(args).map_err(e)?;
                encode(&list.set(i, &x).map_err(e)?)
            }
            "append" => encode(
                &(list
                    .append(&codec::decode::<T>(args).map_err(e)?)
                    .map_err(e)? as u64),
            ),
            "pop" => encode(
                &list
                    .pop(codec::decode::<i64>(args).map_err(e)?)
                    .map_err(e)?,
            ),
            "len" => encode(&(list.len().map_err(e)? as u64)),
            "snapshot" => encode(&list.snapshot().map_err(e)?),
            other => Err(format!(
                "no operation {other:?} (there are get, set, append, pop, len, snapshot)"
            )),
        },
    )
}

/// Serves `value` on `key/get` and `key/set`.
pub(crate) fn serve_value<T, E>(
    session: &zenoh::Session,
    key: &str,
    value: ValueProxy<T, E>,
) -> Served
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Encoding<T> + Send + Sync,
    ValueProxy<T, E>: Send + Sync,
{
    serve(
        session,
        key,
        "value",
        fingerprint::<T>(VALUE),
        move |op, args| match op {
            "get" => encode(&value.get().map_err(e)?),
            "set" => encode(
                &value
                    .set(&codec::decode::<T>(args).map_err(e)?)
                    .map_err(e)?,
            ),
            other => Err(format!("no operation {other:?} (there are get, set)")),
        },
    )
}

/// Serves `queue` on `key/put`, `key/get` (neither waits: a full or
/// empty queue is an error the far side gets at once) and `key/qsize`.
pub(crate) fn serve_queue<T, E>(
    session: &zenoh::Session,
    key: &str,
    queue: QueueProxy<T, E>,
) -> Served
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Encoding<T> + Send + Sync,
    QueueProxy<T, E>: Send + Sync,
{
    serve(
        session,
        key,
        "queue",
        fingerprint::<T>(QUEUE),
        move |op, args| match op {
            "put" => encode(
                &queue
                    .put_nowait(&codec::decode::<T>(args).map_err(e)?)
                    .map_err(e)?,
            ),
            "get" => encode(&queue.get_nowait().map_err(e)?),
            "qsize" => encode(&(queue.qsize().map_err(e)? as u64)),
            other => Err(format!(
                "no operation {other:?} (there are put, get, qsize)"
            )),
        },
    )
}

/// A list of a manager on another host, served there by
/// [`Builder::list`](crate::Builder::list). Each call is one zenoh query.
pub struct RemoteList<T> {
    caller: Caller,
    _types: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> RemoteList<T> {
    /// The list served on `key`, asked through `session`, each call
    /// waiting at most `timeout` for its answer.
    pub fn new(session: &zenoh::Session, key: &str, timeout: Duration) -> RemoteList<T> {
        RemoteList {
            caller: Caller::new(session, key, timeout, fingerprint::<T>(LIST)),
            _types: PhantomData,
        }
    }

    /// `l[i]` (negative from the end).
    ///
    /// # Errors
    ///
    /// [`Error::Remote`]: no answer in time, the types differ, the
    /// manager's error (an index out of range).
    pub fn get(&self, i: i64) -> Result<T, Error> {
        self.caller.call("get", &i)
    }

    /// `l[i] = x`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`].
    pub fn set(&self, i: i64, x: &T) -> Result<(), Error> {
        self.caller.call("set", &(i, x))
    }

    /// `l.append(x)`: the new length.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`] (a full list: the manager's
    /// `CapacityExceeded`).
    pub fn append(&self, x: &T) -> Result<usize, Error> {
        self.caller.call::<_, u64>("append", x).map(|n| n as usize)
    }

    /// `l.pop(i)`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`].
    pub fn pop(&self, i: i64) -> Result<T, Error> {
        self.caller.call("pop", &i)
    }

    /// `len(l)`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`].
    pub fn len(&self) -> Result<usize, Error> {
        self.caller.call::<_, u64>("len", &()).map(|n| n as usize)
    }

    /// Whether `len(l) == 0`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`].
    pub fn is_empty(&self) -> Result<bool, Error> {
        self.len().map(|n| n == 0)
    }

    /// `list(l)`, one snapshot.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`].
    pub fn snapshot(&self) -> Result<Vec<T>, Error> {
        self.caller.call("snapshot", &())
    }
}

/// A value of a manager on another host, served there by
/// [`Builder::value`](crate::Builder::value).
pub struct RemoteValue<T> {
    caller: Caller,
    _types: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> RemoteValue<T> {
    /// The value served on `key`, as [`RemoteList::new`].
    pub fn new(session: &zenoh::Session, key: &str, timeout: Duration) -> RemoteValue<T> {
        RemoteValue {
            caller: Caller::new(session, key, timeout, fingerprint::<T>(VALUE)),
            _types: PhantomData,
        }
    }

    /// `v.value`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`].
    pub fn get(&self) -> Result<T, Error> {
        self.caller.call("get", &())
    }

    /// `v.value = x`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`].
    pub fn set(&self, x: &T) -> Result<(), Error> {
        self.caller.call("set", x)
    }
}

/// A queue of a manager on another host, served there by
/// [`Builder::queue`](crate::Builder::queue). Neither `put` nor `get`
/// waits (a full or empty queue is an error at once): to carry a stream
/// of items between hosts, bridge local queues instead
/// ([`Builder::outbound`](crate::Builder::outbound)).
pub struct RemoteQueue<T> {
    caller: Caller,
    _types: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> RemoteQueue<T> {
    /// The queue served on `key`, as [`RemoteList::new`].
    pub fn new(session: &zenoh::Session, key: &str, timeout: Duration) -> RemoteQueue<T> {
        RemoteQueue {
            caller: Caller::new(session, key, timeout, fingerprint::<T>(QUEUE)),
            _types: PhantomData,
        }
    }

    /// `q.put_nowait(x)`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`] (a full queue: the manager's `Full`).
    pub fn put_nowait(&self, x: &T) -> Result<(), Error> {
        self.caller.call("put", x)
    }

    /// `q.get_nowait()`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`] (an empty queue: the manager's `Empty`).
    pub fn get_nowait(&self) -> Result<T, Error> {
        self.caller.call("get", &())
    }

    /// `q.qsize()`.
    ///
    /// # Errors
    ///
    /// As [`RemoteList::get`].
    pub fn qsize(&self) -> Result<usize, Error> {
        self.caller.call::<_, u64>("qsize", &()).map(|n| n as usize)
    }
}
