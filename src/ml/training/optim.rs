//! AdamW with state we can save and restore exactly (candle-nn's keeps its moments private),
//! the learning-rate schedule, and gradient-norm clipping.

use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp1, InplaceOp2, Layout, Result, Tensor, Var};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ml::kernels::sum8;
use crate::ml::models::block::SideGrads;
use crate::ml::training::TrainError;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// PyTorch's defaults.
    fn default() -> Self {
        AdamWConfig {
            lr: 3e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

pub struct AdamW {
    pub config: AdamWConfig,
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    pub step: u64,
}

impl AdamW {
    pub fn new(vars: Vec<(String, Var)>, config: AdamWConfig) -> Result<AdamW> {
        let zeros = || {
            vars.iter()
                .map(|(_, v)| v.as_tensor().zeros_like())
                .collect::<Result<Vec<_>>>()
        };
        // Separate storage for each: the CPU update writes both moments in place.
        let (m, v) = (zeros()?, zeros()?);
        Ok(AdamW {
            config,
            vars,
            m,
            v,
            step: 0,
        })
    }

    /// One update with learning rate `lr` (the schedule's value for this step).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step_scaled(grads, lr, 1.0)
    }

    /// `step` with every gradient multiplied by `grad_scale` first (gradient clipping),
    /// without a scaled copy of the gradients.
    pub fn step_scaled(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        let hyper = Hyper {
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            take1: (1.0 - c.beta1) as f32,
            take2: (1.0 - c.beta2) as f32,
            scale: grad_scale as f32,
            lr: lr as f32,
            bc1: bc1 as f32,
            bc2: bc2 as f32,
            eps: c.eps as f32,
            decay: (1.0 - lr * c.weight_decay) as f32,
        };
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let p = var.as_tensor();
            if p.device().is_cpu() && p.dtype() == DType::F32 && g.dtype() == DType::F32 {
                // One pass over p, g, m and v, in place: no temporaries for the ten
                // element-wise ops, and each buffer read once.
                let step = Step {
                    m: &self.m[i],
                    v: &self.v[i],
                    h: hyper,
                };
                p.inplace_op2(g, &step)?;
                continue;
            }
            let scaled;
            let g = if grad_scale == 1.0 {
                g
            } else {
                scaled = (g * grad_scale)?;
                &scaled
            };
            let m = ((&self.m[i] * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + c.eps)?)?;
            let next = ((p * (1.0 - lr * c.weight_decay))? - (update * lr)?)?;
            var.set(&next)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// Saves the moments (`m.NAME`, `v.NAME`) as safetensors; the step goes in the checkpoint JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map = std::collections::HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            map.insert(format!("m.{name}"), self.m[i].clone());
            map.insert(format!("v.{name}"), self.v[i].clone());
        }
        candle_core::safetensors::save(&map, path)
    }

    pub fn load(&mut self, path: &Path, step: u64) -> Result<()> {
        let device = self
            .m
            .first()
            .map(|t| t.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        let mut map = candle_core::safetensors::load(path, &device)?;
        for (i, (name, _)) in self.vars.iter().enumerate() {
            let (Some(m), Some(v)) = (
                map.remove(&format!("m.{name}")),
                map.remove(&format!("v.{name}")),
            ) else {
                candle_core::bail!("{}: no optimizer state for {name}", path.display());
            };
            self.m[i] = m;
            self.v[i] = v;
        }
        self.step = step;
        Ok(())
    }
}

/// Elements per rayon task in the in-place updates.
const CHUNK: usize = 1 << 15;

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => crate::ml::kernels::contiguous(v, l, "AdamW"),
        _ => candle_core::bail!("AdamW: expected an f32 tensor"),
    }
}

fn contiguous_f32_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("AdamW: expected a contiguous f32 tensor"),
    }
}

/// AdamW's constants for one step, as f32.
#[derive(Clone, Copy)]
struct Hyper {
    beta1: f32,
    beta2: f32,
    /// `1 - beta`, rounded from f64.
    take1: f32,
    take2: f32,
    /// Gradient scale (clipping).
    scale: f32,
    lr: f32,
    /// Bias corrections `1 - beta^t`.
    bc1: f32,
    bc2: f32,
    eps: f32,
    /// `1 - lr * weight_decay`.
    decay: f32,
}

impl Hyper {
    /// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2` for the scaled gradient, then
    /// `p = p (1 - lr wd) - lr (m / bc1) / (sqrt(v / bc2) + eps)`.
    fn update(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let h = *self;
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(|((p, g), (m, v))| {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                    let g = g * h.scale;
                    *m = h.beta1 * *m + h.take1 * g;
                    *v = h.beta2 * *v + h.take2 * (g * g);
                    *p = *p * h.decay - h.lr * (*m / h.bc1) / ((*v / h.bc2).sqrt() + h.eps);
                }
            });
    }
}

