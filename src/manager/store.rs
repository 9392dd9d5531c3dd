//! The server's storage for dicts, namespaces and lists: fixed-capacity
//! tables of encoded bytes, allocated once when the object is made.
//! Nothing here knows a type; keys and items compare by their canonical
//! bytes ([`Wire`](super::Wire)).

/// 64-bit FNV-1a of a key's bytes.
fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The table is full: nothing was changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full;

/// Keys to values in insertion order (Python's dicts keep it): a dict, or
/// a namespace (whose values may each have their own type and length).
pub(crate) struct Table {
    key_size: usize,
    value_size: usize,
    capacity: usize,
    len: usize,
    hashes: Vec<u64>,
    /// Each value's type check (a dict's are all the dict's).
    value_types: Vec<u64>,
    /// Each value's length (a dict's are all `value_size`).
    value_lens: Vec<u32>,
    keys: Vec<u8>,
    values: Vec<u8>,
}

impl Table {
    pub(crate) fn new(key_size: usize, value_size: usize, capacity: usize) -> Table {
        Table {
            key_size,
            value_size,
            capacity,
            len: 0,
            hashes: vec![0; capacity],
            value_types: vec![0; capacity],
            value_lens: vec![0; capacity],
            keys: vec![0; capacity * key_size],
            values: vec![0; capacity * value_size],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn key(&self, i: usize) -> &[u8] {
        &self.keys[i * self.key_size..(i + 1) * self.key_size]
    }

    /// The entry holding `key`.
    pub(crate) fn find(&self, key: &[u8]) -> Option<usize> {
        let h = hash(key);
        (0..self.len).find(|&i| self.hashes[i] == h && self.key(i) == key)
    }

    /// Entry `i`'s value and its type check.
    pub(crate) fn value(&self, i: usize) -> (&[u8], u64) {
        let start = i * self.value_size;
        let len = self.value_lens[i] as usize;
        (&self.values[start..start + len], self.value_types[i])
    }

    /// Sets `key` to `value` (at most `value_size` bytes); `true` when the
    /// key is new.
    pub(crate) fn set(&mut self, key: &[u8], value: &[u8], value_type: u64) -> Result<bool, Full> {
        let (i, new) = match self.find(key) {
            Some(i) => (i, false),
            None if self.len == self.capacity => return Err(Full),
            None => {
                let i = self.len;
                self.len += 1;
                self.hashes[i] = hash(key);
                self.keys[i * self.key_size..(i + 1) * self.key_size].copy_from_slice(key);
                (i, true)
            }
        };
        let start = i * self.value_size;
        self.values[start..start + value.len()].copy_from_slice(value);
        self.value_lens[i] = value.len() as u32;
        self.value_types[i] = value_type;
        Ok(new)
    }

    /// Removes entry `i`, keeping the others in order.
    pub(crate) fn remove(&mut self, i: usize) {
        let last = self.len - 1;
        if i < last {
            self.hashes.copy_within(i + 1..=last, i);
            self.value_types.copy_within(i + 1..=last, i);
            self.value_lens.copy_within(i + 1..=last, i);
            let (ks, vs) = (self.key_size, self.value_size);
            self.keys.copy_within((i + 1) * ks..(last + 1) * ks, i * ks);
            self.values
                .copy_within((i + 1) * vs..(last + 1) * vs, i * vs);
        }
        self.len = last;
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Writes every entry as key bytes then value bytes (a dict's values
    /// all have `value_size` bytes) into `out`; returns the bytes written.
    /// `out` must hold `len × (key_size + value_size)` bytes.
    pub(crate) fn items(&self, out: &mut [u8]) -> usize {
        let (ks, vs) = (self.key_size, self.value_size);
        for i in 0..self.len {
            let at = i * (ks + vs);
            out[at..at + ks].copy_from_slice(self.key(i));
            out[at + ks..at + ks + vs].copy_from_slice(&self.values[i * vs..(i + 1) * vs]);
        }
        self.len * (ks + vs)
    }

    /// Writes every key into `out`; returns the bytes written.
    pub(crate) fn keys(&self, out: &mut [u8]) -> usize {
        let n = self.len * self.key_size;
        out[..n].copy_from_slice(&self.keys[..n]);
        n
    }
}

/// Items of one size in order: a list.
pub(crate) struct List {
    item: usize,
    capacity: usize,
    len: usize,
    bytes: Vec<u8>,
}

impl List {
    /// At most `capacity` items of `item` bytes, and room for one more:
    /// an item a queue's client gives back ([`List::insert_over`]).
    pub(crate) fn new(item: usize, capacity: usize) -> List {
        List {
            item,
            capacity,
            len: 0,
            bytes: vec![0; item * (capacity + 1)],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn item_size(&self) -> usize {
        self.item
    }

    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        (i < self.len).then(|| &self.bytes[i * self.item..(i + 1) * self.item])
    }

    pub(crate) fn set(&mut self, i: usize, value: &[u8]) -> bool {
        if i >= self.len {
            return false;
        }
        self.bytes[i * self.item..(i + 1) * self.item].copy_from_slice(value);
        true
    }

    /// Inserts `value` before index `i` (clamped to the length, as Python
    /// does).
    pub(crate) fn insert(&mut self, i: usize, value: &[u8]) -> Result<(), Full> {
        if self.len >= self.capacity {
            return Err(Full);
        }
        self.insert_over(i, value)
    }

    /// [`List::insert`] past the capacity by at most one item (a queue's
    /// item given back by a client whose get was withdrawn after it was
    /// answered: it was in the queue a moment ago).
    pub(crate) fn insert_over(&mut self, i: usize, value: &[u8]) -> Result<(), Full> {
        if self.len > self.capacity {
            return Err(Full);
        }
        let i = i.min(self.len);
        let s = self.item;
        self.bytes.copy_within(i * s..self.len * s, (i + 1) * s);
        self.bytes[i * s..(i + 1) * s].copy_from_slice(value);
        self.len += 1;
        Ok(())
    }

    /// Appends the `count` items of `values` (`count` × the item size
    /// bytes: none for items of no bytes, which are counted all the same),
    /// or none of them.
    pub(crate) fn extend(&mut self, values: &[u8], count: usize) -> Result<(), Full> {
        if count > self.capacity.saturating_sub(self.len) || values.len() != count * self.item {
            return Err(Full);
        }
        let at = self.len * self.item;
        self.bytes[at..at + values.len()].copy_from_slice(values);
        self.len += count;
        Ok(())
    }

    /// Removes item `i`, copying it into `out`.
    pub(crate) fn pop(&mut self, i: usize, out: &mut [u8]) -> bool {
        if i >= self.len {
            return false;
        }
        let s = self.item;
        out[..s].copy_from_slice(&self.bytes[i * s..(i + 1) * s]);
        self.bytes.copy_within((i + 1) * s..self.len * s, i * s);
        self.len -= 1;
        true
    }

    /// The first index of `value` in `start..`.
    pub(crate) fn index(&self, value: &[u8], start: usize) -> Option<usize> {
        (start..self.len).find(|&i| self.get(i) == Some(value))
    }

    pub(crate) fn count(&self, value: &[u8]) -> usize {
        (0..self.len)
            .filter(|&i| self.get(i) == Some(value))
            .count()
    }

    pub(crate) fn reverse(&mut self) {
        let (s, n) = (self.item, self.len);
        for i in 0..n / 2 {
            let j = n - 1 - i;
            let (head, tail) = self.bytes.split_at_mut(j * s);
            head[i * s..(i + 1) * s].swap_with_slice(&mut tail[..s]);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Every item, in order, into `out`; returns the bytes written.
    pub(crate) fn snapshot(&self, out: &mut [u8]) -> usize {
        let n = self.len * self.item;
        out[..n].copy_from_slice(&self.bytes[..n]);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_keeps_insertion_order_and_refuses_past_capacity() {
        let mut t = Table::new(2, 4, 3);
        assert_eq!(t.set(b"aa", b"1111", 7), Ok(true));
        assert_eq!(t.set(b"bb", b"2222", 7), Ok(true));
        assert_eq!(t.set(b"cc", b"3333", 7), Ok(true));
        assert_eq!(t.set(b"dd", b"4444", 7), Err(Full));
        assert_eq!(t.set(b"aa", b"9999", 7), Ok(false));
        t.remove(t.find(b"bb").unwrap());
        assert_eq!(t.len(), 2);
        let mut out = [0u8; 12];
        assert_eq!(t.items(&mut out), 12);
        assert_eq!(&out, b"aa9999cc3333");
        assert_eq!(t.value(t.find(b"cc").unwrap()), (&b"3333"[..], 7));
        assert_eq!(t.find(b"bb"), None);
    }

    #[test]
    fn a_namespace_value_keeps_its_own_length_and_type() {
        let mut t = Table::new(1, 8, 2);
        t.set(b"x", b"ab", 1).unwrap();
        t.set(b"y", b"abcdefgh", 2).unwrap();
        assert_eq!(t.value(0), (&b"ab"[..], 1));
        assert_eq!(t.value(1), (&b"abcdefgh"[..], 2));
    }

    #[test]
    fn a_list_inserts_pops_and_reverses_like_pythons() {
        let mut l = List::new(1, 5);
        l.extend(b"abc", 3).unwrap();
        l.insert(1, b"X").unwrap();
        l.insert(99, b"Z").unwrap();
        assert_eq!(l.insert(0, b"!"), Err(Full));
        let mut out = [0u8; 5];
        assert_eq!(l.snapshot(&mut out), 5);
        assert_eq!(&out, b"aXbcZ");
        let mut one = [0u8; 1];
        assert!(l.pop(1, &mut one));
        assert_eq!(&one, b"X");
        l.reverse();
        assert_eq!(l.snapshot(&mut out), 4);
        assert_eq!(&out[..4], b"Zcba");
        assert_eq!(l.index(b"b", 0), Some(2));
        assert_eq!(l.index(b"b", 3), None);
        assert_eq!(l.count(b"a"), 1);
        assert!(!l.pop(4, &mut one));
        assert_eq!(l.extend(b"xy", 2), Err(Full));
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn a_list_of_items_of_no_bytes_counts_them() {
        let mut l = List::new(0, 3);
        l.extend(&[], 2).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l.extend(&[], 2), Err(Full));
        let mut none = [0u8; 0];
        assert!(l.pop(0, &mut none));
        assert_eq!(l.len(), 1);
    }
}
