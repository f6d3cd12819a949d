//! Fused CPU kernels with gradients for the two ops candle only ships forward-only fast paths
//! for (`softmax_last_dim`, `layer_norm`). On other devices the composed (slower) forms are used,
//! so the `cuda` feature still trains correctly.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, D};
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
        if super::cpu::avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { sum_exp_avx2(xs, shift) };
        }
        sum_exp(xs, shift)
    }

    fn softmax_row(row: &mut [f32], keep: &[f32], scale: f32) {
        #[cfg(target_arch = "x86_64")]
        if super::cpu::avx2_fma() {
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

pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Softmax)
    } else {
        candle_nn::ops::softmax(x, D::Minus1)
    }
}

/// LayerNorm without the affine part: `(x - mean) / sqrt(var + eps)` over the last dimension.
struct Normalize {
    eps: f64,
}

fn normalize_rows<T: Float + Send + Sync>(src: &[T], n: usize, eps: f64) -> Vec<T> {
    let mut dst = vec![T::zero(); src.len()];
    let nf = T::from(n).unwrap_or(T::one());
    let eps = T::from(eps).unwrap_or(T::zero());
    src.par_chunks(n)
        .zip(dst.par_chunks_mut(n))
        .for_each(|(s, d)| {
            let mean = s.iter().fold(T::zero(), |a, &x| a + x) / nf;
            let var = s
                .iter()
                .fold(T::zero(), |a, &x| a + (x - mean) * (x - mean))
                / nf;
            let rstd = T::one() / (var + eps).sqrt();
            for (x, y) in s.iter().zip(d.iter_mut()) {
                *y = (*x - mean) * rstd;
            }
        });
    dst
}

impl CustomOp1 for Normalize {
    fn name(&self) -> &'static str {
        "kibble-normalize"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = *layout.shape().dims().last().unwrap_or(&1);
        let out =
            float_kernel!("normalize", (storage, layout) => s; normalize_rows(s, n, self.eps));
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(
            arg.apply_op2_no_bwd(&g, &NormalizeBwd { eps: self.eps })?,
        ))
    }
}

/// `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))`, one pass per row.
struct NormalizeBwd {
    eps: f64,
}

fn normalize_bwd_rows<T: Float + Send + Sync>(x: &[T], g: &[T], n: usize, eps: f64) -> Vec<T> {
    let mut dx = vec![T::zero(); x.len()];
    let nf = T::from(n).unwrap_or(T::one());
    let eps = T::from(eps).unwrap_or(T::zero());
    dx.par_chunks_mut(n)
        .zip(x.par_chunks(n).zip(g.par_chunks(n)))
        .for_each(|(d, (xs, gs))| {
            let mean = xs.iter().fold(T::zero(), |a, &v| a + v) / nf;
            let var = xs
                .iter()
                .fold(T::zero(), |a, &v| a + (v - mean) * (v - mean))
                / nf;
            let rstd = T::one() / (var + eps).sqrt();
            let mut g_mean = T::zero();
            let mut gx_mean = T::zero();
            for (&xv, &gv) in xs.iter().zip(gs) {
                g_mean = g_mean + gv;
                gx_mean = gx_mean + gv * (xv - mean) * rstd;
            }
            g_mean = g_mean / nf;
            gx_mean = gx_mean / nf;
            for ((o, &xv), &gv) in d.iter_mut().zip(xs).zip(gs) {
                let xhat = (xv - mean) * rstd;
                *o = rstd * (gv - g_mean - xhat * gx_mean);
            }
        });
    dx
}

impl CustomOp2 for NormalizeBwd {
    fn name(&self) -> &'static str {
        "kibble-normalize-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let n = *l1.shape().dims().last().unwrap_or(&1);
        let out = float_kernel!("normalize-bwd", (s1, l1) => x, (s2, l2) => g; normalize_bwd_rows(x, g, n, self.eps));
        Ok((out, l1.shape().clone()))
    }
}

/// LayerNorm over the last dimension without weight and bias, differentiable.
pub fn normalize(x: &Tensor, eps: f64) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        return x.contiguous()?.apply_op1(Normalize { eps });
    }
    let n = x.dim(D::Minus1)? as f64;
    let mean = (x.sum_keepdim(D::Minus1)? / n)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = (xc.sqr()?.sum_keepdim(D::Minus1)? / n)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)
}

/// The mean of each sequence's real tokens: `x` (batch*seq, d), `mask` (batch, seq) ->
/// (batch, d); a sequence with no real token pools to zeros. One pass each way, in parallel
/// over sequences (the broadcast multiply, sum and divide it replaces, and their backward
/// passes, ran single-threaded).
pub fn masked_mean_pool(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let d = x.dim(D::Minus1)?;
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        return x
            .contiguous()?
            .apply_op2(&mask.to_dtype(x.dtype())?.contiguous()?, MeanPool);
    }
    let m = mask.to_dtype(x.dtype())?.reshape((b, t, 1))?;
    let summed = x.reshape((b, t, d))?.broadcast_mul(&m)?.sum(1)?;
    summed.broadcast_div(&m.sum(1)?.clamp(1.0, f64::MAX)?)
}

struct MeanPool;

/// Each sequence's pooling weights: mask / max(real tokens, 1).
fn pool_weights<T: Float>(mask: &[T]) -> Vec<T> {
    let count = mask.iter().fold(T::zero(), |a, &m| a + m).max(T::one());
    mask.iter().map(|&m| m / count).collect()
}

fn mean_pool_rows<T: Float + Send + Sync>(x: &[T], mask: &[T], t: usize) -> Vec<T> {
    let b = mask.len() / t;
    let d = x.len() / (b * t).max(1);
    let mut out = vec![T::zero(); b * d];
    out.par_chunks_mut(d.max(1)).enumerate().for_each(|(i, o)| {
        let w = pool_weights(&mask[i * t..(i + 1) * t]);
        for (j, &wj) in w.iter().enumerate() {
            if wj != T::zero() {
                for (o, &v) in o.iter_mut().zip(&x[(i * t + j) * d..(i * t + j + 1) * d]) {
                    *o = *o + wj * v;
                }
            }
        }
    });
    out
}

fn mean_pool_bwd_rows<T: Float + Send + Sync>(g: &[T], mask: &[T], t: usize) -> Vec<T> {
    let b = mask.len() / t;
    let d = g.len() / b.max(1);
    let mut dx = vec![T::zero(); b * t * d];
    dx.par_chunks_mut((t * d).max(1))
        .enumerate()
        .for_each(|(i, dxs)| {
            let w = pool_weights(&mask[i * t..(i + 1) * t]);
            let gi = &g[i * d..(i + 1) * d];
            for (row, &wj) in dxs.chunks_mut(d.max(1)).zip(&w) {
                for (o, &gv) in row.iter_mut().zip(gi) {
                    *o = wj * gv;
                }
            }
        });
    dx
}

