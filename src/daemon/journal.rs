//! A logger for the [`log`] facade made for daemons (feature
//! `log`): journald priority prefixes when standard error is the journal,
//! timestamped lines otherwise.
//!
//! Under systemd a service's standard error is usually a stream into the
//! journal, and systemd says so in `$JOURNAL_STREAM` (`<device>:<inode>`
//! of that stream). Then each line starts with its syslog priority,
//! `<3>` for an error to `<7>` for debug (`sd-daemon(3)`), which journald
//! strips and records (`journalctl -p warning` filters on it); the
//! journal adds the time itself. Elsewhere (a terminal, a file, a pipe to
//! another logger) a line is `2026-12-04T22:02:28.123Z WARN message`.
//!
//! Each line is formatted on the stack and written with one `write(2)`
//! (so lines of several processes sharing standard error never mix
//! within a line, up to `PIPE_BUF`); nothing is allocated per line. A
//! line longer than [`LINE_MAX`] is cut and ends with `…`.
//!
//! ```no_run
//! # #[cfg(feature = "log")] {
//! mproc::daemon::journal::init(log::LevelFilter::Info).unwrap();
//! log::info!("serving on {}", "127.0.0.1:8000");
//! # }
//! ```

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use ::log::{Level, LevelFilter, Log, Metadata, Record, SetLoggerError};

use super::UtcTime;
use crate::sys::systemd;

/// The longest line written, newline included; a longer one is cut.
pub const LINE_MAX: usize = 4096;

/// The environment variable systemd sets when standard error or output
/// is a stream into the journal.
pub const JOURNAL_STREAM: &str = "JOURNAL_STREAM";

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `<6>message`: standard error is the journal.
    Journal,
    /// `2026-12-04T22:02:28.123Z INFO message`.
    Plain,
}

/// Whether standard error is the journal: `$JOURNAL_STREAM` names the
/// device and inode that `fstat(2)` gives for fd 2 (a redirected stderr,
/// or a variable inherited from a parent, does not match).
pub fn detect() -> Mode {
    let Some(value) = std::env::var_os(JOURNAL_STREAM) else {
        return Mode::Plain;
    };
    let parsed = value.to_str().and_then(|v| {
        let (dev, ino) = v.split_once(':')?;
        Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?))
    });
    match (parsed, systemd::fstat(2)) {
        (Some(want), Ok((dev, ino, _))) if want == (dev, ino) => Mode::Journal,
        _ => Mode::Plain,
    }
}

/// The syslog priority journald reads from a `<n>` prefix.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// The logger: writes each record as one line to standard error, in the
/// [`Mode`] chosen by [`init`].
#[derive(Debug)]
pub struct Logger {
    journal: AtomicBool,
}

static LOGGER: Logger = Logger {
    journal: AtomicBool::new(false),
};

/// Installs the logger for the `log` facade, in the mode [`detect`]
/// finds, passing records up to `level`.
///
/// # Errors
///
/// `log`'s [`SetLoggerError`] when a logger is installed already.
pub fn init(level: LevelFilter) -> Result<(), SetLoggerError> {
    init_with(level, detect())
}

/// [`init`] with the mode chosen by the caller.
///
/// # Errors
///
/// As [`init`].
pub fn init_with(level: LevelFilter, mode: Mode) -> Result<(), SetLoggerError> {
    // Installed first: a refused second init changes nothing.
    ::log::set_logger(&LOGGER)?;
    LOGGER
        .journal
        .store(mode == Mode::Journal, Ordering::Relaxed);
    ::log::set_max_level(level);
    Ok(())
}

/// A line being built on the stack: cut (and marked) past [`LINE_MAX`];
/// in journal mode every line of a multi-line message gets the prefix.
struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
    cut: bool,
    /// The `<n>` prefix repeated after each newline, or empty.
    prefix: [u8; 3],
    journal: bool,
    /// A newline seen and not yet written.
    newline: bool,
}

/// Room kept at the end for `…` and the newline.
const TAIL: usize = "…".len() + 1;

