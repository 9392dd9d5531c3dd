//! Names of kernel objects that live in a flat namespace (`shm_open`
//! segments, POSIX message queues): checked before the kernel sees them.

use crate::error::{Error, ErrorKind, Resource, Result};

use crate::sys::MAX_NAME;

/// A checked name, with its leading `/`.
pub(crate) type KernelName = heapless::String<MAX_NAME>;

/// Checks `name` (`"name"` or `"/name"`: 1 to 255 bytes after the optional
/// slash, no other `/`, no NUL, not `.` or `..`) and returns it with its
/// `/`. `what` names the object in the error, e.g. `"segment name"`.
pub(crate) fn normalize(op: &'static str, what: &'static str, name: &str) -> Result<KernelName> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let bad = |rule| {
        Error::new(
            op,
            Resource::Text {
                what,
                len: name.len(),
            },
            ErrorKind::InvalidArgument(rule),
        )
    };
    if bare.is_empty() || bare.len() > MAX_NAME - 1 {
        return Err(bad(
            "a name is 1 to 255 bytes after its optional leading '/'",
        ));
    }
    if bare.contains(['/', '\0']) || bare == "." || bare == ".." {
        return Err(bad(
            "a name holds no '/' or NUL after its leading '/', and is not . or ..",
        ));
    }
    let mut out = KernelName::new();
    // Both fit: 1 + at most MAX_NAME - 1 bytes.
    let _ = out.push('/');
    let _ = out.push_str(bare);
    Ok(out)
}
