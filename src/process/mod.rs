//! Processes: `fork`, [`Process`], and the process-wide queries of Python's
//! `multiprocessing` (`current_process`, `parent_process`,
//! `active_children`, `cpu_count`).
//!
//! # Python names
//!
//! `multiprocessing.Process(target=f, name=…, daemon=…)` is
//! [`Process::new`]`(f)` with [`Process::with_name`] and [`Process::daemon`];
//! `os.fork` is [`fork`]; `os.waitpid` is [`waitpid`]. The target is a Rust
//! closure run in the forked child: whatever it captures travels by `fork`
//! (the child has a copy of the parent's memory), so nothing is pickled and
//! no `'static` or `Send` bound applies.
//!
//! # The thread policy
//!
//! [`fork`] and [`Process::start`] refuse, with
//! [`ErrorKind::ThreadsRunning`], to fork a process that runs more than one
//! thread: the child would inherit every lock those threads held at that
//! instant (the allocator's arenas are safe with glibc, but stdout's lock,
//! `std::env`'s lock, a logger's mutex are not) and could deadlock on its
//! first `println!`. Fork the workers first, then start threads — the shape
//! of a pre-fork daemon. A program that must fork with threads running opts
//! in with the `unsafe` [`fork_with_threads`] or
//! [`Process::start_with_threads`], promising that the child takes no lock
//! another thread may hold.
//!
//! # When a process ends: its children first
//!
//! Python's `multiprocessing` registers an `atexit` handler that, when the
//! main program ends, terminates the daemonic children and joins the
//! others, and a child runs the same after its target: a parent does not
//! end while the children it did not stop still run. Here:
//!
//! - The first [`Process::start`] of a process registers a C `atexit`
//!   hook. When the process exits normally — `main` returns, a panic
//!   unwinds out of `main` (after the panic message), or
//!   `std::process::exit` — the hook sends `SIGTERM` to the daemonic
//!   children, joins the non-daemonic ones for as long as they run, then
//!   joins the daemonic ones, `SIGKILL`ing those still there after one
//!   second (Python joins them without a limit; a daemon that blocks
//!   `SIGTERM` would hold the exit for ever).
//! - A [`Process`] child does the same when its target returns or panics,
//!   before its `_exit`.
//! - [`exit`] (`_exit`, Python's `os._exit`), `panic = "abort"`, and death
//!   by a signal skip it. Children of a plain [`fork`] are not joined (as
//!   Python's `os.fork` children are not).
//! - It covers every child this process tracks — handles dropped
//!   included, and so a [`Pool`](crate::pool::Pool)'s workers and a
//!   [`Manager`](crate::manager::Manager)'s server still running (both
//!   daemonic children). A forked child has its own table, so the hook it
//!   inherits joins only the children it started itself.
//! - The opt-out is [`set_join_at_exit`]`(false)`: the process then ends
//!   at once and its non-daemonic children run on, as with
//!   `std::process::Child`.
//!
//! The hook allocates nothing and takes only the child table's spin lock
//! (never held across a blocking call), so threads still running at exit
//! cannot deadlock it.
//!
//! # Daemonic processes
//!
//! A [`daemon`](Process::daemon) child is `SIGKILL`ed when its parent dies,
//! by any cause (`PR_SET_PDEATHSIG`). Linux sends that signal when the
//! parent *thread* that forked the child ends, not the parent process:
//! start daemonic children — and so pools and managers — from the main
//! thread or a thread that lives as long as they should. Python's rule
//! "daemonic processes are not allowed to have children" holds:
//! [`Process::start`] in a daemonic process fails with
//! [`ErrorKind::DaemonicParent`], and so do [`Pool`](crate::pool::Pool)
//! and [`Manager`](crate::manager::Manager), whose workers and server are
//! daemonic children (Python refuses them there too). A plain [`fork`]
//! stays allowed.

mod at_exit;
mod registry;

use core::fmt;
use std::io::Write as _;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::config::{MAX_CHILDREN, NAME_LEN};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::signal::Signal;
use crate::sys::mem::ProcessShared;
use crate::sys::process::{self as sysproc, ForkPermit};
use crate::sys::{self, Errno};

/// A process id: always positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(i32);

impl Pid {
    /// The pid `raw`, or `None` unless it is positive (0 and negative
    /// numbers name process groups or "every process" in `kill(2)`, not a
    /// process).
    pub const fn from_raw(raw: i32) -> Option<Pid> {
        if raw > 0 { Some(Pid(raw)) } else { None }
    }

