//! Llama-family decoder (Llama, SmolLM2, Qwen2, Mistral without sliding windows): RMSNorm,
//! rotary positions (HF "rotate half" layout), grouped-query attention, SwiGLU MLP.
//! Weights carry their HF names (`model.layers.0.self_attn.q_proj.weight` ...), so an HF folder
//! loads as is and exports as is. Optional LoRA adapters on every projection: the base weights
//! stay frozen and only the adapters train; `merged` folds them back in.

use std::collections::BTreeMap;
use std::sync::Arc;

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::ml::kernels::{causal_attention, matmul, rms_norm, rope_qkv, swiglu, Rope};
use crate::ml::models::block::SideGrads;
use crate::ml::models::config::PolicyConfig;
use crate::ml::models::projection::project;
use crate::ml::models::reward::{Init, Params};

/// Low-rank adapters: `W x + (alpha / rank) B A x`, A (rank x in), B (out x rank, starts at 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
}

impl LoraConfig {
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// A bias-optional linear layer with an optional LoRA adapter.
pub(crate) struct Proj {
    pub(crate) name: String,
    w: Tensor, // (out, in)
    b: Option<Tensor>,
    lora: Option<(Tensor, Tensor, f64)>,
    /// The model's table for weight gradients (see `projection`).
    side: Arc<SideGrads>,
}

impl Proj {
    fn new(
        p: &mut Params,
        name: &str,
        (d_in, d_out): (usize, usize),
        bias: bool,
        lora: Option<LoraConfig>,
    ) -> Result<Proj> {
        let w = p.get(&format!("{name}.weight"), &[d_out, d_in], Init::Normal)?;
        let b = if bias {
            Some(p.get(&format!("{name}.bias"), &[d_out], Init::Zeros)?)
        } else {
            None
        };
        let lora = match lora {
            Some(l) => Some((
                // A like PEFT's default (std ~ 1/sqrt(in)), B at zero: training starts at W.
                p.get(
                    &lora_a(name),
                    &[l.rank, d_in],
                    Init::NormalStd(1.0 / (d_in as f64).sqrt()),
                )?,
                p.get(&lora_b(name), &[d_out, l.rank], Init::Zeros)?,
                l.scale(),
            )),
            None => None,
        };
        Ok(Proj {
            name: name.to_string(),
            w,
            b,
            lora,
            side: p.side.clone(),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.forward_maybe_onto(x, None)?;
        match &self.b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    /// `r + self(x)` for a bias-free projection, the residual taken in by the product
    /// itself (no separate sum and its buffer).
    fn forward_onto(&self, x: &Tensor, r: &Tensor) -> Result<Tensor> {
        match &self.b {
            Some(_) => r + self.forward(x)?,
            None => self.forward_maybe_onto(x, Some(r)),
        }
    }

    /// `[r +] x W^T [+ scale B A x]`, without the bias.
    fn forward_maybe_onto(&self, x: &Tensor, r: Option<&Tensor>) -> Result<Tensor> {
        match &self.lora {
            // The adapter's output first (scaled while it is rank-wide), then the base product
            // added onto it in the same pass: a training step keeps two (rows x out)
            // activations per projection, not four.
            Some((a, bb, scale)) => {
                let low = (project(x, a, None, &self.side)? * *scale)?;
                let adapted = project(&low, bb, r, &self.side)?;
                project(x, &self.w, Some(&adapted), &self.side)
            }
            None => project(x, &self.w, r, &self.side),
        }
    }

    /// The weight with the adapter folded in.
    fn merged(&self) -> Result<Tensor> {
        match &self.lora {
            Some((a, b, scale)) => self.w.detach() + (b.detach().matmul(&a.detach())? * *scale)?,
            None => Ok(self.w.detach()),
        }
    }
}

fn lora_a(name: &str) -> String {
    format!("{name}.lora_A.weight")
}

fn lora_b(name: &str) -> String {
    format!("{name}.lora_B.weight")
}

/// Every weight of `params` with `llama`'s adapters folded into the projections they adapt
/// (what a policy checkpoint and every export hold).
pub(crate) fn merged_weights(
    params: &Params,
    llama: Option<&Llama>,
) -> Result<BTreeMap<String, Tensor>> {
    let mut all: BTreeMap<String, Tensor> = params
        .all()
        .into_iter()
        .filter(|(k, _)| !is_lora_weight(k))
        .map(|(k, v)| (k, v.detach()))
        .collect();
    if let Some(l) = llama {
        all.extend(l.merged_projections()?);
    }
    Ok(all)
}

/// True for adapter weights (never part of a merged checkpoint).
pub fn is_lora_weight(name: &str) -> bool {
    name.contains(".lora_A.") || name.contains(".lora_B.")
}

struct Layer {
    input_norm: Tensor,
    q: Proj,
    k: Proj,
    v: Proj,
    o: Proj,
    post_norm: Tensor,
    gate: Proj,
    up: Proj,
    down: Proj,
}

pub(crate) struct Llama {
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    /// None when tied to the embedding.
    lm_head: Option<Tensor>,
}

/// Rotary angles' cosines and sines for `positions`, (positions x head_dim) in HF's layout
/// (the half-dim frequencies repeated twice). Shared with the sampling engine so both agree.
pub(crate) fn rope_tables(c: &PolicyConfig, positions: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let dh = c.head_dim();
    let half = dh / 2;
    let inv: Vec<f64> = (0..half)
        .map(|i| c.rope_theta.powf(-2.0 * i as f64 / dh as f64))
        .collect();
    let mut cos = Vec::with_capacity(positions.len() * dh);
    let mut sin = Vec::with_capacity(positions.len() * dh);
    for &p in positions {
        for _ in 0..2 {
            for f in &inv {
                let a = p as f64 * f;
                cos.push(a.cos() as f32);
                sin.push(a.sin() as f32);
            }
        }
    }
    (cos, sin)
}

impl Llama {
    /// `lm_head`: false for a reward model, which reads hidden states, never logits.
    pub(crate) fn new(
        p: &mut Params,
        c: &PolicyConfig,
        lora: Option<LoraConfig>,
        lm_head: bool,
    ) -> Result<Llama> {
        let (d, dh) = (c.d_model, c.head_dim());
        let kv = c.kv_heads() * dh;
        let embed = p.get(
            "model.embed_tokens.weight",
            &[c.vocab_size, d],
            Init::Normal,
        )?;
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let n = |s: &str| format!("model.layers.{i}.{s}");
            let mut proj = |s: &str, shape, bias| Proj::new(p, &n(s), shape, bias, lora);
            let q = proj("self_attn.q_proj", (d, c.n_heads * dh), c.qkv_bias)?;
            let k = proj("self_attn.k_proj", (d, kv), c.qkv_bias)?;
            let v = proj("self_attn.v_proj", (d, kv), c.qkv_bias)?;
            let o = proj("self_attn.o_proj", (c.n_heads * dh, d), false)?;
            let gate = proj("mlp.gate_proj", (d, c.d_ff), false)?;
            let up = proj("mlp.up_proj", (d, c.d_ff), false)?;
            let down = proj("mlp.down_proj", (c.d_ff, d), false)?;
            layers.push(Layer {
                input_norm: p.get(&n("input_layernorm.weight"), &[d], Init::Ones)?,
                post_norm: p.get(&n("post_attention_layernorm.weight"), &[d], Init::Ones)?,
                q,
                k,
                v,
                o,
                gate,
                up,
                down,
            });
        }
        let norm = p.get("model.norm.weight", &[d], Init::Ones)?;
        let lm_head = if c.tied || !lm_head {
            None
        } else {
            Some(p.get("lm_head.weight", &[c.vocab_size, d], Init::Normal)?)
        };
        Ok(Llama {
            embed,
            layers,
            norm,
            lm_head,
        })
    }

    /// ids (batch, seq), key mask (batch, seq) -> final normed hidden states (batch*seq, d).
    /// Right padding: every row's positions start at 0.
    pub(crate) fn hidden(&self, c: &PolicyConfig, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let positions: Vec<usize> = (0..t).collect();
        let (cos, sin) = rope_tables(c, &positions);
        let rope = Rope {
            cos,
            sin,
            seq: t,
            head_dim: c.head_dim(),
        };
        let (heads, kv) = (c.n_heads, c.kv_heads());
        let eps = c.ln_eps;
        let mut x = self.embed.embedding(&ids.flatten_all()?)?; // (b*t, d)
        for l in &self.layers {
            let h = rms_norm(&x, &l.input_norm, eps)?;
            let (q, k, v) = (l.q.forward(&h)?, l.k.forward(&h)?, l.v.forward(&h)?);
            let qkv = rope_qkv(&q, &k, &v, &rope, heads, kv)?;
            let a = causal_attention(&qkv, mask, b, t, heads)?;
            x = l.o.forward_onto(&a, &x)?;
            let h = rms_norm(&x, &l.post_norm, eps)?;
            let m = swiglu(&l.gate.forward(&h)?, &l.up.forward(&h)?)?;
            x = l.down.forward_onto(&m, &x)?;
        }
        rms_norm(&x, &self.norm, eps)
    }

    /// Hidden states (rows, d) -> logits (rows, vocab).
    pub(crate) fn head(&self, x: &Tensor) -> Result<Tensor> {
        matmul(x, &self.lm_head.as_ref().unwrap_or(&self.embed).t()?)
    }

    /// Projection weights with adapters folded in, by name (only the adapted ones).
    pub(crate) fn merged_projections(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut out = BTreeMap::new();
        for l in &self.layers {
            for p in [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down] {
                if p.lora.is_some() {
                    out.insert(format!("{}.weight", p.name), p.merged()?);
                }
            }
        }
        Ok(out)
    }
}
