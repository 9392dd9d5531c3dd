//! The Python peer's pool: made, and one of its runs timed.

use super::*;

/// Makes the peer's pool of `k` workers now, so that no timed command
/// forks it.
pub(super) fn python_pool(python: &mut Option<Peer>, k: usize) {
    if let Some(answer) = ask_or_drop(python, &format!("pool {k}"))
        && answer != "ok"
    {
        drop_peer(python, &format!("pool {k}: {answer}"));
    }
}

/// Runs `cmd` (`apply`, `async`, `map`) on the peer's pool of `workers`
/// for `n` items: its time, or nothing without a (working) peer. Wrong
/// results fail the bench.
pub(super) fn python_run(
    python: &mut Option<Peer>,
    cmd: &str,
    workers: usize,
    n: u32,
) -> Result<Option<Duration>> {
    let Some([ns, count, sum]) = ask_numbers(python, &format!("{cmd} {workers} {n}")) else {
        return Ok(None);
    };
    check_results(&format!("Python Pool({workers}) {cmd}"), count, sum, n)?;
    Ok(Some(Duration::from_nanos(ns)))
}
