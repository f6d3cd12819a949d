//! The `tiny` transformer block (pre-LN: LayerNorm, fused qkv projection, attention, output
//! projection, residual, LayerNorm, GELU MLP, residual) as one candle op on CPU f32, with a
//! hand-written backward pass.
//!
//! Why: candle's autograd gives every gradient of every op a zero-filled buffer and then
//! adds into it, and the composed block is about twenty ops (transposes, bias adds, the
//! LayerNorm affine broadcasts, residual adds). Those passes cost about a quarter of a
//! training step. Here the forward pass keeps what the backward pass needs, and the
//! backward pass writes each gradient once, bias and LayerNorm gradients included.
//!
//! The weights are not inputs of the op (a candle op takes at most three tensors), so their
//! gradients go to a side table keyed by tensor id, owned by the model (`Params::side`).
//! [`SideGrads::backward`] runs candle's backward pass and then moves them into its
//! `GradStore`: every training step calls it instead of `Tensor::backward`.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex, RwLockReadGuard};

use candle_core::backprop::GradStore;
use candle_core::{
    CpuStorage, CustomOp1, DType, Layout, Result, Shape, Storage, Tensor, TensorId, Var,
};
use rayon::prelude::*;

use crate::ml::kernels::blocked::{self, View};
use crate::ml::kernels::{
    contiguous, dot8, gelu_f32, gelu_in_place_with_slope, sum8, FusedAttention,
};

/// Gradients of weights that fused ops computed, waiting for [`SideGrads::backward`] to
/// collect them. Each model's parameters own one (`Params::side`), shared with the fused ops
/// its forward passes build, so two trainings in one process never share a table.
#[derive(Default)]
pub struct SideGrads(Mutex<HashMap<TensorId, Tensor>>);

impl SideGrads {
    pub(super) fn stash(&self, weight: &Tensor, grad: Vec<f32>) -> Result<()> {
        let grad = Tensor::from_vec(grad, weight.shape(), weight.device())?;
        let mut side = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A weight used twice in one graph (two forward passes in one loss) sums its gradients.
        let grad = match side.remove(&weight.id()) {
            Some(prev) => (prev + grad)?,
            None => grad,
        };
        side.insert(weight.id(), grad);
        Ok(())
    }

    /// Stashes `grads[i]` for `weights[i]` where that weight is trainable (a variable).
    pub(super) fn stash_trainable(&self, weights: &[Tensor], grads: Vec<Vec<f32>>) -> Result<()> {
        for (w, g) in weights.iter().zip(grads) {
            if w.is_variable() {
                self.stash(w, g)?;
            }
        }
        Ok(())
    }

    /// `loss.backward()`, plus the weight gradients that fused blocks computed for `vars`.
    pub fn backward(&self, loss: &Tensor, vars: &[(String, Var)]) -> Result<GradStore> {
        let grads = loss.backward();
        let mut side = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut grads = match grads {
            Ok(g) => g,
            Err(e) => {
                // Drop what a partial pass stashed, so it cannot leak into the next step.
                side.clear();
                return Err(e);
            }
        };
        for (_, var) in vars {
            if let Some(g) = side.remove(&var.as_tensor().id()) {
                let g = match grads.remove(var.as_tensor()) {
                    Some(prev) => (prev + g)?,
                    None => g,
                };
                grads.insert(var.as_tensor(), g);
            }
        }
        Ok(grads)
    }
}

/// The weights as f32 slices, read-locked for as long as this lives.
pub(super) struct Slices<'a> {
    guards: Vec<(RwLockReadGuard<'a, Storage>, &'a Layout)>,
}

