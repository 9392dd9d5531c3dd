//! Registered types (Python's `BaseManager.register`): [`Served`],
//! [`Method`] and the server's side of a call, [`Call`].

use std::marker::PhantomData;

use super::encoding::{Encoding, Fixed, dec, enc};
use super::protocol::{field, status};
use super::wire::{Wire, fingerprint};
use crate::error::ErrorKind;

/// A method of a [`Served`] type: its number, the argument type `A` and
/// the result type `R`. Declare each as a constant shared by the type and
/// its callers; the server checks both types on every call.
///
/// ```
/// use mproc::manager::Method;
/// const INCREMENT: Method<u64, ()> = Method::new(0);
/// const VALUE: Method<(), u64> = Method::new(1);
/// # assert_eq!(VALUE.id(), 1);
/// ```
pub struct Method<A, R> {
    id: u16,
    _types: PhantomData<fn(A) -> R>,
}

impl<A, R> Method<A, R> {
    /// The method numbered `id`.
    pub const fn new(id: u16) -> Method<A, R> {
        Method {
            id,
            _types: PhantomData,
        }
    }

    /// Its number.
    pub const fn id(&self) -> u16 {
        self.id
    }
}

impl<A, R> Clone for Method<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for Method<A, R> {}

impl<A, R> core::fmt::Debug for Method<A, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Method({})", self.id)
    }
}

/// A type the [`Manager`](super::Manager) server can hold and serve
/// (Python's `BaseManager.register(typeid, callable)`): registered with
/// [`Builder::register`](super::Builder::register) before the server
/// starts, made with [`Client::create`](super::Client::create), and called
/// through its [`Proxy`](super::Proxy).
///
/// Python's proxies call any public method by name with pickled
/// arguments; here each method is a [`Method`] constant with a number and
/// fixed-size [`Wire`] argument and result, answered in [`Served::serve`]:
///
/// ```
/// use mproc::manager::{Call, Method, Served};
///
/// // Python: class Counter: def increment(self): ...; def value(self): ...
/// struct Counter { count: u64 }
///
/// const INCREMENT: Method<(), ()> = Method::new(0);
/// const VALUE: Method<(), u64> = Method::new(1);
///
/// impl Served for Counter {
///     const TYPEID: &'static str = "Counter";
///     type Init = u64;
///     fn new(start: u64) -> Counter { Counter { count: start } }
///     fn serve(&mut self, call: &mut Call<'_>) {
///         call.on(INCREMENT, |()| self.count += 1);
///         call.on(VALUE, |()| self.count);
///     }
/// }
/// ```
///
/// A call whose number no [`Call::on`] took fails with
/// [`ErrorKind::UnknownMethod`](crate::ErrorKind::UnknownMethod); a
/// handler that panics fails its call with
/// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) and the server
/// goes on (the object keeps whatever state the handler left).
pub trait Served: 'static {
    /// The name it is registered under (Python's `typeid`): what an
    /// unrelated program names to make one. At most 32 bytes.
    const TYPEID: &'static str;
    /// What [`Client::create`](super::Client::create) passes to
    /// [`Served::new`]: a fixed-size [`Wire`] value. To start an object
    /// from a value of any serde type (feature `serde`), take `()` here and
    /// pass that value to a method of its own through
    /// `Proxy::call_serde` right after
    /// `create`.
    type Init: Wire;
    /// Makes one on the server.
    fn new(init: Self::Init) -> Self;
    /// Answers one call: each [`Call::on`] runs its handler if the call is
    /// for that method.
    fn serve(&mut self, call: &mut Call<'_>);
}