    /// The number, as the C API takes it.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    pub(crate) fn from_kernel(raw: i32) -> Pid {
        // The kernel only hands out positive pids.
        Pid(raw.max(1))
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `getpid(2)`: the calling process's pid. Python's `os.getpid`.
#[doc(alias = "os.getpid")]
pub fn getpid() -> Pid {
    Pid::from_kernel(sysproc::getpid())
}

/// `getppid(2)`: the parent's pid. Python's `os.getppid`. After the parent
/// dies this is the pid of the process that adopted this one (init or a
/// subreaper).
#[doc(alias = "os.getppid")]
pub fn getppid() -> Pid {
    Pid::from_kernel(sysproc::getppid())
}

/// `getpgrp(2)`: the calling process's process group, for
/// [`killpg`](crate::signal::killpg).
pub fn getpgrp() -> Pid {
    Pid::from_kernel(sysproc::getpgrp())
}

/// `setpgid(2)`: moves the process `pid` — the caller or one of its
/// children that has not called `exec` — into the process group `pgid`
/// of the same session (`pgid == pid`: a new group that `pid` leads).
/// Python's `os.setpgid`. A supervisor puts a child and everything the
/// child forks in a group of their own, to signal them all at once with
/// [`killpg`](crate::signal::killpg); calling it in both the parent and
/// the child, as shells do, closes the race with the parent's first
/// `killpg`.
///
/// # Errors
///
/// [`ErrorKind::NoSuchProcess`] when `pid` is neither the caller nor one
/// of its children; [`ErrorKind::PermissionDenied`] for a child that has
/// called `exec` or is in another session, or a group of another session.
#[doc(alias = "os.setpgid")]
pub fn setpgid(pid: Pid, pgid: Pid) -> Result<()> {
    sysproc::setpgid(pid.as_raw(), pgid.as_raw())
        .map_err(|e| Error::os("setpgid", Resource::Pid(pid), e))
}

/// `setpgid(0, 0)`: makes the calling process the leader of a new process
/// group, which the children it forks from now on join. Python's
/// `os.setpgrp`.
///
/// # Errors
///
/// [`ErrorKind::PermissionDenied`] for a session leader, which cannot
/// leave its group.
#[doc(alias = "os.setpgrp")]
pub fn setpgrp() -> Result<()> {
    sysproc::setpgid(0, 0).map_err(|e| Error::os("setpgid", Resource::CurrentProcess, e))
}

/// `prctl(PR_SET_CHILD_SUBREAPER)`: makes the calling process adopt its
/// orphaned descendants (instead of init), so it can reap them with
/// [`waitpid`] and learn how they ended. A supervisor's tool: a daemon
/// whose worker dies leaves the worker's own children to it.
///
/// # Errors
///
/// Only if the kernel refuses, which Linux 3.4 and later do not.
pub fn set_child_subreaper(on: bool) -> Result<()> {
    sysproc::set_child_subreaper(on)
        .map_err(|e| Error::os("prctl(PR_SET_CHILD_SUBREAPER)", Resource::CurrentProcess, e))
}

/// Whether a process with this pid exists (`kill(pid, 0)`), including one
/// that belongs to another user and zombies not yet reaped.
///
/// # Errors
///
/// Only for an errno other than `ESRCH` and `EPERM`, which the kernel does
/// not return here.
pub fn exists(pid: Pid) -> Result<bool> {
    match sysproc::kill(pid.as_raw(), 0) {
        Ok(()) | Err(Errno::EPERM) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(Error::os("kill(0)", Resource::Pid(pid), e)),
    }
}

/// The number of CPUs online, as Python's `multiprocessing.cpu_count()`
/// and `os.cpu_count()` report it (`sysconf(_SC_NPROCESSORS_ONLN)`; not
/// reduced by CPU affinity).
///
/// # Errors
///
/// When the C library cannot tell.
#[doc(alias = "multiprocessing.cpu_count")]
pub fn cpu_count() -> Result<usize> {
    sysproc::cpu_count()
        .map_err(|e| Error::os("cpu_count", Resource::Path("/sys/devices/system/cpu"), e))
}

/// The number of threads in the calling process (from `/proc/self/stat`).
///
/// # Errors
///
/// When `/proc` is not mounted, and `ENOTSUP` under qemu-user, which hides
/// the count (there, the fork thread policy cannot check and lets the fork
/// through).
pub fn thread_count() -> Result<u32> {
    sysproc::thread_count()
        .map_err(|e| Error::os("thread_count", Resource::Path("/proc/self/stat"), e))
}

fn check_single_threaded(op: &'static str) -> Result<ForkPermit> {
    sysproc::ForkPermit::single_threaded()
        .map_err(|e| Error::os(op, Resource::Path("/proc/self/stat"), e))?
        .map_err(|threads| {
            Error::new(
                op,
                Resource::CurrentProcess,
                ErrorKind::ThreadsRunning { threads },
            )
        })
}

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
fn prepare_lineage(child: Option<(usize, &Name, &Name)>) {
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
fn next_default_name() -> (Name, Name) {
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
    /// [`Process`] name in a child.
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

/// The children started by [`Process`] that are still running, after
/// reaping every one that has ended (including those whose handle was
/// dropped). Python's `multiprocessing.active_children()`.
///
/// Allocation-free: the list has the capacity `MPROC_MAX_CHILDREN`.
#[doc(alias = "multiprocessing.active_children")]
pub fn active_children() -> heapless::Vec<Pid, MAX_CHILDREN> {
    let mut alive = heapless::Vec::new();
    // The table holds at most MAX_CHILDREN pids, so every push fits.
    registry::active_children(|pid| {
        let _ = alive.push(Pid::from_kernel(pid));
    });
    alive
}

// ------------------------------------------------------------------- fork

/// Which side of a [`fork`] the caller is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// The new process; its own pid.
    Child(Pid),
    /// The calling process; the new child's pid.
    Parent(Pid),
}

/// `fork(2)`: Python's `os.fork`. The child is a copy of the caller and
/// continues from here; the parent must reap it ([`waitpid`]).
///
/// The child starts as described in the crate docs ("The fork contract"):
/// an empty signal mask, handlers this crate registered reset to the
/// default, no tracked children, and [`parent_process`] set. For a child
/// that runs one function and exits, use [`Process`].
///
/// # Errors
///
/// [`ErrorKind::ThreadsRunning`] when the process runs more than one
/// thread (see "The thread policy" above); `EAGAIN`/`ENOMEM` when the
/// kernel cannot create the process.
#[doc(alias = "os.fork")]
pub fn fork() -> Result<Fork> {
    fork_permitted(check_single_threaded("fork")?)
}

/// [`fork`] without the thread check.
///
/// # Safety
///
/// If the process runs other threads, the child inherits every lock they
/// held at the instant of the fork, held forever. Until it calls `exec` or
/// `_exit`, the child must take no lock another thread may have held: no
/// `println!`/`eprintln!` (stdout and stderr locks), no `std::env`, no
/// mutex of the program's own. The allocator is safe with glibc.
#[allow(unsafe_code)] // A public unsafe opt-in: its contract goes to ForkPermit::assume.
pub unsafe fn fork_with_threads() -> Result<Fork> {
    // SAFETY: forwarded from this function's contract.
    fork_permitted(unsafe { ForkPermit::assume() })
}

fn fork_permitted(permit: ForkPermit) -> Result<Fork> {
    flush_stdio();
    prepare_lineage(None);
    match sysproc::fork(permit) {
        Ok(sysproc::RawFork::Parent(child)) => Ok(Fork::Parent(Pid::from_kernel(child))),
        Ok(sysproc::RawFork::Child { masked }) => {
            after_fork_in_child(masked);
            Ok(Fork::Child(getpid()))
        }
        Err(e) => Err(Error::os("fork", Resource::CurrentProcess, e)),
    }
}

/// Flushes Rust's stdout (its stderr has no buffer) so that buffered output
/// is not written twice, once by each side of a fork (as Python flushes
/// before it forks).
fn flush_stdio() {
    // Only stdout: std's stderr is unbuffered, and locking it to flush
    // nothing would write its lock word, a copy-on-write fault per fork.
    let _ = std::io::stdout().flush();
}

/// The runtime's part of a new child, before anything else runs in it.
fn after_fork_in_child(masked: bool) {
    registry::clear_in_child();
    if sys::signal::reset_claimed_in_child(masked).is_err() {
        // Cannot happen for valid signals; say so and stop rather than run
        // with handlers meant for the parent.
        sysproc::write_stderr_raw(b"mproc: could not reset signal handlers in a forked child\n");
        sysproc::exit_now(1);
    }
}

/// Turns a raw wait status into Python's exit code: the exit status, or
/// minus the signal that killed the process.
fn exitcode_of(exit: sysproc::Exit) -> i32 {
    match exit {
        sysproc::Exit::Code(code) => code,
        sysproc::Exit::Signal(sig) => -sig,
    }
}

/// `waitpid(2)`: waits until the child `pid` ends, reaps it, and returns its
/// exit code as Python reports it (negative: killed by that signal). For
/// children of [`fork`]; a [`Process`] is reaped by its own methods.
///
/// # Errors
///
/// [`ErrorKind::NoSuchProcess`] (`ECHILD`) when `pid` is not an unreaped
/// child of this process.
#[doc(alias = "os.waitpid")]
pub fn waitpid(pid: Pid) -> Result<i32> {
    match sysproc::waitpid(pid.as_raw(), true) {
        Ok(Some(raw)) => Ok(exitcode_of(sysproc::decode_status(raw))),
        Ok(None) => unreachable_wait(pid),
        Err(e) => Err(wait_error(pid, e)),
    }
}

/// [`waitpid`] without blocking: `None` while the child runs.
///
/// # Errors
///
/// As [`waitpid`].
pub fn try_waitpid(pid: Pid) -> Result<Option<i32>> {
    match sysproc::waitpid(pid.as_raw(), false) {
        Ok(raw) => Ok(raw.map(|raw| exitcode_of(sysproc::decode_status(raw)))),
        Err(e) => Err(wait_error(pid, e)),
    }
}

/// [`waitpid`] for at most `timeout`: `None` when the child still runs.
///
/// # Errors
///
/// As [`waitpid`].
pub fn waitpid_timeout(pid: Pid, timeout: Duration) -> Result<Option<i32>> {
    if let Some(code) = try_waitpid(pid)? {
        return Ok(Some(code));
    }
    let pidfd = sysproc::pidfd_open(pid.as_raw()).map_err(|e| wait_error(pid, e))?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        sys::poll_readable(pidfd.as_fd(), Some(left)).map_err(|e| wait_error(pid, e))?;
        if let Some(code) = try_waitpid(pid)? {
            return Ok(Some(code));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
    }
}

fn wait_error(pid: Pid, e: Errno) -> Error {
    let e = if e == Errno::ECHILD { Errno::ESRCH } else { e };
    Error::os("waitpid", Resource::Pid(pid), e)
}

fn unreachable_wait(pid: Pid) -> Result<i32> {
    // A blocking waitpid returns a pid or an error, never 0.
    Err(Error::os("waitpid", Resource::Pid(pid), Errno::EINVAL))
}

// ---------------------------------------------------------------- Process

/// Ends the calling process now with exit status `code`, after flushing
/// Rust's stdout and stderr: `_exit(2)`, so no destructors or `atexit`
/// handlers run, and the process does not join its children (unlike a
/// return from the target or from `main`: see the module docs, "When a
/// process ends"). In a [`Process`] target this is Python's `sys.exit(code)`
/// (a target that returns normally exits with 0); elsewhere it is
/// `os._exit(code)` with a flush. Only the low 8 bits reach the parent.
///
/// No destructor runs, so a lock guard still in scope is **not** released
/// (Python's `sys.exit` inside `with lock:` would release it): the next
/// process to take that lock gets [`OwnerDied`](crate::sync::OwnerDied).
/// Drop guards before calling this.
#[doc(alias = "sys.exit", alias = "os._exit", alias = "_exit")]
pub fn exit(code: i32) -> ! {
    flush_stdio();
    sysproc::exit_now(code)
}

/// Whether the kernel has `pidfd_open` (0: not probed yet, 1: yes, 2: no).
static PIDFD: AtomicU8 = AtomicU8::new(0);

fn pidfd_supported() -> bool {
    match PIDFD.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let ok = !matches!(sysproc::pidfd_open(sysproc::getpid()), Err(Errno::ENOSYS));
            PIDFD.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// A started child.
#[derive(Debug)]
struct Child {
    pid: Pid,
    /// Its slot in the registry.
    slot: usize,
    /// Readable once the child has ended, and whether it is a pidfd (which
    /// can also send signals). On kernels before 5.3, the read end of a pipe
    /// whose write end only the child holds, made before the fork.
    /// Otherwise made on first use ([`Process::sentinel`],
    /// [`Process::join_timeout`]): a pidfd while the child is unreaped, else
    /// a pipe with no writer (readable at once). Not at start: `pidfd_open`
    /// and its `close` cost about a tenth of a bare fork+wait.
    sentinel: OnceLock<(OwnedFd, bool)>,
    /// The process that started it: only that one may wait for it.
    owner: i32,
}

impl Child {
    /// The child's sentinel and whether it is a pidfd, made on first use.
    fn sentinel(&self, op: &'static str) -> Result<(BorrowedFd<'_>, bool)> {
        if self.sentinel.get().is_none() {
            // Not reaped (a zombie included), the pid is still the child's: a
            // pidfd. Reaped: a pipe with no writer, readable at once. Reaps
            // nothing, as Python's sentinel does not.
            let made = match registry::with_unreaped(self.slot, self.pid.as_raw(), || {
                sysproc::pidfd_open(self.pid.as_raw())
            }) {
                Some(Ok(fd)) => Ok((fd, true)),
                // ESRCH: reaped elsewhere (ChildLost), so it has ended too.
                None | Some(Err(Errno::ESRCH)) => {
                    sysproc::pipe().map(|(read, _write)| (read, false))
                }
                Some(Err(e)) => Err(e),
            }
            .map_err(|e| Error::os(op, Resource::Pid(self.pid), e))?;
            // Another thread may have made one meanwhile: keep the first.
            let _ = self.sentinel.set(made);
        }
        match self.sentinel.get() {
            Some((fd, pidfd)) => Ok((fd.as_fd(), *pidfd)),
            None => Err(Error::new(
                op,
                Resource::Pid(self.pid),
                ErrorKind::NotStarted,
            )),
        }
    }
}

/// A child process that runs a closure: Python's `multiprocessing.Process`
/// with the fork start method.
///
/// ```no_run
/// use mproc::process::Process;
/// let greeting = String::from("hello");
/// let mut p = Process::new(move || println!("{greeting} from the child"))
///     .with_name("greeter")?;
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// # Lifecycle
///
/// - [`start`](Process::start) forks; the child runs the target, joins the
///   children it started (unless [`set_join_at_exit`]`(false)`), flushes
///   stdout and stderr, and exits with `_exit` — it never returns into the
///   parent's code. A target that returns exits with 0; one that calls
///   [`exit`]`(n)` (Python's `sys.exit(n)`, but joining nothing) with `n`.
///   A panic in the target exits with code 1 after the panic message is
///   printed to stderr (with `panic = "abort"` it dies of `SIGABRT`: exit
///   code -6).
/// - [`exitcode`](Process::exitcode) is `None` while running, then the exit
///   status, or minus the signal that killed it (-9 after
///   [`kill`](Process::kill), -15 after [`terminate`](Process::terminate)),
///   exactly as in Python.
/// - Every started child is reaped: by [`join`](Process::join), by
///   [`is_alive`](Process::is_alive)/[`exitcode`](Process::exitcode) once it
///   has ended, by [`active_children`], or when the handle is dropped.
/// - **Dropping the handle of a running child** does not stop it (as in
///   Python, and as `std::process::Child`): the child runs on, detached, and
///   is reaped by the next [`active_children`] or [`Process::start`] after it
///   ends, or by the parent's exit, which joins it (see the module docs,
///   "When a process ends"). Call [`terminate`](Process::terminate) or
///   [`kill`](Process::kill) and [`join`](Process::join) first to stop it. A
///   child marked [`daemon`](Process::daemon) still dies with its parent.
pub struct Process<F> {
    target: Option<F>,
    name: Name,
    /// The number path behind a default name (see [`Identity::path`]).
    path: Name,
    daemon: bool,
    child: Option<Child>,
}

impl<F> fmt::Debug for Process<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("daemon", &self.daemon)
            .finish()
    }
}

impl<F: FnOnce()> Process<F> {
    /// A process that will run `target` once started; named `Process-N`,
    /// not a daemon. Python's `Process(target=f)`; arguments are whatever the
    /// closure captures.
    pub fn new(target: F) -> Process<F> {
        let (name, path) = next_default_name();
        Process {
            target: Some(target),
            name,
            path,
            daemon: false,
            child: None,
        }
    }

