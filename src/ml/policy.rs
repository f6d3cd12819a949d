//! Policy language models. `tiny` is a GPT-style decoder trained from scratch, exactly the
//! shape of `shared/peers/torch_policy_bench.py` (learned positions, pre-LN, tied LM head).
//! This file is the differentiable forward pass (candle autograd) used for training;
//! sampling runs on the plain-slice KV-cache engine in `decode.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::model::{Init, Norm, Params, TinyBlock};
use super::ops::token_logprobs;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    pub vocab_size: usize,
    /// Context window (learned positions).
    pub ctx: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    pub ln_eps: f64,
}

impl PolicyConfig {
    /// The `tiny` preset: the peer benchmark's shape.
    pub fn tiny(vocab_size: usize) -> PolicyConfig {
        PolicyConfig {
            vocab_size,
            ctx: 256,
            d_model: 256,
            n_layers: 4,
            n_heads: 4,
            d_ff: 1024,
            ln_eps: 1e-5,
        }
    }
}

/// Token sequences for a training step: each is `prompt ++ response`, right-padded. Only
/// response tokens are scored: the log-probability of a sequence is the sum over them.
pub struct SeqBatch {
    pub ids: Tensor,       // (batch, seq) u32
    pub mask: Tensor,      // (batch, seq) f32, 1 on real tokens
    pub targets: Vec<u32>, // (batch*seq) the next token at each position (pad at the end)
    pub weights: Tensor,   // (batch*seq) f32, 1 where the next token is a response token
    pub response_tokens: Vec<usize>,
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
        Ok(SeqBatch {
            ids: Tensor::from_vec(ids, (b, t), device)?,
            mask: Tensor::from_vec(mask, (b, t), device)?,
            targets,
            weights: Tensor::from_vec(weights, b * t, device)?,
            response_tokens,
            batch: b,
            seq: t,
        })
    }
}

pub struct Policy {
    pub config: PolicyConfig,
    pub params: Params,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<TinyBlock>,
    ln_f: Norm,
}

impl Policy {
    /// A fresh model with deterministic initial weights.
    pub fn new(config: &PolicyConfig, seed: u64, device: &Device) -> Result<Policy> {
        Self::build(config, Params::new(device, DType::F32, seed))
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
        let model = Self::build(config, p)?;
        if let Some(name) = model.params.loaded.keys().next() {
            candle_core::bail!("unexpected weight {name} for this policy configuration");
        }
        Ok(model)
    }

    fn build(config: &PolicyConfig, mut p: Params) -> Result<Policy> {
        let c = config;
        let wte = p.get("wte.weight", &[c.vocab_size, c.d_model], Init::Normal)?;
        let wpe = p.get("wpe.weight", &[c.ctx, c.d_model], Init::Normal)?;
        let blocks = (0..c.n_layers)
            .map(|i| TinyBlock::new(&mut p, &format!("blocks.{i}"), c.d_model, c.d_ff, c.ln_eps))
            .collect::<Result<_>>()?;
        let ln_f = Norm::new(&mut p, "ln_f", c.d_model, c.ln_eps)?;
        Ok(Policy {
            config: c.clone(),
            params: p,
            wte,
            wpe,
            blocks,
            ln_f,
        })
    }

    /// Next-token logits at every position: ids (batch, seq) -> (batch*seq, vocab).
    pub fn logits(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let c = &self.config;
        if t > c.ctx {
            candle_core::bail!(
                "sequence of {t} tokens is longer than the policy's context {}",
                c.ctx
            );
        }
        let mut x = self
            .wte
            .embedding(&ids.flatten_all()?)?
            .reshape((b, t, c.d_model))?
            .broadcast_add(&self.wpe.narrow(0, 0, t)?)?
            .reshape((b * t, c.d_model))?;
        for blk in &self.blocks {
            x = blk.forward(&x, mask, b, t, c.n_heads, true)?;
        }
        // Tied LM head.
        self.ln_f.forward(&x)?.matmul(&self.wte.t()?)
    }

    /// Per-token log-probabilities of each next token, zero outside the response: (batch, seq).
    pub fn token_logps(&self, batch: &SeqBatch) -> Result<Tensor> {
        let logits = self.logits(&batch.ids, &batch.mask)?;
        (token_logprobs(&logits, &batch.targets)? * &batch.weights)?
            .reshape((batch.batch, batch.seq))
    }

    /// Summed log-probability of each sequence's response: (batch,).
    pub fn sequence_logps(&self, batch: &SeqBatch) -> Result<Tensor> {
        self.token_logps(batch)?.sum(1)
    }

    /// A copy of the weights as plain tensors (no gradient graph): the frozen reference.
    /// Deep copies: the optimiser updates the trainable storage in place.
    pub fn frozen_copy(&self) -> Result<Policy> {
        let weights = self
            .params
            .all()
            .into_iter()
            .map(|(k, v)| Ok((k, v.detach().copy()?)))
            .collect::<Result<_>>()?;
        Self::from_weights(&self.config, weights, true, &self.params.device)
    }

    pub fn save_weights(&self, path: &Path) -> Result<()> {
        self.params.save(path)
    }

    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.params.vars()
    }

    /// Weights as flat row-major f32 vectors by name (for the sampling engine).
    pub fn weights_f32(&self) -> Result<BTreeMap<String, Vec<f32>>> {
        self.params
            .all()
            .into_iter()
            .map(|(k, v)| Ok((k, v.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PolicyConfig {
        PolicyConfig {
            vocab_size: 50,
            ctx: 16,
            d_model: 16,
            n_layers: 2,
            n_heads: 2,
            d_ff: 32,
            ln_eps: 1e-5,
        }
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
