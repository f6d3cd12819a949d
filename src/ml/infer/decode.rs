//! Sampling from a policy with a KV cache, on plain f32 slices. A decode step of the `tiny`
//! policy is ~10 MFLOP per sequence: tensor-library overhead per op would dominate, so this
//! engine does one product per projection over all active rows (`panels.rs`: weights packed
//! for streaming) and hand-written loops for the rest.
//!
//! Every row carries its own (sequence, position): a prefill of many prompts of different
//! lengths and a decode step of many sequences are the same call, with no padding.

use rayon::prelude::*;

use crate::domain::SplitMix64;
use crate::ml::kernels::quant::{QKind, QMatrix, Weight, BLOCK};
use crate::ml::kernels::{exp_f32, on_pool};
use crate::ml::models::config::{PolicyArch, PolicyConfig};
use crate::ml::models::llama::rope_tables;
use crate::ml::models::policy::Policy;

use super::rows::*;
use super::sampling::*;
use super::weights::{Matrix, Named, Table};

/// How to sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GenConfig {
    pub max_new_tokens: usize,
    pub temperature: f64,
    /// 0 = off.
    pub top_k: usize,
    /// 1.0 = off.
    pub top_p: f64,
    /// Generation ends after any of these (it is kept in the output).
    pub stop_tokens: Vec<u32>,
    pub seed: u64,
    /// Sequences decoded together.
    pub batch: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_new_tokens: 128,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            stop_tokens: Vec::new(),
            seed: 0,
            batch: 8,
        }
    }
}

/// One generated continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub tokens: Vec<u32>,
    /// Ended on a stop token (otherwise it ran out of tokens).
    pub stopped: bool,
    /// Mean entropy (nats) of the sampling distribution over its steps.
    pub mean_entropy: f64,
}

/// (weight, bias) of a layer; an empty bias means none.
type Wb = (Matrix, Vec<f32>);
/// (scale, shift) of a LayerNorm.
type Ln = (Vec<f32>, Vec<f32>);

struct GptLayer {
    ln1: Ln,
    qkv: Wb,
    proj: Wb,
    ln2: Ln,
    fc1: Wb,
    fc2: Wb,
}

/// q, k and v are one matrix (q rows, then k, then v) and so are gate and up: one pass over
/// the input rows each.
struct LlamaLayer {
    input_norm: Vec<f32>,
    qkv: Wb,
    o: Matrix,
    post_norm: Vec<f32>,
    gate_up: Matrix,
    down: Matrix,
}

enum Layers {
    Gpt(Vec<GptLayer>),
    Llama(Vec<LlamaLayer>),
}

pub struct Decoder {
    pub config: PolicyConfig,
    /// Token embeddings (looked up by id).
    wte: Table,
    /// Learned positions (GPT only).
    wpe: Vec<f32>,
    layers: Layers,
    /// Final norm (RMSNorm for Llama: no bias).
    ln_f: Ln,
    /// The LM head (the embeddings' weights when tied).
    head: Matrix,
}

/// Keys and values of every layer for a set of sequences: `[layer][seq]` of
/// (kv heads x len x head dim). Head-major, so attention reads each head's keys front to
/// back (position-major strided them and left a batch-8 step waiting on memory).
pub struct KvCache {
    k: Vec<Vec<Vec<f32>>>,
    v: Vec<Vec<Vec<f32>>>,
    len: usize,
    dh: usize,
}

impl KvCache {
    /// Room for `len` positions of each of `sequences` sequences.
    pub fn new(config: &PolicyConfig, sequences: usize, len: usize) -> KvCache {
        let kv_dim = config.kv_heads() * config.head_dim();
        let one = || vec![vec![0f32; len * kv_dim]; sequences];
        KvCache {
            k: (0..config.n_layers).map(|_| one()).collect(),
            v: (0..config.n_layers).map(|_| one()).collect(),
            len,
            dh: config.head_dim(),
        }
    }

    /// Stores one position's keys and values (each kv heads x head dim).
    fn store(&mut self, layer: usize, seq: usize, pos: usize, k: &[f32], v: &[f32]) {
        let dh = self.dh;
        for (h, (kh, vh)) in k.chunks_exact(dh).zip(v.chunks_exact(dh)).enumerate() {
            let at = (h * self.len + pos) * dh;
            self.k[layer][seq][at..at + dh].copy_from_slice(kh);
            self.v[layer][seq][at..at + dh].copy_from_slice(vh);
        }
    }
}