impl CustomOp2 for MeanPool {
    fn name(&self) -> &'static str {
        "kibble-mean-pool"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, d) = l1.shape().dims2()?;
        let (b, t) = l2.shape().dims2()?;
        if l1.shape().dims()[0] != b * t {
            candle_core::bail!("mean pool: {:?} rows for a {b} x {t} mask", l1.shape());
        }
        let out = float_kernel!("mean-pool", (s1, l1) => x, (s2, l2) => m; mean_pool_rows(x, m, t));
        Ok((out, Shape::from_dims(&[b, d])))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = grad.contiguous()?.apply_op2_no_bwd(mask, &MeanPoolBwd)?;
        Ok((Some(dx), None))
    }
}

struct MeanPoolBwd;

impl CustomOp2 for MeanPoolBwd {
    fn name(&self) -> &'static str {
        "kibble-mean-pool-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, d) = l1.shape().dims2()?;
        let (b, t) = l2.shape().dims2()?;
        let out = float_kernel!("mean-pool-bwd", (s1, l1) => g, (s2, l2) => m; mean_pool_bwd_rows(g, m, t));
        Ok((out, Shape::from_dims(&[b * t, d])))
    }
}

/// LayerNorm over the last dimension with weight and bias, differentiable.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    normalize(x, eps)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Central finite differences of `f` (a scalar function of `x`) against autograd.
    fn check_grad(f: impl Fn(&Tensor) -> Result<Tensor>, x0: &[f64], shape: &[usize]) {
        let dev = Device::Cpu;
        let x = Var::from_vec(x0.to_vec(), shape, &dev).unwrap();
        let y = f(x.as_tensor()).unwrap();
        let grads = y.backward().unwrap();
        let g: Vec<f64> = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let h = 1e-6;
        for i in 0..x0.len() {
            let mut p = x0.to_vec();
            p[i] += h;
            let mut m = x0.to_vec();
            m[i] -= h;
            let fp: f64 = f(&Tensor::from_vec(p, shape, &dev).unwrap())
                .unwrap()
                .to_scalar()
                .unwrap();
            let fm: f64 = f(&Tensor::from_vec(m, shape, &dev).unwrap())
                .unwrap()
                .to_scalar()
                .unwrap();
            let num = (fp - fm) / (2.0 * h);
            assert!(
                (num - g[i]).abs() < 1e-6,
                "grad {i}: numeric {num} vs autograd {}",
                g[i]
            );
        }
    }

    fn weights(n: usize) -> Tensor {
        let w: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        Tensor::from_vec(w, n, &Device::Cpu).unwrap()
    }

    #[test]
    fn softmax_gradient_matches_finite_differences() {
        let x0: Vec<f64> = (0..12).map(|i| (i as f64 * 0.7).cos()).collect();
        let w = weights(4);
        check_grad(
            |x| softmax_last_dim(x)?.broadcast_mul(&w)?.sum_all(),
            &x0,
            &[3, 4],
        );
    }

    #[test]
    fn layer_norm_gradient_matches_finite_differences() {
        let x0: Vec<f64> = (0..15).map(|i| (i as f64 * 1.3).sin() * 2.0).collect();
        let w = weights(5);
        let gamma = (weights(5) + 1.0).unwrap();
        let beta = weights(5);
        check_grad(
            |x| {
                layer_norm(x, &gamma, &beta, 1e-5)?
                    .broadcast_mul(&w)?
                    .sum_all()
            },
            &x0,
            &[3, 5],
        );
    }

    #[test]
    fn fused_forward_matches_composed() {
        let x = Tensor::from_vec(
            (0..20).map(|i| (i as f32).sin()).collect::<Vec<_>>(),
            (4, 5),
            &Device::Cpu,
        )
        .unwrap();
        let a = softmax_last_dim(&x).unwrap();
        let b = candle_nn::ops::softmax(&x, D::Minus1).unwrap();
        assert!(max_abs_diff(&a, &b).unwrap() < 1e-6);
    }
}

/// Scaled softmax over keys with a key-padding mask: `softmax(scale * s + (mask - 1) * 1e9)`,
/// for scores of shape (batch, heads, queries, keys) and a mask of shape (batch, keys).
/// Folding scale and mask into the kernel avoids two full passes and a slow broadcast.
struct MaskedSoftmax {
    scale: f64,
    heads_x_queries: usize,
}

fn masked_softmax_rows<T: FastExp + Send + Sync>(
    s: &[T],
    mask: &[T],
    t: usize,
    hq: usize,
    scale: f64,
) -> Vec<T> {
    let mut dst = s.to_vec();
    let scale = T::from(scale).unwrap_or(T::one());
    dst.par_chunks_mut(t).enumerate().for_each(|(row, d)| {
        softmax_in_place(
            d,
            &mask[(row / hq) * t..(row / hq + 1) * t],
            t,
            scale,
            false,
        );
    });
    dst
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "kibble-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let t = *l1.shape().dims().last().unwrap_or(&1);
        let out = float_kernel!("masked-softmax", (s1, l1) => s, (s2, l2) => m; masked_softmax_rows(s, m, t, self.heads_x_queries, self.scale));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _s: &Tensor,
        _m: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        Ok((
            Some(res.apply_op2_no_bwd(&g, &SoftmaxBwd { scale: self.scale })?),
            None,
        ))
    }
}

/// `ds = scale * y * (g - sum(g * y))`, per row.
struct SoftmaxBwd {
    scale: f64,
}

fn softmax_bwd_rows<T: Float + Send + Sync>(y: &[T], g: &[T], t: usize, scale: f64) -> Vec<T> {
    let mut out = vec![T::zero(); y.len()];
    let scale = T::from(scale).unwrap_or(T::one());
    out.par_chunks_mut(t)
        .zip(y.par_chunks(t).zip(g.par_chunks(t)))
        .for_each(|(o, (ys, gs))| {
            let dot = ys.iter().zip(gs).fold(T::zero(), |a, (y, g)| a + *y * *g);
            for ((oi, yi), gi) in o.iter_mut().zip(ys).zip(gs) {
                *oi = scale * *yi * (*gi - dot);
            }
        });
    out
}

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "kibble-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let t = *l1.shape().dims().last().unwrap_or(&1);
        let out = float_kernel!("softmax-bwd", (s1, l1) => y, (s2, l2) => g; softmax_bwd_rows(y, g, t, self.scale));
        Ok((out, l1.shape().clone()))
    }
}

/// Attention weights from raw scores (batch, heads, q, k) and a key mask (batch, k).
pub fn masked_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let (b, h, q, k) = scores.dims4()?;
    if scores.device().is_cpu() && matches!(scores.dtype(), DType::F32 | DType::F64) {
        scores.contiguous()?.apply_op2(
            &mask.to_dtype(scores.dtype())?.contiguous()?,
            MaskedSoftmax {
                scale,
                heads_x_queries: h * q,
            },
        )
    } else {
        let bias = ((mask.ones_like()? - mask)? * -1e9)?.reshape((b, 1, 1, k))?;
        softmax_last_dim(&(scores * scale)?.broadcast_add(&bias)?)
    }
}

/// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), enough for f32 GELU.
pub(crate) fn erf64(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - r
    } else {
        r - 1.0
    }
}

/// Exact (erf) GELU, `x * Phi(x)`; backward `Phi(x) + x * phi(x)`.
struct Gelu;

/// The standard normal's CDF and density at v, `(Phi(v), phi(v))`, sharing one exp: erf by
/// Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), whose `exp(-x^2)` at
/// `x = |v| / sqrt 2` is the density's `exp(-v^2 / 2)`. The tail `1 - erf` is computed
/// directly, not as a difference. No branches: it vectorises.
#[inline(always)]
fn phi_and_density(v: f32) -> (f32, f32) {
    let e = exp_f32(-0.5 * v * v);
    let t = 1.0 / (1.0 + 0.327_591_1 * std::f32::consts::FRAC_1_SQRT_2 * v.abs());
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    // Half of 1 - erf(|v| / sqrt 2): Phi(v) for v < 0, 1 - Phi(v) for v >= 0.
    let tail = 0.5 * poly * e;
    let cdf = if v < 0.0 { tail } else { 1.0 - tail };
    (cdf, 0.398_942_3 * e)
}

pub(crate) fn gelu_f32(x: &[f32], grad: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    const CHUNK: usize = 16 * 1024;
    match grad {
        None => out
            .par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, xs)| gelu_chunk(o, xs, None)),
        Some(g) => out
            .par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(o, (xs, gs))| gelu_chunk(o, xs, Some(gs))),
    }
    out
}

/// GELU in place, returning its slope `Phi(x) + x phi(x)` at the old values, for a training
/// forward pass: the backward pass is then one multiply, with no erf or exp (it was 4 % of a
/// step). In place and into an unzeroed buffer, because this pass is bound by memory.
pub(crate) fn gelu_in_place_with_slope(x: &mut [f32]) -> Vec<f32> {
    const CHUNK: usize = 16 * 1024;
    let mut slope = Vec::with_capacity(x.len());
    slope.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks_mut(CHUNK))
        .for_each(|(s, xs)| {
            #[cfg(target_arch = "x86_64")]
            if super::cpu::avx2_fma() {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { gelu_with_slope_avx2(xs, s) };
            }
            gelu_with_slope_body(xs, s)
        });
    // SAFETY: every element was written above (the chunks cover all of x.len()).
    unsafe { slope.set_len(x.len()) };
    slope
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_with_slope_avx2(x: &mut [f32], slope: &mut [std::mem::MaybeUninit<f32>]) {
    gelu_with_slope_body(x, slope)
}

#[inline(always)]
fn gelu_with_slope_body(x: &mut [f32], slope: &mut [std::mem::MaybeUninit<f32>]) {
    for (v, s) in x.iter_mut().zip(slope.iter_mut()) {
        let (cdf, pdf) = phi_and_density(*v);
        s.write(cdf + *v * pdf);
        *v *= cdf;
    }
}

/// GELU (or its gradient times `g`) of one chunk, eight lanes wide where the CPU has AVX2.
fn gelu_chunk(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
    #[cfg(target_arch = "x86_64")]
    if super::cpu::avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { gelu_chunk_avx2(out, x, g) };
    }
    gelu_chunk_body(out, x, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_chunk_avx2(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
    gelu_chunk_body(out, x, g)
}

#[inline(always)]
fn gelu_chunk_body(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
    match g {
        None => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v * phi_and_density(v).0;
            }
        }
        Some(g) => {
            for ((o, &v), &gi) in out.iter_mut().zip(x).zip(g) {
                let (cdf, pdf) = phi_and_density(v);
                *o = gi * (cdf + v * pdf);
            }
        }
    }
}

/// The f64 path (gradient tests): plain libm erf.
fn gelu_f64(x: &[f64], grad: Option<&[f64]>) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let cdf = 0.5 * (1.0 + erf64(v * std::f64::consts::FRAC_1_SQRT_2));
            match grad {
                None => v * cdf,
                Some(g) => g[i] * (cdf + v * 0.398_942_280_401_432_7 * (-0.5 * v * v).exp()),
            }
        })
        .collect()
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "kibble-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match storage {
            CpuStorage::F32(s) => CpuStorage::F32(gelu_f32(contiguous(s, layout, "gelu")?, None)),
            CpuStorage::F64(s) => CpuStorage::F64(gelu_f64(contiguous(s, layout, "gelu")?, None)),
            _ => candle_core::bail!("gelu: unsupported dtype"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &GeluBwd)?))
    }
}

struct GeluBwd;

impl CustomOp2 for GeluBwd {
    fn name(&self) -> &'static str {
        "kibble-gelu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(gelu_f32(
                contiguous(x, l1, "gelu-bwd")?,
                Some(contiguous(g, l2, "gelu-bwd")?),
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(gelu_f64(
                contiguous(x, l1, "gelu-bwd")?,
                Some(contiguous(g, l2, "gelu-bwd")?),
            )),
            _ => candle_core::bail!("gelu-bwd: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }
}

pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Gelu)
    } else {
        x.gelu_erf()
    }
}

/// `x + b` for rows x (n, d) and a bias (d); the bias gradient is a column sum done in one
/// parallel pass instead of candle's generic strided reduction.
struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "kibble-bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn add<T: Float + Send + Sync>(x: &[T], b: &[T]) -> Vec<T> {
            let d = b.len();
            let mut out = x.to_vec();
            out.par_chunks_mut(d * 64).for_each(|rows| {
                for row in rows.chunks_mut(d) {
                    for (o, bi) in row.iter_mut().zip(b) {
                        *o = *o + *bi;
                    }
                }
            });
            out
        }
        let out = float_kernel!("bias-add", (s1, l1) => x, (s2, l2) => b; add(x, b));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = b.dim(0)?;
        let n = grad.elem_count() / d;
        // Column sums as a (1, n) x (n, d) product: gemm is the fastest reduction we have.
        let ones = Tensor::ones((1, n), grad.dtype(), grad.device())?;
        let db = ones.matmul(&grad.reshape((n, d))?)?.reshape(d)?;
        Ok((Some(grad.clone()), Some(db)))
    }
}

pub fn bias_add(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) && x.rank() == 2 {
        x.contiguous()?.apply_op2(&b.contiguous()?, BiasAdd)
    } else {
        x.broadcast_add(b)
    }
}

#[cfg(test)]
mod fused_tests {
    use super::*;
    use candle_core::{Device, Var};

