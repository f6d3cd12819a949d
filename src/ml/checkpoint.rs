//! Checkpoint folders: `model.safetensors`, `config.json`, `tokenizer.json` and
//! `optimizer.safetensors`, written into a temporary folder that is renamed into place, so a
//! killed process leaves either the old checkpoint or the new one, never half of one.
//! Also loads pretrained BERT-family folders (HF layout) as reward-model backbones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::ml::decoder_reward;
use crate::ml::model_files::{
    file_err, read_json, read_weights, write_folder_atomically, write_json, CheckpointError,
};
use crate::ml::models::config::{Arch, ModelConfig};
use crate::ml::models::llama::LoraConfig;
use crate::ml::models::reward::RewardModel;
use crate::ml::text::chat::PromptFormat;
use crate::ml::text::codec::PolicyCodec;
use crate::ml::text::tokenizer::{self, PairEncoder};
use crate::ml::training::optim::AdamW;
use crate::ml::training::reward::TrainConfig;

/// What `config.json` of a kibble reward-model checkpoint holds besides the model shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub kind: String,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub step: u64,
    pub max_len: usize,
    /// Mean and standard deviation of raw rewards on the train split: scores are normalised with them.
    pub reward_mean: f64,
    pub reward_std: f64,
    /// A model with one head per criterion: the criteria, in head order, and each head's
    /// (mean, std). Empty for a one-head model (its criterion is in the run's config).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub head_stats: Vec<(f64, f64)>,
    /// Provenance: the rankings trained on and a hash of their content.
    pub ranking_ids: Vec<i64>,
    pub data_hash: String,
    pub metrics: serde_json::Value,
    /// A decoder reward model's chat format (how a prompt is framed before the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PromptFormat>,
}

pub const KIND: &str = "kibble-reward-model";

/// Writes a checkpoint folder atomically (temp folder + rename; an old one is replaced).
pub fn save(
    dir: &Path,
    model: &RewardModel,
    encoder: &PairEncoder,
    meta: &CheckpointMeta,
    optimizer: Option<&AdamW>,
) -> Result<(), CheckpointError> {
    write_folder_atomically(dir, |tmp| {
        let w = tmp.join("model.safetensors");
        model.save_weights(&w).map_err(|e| file_err(&w, e))?;
        if let Some(opt) = optimizer {
            let o = tmp.join("optimizer.safetensors");
            opt.save(&o).map_err(|e| file_err(&o, e))?;
        }
        let t = tmp.join("tokenizer.json");
        encoder
            .tokenizer
            .save(&t, false)
            .map_err(|e| file_err(&t, e))?;
        write_json(&tmp.join("config.json"), meta)
    })
}

fn encoder_for(
    config: &ModelConfig,
    tok: tokenizers::Tokenizer,
    format: Option<&PromptFormat>,
) -> Result<PairEncoder, CheckpointError> {
    Ok(match config.arch {
        Arch::Tiny => PairEncoder::for_bpe(tok, config.max_len)?,
        Arch::Bert => PairEncoder::for_bert(tok, config.max_len)?,
        Arch::Llama => {
            let format = format.cloned().ok_or_else(|| {
                CheckpointError::Tokenizer("a decoder reward model needs its chat format".into())
            })?;
            PairEncoder::for_decoder(
                PolicyCodec::new(tok, config.max_len, format)?,
                config.max_len,
            )
        }
    })
}

/// A loaded checkpoint: model, encoder and metadata.
pub struct Loaded {
    pub model: RewardModel,
    pub encoder: PairEncoder,
    pub meta: CheckpointMeta,
    pub dir: PathBuf,
}

/// Loads a kibble reward-model checkpoint, or an HF Llama-family
/// `*ForSequenceClassification` folder trained elsewhere.
pub fn load(dir: &Path, device: &Device) -> Result<Loaded, CheckpointError> {
    if decoder_reward::is_hf_classifier(dir) {
        return decoder_reward::load_classifier(dir, device);
    }
    let config_path = dir.join("config.json");
    let meta: CheckpointMeta = read_json(&config_path)?;
    if meta.kind != KIND {
        return Err(file_err(
            &config_path,
            format!(
                "not a kibble reward-model checkpoint (kind {:?})",
                meta.kind
            ),
        ));
    }
    meta.model.validate(&[]).map_err(|m| {
        file_err(
            &config_path,
            format!("model.{}", m.trim_start_matches("field ")),
        )
    })?;
    let heads = meta.model.n_outputs;
    if (!meta.heads.is_empty() || heads > 1)
        && (meta.heads.len() != heads || meta.head_stats.len() != heads)
    {
        return Err(file_err(
            &config_path,
            format!(
                "model.n_outputs is {heads} but the file names {} heads with {} (mean, std) pairs",
                meta.heads.len(),
                meta.head_stats.len()
            ),
        ));
    }
    if let Some((m, s)) = meta
        .head_stats
        .iter()
        .find(|(m, s)| !m.is_finite() || !s.is_finite() || *s <= 0.0)
    {
        return Err(file_err(
            &config_path,
            format!("head_stats ({m}, {s}): a mean and a positive std are needed"),
        ));
    }
    let tok = tokenizer::load(&dir.join("tokenizer.json"))?;
    let encoder = encoder_for(&meta.model, tok, meta.format.as_ref())?;
    let weights_path = dir.join("model.safetensors");
    let weights = read_weights(&weights_path, device)?;
    let model = RewardModel::from_weights(&meta.model, weights, meta.train.seed, device)
        .map_err(|e| file_err(&weights_path, e))?;
    Ok(Loaded {
        model,
        encoder,
        meta,
        dir: dir.to_path_buf(),
    })
}

