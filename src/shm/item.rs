//! [`Item`]: values copied into a queue slot or a pipe message and out
//! again, checked on the way out; [`Packed`], the padding-free stored form
//! of tuples and `Option`s.

use super::Shareable;
use crate::sys::mem::zeroed;

/// A value that travels by copy through a [`Queue`], [`SimpleQueue`],
/// [`JoinableQueue`] or a [`Connection`] ([`send`]/[`recv`]): it is turned
/// into its stored form ([`Item::Repr`], a [`Shareable`] type) on the way
/// in and checked on the way out, so bytes that are no value (written by
/// another program into a named segment, or sent as raw bytes) are an
/// [`ErrorKind::InvalidData`] error for the reader, never a wrong value
/// and never undefined behaviour.
///
/// Python's queues and pipes pickle any object; an `Item` is the
/// fixed-size, allocation-free subset:
///
/// | type | stored as | checked on the way out |
/// |---|---|---|
/// | every [`Shareable`]` + Copy` type (integers, floats, [`FixedStr`], arrays of them, your `#[derive(Shareable)]` structs) | itself | nothing to check: every bit pattern is a value |
/// | `bool` | `u8` | 0 or 1 |
/// | `char` | `u32` | [`char::from_u32`] |
/// | `usize`, `isize` | `u64`, `i64` (the same on 32- and 64-bit targets) | within the target's range |
/// | [`Pid`](crate::process::Pid) | `i32` | positive |
/// | [`Duration`](std::time::Duration) | `Packed<u64, u32>`: seconds, nanoseconds | nanoseconds below 10⁹ |
/// | `()` | `u8`, 0 (one byte: a message is never empty) | 0 |
/// | `Option<T>` | [`Packed`]`<u8, T::Repr>`: a tag, then the value (zeros for `None`) | tag 0 or 1, then `T`'s check |
/// | `Result<T, E>` | `Packed<u8, Packed<T::Repr, E::Repr>>`: a tag, then both (zeros for the one not in use) | tag 0 or 1, then `T`'s or `E`'s check |
/// | tuples of up to 6 items | `Packed<A::Repr, Packed<B::Repr, …>>`: the elements one after another | each element's check |
/// | arrays of all of the above | an array of their stored forms | each element's check |
///
/// ```
/// use mproc::ipc::{Pipe, Queue};
///
/// // Python: q.put((7, 'é')); q.put((8, None)); a.send((1, True))
/// let q = Queue::<(u32, Option<char>), 4>::new()?;
/// q.put((7, Some('é')))?;
/// q.put((8, None))?;
/// assert_eq!(q.get()?, (7, Some('é')));
/// assert_eq!(q.get()?, (8, None));
/// let (a, b) = Pipe::duplex()?;
/// a.send(&(1u32, true))?;
/// assert_eq!(b.recv::<(u32, bool)>()?, (1, true));
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// **Why not [`Shareable`].** A `Shareable` value is handed out *by
/// reference* ([`Shared`](super::Shared) derefs to `&T` in memory other
/// processes write), so every bit pattern must be a value: `bool`,
/// `char` and `Option` can't be. An `Item` is only ever *copied* out and
/// checked before it is a value, so they can.
///
/// **Why [`Packed`].** A tuple or `Option` in Rust's own layout has padding
/// (`(u8, u64)` has 7 bytes of it) and an unspecified order; padding bytes
/// are never written, so a copy into shared memory or a message would
/// carry whatever stale bytes of the sender's stack were there. `Packed`
/// is `#[repr(C, packed)]`: its fields one after another, no padding
/// anywhere, the same layout on 32- and 64-bit targets, and alignment 1
/// (its fields are never borrowed, only copied out, so nothing is read
/// through a misaligned reference). So `(u8, u64)` is stored in 9 bytes,
/// `Option<u32>` in 5.
///
/// **Your own type.** A `#[repr(C)]` struct of fixed-width fields derives
/// [`Shareable`] and is an `Item` at once. A struct with `bool`, `char`,
/// `Option` or tuple fields derives `Item` (feature `derive`, on by
/// default): its fields are stored one after another in nested [`Packed`]s
/// and each is checked when read back. So does an enum whose variants have
/// no fields (stored as the variant's position in one byte):
///
/// ```
/// use mproc::ipc::Queue;
/// use mproc::shm::Item;
///
/// #[derive(Item, Debug, PartialEq)]
/// struct Reading { sensor: u16, ok: bool, value: Option<f32> }
///
/// #[derive(Item, Debug, PartialEq)]
/// enum State { Idle, Busy, Done }
///
/// assert_eq!(size_of::<<Reading as Item>::Repr>(), 2 + 1 + (1 + 4));
/// let q = Queue::<(State, Reading), 4>::new()?;
/// q.put((State::Busy, Reading { sensor: 3, ok: true, value: Some(1.5) }))?;
/// assert_eq!(q.get()?, (State::Busy, Reading { sensor: 3, ok: true, value: Some(1.5) }));
/// assert_eq!(State::from_repr(3), None); // no fourth variant
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// The derive refuses a field that can never be an item (a pointer, a
/// reference, a `String`…) or is not one, and an enum with fields (take
/// the manager's [`Wire`](crate::manager::Wire) or the serde route, or
/// implement `Item` by hand):
///
/// ```compile_fail
/// use mproc::shm::Item;
/// #[derive(Item)]
/// struct Job { name: String } // FixedStr<N>
/// ```
///
/// ```compile_fail,E0277
/// use mproc::shm::Item;
/// struct Opaque(u32);
/// #[derive(Item)]
/// struct Holder { inner: Opaque, ready: bool }
/// ```
///
/// ```compile_fail
/// use mproc::shm::Item;
/// #[derive(Item)]
/// enum Message { Stop, Job(u32) }
/// ```
///
/// An array of a derived type is not an item (the one impl that could make
/// it one would overlap that of arrays of `Shareable` types, which are
/// items already): use a tuple of them, or spell the elements as fields.
///
/// By hand, `Item` is a safe trait (a wrong `from_repr` can give a wrong
/// value, never undefined behaviour): convert to and from a stored form
/// that already is one, such as a tuple's:
///
/// ```
/// use mproc::shm::Item;
///
/// #[derive(Debug, PartialEq)]
/// struct Celsius(f32); // only values above absolute zero
///
/// impl Item for Celsius {
///     type Repr = f32;
///     fn to_repr(&self) -> f32 {
///         self.0
///     }
///     fn from_repr(repr: f32) -> Option<Celsius> {
///         (repr >= -273.15).then_some(Celsius(repr))
///     }
/// }
///
/// assert_eq!(Celsius::from_repr(Celsius(21.5).to_repr()), Some(Celsius(21.5)));
/// assert_eq!(Celsius::from_repr(-300.0), None);
/// ```
///
/// What stays refused, at compile time: references, `String`, `Vec` and
/// other owners of memory elsewhere (they would carry a pointer into the
/// sender's memory), descriptors (a number that means something only in
/// the process that opened it: see `Connection::send_fd`):
///
/// ```compile_fail,E0277
/// use mproc::ipc::Queue;
/// let q = Queue::<String, 4>::new(); // FixedStr<N>, or the serde route
/// ```
///
/// ```compile_fail,E0277
/// use mproc::ipc::Queue;
/// let q = Queue::<&'static u32, 4>::new(); // send the value
/// ```
///
/// ```compile_fail,E0277
/// use mproc::ipc::Queue;
/// let q = Queue::<(u32, std::fs::File), 4>::new(); // send_fd, send_with_fds
/// ```
///
/// ```compile_fail,E0277
/// use mproc::ipc::Pipe;
/// let (a, _b) = Pipe::duplex()?;
/// a.send(&vec![1u8, 2, 3])?; // send_bytes, or send_value (feature serde)
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// [`Queue`]: crate::ipc::Queue
/// [`SimpleQueue`]: crate::ipc::SimpleQueue
/// [`JoinableQueue`]: crate::ipc::JoinableQueue
/// [`Connection`]: crate::ipc::Connection
/// [`send`]: crate::ipc::Connection::send
/// [`recv`]: crate::ipc::Connection::recv
/// [`ErrorKind::InvalidData`]: crate::ErrorKind::InvalidData
/// [`FixedStr`]: super::FixedStr
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `Item`: it can't travel through a `Queue`, `SimpleQueue`, `JoinableQueue` or `Connection::send`/`recv`",
    label = "not an `Item`",
    note = "items are the `Shareable` types, `bool`, `char`, `usize`, `isize`, `Pid`, `Duration`, `()`, `Option`s, `Result`s and tuples (up to 6) of items, and arrays of those; a struct of items, or an enum without fields, is one with `#[derive(mproc::Item)]` (a `#[repr(C)]` struct of fixed-width fields with `#[derive(mproc::Shareable)]`), no `unsafe impl`",
    note = "text goes in `mproc::shm::FixedStr<N>`, not `String` or `&str`; a reference is never an item: send the value; a descriptor travels with `Connection::send_fd`/`send_with_fds`",
    note = "a value of any size (`String`, `Vec`, a map…) takes the serde route instead: a `Serialize + Deserialize` type through `Connection::send_value`/`recv_value` with the crate's `serde` feature"
)]
pub trait Item: Sized + 'static {
    /// The stored form: what a queue slot or a message holds.
    type Repr: Shareable + Copy;

    /// The value in its stored form.
    fn to_repr(&self) -> Self::Repr;

    /// The value a stored form holds; `None` when it holds no value of
    /// this type (a `bool` of 2, a `char` in the surrogate range, an
    /// `Option` tag other than 0 or 1).
    fn from_repr(repr: Self::Repr) -> Option<Self>;
}

