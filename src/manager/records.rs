//! The server's storage for objects of variable-length values (the
//! [`Serde`](super::Serde) encoding): records of bytes kept one after
//! another in order in one byte arena, with at most a number of records
//! and of bytes, both allocated once when the object is made. A removed
//! or resized record moves the ones after it (as a list's items move), so
//! the arena never fragments: a record fits whenever the free bytes hold
//! it.

/// No room: nothing was changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// All the records are taken: the capacity.
    Records(usize),
    /// The bytes are short: the record's size, and the room there was for
    /// it.
    Bytes { size: usize, room: usize },
}

/// Records in order.
pub(crate) struct Records {
    capacity: usize,
    len: usize,
    /// Record `i` is `bytes[starts[i]..starts[i + 1]]`; `starts[0]` is 0.
    starts: Vec<u32>,
    /// The arena: `limit` bytes, more only after a record was given back
    /// past the limit ([`Records::insert_over`]).
    bytes: Vec<u8>,
    /// The bytes records may take.
    limit: usize,
}

impl Records {
    /// At most `capacity` records of `bytes` bytes in all (`bytes` is at
    /// most `u32::MAX`: the server bounds it by a message first).
    pub(crate) fn new(capacity: usize, bytes: usize) -> Records {
        Records {
            capacity,
            len: 0,
            // One more: a record given back past the capacity.
            starts: vec![0; capacity + 2],
            bytes: vec![0; bytes],
            limit: bytes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes the records take.
    pub(crate) fn used(&self) -> usize {
        self.starts[self.len] as usize
    }

    /// Bytes free.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.used())
    }

    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        (i < self.len).then(|| &self.bytes[self.starts[i] as usize..self.starts[i + 1] as usize])
    }

    /// The first record in `from..` that `matches`.
    pub(crate) fn position(&self, from: usize, matches: impl Fn(&[u8]) -> bool) -> Option<usize> {
        (from..self.len).find(|&i| self.get(i).is_some_and(&matches))
    }

    /// Makes record `i` `size` bytes long (a new record when `insert`),
    /// moving the records after it; the record's bytes are then to be
    /// written. Checks first: nothing changes when there is no room.
    fn resize(&mut self, i: usize, size: usize, insert: bool) -> Result<(), Full> {
        let old = if insert {
            if self.len >= self.capacity {
                return Err(Full::Records(self.capacity));
            }
            0
        } else {
            (self.starts[i + 1] - self.starts[i]) as usize
        };
        let room = self.room() + old;
        if size > room {
            return Err(Full::Bytes { size, room });
        }
        let start = self.starts[i] as usize;
        let used = self.used();
        let tail = start + old..used;
        let new_tail = start + size;
        self.bytes.copy_within(tail, new_tail);
        if insert {
            self.starts.copy_within(i..=self.len, i + 1);
            self.len += 1;
        }
        // Sizes are at most the arena's, itself at most u32::MAX.
        for s in &mut self.starts[i + 1..=self.len] {
            *s = (*s as usize + size - old) as u32;
        }
        Ok(())
    }

