//! The Python peer (`bench/bench_ipc_peer.py`).

use super::*;

/// `bench/bench_ipc_peer.py` through the shared peer; an answer starting
/// with "error" is a failure.
pub(super) struct Python(common::Peer);

impl Python {
    /// Starts the peer; `None` (after a note on stderr) when there is no
    /// Python to run it.
    pub(super) fn start() -> Option<Python> {
        common::Peer::start_script(
            concat!(env!("CARGO_MANIFEST_DIR"), "/bench_ipc_peer.py"),
            "ipc",
        )
        .map(Python)
    }

    pub(super) fn ask(&mut self, line: &str) -> Result<String> {
        let answer = self.0.ask(line)?;
        if answer.starts_with("error") {
            return Err(answer.into());
        }
        Ok(answer)
    }

    pub(super) fn kill(self) {
        self.0.kill();
    }

    pub(super) fn quit(self) {
        self.0.quit();
    }
}

/// Asks the peer for a timing in ns; `None` without a (working) peer. A
/// failing peer is dropped for the rest of the run.
pub(super) fn python_ns(python: &mut Option<Python>, line: &str) -> Option<f64> {
    let peer = python.as_mut()?;
    let answer = peer.ask(line).and_then(|a| {
        a.parse::<f64>()
            .map_err(|_| format!("{line}: answered {a:?}").into())
    });
    match answer {
        Ok(ns) => Some(ns),
        Err(e) => {
            eprintln!("bench ipc: Python contender dropped: {e}");
            if let Some(peer) = python.take() {
                peer.kill();
            }
            None
        }
    }
}
