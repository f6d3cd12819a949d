//! AdamW with state we can save and restore exactly (candle-nn's keeps its moments private),
//! the learning-rate schedule, and gradient-norm clipping.

use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor, Var};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::train::TrainError;

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
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let p = var.as_tensor();
            if p.device().is_cpu() && p.dtype() == DType::F32 && g.dtype() == DType::F32 {
                // One pass per tensor, in place: no temporaries for the ten element-wise ops.
                self.m[i].inplace_op2(
                    g,
                    &Moment {
                        beta: c.beta1,
                        square: false,
                        scale: grad_scale as f32,
                    },
                )?;
                self.v[i].inplace_op2(
                    g,
                    &Moment {
                        beta: c.beta2,
                        square: true,
                        scale: grad_scale as f32,
                    },
                )?;
                let update = Update {
                    lr,
                    bc1,
                    bc2,
                    eps: c.eps,
                    decay: 1.0 - lr * c.weight_decay,
                };
                p.inplace_op3(&self.m[i], &self.v[i], &update)?;
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
        CpuStorage::F32(v) => super::ops::contiguous(v, l, "AdamW"),
        _ => candle_core::bail!("AdamW: expected an f32 tensor"),
    }
}

fn contiguous_f32_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("AdamW: expected a contiguous f32 tensor"),
    }
}

/// `m = beta m + (1 - beta) g` (or `g^2`), in place, for `g` = gradient x `scale`.
struct Moment {
    beta: f64,
    square: bool,
    scale: f32,
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "kibble-adamw-moment"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (m, g) = (contiguous_f32_mut(s1, l1)?, contiguous_f32(s2, l2)?);
        if m.len() != g.len() {
            candle_core::bail!(
                "AdamW: moment of {} values, gradient of {}",
                m.len(),
                g.len()
            );
        }
        let (keep, take) = (self.beta as f32, (1.0 - self.beta) as f32);
        let (square, scale) = (self.square, self.scale);
        m.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .for_each(|(m, g)| {
                for (m, &g) in m.iter_mut().zip(g) {
                    let g = g * scale;
                    let g = if square { g * g } else { g };
                    *m = keep * *m + take * g;
                }
            });
        Ok(())
    }
}

/// `p = p (1 - lr wd) - lr (m / bc1) / (sqrt(v / bc2) + eps)`, in place.
struct Update {
    lr: f64,
    bc1: f64,
    bc2: f64,
    eps: f64,
    decay: f64,
}

impl InplaceOp3 for Update {
    fn name(&self) -> &'static str {
        "kibble-adamw-update"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let p = contiguous_f32_mut(s1, l1)?;
        let (m, v) = (contiguous_f32(s2, l2)?, contiguous_f32(s3, l3)?);
        if p.len() != m.len() || p.len() != v.len() {
            candle_core::bail!("AdamW: parameter and moments differ in size");
        }
        let (lr, bc1, bc2) = (self.lr as f32, self.bc1 as f32, self.bc2 as f32);
        let (eps, decay) = (self.eps as f32, self.decay as f32);
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks(CHUNK).zip(v.par_chunks(CHUNK)))
            .for_each(|(p, (m, v))| {
                for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
                    *p = *p * decay - lr * (m / bc1) / ((v / bc2).sqrt() + eps);
                }
            });
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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

/// One update from `loss`: backward, clip the gradients to `clip_norm`, AdamW at `lr`.
/// Returns the loss and the gradient norm before clipping; a loss or gradient norm that is
/// not finite stops before the weights change, as `TrainError::NotFinite` at `step`.
pub fn descend(
    loss: &Tensor,
    vars: &[(String, Var)],
    opt: &mut AdamW,
    clip_norm: f64,
    lr: f64,
    step: u64,
) -> std::result::Result<(f64, f64), TrainError> {
    let loss_v = loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    if !loss_v.is_finite() {
        return Err(TrainError::NotFinite {
            step,
            what: "the loss",
            value: loss_v,
        });
    }
    let grads = super::block::backward(loss, vars)?;
    let grad_norm = grad_norm(&grads, vars)?;
    if !grad_norm.is_finite() {
        return Err(TrainError::NotFinite {
            step,
            what: "the gradient norm",
            value: grad_norm,
        });
    }
    opt.step_scaled(&grads, lr, clip_scale(grad_norm, clip_norm))?;
    Ok((loss_v, grad_norm))
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
                let partials: Vec<f64> = data
                    .par_chunks(CHUNK)
                    .map(|c| c.iter().map(|&x| (x as f64) * (x as f64)).sum())
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
