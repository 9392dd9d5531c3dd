//! A manager's dict reached from another host: the gateway next to the
//! manager answers zenoh queries on `<key>/<operation>` with a
//! [`DictProxy`]; [`RemoteDict`] asks them from anywhere on the zenoh
//! network.
//!
//! Each query's payload starts with the fingerprint of the key and value
//! types (as [`frame::serde_fingerprint`](crate::frame::serde_fingerprint)
//! of `(K, V)`), then the arguments encoded with postcard; a mismatch is
//! refused with an error reply naming both types' fingerprints.

use std::marker::PhantomData;
use std::time::Duration;

use mproc::ipc::codec;
use mproc::manager::{DictProxy, Encoding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zenoh::Wait as _;

use crate::frame::serde_fingerprint;
use crate::gateway::Error;

/// The operations a remote dict answers, as the last chunk of its key.
const DICT_OPS: [&str; 6] = ["get", "set", "pop", "contains", "len", "items"];

pub(crate) fn fingerprint<K, V>() -> u64 {
    serde_fingerprint::<(K, V)>()
}

/// Serves `key/<operation>` with `handler` (the operation, its argument
/// bytes: the reply's bytes or the error's message), checking each
/// query's type fingerprint against `fp` first. Returns the queryable,
/// which serves while it lives.
pub(crate) fn serve(
    session: &zenoh::Session,
    key: &str,
    what: &'static str,
    fp: u64,
    handler: impl Fn(&str, &[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
) -> Result<zenoh::query::Queryable<()>, Error> {
    let prefix = format!("{key}/");
    session
        .declare_queryable(format!("{key}/*"))
        .callback(move |query| {
            let op = query
                .key_expr()
                .as_str()
                .strip_prefix(&prefix)
                .unwrap_or_default()
                .to_string();
            let payload = query
                .payload()
                .map(|p| p.to_bytes().to_vec())
                .unwrap_or_default();
            let answer = match payload.split_first_chunk::<8>() {
                None => Err(format!("{op}: no type fingerprint in the query")),
                Some((theirs, _)) if u64::from_le_bytes(*theirs) != fp => Err(format!(
                    "{op}: the {what}'s types differ (asked as {:016x}, served as {fp:016x})",
                    u64::from_le_bytes(*theirs)
                )),
                Some((_, args)) => handler(&op, args),
            };
            let _ = match answer {
                Ok(bytes) => query.reply(query.key_expr().clone(), bytes).wait(),
                Err(message) => query.reply_err(message).wait(),
            };
        })
        .wait()
        .map_err(|e| Error::Zenoh {
            what: format!("queryable of the {what} on {key:?}"),
            message: e.to_string(),
        })
}

/// Serves `dict` on `key/<operation>`.
pub(crate) fn serve_dict<K, V, E>(
    session: &zenoh::Session,
    key: &str,
    dict: DictProxy<K, V, E>,
) -> Result<zenoh::query::Queryable<()>, Error>
where
    K: Serialize + DeserializeOwned + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
    E: Encoding<K> + Encoding<V> + Send + Sync,
    DictProxy<K, V, E>: Send + Sync,
{
    serve(
        session,
        key,
        "dict",
        fingerprint::<K, V>(),
        move |op, args| {
            let e = |e: mproc::Error| e.to_string();
            match op {
                "get" => encode(&dict.get(&codec::decode::<K>(args).map_err(e)?).map_err(e)?),
                "set" => {
                    let (k, v) = codec::decode::<(K, V)>(args).map_err(e)?;
                    encode(&dict.set(&k, &v).map_err(e)?)
                }
                "pop" => encode(&dict.pop(&codec::decode::<K>(args).map_err(e)?).map_err(e)?),
                "contains" => encode(
                    &dict
                        .contains(&codec::decode::<K>(args).map_err(e)?)
                        .map_err(e)?,
                ),
                "len" => encode(&(dict.len().map_err(e)? as u64)),
                "items" => encode(&dict.items().map_err(e)?),
                other => Err(format!("no operation {other:?} (there are {DICT_OPS:?})")),
            }
        },
    )
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; codec::encoded_size(value).map_err(|e| e.to_string())?];
    codec::encode(value, &mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// The far side of a served object: one zenoh query per call.
pub(crate) struct Caller {
    session: zenoh::Session,
    key: String,
    timeout: Duration,
    fp: u64,
}

impl Caller {
    pub(crate) fn new(session: &zenoh::Session, key: &str, timeout: Duration, fp: u64) -> Caller {
        Caller {
            session: session.clone(),
            key: key.to_string(),
            timeout,
            fp,
        }
    }

    /// `op` with `args`: the answer, decoded.
    pub(crate) fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        op: &str,
        args: &A,
    ) -> Result<R, Error> {
        let remote = |message: String| Error::Remote {
            what: format!("{}/{op}", self.key),
            message,
        };
        let mut payload = self.fp.to_le_bytes().to_vec();
        payload.extend(encode(args).map_err(remote)?);
        let replies = self
            .session
            .get(format!("{}/{op}", self.key))
            .payload(payload)
            .timeout(self.timeout)
            .wait()
            .map_err(|e| remote(e.to_string()))?;
        let reply = replies.recv().map_err(|_| {
            remote(format!(
                "no answer within {:?} (is it served?)",
                self.timeout
            ))
        })?;
        match reply.into_result() {
            Ok(sample) => {
                codec::decode::<R>(&sample.payload().to_bytes()).map_err(|e| remote(e.to_string()))
            }
            Err(e) => Err(remote(
                String::from_utf8_lossy(&e.payload().to_bytes()).into_owned(),
            )),
        }
    }
}

/// A dict of a manager on another host, served there by a gateway's
/// [`Builder::dict`](crate::Builder::dict): Python's remote
/// `BaseManager` dict proxy, over zenoh. Each call is one zenoh query.
pub struct RemoteDict<K, V> {
    caller: Caller,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> RemoteDict<K, V> {
    /// The dict served on `key` (what the serving gateway was given),
    /// asked through `session` (a gateway's: [`Gateway::session`](crate::Gateway::session)),
    /// each call waiting at most `timeout` for its answer.
    pub fn new(session: &zenoh::Session, key: &str, timeout: Duration) -> RemoteDict<K, V> {
        RemoteDict {
            caller: Caller::new(session, key, timeout, fingerprint::<K, V>()),
            _types: PhantomData,
        }
    }

    fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        op: &str,
        args: &A,
    ) -> Result<R, Error> {
        self.caller.call(op, args)
    }

    /// `d.get(key)`.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`]: no answer in time, the types differ, the
    /// manager's error.
    pub fn get(&self, key: &K) -> Result<Option<V>, Error> {
        self.call("get", key)
    }

    /// `d[key] = value`.
    ///
    /// # Errors
    ///
    /// As [`RemoteDict::get`] (a full dict: the manager's
    /// `CapacityExceeded`).
    pub fn set(&self, key: &K, value: &V) -> Result<(), Error> {
        self.call("set", &(key, value))
    }

    /// `d.pop(key, None)`.
    ///
    /// # Errors
    ///
    /// As [`RemoteDict::get`].
    pub fn pop(&self, key: &K) -> Result<Option<V>, Error> {
        self.call("pop", key)
    }

    /// `key in d`.
    ///
    /// # Errors
    ///
    /// As [`RemoteDict::get`].
    pub fn contains(&self, key: &K) -> Result<bool, Error> {
        self.call("contains", key)
    }

    /// `len(d)`.
    ///
    /// # Errors
    ///
    /// As [`RemoteDict::get`].
    pub fn len(&self) -> Result<usize, Error> {
        self.call::<_, u64>("len", &()).map(|n| n as usize)
    }

    /// Whether `len(d) == 0`.
    ///
    /// # Errors
    ///
    /// As [`RemoteDict::get`].
    pub fn is_empty(&self) -> Result<bool, Error> {
        self.len().map(|n| n == 0)
    }

    /// `list(d.items())`, one snapshot.
    ///
    /// # Errors
    ///
    /// As [`RemoteDict::get`].
    pub fn items(&self) -> Result<Vec<(K, V)>, Error> {
        self.call("items", &())
    }
}