impl Decoder {
    /// The engine for a policy being trained or loaded as f32 (LoRA adapters merged).
    pub fn from_policy(policy: &Policy) -> candle_core::Result<Decoder> {
        Decoder::from_policy_as(policy, None)
    }

    /// The engine a policy samples from: a Llama-family (pretrained) policy's matrices as
    /// Q8_0 blocks (under a third of f32's memory, and the integer kernels: ~3x faster at
    /// batch 1 on SmolLM2), the small GPT as it trains, in f32.
    pub fn for_sampling(policy: &Policy) -> candle_core::Result<Decoder> {
        match policy.config.arch {
            PolicyArch::Llama => Decoder::from_policy_as(policy, Some(QKind::Q8_0)),
            PolicyArch::Gpt => Decoder::from_policy(policy),
        }
    }

    /// `from_policy`, with every matrix whose rows are whole blocks quantised to `quantise`
    /// (one weight at a time, so f32 copies of all of them are never held at once).
    fn from_policy_as(policy: &Policy, quantise: Option<QKind>) -> candle_core::Result<Decoder> {
        let mut weights = std::collections::BTreeMap::new();
        for (name, t) in policy.merged_weights()? {
            let v: Vec<f32> = t
                .flatten_all()?
                .to_dtype(candle_core::DType::F32)?
                .to_vec1()?;
            let w = match (quantise, t.dims()) {
                (Some(kind), &[rows, cols]) if cols.is_multiple_of(BLOCK) => {
                    Weight::Quant(QMatrix::quantize(kind, &v, rows, cols))
                }
                _ => Weight::F32(v),
            };
            weights.insert(name, w);
        }
        Decoder::from_weights(&policy.config, Named(weights))
    }

    /// The engine from weights by HF (Llama) or kibble (GPT) name, f32 or quantised (a GGUF
    /// file's blocks stay as they are). The config must be validated already; every weight's
    /// shape is checked against it here.
    pub fn from_weights(config: &PolicyConfig, mut w: Named) -> candle_core::Result<Decoder> {
        let (d, ff, v) = (config.d_model, config.d_ff, config.vocab_size);
        let (qd, kvd) = (
            config.n_heads * config.head_dim(),
            config.kv_heads() * config.head_dim(),
        );
        if config.arch == PolicyArch::Llama {
            let mut layers = Vec::new();
            for i in 0..config.n_layers {
                let n = |s: &str| format!("model.layers.{i}.{s}");
                let qkv_parts = |what: &str| {
                    [("q", qd), ("k", kvd), ("v", kvd)]
                        .map(|(p, r)| (n(&format!("self_attn.{p}_proj.{what}")), r))
                };
                let bias = if config.qkv_bias {
                    w.vectors(&qkv_parts("bias"))?
                } else {
                    Vec::new()
                };
                let gate_up = [
                    (n("mlp.gate_proj.weight"), ff),
                    (n("mlp.up_proj.weight"), ff),
                ];
                layers.push(LlamaLayer {
                    input_norm: w.vector(&n("input_layernorm.weight"), d)?,
                    qkv: (w.matrix(&qkv_parts("weight"), d)?, bias),
                    o: w.matrix(&[(n("self_attn.o_proj.weight"), d)], qd)?,
                    post_norm: w.vector(&n("post_attention_layernorm.weight"), d)?,
                    gate_up: w.matrix(&gate_up, d)?,
                    down: w.matrix(&[(n("mlp.down_proj.weight"), d)], ff)?,
                });
            }
            let wte = w.table("model.embed_tokens.weight", v, d)?;
            let head = if config.tied {
                wte.as_head(v, d)
            } else {
                w.matrix(&[("lm_head.weight".into(), v)], d)?
            };
            return Ok(Decoder {
                config: config.clone(),
                wte,
                wpe: Vec::new(),
                layers: Layers::Llama(layers),
                ln_f: (w.vector("model.norm.weight", d)?, Vec::new()),
                head,
            });
        }
        let mut layers = Vec::new();
        for i in 0..config.n_layers {
            let n = |s: &str| format!("blocks.{i}.{s}");
            let mut lin = |name: String, d_out: usize, d_in: usize| -> candle_core::Result<Wb> {
                Ok((
                    w.matrix(&[(format!("{name}.weight"), d_out)], d_in)?,
                    w.vector(&format!("{name}.bias"), d_out)?,
                ))
            };
            let (qkv, proj) = (lin(n("qkv"), 3 * d, d)?, lin(n("proj"), d, d)?);
            let (fc1, fc2) = (lin(n("fc1"), ff, d)?, lin(n("fc2"), d, ff)?);
            let mut pair = |name: &str| -> candle_core::Result<Ln> {
                Ok((
                    w.vector(&format!("{name}.weight"), d)?,
                    w.vector(&format!("{name}.bias"), d)?,
                ))
            };
            layers.push(GptLayer {
                ln1: pair(&n("ln1"))?,
                qkv,
                proj,
                ln2: pair(&n("ln2"))?,
                fc1,
                fc2,
            });
        }
        let ln_f = (w.vector("ln_f.weight", d)?, w.vector("ln_f.bias", d)?);
        let wte = w.table("wte.weight", v, d)?;
        Ok(Decoder {
            config: config.clone(),
            head: wte.as_head(v, d),
            wte,
            wpe: w.vector("wpe.weight", config.ctx * d)?,
            layers: Layers::Gpt(layers),
            ln_f,
        })
    }

