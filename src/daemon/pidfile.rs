//! [`Pidfile`]: the file operators read a daemon's pid from
//! (`kill -USR1 $(cat /run/foo.pid)`).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Resource, Result};
use crate::process::{self, Pid};
use crate::sys;

/// The longest pidfile path kept in errors (their `Resource` is inline).
fn resource(path: &Path) -> Resource {
    Resource::Text {
        what: "a pidfile path",
        len: path.as_os_str().len(),
    }
}

/// A pidfile, created exclusively and removed when dropped by the process
/// that created it (a forked child's copy leaves it).
///
/// ```no_run
/// use mproc::daemon::Pidfile;
/// let pidfile = Pidfile::create("/run/mydaemon.pid")?;
/// // … serve …
/// drop(pidfile); // removes it
/// # Ok::<(), mproc::Error>(())
/// ```
///
/// The file holds the pid in decimal and a newline, mode `0644` (operators
/// and their scripts read it). A pidfile left by a daemon that died is
/// *stale*: its pid is no longer alive (or the file does not hold a pid),
/// and [`Pidfile::create`] replaces it. A pid that was reused by an
/// unrelated process makes a stale file look live; the error then names
/// that pid, for the operator to check.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    owner: i32,
}

impl Pidfile {
    /// Creates `path` holding this process's pid.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyRunning`] naming the pid when the file exists
    /// and that process is alive (nothing is changed); the file system's
    /// refusals (`PermissionDenied`, `NotFound` for a missing directory).
    pub fn create(path: impl AsRef<Path>) -> Result<Pidfile> {
        const OP: &str = "Pidfile::create";
        let path = path.as_ref();
        // Twice at most: once more after removing a stale file.
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut file) => {
                    let pid = sys::process::getpid();
                    let mut line = heapless::String::<16>::new();
                    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("{pid}\n"));
                    if let Err(e) = file.write_all(line.as_bytes()) {
                        let _ = std::fs::remove_file(path);
                        return Err(io_error(OP, path, &e));
                    }
                    return Ok(Pidfile {
                        path: path.to_path_buf(),
                        owner: pid,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if let Some(pid) = Pidfile::read(path)? {
                        if process::exists(pid).unwrap_or(true) {
                            return Err(Error::new(
                                OP,
                                Resource::Pid(pid),
                                ErrorKind::AlreadyRunning { pid: pid.as_raw() },
                            ));
                        }
                    }
                    // Stale: its process is gone, or it holds no pid.
                    match std::fs::remove_file(path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io_error(OP, path, &e)),
                    }
                }
                Err(e) => return Err(io_error(OP, path, &e)),
            }
        }
        Err(Error::new(OP, resource(path), ErrorKind::AlreadyExists))
    }

    /// The pid a pidfile at `path` names: `None` when it holds no pid.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when there is no such file; the file
    /// system's other refusals.
    pub fn read(path: impl AsRef<Path>) -> Result<Option<Pid>> {
        let path = path.as_ref();
        let mut buf = [0u8; 32];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut buf))
            .map_err(|e| io_error("Pidfile::read", path, &e))?;
        Ok(core::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .and_then(Pid::from_raw))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        if self.owner == sys::process::getpid() {
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
