//! The processes `/proc` lists, as `tests/operator/` and
//! `benches/daemon/` look at a daemon from outside (its workers, its
//! process group).

/// A process as `/proc/<pid>/stat` describes it.
pub struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
}

/// Every process `/proc` lists now.
pub fn processes() -> Vec<ProcStat> {
    let mut all = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return all;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state ppid pgrp …
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let pgrp = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        all.push(ProcStat {
            pid,
            state,
            ppid,
            pgrp,
        });
    }
    all
}

/// The live (not zombie) children of `ppid`, lowest pid first.
pub fn live_children(ppid: i32) -> Vec<i32> {
    live(|p| p.ppid == ppid)
}

/// The live (not zombie) processes of the group `pgrp`, lowest pid first.
pub fn live_group(pgrp: i32) -> Vec<i32> {
    live(|p| p.pgrp == pgrp)
}

fn live(which: impl Fn(&ProcStat) -> bool) -> Vec<i32> {
    let mut pids: Vec<i32> = processes()
        .into_iter()
        .filter(|p| p.state != 'Z' && which(p))
        .map(|p| p.pid)
        .collect();
    pids.sort_unstable();
    pids
}
