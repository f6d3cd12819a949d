//! Fused CPU kernels with gradients, as candle custom ops, for what candle only ships slow or
//! forward-only: softmax and layer norm (`norm`), attention's masked softmax (`softmax`), GELU
//! and bias add (`activations`), token log-probabilities (`logprobs`), matmul over our GEMM and
//! the pool helpers (`matmul`), fused multi-head attention (`attention`). This file holds what
//! they share: SIMD exp, softmax rows, sums and dots, and `float_kernel!`. On other devices the
//! composed (slower) forms are used, so the `cuda` feature still trains correctly.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, D};
use num_traits::Float;
use rayon::prelude::*;

pub(crate) fn contiguous<'a, T>(src: &'a [T], layout: &Layout, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&src[a..b]),
        None => candle_core::bail!("{what}: input has to be contiguous"),
    }
}

/// Runs one generic kernel on the f32 or f64 contents of contiguous storages (both arms are
/// the same code, monomorphised per type); other dtypes are an error naming the op.
macro_rules! float_kernel {
    ($what:expr, $(($s:expr, $l:expr) => $x:ident),+ ; $body:expr) => {
        match ($($s,)+) {
            ($(CpuStorage::F32($x),)+) => {
                $(let $x = contiguous($x, $l, $what)?;)+
                CpuStorage::F32($body)
            }
            ($(CpuStorage::F64($x),)+) => {
                $(let $x = contiguous($x, $l, $what)?;)+
                CpuStorage::F64($body)
            }
            _ => candle_core::bail!("{}: unsupported dtype", $what),
        }
    };
}

/// Softmax over the last dimension; backward `dx = y * (g - sum(g * y))`.
/// e^x in f32 without a libm call, so loops over it vectorise: x = k ln2 + r with
/// |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (relative error ~1e-7, f32's own),
/// 2^k through the exponent bits. k is rounded by adding and subtracting 1.5 * 2^23 (plain
/// adds: no rounding instruction needed). Inputs below -87 give ~1e-38 rather than 0.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * 0.693_145_75 - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // k sits in the low mantissa bits of `shifted`: integer adds and a shift give 2^k, where
    // `k as i32` compiled to one scalar conversion per lane and kept loops from vectorising.
    let two_k = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127)
        << 23;
    f32::from_bits(two_k) * p
}

/// The exponential the kernels use: `exp_f32` for f32 (training), libm for f64 (the
/// gradient checks, which need full precision).
pub(crate) trait FastExp: Float {
    fn fast_exp(self) -> Self;

    /// `sum_i e^(x_i - shift)`.
    fn sum_exp(xs: &[Self], shift: Self) -> Self {
        sum_exp(xs, shift)
    }

    /// In place: `softmax(scale * x)` over the entries whose `keep` is positive, 0 elsewhere
    /// (all 0 when none is kept).
    fn softmax_row(row: &mut [Self], keep: &[Self], scale: Self) {
        softmax_row(row, keep, scale)
    }
}

impl FastExp for f32 {
    #[inline(always)]
    fn fast_exp(self) -> f32 {
        exp_f32(self)
    }

    fn sum_exp(xs: &[f32], shift: f32) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if crate::ml::kernels::cpu::avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { sum_exp_avx2(xs, shift) };
        }
        sum_exp(xs, shift)
    }

    fn softmax_row(row: &mut [f32], keep: &[f32], scale: f32) {
        #[cfg(target_arch = "x86_64")]
        if crate::ml::kernels::cpu::avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { softmax_row_avx2(row, keep, scale) };
        }
        softmax_row(row, keep, scale)
    }
}

/// `softmax_row` compiled for AVX2 + FMA (attention's softmax is mostly this).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_row_avx2(row: &mut [f32], keep: &[f32], scale: f32) {
    softmax_row(row, keep, scale)
}

