//! Memory reuse between benchmark runs.
//!
//! A node that has run for a while reuses the memory its id ring and index gave back; it does
//! not pay the kernel to zero fresh pages for every request. A benchmark that builds a fresh
//! engine per run would pay exactly that on each run (on this VM, page faults were ~17 % of the
//! profile). Telling glibc to keep freed memory in the process makes every run after the first
//! reuse it, which is the steady state we want to measure; the first run stays cold and shows
//! up as the minimum.

/// Keeps freed heap memory in the process and serves allocations up to 32 MiB from the heap.
/// Does nothing where the allocator is not glibc's.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's ceiling for the mmap threshold on 64-bit targets.
        const MMAP_THRESHOLD_MAX_BYTES: libc::c_int = 32 * 1024 * 1024;
        // SAFETY: mallopt only changes allocator tuning; it is called before the benchmark
        // allocates its engines and is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX_BYTES);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    }
}
