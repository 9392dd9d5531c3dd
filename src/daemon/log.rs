//! [`LogFile`]: a log that follows log rotation.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Resource, Result};
use crate::sys;

/// A log file opened for appending, which [`LogFile::reopen`] opens
/// afresh by its path: after logrotate (or an operator) moves the file
/// away and signals the daemon (`kill -USR1`, as gunicorn and nginx do),
/// the next lines go to a new file under the old name.
///
/// Each [`LogFile::line`] is one `write` to an `O_APPEND` file, so lines
/// from several processes sharing it never interleave within a line (up
/// to 1 KiB each). Writing allocates nothing.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: std::fs::File,
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
}

fn log_error(op: &'static str, path: &Path, e: &std::io::Error) -> Error {
    let errno = e
        .raw_os_error()
        .map_or(sys::Errno::EIO, sys::Errno::from_raw);
    Error::os(
        op,
        Resource::Text {
            what: "a log file path",
            len: path.as_os_str().len(),
        },
        errno,
    )
}

impl LogFile {
    /// Opens (creating it if need be) the log at `path` for appending.
    ///
    /// # Errors
    ///
    /// The file system's refusals.
    pub fn open(path: impl AsRef<Path>) -> Result<LogFile> {
        let path = path.as_ref();
        let file = open(path).map_err(|e| log_error("LogFile::open", path, &e))?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens the path afresh (after a rotation moved the file away); on an
    /// error the old file stays in use.
    ///
    /// # Errors
    ///
    /// The file system's refusals.
    pub fn reopen(&mut self) -> Result<()> {
        self.file = open(&self.path).map_err(|e| log_error("LogFile::reopen", &self.path, &e))?;
        Ok(())
    }

    /// Appends one line: `args` and a newline, in one write (cut at 1 KiB).
    ///
    /// # Errors
    ///
    /// The file system's refusals (`ENOSPC`…).
    pub fn line(&mut self, args: core::fmt::Arguments<'_>) -> Result<()> {
        let mut buf = heapless::String::<1024>::new();
        // A line longer than the buffer is cut where it stops fitting.
        let _ = core::fmt::Write::write_fmt(&mut buf, args);
        let mut bytes = heapless::Vec::<u8, 1025>::new();
        let _ = bytes.extend_from_slice(buf.as_bytes());
        let _ = bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .map_err(|e| log_error("LogFile::line", &self.path, &e))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