/// Branch-free over eight lanes (selects, not jumps), so the loops vectorise.
#[inline(always)]
fn softmax_row<T: FastExp>(row: &mut [T], keep: &[T], scale: T) {
    let n8 = row.len() / 8 * 8;
    let kept = |x: T, k: T| if k > T::zero() { x } else { T::neg_infinity() };
    let mut m8 = [T::neg_infinity(); 8];
    for (c, k) in row[..n8].chunks_exact(8).zip(keep[..n8].chunks_exact(8)) {
        for l in 0..8 {
            let v = kept(c[l], k[l]);
            m8[l] = if v > m8[l] { v } else { m8[l] };
        }
    }
    let mut max = T::neg_infinity();
    for (&x, &k) in row[n8..]
        .iter()
        .zip(&keep[n8..])
        .chain(m8.iter().zip(&[T::one(); 8]))
    {
        let v = kept(x, k);
        max = if v > max { v } else { max };
    }
    if max == T::neg_infinity() {
        row.fill(T::zero());
        return;
    }
    // scale > 0, so the largest scaled score is scale * max.
    let shift = max * scale;
    let mut s8 = [T::zero(); 8];
    let exp = |x: T, k: T| {
        if k > T::zero() {
            (x * scale - shift).fast_exp()
        } else {
            T::zero()
        }
    };
    for (c, k) in row[..n8]
        .chunks_exact_mut(8)
        .zip(keep[..n8].chunks_exact(8))
    {
        for l in 0..8 {
            c[l] = exp(c[l], k[l]);
            s8[l] = s8[l] + c[l];
        }
    }
    let mut sum = s8.iter().fold(T::zero(), |a, &x| a + x);
    for (x, &k) in row[n8..].iter_mut().zip(&keep[n8..]) {
        *x = exp(*x, k);
        sum = sum + *x;
    }
    let inv = T::one() / sum;
    row.iter_mut().for_each(|x| *x = *x * inv);
}

/// `sum_exp` compiled for AVX2 + FMA: eight lanes, and the float-to-int conversion and the
/// polynomial in single instructions (the log-softmax over a vocabulary is mostly this).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_exp_avx2(xs: &[f32], shift: f32) -> f32 {
    sum_exp(xs, shift)
}

impl FastExp for f64 {
    #[inline(always)]
    fn fast_exp(self) -> f64 {
        self.exp()
    }
}

/// `sum_i f(x_i)` with eight running totals, so the loop vectorises (one total is a chain of
/// dependent adds that cannot be reordered).
#[inline(always)]
pub(crate) fn sum8<S: Copy, T: Float>(xs: &[S], f: impl Fn(S) -> T) -> T {
    let mut acc = [T::zero(); 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder().iter().fold(T::zero(), |a, &x| a + f(x));
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = *a + f(x);
        }
    }
    acc.iter().fold(rest, |a, &x| a + x)
}

/// `sum_i a_i b_i` with eight running totals (one total is a chain of dependent adds that
/// does not vectorise).
pub(crate) fn dot8<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest = (ca.remainder().iter().zip(cb.remainder())).fold(T::zero(), |s, (&x, &y)| s + x * y);
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] = acc[l] + x[l] * y[l];
        }
    }
    acc.iter().fold(rest, |s, &v| s + v)
}

/// `sum_i e^(x_i - shift)` with eight running totals.
#[inline(always)]
fn sum_exp<T: FastExp>(xs: &[T], shift: T) -> T {
    let mut acc = [T::zero(); 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks
        .remainder()
        .iter()
        .fold(T::zero(), |a, &x| a + (x - shift).fast_exp());
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = *a + (x - shift).fast_exp();
        }
    }
    acc.iter().fold(rest, |a, &x| a + x)
}

struct Softmax;

fn softmax_rows<T: FastExp + Send + Sync>(src: &[T], n: usize) -> Vec<T> {
    let mut dst = vec![T::zero(); src.len()];
    src.par_chunks(n)
        .zip(dst.par_chunks_mut(n))
        .for_each(|(s, d)| {
            let max = s.iter().copied().fold(T::neg_infinity(), T::max);
            for (x, y) in s.iter().zip(d.iter_mut()) {
                *y = (*x - max).fast_exp();
            }
            let inv = T::one() / sum8(d, |x| x);
            for y in d.iter_mut() {
                *y = *y * inv;
            }
        });
    dst
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "kibble-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = *layout.shape().dims().last().unwrap_or(&1);
        let out = float_kernel!("softmax", (storage, layout) => s; softmax_rows(s, n));
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dot = (grad * res)?.sum_keepdim(D::Minus1)?;
        Ok(Some(res.mul(&grad.broadcast_sub(&dot)?)?))
    }
}

/// Largest absolute difference between two tensors of one shape (for checks and tests).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    (a - b)?.abs()?.max_all()?.to_dtype(DType::F32)?.to_scalar()
}

// After the helpers above: `float_kernel!` must be defined before the modules that use it.
mod activations;
mod attention;
pub mod blocked;
pub mod cpu;
mod decoder_ops;
mod logprobs;
mod matmul;
mod norm;
pub mod panels;
mod pool;
pub mod quant;
mod softmax;
#[cfg(test)]
mod tests;

pub use activations::*;
pub use attention::*;
pub use decoder_ops::*;
pub use logprobs::*;
pub use matmul::*;
pub use norm::*;
pub use pool::*;
pub use softmax::*;
