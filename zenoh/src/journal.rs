//! An outbound bridge's window kept in a file, so that a sending gateway
//! killed mid-stream finds, when it starts again, the items it had taken
//! from its local queue and not seen acknowledged, and sends them again
//! as the same source (its receivers put each once, in order).
//!
//! `<dir>/<bridge>.window`: a 32-byte header, then one record per item
//! taken, appended before the item is published.
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `mprocZW1` |
//! | 8..16 | the items' type fingerprint |
//! | 16..24 | the source number, kept across restarts |
//! | 24..32 | the highest number seen acknowledged (rewritten as it moves) |
//!
//! A record: its item's length (4 bytes), its number (8), a checksum of
//! both and the item (8), the item. Reading stops at the first record that
//! does not check out (one torn by the kill). The file is rewritten with
//! only the window (to `.window.new`, then renamed over it) when it opens
//! and when it has grown past [`COMPACT_AT`]. `<bridge>.lock`, locked
//! while a gateway runs the bridge, keeps a second gateway off it.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"mprocZW1";
const HEAD: u64 = 32;
const RECORD_HEAD: usize = 20;
/// The file is rewritten with only the window once it is this long.
pub const COMPACT_AT: u64 = 4 << 20;

/// FNV-1a over the record's number and item.
fn checksum(seq: u64, item: &[u8]) -> u64 {
    crate::frame::fnv1a(seq.to_le_bytes().iter().chain(item))
}

/// What a bridge's file held when it opened.
pub(crate) struct Recovered {
    /// The source number to go on with.
    pub(crate) source: u64,
    /// The highest number seen acknowledged.
    pub(crate) acked: u64,
    /// The highest number taken (the next item is one more).
    pub(crate) seq: u64,
    /// The items taken and not seen acknowledged, oldest first.
    pub(crate) window: Vec<(u64, Vec<u8>)>,
}

/// One outbound bridge's open window file.
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    end: u64,
    fingerprint: u64,
    source: u64,
    acked: u64,
    _lock: File,
}

fn io(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> String {
    let path = path.display().to_string();
    let what = what.to_string();
    move |e| format!("{what} {path}: {e}")
}

/// The records of `bytes` (a file past its header) that check out, up to
/// the first that does not.
fn records(mut bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= RECORD_HEAD {
        let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap_or_default()) as usize;
        let seq = u64::from_le_bytes(bytes[4..12].try_into().unwrap_or_default());
        let sum = u64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default());
        let Some(item) = bytes.get(RECORD_HEAD..RECORD_HEAD + len) else {
            break;
        };
        if checksum(seq, item) != sum {
            break;
        }
        out.push((seq, item.to_vec()));
        bytes = &bytes[RECORD_HEAD + len..];
    }
    out
}

impl Journal {
    /// Opens (or makes) bridge `name`'s file in `dir` for items of
    /// `fingerprint`; a new file takes `fresh` as its source number.
    pub(crate) fn open(
        dir: &Path,
        name: &str,
        fingerprint: u64,
        fresh: u64,
    ) -> Result<(Journal, Recovered), String> {
        let path = dir.join(format!("{name}.window"));
        let lock_path = dir.join(format!("{name}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path, "open"))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => format!(
                "{} is locked: another gateway runs bridge {name:?} on this directory",
                lock_path.display()
            ),
            std::fs::TryLockError::Error(e) => format!("lock {}: {e}", lock_path.display()),
        })?;
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(io(&path, "read"))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, "open")(e)),
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let recovered = if bytes.is_empty() {
            Recovered {
                source: fresh,
                acked: 0,
                seq: 0,
                window: Vec::new(),
            }
        } else {
            if bytes.len() < HEAD as usize || &bytes[..8] != MAGIC {
                return Err(format!(
                    "{} is not an mproc-zenoh window file (no `mprocZW1` header)",
                    path.display()
                ));
            }
            if word(8) != fingerprint {
                return Err(format!(
                    "{} holds items of fingerprint {:#018x}; bridge {name:?} carries {fingerprint:#018x}",
                    path.display(),
                    word(8)
                ));
            }
            let acked = word(24);
            let all = records(&bytes[HEAD as usize..]);
            let seq = all.iter().map(|(s, _)| *s).fold(acked, u64::max);
            let mut window: Vec<(u64, Vec<u8>)> =
                all.into_iter().filter(|(s, _)| *s > acked).collect();
            window.sort_by_key(|(s, _)| *s);
            window.dedup_by_key(|(s, _)| *s);
            Recovered {
                source: word(16),
                acked,
                seq,
                window,
            }
        };
        let (file, end) = write_file(
            &path,
            [fingerprint, recovered.source, recovered.acked],
            recovered.window.iter().map(|(s, i)| (*s, i.as_slice())),
        )?;
        let j = Journal {
            file,
            path,
            end,
            fingerprint,
            source: recovered.source,
            acked: recovered.acked,
            _lock: lock,
        };
        Ok((j, recovered))
    }

    /// Appends item `seq` (before it is published).
    pub(crate) fn append(
        &mut self,
        seq: u64,
        item: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Result<(), String> {
        scratch.clear();
        push_record(scratch, seq, item);
        self.file
            .write_all_at(scratch, self.end)
            .map_err(io(&self.path, "append to"))?;
        self.end += scratch.len() as u64;
        Ok(())
    }

    /// Records that every number up to `acked` is acknowledged; past
    /// [`COMPACT_AT`], rewrites the file with only `window` (what is not).
    pub(crate) fn settle<'a>(
        &mut self,
        acked: u64,
        window: impl Iterator<Item = (u64, &'a [u8])>,
    ) -> Result<(), String> {
        if acked <= self.acked {
            return Ok(());
        }
        self.acked = acked;
        if self.end >= COMPACT_AT {
            let words = [self.fingerprint, self.source, acked];
            (self.file, self.end) = write_file(&self.path, words, window)?;
            return Ok(());
        }
        self.file
            .write_all_at(&acked.to_le_bytes(), 24)
            .map_err(io(&self.path, "write to"))
    }
}

