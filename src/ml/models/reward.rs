//! Reward models: a transformer encoder, masked mean-pooled, then a linear head to a scalar.
//! `tiny` is trained from scratch (the shape of `shared/peers/torch_rm_bench.py`: pre-LN,
//! learned positions); `bert` loads any BERT-family folder in HF layout (post-LN).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor, Var, D};

use crate::ml::kernels::{
    attention, bias_add, causal_attention, gelu, layer_norm, masked_mean_pool, matmul, normalize,
    FusedAttention,
};
use crate::ml::models::bert_layer::BertLayer;
use crate::ml::models::block::{FusedBlock, SideGrads};
use crate::ml::models::config::{Arch, ModelConfig, PolicyConfig};
use crate::ml::models::encoder::FusedEncoder;
use crate::ml::models::llama::{is_lora_weight, Llama};

/// A batch of padded sequences. `mask` is 1 for real tokens, 0 for padding.
pub struct Batch {
    pub ids: Tensor,              // (batch, seq) u32
    pub type_ids: Option<Tensor>, // (batch, seq) u32
    pub mask: Tensor,             // (batch, seq) f32
}

impl Batch {
    /// Pads sequences to the longest in the batch.
    pub fn new(
        seqs: &[&[u32]],
        type_ids: Option<&[&[u32]]>,
        pad: u32,
        device: &Device,
    ) -> Result<Batch> {
        let t = seqs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
        let b = seqs.len();
        let mut ids = vec![pad; b * t];
        let mut mask = vec![0f32; b * t];
        let mut types = vec![0u32; b * t];
        for (i, s) in seqs.iter().enumerate() {
            ids[i * t..i * t + s.len()].copy_from_slice(s);
            mask[i * t..i * t + s.len()]
                .iter_mut()
                .for_each(|m| *m = 1.0);
            if let Some(tt) = type_ids {
                types[i * t..i * t + tt[i].len()].copy_from_slice(tt[i]);
            }
        }
        Ok(Batch {
            ids: Tensor::from_vec(ids, (b, t), device)?,
            type_ids: match type_ids {
                Some(_) => Some(Tensor::from_vec(types, (b, t), device)?),
                None => None,
            },
            mask: Tensor::from_vec(mask, (b, t), device)?,
        })
    }
}

/// Deterministic N(0, std) values from a name and seed (splitmix64 + Box-Muller), so that
/// initialisation never depends on a global RNG or on hash-map order.
pub(crate) fn normal_init(name: &str, seed: u64, n: usize, std: f64) -> Vec<f32> {
    let name_hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = crate::domain::SplitMix64::new(seed ^ name_hash);
    let mut next = move || rng.next_f64();
    (0..n)
        .map(|_| {
            let u1 = next().max(1e-300);
            let u2 = next();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32
        })
        .collect()
}

pub(crate) enum Init {
    Normal,
    /// Normal with this standard deviation.
    NormalStd(f64),
    Zeros,
    Ones,
}

/// Named parameters: trainable `Var`s and frozen tensors, in name order.
pub struct Params {
    /// Weight gradients the fused ops compute, collected by `SideGrads::backward`.
    pub side: Arc<SideGrads>,
    pub trainable: BTreeMap<String, Var>,
    pub frozen: BTreeMap<String, Tensor>,
    pub(crate) device: Device,
    pub(crate) dtype: DType,
    pub(crate) seed: u64,
    /// Loaded weights to take instead of initialising (pretrained backbones).
    pub(crate) loaded: BTreeMap<String, Tensor>,
    pub(crate) freeze_loaded: bool,
    /// Building from a file: a parameter the file lacks is an error (a config that names more
    /// layers than the file holds must not train fresh ones silently), except names containing
    /// one of `fresh_ok` (a new head, LoRA adapters).
    pub(crate) require_loaded: bool,
    pub(crate) fresh_ok: &'static [&'static str],
    /// Inference copies freeze the head too, so no op builds a gradient graph.
    freeze_head: bool,
}

impl Params {
    pub(crate) fn new(device: &Device, dtype: DType, seed: u64) -> Params {
        Params {
            side: Arc::default(),
            trainable: BTreeMap::new(),
            frozen: BTreeMap::new(),
            device: device.clone(),
            dtype,
            seed,
            loaded: BTreeMap::new(),
            freeze_loaded: false,
            require_loaded: false,
            fresh_ok: &[],
            freeze_head: false,
        }
    }

