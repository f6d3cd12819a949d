//! The Llama decoder's row ops, each one pass forward and one backward: RMSNorm, rotary
//! positions with grouped-query heads repeated (q, k, v in, attention's qkv rows out), and
//! SwiGLU. Composed from candle's ops each was five to ten ops, every one with its own buffers
//! and, backward, a zero-filled gradient added into. Other devices use the composed forms
//! (`*_composed`), which the tests hold the fused ones to.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, D};
use num_traits::Float;
use rayon::prelude::*;

use super::*;

/// Rows per parallel task: enough work to pay for the task.
const ROWS: usize = 16;

fn cpu_float(ts: &[&Tensor]) -> bool {
    let dtype = ts[0].dtype();
    matches!(dtype, DType::F32 | DType::F64)
        && ts.iter().all(|t| t.device().is_cpu() && t.dtype() == dtype)
}

// ---------------------------------------------------------------------------------------------
// RMSNorm
// ---------------------------------------------------------------------------------------------

/// `x * w / sqrt(mean(x^2) + eps)` over the last dimension, differentiable in `x` and `w`.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if cpu_float(&[x, w]) && w.rank() == 1 && x.dim(D::Minus1)? == w.dim(0)? {
        x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })
    } else {
        rms_norm_composed(x, w, eps)
    }
}

/// `rms_norm` from candle's ops.
pub fn rms_norm_composed(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)
}

struct RmsNorm {
    eps: f64,
}

/// `1 / sqrt(mean(row^2) + eps)`.
fn inv_rms<T: Float>(row: &[T], eps: f64) -> T {
    let ms = sum8(row, |v: T| v * v) / T::from(row.len()).unwrap_or(T::one());
    T::one() / (ms + T::from(eps).unwrap_or(T::zero())).sqrt()
}

fn rms_norm_rows<T: Float + Send + Sync>(x: &[T], w: &[T], eps: f64) -> Vec<T> {
    let d = w.len();
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(d * ROWS)
        .zip(x.par_chunks(d * ROWS))
        .for_each(|(o, x)| {
            for (o, r) in o.chunks_mut(d).zip(x.chunks(d)) {
                let s = inv_rms(r, eps);
                for ((o, &v), &wi) in o.iter_mut().zip(r).zip(w) {
                    *o = v * s * wi;
                }
            }
        });
    out
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "kibble-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out =
            float_kernel!("rms-norm", (s1, l1) => x, (s2, l2) => w; rms_norm_rows(x, w, self.eps));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let want_dw = w.track_op();
        let both = x.apply_op3_no_bwd(
            w,
            &grad.contiguous()?,
            &RmsNormBwd {
                eps: self.eps,
                want_dw,
            },
        )?;
        let (n, d) = (x.elem_count(), w.elem_count());
        let dx = both.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = if want_dw {
            Some(both.narrow(0, n, d)?)
        } else {
            None
        };
        Ok((Some(dx), dw))
    }
}

/// Backward of `rms_norm`, both gradients in one flat output: `dx` (x's elements), then `dw`
/// (zeros when the weight is frozen). With `s = 1/rms(x)` and `dot = sum_j g_j w_j x_j`:
/// `dx_i = s (g_i w_i - x_i s^2 dot / d)`, `dw_i = sum over rows of g_i x_i s`.
struct RmsNormBwd {
    eps: f64,
    want_dw: bool,
}

