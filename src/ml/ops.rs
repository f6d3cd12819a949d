//! Fused CPU kernels with gradients for the two ops candle only ships forward-only fast paths
//! for (`softmax_last_dim`, `layer_norm`). On other devices the composed (slower) forms are used,
//! so the `cuda` feature still trains correctly.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, D};
use num_traits::Float;
use rayon::prelude::*;

fn contiguous<'a, T>(src: &'a [T], layout: &Layout, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&src[a..b]),
        None => candle_core::bail!("{what}: input has to be contiguous"),
    }
}

/// Softmax over the last dimension; backward `dx = y * (g - sum(g * y))`.
struct Softmax;

fn softmax_rows<T: Float + Send + Sync>(src: &[T], n: usize) -> Vec<T> {
    let mut dst = vec![T::zero(); src.len()];
    src.par_chunks(n)
        .zip(dst.par_chunks_mut(n))
        .for_each(|(s, d)| {
            let max = s.iter().copied().fold(T::neg_infinity(), T::max);
            let mut sum = T::zero();
            for (x, y) in s.iter().zip(d.iter_mut()) {
                *y = (*x - max).exp();
                sum = sum + *y;
            }
            let inv = T::one() / sum;
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
        let out = match storage {
            CpuStorage::F32(s) => {
                CpuStorage::F32(softmax_rows(contiguous(s, layout, "softmax")?, n))
            }
            CpuStorage::F64(s) => {
                CpuStorage::F64(softmax_rows(contiguous(s, layout, "softmax")?, n))
            }
            _ => candle_core::bail!("softmax: unsupported dtype"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dot = (grad * res)?.sum_keepdim(D::Minus1)?;
        Ok(Some(res.mul(&grad.broadcast_sub(&dot)?)?))
    }
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
        let out = match storage {
            CpuStorage::F32(s) => CpuStorage::F32(normalize_rows(
                contiguous(s, layout, "normalize")?,
                n,
                self.eps,
            )),
            CpuStorage::F64(s) => CpuStorage::F64(normalize_rows(
                contiguous(s, layout, "normalize")?,
                n,
                self.eps,
            )),
            _ => candle_core::bail!("normalize: unsupported dtype"),
        };
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
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(normalize_bwd_rows(
                contiguous(x, l1, "normalize-bwd")?,
                contiguous(g, l2, "normalize-bwd")?,
                n,
                self.eps,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(normalize_bwd_rows(
                contiguous(x, l1, "normalize-bwd")?,
                contiguous(g, l2, "normalize-bwd")?,
                n,
                self.eps,
            )),
            _ => candle_core::bail!("normalize-bwd: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }
}

/// LayerNorm over the last dimension with weight and bias, differentiable.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let xhat = if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Normalize { eps })?
    } else {
        let n = x.dim(D::Minus1)? as f64;
        let mean = (x.sum_keepdim(D::Minus1)? / n)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = (xc.sqr()?.sum_keepdim(D::Minus1)? / n)?;
        xc.broadcast_div(&(var + eps)?.sqrt()?)?
    };
    xhat.broadcast_mul(weight)?.broadcast_add(bias)
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
        let d: f32 = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(d < 1e-6);
    }
}
