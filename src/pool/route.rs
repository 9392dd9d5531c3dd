//! The task wrappers of the map family ([`Direct`] for `map`/`imap`,
//! [`Star`] for `starmap`) and [`Route`]: how a task's values travel
//! through a slot, copied by their bytes or encoded (the serde route).

use super::{Pool, TaskData};
use crate::sys::task::{self as erased, Call, TakeFn};

/// How a task's values travel through a slot, for the map family's
/// engine: copied by their bytes ([`Direct`], [`Star`], for [`TaskData`]
/// values), or encoded (`Encoded`, the `serde` feature's route). Only the
/// crate implements it; it appears in the types of [`Imap`] and
/// [`MapResult`].
pub trait Route<A, R>: sealed::RouteImpl<A, R> {}

impl<T: sealed::RouteImpl<A, R>, A, R> Route<A, R> for T {}

pub(crate) mod sealed {
    use super::{Pool, TakeFn};

    /// [`Route`](super::Route)'s workings (not nameable outside the crate).
    pub trait RouteImpl<A, R>: Copy + 'static {
        /// The most items a chunk may hold in a slot of `bytes` bytes.
        fn chunk_capacity(bytes: usize) -> usize;

        /// Submits a chunk of up to `max` items: `pending` first (an item
        /// a previous chunk had no room for), then `items`. See
        /// `Pool::submit`.
        fn submit_chunk<I: Iterator<Item = A>, const SLOTS: usize, const BYTES: usize>(
            self,
            pool: &Pool<SLOTS, BYTES>,
            op: &'static str,
            pending: &mut Option<A>,
            items: &mut I,
            max: usize,
        ) -> crate::Result<Option<(usize, usize)>>;

        /// Takes result `index` out of an ended slot's payload.
        fn take_fn() -> TakeFn<R>;
    }
}

macro_rules! fixed_route {
    ($wrapper:ident) => {
        impl<F, A: TaskData, R: TaskData> sealed::RouteImpl<A, R> for $wrapper<F>
        where
            $wrapper<F>: Call<A, R>,
        {
            fn chunk_capacity(bytes: usize) -> usize {
                erased::chunk_capacity::<A, R>(bytes)
            }

            fn submit_chunk<I: Iterator<Item = A>, const SLOTS: usize, const BYTES: usize>(
                self,
                pool: &Pool<SLOTS, BYTES>,
                op: &'static str,
                _pending: &mut Option<A>,
                items: &mut I,
                max: usize,
            ) -> crate::Result<Option<(usize, usize)>> {
                pool.submit::<Self, A, R>(op, self, items, max, true, None)
            }

            fn take_fn() -> TakeFn<R> {
                erased::take_ok::<A, R>
            }
        }
    };
}

fixed_route!(Direct);
fixed_route!(Star);

/// A task `F: Fn(A) -> R`, as `map` and `imap` call it.
#[derive(Clone, Copy, Debug)]
pub struct Direct<F>(pub(crate) F);

impl<F: Fn(A) -> R + Copy + 'static, A, R> Call<A, R> for Direct<F> {
    fn call(&self, arg: A) -> R {
        (self.0)(arg)
    }
}

/// A task `F` called with the fields of a tuple, as `starmap` calls it.
#[derive(Clone, Copy, Debug)]
pub struct Star<F>(pub(crate) F);

impl<F: StarFn<Args, R>, Args, R> Call<Args, R> for Star<F> {
    fn call(&self, args: Args) -> R {
        self.0.call_star(args)
    }
}

/// A function called with the fields of a tuple, for
/// [`Pool::starmap`]: implemented for every `Fn` of two to six arguments,
/// with `Args` the tuple of them.
pub trait StarFn<Args, R>: Copy + 'static {
    /// Calls `self` with the fields of `args`.
    fn call_star(&self, args: Args) -> R;
}

macro_rules! star_fn {
    ($(($($a:ident),+)),* $(,)?) => {
        $(
            impl<Func, $($a,)+ R> StarFn<($($a,)+), R> for Func
            where
                Func: Fn($($a),+) -> R + Copy + 'static,
            {
                #[allow(non_snake_case)]
                fn call_star(&self, ($($a,)+): ($($a,)+)) -> R {
                    self($($a),+)
                }
            }
        )*
    };
}

star_fn!(
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, G),
);