fn rms_norm_bwd_rows<T: Float + Send + Sync>(
    x: &[T],
    w: &[T],
    g: &[T],
    eps: f64,
    want_dw: bool,
) -> Vec<T> {
    let d = w.len();
    let df = T::from(d).unwrap_or(T::one());
    let mut out = vec![T::zero(); x.len() + d];
    let (dx, dw) = out.split_at_mut(x.len());
    let partials: Vec<Vec<T>> = dx
        .par_chunks_mut(d * ROWS)
        .zip(x.par_chunks(d * ROWS).zip(g.par_chunks(d * ROWS)))
        .map(|(dx, (x, g))| {
            let mut dw = vec![T::zero(); if want_dw { d } else { 0 }];
            for (dx, (x, g)) in dx.chunks_mut(d).zip(x.chunks(d).zip(g.chunks(d))) {
                let s = inv_rms(x, eps);
                let dot = x
                    .iter()
                    .zip(g)
                    .zip(w)
                    .fold(T::zero(), |a, ((&xi, &gi), &wi)| a + gi * wi * xi);
                let c = s * s * dot / df;
                for (((o, &xi), &gi), &wi) in dx.iter_mut().zip(x).zip(g).zip(w) {
                    *o = s * (gi * wi - xi * c);
                }
                for ((a, &xi), &gi) in dw.iter_mut().zip(x).zip(g) {
                    *a = *a + gi * xi * s;
                }
            }
            dw
        })
        .collect();
    if want_dw {
        for p in partials {
            for (a, v) in dw.iter_mut().zip(p) {
                *a = *a + v;
            }
        }
    }
    out
}

