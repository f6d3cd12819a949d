//! Picking the next token from logits: temperature, top-k and top-p (nucleus) sampling,
//! greedy at temperature 0.

use super::decode::*;
use crate::ml::kernels::exp_f32;

/// `out[i] = e^((x[i] - max) * inv_temp)`, vectorised (AVX2 when the CPU has it).
pub(super) fn exp_scaled(x: &[f32], max: f32, inv_temp: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::ml::kernels::cpu::avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { exp_scaled_avx2(x, max, inv_temp, out) };
    }
    exp_scaled_impl(x, max, inv_temp, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn exp_scaled_avx2(x: &[f32], max: f32, inv_temp: f32, out: &mut [f32]) {
    exp_scaled_impl(x, max, inv_temp, out)
}

#[inline(always)]
pub(super) fn exp_scaled_impl(x: &[f32], max: f32, inv_temp: f32, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp_f32((v - max) * inv_temp);
    }
}

/// Draws one token from logits with temperature, top-k and top-p, `u` being a uniform draw
/// in [0, 1); returns it and the entropy of the distribution it was drawn from.
pub(super) fn sample_token(
    logits: &[f32],
    gen: &GenConfig,
    u: f64,
    probs: &mut [f32],
) -> (u32, f64) {
    let temp = gen.temperature.max(1e-6) as f32;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z = |l: f32| (l - max) / temp;
    exp_scaled(logits, max, 1.0 / temp, probs);
    let filtering = (gen.top_k > 0 && gen.top_k < logits.len()) || gen.top_p < 1.0;
    if filtering {
        let sum: f64 = probs.iter().map(|&p| p as f64).sum();
        let mut order: Vec<u32> = (0..probs.len() as u32).collect();
        order.sort_unstable_by(|a, b| {
            probs[*b as usize]
                .total_cmp(&probs[*a as usize])
                .then(a.cmp(b))
        });
        let k = if gen.top_k > 0 {
            gen.top_k.min(order.len())
        } else {
            order.len()
        };
        // Top-p takes its mass among the top-k survivors, as transformers' warpers do (top-k
        // first, then top-p on the renormalised rest).
        let sum = if k < order.len() {
            order[..k].iter().map(|&t| probs[t as usize] as f64).sum()
        } else {
            sum
        };
        let mut kept = 0usize;
        let mut mass = 0f64;
        for &t in &order[..k] {
            kept += 1;
            mass += probs[t as usize] as f64 / sum;
            if mass >= gen.top_p {
                break;
            }
        }
        for &t in &order[kept..] {
            probs[t as usize] = 0.0;
        }
    }
    // Entropy without a log per token: with p_i = e^{z_i} / S, H = ln S - sum(e^{z_i} z_i) / S.
    let (mut sum, mut weighted) = (0f64, 0f64);
    for (&p, &l) in probs.iter().zip(logits) {
        if p > 0.0 {
            sum += p as f64;
            weighted += p as f64 * z(l) as f64;
        }
    }
    let entropy = (sum.ln() - weighted / sum).max(0.0);
    let mut u = u * sum;
    let mut last = 0u32;
    for (t, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            last = t as u32;
            u -= p as f64;
            if u <= 0.0 {
                return (t as u32, entropy);
            }
        }
    }
    (last, entropy)
}