/// Every [`Shareable`] value is its own stored form: every bit pattern is
/// a value, so nothing is checked.
impl<T: Shareable + Copy> Item for T {
    type Repr = T;
    fn to_repr(&self) -> T {
        *self
    }
    fn from_repr(repr: T) -> Option<T> {
        Some(repr)
    }
}

/// Two stored forms one after another, with no padding: the stored form of
/// `Option`s (a `u8` tag, then the value) and of tuples (nested: `(A, B, C)`
/// is `Packed<A, Packed<B, C>>`). See [`Item`] for why.
///
/// `#[repr(C, packed)]`, alignment 1: its size is the sum of its fields'
/// sizes on every target. Its fields are private and only ever copied out
/// ([`Packed::into_parts`]), never borrowed, so no reference to a
/// misaligned field can exist.
#[repr(C, packed)]
pub struct Packed<A: Shareable + Copy, B: Shareable + Copy> {
    first: A,
    second: B,
}

impl<A: Shareable + Copy, B: Shareable + Copy> Packed<A, B> {
    /// `first`, then `second`.
    pub const fn new(first: A, second: B) -> Packed<A, B> {
        Packed { first, second }
    }

    /// The two fields, copied out.
    pub const fn into_parts(self) -> (A, B) {
        (self.first, self.second)
    }
}

