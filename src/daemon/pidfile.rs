//! [`Pidfile`]: the file operators read a daemon's pid from
//! (`kill -USR1 $(cat /run/foo.pid)`).

use std::ffi::CStr;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::process::Pid;
use crate::sys;

/// The extended attribute that records the writer's start time.
const START_XATTR: &CStr = c"user.mproc.start";

/// The most bytes a pidfile of ours holds: a pid (at most 10 digits) and a
/// newline. Anything longer is not ours.
const MAX_LEN: usize = 11;

/// The longest pidfile path kept in errors (their `Resource` is inline).
fn resource(path: &Path) -> Resource {
    Resource::Text {
        what: "a pidfile path",
        len: path.as_os_str().len(),
    }
}

/// A pidfile, made exclusively and removed when dropped by the process
/// that made it (a forked child's copy leaves it).
///
/// ```no_run
/// use mproc::daemon::Pidfile;
/// let pidfile = Pidfile::create("/run/mydaemon.pid")?;
/// // … serve …
/// drop(pidfile); // removes it
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// The file holds the pid in decimal and a newline, nothing else, mode
/// `0644` (operators and their scripts read it; `kill $(cat file)` works).
/// It is written whole under a temporary name beside it and then linked
/// into place, so nobody ever reads a half-written pidfile. Where the file
/// system keeps user extended attributes, the file also carries the
/// writer's start time (`user.mproc.start`, clock ticks after boot, as
/// `/proc/<pid>/stat` gives it): with the pid, it names the writer even
/// after its pid is reused.
///
/// # Which pidfile is replaced
///
/// [`Pidfile::create`] replaces an existing file only when it is a
/// *stale* pidfile of this format: its pid is no longer alive (a zombie
/// counts as gone), or is alive but started at another time than the
/// file's recorded start time (the pid was reused). A file that holds
/// anything else (garbage, an empty file, a pid with spaces around it…) is
/// not ours: it is refused with [`ErrorKind::NotOurs`] and left as it is.
/// A live pid without a recorded start time (a file system without user
/// extended attributes, or a file written by another program) is taken
/// at its word: [`ErrorKind::AlreadyRunning`] names it, for the operator
/// to check. Starters that race for the same path are serialised by a
/// `flock` on the file they found, so only one of them replaces it.
///
/// Dropping the handle removes the path only while it is still the file
/// this handle wrote (same device and inode): a pidfile that another
/// process has put in its place since is left alone.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    owner: i32,
    /// The file written, by device and inode.
    written: (u64, u64),
    replaced: Option<Pid>,
}

/// What a pidfile found at the path says.
enum Found {
    /// Its pid is gone, or reused: the file may be replaced.
    Stale(Pid),
    /// Its pid is alive (and not shown to be reused).
    Live(Pid),
}

impl Pidfile {
    /// Makes `path` hold this process's pid, replacing a stale pidfile
    /// (see [Which pidfile is replaced](Pidfile#which-pidfile-is-replaced)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyRunning`] naming the pid when the file exists
    /// and that process is alive; [`ErrorKind::NotOurs`] when the file
    /// holds something else than a pid in this format (nothing is changed
    /// either way); the file system's refusals (`PermissionDenied`,
    /// `NotFound` for a missing directory).
    pub fn create(path: impl AsRef<Path>) -> Result<Pidfile> {
        const OP: &str = "Pidfile::create";
        let path = path.as_ref();
        let pid = sys::process::getpid();
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{pid}.tmp"));
        let temp = PathBuf::from(name);
        let written = write_temp(&temp, pid).map_err(|e| io_error(OP, path, &e))?;
        let made = place(OP, path, &temp);
        let _ = std::fs::remove_file(&temp);
        made.map(|replaced| Pidfile {
            path: path.to_path_buf(),
            owner: pid,
            written,
            replaced,
        })
    }

    /// The pid a pidfile at `path` names: `None` when it holds anything
    /// else than a pid in the format [`Pidfile::create`] writes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when there is no such file; the file
    /// system's other refusals.
    pub fn read(path: impl AsRef<Path>) -> Result<Option<Pid>> {
        let path = path.as_ref();
        let mut buf = [0u8; MAX_LEN + 1];
        let n = std::fs::File::open(path)
            .and_then(|mut f| read_up_to(&mut f, &mut buf))
            .map_err(|e| io_error("Pidfile::read", path, &e))?;
        Ok(parse(&buf[..n]))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pid named by the stale pidfile this one replaced, if it
    /// replaced one (for a daemon's log: "took over the pidfile of …").
    pub fn replaced(&self) -> Option<Pid> {
        self.replaced
    }
}

/// Writes this process's pid (and start time, where the file system keeps
/// it) into a new file at `temp`; the file's device and inode.
fn write_temp(temp: &Path, pid: i32) -> std::io::Result<(u64, u64)> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(temp)?;
    let done = (|| {
        let mut line = heapless::String::<16>::new();
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!("{pid}\n"));
        file.write_all(line.as_bytes())?;
        if let Some(start) = sys::process::start_time(pid).filter(|&s| s != 0) {
            let mut text = heapless::String::<24>::new();
            let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{start}"));
            // Best effort: without it, a reused pid is not recognised.
            let _ = sys::file::set_xattr(&file, START_XATTR, text.as_bytes());
        }
        let meta = file.metadata()?;
        Ok((meta.dev(), meta.ino()))
    })();
    if done.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    done
}