impl Line {
    fn push(&mut self, bytes: &[u8]) -> bool {
        if self.cut {
            return false;
        }
        let room = LINE_MAX - TAIL - self.len;
        if bytes.len() > room {
            self.cut = true;
            return false;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    fn push_str_cut(&mut self, s: &str) {
        if self.push(s.as_bytes()) {
            return;
        }
        // Keep what fits, up to a character boundary.
        let room = LINE_MAX - TAIL - self.len;
        let mut end = room.min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.buf[self.len..self.len + end].copy_from_slice(&s.as_bytes()[..end]);
        self.len += end;
        self.cut = true;
    }

    fn finish(&mut self) -> &[u8] {
        if self.cut {
            let mark = "…".as_bytes();
            self.buf[self.len..self.len + mark.len()].copy_from_slice(mark);
            self.len += mark.len();
        }
        self.buf[self.len] = b'\n';
        self.len += 1;
        &self.buf[..self.len]
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // A newline is written only once text follows it, so a message
        // that ends with one makes no empty line.
        let mut parts = s.split('\n');
        if let Some(first) = parts.next() {
            self.text(first);
        }
        for part in parts {
            if self.newline {
                self.break_line();
            }
            self.newline = true;
            self.text(part);
        }
        Ok(())
    }
}

impl Line {
    /// Text without a newline, after the pending newline if any.
    fn text(&mut self, part: &str) {
        if part.is_empty() {
            return;
        }
        if self.newline {
            self.newline = false;
            self.break_line();
        }
        self.push_str_cut(part);
    }

    /// A newline, and in journal mode the prefix again.
    fn break_line(&mut self) {
        let prefix = self.prefix;
        if !self.push(b"\n") || (self.journal && !self.push(&prefix)) {
            self.cut = true;
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= ::log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let journal = self.journal.load(Ordering::Relaxed);
        let prio = priority(record.level());
        let mut line = Line {
            buf: [0; LINE_MAX],
            len: 0,
            cut: false,
            prefix: [b'<', b'0' + prio, b'>'],
            journal,
            newline: false,
        };
        let _ = if journal {
            core::fmt::Write::write_fmt(&mut line, format_args!("<{prio}>{}", record.args()))
        } else {
            core::fmt::Write::write_fmt(
                &mut line,
                format_args!("{} {} {}", UtcTime::now(), record.level(), record.args()),
            )
        };
        // One write for the line; standard error closed or full is not the
        // caller's problem (a logger has nowhere to report it).
        let _ = std::io::stderr().lock().write_all(line.finish());
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write as _;

    fn line(journal: bool, text: &str) -> String {
        let mut l = Line {
            buf: [0; LINE_MAX],
            len: 0,
            cut: false,
            prefix: *b"<6>",
            journal,
            newline: false,
        };
        let _ = write!(l, "{}{text}", if journal { "<6>" } else { "" });
        String::from_utf8(l.finish().to_vec()).unwrap()
    }

    #[test]
    fn journal_lines_carry_the_prefix_on_every_line_and_long_ones_are_cut_and_marked() {
        assert_eq!(line(true, "one\ntwo"), "<6>one\n<6>two\n");
        assert_eq!(line(false, "one\ntwo"), "one\ntwo\n");
        assert_eq!(line(true, "one\n"), "<6>one\n");
        assert_eq!(line(true, "one\n\ntwo\n"), "<6>one\n<6>\n<6>two\n");
        assert_eq!(line(false, "one\n"), "one\n");
        let long = "é".repeat(LINE_MAX);
        let cut = line(false, &long);
        assert!(cut.len() <= LINE_MAX, "{}", cut.len());
        assert!(cut.ends_with("é…\n"));
        assert_eq!(priority(Level::Error), 3);
        assert_eq!(priority(Level::Warn), 4);
        assert_eq!(priority(Level::Info), 6);
        assert_eq!(priority(Level::Debug), 7);
        assert_eq!(priority(Level::Trace), 7);
    }
}
