//! A BERT-family encoder layer (post-LN: attention, output projection plus the input,
//! LayerNorm, GELU MLP plus its input, LayerNorm), composed from candle ops or, on CPU f32,
//! as one op with a hand-written backward pass.
//!
//! Why fused: a pretrained backbone (MiniLM) trains through this layer, and composed it is
//! about fifteen candle ops per layer, each with a zero-filled gradient buffer that the
//! backward pass adds into, plus a concatenation of q, k and v every step. Fused, the forward
//! pass keeps what the backward pass needs and each gradient is written once, as in the
//! `tiny` block (`block.rs`), whose helpers this shares.
//!
//! The weights keep their HF names and shapes (separate q, k and v), so checkpoints and
//! exports do not change: the op copies q, k and v into one projection (about 1.7 MiB for
//! MiniLM) and splits that projection's gradient back into three.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

use crate::ml::kernels::blocked::{self, View};
use crate::ml::kernels::{attention, bias_add, contiguous, gelu, gelu_f32, matmul};
use crate::ml::kernels::{gelu_in_place_with_slope, FusedAttention};
use crate::ml::models::block::{
    col_sums, layer_norm, layer_norm_backward, linear, times_slope, weight_grad, SideGrads, Slices,
};
use crate::ml::models::reward::{Linear, Norm, Params};

/// One layer's weights, named as in HF's `BertLayer`.
pub(crate) struct BertLayer {
    side: Arc<SideGrads>,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ln_att: Norm,
    fc1: Linear,
    fc2: Linear,
    ln_out: Norm,
}

impl BertLayer {
    /// Layer `i`'s weights, `encoder.layer.{i}.…`.
    pub(crate) fn new(
        p: &mut Params,
        i: usize,
        d: usize,
        d_ff: usize,
        eps: f64,
    ) -> Result<BertLayer> {
        let n = |s: &str| format!("encoder.layer.{i}.{s}");
        Ok(BertLayer {
            side: p.side.clone(),
            q: Linear::new(p, &n("attention.self.query"), d, d)?,
            k: Linear::new(p, &n("attention.self.key"), d, d)?,
            v: Linear::new(p, &n("attention.self.value"), d, d)?,
            out: Linear::new(p, &n("attention.output.dense"), d, d)?,
            ln_att: Norm::new(p, &n("attention.output.LayerNorm"), d, eps)?,
            fc1: Linear::new(p, &n("intermediate.dense"), d, d_ff)?,
            fc2: Linear::new(p, &n("output.dense"), d_ff, d)?,
            ln_out: Norm::new(p, &n("output.LayerNorm"), d, eps)?,
        })
    }

    /// The weights in the order the fused op reads them: weight then bias of q, k, v, the
    /// output projection, its LayerNorm, fc1, fc2 and the output LayerNorm.
    fn weights(&self) -> Vec<Tensor> {
        let lin = |l: &Linear| [l.w.clone(), l.b.clone()];
        let norm = |n: &Norm| [n.w.clone(), n.b.clone()];
        [
            lin(&self.q),
            lin(&self.k),
            lin(&self.v),
            lin(&self.out),
            norm(&self.ln_att),
            lin(&self.fc1),
            lin(&self.fc2),
            norm(&self.ln_out),
        ]
        .concat()
    }