    /// Names the process (Python's `name=`), builder style.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] when `name` is longer than
    /// `MPROC_NAME_LEN` bytes. The process is consumed either way; to keep
    /// it on failure, use [`Process::set_name`].
    pub fn with_name(mut self, name: &str) -> Result<Process<F>> {
        self.set_name(name)?;
        Ok(self)
    }

    /// Renames the process (Python's `p.name = ...`); allowed after the
    /// start too, as in Python, where it changes only this handle's name.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] when `name` is longer than
    /// `MPROC_NAME_LEN` bytes; the old name stays.
    pub fn set_name(&mut self, name: &str) -> Result<()> {
        self.name = Name::new(name)?;
        Ok(())
    }

    /// Marks the process as a daemon (Python's `daemon=True`): it is killed
    /// with `SIGKILL` when its parent dies, by any cause, including
    /// `SIGKILL` (`PR_SET_PDEATHSIG`, plus a check of the parent's pid right
    /// after, for a parent that died during the fork).
    ///
    /// Linux ties this to the *thread* that forked: start daemons from the
    /// main thread or a thread that lives as long as the process.
    ///
    /// A daemonic process may not start children of its own
    /// ([`ErrorKind::DaemonicParent`], see [`is_daemon`]); when its parent
    /// exits normally, it is sent `SIGTERM` and joined (see the module
    /// docs, "When a process ends").
    pub fn daemon(mut self, daemon: bool) -> Process<F> {
        self.daemon = daemon;
        self
    }

