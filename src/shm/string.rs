//! [`FixedStr`]: a string of fixed capacity with a C layout.

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::shm::Shareable;

/// A UTF-8 string of at most `N` bytes, stored inline with a `u32` length:
/// `#[repr(C)]`, the same layout on every target, so it can live in shared
/// memory (Python's `Value(c_char_p, …)` / `Array('c', …)`).
///
/// The length read back is never trusted: it is clamped to `N`, and
/// [`FixedStr::as_str`] returns the longest valid UTF-8 prefix, so bytes
/// written by another process can make it shorter, never unsafe.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FixedStr<const N: usize> {
    len: u32,
    bytes: [u8; N],
}

#[allow(unsafe_code)]
// SAFETY: repr(C) of a u32 and a byte array: no pointers, no drop glue,
// every bit pattern valid (the length is clamped and the bytes validated on
// every read).
unsafe impl<const N: usize> Shareable for FixedStr<N> {}

impl<const N: usize> FixedStr<N> {
    const FITS: () = assert!(
        N <= u32::MAX as usize,
        "a FixedStr holds at most u32::MAX bytes"
    );

    /// An empty string.
    pub const fn new() -> FixedStr<N> {
        let () = Self::FITS;
        FixedStr {
            len: 0,
            bytes: [0; N],
        }
    }

    /// Replaces the contents with `text`; on error the old contents stay.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] when `text` is longer than `N` bytes.
    pub fn set(&mut self, text: &str) -> Result<()> {
        if text.len() > N {
            return Err(Error::new(
                "FixedStr::set",
                Resource::Text {
                    what: "a string",
                    len: text.len(),
                },
                ErrorKind::CapacityExceeded { limit: N },
            ));
        }
        self.bytes[..text.len()].copy_from_slice(text.as_bytes());
        // Fits: text.len() <= N <= u32::MAX.
        self.len = text.len() as u32;
        Ok(())
    }

    /// The text: the longest valid UTF-8 prefix of the stored bytes.
    pub fn as_str(&self) -> &str {
        let bytes = self.as_bytes();
        match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// The stored bytes (length clamped to the capacity).
    pub fn as_bytes(&self) -> &[u8] {
        let len = (self.len as usize).min(N);
        &self.bytes[..len]
    }

    /// The length in bytes of [`FixedStr::as_str`].
    pub fn len(&self) -> usize {
        self.as_str().len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize> std::str::FromStr for FixedStr<N> {
    type Err = Error;

    /// A string holding `text`; [`ErrorKind::CapacityExceeded`] when it is
    /// longer than `N` bytes.
    fn from_str(text: &str) -> Result<FixedStr<N>> {
        let mut s = FixedStr::new();
        s.set(text)?;
        Ok(s)
    }
}

impl<const N: usize> TryFrom<&str> for FixedStr<N> {
    type Error = Error;

    /// As [`FromStr`](std::str::FromStr).
    fn try_from(text: &str) -> Result<FixedStr<N>> {
        text.parse()
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> FixedStr<N> {
        FixedStr::new()
    }
}

impl<const N: usize> std::fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> std::fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> PartialEq for FixedStr<N> {
    fn eq(&self, other: &FixedStr<N>) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<const N: usize> Eq for FixedStr<N> {}

impl<const N: usize> PartialEq<str> for FixedStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for FixedStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

static_assertions::assert_eq_size!(FixedStr<0>, u32);
static_assertions::assert_eq_size!(FixedStr<4>, [u32; 2]);
static_assertions::assert_eq_size!(FixedStr<5>, [u32; 3]);
static_assertions::assert_eq_size!(FixedStr<32>, [u32; 9]);
static_assertions::assert_eq_align!(FixedStr<32>, u32);