    /// x: (batch*seq, d), key mask (batch, seq).
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        (b, t): (usize, usize),
        heads: usize,
    ) -> Result<Tensor> {
        let weights = self.weights();
        let cpu_f32 = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
        // As for the tiny block: the weight gradients flow only when candle records the op,
        // that is when its input is part of the graph; the side table takes leaves only.
        let recorded = x.track_op() || !weights.iter().any(|w| w.track_op());
        let leaves = weights.iter().all(|w| !w.track_op() || w.is_variable());
        if cpu_f32(x) && weights.iter().all(cpu_f32) && recorded && leaves {
            let op = FusedBertLayer {
                weights,
                mask: mask.to_dtype(DType::F32)?.contiguous()?,
                attention: FusedAttention {
                    batch: b,
                    seq: t,
                    heads,
                    causal: false,
                },
                eps: self.ln_att.eps as f32,
                train: x.track_op(),
                saved: Mutex::new(None),
                side: self.side.clone(),
            };
            return x.contiguous()?.apply_op1(op);
        }
        self.forward_composed(x, mask, (b, t), heads)
    }

    /// The same layer from candle ops (any device and dtype; the reference in tests).
    pub(crate) fn forward_composed(
        &self,
        x: &Tensor,
        mask: &Tensor,
        (b, t): (usize, usize),
        heads: usize,
    ) -> Result<Tensor> {
        // One projection for q, k and v, laid out as the attention kernel wants.
        let w = Tensor::cat(&[&self.q.w, &self.k.w, &self.v.w], 0)?;
        let bias = Tensor::cat(&[&self.q.b, &self.k.b, &self.v.b], 0)?;
        let qkv = bias_add(&matmul(x, &w.t()?)?, &bias)?;
        let a = attention(&qkv, mask, b, t, heads)?;
        let x = self.ln_att.forward(&(x + self.out.forward(&a)?)?)?;
        let h = gelu(&self.fc1.forward(&x)?)?;
        self.ln_out.forward(&(&x + self.fc2.forward(&h)?)?)
    }
}

/// Activations the backward pass needs.
struct Saved {
    /// q, k and v's weights as one (3d, d) matrix: the factor of the input gradient.
    wqkv: Vec<f32>,
    qkv: Vec<f32>,   // (n, 3d)
    probs: Vec<f32>, // attention weights
    att: Vec<f32>,   // attention output (n, d)
    mid: Vec<f32>,   // x + projection (n, d)
    stats1: Vec<[f32; 2]>,
    y1: Vec<f32>,    // LayerNorm(mid) (n, d)
    slope: Vec<f32>, // GELU's derivative at the fc1 output (n, ff)
    g: Vec<f32>,     // after GELU (n, ff)
    o: Vec<f32>,     // y1 + MLP (n, d)
    stats2: Vec<[f32; 2]>,
}

struct FusedBertLayer {
    /// In `BertLayer::weights` order.
    weights: Vec<Tensor>,
    /// (batch, seq) f32, 1 on real tokens.
    mask: Tensor,
    attention: FusedAttention,
    eps: f32,
    /// Keep activations for a backward pass.
    train: bool,
    saved: Mutex<Option<Saved>>,
    side: Arc<SideGrads>,
}

impl FusedBertLayer {
    fn forward(&self, x: &[f32], d: usize) -> Result<(Vec<f32>, Option<Saved>)> {
        let w = Slices::new(&self.weights);
        let (d3, ff) = (3 * d, w.get(11)?.len());
        let mask_guard = Slices::new(std::slice::from_ref(&self.mask));
        let mask = mask_guard.get(0)?;

        let wqkv = [w.get(0)?, w.get(2)?, w.get(4)?].concat();
        let bqkv = [w.get(1)?, w.get(3)?, w.get(5)?].concat();
        // Without a backward pass to come (scoring), each activation is freed once the next
        // one is made, as the composed ops' tensors were: the peak is then a few activations
        // at a time, not all of the layer's.
        let done = |v: Vec<f32>| if self.train { v } else { Vec::new() };
        let qkv = linear(x, &wqkv, &bqkv, None, d, d3);
        let (att, probs) = self.attention.forward_keeping(&qkv, mask, d3, self.train);
        let (wqkv, qkv) = (done(wqkv), done(qkv));
        let mid = linear(&att, w.get(6)?, w.get(7)?, Some(x), d, d);
        let att = done(att);
        let (y1, stats1) = layer_norm(&mid, w.get(8)?, w.get(9)?, self.eps);
        let mid = done(mid);
        let mut h = linear(&y1, w.get(10)?, w.get(11)?, None, d, ff);
        let (g, slope) = if self.train {
            let slope = gelu_in_place_with_slope(&mut h);
            (h, slope)
        } else {
            let g = gelu_f32(&h, None);
            drop(h);
            (g, Vec::new())
        };
        let o = linear(&g, w.get(12)?, w.get(13)?, Some(&y1), ff, d);
        let (y1, g) = (done(y1), done(g));
        let (out, stats2) = layer_norm(&o, w.get(14)?, w.get(15)?, self.eps);
        let saved = self.train.then_some(Saved {
            wqkv,
            qkv,
            probs,
            att,
            mid,
            stats1,
            y1,
            slope,
            g,
            o,
            stats2,
        });
        Ok((out, saved))
    }

