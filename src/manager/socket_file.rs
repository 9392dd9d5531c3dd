//! The socket file a manager makes at a path address, and the checks made
//! before it is removed: only that file (still a socket, the same inode),
//! and, when the owner cleans up after a server that was killed, only
//! when no server answers there. Another file put at the path meanwhile
//! (a regular file, another server's socket) is never removed.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::link::ADDRESS_MAX;
use crate::sys::{Errno, socket};

/// A socket file bound by a manager: its path and the device and inode it
/// had when bound.
#[derive(Clone, Debug)]
pub(crate) struct SocketFile {
    path: heapless::String<ADDRESS_MAX>,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// The socket file just bound at `path` (`None` when there is no
    /// socket there: then nobody removes anything).
    pub(crate) fn bound(path: &str) -> Option<SocketFile> {
        let (dev, ino) = identity(path)?;
        let mut kept = heapless::String::new();
        kept.push_str(path).ok()?;
        Some(SocketFile {
            path: kept,
            dev,
            ino,
        })
    }

    /// Whether the path still names the socket that was bound.
    fn is_ours(&self) -> bool {
        identity(&self.path) == Some((self.dev, self.ino))
    }

    /// The server's removal as it ends: the path goes if it still names
    /// the socket it bound. `true` when it was removed.
    pub(crate) fn remove(&self) -> bool {
        self.is_ours() && socket::unlink(self.path.as_bytes()).is_ok()
    }

    /// The owner's removal after a server that did not end cleanly: the
    /// path goes if it still names the socket the server bound and no
    /// server answers there. `true` when it was removed.
    pub(crate) fn remove_abandoned(&self) -> bool {
        if !self.is_ours() {
            return false;
        }
        // A socket whose every listener is gone refuses connections; any
        // other answer (a server, or one that cannot be told) keeps it.
        match socket::seqpacket_connect(socket::Address::Path(self.path.as_bytes())) {
            Err(Errno::ECONNREFUSED) => self.remove(),
            _ => false,
        }
    }
}

/// The device and inode of the socket file at `path` (`None` when there
/// is none, or the file there is not a socket). Symbolic links are not
/// followed.
fn identity(path: &str) -> Option<(u64, u64)> {
    let meta = std::fs::symlink_metadata(OsStr::from_bytes(path.as_bytes())).ok()?;
    meta.file_type()
        .is_socket()
        .then(|| (meta.dev(), meta.ino()))
}