/// Writes a new file at `path` holding the header `words` (fingerprint,
/// source, acknowledged) and `window`, and renames it over the old one:
/// a kill at any point leaves one whole file. The new file and its length.
fn write_file<'a>(
    path: &Path,
    words: [u64; 3],
    window: impl Iterator<Item = (u64, &'a [u8])>,
) -> Result<(File, u64), String> {
    let mut bytes = Vec::with_capacity(HEAD as usize);
    bytes.extend_from_slice(MAGIC);
    for w in words {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    for (seq, item) in window {
        push_record(&mut bytes, seq, item);
    }
    let new = path.with_extension("window.new");
    let mut f = File::create(&new).map_err(io(&new, "create"))?;
    f.write_all(&bytes).map_err(io(&new, "write"))?;
    std::fs::rename(&new, path).map_err(io(path, "rename into"))?;
    Ok((f, bytes.len() as u64))
}

fn push_record(out: &mut Vec<u8>, seq: u64, item: &[u8]) {
    out.extend_from_slice(&(item.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&checksum(seq, item).to_le_bytes());
    out.extend_from_slice(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mproc-zj-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_reopened_file_gives_back_the_unacknowledged_items_and_the_source() {
        let d = dir("reopen");
        let mut scratch = Vec::new();
        {
            let (mut j, r) = Journal::open(&d, "jobs", 7, 42).unwrap();
            assert_eq!((r.source, r.acked, r.seq, r.window.len()), (42, 0, 0, 0));
            for seq in 1..=5u64 {
                j.append(seq, format!("item {seq}").as_bytes(), &mut scratch)
                    .unwrap();
            }
            j.settle(2, std::iter::empty()).unwrap();
            // A second gateway on the same bridge is refused while this
            // one holds it.
            let e = Journal::open(&d, "jobs", 7, 43).err().unwrap();
            assert!(e.contains("another gateway"), "{e}");
        }
        // A record torn by a kill is not read.
        let path = d.join("jobs.window");
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(&[9, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let (_j, r) = Journal::open(&d, "jobs", 7, 99).unwrap();
        assert_eq!((r.source, r.acked, r.seq), (42, 2, 5));
        let items: Vec<(u64, String)> = r
            .window
            .into_iter()
            .map(|(s, i)| (s, String::from_utf8(i).unwrap()))
            .collect();
        assert_eq!(items, [3, 4, 5].map(|s| (s, format!("item {s}"))).to_vec());
        // Rewritten with only the window.
        assert!(std::fs::metadata(&path).unwrap().len() < whole as u64);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn another_type_or_another_file_is_refused_naming_it() {
        let d = dir("refuse");
        drop(Journal::open(&d, "jobs", 7, 1).unwrap());
        let e = Journal::open(&d, "jobs", 8, 1).err().unwrap();
        assert!(
            e.contains("fingerprint") && e.contains("jobs.window"),
            "{e}"
        );
        std::fs::write(d.join("other.window"), b"not a window file at all, no").unwrap();
        let e = Journal::open(&d, "other", 7, 1).err().unwrap();
        assert!(e.contains("not an mproc-zenoh window file"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