    pub(crate) fn get(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor> {
        if let Some(t) = self.loaded.remove(name) {
            if t.dims() != shape {
                candle_core::bail!("weight {name} has shape {:?}, expected {shape:?}", t.dims());
            }
            let t = t.to_dtype(self.dtype)?.to_device(&self.device)?;
            // Adapters read back from a checkpoint go on training (a resumed LoRA run); only
            // an inference copy freezes them.
            if self.freeze_loaded && (self.freeze_head || !is_lora_weight(name)) {
                self.frozen.insert(name.to_string(), t.clone());
                return Ok(t);
            }
            let v = Var::from_tensor(&t)?;
            self.trainable.insert(name.to_string(), v.clone());
            return Ok(v.as_tensor().clone());
        }
        if self.require_loaded && !self.fresh_ok.iter().any(|ok| name.contains(ok)) {
            candle_core::bail!(
                "weight {name} (shape {shape:?}) is missing from the file, though its configuration \
                 implies it: the layer count or another size in the config does not match the weights"
            );
        }
        let n: usize = shape.iter().product();
        let values = match init {
            Init::Normal => normal_init(name, self.seed, n, 0.02),
            Init::NormalStd(std) => normal_init(name, self.seed, n, std),
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
        };
        let t = Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?;
        let v = Var::from_tensor(&t)?;
        self.trainable.insert(name.to_string(), v.clone());
        Ok(v.as_tensor().clone())
    }

    /// Writes every parameter to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let map: std::collections::HashMap<String, Tensor> = self.all().into_iter().collect();
        candle_core::safetensors::save(&map, path)
    }

    /// The trainable parameters by name, in name order (what the optimiser updates).
    pub fn vars(&self) -> Vec<(String, Var)> {
        self.trainable
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every parameter by name, trainable and frozen (what a checkpoint holds).
    pub fn all(&self) -> BTreeMap<String, Tensor> {
        let mut m: BTreeMap<String, Tensor> = self.frozen.clone();
        for (k, v) in &self.trainable {
            m.insert(k.clone(), v.as_tensor().clone());
        }
        m
    }
}

pub(crate) struct Linear {
    pub(crate) w: Tensor, // (out, in)
    pub(crate) b: Tensor, // (out)
}

impl Linear {
    pub(crate) fn new(p: &mut Params, name: &str, d_in: usize, d_out: usize) -> Result<Linear> {
        Ok(Linear {
            w: p.get(&format!("{name}.weight"), &[d_out, d_in], Init::Normal)?,
            b: p.get(&format!("{name}.bias"), &[d_out], Init::Zeros)?,
        })
    }
    /// x: (n, in) -> (n, out)
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        bias_add(&matmul(x, &self.w.t()?)?, &self.b)
    }
}

pub(crate) struct Norm {
    pub(crate) w: Tensor,
    pub(crate) b: Tensor,
    pub(crate) eps: f64,
}

impl Norm {
    pub(crate) fn new(p: &mut Params, name: &str, d: usize, eps: f64) -> Result<Norm> {
        Ok(Norm {
            w: p.get(&format!("{name}.weight"), &[d], Init::Ones)?,
            b: p.get(&format!("{name}.bias"), &[d], Init::Zeros)?,
            eps,
        })
    }
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        layer_norm(x, &self.w, &self.b, self.eps)
    }
}

/// A pre-LN transformer block (the `tiny` reward model's encoder and the `tiny` policy's decoder).
pub(crate) struct TinyBlock {
    side: Arc<SideGrads>,
    pub(crate) ln1: Norm,
    pub(crate) qkv: Linear,
    pub(crate) proj: Linear,
    pub(crate) ln2: Norm,
    pub(crate) fc1: Linear,
    pub(crate) fc2: Linear,
}

impl TinyBlock {
    /// Weights named `{prefix}.ln1.weight` ... `{prefix}.fc2.bias`.
    pub(crate) fn new(
        p: &mut Params,
        prefix: &str,
        d: usize,
        d_ff: usize,
        eps: f64,
    ) -> Result<TinyBlock> {
        let n = |s: &str| format!("{prefix}.{s}");
        Ok(TinyBlock {
            side: p.side.clone(),
            ln1: Norm::new(p, &n("ln1"), d, eps)?,
            qkv: Linear::new(p, &n("qkv"), d, 3 * d)?,
            proj: Linear::new(p, &n("proj"), d, d)?,
            ln2: Norm::new(p, &n("ln2"), d, eps)?,
            fc1: Linear::new(p, &n("fc1"), d, d_ff)?,
            fc2: Linear::new(p, &n("fc2"), d_ff, d)?,
        })
    }

