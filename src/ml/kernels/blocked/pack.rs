//! Packing: B into column panels of NR and A into row panels of MR, zero-padded, so the
//! microkernel reads both with unit stride.

use rayon::prelude::*;

use super::*;

/// All of B into `out`, KC-deep slice by slice, each slice in NR-column panels, k-major:
/// the slice at depth p0 starts at `p0 * npad`, its panel q `q * kc * NR` later. Padding
/// past column n keeps whatever the buffer held: those lanes of the micro-kernel's result
/// are never written out (`mr x nr` tiles), so they cannot reach C. The same holds for
/// padding rows of A.
pub(super) fn pack_b(b: View, parallel: bool, out: &mut Vec<f32>) {
    let (k, n) = (b.rows, b.cols);
    let panels = n.div_ceil(NR);
    let len = k * panels * NR;
    if out.len() < len {
        out.resize(len, 0.0);
    }
    // (slice start, panel index) of every kc x NR block, in memory order.
    let mut blocks = Vec::new();
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        blocks.extend((0..panels).map(|q| (p0, kc, q)));
    }
    let mut chunks = Vec::with_capacity(blocks.len());
    let mut rest = &mut out[..len];
    for &(_, kc, _) in &blocks {
        let (head, tail) = rest.split_at_mut(kc * NR);
        chunks.push(head);
        rest = tail;
    }
    let fill = |(panel, &(p0, kc, q)): (&mut &mut [f32], &(usize, usize, usize))| {
        let j0 = q * NR;
        let nr = NR.min(n - j0);
        if b.cs == 1 {
            for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let s = (p0 + kk) * b.rs + j0;
                // Each depth is a new row, so each read a new line (8 of 9 samples here sat
                // on the load): ask for the row eight ahead.
                prefetch(b.data.as_ptr().wrapping_add(s + 8 * b.rs));
                if nr == NR {
                    // A constant length compiles to two vector moves, not a memcpy call.
                    let src: &[f32; NR] = b.data[s..s + NR].try_into().unwrap();
                    dst.copy_from_slice(src);
                } else {
                    dst[..nr].copy_from_slice(&b.data[s..s + nr]);
                }
            }
        } else if b.rs == 1 {
            // Column-contiguous (a transposed weight): read each column front to back,
            // eight columns x eight depths at a time through an AVX transpose where it can.
            #[cfg(target_arch = "x86_64")]
            if nr == NR && crate::ml::kernels::cpu::avx() {
                let top = &b.data[j0 * b.cs + p0..];
                // SAFETY: AVX is available; columns j0..j0+NR each have kc values from p0.
                unsafe { avx2::pack_columns(top, b.cs, kc, panel) };
                return;
            }
            for l in 0..nr {
                let s = (j0 + l) * b.cs + p0;
                for (kk, v) in b.data[s..s + kc].iter().enumerate() {
                    panel[kk * NR + l] = *v;
                }
            }
        } else {
            for kk in 0..kc {
                for l in 0..nr {
                    panel[kk * NR + l] = b.at(p0 + kk, j0 + l);
                }
            }
        }
    };
    if parallel {
        chunks.par_iter_mut().zip(blocks.par_iter()).for_each(fill);
    } else {
        chunks.iter_mut().zip(blocks.iter()).for_each(fill);
    }
}

/// Rows i0..i0+mc, columns p0..p0+kc of A in MR-row panels, k-major.
pub(super) fn pack_a(a: View, i0: usize, mc: usize, p0: usize, kc: usize, out: &mut Vec<f32>) {
    let panels = mc.div_ceil(MR);
    // No zero-fill when the buffer is reused: stale padding is harmless (see `pack_b`).
    out.resize(panels * kc * MR, 0.0);
    if a.rs == 1 && a.cs != 1 {
        // Column-contiguous (a transposed activation, as in weight gradients): each depth's
        // mc values lie together, so read them depth by depth, front to back, asking for
        // the depth eight ahead. Panel by panel, each read took 24 bytes from a new line, and
        // waiting for those lines was half the time of this function.
        for kk in 0..kc {
            let src = &a.data[(p0 + kk) * a.cs + i0..][..mc];
            let ahead = src.as_ptr().wrapping_add(8 * a.cs);
            for line in (0..mc).step_by(16) {
                prefetch(ahead.wrapping_add(line));
            }
            let (whole, rest) = src.split_at(mc / MR * MR);
            for (q, vals) in whole.chunks_exact(MR).enumerate() {
                // A constant length compiles to two moves, not a memcpy call.
                let vals: &[f32; MR] = vals.try_into().unwrap();
                out[q * kc * MR + kk * MR..][..MR].copy_from_slice(vals);
            }
            if !rest.is_empty() {
                out[mc / MR * kc * MR + kk * MR..][..rest.len()].copy_from_slice(rest);
            }
        }
        return;
    }
    for (q, panel) in out.chunks_exact_mut(kc * MR).enumerate() {
        let r0 = i0 + q * MR;
        let mr = MR.min(i0 + mc - r0);
        if a.cs == 1 {
            for r in 0..mr {
                let s = (r0 + r) * a.rs + p0;
                for (kk, v) in a.data[s..s + kc].iter().enumerate() {
                    panel[kk * MR + r] = *v;
                }
            }
        } else {
            for (kk, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (r, d) in dst[..mr].iter_mut().enumerate() {
                    *d = a.at(r0 + r, p0 + kk);
                }
            }
        }
    }
}