    /// Forks the child, which runs the target and exits. Python's
    /// `Process.start`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyStarted`] on a second call;
    /// [`ErrorKind::DaemonicParent`] in a daemonic process ([`is_daemon`]);
    /// [`ErrorKind::ThreadsRunning`] when the process runs other threads
    /// (see the module docs); [`ErrorKind::CapacityExceeded`] when
    /// `MPROC_MAX_CHILDREN` children are already tracked; `EAGAIN` when the
    /// kernel refuses a new process (`RLIMIT_NPROC`, `pid_max`).
    pub fn start(&mut self) -> Result<()> {
        if self.target.is_none() {
            return Err(self.error("Process::start", ErrorKind::AlreadyStarted));
        }
        let permit = check_single_threaded("Process::start")?;
        self.start_permitted(permit)
    }

    /// [`Process::start`] without the thread check.
    ///
    /// # Safety
    ///
    /// As [`fork_with_threads`]: if other threads run, the target must take
    /// no lock they may have held (no `println!`; write with
    /// `std::io::Write` on a raw descriptor instead), and neither may
    /// anything it calls. The runtime's own child set-up takes none.
    ///
    /// # Errors
    ///
    /// As [`Process::start`], less `ThreadsRunning`.
    #[allow(unsafe_code)] // A public unsafe opt-in: its contract goes to ForkPermit::assume.
    pub unsafe fn start_with_threads(&mut self) -> Result<()> {
        // SAFETY: forwarded from this function's contract.
        self.start_permitted(unsafe { ForkPermit::assume() })
    }