impl CustomOp3 for RmsNormBwd {
    fn name(&self) -> &'static str {
        "kibble-rms-norm-bwd"
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
        let out = float_kernel!("rms-norm-bwd", (s1, l1) => x, (s2, l2) => w, (s3, l3) => g;
            rms_norm_bwd_rows(x, w, g, self.eps, self.want_dw));
        Ok((
            out,
            Shape::from(l1.shape().elem_count() + l2.shape().elem_count()),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Rotary positions with grouped-query heads
// ---------------------------------------------------------------------------------------------

/// Rotary tables for one sequence length: `cos` and `sin` (seq x head_dim) in HF's layout.
#[derive(Clone)]
pub struct Rope {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub seq: usize,
    pub head_dim: usize,
}

/// Attention's input rows `[rope(q) | rope(k) | v]` (n, 3 * heads * head_dim) from the
/// projections q (n, heads * dh), k and v (n, kv_heads * dh), with each key/value head
/// repeated for the `heads / kv_heads` query heads that read it (HF's `repeat_kv`: query head
/// h uses kv head h / rep). Row i is at position i % seq (right padding).
pub fn rope_qkv(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    rope: &Rope,
    heads: usize,
    kv_heads: usize,
) -> Result<Tensor> {
    let dh = rope.head_dim;
    let shapes_ok = q.rank() == 2
        && q.dim(1)? == heads * dh
        && k.dims() == [q.dim(0)?, kv_heads * dh]
        && v.dims() == k.dims()
        && rope.seq > 0
        && q.dim(0)?.is_multiple_of(rope.seq)
        && kv_heads > 0
        && heads.is_multiple_of(kv_heads)
        && dh.is_multiple_of(2)
        && rope.cos.len() == rope.seq * dh
        && rope.sin.len() == rope.cos.len();
    if !shapes_ok {
        candle_core::bail!(
            "rope_qkv: q {:?}, k {:?}, v {:?} do not fit {heads} heads, {kv_heads} kv heads, head dim {dh}, seq {}",
            q.dims(),
            k.dims(),
            v.dims(),
            rope.seq
        );
    }
    if cpu_float(&[q, k, v]) {
        q.contiguous()?.apply_op3(
            &k.contiguous()?,
            &v.contiguous()?,
            RopeQkv {
                rope: rope.clone(),
                heads,
                kv_heads,
            },
        )
    } else {
        rope_qkv_composed(q, k, v, rope, heads, kv_heads)
    }
}

/// `rope_qkv` from candle's ops.
pub fn rope_qkv_composed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    rope: &Rope,
    heads: usize,
    kv_heads: usize,
) -> Result<Tensor> {
    let (t, dh) = (rope.seq, rope.head_dim);
    let b = q.dim(0)? / t;
    let dev = q.device();
    let cos = Tensor::from_slice(&rope.cos, (t, dh), dev)?.to_dtype(q.dtype())?;
    let sin = Tensor::from_slice(&rope.sin, (t, dh), dev)?.to_dtype(q.dtype())?;
    let rotate = |x: &Tensor, h: usize| -> Result<Tensor> {
        let x = x.reshape((b, t, h, dh))?;
        let half = dh / 2;
        let rotated = Tensor::cat(
            &[&x.narrow(3, half, half)?.neg()?, &x.narrow(3, 0, half)?],
            3,
        )?;
        let cos = cos.reshape((1, t, 1, dh))?;
        let sin = sin.reshape((1, t, 1, dh))?;
        (x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?.reshape((b * t, h * dh))
    };
    let rep = heads / kv_heads;
    let repeat = |x: &Tensor| -> Result<Tensor> {
        let n = x.dim(0)?;
        x.reshape((n, kv_heads, 1, dh))?
            .broadcast_as((n, kv_heads, rep, dh))?
            .contiguous()?
            .reshape((n, heads * dh))
    };
    Tensor::cat(
        &[
            &rotate(q, heads)?,
            &repeat(&rotate(k, kv_heads)?)?,
            &repeat(v)?,
        ],
        1,
    )
}

struct RopeQkv {
    rope: Rope,
    heads: usize,
    kv_heads: usize,
}

/// One head's rotation at one position: `x cos + rotate_half(x) sin`, or its transpose
/// (`back`, the gradient's way: rotation by the opposite angle).
#[inline(always)]
fn rotate_head<T: Float>(x: &[T], cos: &[T], sin: &[T], out: &mut [T], back: bool) {
    let half = x.len() / 2;
    let (lo, hi) = x.split_at(half);
    let (out_lo, out_hi) = out.split_at_mut(half);
    if back {
        for j in 0..half {
            out_lo[j] = lo[j] * cos[j] + hi[j] * sin[j + half];
            out_hi[j] = hi[j] * cos[j + half] - lo[j] * sin[j];
        }
    } else {
        for j in 0..half {
            out_lo[j] = lo[j] * cos[j] - hi[j] * sin[j];
            out_hi[j] = hi[j] * cos[j + half] + lo[j] * sin[j + half];
        }
    }
}

impl RopeQkv {
    fn tables<T: Float>(&self) -> (Vec<T>, Vec<T>) {
        let conv = |v: &[f32]| v.iter().map(|&c| T::from(c).unwrap_or(T::zero())).collect();
        (conv(&self.rope.cos), conv(&self.rope.sin))
    }

    fn forward<T: Float + Send + Sync>(&self, q: &[T], k: &[T], v: &[T]) -> Vec<T> {
        let (dh, t) = (self.rope.head_dim, self.rope.seq);
        let (hq, hk) = (self.heads * dh, self.kv_heads * dh);
        let rep = self.heads / self.kv_heads;
        let (cos, sin) = self.tables::<T>();
        let mut out = vec![T::zero(); q.len() * 3];
        out.par_chunks_mut(3 * hq)
            .enumerate()
            .with_min_len(ROWS)
            .for_each(|(i, o)| {
                let p = (i % t) * dh;
                let (c, s) = (&cos[p..p + dh], &sin[p..p + dh]);
                let (oq, okv) = o.split_at_mut(hq);
                let (ok, ov) = okv.split_at_mut(hq);
                for (x, y) in q[i * hq..][..hq].chunks(dh).zip(oq.chunks_mut(dh)) {
                    rotate_head(x, c, s, y, false);
                }
                let kr = &k[i * hk..][..hk];
                let vr = &v[i * hk..][..hk];
                for h in 0..self.heads {
                    let j = h / rep;
                    let y = &mut ok[h * dh..][..dh];
                    if h % rep == 0 {
                        rotate_head(&kr[j * dh..][..dh], c, s, y, false);
                    } else {
                        let (done, y) = ok.split_at_mut(h * dh);
                        y[..dh].copy_from_slice(&done[(h - 1) * dh..]);
                    }
                    ov[h * dh..][..dh].copy_from_slice(&vr[j * dh..][..dh]);
                }
            });
        out
    }

    /// dq, dk, dv one after another in one flat vector: the repeated heads' gradients summed
    /// back into their kv head, then rotated back.
    fn backward<T: Float + Send + Sync>(&self, g: &[T]) -> Vec<T> {
        let (dh, t) = (self.rope.head_dim, self.rope.seq);
        let (hq, hk) = (self.heads * dh, self.kv_heads * dh);
        let rep = self.heads / self.kv_heads;
        let n = g.len() / (3 * hq);
        let (cos, sin) = self.tables::<T>();
        let mut out = vec![T::zero(); n * (hq + 2 * hk)];
        let (dq, dkv) = out.split_at_mut(n * hq);
        let (dk, dv) = dkv.split_at_mut(n * hk);
        dq.par_chunks_mut(hq)
            .zip(dk.par_chunks_mut(hk).zip(dv.par_chunks_mut(hk)))
            .enumerate()
            .with_min_len(ROWS)
            .for_each(|(i, (dq, (dk, dv)))| {
                let p = (i % t) * dh;
                let (c, s) = (&cos[p..p + dh], &sin[p..p + dh]);
                let gr = &g[i * 3 * hq..][..3 * hq];
                for (x, y) in gr[..hq].chunks(dh).zip(dq.chunks_mut(dh)) {
                    rotate_head(x, c, s, y, true);
                }
                let mut sum = vec![T::zero(); dh];
                for j in 0..self.kv_heads {
                    for (part, dst) in [(1, &mut *dk), (2, &mut *dv)] {
                        sum.fill(T::zero());
                        for h in j * rep..(j + 1) * rep {
                            let src = &gr[part * hq + h * dh..][..dh];
                            for (a, &b) in sum.iter_mut().zip(src) {
                                *a = *a + b;
                            }
                        }
                        let y = &mut dst[j * dh..][..dh];
                        if part == 1 {
                            rotate_head(&sum, c, s, y, true);
                        } else {
                            y.copy_from_slice(&sum);
                        }
                    }
                }
            });
        out
    }
}

impl CustomOp3 for RopeQkv {
    fn name(&self) -> &'static str {
        "kibble-rope-qkv"
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
        let out = float_kernel!("rope-qkv", (s1, l1) => q, (s2, l2) => k, (s3, l3) => v;
            self.forward(q, k, v));
        let n = l1.dims()[0];
        Ok((out, Shape::from((n, 3 * self.heads * self.rope.head_dim))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        _v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let all = grad.contiguous()?.apply_op1_no_bwd(&RopeQkvBwd(self))?;
        let (nq, nk) = (q.elem_count(), k.elem_count());
        let dq = all.narrow(0, 0, nq)?.reshape(q.shape())?;
        let dk = all.narrow(0, nq, nk)?.reshape(k.shape())?;
        let dv = all.narrow(0, nq + nk, nk)?.reshape(k.shape())?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

struct RopeQkvBwd<'a>(&'a RopeQkv);

impl candle_core::CustomOp1 for RopeQkvBwd<'_> {
    fn name(&self) -> &'static str {
        "kibble-rope-qkv-bwd"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = float_kernel!("rope-qkv-bwd", (s, l) => g; self.0.backward(g));
        let len = match &out {
            CpuStorage::F32(v) => v.len(),
            CpuStorage::F64(v) => v.len(),
            _ => 0,
        };
        Ok((out, Shape::from(len)))
    }
}

// ---------------------------------------------------------------------------------------------
// SwiGLU
// ---------------------------------------------------------------------------------------------

/// `silu(gate) * up`, the Llama MLP's activation, differentiable in both.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if cpu_float(&[gate, up]) && gate.dims() == up.dims() {
        gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
    } else {
        swiglu_composed(gate, up)
    }
}

/// `swiglu` from candle's ops.
pub fn swiglu_composed(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.silu()? * up
}

struct SwiGlu;

/// The logistic sigmoid through the kernels' fast exp (libm's in f64).
#[inline(always)]
fn sigmoid<T: FastExp>(x: T) -> T {
    T::one() / (T::one() + (-x).fast_exp())
}

#[inline(always)]
fn swiglu_fwd_chunk<T: FastExp>(gate: &[T], up: &[T], out: &mut [T]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = g * sigmoid(g) * u;
    }
}