    /// x: (batch*seq, d), key mask (batch, seq).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        b: usize,
        t: usize,
        heads: usize,
        causal: bool,
    ) -> Result<Tensor> {
        let weights = self.weights();
        let cpu_f32 = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
        // The fused op's weight gradients only flow when candle records the op, that is
        // when its input is part of the graph.
        let recorded = x.track_op() || !weights.iter().any(|w| w.is_variable());
        if cpu_f32(x) && weights.iter().all(cpu_f32) && recorded {
            let attention = FusedAttention {
                batch: b,
                seq: t,
                heads,
                causal,
            };
            let mask = mask.to_dtype(DType::F32)?.contiguous()?;
            let op = FusedBlock::new(
                weights,
                mask,
                attention,
                self.ln1.eps,
                x.track_op(),
                self.side.clone(),
            );
            return x.contiguous()?.apply_op1(op);
        }
        self.forward_composed(x, mask, b, t, heads, causal)
    }

    /// A block from weights in `weights()` order (tests: a frozen copy).
    #[cfg(test)]
    pub(crate) fn from_weights(w: Vec<Tensor>, eps: f64) -> TinyBlock {
        let [ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b] =
            <[Tensor; 12]>::try_from(w).expect("twelve weights");
        let lin = |w, b| Linear { w, b };
        let norm = |w, b| Norm { w, b, eps };
        TinyBlock {
            side: Arc::default(),
            ln1: norm(ln1_w, ln1_b),
            qkv: lin(qkv_w, qkv_b),
            proj: lin(proj_w, proj_b),
            ln2: norm(ln2_w, ln2_b),
            fc1: lin(fc1_w, fc1_b),
            fc2: lin(fc2_w, fc2_b),
        }
    }

    /// The weights in the order the fused op reads them: weight then bias of ln1, qkv,
    /// proj, ln2, fc1, fc2.
    pub(crate) fn weights(&self) -> Vec<Tensor> {
        [
            &self.ln1.w,
            &self.ln1.b,
            &self.qkv.w,
            &self.qkv.b,
            &self.proj.w,
            &self.proj.b,
            &self.ln2.w,
            &self.ln2.b,
            &self.fc1.w,
            &self.fc1.b,
            &self.fc2.w,
            &self.fc2.b,
        ]
        .into_iter()
        .cloned()
        .collect()
    }

    /// The same block from candle ops (any device and dtype; the reference in tests).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_composed(
        &self,
        x: &Tensor,
        mask: &Tensor,
        b: usize,
        t: usize,
        heads: usize,
        causal: bool,
    ) -> Result<Tensor> {
        let qkv = self.qkv.forward(&self.ln1.forward(x)?)?; // (b*t, 3d)
        let a = if causal {
            causal_attention(&qkv, mask, b, t, heads)?
        } else {
            attention(&qkv, mask, b, t, heads)?
        };
        let x = (x + self.proj.forward(&a)?)?;
        let h = gelu(&self.fc1.forward(&self.ln2.forward(&x)?)?)?;
        &x + self.fc2.forward(&h)?
    }
}

enum Body {
    Tiny {
        tok: Tensor,
        pos: Tensor,
        blocks: Vec<TinyBlock>,
        ln_f: Norm,
    },
    Bert {
        tok: Tensor,
        pos: Tensor,
        types: Tensor,
        ln_emb: Norm,
        layers: Vec<BertLayer>,
    },
    Llama(Llama),
}

/// A Llama reward model's decoder shape (`validate` has checked it is there).
fn decoder_shape(c: &ModelConfig) -> Result<&PolicyConfig> {
    c.decoder
        .as_ref()
        .ok_or_else(|| candle_core::Error::msg("a Llama reward model needs its decoder shape"))
}