    fn start_permitted(&mut self, permit: ForkPermit) -> Result<()> {
        if self.target.is_none() {
            return Err(self.error("Process::start", ErrorKind::AlreadyStarted));
        }
        if is_daemon() {
            return Err(Error::new(
                "Process::start",
                Resource::CurrentProcess,
                ErrorKind::DaemonicParent,
            ));
        }
        let Some(target) = self.target.take() else {
            return Err(self.error("Process::start", ErrorKind::AlreadyStarted));
        };
        let Some(slot) = registry::reserve(self.daemon) else {
            self.target = Some(target);
            return Err(Error::new(
                "Process::start",
                Resource::Capacity("MPROC_MAX_CHILDREN"),
                ErrorKind::CapacityExceeded {
                    limit: MAX_CHILDREN,
                },
            ));
        };
        let use_pidfd = pidfd_supported();
        let pipe = if use_pidfd {
            None
        } else {
            match sysproc::pipe() {
                Ok(p) => Some(p),
                Err(e) => {
                    registry::unreserve(slot);
                    self.target = Some(target);
                    return Err(Error::os("pipe", Resource::CurrentProcess, e));
                }
            }
        };
        flush_stdio();
        prepare_lineage(Some((slot, &self.name, &self.path)));
        let parent = sysproc::getpid();
        at_exit::arm(parent);
        match sysproc::fork(permit) {
            Err(e) => {
                registry::unreserve(slot);
                self.target = Some(target);
                Err(Error::os("fork", Resource::CurrentProcess, e))
            }
            Ok(sysproc::RawFork::Child { masked }) => {
                // Keep the pipe's write end open until _exit: its closing is
                // what the parent's sentinel sees.
                if let Some((read, write)) = pipe {
                    drop(read);
                    std::mem::forget(write);
                }
                run_child(parent, self.daemon, masked, target)
            }
            Ok(sysproc::RawFork::Parent(raw)) => {
                registry::assign(slot, raw);
                let pid = Pid::from_kernel(raw);
                let sentinel = OnceLock::new();
                if let Some((read, write)) = pipe {
                    drop(write);
                    let _ = sentinel.set((read, false));
                }
                self.child = Some(Child {
                    pid,
                    slot,
                    sentinel,
                    owner: parent,
                });
                Ok(())
            }
        }
    }
}

/// The child side of [`Process::start`]: never returns.
fn run_child<F: FnOnce()>(parent: i32, daemon: bool, masked: bool, target: F) -> ! {
    after_fork_in_child(masked);
    // Written only when it changes: a store to inherited memory costs a
    // copy-on-write fault.
    if DAEMONIC.load(Ordering::Relaxed) != daemon {
        DAEMONIC.store(daemon, Ordering::Relaxed);
    }
    if daemon {
        let armed = sysproc::set_parent_death_signal(Signal::KILL.as_raw()).is_ok();
        // The parent may have died between fork and prctl; then no signal
        // will ever come, so behave as if it had.
        if !armed || sysproc::getppid() != parent {
            let _ = sysproc::kill(sysproc::getpid(), Signal::KILL.as_raw());
            sysproc::exit_now(1);
        }
    }
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(target)) {
        Ok(()) => 0,
        Err(payload) => {
            // The panic hook has printed the message; dropping the payload
            // could panic again, and the process ends now anyway.
            std::mem::forget(payload);
            1
        }
    };
    // Python's `_bootstrap` runs `_exit_function` after the target, also
    // when it raised: the child's own children are joined here.
    at_exit::join_children_of_child(parent);
    exit(code)
}