/// `silu'(g) = s (1 + g (1 - s))` with `s = sigmoid(g)`.
#[inline(always)]
fn swiglu_bwd_chunk<T: FastExp>(gate: &[T], up: &[T], dy: &[T], dg: &mut [T], du: &mut [T]) {
    for ((((dg, du), &g), &u), &d) in dg.iter_mut().zip(du).zip(gate).zip(up).zip(dy) {
        let s = sigmoid(g);
        *du = d * g * s;
        *dg = d * u * s * (T::one() + g * (T::one() - s));
    }
}

/// The chunk loops, compiled for AVX2 + FMA where the CPU has them (eight lanes of the exp).
trait SwiGluChunk: FastExp + Send + Sync {
    fn fwd(gate: &[Self], up: &[Self], out: &mut [Self]) {
        swiglu_fwd_chunk(gate, up, out)
    }

    fn bwd(gate: &[Self], up: &[Self], dy: &[Self], dg: &mut [Self], du: &mut [Self]) {
        swiglu_bwd_chunk(gate, up, dy, dg, du)
    }
}

impl SwiGluChunk for f64 {}

impl SwiGluChunk for f32 {
    fn fwd(gate: &[f32], up: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::ml::kernels::cpu::avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { swiglu_fwd_avx2(gate, up, out) };
        }
        swiglu_fwd_chunk(gate, up, out)
    }

    fn bwd(gate: &[f32], up: &[f32], dy: &[f32], dg: &mut [f32], du: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::ml::kernels::cpu::avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { swiglu_bwd_avx2(gate, up, dy, dg, du) };
        }
        swiglu_bwd_chunk(gate, up, dy, dg, du)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn swiglu_fwd_avx2(gate: &[f32], up: &[f32], out: &mut [f32]) {
    swiglu_fwd_chunk(gate, up, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn swiglu_bwd_avx2(gate: &[f32], up: &[f32], dy: &[f32], dg: &mut [f32], du: &mut [f32]) {
    swiglu_bwd_chunk(gate, up, dy, dg, du)
}

const CHUNK: usize = 8 * 1024;

fn swiglu_fwd<T: SwiGluChunk>(gate: &[T], up: &[T]) -> Vec<T> {
    let mut out = vec![T::zero(); gate.len()];
    out.par_chunks_mut(CHUNK)
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .for_each(|(o, (g, u))| T::fwd(g, u, o));
    out
}

/// `[dgate | dup]` as two blocks of one vector.
fn swiglu_bwd<T: SwiGluChunk>(gate: &[T], up: &[T], grad: &[T]) -> Vec<T> {
    let n = gate.len();
    let mut out = vec![T::zero(); 2 * n];
    let (dg, du) = out.split_at_mut(n);
    dg.par_chunks_mut(CHUNK)
        .zip(du.par_chunks_mut(CHUNK))
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .zip(grad.par_chunks(CHUNK))
        .for_each(|(((dg, du), (g, u)), d)| T::bwd(g, u, d, dg, du));
    out
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "kibble-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = float_kernel!("swiglu", (s1, l1) => g, (s2, l2) => u; swiglu_fwd(g, u));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let both = gate.apply_op3_no_bwd(up, &grad.contiguous()?, &SwiGluBwd)?;
        let n = gate.elem_count();
        let dg = both.narrow(0, 0, n)?.reshape(gate.shape())?;
        let du = both.narrow(0, n, n)?.reshape(gate.shape())?;
        Ok((Some(dg), Some(du)))
    }
}

struct SwiGluBwd;

impl CustomOp3 for SwiGluBwd {
    fn name(&self) -> &'static str {
        "kibble-swiglu-bwd"
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
        let out = float_kernel!("swiglu-bwd", (s1, l1) => g, (s2, l2) => u, (s3, l3) => d;
            swiglu_bwd(g, u, d));
        Ok((out, Shape::from(2 * l1.shape().elem_count())))
    }
}