/// One call to a [`Served`] object, as the server sees it.
pub struct Call<'a> {
    method: u16,
    args: &'a [u8],
    arg_type: u64,
    result_type: u64,
    out: &'a mut [u8],
    /// `None` until a handler took the call; then its status and length.
    outcome: Option<(u16, u64, u64, usize)>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        method: u16,
        args: &'a [u8],
        arg_type: u64,
        result_type: u64,
        out: &'a mut [u8],
    ) -> Call<'a> {
        Call {
            method,
            args,
            arg_type,
            result_type,
            out,
            outcome: None,
        }
    }

    /// The method number called.
    pub fn method(&self) -> u16 {
        self.method
    }

    /// If this call is for `method`, decodes its argument, runs `handler`
    /// and encodes the result as the reply. The types are checked first:
    /// a caller that declared the method with other types gets
    /// [`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch), and
    /// `handler` does not run.
    pub fn on<A: Wire, R: Wire>(&mut self, method: Method<A, R>, handler: impl FnOnce(A) -> R) {
        self.on_as::<A, R, Fixed>(method, handler);
    }

    /// [`Call::on`] for a method whose argument and result are serde
    /// values (feature `serde`), called with
    /// `Proxy::call_serde`. An argument that
    /// does not decode as `A` fails the call with
    /// [`ErrorKind::InvalidData`](crate::ErrorKind::InvalidData) and
    /// `handler` does not run; a result larger than a message fails it
    /// with [`ErrorKind::EncodedSize`](crate::ErrorKind::EncodedSize).
    #[cfg(feature = "serde")]
    pub fn on_serde<A, R>(&mut self, method: Method<A, R>, handler: impl FnOnce(A) -> R)
    where
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        self.on_as::<A, R, super::Serde>(method, handler);
    }

    fn on_as<A, R, E: Encoding<A> + Encoding<R>>(
        &mut self,
        method: Method<A, R>,
        handler: impl FnOnce(A) -> R,
    ) {
        if self.outcome.is_some() || method.id != self.method {
            return;
        }
        let (want_a, want_r) = (
            <E as Encoding<A>>::fingerprint(),
            <E as Encoding<R>>::fingerprint(),
        );
        if want_a != self.arg_type {
            self.outcome = Some((mismatch(field::ARGUMENT), want_a, self.arg_type, 0));
            return;
        }
        if want_r != self.result_type {
            self.outcome = Some((mismatch(field::RESULT), want_r, self.result_type, 0));
            return;
        }
        let size = <E as Encoding<A>>::fixed_size();
        if !<E as Encoding<A>>::VARIABLE && self.args.len() != size {
            self.outcome = Some((status::BAD_REQUEST, size as u64, self.args.len() as u64, 0));
            return;
        }
        const OP: &str = "Call::on";
        let resource = crate::error::Resource::CurrentProcess;
        let Ok(arg) = dec::<E, A>(OP, resource, self.args) else {
            self.outcome = Some((status::BAD_VALUE, 0, 0, 0));
            return;
        };
        let result = handler(arg);
        self.outcome = Some(match enc::<E, R>(OP, resource, &result, self.out) {
            Ok(n) => (status::OK, 0, 0, n),
            Err(e) => match e.kind() {
                ErrorKind::EncodedSize { size, capacity, .. } => {
                    (status::RESULT_TOO_BIG, size as u64, capacity as u64, 0)
                }
                ErrorKind::MessageSize { size, capacity } => {
                    (status::TOO_BIG, size as u64, capacity as u64, 0)
                }
                _ => (status::BAD_VALUE, 0, 0, 0),
            },
        });
    }

    /// What the server replies: status, details, result length.
    pub(crate) fn outcome(&self) -> (u16, u64, u64, usize) {
        self.outcome
            .unwrap_or((status::UNKNOWN_METHOD, u64::from(self.method), 0, 0))
    }
}

/// A `TYPE_MISMATCH` status with its field folded in (see
/// [`split_mismatch`]).
fn mismatch(field: u16) -> u16 {
    status::TYPE_MISMATCH | (field << 8)
}

/// The status and field of a status word made by [`mismatch`].
pub(crate) fn split_mismatch(word: u16) -> (u16, u16) {
    (word & 0xFF, word >> 8)
}

impl core::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("args", &self.args.len())
            .finish_non_exhaustive()
    }
}

/// A registered object on the server, its type erased.
pub(crate) trait Dispatch {
    fn dispatch(&mut self, call: &mut Call<'_>);
}

impl<T: Served> Dispatch for T {
    fn dispatch(&mut self, call: &mut Call<'_>) {
        self.serve(call);
    }
}

/// How the server makes one registered type: its name, its `Init` type
/// check and size, and its constructor.
#[derive(Clone, Copy)]
pub(crate) struct Registration {
    pub(crate) typeid: &'static str,
    pub(crate) init_type: u64,
    pub(crate) init_size: usize,
    pub(crate) make: fn(&[u8]) -> Option<Box<dyn Dispatch>>,
}

impl Registration {
    pub(crate) fn of<T: Served>() -> Registration {
        Registration {
            typeid: T::TYPEID,
            init_type: fingerprint::<T::Init>(),
            init_size: T::Init::SIZE,
            make: |bytes| {
                let init = T::Init::decode(bytes)?;
                Some(Box::new(T::new(init)))
            },
        }
    }
}

impl core::fmt::Debug for Registration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registration")
            .field("typeid", &self.typeid)
            .finish_non_exhaustive()
    }
}
