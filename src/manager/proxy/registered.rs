//! [`Proxy`]: the proxy of a registered [`Served`] type (Python's
//! `BaseManager.register`).

use std::marker::PhantomData;

use super::{Handle, Proxied, Token, encode};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::manager::link::undecodable;
use crate::manager::protocol::kind;
use crate::manager::served::{Method, Served};
use crate::manager::wire::{Wire, fingerprint};

/// The type check an object of `T` carries: its type name.
pub(crate) fn typeid_fingerprint<T: Served>() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in T::TYPEID.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

proxied!(
    /// A proxy for a registered [`Served`] type (what Python's
    /// `BaseManager.register` makes): [`Proxy::call`] sends one method call.
    Proxy [T: Served] [T] (fn() -> T), kind::CUSTOM, typeid_fingerprint::<T>(), fingerprint::<T::Init>()
);

impl<T: Served> Proxy<T> {
    /// Calls `method` with `arg` on the server and returns its result.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownMethod`] when the type does not answer the
    /// method's number; [`ErrorKind::LayoutMismatch`] when it declares the
    /// method with other argument or result types; [`ErrorKind::Panicked`]
    /// when its handler panicked; [`ErrorKind::ManagerGone`].
    pub fn call<A: Wire, R: Wire>(&self, method: Method<A, R>, arg: &A) -> Result<R> {
        let mut request = self.handle.request(method.id(), 0);
        request.fp_a = fingerprint::<A>();
        request.fp_b = fingerprint::<R>();
        let resource = self.handle.resource();
        self.handle.link.call(
            "Proxy::call",
            resource,
            request,
            |out| encode(arg, out),
            |_, p| R::decode(p).ok_or_else(|| undecodable("Proxy::call", resource)),
        )
    }
}
