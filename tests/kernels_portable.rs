//! The same kernel checks with `KIBBLE_PORTABLE=1`: the portable paths (what a CPU without
//! AVX2 runs, Arm included) are tested on every machine, not only where they are taken.

mod kernels;

/// Every test sets the switch before its first kernel call; it is read once per process.
fn portable() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("KIBBLE_PORTABLE", "1"));
    assert!(!kibble::ml::kernels::cpu::avx2_fma() && !kibble::ml::kernels::cpu::avx());
}

#[test]
fn gemm() {
    portable();
    kernels::gemm_matches_plain_loops();
}

#[test]
fn panels() {
    portable();
    kernels::panels_match_plain_loops();
}

#[test]
fn attention() {
    portable();
    kernels::attention_matches_plain_loops();
}

#[test]
fn row_ops() {
    portable();
    kernels::row_ops_match_their_formulas();
}

#[test]
fn quantised() {
    portable();
    kernels::quantised_products_match_plain_loops();
}