/// Whether this process is daemonic: a [`Process`] started with
/// [`daemon(true)`](Process::daemon), or a [`fork`] of one (Python's
/// `current_process().daemon`). A daemonic process may not start
/// [`Process`] children, and so no [`Pool`](crate::pool::Pool) or
/// [`Manager`](crate::manager::Manager), which fork theirs through
/// [`Process`]: [`ErrorKind::DaemonicParent`], Python's "daemonic processes
/// are not allowed to have children". It is killed with its parent, with
/// no chance to stop or join children of its own. A plain [`fork`] stays
/// allowed, as `os.fork` is in Python.
pub fn is_daemon() -> bool {
    DAEMONIC.load(Ordering::Relaxed)
}

/// See [`is_daemon`]: set in a [`Process`] child, inherited by its forks.
static DAEMONIC: AtomicBool = AtomicBool::new(false);

/// Whether a process joins its children when it ends (on by default, as in
/// Python): see [`set_join_at_exit`].
pub fn join_at_exit() -> bool {
    at_exit::enabled()
}

/// Turns the join at exit on or off for the calling process (and the
/// children it forks from now on, which inherit the setting).
///
/// On (the default), a process that has started [`Process`] children ends
/// as Python's does: when it exits normally — `main` returns (a panic out
/// of `main` included: the panic message comes first), or
/// `std::process::exit` — and when a [`Process`] target returns or panics,
/// it first sends `SIGTERM` to its daemonic children, then joins the
/// others (for as long as they run), then joins the daemonic ones, which
/// get one second before a `SIGKILL`. This covers every tracked child,
/// handles dropped or not, the [`Pool`](crate::pool::Pool)'s workers and
/// the [`Manager`](crate::manager::Manager)'s server (daemonic children
/// both). [`exit`] (`_exit`) and death by a signal skip it; children of a
/// plain [`fork`] are never joined.
///
/// Off, the process ends at once and its running children go on without
/// it (daemonic ones still die with it, by `PR_SET_PDEATHSIG`), as Rust's
/// `std::process::Child` would: Python's behaviour without its `atexit`
/// handler.
pub fn set_join_at_exit(on: bool) {
    at_exit::set_enabled(on);
}