/// One AdamW step of a CPU f32 parameter, applied in place to it with its gradient.
///
/// candle's in-place ops lock one tensor for writing each, and this step writes three (p, m
/// and v). So the op on p runs [`StepM`] on m, which runs [`StepV`] on v, and the innermost
/// sees all four buffers while the outer two hold their locks.
struct Step<'a> {
    m: &'a Tensor,
    v: &'a Tensor,
    h: Hyper,
}

struct StepM<'a> {
    p: SharedSlice,
    g: &'a [f32],
    v: &'a Tensor,
    h: Hyper,
}

struct StepV<'a> {
    p: SharedSlice,
    g: &'a [f32],
    m: SharedSlice,
    h: Hyper,
}

/// A buffer that an outer op holds locked for writing, handed to the op inside it.
#[derive(Clone, Copy)]
struct SharedSlice {
    ptr: *mut f32,
    len: usize,
}

impl SharedSlice {
    fn new(s: &mut [f32]) -> SharedSlice {
        SharedSlice {
            ptr: s.as_mut_ptr(),
            len: s.len(),
        }
    }
}

fn same_length(g: &[f32], other: usize, what: &str) -> Result<()> {
    if g.len() != other {
        candle_core::bail!("AdamW: gradient of {} values, {what} of {other}", g.len());
    }
    Ok(())
}

impl InplaceOp2 for Step<'_> {
    fn name(&self) -> &'static str {
        "kibble-adamw-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (p, g) = (contiguous_f32_mut(s1, l1)?, contiguous_f32(s2, l2)?);
        same_length(g, p.len(), "parameter")?;
        self.m.inplace_op1(&StepM {
            p: SharedSlice::new(p),
            g,
            v: self.v,
            h: self.h,
        })
    }
}

impl InplaceOp1 for StepM<'_> {
    fn name(&self) -> &'static str {
        "kibble-adamw-step-m"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let m = contiguous_f32_mut(storage, layout)?;
        same_length(self.g, m.len(), "first moment")?;
        self.v.inplace_op1(&StepV {
            p: self.p,
            g: self.g,
            m: SharedSlice::new(m),
            h: self.h,
        })
    }
}

impl InplaceOp1 for StepV<'_> {
    fn name(&self) -> &'static str {
        "kibble-adamw-step-v"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let v = contiguous_f32_mut(storage, layout)?;
        same_length(self.g, v.len(), "second moment")?;
        // SAFETY: p and m are the buffers of two other tensors, write-locked by the ops that
        // run this one (`Step` and `StepM`) until it returns, so nothing else reads or writes
        // them; their lengths were taken from the slices themselves.
        let (p, m) = unsafe {
            (
                std::slice::from_raw_parts_mut(self.p.ptr, self.p.len),
                std::slice::from_raw_parts_mut(self.m.ptr, self.m.len),
            )
        };
        self.h.update(p, self.g, m, v);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Cosine,
    Linear,
}

/// Linear warm-up to `peak`, then cosine or linear decay to zero at `total`.
pub fn learning_rate(schedule: Schedule, peak: f64, step: u64, warmup: u64, total: u64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    match schedule {
        Schedule::Cosine => peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        Schedule::Linear => peak * (1.0 - progress),
    }
}

/// Gradients summed over the micro-batches of one step: each micro-batch's loss is its share
/// of the step's loss, so the sum is the whole batch's gradient while only one micro-batch's
/// activations are alive at a time. Only the weights' gradients are kept: a backward pass's
/// store also holds a gradient for every activation (as large as the activations).
#[derive(Default)]
pub struct Gradients {
    /// Per var (in `vars` order), the sum so far.
    sums: Vec<Option<Tensor>>,
}

impl Gradients {
    /// Backward through `loss` (one micro-batch's part), adding its gradients; returns the
    /// loss. A loss that is not finite is `TrainError::NotFinite` before anything changes.
    pub fn add(
        &mut self,
        loss: &Tensor,
        vars: &[(String, Var)],
        side: &SideGrads,
        step: u64,
    ) -> std::result::Result<f64, TrainError> {
        let loss_v = loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        if !loss_v.is_finite() {
            return Err(TrainError::NotFinite {
                step,
                what: "the loss",
                value: loss_v,
            });
        }
        let mut grads = side.backward(loss, vars)?;
        self.sums.resize(vars.len(), None);
        for ((_, v), sum) in vars.iter().zip(&mut self.sums) {
            if let Some(g) = grads.remove(v.as_tensor()) {
                *sum = Some(match sum.take() {
                    Some(s) => (s + g)?,
                    None => g,
                });
            }
        }
        Ok(loss_v)
    }