/// Puts the file written at `temp` at `path`: linked when the path is
/// free, renamed over a stale pidfile. The stale file's pid, if one was
/// replaced.
fn place(op: &'static str, path: &Path, temp: &Path) -> Result<Option<Pid>> {
    // A few rounds at most: each one starts over after another starter
    // changed the path under us.
    for _ in 0..8 {
        match std::fs::hard_link(temp, path) {
            Ok(()) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(op, path, &e)),
        }
        let mut existing = match std::fs::File::open(path) {
            Ok(f) => f,
            // Removed meanwhile: link again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(op, path, &e)),
        };
        // Starters that found this file take turns; whoever replaces it
        // does so holding the lock, and the next one sees a new file.
        sys::file::lock_exclusive(&existing).map_err(|e| Error::os(op, resource(path), e))?;
        let same = match (existing.metadata(), std::fs::symlink_metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            continue;
        }
        match judge(&mut existing).map_err(|e| match e {
            Judged::Io(e) => io_error(op, path, &e),
            Judged::NotOurs(found) => Error::new(op, resource(path), ErrorKind::NotOurs { found }),
        })? {
            Found::Live(pid) => {
                return Err(Error::new(
                    op,
                    Resource::Pid(pid),
                    ErrorKind::AlreadyRunning { pid: pid.as_raw() },
                ));
            }
            Found::Stale(pid) => {
                std::fs::rename(temp, path).map_err(|e| io_error(op, path, &e))?;
                return Ok(Some(pid));
            }
        }
    }
    Err(Error::new(op, resource(path), ErrorKind::AlreadyExists))
}

/// Why an existing file was not judged.
enum Judged {
    Io(std::io::Error),
    NotOurs(&'static str),
}

/// Reads an existing pidfile and says whether its writer is gone.
fn judge(file: &mut std::fs::File) -> core::result::Result<Found, Judged> {
    let mut buf = [0u8; MAX_LEN + 1];
    let n = read_up_to(file, &mut buf).map_err(Judged::Io)?;
    let text = &buf[..n];
    let pid = match parse(text) {
        Some(pid) => pid,
        None if text.is_empty() => return Err(Judged::NotOurs("an empty file")),
        None => {
            return Err(Judged::NotOurs("something else than a pid and a newline"));
        }
    };
    if sys::process::is_dead(pid.as_raw()) {
        return Ok(Found::Stale(pid));
    }
    // Alive: reused only if the writer's recorded start time says so.
    let mut start = [0u8; 24];
    let recorded = sys::file::get_xattr(&*file, START_XATTR, &mut start)
        .ok()
        .and_then(|n| core::str::from_utf8(&start[..n]).ok()?.parse::<u64>().ok());
    match (recorded, sys::process::start_time(pid.as_raw())) {
        (Some(then), Some(now)) if then != 0 && now != 0 && then != now => Ok(Found::Stale(pid)),
        _ => Ok(Found::Live(pid)),
    }
}

/// A pid in the format [`Pidfile::create`] writes: decimal digits (no
/// sign, no leading zero, no spaces), optionally one newline, a pid above
/// 0 that fits an `i32`.
fn parse(text: &[u8]) -> Option<Pid> {
    let digits = text.strip_suffix(b"\n").unwrap_or(text);
    if digits.is_empty() || digits[0] == b'0' || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(digits)
        .ok()?
        .parse::<i32>()
        .ok()
        .and_then(Pid::from_raw)
}

/// Reads until `buf` is full or the file ends.
fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        if self.owner != sys::process::getpid() {
            return;
        }
        // Only the file this handle wrote: a pidfile another process put
        // there since is theirs.
        let ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.written);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn io_error(op: &'static str, path: &Path, e: &std::io::Error) -> Error {
    let errno = e
        .raw_os_error()
        .map_or(sys::Errno::EIO, sys::Errno::from_raw);
    Error::os(op, resource(path), errno)
}
