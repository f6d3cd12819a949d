//! The microkernel: an MR x NR tile of C from packed panels, in AVX2+FMA where the CPU has
//! it and portable code elsewhere, written back with or without bias and accumulation.

use super::*;

/// `matmul_into` through the `gemm` crate, for CPUs our micro-kernel is not compiled for.
///
/// # Safety
/// As `matmul_into`: C holds m rows of n writable values `ldc` apart.
pub(super) unsafe fn portable(
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    onto: Onto,
    bias: Option<&[f32]>,
    serial: bool,
) {
    unsafe {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        if let Onto::Residual(r) = onto {
            for i in 0..m {
                for j in 0..n {
                    c.add(i * ldc + j).write(r[i * ldc + j]);
                }
            }
        }
        let threads = rayon::current_num_threads();
        let parallelism = if serial || threads < 2 || m * n * k < 1 << 20 {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(threads)
        };
        // dst = alpha * dst + beta * A B, reading dst only when C accumulates.
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            !matches!(onto, Onto::Nothing),
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
        if let Some(bias) = bias {
            for i in 0..m {
                for (j, bv) in bias.iter().enumerate().take(n) {
                    let p = c.add(i * ldc + j);
                    p.write(p.read() + bv);
                }
            }
        }
    }
}

/// A hint to bring the cache line at `p` into L1 (no effect elsewhere than x86-64).
#[inline(always)]
pub(super) fn prefetch(p: *const f32) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
}

/// MR rows of A for the micro-kernel: row r's value at depth kk is `rows[r][kk * step]`
/// (a packed panel: step MR; a row-major matrix read in place: step 1).
#[derive(Clone, Copy)]
pub(super) struct ARows {
    pub(super) rows: [*const f32; MR],
    pub(super) step: usize,
}

/// How a micro-kernel writes its tile: added to the tile at `from` (c itself or a residual,
/// row stride ldc) or, where `from` is null, over c; plus a bias row (nr values) unless
/// `bias` is null.
#[derive(Clone, Copy)]
pub(super) struct Out {
    pub(super) from: *const f32,
    pub(super) bias: *const f32,
}

/// One MR x NR tile: `c (+)= a b_panel (+ bias)`, only the top-left mr x nr written.
///
/// SAFETY (callers): `c` points at an mr x nr tile of a row-major matrix with row stride ldc;
/// every row of `a` has kc readable values.
pub(super) unsafe fn kernel(
    kc: usize,
    a: ARows,
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    (mr, nr): (usize, usize),
    out: Out,
) {
    unsafe {
        #[cfg(target_arch = "x86_64")]
        if crate::ml::kernels::cpu::avx2_fma() {
            return avx2::kernel(kc, a, b, c, ldc, (mr, nr), out);
        }
        let mut acc = [[0f32; NR]; MR];
        for kk in 0..kc {
            let bv = &b[kk * NR..][..NR];
            for (row, p) in acc.iter_mut().zip(a.rows) {
                let x = *p.add(kk * a.step);
                for (s, y) in row.iter_mut().zip(bv) {
                    *s += x * y;
                }
            }
        }
        write_tile(&acc, c, ldc, (mr, nr), out);
    }
}

