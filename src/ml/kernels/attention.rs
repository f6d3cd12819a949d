//! Fused multi-head attention (forward and backward) over a (tokens, 3*d) qkv tensor.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::matmul::mm;
use super::*;

/// Scores -> masked, scaled softmax, in place, for one (batch, head): rows of length t.
/// With `causal`, query i sees keys 0..=i only.
pub(super) fn softmax_in_place<T: FastExp>(
    s: &mut [T],
    mask: &[T],
    t: usize,
    scale: T,
    causal: bool,
) {
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
mod speed {
    use super::*;

    /// `cargo test --release --lib -- --ignored attention_speed --nocapture`: GFLOP/s of
    /// attention at MiniLM's training shape (32 sequences of 128 tokens, 12 heads of 32).
    #[test]
    #[ignore]
    fn attention_speed() {
        let (b, t, h, d) = (32, 128, 12, 384);
        let op = FusedAttention {
            batch: b,
            seq: t,
            heads: h,
            causal: false,
        };
        let qkv: Vec<f32> = (0..b * t * 3 * d)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let mask = vec![1f32; b * t];
        let dout: Vec<f32> = qkv[..b * t * d].to_vec();
        let flops = |products: usize| (products * 2 * b * h * t * t * (d / h)) as f64 / 1e9;
        for _ in 0..3 {
            let s = std::time::Instant::now();
            let (out, kept) = op.forward_keeping(&qkv, &mask, 3 * d, true);
            let fwd = s.elapsed().as_secs_f64();
            let s = std::time::Instant::now();
            let dqkv = op.backward(&qkv, &mask, &dout, 3 * d, &kept);
            let bwd = s.elapsed().as_secs_f64();
            std::hint::black_box((out, dqkv));
            println!(
                "forward {:.1} ms ({:.0} GFLOP/s), backward {:.1} ms ({:.0} GFLOP/s)",
                fwd * 1e3,
                flops(2) / fwd,
                bwd * 1e3,
                flops(4) / bwd
            );
        }
    }
}
