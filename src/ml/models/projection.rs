//! `x W^T` (and `r + x W^T`) as one candle op whose weight gradient goes to the model's side
//! table ([`SideGrads`]) instead of through candle's autograd.
//!
//! Why: through `matmul(x, &w.t())` candle gives the weight's gradient two zero-filled
//! buffers, one for the transposed view and one for the weight, and adds into each, the
//! second time through strides. For a decoder fully fine-tuned that was about a tenth of a
//! step. Here the backward pass writes `dW` once, and `dx` only when the input needs it.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};

use crate::ml::kernels::blocked::{self, View};
use crate::ml::kernels::{contiguous, matmul, matmul_onto};
use crate::ml::models::block::{weight_grad, SideGrads, Slices};

/// `x W^T` for rows x (n, d_in) and a weight W (d_out, d_in), plus `onto` (n, d_out) when
/// given. The fused op runs on CPU f32 when W is a trainable variable or frozen; anything
/// else (another device or dtype, a weight computed from others) takes candle's ops.
pub(crate) fn project(
    x: &Tensor,
    w: &Tensor,
    onto: Option<&Tensor>,
    side: &Arc<SideGrads>,
) -> Result<Tensor> {
    let cpu_f32 = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
    let fused = cpu_f32(x)
        && cpu_f32(w)
        && onto.is_none_or(cpu_f32)
        && x.rank() == 2
        && w.rank() == 2
        && (w.is_variable() || !w.track_op());
    if !fused {
        return match onto {
            Some(r) => matmul_onto(x, &w.t()?, r),
            None => matmul(x, &w.t()?),
        };
    }
    let op = Projection { side: side.clone() };
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    match onto {
        Some(r) => x.apply_op3(&w, &r.contiguous()?, op),
        None => x.apply_op2(&w, op),
    }
}

struct Projection {
    side: Arc<SideGrads>,
}

fn f32s<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => contiguous(v, l, "projection"),
        _ => candle_core::bail!("projection: f32 only"),
    }
}

/// The (n, d_in) and (d_out, d_in) of an input and a weight that fit each other.
fn dims(x: &Layout, w: &Layout) -> Result<(usize, usize, usize)> {
    let ([n, d_in], [d_out, k]) = (x.dims(), w.dims()) else {
        candle_core::bail!("projection: 2-D input and weight expected");
    };
    if d_in != k {
        candle_core::bail!(
            "projection: input {:?} against weight {:?}",
            x.dims(),
            w.dims()
        );
    }
    Ok((*n, *d_in, *d_out))
}

impl Projection {
    /// `dx = dy W` when x needs it; `dW = dy^T x` stashed when W is a variable.
    fn backward(&self, x: &Tensor, w: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let (n, d_in) = x.dims2()?;
        let d_out = w.dim(0)?;
        let held = [grad, x.clone(), w.clone()];
        let data = Slices::new(&held);
        let (dy, xs, ws) = (data.get(0)?, data.get(1)?, data.get(2)?);
        if w.is_variable() {
            self.side.stash(w, weight_grad(dy, d_out, xs, d_in))?;
        }
        if !x.track_op() {
            return Ok(None);
        }
        let dx = blocked::product(
            View::row_major(dy, n, d_out),
            View::row_major(ws, d_out, d_in),
        );
        Ok(Some(Tensor::from_vec(dx, (n, d_in), x.device())?))
    }
}

impl CustomOp2 for Projection {
    fn name(&self) -> &'static str {
        "kibble-projection"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, d_in, d_out) = dims(l1, l2)?;
        let y = blocked::product(
            View::row_major(f32s(s1, l1)?, n, d_in),
            View::row_major(f32s(s2, l2)?, d_out, d_in).t(),
        );
        Ok((CpuStorage::F32(y), Shape::from((n, d_out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((self.backward(x, w, grad)?, None))
    }
}

impl CustomOp3 for Projection {
    fn name(&self) -> &'static str {
        "kibble-projection-onto"
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
        let (n, d_in, d_out) = dims(l1, l2)?;
        if l3.dims() != [n, d_out] {
            candle_core::bail!("projection: {n}x{d_out} onto {:?}", l3.dims());
        }
        let y = blocked::product_residual(
            View::row_major(f32s(s1, l1)?, n, d_in),
            View::row_major(f32s(s2, l2)?, d_out, d_in).t(),
            f32s(s3, l3)?,
        );
        Ok((CpuStorage::F32(y), Shape::from((n, d_out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        r: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = self.backward(x, w, grad)?;
        Ok((dx, None, r.track_op().then(|| grad.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::kernels::max_abs_diff;
    use candle_core::{Device, Var};

    /// The same output and gradients (input, weight, residual) as candle's ops; a frozen
    /// weight gets none, and an untracked input none either.
    #[test]
    fn projection_matches_candle_and_puts_the_weight_gradient_in_the_side_table() {
        let dev = Device::Cpu;
        let r = |n: usize, s: f32| Tensor::randn(0f32, s, n, &dev).unwrap();
        let x = Var::from_tensor(&r(7 * 20, 1.0).reshape((7, 20)).unwrap()).unwrap();
        let w = Var::from_tensor(&r(13 * 20, 0.3).reshape((13, 20)).unwrap()).unwrap();
        let onto = Var::from_tensor(&r(7 * 13, 1.0).reshape((7, 13)).unwrap()).unwrap();
        let g = r(7 * 13, 1.0).reshape((7, 13)).unwrap();
        let vars = [("x", &x), ("w", &w), ("onto", &onto)]
            .map(|(n, v)| (n.to_string(), (*v).clone()))
            .to_vec();
        for with_onto in [false, true] {
            let side = Arc::new(SideGrads::default());
            let ours = project(
                x.as_tensor(),
                w.as_tensor(),
                with_onto.then_some(onto.as_tensor()),
                &side,
            )
            .unwrap();
            let theirs = x.matmul(&w.t().unwrap()).unwrap();
            let theirs = if with_onto {
                (theirs + onto.as_tensor()).unwrap()
            } else {
                theirs
            };
            assert!(max_abs_diff(&ours, &theirs).unwrap() < 1e-5);
            let a = side
                .backward(&(ours * &g).unwrap().sum_all().unwrap(), &vars)
                .unwrap();
            let b = (theirs * &g)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let mut checked = 0;
            for (_, v) in &vars {
                match (a.get(v.as_tensor()), b.get(v.as_tensor())) {
                    (Some(p), Some(q)) => {
                        assert!(max_abs_diff(p, q).unwrap() < 1e-4);
                        checked += 1;
                    }
                    (None, None) => {}
                    other => panic!("one has a gradient, the other not: {other:?}"),
                }
            }
            assert_eq!(checked, if with_onto { 3 } else { 2 });
        }
        // A frozen weight under an untracked input: nothing to differentiate, nothing stashed.
        let side = Arc::new(SideGrads::default());
        let frozen = w.as_tensor().detach();
        let y = project(
            &x.as_tensor().detach(),
            &frozen,
            Some(onto.as_tensor()),
            &side,
        )
        .unwrap();
        let gs = side
            .backward(&(y * &g).unwrap().sum_all().unwrap(), &vars)
            .unwrap();
        assert!(gs.get(&frozen).is_none() && gs.get(w.as_tensor()).is_none());
        assert!(gs.get(onto.as_tensor()).is_some());
    }
}