    /// Gradients of the input (returned) and of every weight (in `weights` order).
    fn backward(&self, x: &[f32], dy: &[f32], s: &Saved) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        fn rows(v: &[f32], cols: usize) -> View<'_> {
            View::row_major(v, v.len() / cols, cols)
        }
        let w = Slices::new(&self.weights);
        let d = w.get(1)?.len();
        let (d3, ff) = (3 * d, w.get(11)?.len());
        let mask_guard = Slices::new(std::slice::from_ref(&self.mask));
        let mask = mask_guard.get(0)?;
        let weight = |i: usize, rows: usize, cols: usize| -> Result<View> {
            Ok(View::row_major(w.get(i)?, rows, cols))
        };

        // out = LayerNorm(o)
        let ln_out = layer_norm_backward(&s.o, &s.stats2, w.get(14)?, dy, None);
        let (d_o, d_ln_out_w, d_ln_out_b) = (ln_out.dx, ln_out.dw, ln_out.db);
        // o = y1 + g W2^T + b2
        let d_fc2_w = weight_grad(&d_o, d, &s.g, ff);
        let d_fc2_b = ln_out.dx_col_sums;
        let dg = blocked::product(rows(&d_o, d), weight(12, d, ff)?);
        let (dh, d_fc1_b) = times_slope(dg, &s.slope, ff);
        // h = y1 W1^T + b1; y1 also reaches o directly.
        let d_fc1_w = weight_grad(&dh, ff, &s.y1, d);
        let dy1 = blocked::product_residual(rows(&dh, ff), weight(10, ff, d)?, &d_o);
        drop((dh, d_o));
        // y1 = LayerNorm(mid)
        let ln_att = layer_norm_backward(&s.mid, &s.stats1, w.get(8)?, &dy1, None);
        let (dmid, d_ln_att_w, d_ln_att_b) = (ln_att.dx, ln_att.dw, ln_att.db);
        // mid = x + att Wo^T + bo
        let d_out_w = weight_grad(&dmid, d, &s.att, d);
        let d_out_b = ln_att.dx_col_sums;
        let datt = blocked::product(rows(&dmid, d), weight(6, d, d)?);
        let dqkv = self.attention.backward(&s.qkv, mask, &datt, d3, &s.probs);
        drop(datt);
        // qkv = x Wqkv^T + bqkv; x also reaches mid directly.
        let d_qkv_w = weight_grad(&dqkv, d3, x, d);
        let d_qkv_b = col_sums(&dqkv, d3);
        let wqkv = View::row_major(&s.wqkv, d3, d);
        let dx = blocked::product_residual(rows(&dqkv, d3), wqkv, &dmid);
        // Split q, k and v's rows back apart.
        let part = |g: &[f32], i: usize, len: usize| g[i * len..][..len].to_vec();
        let grads = vec![
            part(&d_qkv_w, 0, d * d),
            part(&d_qkv_b, 0, d),
            part(&d_qkv_w, 1, d * d),
            part(&d_qkv_b, 1, d),
            part(&d_qkv_w, 2, d * d),
            part(&d_qkv_b, 2, d),
            d_out_w,
            d_out_b,
            d_ln_att_w,
            d_ln_att_b,
            d_fc1_w,
            d_fc1_b,
            d_fc2_w,
            d_fc2_b,
            d_ln_out_w,
            d_ln_out_b,
        ];
        Ok((dx, grads))
    }
}