/// SAFETY (callers): as `kernel`.
pub(super) unsafe fn write_tile(
    acc: &[[f32; NR]; MR],
    c: *mut f32,
    ldc: usize,
    (mr, nr): (usize, usize),
    out: Out,
) {
    unsafe {
        for (r, row) in acc.iter().enumerate().take(mr) {
            for (j, v) in row.iter().enumerate().take(nr) {
                let dst = c.add(r * ldc + j);
                let v = if out.bias.is_null() {
                    *v
                } else {
                    v + *out.bias.add(j)
                };
                *dst = if out.from.is_null() {
                    v
                } else {
                    *out.from.add(r * ldc + j) + v
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::*;

    use super::{ARows, Out, MR, NR};

    /// `panel[kk * NR + l] = col[l * cs + kk]` for NR columns of kc values: blocks of eight
    /// columns x eight depths go through an 8 x 8 transpose in registers.
    ///
    /// SAFETY (callers): AVX is available; `col` holds NR columns of kc values `cs` apart,
    /// and `panel` kc x NR values.
    #[target_feature(enable = "avx")]
    pub(in crate::ml::kernels::blocked) unsafe fn pack_columns(
        col: &[f32],
        cs: usize,
        kc: usize,
        panel: &mut [f32],
    ) {
        unsafe {
            assert!(col.len() > (NR - 1) * cs + kc - 1 && panel.len() >= kc * NR);
            let (src, dst) = (col.as_ptr(), panel.as_mut_ptr());
            let whole = kc / 8 * 8;
            for kk in (0..whole).step_by(8) {
                for half in 0..NR / 8 {
                    let r: [__m256; 8] =
                        std::array::from_fn(|l| _mm256_loadu_ps(src.add((half * 8 + l) * cs + kk)));
                    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                    let rows = [
                        _mm256_permute2f128_ps::<0x20>(s0, s4),
                        _mm256_permute2f128_ps::<0x20>(s1, s5),
                        _mm256_permute2f128_ps::<0x20>(s2, s6),
                        _mm256_permute2f128_ps::<0x20>(s3, s7),
                        _mm256_permute2f128_ps::<0x31>(s0, s4),
                        _mm256_permute2f128_ps::<0x31>(s1, s5),
                        _mm256_permute2f128_ps::<0x31>(s2, s6),
                        _mm256_permute2f128_ps::<0x31>(s3, s7),
                    ];
                    for (i, row) in rows.into_iter().enumerate() {
                        _mm256_storeu_ps(dst.add((kk + i) * NR + half * 8), row);
                    }
                }
            }
            for kk in whole..kc {
                for l in 0..NR {
                    *dst.add(kk * NR + l) = *src.add(l * cs + kk);
                }
            }
        }
    }

    /// SAFETY (callers): AVX2 and FMA are available; otherwise as `super::kernel`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn kernel(
        kc: usize,
        a: ARows,
        b: &[f32],
        c: *mut f32,
        ldc: usize,
        (mr, nr): (usize, usize),
        out: Out,
    ) {
        unsafe {
            let (rows, step, bp) = (a.rows, a.step, b.as_ptr());
            // Ask for the C tile now so it is in cache when the loop below ends: waiting for it
            // afterwards (a miss per row) was about a sixth of the kernel's time.
            for r in 0..mr {
                let row = c.add(r * ldc);
                _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(row.add(nr - 1) as *const i8);
                if !out.from.is_null() && !std::ptr::eq(out.from, c) {
                    let src = out.from.add(r * ldc);
                    _mm_prefetch::<_MM_HINT_T0>(src as *const i8);
                    _mm_prefetch::<_MM_HINT_T0>(src.add(nr - 1) as *const i8);
                }
            }
            let mut lo = [_mm256_setzero_ps(); MR];
            let mut hi = [_mm256_setzero_ps(); MR];
            for kk in 0..kc {
                // B's panel is read from L2 or memory the first time through (one line per kk);
                // asking eight lines ahead gave 0-13 % per shape (3 % on average) in paired runs.
                // Asking for A's rows the same way made it slower. (`wrapping_add`: the address
                // may lie past the buffer, which a prefetch tolerates.)
                _mm_prefetch::<_MM_HINT_T0>(bp.wrapping_add((kk + 8) * NR) as *const i8);
                let b0 = _mm256_loadu_ps(bp.add(kk * NR));
                let b1 = _mm256_loadu_ps(bp.add(kk * NR + 8));
                for r in 0..MR {
                    let x = _mm256_broadcast_ss(&*rows[r].add(kk * step));
                    lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
                }
            }
            if mr == MR && nr == NR {
                if !out.bias.is_null() {
                    let (b0, b1) = (_mm256_loadu_ps(out.bias), _mm256_loadu_ps(out.bias.add(8)));
                    for r in 0..MR {
                        lo[r] = _mm256_add_ps(lo[r], b0);
                        hi[r] = _mm256_add_ps(hi[r], b1);
                    }
                }
                for r in 0..MR {
                    let row = c.add(r * ldc);
                    let (mut l, mut h) = (lo[r], hi[r]);
                    if !out.from.is_null() {
                        let src = out.from.add(r * ldc);
                        l = _mm256_add_ps(l, _mm256_loadu_ps(src));
                        h = _mm256_add_ps(h, _mm256_loadu_ps(src.add(8)));
                    }
                    _mm256_storeu_ps(row, l);
                    _mm256_storeu_ps(row.add(8), h);
                }
                return;
            }
            let mut acc = [[0f32; NR]; MR];
            for r in 0..MR {
                _mm256_storeu_ps(acc[r].as_mut_ptr(), lo[r]);
                _mm256_storeu_ps(acc[r].as_mut_ptr().add(8), hi[r]);
            }
            super::write_tile(&acc, c, ldc, (mr, nr), out);
        }
    }
}
