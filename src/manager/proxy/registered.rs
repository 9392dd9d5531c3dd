//! [`Proxy`]: the proxy of a registered [`Served`] type (Python's
//! `BaseManager.register`).

use std::marker::PhantomData;

use super::{Handle, Proxied, Token};
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::manager::encoding::{Encoding, Fixed, dec, enc};
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
        self.call_as::<A, R, Fixed>("Proxy::call", method, arg)
    }

    /// [`Proxy::call`] for a method whose argument and result are serde
    /// values (feature `serde`), answered by
    /// `Call::on_serde`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EncodedSize`] for an argument or result larger than a
    /// message; [`ErrorKind::InvalidData`] for one that does not decode
    /// (on either side); as [`Proxy::call`].
    #[cfg(feature = "serde")]
    pub fn call_serde<A, R>(&self, method: Method<A, R>, arg: &A) -> Result<R>
    where
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        self.call_as::<A, R, crate::manager::Serde>("Proxy::call_serde", method, arg)
    }

    fn call_as<A, R, E: Encoding<A> + Encoding<R>>(
        &self,
        op_name: &'static str,
        method: Method<A, R>,
        arg: &A,
    ) -> Result<R> {
        let mut request = self.handle.request(method.id(), 0);
        request.fp_a = <E as Encoding<A>>::fingerprint();
        request.fp_b = <E as Encoding<R>>::fingerprint();
        let resource = self.handle.resource();
        self.handle.link.try_call(
            op_name,
            resource,
            request,
            |out| enc::<E, A>(op_name, resource, arg, out),
            |_, p| dec::<E, R>(op_name, resource, p),
        )
    }
}