    /// Runs `tokens` through the model. Row r is token `tokens[r]` of sequence `seq[r]` at
    /// position `pos[r]`; it attends to that sequence's cached positions `0..=pos[r]` (rows of
    /// one sequence must come in position order). Returns the final hidden states (rows x d).
    pub fn forward_rows(
        &self,
        cache: &mut KvCache,
        seq: &[usize],
        pos: &[usize],
        tokens: &[u32],
    ) -> Vec<f32> {
        let d = self.config.d_model;
        let mut x = vec![0f32; tokens.len() * d];
        for (r, &t) in tokens.iter().enumerate() {
            self.wte.row(t as usize, &mut x[r * d..(r + 1) * d]);
        }
        match &self.layers {
            Layers::Gpt(layers) => self.gpt_layers(layers, x, cache, seq, pos),
            Layers::Llama(layers) => self.llama_layers(layers, x, cache, seq, pos),
        }
    }

    /// Attention of every row to its sequence's cache; rows split over threads. Row r's query
    /// is `qs[r * stride..]` (the first n_heads * head_dim values).
    fn attend_rows(
        &self,
        (qs, stride): (&[f32], usize),
        cache: &KvCache,
        layer: usize,
        seq: &[usize],
        pos: &[usize],
    ) -> Vec<f32> {
        let c = &self.config;
        let width = c.n_heads * c.head_dim();
        let heads = Heads {
            q: c.n_heads,
            kv: c.kv_heads(),
            stride: cache.len * cache.dh,
        };
        let (kc, vc) = (&cache.k[layer], &cache.v[layer]);
        let mut att = vec![0f32; seq.len() * width];
        let one_row = |(r, out): (usize, &mut [f32])| {
            let q = &qs[r * stride..r * stride + width];
            attend(q, &kc[seq[r]], &vc[seq[r]], pos[r] + 1, heads, out);
        };
        if seq.len() > 1 {
            att.par_chunks_mut(width).enumerate().for_each(one_row);
        } else {
            att.chunks_mut(width).enumerate().for_each(one_row);
        }
        att
    }

    fn gpt_layers(
        &self,
        layers: &[GptLayer],
        mut x: Vec<f32>,
        cache: &mut KvCache,
        seq: &[usize],
        pos: &[usize],
    ) -> Vec<f32> {
        let c = &self.config;
        let (d, rows) = (c.d_model, seq.len());
        for r in 0..rows {
            let p = pos[r];
            for j in 0..d {
                x[r * d + j] += self.wpe[p * d + j];
            }
        }
        for (li, l) in layers.iter().enumerate() {
            let mut hbuf = x.clone();
            layer_norm(&mut hbuf, d, &l.ln1, c.ln_eps);
            let qkv = l.qkv.0.apply(&hbuf, rows, &l.qkv.1);
            for (r, row) in qkv.chunks_exact(3 * d).enumerate() {
                cache.store(li, seq[r], pos[r], &row[d..2 * d], &row[2 * d..]);
            }
            let att = self.attend_rows((&qkv, 3 * d), cache, li, seq, pos);
            let proj = l.proj.0.apply(&att, rows, &l.proj.1);
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
            let mut hbuf = x.clone();
            layer_norm(&mut hbuf, d, &l.ln2, c.ln_eps);
            let mut f = l.fc1.0.apply(&hbuf, rows, &l.fc1.1);
            gelu(&mut f);
            let f = l.fc2.0.apply(&f, rows, &l.fc2.1);
            x.iter_mut().zip(&f).for_each(|(a, b)| *a += b);
        }
        layer_norm(&mut x, d, &self.ln_f, c.ln_eps);
        x
    }

