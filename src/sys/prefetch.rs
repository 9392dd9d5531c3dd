//! Prefetch hints: asking the CPU for a cache line ahead of its use, for
//! reading (a waiter watching one word while the item it will take next
//! sits on another line) or for writing (a writer about to store where the
//! other side last read). Hints only: nothing is read into the program,
//! nothing is written, nothing faults, and targets without such an
//! instruction do nothing.

/// Asks the CPU to bring the cache line holding `p`, a byte of a live
/// mapping, in for reading (a hint: nothing is read into the program;
/// nothing on targets without a prefetch here).
pub(crate) fn read_at(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing into the program, writes nothing
    // and never faults; every x86_64 CPU has `prefetcht0`.
    unsafe {
        core::arch::asm!("prefetcht0 [{}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above, `prfm` on every aarch64 CPU.
    unsafe {
        core::arch::asm!("prfm pldl1keep, [{}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Asks the CPU to fetch the cache line holding `p`, a byte of a live
/// mapping, for writing, ahead of a write or read-modify-write there (a
/// hint: nothing on targets without one).
pub(crate) fn write_at(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    if has_prefetchw() {
        // SAFETY: a prefetch reads nothing into the program, writes
        // nothing, and never faults (`p` is inside a live mapping
        // besides); the CPU has the instruction (checked above).
        unsafe {
            core::arch::asm!("prefetchw [{}]", in(reg) p, options(nostack, preserves_flags, readonly));
        }
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        core::arch::asm!("prfm pstl1keep, [{}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Whether the CPU has `prefetchw` (CPUID 0x8000_0001, ECX bit 8), asked
/// once.
#[cfg(target_arch = "x86_64")]
fn has_prefetchw() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static HAS: AtomicU8 = AtomicU8::new(0);
    match HAS.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            // SAFETY: CPUID exists on every x86_64 CPU; leaf 0x8000_0001
            // is asked only when the highest extended leaf reaches it. (Safe
            // to call in recent Rust, `unsafe` in older.)
            #[allow(unused_unsafe)]
            let has = unsafe {
                core::arch::x86_64::__cpuid(0x8000_0000).eax >= 0x8000_0001
                    && core::arch::x86_64::__cpuid(0x8000_0001).ecx & (1 << 8) != 0
            };
            HAS.store(if has { 2 } else { 1 }, Ordering::Relaxed);
            has
        }
    }
}
