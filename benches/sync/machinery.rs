//! The machinery: the CPUs the bench may use and pinning to them.

use super::*;

/// The CPUs the bench may use: all it was started with, and the one it
/// pins benchmark 1 to.
pub(super) struct Cpus {
    pub(super) all: libc::cpu_set_t,
    pub(super) pinned: Option<(usize, libc::cpu_set_t)>,
}

impl Cpus {
    /// `MPROC_BENCH_CPU=<n>`, or by default the CPU the bench runs on now;
    /// `MPROC_BENCH_CPU=none`: no pinning.
    ///
    /// On one CPU a hand-off between processes is a pair of context
    /// switches; across CPUs its cost depends on where the scheduler put
    /// them, which on virtual machines is noise larger than the differences
    /// being measured (see `benches/process.rs`).
    pub(super) fn new() -> Result<Cpus> {
        let all = get_affinity()?;
        let cpu = match std::env::var("MPROC_BENCH_CPU") {
            Ok(v) if v.eq_ignore_ascii_case("none") => None,
            Ok(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| format!("MPROC_BENCH_CPU={v}: not a CPU number or \"none\""))?,
            ),
            Err(_) => {
                // SAFETY: sched_getcpu has no preconditions.
                let cpu = unsafe { libc::sched_getcpu() };
                usize::try_from(cpu).ok()
            }
        };
        let pinned = match cpu {
            None => None,
            Some(cpu) => Some((cpu, one_cpu(cpu)?)),
        };
        Ok(Cpus { all, pinned })
    }

    /// Pins this process (and what it forks later) and the Python peer to
    /// the chosen CPU, if any.
    pub(super) fn pin(&self, python: &mut Option<Peer>) -> Result<()> {
        match &self.pinned {
            Some((cpu, set)) => {
                set_affinity(set).map_err(|e| format!("pinning to CPU {cpu}: {e}"))?;
                peer_affinity(python, set);
            }
            None => self.unpin(python)?,
        }
        Ok(())
    }

    /// A CPU of the bench's other than the pinned one (for B of the split
    /// ping-pong), if pinned and there is one.
    pub(super) fn other(&self) -> Option<usize> {
        let (cpu, _) = self.pinned?;
        cpus_of(&self.all).into_iter().find(|&c| c != cpu)
    }

    /// Back to every CPU the bench was started with, the Python peer too.
    pub(super) fn unpin(&self, python: &mut Option<Peer>) -> Result<()> {
        set_affinity(&self.all)?;
        peer_affinity(python, &self.all);
        Ok(())
    }
}

/// The set of CPU `cpu` alone.
pub(super) fn one_cpu(cpu: usize) -> Result<libc::cpu_set_t> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(format!("CPU {cpu}: beyond CPU_SETSIZE").into());
    }
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays inside it
    // for cpu < CPU_SETSIZE, checked above.
    Ok(unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    })
}

pub(super) fn get_affinity() -> Result<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is valid storage; sched_getaffinity writes
    // at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(os_error("sched_getaffinity"));
        }
        Ok(set)
    }
}

pub(super) fn set_affinity(set: &libc::cpu_set_t) -> Result<()> {
    // SAFETY: `set` is a live cpu_set_t; the kernel reads its size.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(os_error("sched_setaffinity"));
    }
    Ok(())
}

/// The CPUs in `set`.
pub(super) fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads inside the set for i < CPU_SETSIZE.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, set) })
        .collect()
}

/// The CPUs in `set`, as `0,1`.
pub(super) fn cpu_list(set: &libc::cpu_set_t) -> String {
    cpus_of(set)
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