impl<'a> Slices<'a> {
    pub(super) fn new(tensors: &'a [Tensor]) -> Slices<'a> {
        Slices {
            guards: tensors.iter().map(|t| t.storage_and_layout()).collect(),
        }
    }

    pub(super) fn get(&self, i: usize) -> Result<&[f32]> {
        match &*self.guards[i].0 {
            Storage::Cpu(CpuStorage::F32(s)) => contiguous(s, self.guards[i].1, "block weight"),
            _ => candle_core::bail!("fused block: CPU f32 weights only"),
        }
    }
}

/// Activations the backward pass needs (`n` rows).
pub(super) struct Saved {
    stats1: Vec<[f32; 2]>,
    y1: Vec<f32>,    // LayerNorm 1 output (n, d)
    qkv: Vec<f32>,   // (n, 3d)
    probs: Vec<f32>, // attention weights (batch * heads blocks of seq x seq)
    att: Vec<f32>,   // attention output (n, d)
    mid: Vec<f32>,   // x + projection (n, d)
    stats2: Vec<[f32; 2]>,
    y2: Vec<f32>,    // LayerNorm 2 output (n, d)
    slope: Vec<f32>, // GELU's derivative at the fc1 output (n, ff)
    g: Vec<f32>,     // after GELU (n, ff)
}

pub(crate) struct FusedBlock {
    /// In `TinyBlock::weights` order (ln1, qkv, proj, ln2, fc1, fc2; weight then bias).
    weights: Vec<Tensor>,
    /// (batch, seq) f32, 1 on real tokens.
    mask: Tensor,
    attention: FusedAttention,
    eps: f32,
    /// Keep activations for a backward pass (the input is tracked or a weight trainable).
    train: bool,
    saved: Mutex<Option<Saved>>,
    /// Where the weight gradients go (the model's table).
    side: Arc<SideGrads>,
}

impl FusedBlock {
    /// `input_tracked`: the input is part of a gradient graph (then a backward pass may
    /// come even when every weight is frozen).
    pub(crate) fn new(
        weights: Vec<Tensor>,
        mask: Tensor,
        attention: FusedAttention,
        eps: f64,
        input_tracked: bool,
        side: Arc<SideGrads>,
    ) -> FusedBlock {
        let train = input_tracked || weights.iter().any(|w| w.is_variable());
        FusedBlock {
            weights,
            mask,
            attention,
            eps: eps as f32,
            train,
            saved: Mutex::new(None),
            side,
        }
    }

    pub(super) fn forward(&self, x: &[f32], d: usize) -> Result<(Vec<f32>, Option<Saved>)> {
        let w = Slices::new(&self.weights);
        let (d3, ff) = (3 * d, w.get(9)?.len());
        let n = x.len() / d;
        let mask_guard = Slices::new(std::slice::from_ref(&self.mask));
        let mask = mask_guard.get(0)?;

        let (y1, stats1) = layer_norm(x, w.get(0)?, w.get(1)?, self.eps);
        let qkv = linear(&y1, w.get(2)?, w.get(3)?, None, d, d3);
        let (att, probs) = self.attention.forward_keeping(&qkv, mask, d3, self.train);
        let mid = linear(&att, w.get(4)?, w.get(5)?, Some(x), d, d);
        let (y2, stats2) = layer_norm(&mid, w.get(6)?, w.get(7)?, self.eps);
        let mut h = linear(&y2, w.get(8)?, w.get(9)?, None, d, ff);
        let (g, slope) = if self.train {
            let slope = gelu_in_place_with_slope(&mut h);
            (h, slope)
        } else {
            (gelu_f32(&h, None), Vec::new())
        };
        let out = linear(&g, w.get(10)?, w.get(11)?, Some(&mid), ff, d);
        debug_assert_eq!(out.len(), n * d);
        let saved = self.train.then_some(Saved {
            stats1,
            y1,
            qkv,
            probs,
            att,
            mid,
            stats2,
            y2,
            slope,
            g,
        });
        Ok((out, saved))
    }

    /// Gradients of the input (returned) and of every weight (in `weights` order).
    pub(super) fn backward(
        &self,
        x: &[f32],
        dy: &[f32],
        s: &Saved,
    ) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        fn rows(v: &[f32], cols: usize) -> View<'_> {
            View::row_major(v, v.len() / cols, cols)
        }
        let w = Slices::new(&self.weights);
        let d = w.get(0)?.len();
        let (d3, ff) = (3 * d, w.get(9)?.len());
        let mask_guard = Slices::new(std::slice::from_ref(&self.mask));
        let mask = mask_guard.get(0)?;
        let weight = |i: usize, rows: usize, cols: usize| -> Result<View> {
            Ok(View::row_major(w.get(i)?, rows, cols))
        };

