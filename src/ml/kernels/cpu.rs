//! The one CPU-feature check. The AVX2 + FMA kernels run where the CPU has both; with
//! `KIBBLE_PORTABLE=1` in the environment (read once, at the first kernel call) every kernel
//! takes its portable path instead, so those paths are tested on an AVX2 machine too
//! (`tests/kernels_portable.rs`) and can be compared with the fast ones.

use std::sync::OnceLock;

/// Whether the AVX2 + FMA kernels may run.
#[inline]
pub fn avx2_fma() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| !portable() && detect_avx2_fma())
}

/// Whether the AVX (without FMA) column packing may run.
#[inline]
pub fn avx() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| !portable() && detect_avx())
}

/// Whether the AVX-512 VNNI forms of the quantised products may run (on 256-bit registers);
/// `KIBBLE_NO_VNNI=1` keeps them on AVX2, to compare or test that path.
#[inline]
pub fn avx512_vnni() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        !portable() && std::env::var_os("KIBBLE_NO_VNNI").is_none() && detect_avx512_vnni()
    })
}

fn portable() -> bool {
    std::env::var_os("KIBBLE_PORTABLE").is_some_and(|v| !v.is_empty() && v != "0")
}

#[cfg(target_arch = "x86_64")]
fn detect_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
fn detect_avx() -> bool {
    std::arch::is_x86_feature_detected!("avx")
}

#[cfg(target_arch = "x86_64")]
fn detect_avx512_vnni() -> bool {
    detect_avx2_fma()
        && std::arch::is_x86_feature_detected!("avx512vnni")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_avx512_vnni() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_avx2_fma() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_avx() -> bool {
    false
}