impl<F> Process<F> {
    fn error(&self, op: &'static str, kind: ErrorKind) -> Error {
        let resource = match &self.child {
            Some(child) => Resource::Pid(child.pid),
            None => Resource::UnstartedProcess,
        };
        Error::new(op, resource, kind)
    }

    /// The started child owned by the calling process.
    fn child(&self, op: &'static str) -> Result<&Child> {
        match &self.child {
            None => Err(self.error(op, ErrorKind::NotStarted)),
            Some(child) if child.owner != sysproc::getpid() => Err(Error::new(
                op,
                Resource::Pid(child.pid),
                ErrorKind::InvalidArgument("can only wait for a child of the calling process"),
            )),
            Some(child) => Ok(child),
        }
    }

    /// The child's pid once started (Python's `pid`, `None` before).
    pub fn pid(&self) -> Option<Pid> {
        self.child.as_ref().map(|c| c.pid)
    }

    /// The name (Python's `name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the process is a daemon (Python's `daemon`).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    fn status(&self, child: &Child, block: bool, op: &'static str) -> Result<Option<i32>> {
        match registry::reap(child.slot, child.pid.as_raw(), block) {
            Ok(registry::Status::Running) => Ok(None),
            Ok(registry::Status::Ended(exit)) => Ok(Some(exitcode_of(exit))),
            Ok(registry::Status::Lost) => Err(Error::new(
                op,
                Resource::Pid(child.pid),
                ErrorKind::ChildLost,
            )),
            Err(e) => Err(Error::os(op, Resource::Pid(child.pid), e)),
        }
    }

    /// Waits until the child ends, reaps it, and returns its exit code
    /// (Python's `join()` followed by `exitcode`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`];
    /// [`ErrorKind::ChildLost`] when the program reaped the child elsewhere.
    pub fn join(&self) -> Result<i32> {
        let child = self.child("Process::join")?;
        match self.status(child, true, "Process::join")? {
            Some(code) => Ok(code),
            None => Err(Error::new(
                "Process::join",
                Resource::Pid(child.pid),
                ErrorKind::Timeout,
            )),
        }
    }

    /// Waits at most `timeout` for the child to end: its exit code, or
    /// `None` if it still runs (Python's `join(timeout)`).
    ///
    /// # Errors
    ///
    /// As [`Process::join`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<i32>> {
        let op = "Process::join";
        let child = self.child(op)?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.status(child, false, op)? {
                return Ok(Some(code));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let (sentinel, pidfd) = child.sentinel(op)?;
            sys::poll_readable(sentinel, Some(left))
                .map_err(|e| Error::os(op, Resource::Pid(child.pid), e))?;
            if !pidfd && self.status(child, false, op)?.is_none() {
                // The pipe closed but the child has not ended (it exec'd or
                // closed the descriptor): fall back to waiting out the time.
                let left = deadline.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(Duration::from_millis(1)));
            }
        }
    }

    /// The exit code (Python's `exitcode`): `None` before the start and while
    /// the child runs; reaps the child if it has ended.
    pub fn exitcode(&self) -> Option<i32> {
        let child = self.child("Process::exitcode").ok()?;
        self.status(child, false, "Process::exitcode")
            .ok()
            .flatten()
    }

    /// Whether the child has been started and has not ended (Python's
    /// `is_alive()`); reaps it if it has ended.
    pub fn is_alive(&self) -> bool {
        match self.child("Process::is_alive") {
            Ok(child) => matches!(self.status(child, false, "Process::is_alive"), Ok(None)),
            Err(_) => false,
        }
    }

    /// Sends `SIGTERM` (Python's `terminate()`). Does nothing if the child
    /// has already ended.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`].
    pub fn terminate(&self) -> Result<()> {
        self.send_signal(Signal::TERM)
    }

    /// Sends `SIGKILL` (Python's `kill()`). Does nothing if the child has
    /// already ended.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`].
    pub fn kill(&self) -> Result<()> {
        self.send_signal(Signal::KILL)
    }

    /// Sends `sig` to the child. Does nothing if the child has already
    /// ended.
    ///
    /// The signal cannot reach another process that reused the pid: it goes
    /// through the child's pidfd when one is open, and otherwise by `kill(2)`
    /// right after checking that the child is not reaped yet (a pid is not
    /// reused before its process is reaped, and this crate reaps its
    /// children only through their handles and [`active_children`]; a
    /// program that reaps them elsewhere gets [`ErrorKind::ChildLost`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`].
    pub fn send_signal(&self, sig: Signal) -> Result<()> {
        let op = "Process::send_signal";
        let child = self.child(op)?;
        if self.status(child, false, op)?.is_some() {
            return Ok(());
        }
        let sent = match child.sentinel.get() {
            Some((fd, true)) => sysproc::pidfd_send_signal(fd.as_fd(), sig.as_raw()),
            _ => sysproc::kill(child.pid.as_raw(), sig.as_raw()),
        };
        match sent {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(Error::os(op, Resource::Pid(child.pid), e)),
        }
    }

    /// A descriptor that becomes readable when the child ends (Python's
    /// `sentinel`): a pidfd, or on kernels before 5.3 a pipe. Poll it with
    /// other descriptors; it stays readable after the child is reaped. Made
    /// on the first call (then a pipe with no writer if the child was
    /// already reaped) and kept for the handle's life.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotStarted`] before [`Process::start`]; `EMFILE` and the
    /// like when no descriptor can be made.
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>> {
        let op = "Process::sentinel";
        let child = self.child(op)?;
        Ok(child.sentinel(op)?.0)
    }
}

impl<F> Drop for Process<F> {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A copy of the handle inherited by a forked child is not the
            // owner; the table it would touch was cleared there.
            if child.owner == sysproc::getpid() {
                registry::release(child.slot, child.pid.as_raw());
            }
        }
    }
}