    fn llama_layers(
        &self,
        layers: &[LlamaLayer],
        mut x: Vec<f32>,
        cache: &mut KvCache,
        seq: &[usize],
        pos: &[usize],
    ) -> Vec<f32> {
        let c = &self.config;
        let (d, rows, dh, ff) = (c.d_model, seq.len(), c.head_dim(), c.d_ff);
        let (qd, kvd) = (c.n_heads * dh, c.kv_heads() * dh);
        let width = qd + 2 * kvd;
        let (cos, sin) = rope_tables(c, pos);
        for (li, l) in layers.iter().enumerate() {
            let mut hbuf = x.clone();
            rms_norm(&mut hbuf, d, &l.input_norm, c.ln_eps);
            let mut qkv = l.qkv.0.apply(&hbuf, rows, &l.qkv.1);
            for (r, row) in qkv.chunks_mut(width).enumerate() {
                let (cs, sn) = (&cos[r * dh..(r + 1) * dh], &sin[r * dh..(r + 1) * dh]);
                rotate(&mut row[..qd + kvd], dh, cs, sn);
                cache.store(li, seq[r], pos[r], &row[qd..qd + kvd], &row[qd + kvd..]);
            }
            let att = self.attend_rows((&qkv, width), cache, li, seq, pos);
            let o = l.o.apply(&att, rows, &[]);
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let mut hbuf = x.clone();
            rms_norm(&mut hbuf, d, &l.post_norm, c.ln_eps);
            let gu = l.gate_up.apply(&hbuf, rows, &[]);
            let mut m = vec![0f32; rows * ff];
            for (mr, gr) in m.chunks_mut(ff).zip(gu.chunks(2 * ff)) {
                for (j, v) in mr.iter_mut().enumerate() {
                    let g = gr[j];
                    *v = g / (1.0 + exp_f32(-g)) * gr[ff + j];
                }
            }
            let f = l.down.apply(&m, rows, &[]);
            x.iter_mut().zip(&f).for_each(|(a, b)| *a += b);
        }
        rms_norm(&mut x, d, &self.ln_f.0, c.ln_eps);
        x
    }

    /// Number of weights (a tied head counted once).
    pub fn parameters(&self) -> usize {
        let v = |x: &[&Vec<f32>]| x.iter().map(|v| v.len()).sum::<usize>();
        let layers: usize = match &self.layers {
            Layers::Gpt(ls) => ls
                .iter()
                .map(|l| {
                    let packed = [&l.qkv, &l.proj, &l.fc1, &l.fc2];
                    packed.iter().map(|w| w.0.len() + w.1.len()).sum::<usize>()
                        + v(&[&l.ln1.0, &l.ln1.1, &l.ln2.0, &l.ln2.1])
                })
                .sum(),
            Layers::Llama(ls) => ls
                .iter()
                .map(|l| {
                    l.qkv.0.len()
                        + l.qkv.1.len()
                        + l.o.len()
                        + l.gate_up.len()
                        + l.down.len()
                        + v(&[&l.input_norm, &l.post_norm])
                })
                .sum(),
        };
        let tied = self.config.tied;
        let head = if tied { 0 } else { self.head.len() };
        self.wte.len() + self.wpe.len() + layers + v(&[&self.ln_f.0, &self.ln_f.1]) + head
    }