        // out = mid + g W2^T + b2
        let d_fc2_w = weight_grad(dy, d, &s.g, ff);
        let d_fc2_b = col_sums(dy, d);
        let dg = blocked::product(rows(dy, d), weight(10, d, ff)?);
        let (dh, d_fc1_b) = times_slope(dg, &s.slope, ff);
        // h = y2 W1^T + b1
        let d_fc1_w = weight_grad(&dh, ff, &s.y2, d);
        let dy2 = blocked::product(rows(&dh, ff), weight(8, ff, d)?);
        drop(dh);
        // y2 = LayerNorm(mid); the residual passes dy straight through.
        let ln2 = layer_norm_backward(&s.mid, &s.stats2, w.get(6)?, &dy2, Some(dy));
        let (dmid, d_ln2_w, d_ln2_b) = (ln2.dx, ln2.dw, ln2.db);
        // mid = x + att Wp^T + bp
        let d_proj_w = weight_grad(&dmid, d, &s.att, d);
        let d_proj_b = ln2.dx_col_sums;
        let datt = blocked::product(rows(&dmid, d), weight(4, d, d)?);
        let dqkv = self.attention.backward(&s.qkv, mask, &datt, d3, &s.probs);
        drop(datt);
        // qkv = y1 Wqkv^T + bqkv
        let d_qkv_w = weight_grad(&dqkv, d3, &s.y1, d);
        let d_qkv_b = col_sums(&dqkv, d3);
        let dy1 = blocked::product(rows(&dqkv, d3), weight(2, d3, d)?);
        // y1 = LayerNorm(x); the residual passes dmid straight through.
        let ln1 = layer_norm_backward(x, &s.stats1, w.get(0)?, &dy1, Some(&dmid));
        let (dx, d_ln1_w, d_ln1_b) = (ln1.dx, ln1.dw, ln1.db);
        let grads = vec![
            d_ln1_w, d_ln1_b, d_qkv_w, d_qkv_b, d_proj_w, d_proj_b, d_ln2_w, d_ln2_b, d_fc1_w,
            d_fc1_b, d_fc2_w, d_fc2_b,
        ];
        Ok((dx, grads))
    }

    /// Hands the weight gradients `backward` returned to the side table (trainable ones).
    pub(super) fn stash_grads(&self, grads: Vec<Vec<f32>>) -> Result<()> {
        self.side.stash_trainable(&self.weights, grads)
    }
}

impl CustomOp1 for FusedBlock {
    fn name(&self) -> &'static str {
        "kibble-block"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(x) = storage else {
            candle_core::bail!("fused block: f32 only");
        };
        let x = contiguous(x, layout, "block input")?;
        let (_, d) = layout.shape().dims2()?;
        let (out, saved) = self.forward(x, d)?;
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = saved;
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let Some(saved) = saved.as_ref() else {
            candle_core::bail!("fused block: no activations kept for a backward pass");
        };
        let x = arg.contiguous()?;
        let dy = grad.contiguous()?.to_dtype(DType::F32)?;
        let inputs = [x, dy];
        let slices = Slices::new(&inputs);
        let (dx, grads) = self.backward(slices.get(0)?, slices.get(1)?, saved)?;
        self.stash_grads(grads)?;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// Rows processed per rayon task in the row-wise kernels.
pub(super) const ROWS: usize = 32;

/// A new (n, width) row-major buffer, written `rows_per_task` rows at a time (fewer in the
/// last task) by `fill(first_row, rows)` in parallel, with no zero-fill first.
///
/// # Safety
/// `fill` must write every element of the slice it is given: the buffer is returned as
/// initialised `f32`s without being checked.
pub(super) unsafe fn new_rows(
    n: usize,
    width: usize,
    rows_per_task: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * width);
    out.spare_capacity_mut()[..n * width]
        .par_chunks_mut(width * rows_per_task)
        .enumerate()
        .for_each(|(c, chunk)| fill(c * rows_per_task, chunk));
    // SAFETY: every row was written in full by `fill`.
    unsafe { out.set_len(n * width) };
    out
}

