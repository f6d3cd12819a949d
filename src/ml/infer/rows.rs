//! Row math for decoding one token per sequence on plain slices: dots, norms, GELU, RoPE and
//! attention over the KV cache (AVX2 where the CPU has it).

use crate::ml::kernels::exp_f32;

/// Dot product with eight independent accumulators, so the compiler can vectorise it.
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

pub(super) fn layer_norm(x: &mut [f32], d: usize, (w, b): &(Vec<f32>, Vec<f32>), eps: f64) {
    for row in x.chunks_mut(d) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let rstd = 1.0 / (var + eps as f32).sqrt();
        for ((v, g), bb) in row.iter_mut().zip(w).zip(b) {
            *v = (*v - mean) * rstd * g + bb;
        }
    }
}

/// Exact GELU via erf (the same approximation as the training kernel).
pub(super) fn gelu(x: &mut [f32]) {
    for v in x {
        *v = 0.5 * *v * (1.0 + erf32(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// `erf64`'s approximation in f32 (|error| ~1e-7, like f32 rounding): the decode step's GELU.
pub(super) fn erf32(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512
            + t * (1.000_024
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_204
                                    + t * (1.488_516 + t * (-0.822_152 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - r
    } else {
        r - 1.0
    }
}

/// Query heads and key/value heads of one attention call (grouped-query when kv < q).
#[derive(Clone, Copy)]
pub(super) struct Heads {
    pub(super) q: usize,
    pub(super) kv: usize,
    /// Distance between two kv heads' keys (or values) in the cache.
    pub(super) stride: usize,
}

/// One query row against one sequence's cached keys and values (`n` positions), all heads:
/// `out` = softmax(q k^T / sqrt(dh)) v per head; query head h reads kv head h / (q / kv).
/// Compiled for AVX2 when the CPU has it.
pub(super) fn attend(q: &[f32], ks: &[f32], vs: &[f32], n: usize, heads: Heads, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::ml::kernels::cpu::avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { attend_avx2(q, ks, vs, n, heads, out) };
    }
    attend_impl(q, ks, vs, n, heads, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn attend_avx2(
    q: &[f32],
    ks: &[f32],
    vs: &[f32],
    n: usize,
    heads: Heads,
    out: &mut [f32],
) {
    attend_impl(q, ks, vs, n, heads, out)
}

#[inline(always)]
pub(super) fn attend_impl(
    q: &[f32],
    ks: &[f32],
    vs: &[f32],
    n: usize,
    heads: Heads,
    out: &mut [f32],
) {
    let dh = q.len() / heads.q;
    let mut scores = vec![0f32; n];
    // Common head sizes get a fixed-size accumulator the compiler keeps in registers.
    match dh {
        64 => attend_heads::<64>(q, ks, vs, heads, &mut scores, out),
        128 => attend_heads::<128>(q, ks, vs, heads, &mut scores, out),
        _ => attend_heads_any(q, ks, vs, heads, &mut scores, out),
    }
}

/// Softmax of `scores` in place (scaled dot products in, weights summing to 1 out).
#[inline(always)]
pub(super) fn softmax_in_place(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for s in scores.iter_mut() {
        *s = exp_f32(*s - max);
        sum += *s;
    }
    let inv = 1.0 / sum;
    scores.iter_mut().for_each(|s| *s *= inv);
}

#[inline(always)]
pub(super) fn attend_heads<const DH: usize>(
    q: &[f32],
    ks: &[f32],
    vs: &[f32],
    heads: Heads,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let group = heads.q / heads.kv;
    let scale = 1.0 / (DH as f32).sqrt();
    for hi in 0..heads.q {
        let qh: &[f32; DH] = q[hi * DH..(hi + 1) * DH].try_into().expect("head size");
        let kh = hi / group;
        // Eight keys at a time: one dot product is a chain of dependent adds, eight are
        // independent and keep the FMA units busy.
        let n8 = scores.len() / 8 * 8;
        for (b, s8) in scores[..n8].chunks_exact_mut(8).enumerate() {
            let mut acc = [[0f32; 8]; 8];
            for c in 0..DH / 8 {
                for (t, a) in acc.iter_mut().enumerate() {
                    let at = kh * heads.stride + (b * 8 + t) * DH + c * 8;
                    let k: &[f32; 8] = ks[at..at + 8].try_into().expect("eight lanes");
                    for l in 0..8 {
                        a[l] += qh[c * 8 + l] * k[l];
                    }
                }
            }
            for (s, a) in s8.iter_mut().zip(&acc) {
                *s = a.iter().sum::<f32>() * scale;
            }
        }
        for (j, s) in scores.iter_mut().enumerate().skip(n8) {
            let at = kh * heads.stride + j * DH;
            let k: &[f32; DH] = ks[at..at + DH].try_into().expect("head size");
            *s = dot(qh, k) * scale;
        }
        softmax_in_place(scores);
        let mut acc = [0f32; DH];
        for (j, w) in scores.iter().enumerate() {
            let at = kh * heads.stride + j * DH;
            let v: &[f32; DH] = vs[at..at + DH].try_into().expect("head size");
            for (a, vv) in acc.iter_mut().zip(v) {
                *a += w * vv;
            }
        }
        out[hi * DH..(hi + 1) * DH].copy_from_slice(&acc);
    }
}

pub(super) fn attend_heads_any(
    q: &[f32],
    ks: &[f32],
    vs: &[f32],
    heads: Heads,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let dh = q.len() / heads.q;
    let group = heads.q / heads.kv;
    let scale = 1.0 / (dh as f32).sqrt();
    for hi in 0..heads.q {
        let qh = &q[hi * dh..(hi + 1) * dh];
        let kh = hi / group;
        for (j, s) in scores.iter_mut().enumerate() {
            let at = kh * heads.stride + j * dh;
            *s = dot(qh, &ks[at..at + dh]) * scale;
        }
        softmax_in_place(scores);
        let oh = &mut out[hi * dh..(hi + 1) * dh];
        for (j, w) in scores.iter().enumerate() {
            let at = kh * heads.stride + j * dh;
            for (o, vv) in oh.iter_mut().zip(&vs[at..at + dh]) {
                *o += w * vv;
            }
        }
    }
}

pub(super) fn rms_norm(x: &mut [f32], d: usize, w: &[f32], eps: f64) {
    for row in x.chunks_mut(d) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let r = 1.0 / (ms + eps as f32).sqrt();
        row.iter_mut().zip(w).for_each(|(v, g)| *v *= r * g);
    }
}

/// Rotates each head of `x` (heads x dh) by one position's angles (HF "rotate half" layout).
pub(super) fn rotate(x: &mut [f32], dh: usize, cos: &[f32], sin: &[f32]) {
    let half = dh / 2;
    for head in x.chunks_mut(dh) {
        for i in 0..half {
            let (a, b) = (head[i], head[i + half]);
            head[i] = a * cos[i] - b * sin[i];
            head[i + half] = b * cos[i + half] + a * sin[i + half];
        }
    }
}