    /// Clip the summed gradients to `clip_norm` and take one AdamW step at `lr`; returns the
    /// gradient norm before clipping (not finite: `TrainError::NotFinite`, nothing changed).
    pub fn descend(
        self,
        vars: &[(String, Var)],
        opt: &mut AdamW,
        clip_norm: f64,
        lr: f64,
        step: u64,
    ) -> std::result::Result<f64, TrainError> {
        let Some((_, first)) = vars.first() else {
            return Ok(0.0);
        };
        // candle offers no empty GradStore; a constant's backward pass is one (holding only
        // the constant's own unit gradient).
        let mut grads = Tensor::zeros((), DType::F32, first.device())?.backward()?;
        for ((_, v), sum) in vars.iter().zip(self.sums) {
            if let Some(g) = sum {
                grads.insert(v.as_tensor(), g);
            }
        }
        let grad_norm = grad_norm(&grads, vars)?;
        if !grad_norm.is_finite() {
            return Err(TrainError::NotFinite {
                step,
                what: "the gradient norm",
                value: grad_norm,
            });
        }
        opt.step_scaled(&grads, lr, clip_scale(grad_norm, clip_norm))?;
        Ok(grad_norm)
    }
}

/// The global L2 norm of the gradients of `vars`. CPU f32 gradients are summed in parallel,
/// in f64, in fixed chunks added in order (the same result whatever the thread count).
pub fn grad_norm(grads: &GradStore, vars: &[(String, Var)]) -> Result<f64> {
    let mut sq = 0f64;
    for (_, v) in vars {
        let Some(g) = grads.get(v.as_tensor()) else {
            continue;
        };
        let (storage, layout) = g.storage_and_layout();
        sq += match &*storage {
            candle_core::Storage::Cpu(cpu @ CpuStorage::F32(_)) if layout.is_contiguous() => {
                let data = contiguous_f32(cpu, layout)?;
                // Eight f64 totals per chunk: one is a chain of dependent adds, four cycles an
                // element (the norm took 3 ms of a `tiny` training step).
                let partials: Vec<f64> = data
                    .par_chunks(CHUNK)
                    .map(|c| sum8(c, |x| x as f64 * x as f64))
                    .collect();
                partials.iter().sum()
            }
            _ => {
                drop(storage);
                g.to_dtype(DType::F64)?
                    .sqr()?
                    .sum_all()?
                    .to_scalar::<f64>()?
            }
        };
    }
    Ok(sq.sqrt())
}

/// The factor that brings a gradient norm down to `max_norm` (1 when it is below, or when
/// clipping is off).
fn clip_scale(norm: f64, max_norm: f64) -> f64 {
    if norm.is_finite() && norm > max_norm && max_norm > 0.0 {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_and_decays() {
        let lr = |s| learning_rate(Schedule::Cosine, 1.0, s, 10, 110);
        assert!((lr(0) - 0.1).abs() < 1e-12);
        assert!((lr(9) - 1.0).abs() < 1e-12);
        assert!((lr(60) - 0.5).abs() < 1e-12);
        assert!(lr(110) < 1e-12);
        assert!((learning_rate(Schedule::Linear, 1.0, 60, 10, 110) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn adamw_minimises_a_quadratic() {
        let x = Var::new(&[3.0f32, -2.0], &candle_core::Device::Cpu).unwrap();
        let mut opt = AdamW::new(
            vec![("x".into(), x.clone())],
            AdamWConfig {
                lr: 0.1,
                weight_decay: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..300 {
            let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            opt.step(&g, 0.1).unwrap();
        }
        let v: Vec<f32> = x.as_tensor().to_vec1().unwrap();
        assert!(v.iter().all(|a| a.abs() < 0.05), "{v:?}");
    }

    /// The in-place CPU update follows the AdamW formulas (two steps, with weight decay).
    #[test]
    fn adamw_steps_match_the_formulas() {
        let c = AdamWConfig::default();
        let x = Var::new(&[0.5f32, -1.5, 2.0], &candle_core::Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![("x".into(), x.clone())], c).unwrap();
        let (mut p, mut m, mut v) = ([0.5f64, -1.5, 2.0], [0f64; 3], [0f64; 3]);
        let lr = 0.01;
        for t in 1..=2 {
            // loss = sum x^3: gradient 3 x^2.
            let loss = x.as_tensor().powf(3.0).unwrap().sum_all().unwrap();
            opt.step(&loss.backward().unwrap(), lr).unwrap();
            for i in 0..3 {
                let g = 3.0 * p[i] * p[i];
                m[i] = c.beta1 * m[i] + (1.0 - c.beta1) * g;
                v[i] = c.beta2 * v[i] + (1.0 - c.beta2) * g * g;
                let mh = m[i] / (1.0 - c.beta1.powi(t));
                let vh = v[i] / (1.0 - c.beta2.powi(t));
                p[i] = p[i] * (1.0 - lr * c.weight_decay) - lr * mh / (vh.sqrt() + c.eps);
            }
        }
        let got: Vec<f32> = x.as_tensor().to_vec1().unwrap();
        for (a, b) in got.iter().zip(p) {
            assert!((*a as f64 - b).abs() < 1e-6, "{got:?} vs {p:?}");
        }
    }
}