/// LayerNorm of each row: the output and each row's (mean, 1 / std).
pub(super) fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32) -> (Vec<f32>, Vec<[f32; 2]>) {
    let d = w.len();
    assert_eq!(b.len(), d, "layer norm bias");
    let n = x.len() / d;
    let mut stats = vec![[0f32; 2]; n];
    let mut y = Vec::with_capacity(n * d);
    y.spare_capacity_mut()[..n * d]
        .par_chunks_mut(d * ROWS)
        .zip(stats.par_chunks_mut(ROWS))
        .zip(x.par_chunks(d * ROWS))
        .for_each(|((ys, ss), xs)| {
            for ((yr, s), xr) in ys.chunks_mut(d).zip(ss).zip(xs.chunks(d)) {
                // Eight running totals (`sum8`): one chain of dependent adds per row was
                // most of LayerNorm's time.
                let mean = sum8(xr, |v| v) / d as f32;
                let var = sum8(xr, |v| (v - mean) * (v - mean)) / d as f32;
                let rstd = 1.0 / (var + eps).sqrt();
                *s = [mean, rstd];
                for (((o, &v), &wi), &bi) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                    o.write((v - mean) * rstd * wi + bi);
                }
            }
        });
    // SAFETY: every row of y was written in full above.
    unsafe { y.set_len(n * d) };
    (y, stats)
}

/// What LayerNorm's backward pass returns.
pub(super) struct NormGrads {
    /// The input gradient plus the residual gradient.
    pub(super) dx: Vec<f32>,
    pub(super) dw: Vec<f32>,
    pub(super) db: Vec<f32>,
    /// The column sums of `dx`: the bias gradient of the linear layer that produced x.
    pub(super) dx_col_sums: Vec<f32>,
}

/// LayerNorm's backward pass for output gradient `dy`: the input gradient plus `residual`, if
/// any (the gradient that reaches the input around the norm, added as each row is written), its
/// column sums (taken as the rows are written, not in a second pass), and the weight and
/// bias gradients.
pub(super) fn layer_norm_backward(
    x: &[f32],
    stats: &[[f32; 2]],
    w: &[f32],
    dy: &[f32],
    residual: Option<&[f32]>,
) -> NormGrads {
    let d = w.len();
    // The chunks below must cover every row of dx, which is not initialised first.
    if let Some(r) = residual {
        assert_eq!(r.len(), x.len(), "layer norm residual gradient");
    }
    assert_eq!(dy.len(), x.len(), "layer norm output gradient");
    assert_eq!(stats.len() * d, x.len(), "layer norm statistics");
    let mut dx = Vec::with_capacity(x.len());
    let partials: Vec<[Vec<f32>; 3]> = dx.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(d * ROWS)
        .zip(x.par_chunks(d * ROWS))
        .zip(dy.par_chunks(d * ROWS))
        .zip(stats.par_chunks(ROWS))
        .enumerate()
        .map(|(c, (((dxs, xs), dys), ss))| {
            let rs = residual.map(|r| &r[c * d * ROWS..][..xs.len()]);
            let (mut dw, mut db, mut sums) = (vec![0f32; d], vec![0f32; d], vec![0f32; d]);
            let (mut dxhat, mut xhat) = (vec![0f32; d], vec![0f32; d]);
            for (i, (((dxr, xr), dyr), &[mean, rstd])) in dxs
                .chunks_mut(d)
                .zip(xs.chunks(d))
                .zip(dys.chunks(d))
                .zip(ss)
                .enumerate()
            {
                for j in 0..d {
                    xhat[j] = (xr[j] - mean) * rstd;
                    dw[j] += dyr[j] * xhat[j];
                    db[j] += dyr[j];
                    dxhat[j] = dyr[j] * w[j];
                }
                let sum = sum8(&dxhat, |v| v) / d as f32;
                let dot = dot8(&dxhat, &xhat) / d as f32;
                let own = |j: usize| rstd * (dxhat[j] - sum - xhat[j] * dot);
                // One loop per case, so neither branches per value.
                let mut put = |j: usize, v: f32| {
                    dxr[j].write(v);
                    sums[j] += v;
                };
                match rs {
                    Some(r) => (0..d).for_each(|j| put(j, r[i * d + j] + own(j))),
                    None => (0..d).for_each(|j| put(j, own(j))),
                }
            }
            [dw, db, sums]
        })
        .collect();
    // SAFETY: every row was written above (the chunks cover all of x.len()).
    unsafe { dx.set_len(x.len()) };
    let [dw, db, dx_col_sums] = add_partials(partials, d);
    NormGrads {
        dx,
        dw,
        db,
        dx_col_sums,
    }
}

