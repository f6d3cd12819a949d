//! Policy language models. `tiny` is a GPT-style decoder trained from scratch, exactly the
//! shape of `shared/peers/torch_policy_bench.py` (learned positions, pre-LN, tied LM head);
//! `llama` is the Llama family loaded from HF folders or GGUF files (`llama.rs`).
//! This file is the differentiable forward pass (candle autograd) used for training;
//! sampling runs on the plain-slice KV-cache engine in `decode.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor, Var};

use crate::ml::kernels::{matmul, token_logprobs};
use crate::ml::models::config::{PolicyArch, PolicyConfig};
use crate::ml::models::llama::{Llama, LoraConfig};
use crate::ml::models::reward::{Init, Norm, Params, TinyBlock};

/// Token sequences for a training step: each is `prompt ++ response`, right-padded. Only
/// response tokens are scored: the log-probability of a sequence is the sum over them.
pub struct SeqBatch {
    pub ids: Tensor,       // (batch, seq) u32
    pub mask: Tensor,      // (batch, seq) f32, 1 on real tokens
    pub targets: Vec<u32>, // (batch*seq) the next token at each position (pad at the end)
    pub weights: Tensor,   // (batch*seq) f32, 1 where the next token is a response token
    pub response_tokens: Vec<usize>,
    /// Rows (of batch*seq) whose next token is a response token, in order.
    pub scored: Vec<u32>,
    pub batch: usize,
    pub seq: usize,
}

impl SeqBatch {
    /// `seqs`: (token ids, prompt length in tokens).
    pub fn new(seqs: &[(&[u32], usize)], pad: u32, device: &Device) -> Result<SeqBatch> {
        let b = seqs.len();
        let t = seqs.iter().map(|s| s.0.len()).max().unwrap_or(1).max(1);
        let mut ids = vec![pad; b * t];
        let mut mask = vec![0f32; b * t];
        let mut targets = vec![pad; b * t];
        let mut weights = vec![0f32; b * t];
        let mut response_tokens = Vec::with_capacity(b);
        for (i, (s, prompt_len)) in seqs.iter().enumerate() {
            let row = i * t;
            ids[row..row + s.len()].copy_from_slice(s);
            mask[row..row + s.len()].iter_mut().for_each(|m| *m = 1.0);
            for j in 0..s.len().saturating_sub(1) {
                targets[row + j] = s[j + 1];
                if j + 1 >= *prompt_len {
                    weights[row + j] = 1.0;
                }
            }
            response_tokens.push(s.len().saturating_sub((*prompt_len).max(1)));
        }
        let scored: Vec<u32> = (0..b * t)
            .filter(|&r| weights[r] > 0.0)
            .map(|r| r as u32)
            .collect();
        Ok(SeqBatch {
            ids: Tensor::from_vec(ids, (b, t), device)?,
            mask: Tensor::from_vec(mask, (b, t), device)?,
            targets,
            weights: Tensor::from_vec(weights, b * t, device)?,
            response_tokens,
            scored,
            batch: b,
            seq: t,
        })
    }

    /// The sequences `rows` (in that order) as a batch of their own, padded as this one is:
    /// a micro-batch whose gradients add up with the others' to this batch's.
    pub fn select(&self, rows: &[usize]) -> Result<SeqBatch> {
        let t = self.seq;
        assert!(rows.iter().all(|&r| r < self.batch), "row out of range");
        let device = self.ids.device();
        let idx = Tensor::from_vec(
            rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
            rows.len(),
            device,
        )?;
        let weights: Vec<f32> = self.weights.to_vec1()?;
        let pick = |v: &[f32]| -> Vec<f32> {
            rows.iter()
                .flat_map(|&r| v[r * t..(r + 1) * t].iter().copied())
                .collect()
        };
        let weights = pick(&weights);
        let scored = (0..rows.len() * t)
            .filter(|&i| weights[i] > 0.0)
            .map(|i| i as u32)
            .collect();
        Ok(SeqBatch {
            ids: self.ids.index_select(&idx, 0)?,
            mask: self.mask.index_select(&idx, 0)?,
            targets: rows
                .iter()
                .flat_map(|&r| self.targets[r * t..(r + 1) * t].iter().copied())
                .collect(),
            weights: Tensor::from_vec(weights, rows.len() * t, device)?,
            response_tokens: rows.iter().map(|&r| self.response_tokens[r]).collect(),
            scored,
            batch: rows.len(),
            seq: t,
        })
    }
}

