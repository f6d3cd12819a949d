//! Row ops: softmax over the last dim, layer norm (forward and backward), masked mean pooling.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, D};
use num_traits::Float;
use rayon::prelude::*;

use super::*;

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