    fn grad_check(f: impl Fn(&Tensor) -> Result<Tensor>, x0: Vec<f64>, shape: &[usize]) {
        grad_check_within(f, x0, shape, 1e-5)
    }

    /// The gradient of the scalar `f` at `x0` matches central differences within `tol`.
    pub(super) fn grad_check_within(
        f: impl Fn(&Tensor) -> Result<Tensor>,
        x0: Vec<f64>,
        shape: &[usize],
        tol: f64,
    ) {
        let dev = Device::Cpu;
        let x = Var::from_vec(x0.clone(), shape, &dev).unwrap();
        let g: Vec<f64> = f(x.as_tensor())
            .unwrap()
            .backward()
            .unwrap()
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for i in 0..x0.len() {
            let at = |d: f64| -> f64 {
                let mut p = x0.clone();
                p[i] += d;
                f(&Tensor::from_vec(p, shape, &dev).unwrap())
                    .unwrap()
                    .to_scalar()
                    .unwrap()
            };
            let num = (at(1e-6) - at(-1e-6)) / 2e-6;
            assert!((num - g[i]).abs() < tol, "{i}: {num} vs {}", g[i]);
        }
    }

    fn w(n: usize) -> Tensor {
        Tensor::from_vec(
            (0..n).map(|i| (i as f64 * 0.61).sin()).collect::<Vec<_>>(),
            n,
            &Device::Cpu,
        )
        .unwrap()
    }