enum Body {
    Gpt {
        wte: Tensor,
        wpe: Tensor,
        blocks: Vec<TinyBlock>,
        ln_f: Norm,
    },
    Llama(Llama),
}

pub struct Policy {
    pub config: PolicyConfig,
    pub params: Params,
    body: Body,
    pub lora: Option<LoraConfig>,
}

impl Policy {
    /// A fresh model with deterministic initial weights.
    pub fn new(config: &PolicyConfig, seed: u64, device: &Device) -> Result<Policy> {
        Self::build(config, Params::new(device, DType::F32, seed), None)
    }

    /// A model with these weights (a checkpoint); `frozen` builds no gradient graph (the
    /// reference model, scoring, sampling).
    pub fn from_weights(
        config: &PolicyConfig,
        weights: BTreeMap<String, Tensor>,
        frozen: bool,
        device: &Device,
    ) -> Result<Policy> {
        let mut p = Params::new(device, DType::F32, 0);
        p.loaded = weights;
        p.freeze_loaded = frozen;
        Self::build_checked(config, p, None)
    }

    /// A Llama policy whose loaded weights stay frozen while fresh LoRA adapters (seeded)
    /// train on every projection.
    pub fn with_lora(
        config: &PolicyConfig,
        weights: BTreeMap<String, Tensor>,
        lora: LoraConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Policy> {
        if config.arch != PolicyArch::Llama {
            candle_core::bail!("LoRA adapters are for Llama-family policies");
        }
        let mut p = Params::new(device, DType::F32, seed);
        p.loaded = weights;
        p.freeze_loaded = true;
        Self::build_checked(config, p, Some(lora))
    }

    fn build_checked(c: &PolicyConfig, mut p: Params, lora: Option<LoraConfig>) -> Result<Policy> {
        c.validate(&[]).map_err(candle_core::Error::msg)?;
        p.require_loaded = true;
        p.fresh_ok = &["lora"];
        let model = Self::build(c, p, lora)?;
        if let Some(name) = model.params.loaded.keys().next() {
            candle_core::bail!("unexpected weight {name} for this policy configuration");
        }
        Ok(model)
    }

    fn build(config: &PolicyConfig, mut p: Params, lora: Option<LoraConfig>) -> Result<Policy> {
        let c = config;
        if c.arch == PolicyArch::Llama {
            let body = Body::Llama(Llama::new(&mut p, c, lora, true)?);
            return Ok(Policy {
                config: c.clone(),
                params: p,
                body,
                lora,
            });
        }
        let wte = p.get("wte.weight", &[c.vocab_size, c.d_model], Init::Normal)?;
        let wpe = p.get("wpe.weight", &[c.ctx, c.d_model], Init::Normal)?;
        let blocks = (0..c.n_layers)
            .map(|i| TinyBlock::new(&mut p, &format!("blocks.{i}"), c.d_model, c.d_ff, c.ln_eps))
            .collect::<Result<_>>()?;
        let ln_f = Norm::new(&mut p, "ln_f", c.d_model, c.ln_eps)?;
        Ok(Policy {
            config: c.clone(),
            params: p,
            body: Body::Gpt {
                wte,
                wpe,
                blocks,
                ln_f,
            },
            lora: None,
        })
    }

    /// Next-token logits at every position: ids (batch, seq) -> (batch*seq, vocab).
    pub fn logits(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.head(&self.hidden(ids, mask)?)
    }

    /// The LM head: final hidden states (rows, d) -> logits (rows, vocab).
    fn head(&self, x: &Tensor) -> Result<Tensor> {
        match &self.body {
            Body::Llama(l) => l.head(x),
            // Tied to the token embedding.
            Body::Gpt { wte, .. } => matmul(x, &wte.t()?),
        }
    }

    /// Final (normed) hidden state at every position: ids (batch, seq) -> (batch*seq, d).
    fn hidden(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let c = &self.config;
        if t > c.ctx {
            candle_core::bail!(
                "sequence of {t} tokens is longer than the policy's context {}",
                c.ctx
            );
        }
        let (wte, wpe, blocks, ln_f) = match &self.body {
            Body::Llama(l) => return l.hidden(c, ids, mask),
            Body::Gpt {
                wte,
                wpe,
                blocks,
                ln_f,
            } => (wte, wpe, blocks, ln_f),
        };
        let mut x = wte
            .embedding(&ids.flatten_all()?)?
            .reshape((b, t, c.d_model))?
            .broadcast_add(&wpe.narrow(0, 0, t)?)?
            .reshape((b * t, c.d_model))?;
        for blk in blocks {
            x = blk.forward(&x, mask, b, t, c.n_heads, true)?;
        }
        ln_f.forward(&x)
    }

    /// Summed log-probability of each sequence's response: (batch,). Only response
    /// positions have a target, so only their rows go through the LM head (the largest
    /// product: prompt rows would be a quarter of it at 32 + 96 tokens).
    pub fn sequence_logps(&self, batch: &SeqBatch) -> Result<Tensor> {
        let dev = batch.ids.device();
        let sums = Tensor::zeros(batch.batch, DType::F32, dev)?;
        let n = batch.scored.len();
        if n == 0 {
            return Ok(sums);
        }
        let rows = Tensor::from_slice(&batch.scored, n, dev)?;
        let targets: Vec<u32> = batch
            .scored
            .iter()
            .map(|&r| batch.targets[r as usize])
            .collect();
        let hidden = self
            .hidden(&batch.ids, &batch.mask)?
            .index_select(&rows, 0)?;
        let lp = token_logprobs(&self.head(&hidden)?, &targets)?;
        let seqs: Vec<u32> = batch.scored.iter().map(|&r| r / batch.seq as u32).collect();
        sums.index_add(&Tensor::from_vec(seqs, n, dev)?, &lp, 0)
    }

    /// `sequence_logps` from logits already computed for this batch.
    pub fn sequence_logps_from(&self, logits: &Tensor, batch: &SeqBatch) -> Result<Tensor> {
        (token_logprobs(logits, &batch.targets)? * &batch.weights)?
            .reshape((batch.batch, batch.seq))?
            .sum(1)
    }

    /// A copy of the weights as plain tensors (no gradient graph): the frozen reference.
    /// Deep copies: the optimiser updates the trainable storage in place.
    pub fn frozen_copy(&self) -> Result<Policy> {
        if self.lora.is_some() && self.adapters_are_zero()? {
            // Adapters that have not moved leave the base weights as the model, and those never
            // change while adapters train: the copy shares them (a 135M model saves 0.5 GB).
            let base = crate::ml::models::llama::merged_weights(&self.params, None)?;
            return Self::from_weights(&self.config, base, true, &self.params.device);
        }
        let weights = self
            .merged_weights()?
            .into_iter()
            .map(|(k, v)| Ok((k, v.copy()?)))
            .collect::<Result<_>>()?;
        Self::from_weights(&self.config, weights, true, &self.params.device)
    }

    /// Whether every LoRA `B` is zero (fresh adapters: the model is its base weights).
    fn adapters_are_zero(&self) -> Result<bool> {
        for (name, w) in self.params.all() {
            if name.contains(".lora_B.") && w.abs()?.max_all()?.to_scalar::<f32>()? != 0.0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every weight of the model as plain tensors, LoRA adapters folded into their
    /// projections: what a checkpoint, the sampler and an export use.
    pub fn merged_weights(&self) -> Result<BTreeMap<String, Tensor>> {
        let llama = match &self.body {
            Body::Llama(l) => Some(l),
            _ => None,
        };
        crate::ml::models::llama::merged_weights(&self.params, llama)
    }

    pub fn save_weights(&self, path: &Path) -> Result<()> {
        let map: std::collections::HashMap<String, Tensor> =
            self.merged_weights()?.into_iter().collect();
        candle_core::safetensors::save(&map, path)
    }

    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.params.vars()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::models::llama::is_lora_weight;

    fn small() -> PolicyConfig {
        PolicyConfig {
            vocab_size: 50,
            ctx: 16,
            d_model: 16,
            n_layers: 2,
            n_heads: 2,
            d_ff: 32,
            ln_eps: 1e-5,
            ..PolicyConfig::tiny(50)
        }
    }

    /// The response-rows-only LM head gives the full-logits sums and the same gradients.
    #[test]
    fn sequence_logps_match_the_full_logits() {
        let dev = Device::Cpu;
        for config in [
            small(),
            crate::ml::models::config::PolicyConfig::small_llama(),
        ] {
            let policy = Policy::new(&config, 3, &dev).unwrap();
            let seqs: [(&[u32], usize); 3] = [
                (&[1, 5, 7, 9, 11, 2], 2),
                (&[3, 4, 6], 1),
                (&[8, 8, 8, 8], 4),
            ];
            let batch = SeqBatch::new(&seqs, 0, &dev).unwrap();
            let fast = policy.sequence_logps(&batch).unwrap();
            let logits = policy.logits(&batch.ids, &batch.mask).unwrap();
            let full = policy.sequence_logps_from(&logits, &batch).unwrap();
            assert!(crate::ml::kernels::max_abs_diff(&fast, &full).unwrap() < 1e-5);
            let w = Tensor::new(&[1.0f32, -2.0, 0.5], &dev).unwrap();
            let vars = policy.trainable();
            let grads = |x: &Tensor| {
                let loss = x.mul(&w).unwrap().sum_all().unwrap();
                policy.params.side.backward(&loss, &vars).unwrap()
            };
            let (gf, gs) = (grads(&fast), grads(&full));
            for (name, var) in policy.trainable() {
                let (a, b) = (gf.get(var.as_tensor()), gs.get(var.as_tensor()));
                match (a, b) {
                    (Some(a), Some(b)) => {
                        let d = crate::ml::kernels::max_abs_diff(a, b).unwrap();
                        assert!(d < 1e-5, "{name}: gradients differ by {d}");
                    }
                    _ => panic!("{name}: no gradient"),
                }
            }
        }
    }

    #[test]
    fn lora_merged_equals_unmerged_forward() {
        let dev = Device::Cpu;
        let config = crate::ml::models::config::PolicyConfig::small_llama();
        let base = Policy::new(&config, 4, &dev).unwrap();
        let lora = LoraConfig {
            rank: 2,
            alpha: 4.0,
        };
        let adapted =
            Policy::with_lora(&config, base.merged_weights().unwrap(), lora, 1, &dev).unwrap();
        // Only the adapters train; B starts at zero, so give it values to merge.
        let vars = adapted.trainable();
        assert_eq!(vars.len(), 2 * 7 * config.n_layers);
        assert!(vars.iter().all(|(k, _)| is_lora_weight(k)));
        for (i, (_, v)) in vars.iter().enumerate() {
            let t = Tensor::randn(0f32, 0.5, v.shape(), &dev).unwrap();
            v.set(&((t + i as f64 * 0.01).unwrap())).unwrap();
        }
        let merged =
            Policy::from_weights(&config, adapted.merged_weights().unwrap(), true, &dev).unwrap();
        let seq: &[u32] = &[3, 9, 4, 1, 7, 7, 2];
        let b = SeqBatch::new(&[(seq, 2)], 0, &dev).unwrap();
        let a: Vec<f32> = adapted.sequence_logps(&b).unwrap().to_vec1().unwrap();
        let m: Vec<f32> = merged.sequence_logps(&b).unwrap().to_vec1().unwrap();
        let plain: Vec<f32> = base.sequence_logps(&b).unwrap().to_vec1().unwrap();
        assert!((a[0] - m[0]).abs() < 1e-4, "{} vs {}", a[0], m[0]);
        assert!(
            (a[0] - plain[0]).abs() > 1e-3,
            "the adapters changed nothing"
        );
    }

    #[test]
    fn padding_and_later_tokens_do_not_change_earlier_logprobs() {
        let dev = Device::Cpu;
        let p = Policy::new(&small(), 3, &dev).unwrap();
        let a: &[u32] = &[5, 6, 7, 8, 9];
        let long: &[u32] = &[5, 6, 7, 8, 9, 10, 11, 12];
        let alone = SeqBatch::new(&[(a, 2)], 0, &dev).unwrap();
        let padded = SeqBatch::new(&[(a, 2), (long, 2)], 0, &dev).unwrap();
        let x: Vec<f32> = p.sequence_logps(&alone).unwrap().to_vec1().unwrap();
        let y: Vec<f32> = p.sequence_logps(&padded).unwrap().to_vec1().unwrap();
        assert!((x[0] - y[0]).abs() < 1e-5, "{} vs {}", x[0], y[0]);
        assert_eq!(padded.response_tokens, vec![3, 6]);
    }
}