    /// Bytes of weights held (a tied head counted once).
    pub fn weight_bytes(&self) -> usize {
        let v = |x: &[&Vec<f32>]| 4 * x.iter().map(|v| v.len()).sum::<usize>();
        let layers: usize = match &self.layers {
            Layers::Gpt(ls) => ls
                .iter()
                .map(|l| {
                    [&l.qkv, &l.proj, &l.fc1, &l.fc2]
                        .iter()
                        .map(|w| w.0.bytes() + 4 * w.1.len())
                        .sum::<usize>()
                        + v(&[&l.ln1.0, &l.ln1.1, &l.ln2.0, &l.ln2.1])
                })
                .sum(),
            Layers::Llama(ls) => ls
                .iter()
                .map(|l| {
                    l.qkv.0.bytes()
                        + 4 * l.qkv.1.len()
                        + l.o.bytes()
                        + l.gate_up.bytes()
                        + l.down.bytes()
                        + v(&[&l.input_norm, &l.post_norm])
                })
                .sum(),
        };
        let shared = matches!((&self.wte, &self.head), (Table::Quant(_), Matrix::Quant(_)))
            && self.config.tied;
        let head = if shared { 0 } else { self.head.bytes() };
        self.wte.bytes() + 4 * self.wpe.len() + layers + v(&[&self.ln_f.0, &self.ln_f.1]) + head
    }

    /// Logits of the LM head for hidden states (rows x d) -> (rows x vocab).
    pub fn lm_head(&self, hidden: &[f32]) -> Vec<f32> {
        let c = &self.config;
        let rows = hidden.len() / c.d_model;
        self.head.apply(hidden, rows, &[])
    }

    /// Samples a continuation for each prompt. Prompts longer than the context allows are
    /// cut from the left. Each prompt's randomness comes from (seed, its index), so results do
    /// not depend on the batch size.
    pub fn generate(&self, prompts: &[Vec<u32>], gen: &GenConfig) -> Vec<Sample> {
        self.generate_until(prompts, gen, &|| false)
    }