    #[test]
    fn masked_softmax_gradient_and_mask() {
        // (b=2, h=1, q=2, k=3); second batch row has its last key padded.
        let mask =
            Tensor::from_vec(vec![1.0f64, 1.0, 1.0, 1.0, 1.0, 0.0], (2, 3), &Device::Cpu).unwrap();
        let x0: Vec<f64> = (0..12).map(|i| (i as f64 * 0.9).cos()).collect();
        grad_check(
            |x| {
                masked_softmax(x, &mask, 0.7)?
                    .broadcast_mul(&w(3))?
                    .sum_all()
            },
            x0.clone(),
            &[2, 1, 2, 3],
        );
        let y: Vec<f64> = masked_softmax(
            &Tensor::from_vec(x0, (2, 1, 2, 3), &Device::Cpu).unwrap(),
            &mask,
            0.7,
        )
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
        assert_eq!(y[8], 0.0);
        assert!((y[6] + y[7] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gelu_f32_matches_candle_erf() {
        let x = Tensor::from_vec(
            (0..2001)
                .map(|i| i as f32 * 0.005 - 5.0)
                .collect::<Vec<_>>(),
            2001,
            &Device::Cpu,
        )
        .unwrap();
        let d: f32 = (gelu(&x).unwrap() - x.gelu_erf().unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(d < 2e-6, "{d}");
    }

    /// The f32 kernels' GELU, slope and gradient against the f64 (libm erf) reference.
    #[test]
    fn gelu_f32_kernels_match_the_f64_reference() {
        let x: Vec<f32> = (0..4801).map(|i| i as f32 * 0.005 - 12.0).collect();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let ones = vec![1f64; x.len()];
        let (want, want_slope) = (gelu_f64(&x64, None), gelu_f64(&x64, Some(&ones)));
        let mut y = x.clone();
        let slope = gelu_in_place_with_slope(&mut y);
        let grad = gelu_f32(&x, Some(&vec![1f32; x.len()]));
        let plain = gelu_f32(&x, None);
        for i in 0..x.len() {
            let (w, ws) = (want[i] as f32, want_slope[i] as f32);
            assert!((y[i] - w).abs() < 2e-6, "gelu({}): {} vs {w}", x[i], y[i]);
            assert_eq!(y[i], plain[i], "in place and plain GELU at {}", x[i]);
            assert!(
                (slope[i] - ws).abs() < 2e-6,
                "slope at {}: {} vs {ws}",
                x[i],
                slope[i]
            );
            assert_eq!(slope[i], grad[i], "slope and gradient at {}", x[i]);
        }
    }

    #[test]
    fn gelu_matches_erf_and_gradient() {
        let x0: Vec<f64> = (0..9).map(|i| i as f64 * 0.7 - 3.0).collect();
        let x = Tensor::from_vec(x0.clone(), 9, &Device::Cpu).unwrap();
        let a: Vec<f64> = gelu(&x).unwrap().to_vec1().unwrap();
        let b: Vec<f64> = x.gelu_erf().unwrap().to_vec1().unwrap();
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-6, "{p} vs {q}");
        }
        grad_check(|x| gelu(x)?.mul(&w(9))?.sum_all(), x0, &[9]);
    }

    #[test]
    fn token_logprobs_match_log_softmax_and_finite_differences() {
        let targets = [2u32, 0, 3];
        let x0: Vec<f64> = (0..12).map(|i| (i as f64 * 1.3).sin() * 2.0).collect();
        let x = Tensor::from_vec(x0.clone(), (3, 4), &Device::Cpu).unwrap();
        let got: Vec<f64> = token_logprobs(&x, &targets).unwrap().to_vec1().unwrap();
        let ls: Vec<Vec<f64>> = candle_nn::ops::log_softmax(&x, D::Minus1)
            .unwrap()
            .to_vec2()
            .unwrap();
        for (i, &t) in targets.iter().enumerate() {
            assert!((got[i] - ls[i][t as usize]).abs() < 1e-12);
        }
        grad_check(
            |x| token_logprobs(x, &targets)?.mul(&w(3))?.sum_all(),
            x0,
            &[3, 4],
        );
    }

    /// The f32 kernels use `exp_f32` and eight-way sums: same values as candle's f32 ops.
    #[test]
    fn f32_log_softmax_and_softmax_match_candle() {
        let dev = Device::Cpu;
        let (rows, v) = (5, 1003);
        let x0: Vec<f32> = (0..rows * v)
            .map(|i| (i as f32 * 0.37).sin() * 9.0)
            .collect();
        let x = Tensor::from_vec(x0, (rows, v), &dev).unwrap();
        let targets: Vec<u32> = (0..rows as u32).map(|r| r * 101).collect();
        let got = token_logprobs(&x, &targets).unwrap();
        let idx = Tensor::new(targets.as_slice(), &dev)
            .unwrap()
            .unsqueeze(1)
            .unwrap();
        let want = candle_nn::ops::log_softmax(&x, D::Minus1)
            .unwrap()
            .gather(&idx, 1)
            .unwrap()
            .squeeze(1)
            .unwrap();
        assert!(max_abs_diff(&got, &want).unwrap() < 1e-4);
        let want = candle_nn::ops::softmax_last_dim(&x).unwrap();
        assert!(max_abs_diff(&softmax_last_dim(&x).unwrap(), &want).unwrap() < 1e-6);
    }

    #[test]
    fn bias_add_gradients() {
        let dev = Device::Cpu;
        let b = Var::from_vec(vec![0.1f64, -0.2, 0.3], 3, &dev).unwrap();
        let x = Var::from_vec((0..6).map(|i| i as f64).collect::<Vec<_>>(), (2, 3), &dev).unwrap();
        let y = bias_add(x.as_tensor(), b.as_tensor()).unwrap();
        let loss = y.broadcast_mul(&w(3)).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gb: Vec<f64> = g.get(b.as_tensor()).unwrap().to_vec1().unwrap();
        let wv: Vec<f64> = w(3).to_vec1().unwrap();
        for i in 0..3 {
            assert!((gb[i] - 2.0 * wv[i]).abs() < 1e-12);
        }
    }

    /// Three sequences of three tokens: full, padded, and with no real token at all.
    #[test]
    fn masked_mean_pool_matches_the_composed_ops_and_finite_differences() {
        let dev = Device::Cpu;
        let mask = Tensor::new(&[[1f64, 1., 1.], [1., 0., 0.], [0., 0., 0.]], &dev).unwrap();
        let x0: Vec<f64> = (0..18).map(|i| (i as f64 * 0.37).cos()).collect();
        let x = Tensor::from_vec(x0.clone(), (9, 2), &dev).unwrap();
        let pooled: Vec<Vec<f64>> = masked_mean_pool(&x, &mask).unwrap().to_vec2().unwrap();
        assert_eq!(
            pooled[1],
            vec![x0[6], x0[7]],
            "one real token pools to itself"
        );
        assert_eq!(pooled[2], vec![0.0, 0.0], "no real token pools to zeros");
        let want = (x0[0] + x0[2] + x0[4]) / 3.0;
        assert!((pooled[0][0] - want).abs() < 1e-12);
        grad_check(
            |x| masked_mean_pool(x, &mask)?.broadcast_mul(&w(2))?.sum_all(),
            x0,
            &[9, 2],
        );
    }

    #[test]
    fn matmul_and_its_gradients_match_candle_for_strided_inputs() {
        let dev = Device::Cpu;
        let mut rng = crate::domain::SplitMix64::new(5);
        let mut r = |n: usize| {
            (0..n)
                .map(|_| rng.next_f64() as f32 - 0.5)
                .collect::<Vec<_>>()
        };
        let x = Var::from_vec(r(7 * 20), (7, 20), &dev).unwrap();
        let w = Var::from_vec(r(13 * 20), (13, 20), &dev).unwrap();
        let g = Tensor::from_vec(r(7 * 13), (7, 13), &dev).unwrap();
        let grads = |y: Tensor| {
            let gs = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
            [x.as_tensor(), w.as_tensor()].map(|t| gs.get(t).unwrap().clone())
        };
        let ours = matmul(x.as_tensor(), &w.t().unwrap()).unwrap();
        let theirs = x.matmul(&w.t().unwrap()).unwrap();
        assert!(max_abs_diff(&ours, &theirs).unwrap() < 1e-5);
        for (a, b) in grads(ours).iter().zip(grads(theirs).iter()) {
            assert!(max_abs_diff(a, b).unwrap() < 1e-5);
        }
    }
}

/// Log-probability of one target token per row of logits: (n, vocab) -> (n,), without a
/// (n, vocab) log-softmax tensor kept for the backward pass; `dx = g * (onehot - softmax)`.
struct TokenLogprobs {
    targets: std::sync::Arc<Vec<u32>>,
}

fn logsumexp<T: FastExp>(row: &[T]) -> T {
    let max = row.iter().copied().fold(T::neg_infinity(), T::max);
    max + T::sum_exp(row, max).ln()
}

fn token_logprobs_rows<T: FastExp + Send + Sync>(x: &[T], targets: &[u32], v: usize) -> Vec<T> {
    x.par_chunks(v)
        .zip(targets.par_iter())
        .map(|(row, &t)| row[t as usize] - logsumexp(row))
        .collect()
}

fn token_logprobs_bwd_rows<T: FastExp + Send + Sync>(
    x: &[T],
    g: &[T],
    targets: &[u32],
    v: usize,
) -> Vec<T> {
    let mut dx = vec![T::zero(); x.len()];
    dx.par_chunks_mut(v)
        .zip(x.par_chunks(v))
        .zip(g.par_iter().zip(targets.par_iter()))
        .for_each(|((d, row), (&gv, &t))| {
            if gv == T::zero() {
                return;
            }
            let lse = logsumexp(row);
            for (o, &xv) in d.iter_mut().zip(row) {
                *o = -gv * (xv - lse).fast_exp();
            }
            d[t as usize] = d[t as usize] + gv;
        });
    dx
}

impl CustomOp1 for TokenLogprobs {
    fn name(&self) -> &'static str {
        "kibble-token-logprobs"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, v) = layout.shape().dims2()?;
        let out = float_kernel!("token-logprobs", (storage, layout) => x; token_logprobs_rows(x, &self.targets, v));
        Ok((out, Shape::from_dims(&[n])))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = TokenLogprobsBwd {
            targets: self.targets.clone(),
        };
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

struct TokenLogprobsBwd {
    targets: std::sync::Arc<Vec<u32>>,
}

impl CustomOp2 for TokenLogprobsBwd {
    fn name(&self) -> &'static str {
        "kibble-token-logprobs-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let v = *l1.shape().dims().last().unwrap_or(&1);
        let out = float_kernel!("token-logprobs-bwd", (s1, l1) => x, (s2, l2) => g; token_logprobs_bwd_rows(x, g, &self.targets, v));
        Ok((out, l1.shape().clone()))
    }
}

/// `log softmax(logits)[i, targets[i]]` for each row: (n, vocab) -> (n,).
pub fn token_logprobs(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let (n, _) = logits.dims2()?;
    if targets.len() != n {
        candle_core::bail!("token_logprobs: {n} rows but {} targets", targets.len());
    }
    if logits.device().is_cpu() && matches!(logits.dtype(), DType::F32 | DType::F64) {
        return logits.contiguous()?.apply_op1(TokenLogprobs {
            targets: std::sync::Arc::new(targets.to_vec()),
        });
    }
    let idx = Tensor::from_vec(targets.to_vec(), (n, 1), logits.device())?;
    candle_nn::ops::log_softmax(logits, D::Minus1)?
        .gather(&idx, 1)?
        .squeeze(1)
}

/// `a b` of two 2-D tensors. f32 on the CPU goes through `gemm::matmul`, which reads any
/// strides (so `w.t()` costs no copy) and is faster than candle's at our shapes; the rest
/// (other dtypes, devices, ranks) through candle's matmul.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let fast = a.device().is_cpu()
        && (a.dtype(), b.dtype()) == (DType::F32, DType::F32)
        && (a.rank(), b.rank()) == (2, 2);
    if fast {
        a.apply_op2(b, Matmul)
    } else {
        a.matmul(b)
    }
}

