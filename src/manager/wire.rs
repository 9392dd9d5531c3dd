//! [`Wire`]: how a value crosses to the manager server and back, as a
//! fixed number of bytes in one canonical form.

use crate::process::Pid;
use crate::shm::FixedStr;

/// A value that travels to and from a [`Manager`](super::Manager) server:
/// a fixed size ([`Wire::SIZE`]) and one canonical encoding, little-endian
/// whatever the target, so a 32-bit and a 64-bit program agree, and two
/// equal values always have the same bytes (the server compares dict keys
/// and list items by their bytes, without knowing their type).
///
/// This is the crate's answer to pickling: no allocation, no code runs on
/// the server for a built-in object, and decoding validates every byte
/// (a `bool` is 0 or 1, a `FixedStr` is UTF-8 within its capacity…), so a
/// peer can never make a proxy hold an invalid value.
///
/// Implemented for the fixed-width integers (`usize`/`isize` travel as 8
/// bytes and fail to decode out of range), `f32`, `f64`, `bool`, `char`,
/// `()`, [`FixedStr`], [`Pid`], arrays, `Option`, and tuples of up to four.
/// Your own struct or enum derives it (feature `derive`, on by default):
///
/// ```
/// use mproc::manager::Wire;
/// use mproc::shm::FixedStr;
///
/// #[derive(Wire, Debug, PartialEq)]
/// struct Point { x: i32, y: i32 }
///
/// let mut buf = [0u8; Point::SIZE];
/// Point { x: 1, y: -2 }.encode(&mut buf);
/// assert_eq!(buf, [1, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF]);
/// assert_eq!(Point::decode(&buf), Some(Point { x: 1, y: -2 }));
///
/// /// Python's mixed values: a tag byte (the variant's position), then
/// /// the variant's fields, zeros up to the largest variant.
/// #[derive(Wire, Debug, PartialEq)]
/// #[mproc(type_identity = "myapp::Py")] // survives a rename
/// enum Py {
///     None,
///     Int(i64),
///     Str(FixedStr<15>),
/// }
/// assert_eq!(Py::SIZE, 1 + 4 + 15);
/// let mut buf = [0u8; Py::SIZE];
/// Py::Int(-1).encode(&mut buf);
/// assert_eq!(Py::decode(&buf), Some(Py::Int(-1)));
/// buf[0] = 9; // no such variant
/// assert_eq!(Py::decode(&buf), None);
/// ```
///
/// A struct's fields are encoded one after another; an enum (at most 256
/// variants) as a tag byte, then its fields, then zeros, which decoding
/// checks, so each value has one encoding. Type parameters get a `Wire`
/// bound. A field that is not `Wire` is refused when the program is built:
///
/// ```compile_fail,E0277
/// # use mproc::manager::Wire;
/// #[derive(Wire)]
/// struct Entry { name: String } // use FixedStr<N>
/// ```
///
/// By hand, an implementation encodes its fields one after another the same
/// way, each with its own [`Wire::encode`] / [`Wire::decode`].
///
/// Floats compare by their bits on the server: `-0.0` and `0.0` are two
/// keys, and a NaN key can be found again.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Wire`: it can't travel to and from a `Manager` server",
    label = "not `Wire`",
    note = "a struct or enum of `Wire` fields gets it with `#[derive(mproc::Wire)]`: the fields encoded one after another, decoding validated",
    note = "text goes in `mproc::shm::FixedStr<N>`, not `String` or `&str`",
    note = "a value of any size (`String`, `Vec`, a map…) takes the serde route instead: a `Serialize + Deserialize` type through the manager with the crate's `serde` feature"
)]
pub trait Wire: Sized {
    /// Bytes of the encoding: the same for every value of the type.
    const SIZE: usize;

    /// Writes the value's bytes into `out`, which is exactly
    /// [`Wire::SIZE`] bytes long. Two equal values must write the same
    /// bytes (unused room written as zeros).
    fn encode(&self, out: &mut [u8]);

    /// The value `bytes` (exactly [`Wire::SIZE`] of them) encode, or `None`
    /// when they are not a valid encoding. Must not panic on any input.
    fn decode(bytes: &[u8]) -> Option<Self>;