/// The fields of a HF BERT `config.json` that we use.
#[derive(Deserialize)]
struct HfBertConfig {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    vocab_size: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    #[serde(default = "eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    hidden_act: Option<String>,
}

/// Our `ModelConfig` field names as a HF BERT `config.json` spells them.
const HF_BERT_NAMES: &[(&str, &str)] = &[
    ("vocab_size", "vocab_size"),
    ("max_len", "max_position_embeddings"),
    ("d_model", "hidden_size"),
    ("n_layers", "num_hidden_layers"),
    ("n_heads", "num_attention_heads"),
    ("d_ff", "intermediate_size"),
    ("type_vocab_size", "type_vocab_size"),
    ("ln_eps", "layer_norm_eps"),
];

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}

/// How a pretrained backbone becomes a new reward model.
#[derive(Debug, Clone, Copy)]
pub struct BackboneOptions {
    /// Train only the head; the backbone stays as loaded.
    pub freeze: bool,
    /// The window kibble uses (at most the model's own).
    pub max_len: usize,
    /// Outputs of the head: one per criterion learnt.
    pub heads: usize,
    /// Seeds the fresh head (and adapters).
    pub seed: u64,
    /// LoRA adapters on every projection (Llama-family backbones only).
    pub lora: Option<LoraConfig>,
}

/// Loads a BERT-family folder (`config.json`, `model.safetensors`, `tokenizer.json`), or a
/// Llama-family folder or GGUF file (`decoder_reward`), as the backbone of a new reward model
/// with a fresh scalar head. Errors name the file at fault.
pub fn load_backbone(
    dir: &Path,
    opts: &BackboneOptions,
    device: &Device,
) -> Result<(RewardModel, PairEncoder), CheckpointError> {
    if crate::ml::text::pretrained::is_pretrained(dir) {
        return decoder_reward::load_backbone(dir, opts, device);
    }
    let BackboneOptions {
        freeze,
        max_len,
        heads,
        seed,
        lora,
    } = *opts;
    if lora.is_some() {
        return Err(file_err(
            dir,
            "LoRA adapters are for Llama-family backbones (GGUF files, HF Llama/Qwen2 folders); a BERT backbone trains whole or, with --freeze, its head only",
        ));
    }
    let cfg_path = dir.join("config.json");
    let hf: HfBertConfig = read_json(&cfg_path)?;
    if let Some(t) = hf.model_type.as_deref().filter(|t| *t != "bert") {
        return Err(file_err(
            &cfg_path,
            format!("model_type {t:?} is not supported; use a BERT model folder"),
        ));
    }
    if let Some(act) = &hf.hidden_act {
        if act != "gelu" {
            return Err(file_err(
                &cfg_path,
                format!("hidden_act {act:?} is not supported (gelu only)"),
            ));
        }
    }
    let config = ModelConfig {
        arch: Arch::Bert,
        vocab_size: hf.vocab_size,
        max_len: max_len.min(hf.max_position_embeddings),
        d_model: hf.hidden_size,
        n_layers: hf.num_hidden_layers,
        n_heads: hf.num_attention_heads,
        d_ff: hf.intermediate_size,
        ln_eps: hf.layer_norm_eps,
        type_vocab_size: hf.type_vocab_size,
        freeze_backbone: freeze,
        n_outputs: heads,
        decoder: None,
        lora: None,
    };
    config
        .validate(HF_BERT_NAMES)
        .map_err(|m| file_err(&cfg_path, m))?;
    // Our window is cut to the file's positions; the file's own count must be sane too.
    crate::ml::models::limits::dim(
        "max_position_embeddings",
        hf.max_position_embeddings,
        1 << 16,
    )
    .map_err(|m| file_err(&cfg_path, m))?;
    // [CLS] prompt [SEP] answer [SEP] needs a few positions at the very least.
    if hf.max_position_embeddings < 8 {
        return Err(file_err(
            &cfg_path,
            format!(
                "field \"max_position_embeddings\" is {}: too few positions for a prompt and an answer (8 at least)",
                hf.max_position_embeddings
            ),
        ));
    }
    let weights_path = dir.join("model.safetensors");
    let raw = read_weights(&weights_path, device)?;
    // Checkpoints saved from BertModel have no prefix; from BertFor* they carry "bert.".
    let mut weights: BTreeMap<String, Tensor> = raw
        .into_iter()
        .filter(|(k, _)| !k.starts_with("cls.") && !k.starts_with("classifier."))
        .map(|(k, v)| (k.strip_prefix("bert.").unwrap_or(&k).to_string(), v))
        .collect();
    weights.retain(|k, _| !k.ends_with("position_ids"));
    crate::ml::models::limits::layer_count(
        weights.keys(),
        "encoder.layer.",
        "num_hidden_layers",
        config.n_layers,
    )
    .map_err(|m| file_err(&cfg_path, m))?;
    // Positions beyond our window are not needed.
    if let Some(pos) = weights.get_mut("embeddings.position_embeddings.weight") {
        *pos = pos
            .narrow(0, 0, config.max_len)
            .map_err(|e| file_err(&weights_path, e))?;
    }
    let model = RewardModel::from_weights(&config, weights, seed, device)
        .map_err(|e| file_err(&weights_path, e))?;
    let tok = tokenizer::load(&dir.join("tokenizer.json"))?;
    let encoder = encoder_for(&config, tok, None)?;
    Ok((model, encoder))
}