struct Matmul;

fn view<'a>(data: &'a [f32], layout: &Layout) -> super::gemm::View<'a> {
    let (dims, stride) = (layout.dims(), layout.stride());
    super::gemm::View {
        data: &data[layout.start_offset()..],
        rows: dims[0],
        cols: dims[1],
        rs: stride[0],
        cs: stride[1],
    }
}

impl CustomOp2 for Matmul {
    fn name(&self) -> &'static str {
        "kibble-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(a), CpuStorage::F32(b)) = (s1, s2) else {
            candle_core::bail!("kibble-matmul: f32 only");
        };
        let (m, k, n) = (l1.dims()[0], l1.dims()[1], l2.dims()[1]);
        if l2.dims()[0] != k {
            candle_core::bail!("matmul: {m}x{k} times {:?}", l2.dims());
        }
        let c = super::gemm::product(view(a, l1), view(b, l2));
        Ok((CpuStorage::F32(c), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(matmul(grad, &b.t()?)?), Some(matmul(&a.t()?, grad)?)))
    }
}

/// Runs `f` on a thread of rayon's pool (the caller waits). Each parallel op inside then
/// hands half its work to the other pool thread through its queue, with the waiting side
/// spinning; from a thread outside the pool every op is a round trip through the global
/// queue and a sleep/wake on a condition variable, which costs more than a decode step's
/// small products.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// A raw pointer that rayon tasks may share because each writes a disjoint region. Only
/// for element types that may move between threads (the tasks write values of T there).
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<T>(pub(crate) *mut T);
// SAFETY: the pointer is only used to write disjoint regions, one task each; T: Send makes
// handing those values to another thread sound.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as above; sharing the wrapper shares only the address.
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// A method, so closures capture the whole (Send) wrapper, not the raw pointer field.
    pub(crate) fn ptr(self) -> *mut T {
        self.0
    }
}