/// Per-chunk partial sums added in chunk order: the same result whatever thread ran which
/// chunk (training must be reproducible).
fn add_partials<const K: usize>(partials: Vec<[Vec<f32>; K]>, d: usize) -> [Vec<f32>; K] {
    let mut total: [Vec<f32>; K] = std::array::from_fn(|_| vec![0f32; d]);
    for p in partials {
        for (t, p) in total.iter_mut().zip(&p) {
            add_into(t, p);
        }
    }
    total
}

/// `dh = dg * slope` (GELU's backward pass, in place) and the column sums of dh (fc1's bias
/// gradient), taken as the rows are written.
pub(super) fn times_slope(mut dg: Vec<f32>, slope: &[f32], width: usize) -> (Vec<f32>, Vec<f32>) {
    let partials: Vec<[Vec<f32>; 1]> = dg
        .par_chunks_mut(width * ROWS)
        .zip(slope.par_chunks(width * ROWS))
        .map(|(d, s)| {
            let mut sums = vec![0f32; width];
            for (d, s) in d.chunks_mut(width).zip(s.chunks(width)) {
                for ((d, s), t) in d.iter_mut().zip(s).zip(sums.iter_mut()) {
                    *d *= s;
                    *t += *d;
                }
            }
            [sums]
        })
        .collect();
    let [sums] = add_partials(partials, width);
    (dg, sums)
}

pub(super) fn add_into(acc: &mut [f32], v: &[f32]) {
    acc.iter_mut().zip(v).for_each(|(a, b)| *a += b);
}

/// `x W^T + b (+ residual)` for rows x (n, d_in) and W (d_out, d_in): the bias and the
/// residual go in as the product writes its tiles, so there is no separate pass over the
/// output.
pub(super) fn linear(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    residual: Option<&[f32]>,
    d_in: usize,
    d_out: usize,
) -> Vec<f32> {
    let n = x.len() / d_in;
    let (x, w) = (
        View::row_major(x, n, d_in),
        View::row_major(w, d_out, d_in).t(),
    );
    match residual {
        Some(res) => blocked::product_bias_residual(x, w, b, res),
        None => blocked::product_bias(x, w, b),
    }
}

/// The gradient `dy^T x` (d_out, d_in) of a weight W (d_out, d_in) used as `x W^T`.
///
/// The product's row count is what the GEMM parallelises and blocks over; with few rows
/// (fc2: 256 outputs of 1024 inputs) every task streams all of the wide packed x. So when
/// d_out < d_in it computes `x^T dy` (d_in, d_out) and transposes that small result: dW
/// of fc2 went from about 90 to 110 GFLOP/s.
pub(super) fn weight_grad(dy: &[f32], d_out: usize, x: &[f32], d_in: usize) -> Vec<f32> {
    let n = dy.len() / d_out;
    let (dy, x) = (View::row_major(dy, n, d_out), View::row_major(x, n, d_in));
    if d_out >= d_in {
        return blocked::product(dy.t(), x);
    }
    transpose(&blocked::product(x.t(), dy), d_in, d_out)
}

/// The (cols, rows) transpose of a row-major (rows, cols) matrix.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const BLOCK: usize = 16;
    // Output rows in blocks of 16: each input row then gives one cache line per block.
    // SAFETY: a block of output rows i0.. holds block.len() / rows of them; every (r, j) of it
    // is written from input row j, column i0 + r.
    unsafe {
        new_rows(cols, rows, BLOCK, |i0, block| {
            for (j, src) in m.chunks_exact(cols).enumerate() {
                for (r, v) in src[i0..].iter().take(block.len() / rows).enumerate() {
                    block[r * rows + j].write(*v);
                }
            }
        })
    }
}

/// Column sums of rows (n, k): a bias gradient. Partial sums per fixed chunk of rows,
/// added in order, so the result does not depend on scheduling.
pub(super) fn col_sums(g: &[f32], k: usize) -> Vec<f32> {
    let partials: Vec<[Vec<f32>; 1]> = g
        .par_chunks(k * ROWS * 4)
        .map(|rows| {
            let mut s = vec![0f32; k];
            rows.chunks(k).for_each(|row| add_into(&mut s, row));
            [s]
        })
        .collect();
    let [sum] = add_partials(partials, k);
    sum
}

