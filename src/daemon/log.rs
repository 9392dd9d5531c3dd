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
/// to 1 KiB each). A busy loop batches its lines instead: [`LogFile::push`]
/// keeps a line in the batch (up to [`LogFile::BATCH`] bytes), and
/// [`LogFile::flush`] writes the batch in one `write`, whole lines only.
/// Writing allocates nothing (the batch is allocated once, when the file
/// is opened).
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: std::fs::File,
    /// Lines pushed and not yet written; never grown past its capacity.
    batch: Vec<u8>,
    /// The millisecond (since the epoch) the text in `stamp` shows.
    stamp_ms: Option<u128>,
    /// [`UtcTime`]'s text of `stamp_ms`, formatted once per millisecond.
    stamp: heapless::String<STAMP_BYTES>,
}

/// The length of [`UtcTime`]'s text (`2026-11-23T12:06:49.682Z`) for the
/// years 0000 to 9999.
const STAMP_BYTES: usize = 24;

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
            batch: Vec::with_capacity(LogFile::BATCH),
            stamp_ms: None,
            stamp: heapless::String::new(),
        })
    }

    /// Opens the path afresh (after a rotation moved the file away); on an
    /// error the old file stays in use.
    ///
    /// # Errors
    ///
    /// The file system's refusals.
    /// Lines pushed before go to the old file first.
    pub fn reopen(&mut self) -> Result<()> {
        let flushed = self.flush();
        self.file = open(&self.path).map_err(|e| log_error("LogFile::reopen", &self.path, &e))?;
        flushed
    }

    /// Appends one line: `args` and a newline, in one write (cut at 1 KiB).
    ///
    /// # Errors
    ///
    /// The file system's refusals (`ENOSPC`…).
    /// The lines pushed before it go in the same write, ahead of it.
    pub fn line(&mut self, args: core::fmt::Arguments<'_>) -> Result<()> {
        let pushed = self.push(args);
        let flushed = self.flush();
        pushed.and(flushed)
    }

    /// The most bytes of lines [`LogFile::push`] keeps before it writes
    /// them.
    pub const BATCH: usize = 8192;

    /// Keeps one line (`args` and a newline, cut at 1 KiB) in the batch,
    /// to be written by the next [`LogFile::flush`] (or [`LogFile::line`],
    /// [`LogFile::reopen`], or when it is dropped). A line that would not
    /// fit in the batch writes the batch first.
    ///
    /// # Errors
    ///
    /// The file system's refusals, when the batch had to be written.
    pub fn push(&mut self, args: core::fmt::Arguments<'_>) -> Result<()> {
        self.keep("", args)
    }

    /// [`LogFile::push`] of a line that starts with the time now
    /// ([`UtcTime`]) and a space. A busy loop's lines share the time's
    /// text: it is formatted once per millisecond, not once per line.
    ///
    /// # Errors
    ///
    /// The file system's refusals, when the batch had to be written.
    pub fn push_stamped(&mut self, args: core::fmt::Arguments<'_>) -> Result<()> {
        let now = std::time::SystemTime::now();
        let ms = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        if self.stamp_ms != Some(ms) {
            self.stamp.clear();
            // A year past 9999 is cut where it stops fitting.
            let _ = core::fmt::Write::write_fmt(&mut self.stamp, format_args!("{}", UtcTime(now)));
            self.stamp_ms = Some(ms);
        }
        let stamp = self.stamp.clone();
        self.keep(&stamp, args)
    }

    /// Keeps `prefix`, a space if it is not empty, and `args` as a line.
    fn keep(&mut self, prefix: &str, args: core::fmt::Arguments<'_>) -> Result<()> {
        let mut buf = heapless::String::<1024>::new();
        if !prefix.is_empty() {
            let _ = buf.push_str(prefix);
            let _ = buf.push(' ');
        }
        // A line longer than the buffer is cut where it stops fitting.
        let _ = core::fmt::Write::write_fmt(&mut buf, args);
        let mut flushed = Ok(());
        if self.batch.len() + buf.len() + 1 > LogFile::BATCH {
            flushed = self.flush();
        }
        self.batch.extend_from_slice(buf.as_bytes());
        self.batch.push(b'\n');
        flushed
    }

    /// Writes the lines pushed, in one write.
    ///
    /// # Errors
    ///
    /// The file system's refusals (`ENOSPC`…); the lines are dropped
    /// then, not kept for another try.
    pub fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let written = self
            .file
            .write_all(&self.batch)
            .map_err(|e| log_error("LogFile::line", &self.path, &e));
        self.batch.clear();
        written
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LogFile {
    /// Writes the lines still pushed.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// A time as log lines print it: ISO 8601 in UTC with milliseconds,
/// `2026-11-23T12:06:49.682Z`. Formatting allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime(pub std::time::SystemTime);

impl UtcTime {
    /// Now.
    pub fn now() -> UtcTime {
        UtcTime(std::time::SystemTime::now())
    }
}

impl core::fmt::Display for UtcTime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let d = self
            .0
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = d.as_secs();
        let rem = secs % 86_400;
        let (year, month, day) = civil(i64::try_from(secs / 86_400).unwrap_or(0));
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            d.subsec_millis()
        )
    }
}

/// The civil date (year, month, day) of `days` since 1970-01-01, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_print_as_iso_8601_utc() {
        let at = |s: u64, ms: u64| {
            UtcTime(UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms)).to_string()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_437_409, 682), "2026-11-23T12:36:49.682Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(at(253_402_300_799, 999).len(), STAMP_BYTES);
    }

    #[test]
    fn stamped_lines_carry_the_time_they_were_pushed() {
        let dir = std::env::temp_dir().join(format!("mproc-log-stamp-{}", std::process::id()));
        let mut log = LogFile::open(&dir).unwrap();
        let mut before = Vec::new();
        for i in 0..2_000 {
            // Some lines in a millisecond of their own, the rest in bursts.
            if i % 400 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            before.push(UtcTime::now().to_string());
            log.push_stamped(format_args!("line {i}")).unwrap();
        }
        log.flush().unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2_000);
        for (i, line) in lines.iter().enumerate() {
            let (stamp, rest) = line.split_once(' ').unwrap();
            assert_eq!(rest, format!("line {i}"));
            assert_eq!(stamp.len(), STAMP_BYTES);
            // Not earlier than the time read just before the push, and in
            // order (the text sorts as the time does).
            assert!(stamp >= before[i].as_str(), "{stamp} < {}", before[i]);
            if i > 0 {
                assert!(stamp >= lines[i - 1].split_once(' ').unwrap().0);
            }
        }
    }
}
