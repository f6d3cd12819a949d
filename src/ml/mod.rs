//! Machine learning with candle: tokenizers, reward models, losses, optimiser and the
//! training loop. Knows nothing of SQLite or the TUI: data comes in as token ids and pairs.

pub mod chat;
pub mod checkpoint;
pub mod decode;
pub mod llama;
pub mod loss;
pub mod model;
pub mod ops;
pub mod optim;
pub mod panels;
pub mod policy;
pub mod policy_train;
pub mod pretrained;
pub mod tokenizer;
pub mod train;

/// Tensor code allocates and frees many multi-megabyte buffers per step. By default glibc
/// serves those with fresh mmaps, so every step pays page faults and kernel zeroing (about a
/// fifth of CPU time in profiles); keeping them in the heap lets them be reused. Idempotent.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; any value is valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