/// `dst (m x n) = lhs (m x k) * rhs (k x n)` with element strides (row, column), single-threaded:
/// attention runs one (batch, head) per rayon task.
///
/// # Safety
/// For every i < m, j < n, l < k: `lhs + i*lhs_rs + l*lhs_cs` and `rhs + l*rhs_rs + j*rhs_cs`
/// are readable initialised values, and `dst + i*dst_rs + j` is writable and not read or
/// written by anyone else during the call (it need not be initialised: it is overwritten).
#[allow(clippy::too_many_arguments)]
unsafe fn mm<T: 'static + Float>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    lhs: *const T,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const T,
    rhs_rs: usize,
    rhs_cs: usize,
) {
    unsafe {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && m * n * k > 0 {
            // Our kernel for f32 (training); the `gemm` crate for f64 (the gradient checks).
            let view = |p: *const T, rows: usize, cols: usize, rs: usize, cs: usize| {
                let len = (rows - 1) * rs + (cols - 1) * cs + 1;
                super::gemm::View {
                    data: std::slice::from_raw_parts(p as *const f32, len),
                    rows,
                    cols,
                    rs,
                    cs,
                }
            };
            let (a, b) = (
                view(lhs, m, k, lhs_rs, lhs_cs),
                view(rhs, k, n, rhs_rs, rhs_cs),
            );
            return super::gemm::matmul_serial(a, b, dst as *mut f32, dst_rs, false);
        }
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            false,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            T::zero(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Scores -> masked, scaled softmax, in place, for one (batch, head): rows of length t.
/// With `causal`, query i sees keys 0..=i only.
fn softmax_in_place<T: FastExp>(s: &mut [T], mask: &[T], t: usize, scale: T, causal: bool) {
    for (i, row) in s.chunks_mut(t).enumerate() {
        let seen = if causal { i + 1 } else { t };
        T::softmax_row(&mut row[..seen], &mask[..seen], scale);
        row[seen..].fill(T::zero());
    }
}

/// Bidirectional multi-head attention fused in one op: input `qkv` (batch*seq, 3*d) as the
/// qkv projection lays it out, key mask (batch, seq); output (batch*seq, d). No head split
/// copies, no (batch, heads, seq, seq) tensors kept for the backward pass (recomputed).
#[derive(Clone, Copy)]
pub(crate) struct FusedAttention {
    pub(crate) batch: usize,
    pub(crate) seq: usize,
    pub(crate) heads: usize,
    pub(crate) causal: bool,
}

impl FusedAttention {
    fn dims(&self, cols3: usize) -> (usize, usize, usize, usize, usize) {
        let d = cols3 / 3;
        (self.batch, self.seq, self.heads, d, d / self.heads)
    }

    /// What is wrong with these buffer sizes for this op, if anything: every pointer the
    /// kernels build stays inside its buffer, and every output element gets written, only when
    /// heads divide d, qkv holds exactly batch x seq rows of 3d, the mask batch x seq values
    /// and the incoming gradient batch x seq rows of d.
    pub(crate) fn shape_problem(
        &self,
        qkv_len: usize,
        mask_len: usize,
        cols3: usize,
        dout_len: Option<usize>,
    ) -> Option<String> {
        let Some(rows) = self.batch.checked_mul(self.seq) else {
            return Some(format!(
                "attention: batch {} x seq {} overflows",
                self.batch, self.seq
            ));
        };
        let d = cols3 / 3;
        if self.heads == 0 || !cols3.is_multiple_of(3) || d == 0 || !d.is_multiple_of(self.heads) {
            return Some(format!(
                "attention: {} heads do not divide a width of {d} (qkv has {cols3} columns)",
                self.heads
            ));
        }
        if Some(qkv_len) != rows.checked_mul(cols3) || mask_len != rows {
            return Some(format!(
                "attention: batch {} x seq {} does not match qkv ({qkv_len} values of {cols3} columns) or the mask ({mask_len})",
                self.batch, self.seq
            ));
        }
        if dout_len.is_some_and(|n| Some(n) != rows.checked_mul(d)) {
            return Some(format!(
                "attention: the output gradient is not {rows} x {d}"
            ));
        }
        None
    }

    fn assert_shapes(&self, qkv: usize, mask: usize, cols3: usize, dout: Option<usize>) {
        if let Some(problem) = self.shape_problem(qkv, mask, cols3, dout) {
            panic!("{problem}");
        }
    }

    /// Pointers to the q, k, v blocks of one (batch, head) task, and its attention weights
    /// P = softmax(scale * Q K^T) over real keys (seq x seq) written into `p`.
    ///
    /// # Safety
    /// `p` points at t x t writable values that nothing else reads or writes meanwhile (they
    /// need not be initialised: the product writes all of them first).
    unsafe fn probabilities<T: 'static + FastExp>(
        &self,
        qkv: &[T],
        mask: &[T],
        cols3: usize,
        task: usize,
        p: *mut T,
    ) -> [*const T; 3] {
        let (_, t, h, d, dh) = self.dims(cols3);
        let (bi, hi) = (task / h, task % h);
        let base = bi * t * cols3 + hi * dh;
        let qkv_ptrs = [
            qkv[base..].as_ptr(),
            qkv[base + d..].as_ptr(),
            qkv[base + 2 * d..].as_ptr(),
        ];
        let scale = T::from(1.0 / (dh as f64).sqrt()).unwrap_or(T::one());
        // SAFETY: q and k rows of this task lie inside qkv (row stride cols3, dh columns each).
        unsafe { mm(t, t, dh, p, t, qkv_ptrs[0], cols3, 1, qkv_ptrs[1], 1, cols3) };
        // SAFETY: the product above wrote all t x t values.
        let p = unsafe { std::slice::from_raw_parts_mut(p, t * t) };
        softmax_in_place(p, &mask[bi * t..(bi + 1) * t], t, scale, self.causal);
        qkv_ptrs
    }

    pub(crate) fn forward<T: 'static + FastExp + Send + Sync>(
        &self,
        qkv: &[T],
        mask: &[T],
        cols3: usize,
    ) -> Vec<T> {
        self.forward_keeping(qkv, mask, cols3, false).0
    }

    /// The output and, with `keep`, every task's attention weights (batch * heads blocks of
    /// seq x seq) for `backward`, which then need not recompute them (a sixth of its work).
    pub(crate) fn forward_keeping<T: 'static + FastExp + Send + Sync>(
        &self,
        qkv: &[T],
        mask: &[T],
        cols3: usize,
        keep: bool,
    ) -> (Vec<T>, Vec<T>) {
        // Every pointer below is derived from these sizes.
        self.assert_shapes(qkv.len(), mask.len(), cols3, None);
        let (b, t, h, d, dh) = self.dims(cols3);
        // Neither is zeroed first: each task's products write its whole blocks of both.
        let mut out: Vec<T> = Vec::with_capacity(b * t * d);
        let mut kept: Vec<T> = Vec::with_capacity(if keep { b * h * t * t } else { 0 });
        let dst = SharedMut(out.as_mut_ptr());
        let kept_ptr = SharedMut(kept.as_mut_ptr());
        (0..b * h).into_par_iter().for_each(|task| {
            let (bi, hi) = (task / h, task % h);
            let mut own = Vec::new();
            let p: *mut T = if keep {
                // SAFETY: each task takes its own t x t block of `kept`.
                unsafe { kept_ptr.ptr().add(task * t * t) }
            } else {
                // Scratch that the product fills: no zeroing (read through `p` only).
                own.reserve_exact(t * t);
                own.as_mut_ptr()
            };
            // SAFETY: p has room for t x t values, and no other task touches them.
            let [_, _, v] = unsafe { self.probabilities(qkv, mask, cols3, task, p) };
            // SAFETY: each task writes only its own (batch, head) block of `out`.
            unsafe {
                mm(
                    t,
                    dh,
                    t,
                    dst.ptr().add(bi * t * d + hi * dh),
                    d,
                    p,
                    t,
                    1,
                    v,
                    cols3,
                    1,
                );
            }
        });
        // SAFETY: every element of both was written above.
        unsafe {
            out.set_len(b * t * d);
            kept.set_len(if keep { b * h * t * t } else { 0 });
        }
        (out, kept)
    }

    /// The gradient of `qkv`. `kept`: the weights `forward_keeping` kept, or empty to
    /// recompute them.
    pub(crate) fn backward<T: 'static + FastExp + Send + Sync>(
        &self,
        qkv: &[T],
        mask: &[T],
        dout: &[T],
        cols3: usize,
        kept: &[T],
    ) -> Vec<T> {
        self.assert_shapes(qkv.len(), mask.len(), cols3, Some(dout.len()));
        let (b, t, h, d, dh) = self.dims(cols3);
        assert!(
            kept.is_empty() || kept.len() == b * h * t * t,
            "kept attention weights"
        );
        // Not zeroed first: the tasks' products write every element (each task its q, k and
        // v gradient blocks, which together tile the buffer).
        let mut dqkv: Vec<T> = Vec::with_capacity(b * t * cols3);
        let dst = SharedMut(dqkv.as_mut_ptr());
        let scale = T::from(1.0 / (dh as f64).sqrt()).unwrap_or(T::one());
        (0..b * h).into_par_iter().for_each(|task| {
            let (bi, hi) = (task / h, task % h);
            let base = bi * t * cols3 + hi * dh;
            let mut own = Vec::new();
            let (q, k, v, p) = if kept.is_empty() {
                own.resize(t * t, T::zero());
                // SAFETY: `own` holds t x t values of this task only.
                let [q, k, v] =
                    unsafe { self.probabilities(qkv, mask, cols3, task, own.as_mut_ptr()) };
                (q, k, v, &own[..])
            } else {
                let ptr = |i: usize| qkv[base + i * d..].as_ptr();
                (ptr(0), ptr(1), ptr(2), &kept[task * t * t..][..t * t])
            };
            let dout = dout[bi * t * d + hi * dh..].as_ptr();
            // Not zeroed: the first product writes all of it.
            let mut dp: Vec<T> = Vec::with_capacity(t * t);
            // SAFETY: the q, k and v gradient blocks of one (batch, head) are disjoint from other tasks'.
            unsafe {
                // dP = dO V^T
                mm(t, t, dh, dp.as_mut_ptr(), t, dout, d, 1, v, 1, cols3);
                dp.set_len(t * t);
                // dS = scale * P * (dP - rowsum(dP * P))
                for (pr, dr) in p.chunks(t).zip(dp.chunks_mut(t)) {
                    let dot = dot8(pr, dr);
                    for (x, y) in pr.iter().zip(dr.iter_mut()) {
                        *y = scale * *x * (*y - dot);
                    }
                }
                let dq = dst.ptr().add(base);
                let dk = dst.ptr().add(base + d);
                let dv = dst.ptr().add(base + 2 * d);
                mm(t, dh, t, dq, cols3, dp.as_ptr(), t, 1, k, cols3, 1); // dQ = dS K
                mm(t, dh, t, dk, cols3, dp.as_ptr(), 1, t, q, cols3, 1); // dK = dS^T Q
                mm(t, dh, t, dv, cols3, p.as_ptr(), 1, t, dout, d, 1); // dV = P^T dO
            }
        });
        // SAFETY: every element was written above.
        unsafe { dqkv.set_len(b * t * cols3) };
        dqkv
    }
}

impl CustomOp2 for FusedAttention {
    fn name(&self) -> &'static str {
        "kibble-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, cols3) = l1.shape().dims2()?;
        let out =
            float_kernel!("attention", (s1, l1) => x, (s2, l2) => m; self.forward(x, m, cols3));
        Ok((out, Shape::from_dims(&[n, cols3 / 3])))
    }

    fn bwd(
        &self,
        qkv: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let op = AttentionBwd { inner: *self };
        Ok((
            Some(qkv.apply_op3_no_bwd(mask, &grad.contiguous()?, &op)?),
            None,
        ))
    }
}