/// Each sequence's row at its last real token: x (b*t, d), mask (b, t), right padding -> (b, d).
fn last_real_rows(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (_, t) = mask.dims2()?;
    let rows: Vec<u32> = mask
        .to_vec2::<f32>()?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let len = m.iter().filter(|&&v| v > 0.0).count().max(1);
            (i * t + len - 1) as u32
        })
        .collect();
    let n = rows.len();
    x.index_select(&Tensor::from_vec(rows, n, x.device())?, 0)
}

pub struct RewardModel {
    pub config: ModelConfig,
    pub params: Params,
    body: Body,
    head: Linear,
}

impl RewardModel {
    /// A fresh model with deterministic initial weights.
    pub fn new(config: &ModelConfig, seed: u64, device: &Device) -> Result<RewardModel> {
        Self::build(config, Params::new(device, DType::F32, seed))
    }

    /// A model with weights from safetensors (a checkpoint, or a pretrained backbone whose
    /// missing head is initialised).
    pub fn from_weights(
        config: &ModelConfig,
        weights: BTreeMap<String, Tensor>,
        seed: u64,
        device: &Device,
    ) -> Result<RewardModel> {
        config.validate(&[]).map_err(candle_core::Error::msg)?;
        let mut p = Params::new(device, DType::F32, seed);
        p.loaded = weights;
        p.freeze_loaded = config.freeze_backbone || config.lora.is_some();
        p.require_loaded = true;
        p.fresh_ok = &["head.", ".lora_"];
        // The head always trains, even when the backbone is frozen.
        let head_w = p.loaded.remove("head.weight");
        let head_b = p.loaded.remove("head.bias");
        // A decoder's LM head is not part of a reward model.
        p.loaded.remove("lm_head.weight");
        let model = Self::build(config, p)?;
        if let (Some(w), Some(b)) = (head_w, head_b) {
            model.params.trainable["head.weight"]
                .set(&w.to_device(device)?.to_dtype(DType::F32)?)?;
            model.params.trainable["head.bias"].set(&b.to_device(device)?.to_dtype(DType::F32)?)?;
        }
        if let Some(name) = model
            .params
            .loaded
            .keys()
            .find(|k| !k.starts_with("pooler."))
        {
            candle_core::bail!("unexpected weight {name} for this model configuration");
        }
        Ok(model)
    }

    fn build(config: &ModelConfig, mut p: Params) -> Result<RewardModel> {
        let c = config;
        let body = match c.arch {
            Arch::Tiny => Body::Tiny {
                tok: p.get("tok.weight", &[c.vocab_size, c.d_model], Init::Normal)?,
                pos: p.get("pos.weight", &[c.max_len, c.d_model], Init::Normal)?,
                blocks: (0..c.n_layers)
                    .map(|i| {
                        TinyBlock::new(&mut p, &format!("blocks.{i}"), c.d_model, c.d_ff, c.ln_eps)
                    })
                    .collect::<Result<_>>()?,
                ln_f: Norm::new(&mut p, "ln_f", c.d_model, c.ln_eps)?,
            },
            Arch::Bert => Body::Bert {
                tok: p.get(
                    "embeddings.word_embeddings.weight",
                    &[c.vocab_size, c.d_model],
                    Init::Normal,
                )?,
                pos: p.get(
                    "embeddings.position_embeddings.weight",
                    &[c.max_len, c.d_model],
                    Init::Normal,
                )?,
                types: p.get(
                    "embeddings.token_type_embeddings.weight",
                    &[c.type_vocab_size.max(1), c.d_model],
                    Init::Normal,
                )?,
                ln_emb: Norm::new(&mut p, "embeddings.LayerNorm", c.d_model, c.ln_eps)?,
                layers: (0..c.n_layers)
                    .map(|i| BertLayer::new(&mut p, i, c.d_model, c.d_ff, c.ln_eps))
                    .collect::<Result<_>>()?,
            },
            Arch::Llama => Body::Llama(Llama::new(&mut p, decoder_shape(c)?, c.lora, false)?),
        };
        // The head is never frozen.
        let freeze = p.freeze_loaded;
        p.freeze_loaded = p.freeze_head;
        let head = Linear::new(&mut p, "head", c.d_model, c.n_outputs)?;
        p.freeze_loaded = freeze;
        Ok(RewardModel {
            config: c.clone(),
            params: p,
            body,
            head,
        })
    }

