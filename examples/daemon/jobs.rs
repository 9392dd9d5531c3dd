//! The job message (what a submitter sends, what a worker receives) and
//! what a worker does with it.

use std::fmt;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use mproc::pool::TaskData;

/// The size of one job message.
pub const JOB_BYTES: usize = 256;
/// The longest path a `checksum` job carries.
pub const PATH_BYTES: usize = JOB_BYTES - 24;

/// Where the daemon's things are when no flag says otherwise.
pub const DEFAULT_PIDFILE: &str = "/tmp/mproc-daemon.pid";
/// The default log file.
pub const DEFAULT_LOG: &str = "/tmp/mproc-daemon.log";
/// The default job queue.
pub const DEFAULT_QUEUE: &str = "/mproc-daemon-jobs";
/// The default status segment.
pub const DEFAULT_STATUS: &str = "/mproc-daemon-status";

/// `Status::user` index: jobs accepted (taken from the queue).
pub const ACCEPTED: usize = 0;
/// `Status::user` index: jobs a worker started.
pub const STARTED: usize = 1;
/// `Status::user` index: jobs failed for running past the task timeout.
pub const TIMEOUTS: usize = 2;
/// `Status::user` index: messages waiting in the queue, as last seen.
pub const WAITING: usize = 3;

/// What a job asks for.
#[derive(TaskData, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// CRC-32 and length of a file.
    Checksum,
    /// Sleep some milliseconds.
    Sleep,
    /// Return an error.
    Fail,
    /// Kill the worker with `SIGKILL`.
    Crash,
    /// Sleep past the task timeout.
    Overrun,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 5] = [
        Kind::Checksum,
        Kind::Sleep,
        Kind::Fail,
        Kind::Crash,
        Kind::Overrun,
    ];

    /// Its code in a message.
    pub fn code(self) -> u32 {
        match self {
            Kind::Checksum => 1,
            Kind::Sleep => 2,
            Kind::Fail => 3,
            Kind::Crash => 4,
            Kind::Overrun => 5,
        }
    }

    /// The kind of `code`.
    pub fn from_code(code: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Its name on the command line and in the log.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Checksum => "checksum",
            Kind::Sleep => "sleep",
            Kind::Fail => "fail",
            Kind::Crash => "crash",
            Kind::Overrun => "overrun",
        }
    }

    /// The kind named `name`.
    #[allow(dead_code)] // used by submit.rs, not by the daemon or the tour
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One job, as a message carries it and as a worker receives it.
#[derive(TaskData, Clone, Copy)]
pub struct Job {
    /// The submitter's id for it.
    pub id: u64,
    /// What to do.
    pub kind: Kind,
    /// Milliseconds to sleep (`sleep`; `overrun`: set by the daemon).
    pub ms: u64,
    path_len: u32,
    path: [u8; PATH_BYTES],
}

/// Why a message is not a job: the id when it could be read.
#[derive(Debug)]
pub struct Rejected {
    /// The id in the message, if it was long enough to hold one.
    pub id: Option<u64>,
    /// What is wrong with it.
    pub why: &'static str,
}

impl Job {
    /// A job of `kind` without argument.
    pub fn new(id: u64, kind: Kind) -> Job {
        Job {
            id,
            kind,
            ms: 0,
            path_len: 0,
            path: [0; PATH_BYTES],
        }
    }

    /// A `sleep` job.
    pub fn sleep(id: u64, ms: u64) -> Job {
        Job {
            ms,
            ..Job::new(id, Kind::Sleep)
        }
    }

    /// A `checksum` job for `path`, or `None` when the path is longer than
    /// [`PATH_BYTES`].
    pub fn checksum(id: u64, path: &Path) -> Option<Job> {
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() > PATH_BYTES {
            return None;
        }
        let mut job = Job::new(id, Kind::Checksum);
        job.path[..bytes.len()].copy_from_slice(bytes);
        job.path_len = bytes.len() as u32;
        Some(job)
    }

    /// The path of a `checksum` job.
    pub fn path(&self) -> &Path {
        let len = (self.path_len as usize).min(PATH_BYTES);
        Path::new(std::ffi::OsStr::from_bytes(&self.path[..len]))
    }

    /// The message for it.
    pub fn encode(&self) -> [u8; JOB_BYTES] {
        let mut m = [0u8; JOB_BYTES];
        m[0..8].copy_from_slice(&self.id.to_le_bytes());
        m[8..12].copy_from_slice(&self.kind.code().to_le_bytes());
        m[12..16].copy_from_slice(&self.path_len.to_le_bytes());
        m[16..24].copy_from_slice(&self.ms.to_le_bytes());
        m[24..].copy_from_slice(&self.path);
        m
    }

    /// The job a message carries.
    ///
    /// # Errors
    ///
    /// [`Rejected`] for a message of the wrong size, an unknown kind or a
    /// path length past [`PATH_BYTES`].
    pub fn decode(m: &[u8]) -> Result<Job, Rejected> {
        let word = |r: core::ops::Range<usize>| {
            let mut b = [0u8; 8];
            b[..r.len()].copy_from_slice(&m[r]);
            u64::from_le_bytes(b)
        };
        if m.len() != JOB_BYTES {
            return Err(Rejected {
                id: (m.len() >= 8).then(|| word(0..8)),
                why: "not a job message (jobs are 256 bytes)",
            });
        }
        let id = word(0..8);
        let kind = Kind::from_code(word(8..12) as u32).ok_or(Rejected {
            id: Some(id),
            why: "unknown job kind",
        })?;
        let path_len = word(12..16) as u32;
        if path_len as usize > PATH_BYTES {
            return Err(Rejected {
                id: Some(id),
                why: "path length past 232 bytes",
            });
        }
        let mut path = [0u8; PATH_BYTES];
        path.copy_from_slice(&m[24..]);
        Ok(Job {
            id,
            kind,
            ms: word(16..24),
            path_len,
            path,
        })
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Checksum => write!(f, "checksum {}", self.path().display()),
            Kind::Sleep => write!(f, "sleep {}", self.ms),
            k => f.write_str(k.name()),
        }
    }
}

/// What a worker sends back: its pid, and the text after `done` or
/// `failed` in the log.
pub type Reply = (u32, Text);
/// A line's text, inline (a task's result travels by its bytes).
pub type Text = heapless::String<320>;

pub(super) fn text(args: fmt::Arguments<'_>) -> Text {
    let mut t = Text::new();
    // Cut where it stops fitting.
    let _ = fmt::Write::write_fmt(&mut t, args);
    t
}

/// CRC-32 (IEEE 802.3, reflected; zlib's `crc32`), one byte at a time
/// from a table made at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// `crc` extended by `bytes` (start from 0).
pub fn crc32(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

pub(super) fn crc32_file(path: &Path) -> std::io::Result<(u32, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = [0u8; 16 * 1024];
    let (mut crc, mut len) = (0u32, 0u64);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok((crc, len)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crc = crc32(crc, &buf[..n]);
        len += n as u64;
    }
}
