//! The scaled, key-masked softmax of attention scores, forward and backward.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::attention::softmax_in_place;
use super::*;

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
