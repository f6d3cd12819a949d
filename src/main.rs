//! The `kibble` binary: parse the command line, run it, map errors to exit codes
//! (0 ok, 2 bad input, 1 any other failure).

use clap::Parser;
use kibble::commands::BadInput;
use kibble::jobs::import::ImportError;

/// Tensor code allocates and frees many multi-megabyte buffers per step. By default glibc
/// serves those with fresh mmaps, so every step pays page faults and kernel zeroing (about a
/// fifth of CPU time in profiles); keeping them in the heap lets them be reused.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() {
    tune_allocator();
    let cli = kibble::cli::Cli::parse();
    if let Err(e) = kibble::commands::run(cli) {
        let bad_input = e.downcast_ref::<BadInput>().is_some()
            || e.downcast_ref::<ImportError>()
                .is_some_and(|i| i.is_bad_input());
        eprintln!("error: {e:#}");
        std::process::exit(if bad_input { 2 } else { 1 });
    }
}
