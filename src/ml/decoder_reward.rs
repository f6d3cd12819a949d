//! Reward models on a Llama-family decoder, the shape TRL trains by default: a backbone from an
//! HF folder or a GGUF file, and HF `LlamaForSequenceClassification` /
//! `Qwen2ForSequenceClassification` folders (`score` layer, `num_labels` outputs) trained
//! elsewhere, loaded to score. The reward is read at each sequence's last real token.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::ml::checkpoint::{BackboneOptions, CheckpointMeta, Loaded, KIND};
use crate::ml::model_files::{file_err, read_json, CheckpointError};
use crate::ml::models::config::ModelConfig;
use crate::ml::models::reward::RewardModel;
use crate::ml::text::codec::PolicyCodec;
use crate::ml::text::pretrained::{self, is_hf_llama};
use crate::ml::text::tokenizer::PairEncoder;
use crate::ml::training::reward::TrainConfig;

/// Scoring window of a classification folder that does not say its own (`kibble_max_len`).
const DEFAULT_SCORE_LEN: usize = 512;

/// Is `dir` an HF Llama-family `*ForSequenceClassification` folder?
pub fn is_hf_classifier(dir: &Path) -> bool {
    is_hf_llama(dir)
        && read_json::<serde_json::Value>(&dir.join("config.json"))
            .ok()
            .and_then(|v| v.get("architectures")?.as_array().cloned())
            .is_some_and(|a| {
                a.iter().any(|x| {
                    x.as_str()
                        .is_some_and(|s| s.ends_with("ForSequenceClassification"))
                })
            })
}

/// The `score` layer of a classification folder as our head (HF's has no bias), when it has
/// `heads` rows of the model's width.
fn take_score(
    weights: &mut BTreeMap<String, Tensor>,
    heads: usize,
    d: usize,
) -> candle_core::Result<()> {
    if let Some(score) = weights.remove("score.weight") {
        if score.dims() == [heads, d] {
            let bias = Tensor::zeros(heads, score.dtype(), score.device())?;
            weights.insert("head.weight".into(), score);
            weights.insert("head.bias".into(), bias);
        }
    }
    Ok(())
}

/// A new decoder reward model: the backbone's weights, a fresh head of `heads` outputs (or the
/// folder's own `score` layer when it has that many), and the backbone's chat format. With
/// `lora`, fresh adapters train on every projection and the backbone stays frozen.
pub fn load_backbone(
    path: &Path,
    opts: &BackboneOptions,
    device: &Device,
) -> Result<(RewardModel, PairEncoder), CheckpointError> {
    let pre = pretrained::load(path, device)?;
    let mut config = ModelConfig::decoder(&pre.config, opts.max_len, opts.heads, opts.freeze);
    config.lora = opts.lora;
    let mut weights = pre.weights;
    take_score(&mut weights, opts.heads, config.d_model).map_err(|e| file_err(path, e))?;
    let model = RewardModel::from_weights(&config, weights, opts.seed, device)
        .map_err(|e| file_err(path, e))?;
    let codec = PolicyCodec::new(pre.tokenizer, config.max_len, pre.format)?;
    Ok((model, PairEncoder::for_decoder(codec, config.max_len)))
}

/// An HF classification folder as a ready reward model. kibble's own exports carry the
/// train-split reward statistics (`kibble_reward_mean` ...) and their window; other folders
/// score raw (mean 0, std 1) in a window of 512 tokens.
pub fn load_classifier(dir: &Path, device: &Device) -> Result<Loaded, CheckpointError> {
    let config_path = dir.join("config.json");
    let hf: serde_json::Value = read_json(&config_path)?;
    let num = |k: &str| hf.get(k).and_then(|v| v.as_f64());
    let heads = hf
        .get("id2label")
        .and_then(|v| v.as_object())
        .map_or(1, |m| m.len().max(1));
    crate::ml::models::limits::dim("num_labels", heads, 64)
        .map_err(|m| file_err(&config_path, m))?;
    let max_len = num("kibble_max_len").map_or(DEFAULT_SCORE_LEN, |v| v as usize);
    let pre = pretrained::load(dir, device)?;
    let config = ModelConfig::decoder(&pre.config, max_len, heads, true);
    let mut weights = pre.weights;
    if !weights.contains_key("score.weight") {
        return Err(file_err(
            &dir.join("model.safetensors"),
            "no score.weight: a sequence-classification folder holds its head as `score`",
        ));
    }
    take_score(&mut weights, heads, config.d_model).map_err(|e| file_err(dir, e))?;
    if !weights.contains_key("head.weight") {
        return Err(file_err(
            &config_path,
            format!("score.weight does not have {heads} x hidden_size values (id2label names {heads} labels)"),
        ));
    }
    let model =
        RewardModel::from_weights(&config, weights, 0, device).map_err(|e| file_err(dir, e))?;
    let codec = PolicyCodec::new(pre.tokenizer, config.max_len, pre.format.clone())?;
    let mut names: Vec<(usize, String)> = hf
        .get("id2label")
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.parse().unwrap_or(0), v.as_str().unwrap_or(k).to_string()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let head_stats: Vec<(f64, f64)> = hf
        .get("kibble_head_stats")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .filter(|s: &Vec<(f64, f64)>| s.len() == heads)
        .unwrap_or_else(|| vec![(0.0, 1.0); heads]);
    let meta = CheckpointMeta {
        kind: KIND.into(),
        model: config.clone(),
        train: TrainConfig::default(),
        step: 0,
        max_len: config.max_len,
        reward_mean: num("kibble_reward_mean").unwrap_or(0.0),
        reward_std: num("kibble_reward_std").filter(|s| *s > 0.0).unwrap_or(1.0),
        heads: if heads > 1 {
            names.into_iter().map(|(_, n)| n).collect()
        } else {
            vec![]
        },
        head_stats: if heads > 1 { head_stats } else { vec![] },
        ranking_ids: vec![],
        data_hash: String::new(),
        metrics: serde_json::json!({ "source": dir.display().to_string() }),
        format: Some(pre.format),
    };
    Ok(Loaded {
        model,
        encoder: PairEncoder::for_decoder(codec, config.max_len),
        meta,
        dir: dir.to_path_buf(),
    })
}