    /// Rewards for a batch: (batch,), from the first head. Padding never changes a sequence's
    /// reward: padded keys are masked out of attention and left out of the mean pool.
    pub fn forward(&self, batch: &Batch) -> Result<Tensor> {
        self.forward_heads(batch)?
            .narrow(1, 0, 1)?
            .squeeze(D::Minus1)
    }

    /// Rewards of every head: (batch, n_outputs).
    pub fn forward_heads(&self, batch: &Batch) -> Result<Tensor> {
        self.head.forward(&self.pooled(batch)?)
    }

    /// The masked mean-pooled encoder output: (batch, d_model).
    pub fn pooled(&self, batch: &Batch) -> Result<Tensor> {
        let (b, t) = batch.ids.dims2()?;
        let c = &self.config;
        if t > c.max_len {
            candle_core::bail!(
                "sequence of {t} tokens is longer than the model's {}",
                c.max_len
            );
        }
        let flat_ids = batch.ids.flatten_all()?;
        let x = match &self.body {
            Body::Tiny {
                tok,
                pos,
                blocks,
                ln_f,
            } => {
                // One op for the embeddings and every block where it applies (CPU f32).
                let weights = blocks.iter().map(TinyBlock::weights).collect();
                let fused = FusedEncoder::apply(
                    tok,
                    pos,
                    &batch.ids,
                    &batch.mask,
                    weights,
                    c.n_heads,
                    c.ln_eps,
                    &self.params.side,
                )?;
                // (b*t, d)
                let x = match fused {
                    Some(x) => x,
                    None => {
                        let mut x = tok
                            .embedding(&flat_ids)?
                            .reshape((b, t, c.d_model))?
                            .broadcast_add(&pos.narrow(0, 0, t)?)?
                            .reshape((b * t, c.d_model))?;
                        for blk in blocks {
                            x = blk.forward(&x, &batch.mask, b, t, c.n_heads, false)?;
                        }
                        x
                    }
                };
                // The mean of LayerNorm's outputs is LayerNorm's affine map of the mean of its
                // normalised rows: pooling first applies the affine map to b rows, not b*t.
                let pooled = masked_mean_pool(&normalize(&x, ln_f.eps)?, &batch.mask)?;
                return pooled.broadcast_mul(&ln_f.w)?.broadcast_add(&ln_f.b);
            }
            Body::Bert {
                tok,
                pos,
                types,
                ln_emb,
                layers,
            } => {
                let type_ids = match &batch.type_ids {
                    Some(tt) => tt.flatten_all()?,
                    None => flat_ids.zeros_like()?,
                };
                let e = tok
                    .embedding(&flat_ids)?
                    .add(&types.embedding(&type_ids)?)?
                    .reshape((b, t, c.d_model))?
                    .broadcast_add(&pos.narrow(0, 0, t)?)?
                    .reshape((b * t, c.d_model))?;
                let mut x = ln_emb.forward(&e)?;
                for l in layers {
                    x = l.forward(&x, &batch.mask, (b, t), c.n_heads)?;
                }
                x
            }
            Body::Llama(llama) => {
                // A causal model has seen the whole sequence only at its last token.
                let x = llama.hidden(decoder_shape(c)?, &batch.ids, &batch.mask)?;
                return last_real_rows(&x, &batch.mask);
            }
        };
        masked_mean_pool(&x, &batch.mask)
    }

    /// The same weights as plain tensors: a forward pass through it builds no gradient graph,
    /// so activations are freed layer by layer (scoring and evaluation).
    pub fn frozen_copy(&self) -> Result<RewardModel> {
        let mut p = Params::new(&self.params.device, self.params.dtype, self.params.seed);
        p.loaded = self
            .params
            .all()
            .into_iter()
            .map(|(k, v)| (k, v.detach()))
            .collect();
        p.freeze_loaded = true;
        p.freeze_head = true;
        Self::build(&self.config, p)
    }

    pub fn save_weights(&self, path: &Path) -> Result<()> {
        self.params.save(path)
    }

    /// Every weight with LoRA adapters folded into the projections they adapt (for export).
    pub fn merged_weights(&self) -> Result<BTreeMap<String, Tensor>> {
        let llama = match &self.body {
            Body::Llama(llama) => Some(llama),
            _ => None,
        };
        crate::ml::models::llama::merged_weights(&self.params, llama)
    }

    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.params.vars()
    }
}
