//! Log-probability of target tokens, without keeping a full log-softmax for backward.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::*;
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
