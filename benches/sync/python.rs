//! The Python peer's CPU affinity.

use super::*;

/// Sets the peer's CPU affinity (its later children inherit it).
pub(super) fn peer_affinity(python: &mut Option<Peer>, set: &libc::cpu_set_t) {
    if let Some(answer) = ask_or_drop(python, &format!("affinity {}", cpu_list(set)))
        && answer != "ok"
    {
        drop_peer(python, &format!("affinity: {answer}"));
    }
}
