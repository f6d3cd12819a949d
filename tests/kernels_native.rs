//! The kernels on the paths this CPU takes (AVX2 + FMA where it has them) against plain loops.

mod kernels;

#[test]
fn gemm() {
    kernels::gemm_matches_plain_loops();
}

#[test]
fn panels() {
    kernels::panels_match_plain_loops();
}

#[test]
fn attention() {
    kernels::attention_matches_plain_loops();
}

#[test]
fn row_ops() {
    kernels::row_ops_match_their_formulas();
}

#[test]
fn quantised() {
    kernels::quantised_products_match_plain_loops();
}