struct AttentionBwd {
    inner: FusedAttention,
}

impl candle_core::CustomOp3 for AttentionBwd {
    fn name(&self) -> &'static str {
        "kibble-attention-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, cols3) = l1.shape().dims2()?;
        let out = float_kernel!("attention-bwd", (s1, l1) => x, (s2, l2) => m, (s3, l3) => g; self.inner.backward(x, m, g, cols3, &[]));
        Ok((out, l1.shape().clone()))
    }
}

/// Attention over a fused qkv projection: `qkv` (batch*seq, 3*d), `mask` (batch, seq) -> (batch*seq, d).
/// CPU: one fused kernel; elsewhere the composed ops.
pub fn attention(
    qkv: &Tensor,
    mask: &Tensor,
    batch: usize,
    seq: usize,
    heads: usize,
) -> Result<Tensor> {
    attention_with(qkv, mask, batch, seq, heads, false)
}

/// Causal (decoder) attention: position i attends to keys 0..=i that the mask keeps.
pub fn causal_attention(
    qkv: &Tensor,
    mask: &Tensor,
    batch: usize,
    seq: usize,
    heads: usize,
) -> Result<Tensor> {
    attention_with(qkv, mask, batch, seq, heads, true)
}

fn attention_with(
    qkv: &Tensor,
    mask: &Tensor,
    batch: usize,
    seq: usize,
    heads: usize,
    causal: bool,
) -> Result<Tensor> {
    let (n, cols3) = qkv.dims2()?;
    let d = cols3 / 3;
    let op = FusedAttention {
        batch,
        seq,
        heads,
        causal,
    };
    if let Some(problem) = op.shape_problem(n * cols3, mask.elem_count(), cols3, None) {
        candle_core::bail!("{problem}");
    }
    if n != batch * seq {
        candle_core::bail!(
            "attention: qkv has {n} rows, batch x seq is {}",
            batch * seq
        );
    }
    if qkv.device().is_cpu() && matches!(qkv.dtype(), DType::F32 | DType::F64) {
        return qkv
            .contiguous()?
            .apply_op2(&mask.to_dtype(qkv.dtype())?.contiguous()?, op);
    }
    let dh = d / heads;
    let split = |i: usize| -> Result<Tensor> {
        qkv.narrow(1, i * d, d)?
            .reshape((batch, seq, heads, dh))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(0)?, split(1)?, split(2)?);
    let mut scores = q.matmul(&k.t()?)?;
    if causal {
        let future: Vec<f32> = (0..seq * seq)
            .map(|i| if i % seq > i / seq { -1e9 } else { 0.0 })
            .collect();
        let bias = Tensor::from_vec(future, (seq, seq), qkv.device())?.to_dtype(qkv.dtype())?;
        // The bias is added before scaling; -1e9 stays far below any real score either way.
        scores = scores.broadcast_add(&bias)?;
    }
    let att = masked_softmax(&scores, mask, 1.0 / (dh as f64).sqrt())?.matmul(&v)?;
    att.transpose(1, 2)?.reshape((n, d))
}

#[cfg(test)]
mod attention_tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn causal_attention_ignores_the_future_and_its_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (b, t, h, d) = (1, 4, 2, 4);
        let x0: Vec<f64> = (0..b * t * 3 * d)
            .map(|i| ((i * 5 % 11) as f64 * 0.41).cos())
            .collect();
        let mask = Tensor::ones((b, t), DType::F64, &dev).unwrap();
        let run = |x: Vec<f64>| -> Vec<Vec<f64>> {
            let x = Tensor::from_vec(x, (b * t, 3 * d), &dev).unwrap();
            causal_attention(&x, &mask, b, t, h)
                .unwrap()
                .to_vec2()
                .unwrap()
        };
        let base = run(x0.clone());
        // Changing the last position's q, k and v leaves every earlier output unchanged.
        let mut changed = x0.clone();
        for v in &mut changed[(t - 1) * 3 * d..] {
            *v += 0.5;
        }
        let other = run(changed);
        assert_eq!(base[..t - 1], other[..t - 1]);
        assert_ne!(base[t - 1], other[t - 1]);
        // The first position attends only to itself: its output is its own v.
        for j in 0..d {
            assert!((base[0][j] - x0[2 * d + j]).abs() < 1e-12);
        }
        let wt = Tensor::from_vec(
            (0..b * t * d)
                .map(|i| (i as f64 * 0.7).sin())
                .collect::<Vec<_>>(),
            (b * t, d),
            &dev,
        )
        .unwrap();
        let f = |x: &Tensor| causal_attention(x, &mask, b, t, h)?.mul(&wt)?.sum_all();
        super::fused_tests::grad_check_within(f, x0, &[b * t, 3 * d], 1e-6);
    }

    #[test]
    fn fused_attention_matches_composed_and_its_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (b, t, h, d) = (2, 3, 2, 4);
        let x0: Vec<f64> = (0..b * t * 3 * d)
            .map(|i| ((i * 7 % 13) as f64 * 0.37).sin())
            .collect();
        let mask = Tensor::from_vec(vec![1.0f64, 1.0, 1.0, 1.0, 1.0, 0.0], (b, t), &dev).unwrap();
        let w = Tensor::from_vec(
            (0..b * t * d)
                .map(|i| (i as f64 * 0.3).cos())
                .collect::<Vec<_>>(),
            (b * t, d),
            &dev,
        )
        .unwrap();
        let x = Tensor::from_vec(x0.clone(), (b * t, 3 * d), &dev).unwrap();
        // Composed reference.
        let dh = d / h;
        let split = |i: usize| {
            x.narrow(1, i * d, d)
                .unwrap()
                .reshape((b, t, h, dh))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let (q, k, v) = (split(0), split(1), split(2));
        let bias = ((mask.ones_like().unwrap() - &mask).unwrap() * -1e9)
            .unwrap()
            .reshape((b, 1, 1, t))
            .unwrap();
        let scores = ((q.matmul(&k.t().unwrap()).unwrap() * (1.0 / (dh as f64).sqrt())).unwrap())
            .broadcast_add(&bias)
            .unwrap();
        let reference = candle_nn::ops::softmax(&scores, D::Minus1)
            .unwrap()
            .matmul(&v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b * t, d))
            .unwrap();
        let fused = attention(&x, &mask, b, t, h).unwrap();
        let diff: f64 = (fused - reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 1e-12, "{diff}");
        // Gradient.
        let f = |x: &Tensor| attention(x, &mask, b, t, h)?.mul(&w)?.sum_all();
        super::fused_tests::grad_check_within(f, x0, &[b * t, 3 * d], 1e-6);
    }
}