impl<A: Shareable + Copy, B: Shareable + Copy> Clone for Packed<A, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A: Shareable + Copy, B: Shareable + Copy> Copy for Packed<A, B> {}

impl<A, B> std::fmt::Debug for Packed<A, B>
where
    A: Shareable + Copy + std::fmt::Debug,
    B: Shareable + Copy + std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (first, second) = self.into_parts();
        f.debug_tuple("Packed")
            .field(&first)
            .field(&second)
            .finish()
    }
}

#[allow(unsafe_code)]
// SAFETY: repr(C, packed) of two Shareable + Copy fields: no padding (packed),
// the same layout on every target (each field's is), no pointers and no drop
// glue (Copy), every bit pattern of each field a value, so of the whole; no
// interior mutability (Copy types hold no atomics or cells) and the fields
// are private and only copied out, so no misaligned reference is ever made.
unsafe impl<A: Shareable + Copy, B: Shareable + Copy> Shareable for Packed<A, B> {
    fn type_identity() -> &'static str {
        core::any::type_name::<Self>()
    }
}

/// `u8`: 0 or 1.
impl Item for bool {
    type Repr = u8;
    fn to_repr(&self) -> u8 {
        u8::from(*self)
    }
    fn from_repr(repr: u8) -> Option<bool> {
        match repr {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// `u32`: a Unicode scalar value ([`char::from_u32`]).
impl Item for char {
    type Repr = u32;
    fn to_repr(&self) -> u32 {
        u32::from(*self)
    }
    fn from_repr(repr: u32) -> Option<char> {
        char::from_u32(repr)
    }
}

/// `u64`, whatever the target (so a 32- and a 64-bit program agree, as the
/// manager's `Wire` does): a value beyond `usize::MAX` is no value.
impl Item for usize {
    type Repr = u64;
    fn to_repr(&self) -> u64 {
        *self as u64
    }
    fn from_repr(repr: u64) -> Option<usize> {
        usize::try_from(repr).ok()
    }
}

/// `i64`, whatever the target: a value beyond `isize`'s range is no value.
impl Item for isize {
    type Repr = i64;
    fn to_repr(&self) -> i64 {
        *self as i64
    }
    fn from_repr(repr: i64) -> Option<isize> {
        isize::try_from(repr).ok()
    }
}

/// `i32`: a positive number.
impl Item for crate::process::Pid {
    type Repr = i32;
    fn to_repr(&self) -> i32 {
        self.as_raw()
    }
    fn from_repr(repr: i32) -> Option<crate::process::Pid> {
        crate::process::Pid::from_raw(repr)
    }
}

/// Seconds (`u64`), then nanoseconds (`u32`): below 10⁹.
impl Item for std::time::Duration {
    type Repr = Packed<u64, u32>;
    fn to_repr(&self) -> Self::Repr {
        Packed::new(self.as_secs(), self.subsec_nanos())
    }
    fn from_repr(repr: Self::Repr) -> Option<std::time::Duration> {
        let (secs, nanos) = repr.into_parts();
        (nanos < 1_000_000_000).then(|| std::time::Duration::new(secs, nanos))
    }
}

/// One byte, 0: a message is never empty (an empty one reads as the
/// peer's end), so `conn.send(&())` works as Python's `conn.send(None)`.
impl Item for () {
    type Repr = u8;
    fn to_repr(&self) -> u8 {
        0
    }
    fn from_repr(repr: u8) -> Option<()> {
        (repr == 0).then_some(())
    }
}

/// A `u8` tag (0: `None`, 1: `Some`), then the value's stored form (all
/// zeros for `None`, so no stale byte is ever copied out).
impl<T: Item> Item for Option<T> {
    type Repr = Packed<u8, T::Repr>;
    fn to_repr(&self) -> Self::Repr {
        match self {
            None => Packed::new(0, zeroed()),
            Some(value) => Packed::new(1, value.to_repr()),
        }
    }
    fn from_repr(repr: Self::Repr) -> Option<Option<T>> {
        match repr.into_parts() {
            (0, _) => Some(None),
            (1, value) => Some(Some(T::from_repr(value)?)),
            _ => None,
        }
    }
}

/// A `u8` tag (0: `Ok`, 1: `Err`), then both stored forms side by side:
/// the one in use, and zeros for the other.
impl<T: Item, E: Item> Item for Result<T, E> {
    type Repr = Packed<u8, Packed<T::Repr, E::Repr>>;
    fn to_repr(&self) -> Self::Repr {
        match self {
            Ok(value) => Packed::new(0, Packed::new(value.to_repr(), zeroed())),
            Err(error) => Packed::new(1, Packed::new(zeroed(), error.to_repr())),
        }
    }
    fn from_repr(repr: Self::Repr) -> Option<Result<T, E>> {
        let (tag, both) = repr.into_parts();
        let (value, error) = both.into_parts();
        match tag {
            0 => Some(Ok(T::from_repr(value)?)),
            1 => Some(Err(E::from_repr(error)?)),
            _ => None,
        }
    }
}

/// The stored form of a tuple of items: the first element's, then (nested
/// in a [`Packed`]) the rest's.
macro_rules! tuple_repr {
    ($last:ident) => { <$last as Item>::Repr };
    ($first:ident $($rest:ident)+) => { Packed<<$first as Item>::Repr, tuple_repr!($($rest)+)> };
}

/// The stored form of the tuple's elements, bound to variables named as
/// their types.
macro_rules! tuple_pack {
    ($last:ident) => { $last.to_repr() };
    ($first:ident $($rest:ident)+) => { Packed::new($first.to_repr(), tuple_pack!($($rest)+)) };
}

/// Binds each element of a stored tuple to a variable named as its type,
/// returning `None` from the function for an element that holds no value.
macro_rules! tuple_unpack {
    ($repr:expr; $last:ident) => {
        let $last = <$last as Item>::from_repr($repr)?;
    };
    ($repr:expr; $first:ident $($rest:ident)+) => {
        let (head, tail) = $repr.into_parts();
        let $first = <$first as Item>::from_repr(head)?;
        tuple_unpack!(tail; $($rest)+);
    };
}

macro_rules! item_tuple {
    ($($name:ident)+) => {
        /// The elements one after another, with no padding ([`Packed`]).
        impl<$($name: Item),+> Item for ($($name,)+) {
            type Repr = tuple_repr!($($name)+);
            #[allow(non_snake_case)]
            fn to_repr(&self) -> Self::Repr {
                let ($($name,)+) = self;
                tuple_pack!($($name)+)
            }
            #[allow(non_snake_case)]
            fn from_repr(repr: Self::Repr) -> Option<Self> {
                tuple_unpack!(repr; $($name)+);
                Some(($($name,)+))
            }
        }
    };
}

item_tuple!(A);
item_tuple!(A B);
item_tuple!(A B C);
item_tuple!(A B C D);
item_tuple!(A B C D E);
item_tuple!(A B C D E F);

/// The stored forms of an array's elements.
fn array_to_repr<T: Item, const N: usize>(items: &[T; N]) -> [T::Repr; N] {
    items.each_ref().map(T::to_repr)
}

/// The elements of an array of stored forms, if each holds a value.
fn array_from_repr<T: Item, const N: usize>(reprs: [T::Repr; N]) -> Option<[T; N]> {
    let mut items = heapless::Vec::<T, N>::new();
    for repr in reprs {
        // N stored forms: never more than N items.
        items.push(T::from_repr(repr)?).ok()?;
    }
    items.into_array().ok()
}

/// Arrays of items that are not [`Shareable`] themselves (arrays of
/// `Shareable` types are `Shareable`, so items already): one impl per kind
/// of element, as a blanket one would overlap theirs.
macro_rules! item_array {
    ($([$($param:tt)*] $elem:ty;)+) => {
        $(
            /// The elements' stored forms, one after another; each is checked.
            impl<$($param)* const N: usize> Item for [$elem; N] {
                type Repr = [<$elem as Item>::Repr; N];
                fn to_repr(&self) -> Self::Repr {
                    array_to_repr(self)
                }
                fn from_repr(repr: Self::Repr) -> Option<Self> {
                    array_from_repr(repr)
                }
            }
        )+
    };
}

item_array! {
    [] bool;
    [] char;
    [] usize;
    [] isize;
    [] crate::process::Pid;
    [] std::time::Duration;
    [] ();
    [T: Item,] Option<T>;
    [T: Item, E: Item,] Result<T, E>;
    [A: Item,] (A,);
    [A: Item, B: Item,] (A, B);
    [A: Item, B: Item, C: Item,] (A, B, C);
    [A: Item, B: Item, C: Item, D: Item,] (A, B, C, D);
    [A: Item, B: Item, C: Item, D: Item, E: Item,] (A, B, C, D, E);
    [A: Item, B: Item, C: Item, D: Item, E: Item, F: Item,] (A, B, C, D, E, F);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Item + PartialEq + std::fmt::Debug>(value: T) {
        let repr = value.to_repr();
        assert_eq!(T::from_repr(repr), Some(value));
    }

    #[test]
    fn every_kind_of_item_comes_back_as_it_went() {
        round_trip(7u32);
        round_trip(true);
        round_trip(false);
        round_trip('é');
        round_trip(());
        round_trip(Some(5u64));
        round_trip(None::<u64>);
        round_trip((1u8, 2u64));
        round_trip((1u8, Some(false), 'x', -3i16, [1u32, 2], Some((2u8, 9u64))));
        round_trip([true, false, true]);
        round_trip([Some('a'), None]);
        round_trip([(1u8, true); 3]);
        round_trip(Some(Some(())));
        round_trip(Ok::<u32, char>(4));
        round_trip((
            usize::MAX,
            isize::MIN,
            std::time::Duration::new(3, 999_999_999),
        ));
        round_trip(crate::process::Pid::from_raw(42));
        round_trip([Some(1usize), None]);
        round_trip(Err::<u32, char>('e'));
        round_trip([Ok::<bool, u8>(true), Err(3)]);
    }

    #[test]
    fn stored_forms_have_no_padding() {
        assert_eq!(size_of::<<(u8, u64) as Item>::Repr>(), 9);
        assert_eq!(size_of::<<Option<u32> as Item>::Repr>(), 5);
        assert_eq!(size_of::<<(u8, Option<i64>) as Item>::Repr>(), 10);
        assert_eq!(size_of::<<[Option<bool>; 3] as Item>::Repr>(), 6);
        assert_eq!(align_of::<<(u8, u64) as Item>::Repr>(), 1);
    }

    #[test]
    fn bit_patterns_that_are_no_value_are_refused() {
        assert_eq!(bool::from_repr(2), None);
        assert_eq!(<()>::from_repr(1), None);
        assert_eq!(char::from_repr(0xD800), None);
        assert_eq!(char::from_repr(0x11_0000), None);
        assert_eq!(Option::<u32>::from_repr(Packed::new(2, 0)), None);
        assert_eq!(Option::<bool>::from_repr(Packed::new(1, 2)), None);
        assert_eq!(Option::<bool>::from_repr(Packed::new(0, 2)), Some(None));
        assert_eq!(<(u32, bool)>::from_repr(Packed::new(1, 3)), None);
        assert_eq!(<[bool; 3]>::from_repr([1, 0, 9]), None);
        assert_eq!(crate::process::Pid::from_repr(0), None);
        let late = Packed::new(1, 1_000_000_000);
        assert_eq!(std::time::Duration::from_repr(late), None);
        #[cfg(target_pointer_width = "32")]
        assert_eq!(usize::from_repr(1 << 32), None);
        let bad_err = Packed::new(1, Packed::new(0u8, 2u8));
        assert_eq!(Result::<bool, bool>::from_repr(bad_err), None);
        assert_eq!(
            Result::<bool, bool>::from_repr(Packed::new(2, Packed::new(0, 0))),
            None
        );
    }

    #[test]
    fn none_is_stored_as_zeros() {
        let repr = None::<u64>.to_repr();
        assert_eq!(repr.into_parts(), (0, 0));
    }
}
