//! A manager's namespace and its registered types' methods reached from
//! another host, as its dict, list, value and queue are: the gateway next
//! to the manager answers `<key>/<operation>` queries with the proxy; the
//! far side asks with [`RemoteNamespace`] or [`RemoteMethod`]. The types'
//! fingerprint travels with each query; other types are refused with an
//! error naming both.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use mproc::ipc::codec;
use mproc::manager::{Method, NamespaceProxy, Proxy, Served};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::frame::serde_fingerprint;
use crate::gateway::Error;
use crate::remote::{Caller, encode, serve};

const NAMESPACE: u64 = 4;
const METHOD: u64 = 5;

/// The check of a `kind` of object holding `T`s.
fn fingerprint<T>(kind: u64) -> u64 {
    serde_fingerprint::<T>() ^ kind.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

type Answer = Result<zenoh::query::Queryable<()>, Error>;

fn e(e: mproc::Error) -> String {
    e.to_string()
}

/// Serves `ns`'s fields holding `T`s on `key/<operation>`: `get`, `set`,
/// `remove`, `fields`.
pub(crate) fn serve_namespace<T>(session: &zenoh::Session, key: &str, ns: NamespaceProxy) -> Answer
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    NamespaceProxy: Send + Sync,
{
    serve(
        session,
        key,
        "namespace",
        fingerprint::<T>(NAMESPACE),
        move |op, args| match op {
            "get" => {
                let field = codec::decode::<String>(args).map_err(e)?;
                encode(&ns.get_serde::<T>(&field).map_err(e)?)
            }
            "set" => {
                let (field, x) = codec::decode::<(String, T)>(args).map_err(e)?;
                encode(&ns.set_serde(&field, &x).map_err(e)?)
            }
            "remove" => {
                let field = codec::decode::<String>(args).map_err(e)?;
                encode(&ns.remove(&field).map_err(e)?)
            }
            "fields" => {
                let mut names = Vec::new();
                ns.fields_into(&mut names).map_err(e)?;
                let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
                encode(&names)
            }
            other => Err(format!(
                "no operation {other:?} (there are get, set, remove, fields)"
            )),
        },
    )
}

/// Serves one `method` of a registered type's object on `key/call`.
pub(crate) fn serve_method<T, A, R>(
    session: &zenoh::Session,
    key: &str,
    proxy: Arc<Proxy<T>>,
    method: Method<A, R>,
) -> Answer
where
    T: Served,
    Proxy<T>: Send + Sync,
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let id = method.id();
    serve(
        session,
        key,
        "method",
        fingerprint::<(A, R)>(METHOD),
        move |op, args| match op {
            "call" => {
                let arg = codec::decode::<A>(args).map_err(e)?;
                encode(&proxy.call_serde(Method::<A, R>::new(id), &arg).map_err(e)?)
            }
            other => Err(format!("no operation {other:?} (there is call)")),
        },
    )
}

/// A namespace of a manager on another host, served there by
/// [`Builder::namespace`](crate::Builder::namespace): its fields that hold
/// `T`s. Each call is one zenoh query.
pub struct RemoteNamespace<T> {
    caller: Caller,
    _types: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> RemoteNamespace<T> {
    /// The namespace served on `key`, asked through `session`, each call
    /// waiting at most `timeout` for its answer.
    pub fn new(session: &zenoh::Session, key: &str, timeout: Duration) -> RemoteNamespace<T> {
        RemoteNamespace {
            caller: Caller::new(session, key, timeout, fingerprint::<T>(NAMESPACE)),
            _types: PhantomData,
        }
    }

    /// `ns.field`, `None` when it is not set.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`]: no answer in time, the types differ, the
    /// manager's error (a field set with another type).
    pub fn get(&self, field: &str) -> Result<Option<T>, Error> {
        self.caller.call("get", field)
    }

    /// `ns.field = x`.
    ///
    /// # Errors
    ///
    /// As [`RemoteNamespace::get`] (a name over 32 bytes, a value over
    /// the field size, no field left: the manager's errors).
    pub fn set(&self, field: &str, x: &T) -> Result<(), Error> {
        self.caller.call("set", &(field, x))
    }

    /// `del ns.field`: whether it was set.
    ///
    /// # Errors
    ///
    /// As [`RemoteNamespace::get`].
    pub fn remove(&self, field: &str) -> Result<bool, Error> {
        self.caller.call("remove", field)
    }

    /// The names of the fields set (of any type), in the order they were
    /// first set.
    ///
    /// # Errors
    ///
    /// As [`RemoteNamespace::get`].
    pub fn fields(&self) -> Result<Vec<String>, Error> {
        self.caller.call("fields", &())
    }
}

/// One method of a registered type's object on another host, served
/// there by [`Builder::method`](crate::Builder::method) (Python's
/// `BaseManager.register`ed type, called remotely).
pub struct RemoteMethod<A, R> {
    caller: Caller,
    _types: PhantomData<fn(A) -> R>,
}

impl<A: Serialize + DeserializeOwned, R: Serialize + DeserializeOwned> RemoteMethod<A, R> {
    /// The method served on `key`, as [`RemoteNamespace::new`].
    pub fn new(session: &zenoh::Session, key: &str, timeout: Duration) -> RemoteMethod<A, R> {
        RemoteMethod {
            caller: Caller::new(session, key, timeout, fingerprint::<(A, R)>(METHOD)),
            _types: PhantomData,
        }
    }

    /// Calls it with `arg`: its result.
    ///
    /// # Errors
    ///
    /// [`Error::Remote`]: no answer in time, the argument or result types
    /// differ (here, or from the method's declaration on the manager),
    /// the manager's error (the handler panicked, a value over a message).
    pub fn call(&self, arg: &A) -> Result<R, Error> {
        self.caller.call("call", arg)
    }
}
