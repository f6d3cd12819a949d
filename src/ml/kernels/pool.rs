//! Threads: running work on rayon's pool, and `SharedMut`, the one way kernels hand disjoint
//! output regions to parallel tasks.

/// Runs `f` on a thread of rayon's pool (the caller waits). Each parallel op inside then
/// hands half its work to the other pool thread through its queue, with the waiting side
/// spinning; from a thread outside the pool every op is a round trip through the global
/// queue and a sleep/wake on a condition variable, which costs more than a decode step's
/// small products.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// A raw pointer that rayon tasks may share because each writes a disjoint region. Only
/// for element types that may move between threads (the tasks write values of T there).
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<T>(pub(crate) *mut T);
// SAFETY: the pointer is only used to write disjoint regions, one task each; T: Send makes
// handing those values to another thread sound.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as above; sharing the wrapper shares only the address.
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// A method, so closures capture the whole (Send) wrapper, not the raw pointer field.
    pub(crate) fn ptr(self) -> *mut T {
        self.0
    }
}

/// Runs `run` over `0..n` split into `tasks` contiguous ranges, in parallel when there is
/// more than one (the panel products' split of their output panels over threads).
pub(crate) fn over_ranges(n: usize, tasks: usize, run: impl Fn((usize, usize)) + Send + Sync) {
    let per = n.div_ceil(tasks.max(1)).max(1);
    let ranges: Vec<(usize, usize)> = (0..tasks.max(1))
        .map(|t| (t * per, ((t + 1) * per).min(n)))
        .filter(|r| r.0 < r.1)
        .collect();
    if ranges.len() > 1 {
        use rayon::prelude::*;
        ranges.into_par_iter().for_each(run);
    } else {
        ranges.into_iter().for_each(run);
    }
}