    /// `generate`, giving up between decode steps once `stop()` says so (a cancelled job);
    /// the samples are then cut short and should be dropped.
    pub fn generate_until(
        &self,
        prompts: &[Vec<u32>],
        gen: &GenConfig,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Vec<Sample> {
        let mut out = Vec::with_capacity(prompts.len());
        for (chunk_i, chunk) in prompts.chunks(gen.batch.max(1)).enumerate() {
            let first = chunk_i * gen.batch.max(1);
            out.extend(on_pool(|| self.generate_batch(chunk, first, gen, stop)));
        }
        out
    }

    fn generate_batch(
        &self,
        prompts: &[Vec<u32>],
        first: usize,
        gen: &GenConfig,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Vec<Sample> {
        let c = &self.config;
        let max_new = gen.max_new_tokens.min(c.ctx.saturating_sub(1));
        let room = c.ctx - max_new;
        let prompts: Vec<&[u32]> = prompts
            .iter()
            .map(|p| &p[p.len().saturating_sub(room)..])
            .collect();
        let longest = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
        let mut cache = KvCache::new(c, prompts.len(), longest + max_new);
        let mut rngs: Vec<SplitMix64> = (0..prompts.len())
            .map(|i| {
                SplitMix64::new(gen.seed ^ ((first + i) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            })
            .collect();
        let mut samples: Vec<Sample> = prompts
            .iter()
            .map(|_| Sample {
                tokens: Vec::new(),
                stopped: false,
                mean_entropy: 0.0,
            })
            .collect();
        // Prefill: every prompt token of every sequence in one call; keep each last row.
        let (mut seq, mut pos, mut toks) = (Vec::new(), Vec::new(), Vec::new());
        let mut last_rows = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            for (j, &t) in p.iter().enumerate() {
                seq.push(i);
                pos.push(j);
                toks.push(t);
            }
            last_rows.push(seq.len() - 1);
        }
        let hidden = self.forward_rows(&mut cache, &seq, &pos, &toks);
        let d = c.d_model;
        let mut active: Vec<usize> = (0..prompts.len()).collect();
        let mut cur_hidden: Vec<f32> = last_rows
            .iter()
            .flat_map(|&r| hidden[r * d..(r + 1) * d].iter().copied())
            .collect();
        let mut next_pos: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
        for step in 0..max_new {
            if stop() {
                break;
            }
            let logits = self.lm_head(&cur_hidden);
            // One uniform draw per row, in row order, so the rows can be sampled in parallel.
            let draws: Vec<f64> = active.iter().map(|&i| rngs[i].next_f64()).collect();
            let v = c.vocab_size;
            let drawn: Vec<(u32, f64)> = (0..active.len())
                .into_par_iter()
                .map(|row| {
                    let mut probs = vec![0f32; v];
                    sample_token(&logits[row * v..(row + 1) * v], gen, draws[row], &mut probs)
                })
                .collect();
            let mut still = Vec::with_capacity(active.len());
            for (&i, &(tok, entropy)) in active.iter().zip(&drawn) {
                let s = &mut samples[i];
                s.tokens.push(tok);
                s.mean_entropy += entropy;
                if gen.stop_tokens.contains(&tok) {
                    s.stopped = true;
                } else if step + 1 < max_new {
                    still.push(i);
                }
            }
            active = still;
            if active.is_empty() {
                break;
            }
            let toks: Vec<u32> = active
                .iter()
                .map(|&i| *samples[i].tokens.last().unwrap_or(&0))
                .collect();
            let pos: Vec<usize> = active.iter().map(|&i| next_pos[i]).collect();
            cur_hidden = self.forward_rows(&mut cache, &active, &pos, &toks);
            for &i in &active {
                next_pos[i] += 1;
            }
        }
        for s in &mut samples {
            s.mean_entropy /= s.tokens.len().max(1) as f64;
        }
        samples
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn kv_cache_logits_match_a_full_forward() {
        kv_cache_matches(&PolicyConfig::small_gpt());
        kv_cache_matches(&PolicyConfig::small_llama());
    }

    fn kv_cache_matches(config: &PolicyConfig) {
        let dev = Device::Cpu;
        let policy = Policy::new(config, 11, &dev).unwrap();
        let dec = Decoder::from_policy(&policy).unwrap();
        let ids: Vec<u32> = (0..20).map(|i| (i * 7 % 64) as u32).collect();
        let full: Vec<Vec<f32>> = policy
            .logits(
                &Tensor::from_vec(ids.clone(), (1, 20), &dev).unwrap(),
                &Tensor::ones((1, 20), candle_core::DType::F32, &dev).unwrap(),
            )
            .unwrap()
            .to_vec2()
            .unwrap();
        // Prefill 12 tokens, then one token at a time.
        let mut cache = KvCache::new(&policy.config, 1, 20);
        let mut inc = dec.lm_head(&dec.forward_rows(
            &mut cache,
            &[0; 12],
            &(0..12).collect::<Vec<_>>(),
            &ids[..12],
        ));
        for p in 12..20 {
            inc.extend(dec.lm_head(&dec.forward_rows(&mut cache, &[0], &[p], &ids[p..p + 1])));
        }
        let mut worst = 0f32;
        for (p, row) in full.iter().enumerate() {
            for (v, a) in row.iter().enumerate() {
                worst = worst.max((a - inc[p * 64 + v]).abs());
            }
        }
        assert!(worst < 1e-4, "{:?}: max |diff| {worst}", config.arch);
    }

    /// A Llama policy samples from Q8_0 copies of its matrices: under a third of f32's bytes,
    /// logits within the rounding of f32's, and the same logits as an f32 engine over the
    /// same rounded weights up to the 8-bit rounding of activations.
    #[test]
    fn a_llama_policy_samples_from_q8_0_copies() {
        let dev = Device::Cpu;
        let policy = Policy::new(&PolicyConfig::small_llama(), 11, &dev).unwrap();
        let (q8, f32s) = (
            Decoder::for_sampling(&policy).unwrap(),
            Decoder::from_policy(&policy).unwrap(),
        );
        assert!(q8.weight_bytes() * 3 < f32s.weight_bytes());
        let mut rounded = std::collections::BTreeMap::new();
        for (name, t) in policy.merged_weights().unwrap() {
            let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            let v = match t.dims() {
                &[rows, cols] => QMatrix::quantize(QKind::Q8_0, &v, rows, cols).dequantize(),
                _ => v,
            };
            rounded.insert(name, Weight::F32(v));
        }
        let same_rounding = Decoder::from_weights(&policy.config, Named(rounded)).unwrap();
        let ids: Vec<u32> = (0..16).map(|i| (i * 5 % 64) as u32).collect();
        let pos: Vec<usize> = (0..16).collect();
        let logits = |d: &Decoder| {
            let mut cache = KvCache::new(&policy.config, 1, 16);
            d.lm_head(&d.forward_rows(&mut cache, &[0; 16], &pos, &ids))
        };
        let (a, b, c) = (logits(&q8), logits(&same_rounding), logits(&f32s));
        let scale = c.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = |x: &[f32], y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max)
                / scale
        };
        assert!(
            worst(&a, &b) < 0.015,
            "activation rounding: {}",
            worst(&a, &b)
        );
        assert!(worst(&a, &c) < 0.03, "against f32: {}", worst(&a, &c));
        assert!(worst(&a, &c) > 0.0, "the copy was not quantised");
        // The small GPT stays f32.
        let gpt = Policy::new(&PolicyConfig::small_gpt(), 11, &dev).unwrap();
        assert_eq!(
            Decoder::for_sampling(&gpt).unwrap().weight_bytes(),
            Decoder::from_policy(&gpt).unwrap().weight_bytes()
        );
    }

    #[test]
    fn sampling_is_seeded_and_independent_of_batch_size() {
        let policy = Policy::new(&PolicyConfig::small_gpt(), 5, &Device::Cpu).unwrap();
        let dec = Decoder::from_policy(&policy).unwrap();
        let prompts: Vec<Vec<u32>> = (0..5).map(|i| vec![1 + i, 2, 3 + i]).collect();
        let gen = |batch| GenConfig {
            max_new_tokens: 10,
            seed: 9,
            batch,
            stop_tokens: vec![63],
            ..GenConfig::default()
        };
        let a = dec.generate(&prompts, &gen(5));
        let b = dec.generate(&prompts, &gen(2));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.tokens, y.tokens);
            assert!((x.mean_entropy - y.mean_entropy).abs() < 1e-6);
        }
        assert!(a
            .iter()
            .all(|s| !s.tokens.is_empty() && s.tokens.len() <= 10));
        assert!(a
            .iter()
            .all(|s| s.stopped == (s.tokens.last() == Some(&63))));
        let c = dec.generate(&prompts, &GenConfig { seed: 10, ..gen(5) });
        assert_ne!(a[1].tokens, c[1].tokens);
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut probs = vec![0f32; 4];
        let gen = GenConfig {
            top_k: 1,
            ..GenConfig::default()
        };
        let mut rng = SplitMix64::new(1);
        for _ in 0..20 {
            let (t, e) = sample_token(&[0.1, 2.0, 1.9, -1.0], &gen, rng.next_f64(), &mut probs);
            assert_eq!(t, 1);
            assert_eq!(e, 0.0);
        }
        let gen = GenConfig {
            top_p: 0.5,
            ..GenConfig::default()
        };
        let (t, _) = sample_token(&[0.0, 5.0, 0.0, 0.0], &gen, rng.next_f64(), &mut probs);
        assert_eq!(t, 1);
        for x in [-80.0f32, -10.5, -1.0, -0.3, 0.0, 0.7, 3.3, 20.0, 80.0] {
            let (a, b) = (exp_f32(x), x.exp());
            assert!((a - b).abs() <= 3e-7 * b, "e^{x}: {a} vs {b}");
        }
        // Uniform logits: entropy ln(4).
        let (_, e) = sample_token(&[1.0; 4], &GenConfig::default(), 0.5, &mut probs);
        assert!((e - 4f64.ln()).abs() < 1e-9, "{e}");
    }

    #[test]
    fn top_p_takes_its_mass_among_the_top_k_survivors() {
        // Probabilities 0.45, 0.35, 0.2 (as logits). Among the top 2 the first has 0.5625 of
        // the mass, so top-p 0.5 keeps it alone; over all three (0.45 < 0.5) it would keep two.
        let logits = [0.45f32.ln(), 0.35f32.ln(), 0.2f32.ln()];
        let gen = GenConfig {
            top_k: 2,
            top_p: 0.5,
            ..GenConfig::default()
        };
        let mut probs = vec![0f32; 3];
        for i in 0..50 {
            let u = i as f64 / 50.0;
            let (t, e) = sample_token(&logits, &gen, u, &mut probs);
            assert_eq!((t, e), (0, 0.0), "u = {u}");
        }
        // Top-k alone still keeps two.
        let gen = GenConfig {
            top_k: 2,
            ..GenConfig::default()
        };
        let (t, _) = sample_token(&logits, &gen, 0.99, &mut probs);
        assert_eq!(t, 1);
    }
}