    /// Writes `parts` one after another into record `i`, which `resize`
    /// made their total length.
    fn fill(&mut self, i: usize, parts: &[&[u8]]) {
        let mut at = self.starts[i] as usize;
        for p in parts {
            self.bytes[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
    }

    /// Inserts a record of `parts` before index `i` (clamped to the
    /// length).
    pub(crate) fn insert(&mut self, i: usize, parts: &[&[u8]]) -> Result<(), Full> {
        let i = i.min(self.len);
        let size = parts.iter().map(|p| p.len()).sum();
        self.resize(i, size, true)?;
        self.fill(i, parts);
        Ok(())
    }

    /// Inserts `record` before index `i` (clamped to the length) past the
    /// capacity and the byte limit if need be, by at most one record: a
    /// queue's record given back by a client whose get was withdrawn after
    /// it was answered (it was in the queue a moment ago). The arena grows
    /// when it must (a rare allocation); the limit stays for the puts.
    pub(crate) fn insert_over(&mut self, i: usize, record: &[u8]) -> Result<(), Full> {
        if self.len > self.capacity {
            return Err(Full::Records(self.capacity));
        }
        let (used, size) = (self.used(), record.len());
        let total = used + size;
        if u32::try_from(total).is_err() {
            return Err(Full::Bytes {
                size,
                room: self.room(),
            });
        }
        if total > self.bytes.len() {
            self.bytes.resize(total, 0);
        }
        let i = i.min(self.len);
        let start = self.starts[i] as usize;
        self.bytes.copy_within(start..used, start + size);
        self.starts.copy_within(i..=self.len, i + 1);
        self.len += 1;
        for s in &mut self.starts[i + 1..=self.len] {
            // Below `total`, which fits a u32 (checked above).
            *s += size as u32;
        }
        self.bytes[start..start + size].copy_from_slice(record);
        Ok(())
    }

    /// Replaces record `i` (which exists) with `parts`.
    pub(crate) fn replace(&mut self, i: usize, parts: &[&[u8]]) -> Result<(), Full> {
        let size = parts.iter().map(|p| p.len()).sum();
        self.resize(i, size, false)?;
        self.fill(i, parts);
        Ok(())
    }

    /// Removes record `i` (which exists).
    pub(crate) fn remove(&mut self, i: usize) {
        let (start, end) = (self.starts[i] as usize, self.starts[i + 1] as usize);
        let size = end - start;
        let used = self.used();
        self.bytes.copy_within(end..used, start);
        self.starts.copy_within(i + 1..=self.len, i);
        self.len -= 1;
        for s in &mut self.starts[i..=self.len] {
            *s -= size as u32;
        }
        self.starts[0] = 0;
    }

    /// Copies record `i` into `out`, then removes it; its length.
    pub(crate) fn pop_into(&mut self, i: usize, out: &mut [u8]) -> Option<usize> {
        let record = self.get(i)?;
        let n = record.len();
        out[..n].copy_from_slice(record);
        self.remove(i);
        Some(n)
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Reverses the order of the records.
    pub(crate) fn reverse(&mut self) {
        let (n, used) = (self.len, self.used());
        // Reversing all the bytes reverses the order and each record;
        // each record is then turned back.
        self.bytes[..used].reverse();
        // The lengths, reversed: turn the starts into lengths, reverse,
        // and sum them back.
        for i in (1..=n).rev() {
            self.starts[i] -= self.starts[i - 1];
        }
        self.starts[1..=n].reverse();
        for i in 1..=n {
            self.starts[i] += self.starts[i - 1];
        }
        for i in 0..n {
            let (s, e) = (self.starts[i] as usize, self.starts[i + 1] as usize);
            self.bytes[s..e].reverse();
        }
    }

    /// Every record, each after its `u32` length, into `out`; the bytes
    /// written. `out` must hold `4 × len + used` bytes.
    pub(crate) fn snapshot(&self, out: &mut [u8]) -> usize {
        let mut at = 0;
        for i in 0..self.len {
            let r = self.get(i).unwrap_or(&[]);
            out[at..at + 4].copy_from_slice(&(r.len() as u32).to_le_bytes());
            out[at + 4..at + 4 + r.len()].copy_from_slice(r);
            at += 4 + r.len();
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(r: &Records) -> Vec<&[u8]> {
        (0..r.len()).map(|i| r.get(i).unwrap()).collect()
    }

    #[test]
    fn records_insert_replace_remove_and_reverse_in_place() {
        let mut r = Records::new(4, 10);
        r.insert(0, &[b"abc"]).unwrap();
        r.insert(9, &[b"d", b"e"]).unwrap();
        r.insert(1, &[b""]).unwrap();
        assert_eq!(all(&r), [&b"abc"[..], b"", b"de"]);
        assert_eq!((r.used(), r.room()), (5, 5));
        r.replace(0, &[b"x"]).unwrap();
        r.replace(1, &[b"yyyy"]).unwrap();
        assert_eq!(all(&r), [&b"x"[..], b"yyyy", b"de"]);
        assert_eq!(
            r.replace(2, &[b"1234567"]),
            Err(Full::Bytes { size: 7, room: 5 })
        );
        assert_eq!(all(&r), [&b"x"[..], b"yyyy", b"de"], "nothing lost");
        r.reverse();
        assert_eq!(all(&r), [&b"de"[..], b"yyyy", b"x"]);
        let mut out = [0u8; 8];
        assert_eq!(r.pop_into(1, &mut out), Some(4));
        assert_eq!(&out[..4], b"yyyy");
        assert_eq!(all(&r), [&b"de"[..], b"x"]);
        r.insert(0, &[b"12345"]).unwrap();
        r.insert(0, &[b"z"]).unwrap();
        assert_eq!(r.insert(0, &[b""]), Err(Full::Records(4)));
        let mut snap = [0u8; 64];
        let n = r.snapshot(&mut snap);
        assert_eq!(n, 4 * 4 + 9);
        assert_eq!(&snap[..6], &[1, 0, 0, 0, b'z', 5]);
        assert_eq!(r.position(0, |x| x == b"x"), Some(3));
        r.clear();
        assert_eq!((r.len(), r.room()), (0, 10));
    }
}