/// What the fused ops' tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use candle_core::backprop::GradStore;
    use candle_core::{Device, Tensor, Var};

    use crate::ml::models::reward::Params;

    /// Moves every trainable value off its initialisation (LayerNorm's ones and zeros), by
    /// noise of this spread and a different offset per weight.
    pub(crate) fn jitter(p: &Params, spread: f32) {
        for (i, (_, v)) in p.vars().iter().enumerate() {
            let noise = Tensor::randn(0f32, spread, v.shape(), v.device()).unwrap();
            let moved = ((v.as_tensor() + noise).unwrap() + 0.01 * i as f64).unwrap();
            v.set(&moved).unwrap();
        }
    }

    /// Every var has a gradient in both stores, and the two agree within `tol` (`what` names
    /// the case in a failure).
    pub(crate) fn assert_same_grads(
        fused: &GradStore,
        reference: &GradStore,
        vars: &[(String, Var)],
        tol: f32,
        what: &str,
    ) {
        for (name, v) in vars {
            let (Some(a), Some(r)) = (fused.get(v.as_tensor()), reference.get(v.as_tensor()))
            else {
                panic!("{what}: no gradient for {name}");
            };
            let diff = crate::ml::kernels::max_abs_diff(a, r).unwrap();
            assert!(diff < tol, "{what}: {name} gradients differ by {diff}");
        }
    }

    /// Two sequences of five tokens, the second padded after three: the key mask (2, 5), a
    /// trainable input of rows d wide and a probe for the loss `sum(y * probe)`.
    pub(crate) fn padded_batch(d: usize) -> (Tensor, Var, Tensor) {
        let dev = Device::Cpu;
        let mask = Tensor::new(&[[1f32, 1., 1., 1., 1.], [1., 1., 1., 0., 0.]], &dev).unwrap();
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (10, d), &dev).unwrap()).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (10, d), &dev).unwrap();
        (mask, x, probe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::models::reward::{Params, TinyBlock};
    use candle_core::Device;

    /// The fused block equals the composed candle ops: output, input gradient and every
    /// weight gradient, bidirectional and causal, with a padded sequence in the batch.
    #[test]
    fn fused_block_matches_the_composed_ops() {
        let dev = Device::Cpu;
        let (b, t, d, heads, ff) = (2, 5, 8, 2, 16);
        let mut p = Params::new(&dev, DType::F32, 7);
        let blk = TinyBlock::new(&mut p, "blk", d, ff, 1e-5).unwrap();
        test_support::jitter(&p, 0.3);
        let (mask, x, probe) = test_support::padded_batch(d);
        // The block's output and the gradients of `vars` for the loss sum(y * probe).
        let run = |blk: &TinyBlock, fused: bool, causal: bool, vars: &[(String, Var)]| {
            let y = if fused {
                blk.forward(x.as_tensor(), &mask, b, t, heads, causal)
            } else {
                blk.forward_composed(x.as_tensor(), &mask, b, t, heads, causal)
            }
            .unwrap();
            let loss = (&y * &probe).unwrap().sum_all().unwrap();
            let grads = p.side.backward(&loss, vars).unwrap();
            (y, grads)
        };
        let mut vars = p.vars();
        vars.push(("x".into(), x.clone()));
        for causal in [false, true] {
            let run = |fused| run(&blk, fused, causal, &vars);
            let (yf, gf) = run(true);
            let (yc, gc) = run(false);
            let diff = crate::ml::kernels::max_abs_diff(&yf, &yc).unwrap();
            assert!(diff < 1e-5, "causal {causal}: outputs differ by {diff}");
            test_support::assert_same_grads(&gf, &gc, &vars, 1e-4, &format!("causal {causal}"));
        }
        // Frozen weights under a trainable input (a trainable embedding below frozen
        // blocks): the input's gradient still flows.
        let frozen_weights = blk.weights().iter().map(|w| w.copy().unwrap()).collect();
        let frozen = TinyBlock::from_weights(frozen_weights, 1e-5);
        let x_only = [("x".to_string(), x.clone())];
        let grad_of_x = |fused| {
            let (_, grads) = run(&frozen, fused, true, &x_only);
            grads.get(x.as_tensor()).unwrap().clone()
        };
        let diff = crate::ml::kernels::max_abs_diff(&grad_of_x(true), &grad_of_x(false)).unwrap();
        assert!(
            diff < 1e-4,
            "frozen block: input gradients differ by {diff}"
        );
    }
}
