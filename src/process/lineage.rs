//! Who a process is: its name, its number path (Python's `_identity`) and
//! its parent, as [`current_process`] and [`parent_process`] report them,
//! kept allocation-free across forks.

use core::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use super::{Pid, getpid, getppid};
use crate::config::{MAX_CHILDREN, NAME_LEN};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::sys::mem::ProcessShared;
use crate::sys::process as sysproc;

// ------------------------------------------------------------------ names

/// A process name: at most `MPROC_NAME_LEN` bytes (default 32), stored
/// inline.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Name(heapless::String<NAME_LEN>);

impl Name {
    /// The name `s`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] when `s` is longer than
    /// `MPROC_NAME_LEN` bytes.
    pub fn new(s: &str) -> Result<Name> {
        let mut name = heapless::String::new();
        name.push_str(s).map_err(|_| {
            Error::new(
                "Name::new",
                Resource::Text {
                    what: "process name",
                    len: s.len(),
                },
                ErrorKind::CapacityExceeded { limit: NAME_LEN },
            )
        })?;
        Ok(Name(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Words per stored name: a length word (`u32::MAX`: unset), then the
/// bytes, four to a word.
const NAME_WORDS: usize = 1 + NAME_LEN.div_ceil(4);

/// Stores `name` in `cells` (`NAME_WORDS` words); `None` unsets it.
fn store_name(cells: &[AtomicI32], name: Option<&str>) {
    let Some(name) = name else {
        cells[0].store(-1, Ordering::Release);
        return;
    };
    for (cell, chunk) in cells[1..].iter().zip(name.as_bytes().chunks(4)) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        cell.store(i32::from_le_bytes(word), Ordering::Relaxed);
    }
    // SYNC POINT: Release publishes the bytes to a reader's Acquire load of
    // the length.
    cells[0].store(name.len() as i32, Ordering::Release);
}

/// The name in `cells`, if set and valid (a torn or foreign value reads as
/// unset rather than as a wrong length).
fn load_name(cells: &[AtomicI32]) -> Option<Name> {
    let len = usize::try_from(cells[0].load(Ordering::Acquire)).ok()?;
    if len > NAME_LEN {
        return None;
    }
    let mut buf = [0u8; NAME_LEN];
    for (chunk, cell) in buf.chunks_mut(4).zip(&cells[1..]) {
        let word = cell.load(Ordering::Relaxed).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    Name::new(core::str::from_utf8(&buf[..len]).ok()?).ok()
}

/// A name kept in atomics, so a forked child (which is single-threaded at
/// that moment) can set it and any thread can read it without a lock.
struct NameCell([AtomicI32; NAME_WORDS]);

impl NameCell {
    const fn new() -> NameCell {
        // Length -1: unset.
        let mut cells = [const { AtomicI32::new(0) }; NAME_WORDS];
        cells[0] = AtomicI32::new(-1);
        NameCell(cells)
    }
}

/// Who a process is: its name, its number path and its parent.
struct Record {
    /// Whose record this is (0: unused).
    pid: AtomicI32,
    name: NameCell,
    path: NameCell,
    /// 0 for no parent (the main process).
    parent_pid: AtomicI32,
    parent_name: NameCell,
}

impl Record {
    const fn new() -> Record {
        Record {
            pid: AtomicI32::new(0),
            name: NameCell::new(),
            path: NameCell::new(),
            parent_pid: AtomicI32::new(0),
            parent_name: NameCell::new(),
        }
    }

    fn store(&self, pid: i32, id: &Identity) {
        store_name(&self.name.0, Some(&id.name));
        store_name(&self.path.0, Some(&id.path));
        self.parent_pid.store(
            id.parent.as_ref().map_or(0, |p| p.0.as_raw()),
            Ordering::Relaxed,
        );
        store_name(
            &self.parent_name.0,
            id.parent.as_ref().map(|p| p.1.as_str()),
        );
        self.pid.store(pid, Ordering::Release);
    }

    fn load(&self) -> Identity {
        let parent = Pid::from_raw(self.parent_pid.load(Ordering::Relaxed)).map(|pid| {
            (
                pid,
                load_name(&self.parent_name.0).unwrap_or_else(main_name),
            )
        });
        Identity {
            name: load_name(&self.name.0).unwrap_or_else(main_name),
            path: load_name(&self.path.0).unwrap_or_default(),
            parent,
        }
    }
}

/// A process's name, number path and parent.
struct Identity {
    name: Name,
    /// Python's `_identity` joined with `:`: `3` for the third child of the
    /// main process, `3:1` for that child's first; empty for the main
    /// process. Default names are `Process-` and the path.
    path: Name,
    parent: Option<(Pid, Name)>,
}

fn main_name() -> Name {
    Name::new(MAIN_NAME).unwrap_or_default()
}

/// The lineage of this process as its own memory holds it.
///
/// A process reads `own` if it is its own. Otherwise it was forked by
/// `forker` (unless that is 0 or itself: then it is the main process),
/// `own` is the forker's record, and `slot` says where the forker put the
/// child's name: in its [`CHILD_NAMES`] table, or nowhere (a plain
/// [`fork`]: the forker's own name), or in `fallback`.
///
/// Before forking, a process makes `own` its own (once) and writes
/// `forker` and `slot` only when they differ from what they hold, so that
/// repeated starts write nothing to this copy-on-write memory: each page
/// the parent writes between forks costs a copy-on-write fault per fork.
struct Lineage {
    own: Record,
    forker: AtomicI32,
    slot: AtomicI32,
    /// The child's name and path when [`CHILD_NAMES`] cannot be mapped.
    fallback: Record,
    /// Numbering when [`CHILD_NAMES`] cannot be mapped.
    counter: AtomicI32,
}

/// [`Lineage::slot`] for a child of a plain [`fork`].
const SLOT_SAME: i32 = -1;
/// [`Lineage::slot`] when the name is in [`Lineage::fallback`].
const SLOT_FALLBACK: i32 = -2;

static LINEAGE: Lineage = Lineage {
    own: Record::new(),
    forker: AtomicI32::new(0),
    slot: AtomicI32::new(0),
    fallback: Record::new(),
    counter: AtomicI32::new(0),
};

/// Each process's own table, in shared memory (so the parent's writes cost
/// no copy-on-write fault): word 0 counts the `Process` objects made (for
/// default names), then a name and a path per registry slot, written just
/// before the child in that slot is forked. A child reads its entry from
/// its parent's table, which it inherits; the slot is not reused before the
/// child is reaped.
static CHILD_NAMES: ProcessShared = ProcessShared::new();
const ENTRY_WORDS: usize = 2 * NAME_WORDS;
const TABLE_WORDS: usize = 1 + MAX_CHILDREN * ENTRY_WORDS;

fn entry(table: &[AtomicI32], slot: usize) -> Option<(&[AtomicI32], &[AtomicI32])> {
    let at = 1 + slot.checked_mul(ENTRY_WORDS)?;
    let entry = table.get(at..at + ENTRY_WORDS)?;
    Some(entry.split_at(NAME_WORDS))
}

const MAIN_NAME: &str = "MainProcess";

fn identity() -> Identity {
    let me = sysproc::getpid();
    let lineage = &LINEAGE;
    if lineage.own.pid.load(Ordering::Acquire) == me {
        return lineage.own.load();
    }
    let forker = lineage.forker.load(Ordering::Acquire);
    if forker == 0 || forker == me {
        return Identity {
            name: main_name(),
            path: Name::default(),
            parent: None,
        };
    }
    // A child of `forker`, whose own record `own` is.
    let parent = lineage.own.load();
    let (name, path) = match lineage.slot.load(Ordering::Relaxed) {
        SLOT_SAME => (parent.name.clone(), parent.path.clone()),
        SLOT_FALLBACK => {
            let named = lineage.fallback.load();
            (named.name, named.path)
        }
        slot => CHILD_NAMES
            .inherited(TABLE_WORDS)
            .filter(|&(owner, _)| owner == forker)
            .and_then(|(_, table)| entry(table, usize::try_from(slot).ok()?))
            .and_then(|(name, path)| Some((load_name(name)?, load_name(path)?)))
            .unwrap_or_else(|| (parent.name.clone(), parent.path.clone())),
    };
    Identity {
        name,
        path,
        parent: Some((Pid::from_kernel(forker), parent.name)),
    }
}

/// Makes [`Lineage::own`] this process's record (a write once per process)
/// and returns the pid. Called before anything replaces what a forked
/// child learns its identity from: its parent's [`CHILD_NAMES`] (by
/// mapping its own) or [`Lineage::forker`].
fn own_record() -> i32 {
    let me = sysproc::getpid();
    if LINEAGE.own.pid.load(Ordering::Relaxed) != me {
        LINEAGE.own.store(me, &identity());
    }
    me
}

/// In the parent, just before a fork: records who the child will be
/// (`Some((registry slot, name, path))`), or that it is a plain [`fork`]
/// keeping the parent's name (`None`).
pub(super) fn prepare_lineage(child: Option<(usize, &Name, &Name)>) {
    let me = own_record();
    let lineage = &LINEAGE;
    let slot = match child {
        None => SLOT_SAME,
        Some((slot, name, path)) => match CHILD_NAMES
            .own(TABLE_WORDS)
            .and_then(|table| entry(table, slot))
            .zip(i32::try_from(slot).ok())
        {
            Some(((name_cells, path_cells), slot)) => {
                store_name(name_cells, Some(name));
                store_name(path_cells, Some(path));
                slot
            }
            None => {
                lineage.fallback.store(
                    me,
                    &Identity {
                        name: name.clone(),
                        path: path.clone(),
                        parent: None,
                    },
                );
                SLOT_FALLBACK
            }
        },
    };
    if lineage.forker.load(Ordering::Relaxed) != me {
        lineage.forker.store(me, Ordering::Relaxed);
    }
    if lineage.slot.load(Ordering::Relaxed) != slot {
        lineage.slot.store(slot, Ordering::Relaxed);
    }
}

/// The number and default name of the next [`Process`] made in this
/// process: Python's `Process-N`, or `Process-3:N` in the child
/// `Process-3` (the number path joined with `:`, counted per process).
pub(super) fn next_default_name() -> (Name, Name) {
    own_record();
    let mine = LINEAGE.own.load().path;
    let n = match CHILD_NAMES.own(TABLE_WORDS) {
        Some(table) => table[0].fetch_add(1, Ordering::Relaxed),
        None => LINEAGE.counter.fetch_add(1, Ordering::Relaxed),
    }
    .wrapping_add(1) as u32;
    let mut path = Name::default();
    if mine.is_empty() {
        let _ = fmt::Write::write_fmt(&mut path.0, format_args!("{n}"));
    } else {
        let _ = fmt::Write::write_fmt(&mut path.0, format_args!("{mine}:{n}"));
    }
    let mut name = Name::default();
    // Cut to fit: a deep tree's names lose their tail, not their start.
    let _ = name.0.push_str("Process-");
    for c in path.chars() {
        if name.0.push(c).is_err() {
            break;
        }
    }
    (name, path)
}

fn current_name() -> Name {
    identity().name
}

/// The name and pid of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its pid.
    pub pid: Pid,
    /// Its name: `MainProcess` for a program's first process, the
    /// [`Process`](super::Process) name in a child.
    pub name: Name,
}

/// The calling process: Python's `multiprocessing.current_process()`.
#[doc(alias = "multiprocessing.current_process")]
pub fn current_process() -> ProcessInfo {
    ProcessInfo {
        pid: getpid(),
        name: current_name(),
    }
}

/// The process that forked this one, if this crate forked it; `None` in the
/// main process. Python's `multiprocessing.parent_process()`.
#[doc(alias = "multiprocessing.parent_process")]
pub fn parent_process() -> Option<ParentProcess> {
    let (pid, name) = identity().parent?;
    Some(ParentProcess {
        info: ProcessInfo { pid, name },
    })
}

/// The parent of the calling process, as [`parent_process`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentProcess {
    info: ProcessInfo,
}

impl ParentProcess {
    /// The parent's pid.
    pub fn pid(&self) -> Pid {
        self.info.pid
    }

    /// The parent's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Whether the parent still runs: it has not exited, so this process has
    /// not been adopted by another.
    pub fn is_alive(&self) -> bool {
        getppid() == self.info.pid
    }
}
