//! The `kibble` binary: parse the command line, run it, map errors to exit codes
//! (0 ok, 2 bad input, 1 any other failure).

use clap::Parser;
use kibble::commands::BadInput;
use kibble::jobs::import::ImportError;
use kibble::tui::keymap::KeymapError;

// Tensor code allocates and frees many multi-megabyte buffers per step; glibc serves any over
// 32 MB with fresh mmaps (page faults and kernel zeroing every step), mimalloc reuses them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v2's header (not named by libmimalloc-sys 0.1.49).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Freed pages stay with the process (by default they go back to the OS after a delay):
    // training steps reuse the same buffers, and every page handed back is faulted in and
    // zeroed again by the next step (thousands of 2 MB pages per step). Peak RSS is unchanged.
    // SAFETY: sets an allocator option; any value is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = kibble::cli::Cli::parse();
    if let Err(e) = kibble::commands::run(cli) {
        let bad_input = e.downcast_ref::<BadInput>().is_some()
            || e.downcast_ref::<KeymapError>().is_some()
            || e.downcast_ref::<ImportError>()
                .is_some_and(|i| i.is_bad_input());
        eprintln!("error: {e:#}");
        std::process::exit(if bad_input { 2 } else { 1 });
    }
}