    /// The name two programs agree on for this type: hashed, with
    /// [`Wire::SIZE`], into the type check the server makes on every call
    /// (a dict made for `u32` keys refuses an `i64` key). Defaults to the
    /// type's path ([`core::any::type_name`]); override it to stay
    /// compatible across a rename or a compiler whose `type_name` differs.
    fn type_identity() -> &'static str {
        core::any::type_name::<Self>()
    }
}

/// The type check of `T`: 64-bit FNV-1a over its identity, then its size.
pub(crate) fn fingerprint<T: Wire>() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in T::type_identity()
        .as_bytes()
        .iter()
        .chain(&(T::SIZE as u64).to_le_bytes())
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

macro_rules! wire_int {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            fn encode(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn decode(bytes: &[u8]) -> Option<$t> {
                Some(<$t>::from_le_bytes(bytes.try_into().ok()?))
            }
        }
    )*};
}

wire_int!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

impl Wire for usize {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut [u8]) {
        (*self as u64).encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<usize> {
        usize::try_from(u64::decode(bytes)?).ok()
    }
}

impl Wire for isize {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut [u8]) {
        (*self as i64).encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<isize> {
        isize::try_from(i64::decode(bytes)?).ok()
    }
}

impl Wire for bool {
    const SIZE: usize = 1;
    fn encode(&self, out: &mut [u8]) {
        out[0] = u8::from(*self);
    }
    fn decode(bytes: &[u8]) -> Option<bool> {
        match bytes {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

impl Wire for char {
    const SIZE: usize = 4;
    fn encode(&self, out: &mut [u8]) {
        u32::from(*self).encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<char> {
        char::from_u32(u32::decode(bytes)?)
    }
}

impl Wire for () {
    const SIZE: usize = 0;
    fn encode(&self, _out: &mut [u8]) {}
    fn decode(bytes: &[u8]) -> Option<()> {
        bytes.is_empty().then_some(())
    }
}

impl Wire for Pid {
    const SIZE: usize = 4;
    fn encode(&self, out: &mut [u8]) {
        self.as_raw().encode(out);
    }
    fn decode(bytes: &[u8]) -> Option<Pid> {
        Pid::from_raw(i32::decode(bytes)?)
    }
}

/// A length (`u32`, little-endian) and `N` bytes, zeros after the text
/// (checked on decode: one string, one encoding).
impl<const N: usize> Wire for FixedStr<N> {
    const SIZE: usize = 4 + N;
    fn encode(&self, out: &mut [u8]) {
        let text = self.as_bytes();
        // At most N <= u32::MAX bytes (FixedStr's own rule).
        (text.len() as u32).encode(&mut out[..4]);
        out[4..4 + text.len()].copy_from_slice(text);
        out[4 + text.len()..].fill(0);
    }
    fn decode(bytes: &[u8]) -> Option<FixedStr<N>> {
        let len = usize::try_from(u32::decode(bytes.get(..4)?)?).ok()?;
        let text = core::str::from_utf8(bytes.get(4..4 + len)?).ok()?;
        if !bytes[4 + len..].iter().all(|&b| b == 0) {
            return None;
        }
        let mut s = FixedStr::new();
        s.set(text).ok()?;
        Some(s)
    }
}

/// The elements one after another.
impl<T: Wire, const N: usize> Wire for [T; N] {
    const SIZE: usize = T::SIZE * N;
    fn encode(&self, out: &mut [u8]) {
        if T::SIZE == 0 {
            return;
        }
        for (item, chunk) in self.iter().zip(out.chunks_exact_mut(T::SIZE)) {
            item.encode(chunk);
        }
    }
    fn decode(bytes: &[u8]) -> Option<[T; N]> {
        if bytes.len() != Self::SIZE {
            return None;
        }
        let mut ok = true;
        let items: [Option<T>; N] = core::array::from_fn(|i| {
            let item = T::decode(&bytes[i * T::SIZE..(i + 1) * T::SIZE]);
            ok &= item.is_some();
            item
        });
        if !ok {
            return None;
        }
        // Every element decoded (checked above).
        Some(items.map(|item| item.unwrap_or_else(|| unreachable!())))
    }
}

/// A tag byte (0 or 1), then the value (zeros for `None`).
impl<T: Wire> Wire for Option<T> {
    const SIZE: usize = 1 + T::SIZE;
    fn encode(&self, out: &mut [u8]) {
        match self {
            None => out.fill(0),
            Some(v) => {
                out[0] = 1;
                v.encode(&mut out[1..]);
            }
        }
    }
    fn decode(bytes: &[u8]) -> Option<Option<T>> {
        match bytes.split_first()? {
            (0, rest) => rest.iter().all(|&b| b == 0).then_some(None),
            (1, rest) => Some(Some(T::decode(rest)?)),
            _ => None,
        }
    }
}

macro_rules! wire_tuple {
    ($($name:ident)+) => {
        /// The fields one after another.
        impl<$($name: Wire),+> Wire for ($($name,)+) {
            const SIZE: usize = 0 $(+ $name::SIZE)+;
            #[allow(non_snake_case, unused_assignments)]
            fn encode(&self, out: &mut [u8]) {
                let ($($name,)+) = self;
                let mut at = 0;
                $(
                    $name.encode(&mut out[at..at + <$name as Wire>::SIZE]);
                    at += <$name as Wire>::SIZE;
                )+
            }
            #[allow(non_snake_case, unused_assignments)]
            fn decode(bytes: &[u8]) -> Option<Self> {
                if bytes.len() != Self::SIZE {
                    return None;
                }
                let mut at = 0;
                $(
                    let $name = <$name as Wire>::decode(&bytes[at..at + <$name as Wire>::SIZE])?;
                    at += <$name as Wire>::SIZE;
                )+
                Some(($($name,)+))
            }
        }
    };
}

wire_tuple!(A);
wire_tuple!(A B);
wire_tuple!(A B C);
wire_tuple!(A B C D);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Wire + PartialEq + core::fmt::Debug>(value: T) -> Vec<u8> {
        let mut buf = vec![0xAA; T::SIZE];
        value.encode(&mut buf);
        assert_eq!(T::decode(&buf), Some(value));
        buf
    }

    #[test]
    fn values_round_trip_in_little_endian() {
        assert_eq!(round_trip(0x0102_0304u32), [4, 3, 2, 1]);
        assert_eq!(round_trip(-2i16), [0xFE, 0xFF]);
        assert_eq!(round_trip(7usize), [7, 0, 0, 0, 0, 0, 0, 0]);
        round_trip(1.5f64);
        round_trip('é');
        round_trip((1u8, -1i64, true));
        round_trip([Some(3u16), None]);
        round_trip(Pid::from_kernel(42));
    }

    #[test]
    fn equal_strings_have_equal_bytes() {
        let mut a = FixedStr::<8>::new();
        a.set("longer!").unwrap();
        a.set("ab").unwrap(); // leaves old bytes behind in the string
        let b: FixedStr<8> = "ab".parse().unwrap();
        assert_eq!(round_trip(a), round_trip(b));
    }

    #[test]
    fn invalid_bytes_do_not_decode() {
        assert_eq!(bool::decode(&[2]), None);
        assert_eq!(char::decode(&0xD800u32.to_le_bytes()), None);
        assert_eq!(Option::<u8>::decode(&[0, 5]), None);
        assert_eq!(Option::<u8>::decode(&[9, 5]), None);
        // A length past the capacity, and bytes that are not UTF-8.
        assert_eq!(
            FixedStr::<4>::decode(&[5, 0, 0, 0, b'a', b'b', b'c', b'd']),
            None
        );
        assert_eq!(FixedStr::<4>::decode(&[1, 0, 0, 0, 0xFF, 0, 0, 0]), None);
        assert_eq!(u32::decode(&[1, 2]), None);
    }

    #[test]
    fn a_string_decodes_only_from_its_one_encoding() {
        // "a" with a stray byte after it: the server would keep it as a
        // second key equal to "a" (it compares bytes), so it is refused,
        // alone and inside a derived enum's payload.
        assert_eq!(
            FixedStr::<4>::decode(&[1, 0, 0, 0, b'a', 0, 0, 0]),
            Some("a".parse().unwrap())
        );
        assert_eq!(FixedStr::<4>::decode(&[1, 0, 0, 0, b'a', b'b', 0, 0]), None);
        assert_eq!(
            Option::<FixedStr<2>>::decode(&[1, 0, 0, 0, 0, 0, b'x']),
            None
        );
    }

    #[test]
    fn fingerprints_tell_types_apart() {
        assert_ne!(fingerprint::<u32>(), fingerprint::<i32>());
        assert_ne!(fingerprint::<FixedStr<8>>(), fingerprint::<FixedStr<9>>());
        assert_eq!(fingerprint::<u64>(), fingerprint::<u64>());
    }
}