impl CustomOp1 for FusedBertLayer {
    fn name(&self) -> &'static str {
        "kibble-bert-layer"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(x) = storage else {
            candle_core::bail!("fused BERT layer: f32 only");
        };
        let x = contiguous(x, layout, "layer input")?;
        let (_, d) = layout.shape().dims2()?;
        if self.weights[0].dims() != [d, d] {
            candle_core::bail!(
                "fused BERT layer: {d}-wide input, {:?} query weight",
                self.weights[0].dims()
            );
        }
        let (out, saved) = self.forward(x, d)?;
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = saved;
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // Taken, not borrowed: one backward pass per forward pass, and its activations go
        // as soon as it ends.
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(saved) = saved else {
            candle_core::bail!("fused BERT layer: no activations kept for a backward pass");
        };
        let inputs = [arg.contiguous()?, grad.contiguous()?.to_dtype(DType::F32)?];
        let slices = Slices::new(&inputs);
        let (dx, grads) = self.backward(slices.get(0)?, slices.get(1)?, &saved)?;
        drop(saved);
        self.side.stash_trainable(&self.weights, grads)?;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::models::block::test_support;
    use candle_core::{Device, Var};

    /// The fused layer equals the composed candle ops: output, input gradient and every
    /// weight gradient, with a padded sequence in the batch; and with every weight frozen
    /// the input gradient still flows.
    #[test]
    fn fused_bert_layer_matches_the_composed_ops() {
        let dev = Device::Cpu;
        let (b, t, d, heads, ff) = (2, 5, 8, 2, 16);
        let mut p = Params::new(&dev, DType::F32, 11);
        let layer = BertLayer::new(&mut p, 0, d, ff, 1e-12).unwrap();
        test_support::jitter(&p, 0.3);
        let (mask, x, probe) = test_support::padded_batch(d);
        let mut vars = p.vars();
        vars.push(("x".into(), x.clone()));
        let run = |layer: &BertLayer, fused: bool, vars: &[(String, Var)]| {
            let y = if fused {
                layer.forward(x.as_tensor(), &mask, (b, t), heads)
            } else {
                layer.forward_composed(x.as_tensor(), &mask, (b, t), heads)
            }
            .unwrap();
            let loss = (&y * &probe).unwrap().sum_all().unwrap();
            (y, p.side.backward(&loss, vars).unwrap())
        };
        let (yf, gf) = run(&layer, true, &vars);
        let (yc, gc) = run(&layer, false, &vars);
        let diff = crate::ml::kernels::max_abs_diff(&yf, &yc).unwrap();
        assert!(diff < 1e-5, "outputs differ by {diff}");
        test_support::assert_same_grads(&gf, &gc, &vars, 1e-4, "trainable layer");
        for (name, v) in &vars {
            let a = gf.get(v.as_tensor()).unwrap();
            // A zero gradient would match a composed one that is zero too: these are not,
            // but for the key bias (softmax ignores what it adds to every key's score).
            let norm = a
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                norm > 1e-8 || name.ends_with("key.bias"),
                "{name}: gradient is zero"
            );
        }
        // Every weight frozen (a `--freeze` backbone under a trainable embedding).
        let mut frozen = Params::new(&dev, DType::F32, 11);
        frozen.loaded = p.all().into_iter().map(|(k, v)| (k, v.detach())).collect();
        frozen.freeze_loaded = true;
        let frozen = BertLayer::new(&mut frozen, 0, d, ff, 1e-12).unwrap();
        assert!(frozen.weights().iter().all(|w| !w.is_variable()));
        let x_only = [("x".to_string(), x.clone())];
        let grad_of_x = |fused| {
            run(&frozen, fused, &x_only)
                .1
                .get(x.as_tensor())
                .unwrap()
                .clone()
        };
        let diff = crate::ml::kernels::max_abs_diff(&grad_of_x(true), &grad_of_x(false)).unwrap();
        assert!(
            diff < 1e-4,
            "frozen layer: input gradients differ by {diff}"
        );
        // Nothing tracked (scoring): the fused op keeps nothing and gives the same output.
        let plain = x.as_tensor().detach();
        let yf = frozen.forward(&plain, &mask, (b, t), heads).unwrap();
        let yc = frozen
            .forward_composed(&plain, &mask, (b, t), heads)
            .unwrap();
        let diff = crate::ml::kernels::max_abs_diff(&yf, &yc).unwrap();
        assert!(diff < 1e-5, "scoring: outputs differ by {diff}");
    }
}
