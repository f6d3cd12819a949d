//! What a reward-model run is asked to do: its settings, the presets they start from
//! (`assets/rm_presets.toml`) and the `--epochs auto` rule.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ml::models::llama::LoraConfig;
use crate::ml::training::reward::TrainConfig;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RmJobConfig {
    /// A BERT-family folder to fine-tune; `None` trains the `tiny` model from scratch.
    pub backbone: Option<PathBuf>,
    /// Train only the head on top of a frozen backbone.
    pub freeze_backbone: bool,
    pub vocab_size: usize,
    pub max_len: usize,
    pub eval_fraction: f64,
    pub train: TrainConfig,
    /// Only this annotator's rankings (default: everyone's, imports included).
    pub annotator: Option<String>,
    /// `--epochs auto`: `train.epochs` is set from the data size when the run starts.
    #[serde(default)]
    pub auto_epochs: Option<AutoEpochs>,
    /// The criterion learnt (default: the task's first). A rated one trains on the pairs its
    /// points imply, with the difference in points as the margin.
    #[serde(default)]
    pub criterion: Option<String>,
    /// `--criteria`: one backbone with one head per criterion, in this order (`all` is
    /// resolved to the task's criteria when the run starts). Empty: one head, `criterion`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<String>,
    /// LoRA adapters on a Llama-family backbone instead of training all its weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraConfig>,
}

/// The rule `--epochs auto` follows (per preset, see `auto_epochs`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct AutoEpochs {
    pub target_pairs: usize,
    pub max_epochs: usize,
}

impl Default for AutoEpochs {
    fn default() -> Self {
        AutoEpochs {
            target_pairs: 4000,
            max_epochs: 5,
        }
    }
}

const RM_PRESETS: &str = include_str!("../../../assets/rm_presets.toml");

/// One `[name]` table of assets/rm_presets.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RmPreset {
    backbone: Option<PathBuf>,
    vocab_size: Option<usize>,
    max_len: Option<usize>,
    /// A number, or "auto" (from the data size: `auto_target_pairs`, `auto_max_epochs`).
    epochs: Option<toml::Value>,
    auto_target_pairs: Option<usize>,
    auto_max_epochs: Option<usize>,
    patience: Option<usize>,
    lr: Option<f64>,
    batch: Option<usize>,
    warmup: Option<f64>,
    eval_fraction: Option<f64>,
    /// LoRA adapters of this rank (alpha 2 x rank) on a Llama-family backbone.
    lora_rank: Option<usize>,
    /// Evaluate and checkpoint every this many steps (default: twice per epoch).
    eval_every: Option<usize>,
    /// Pairs per forward and backward pass (default: the whole batch in one).
    micro_batch: Option<usize>,
}

/// The presets' names, in file order.
pub fn preset_names() -> Vec<String> {
    toml::from_str::<toml::Table>(RM_PRESETS)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// The job a preset of assets/rm_presets.toml describes (the CLI and the Train screen both
/// start from it), or why there is no such preset.
pub fn preset(name: &str) -> Result<RmJobConfig, String> {
    let mut presets: std::collections::BTreeMap<String, RmPreset> =
        toml::from_str(RM_PRESETS).map_err(|e| format!("assets/rm_presets.toml: {e}"))?;
    let p = presets.remove(name).ok_or_else(|| {
        format!(
            "unknown preset {name:?}; presets: {}",
            preset_names().join(", ")
        )
    })?;
    let d = RmJobConfig::default();
    let mut cfg = RmJobConfig {
        backbone: p.backbone,
        vocab_size: p.vocab_size.unwrap_or(d.vocab_size),
        max_len: p.max_len.unwrap_or(d.max_len),
        eval_fraction: p.eval_fraction.unwrap_or(d.eval_fraction),
        ..d
    };
    match p.epochs {
        None => {}
        Some(toml::Value::String(s)) if s == "auto" => {
            let dflt = AutoEpochs::default();
            cfg.auto_epochs = Some(AutoEpochs {
                target_pairs: p.auto_target_pairs.unwrap_or(dflt.target_pairs),
                max_epochs: p.auto_max_epochs.unwrap_or(dflt.max_epochs),
            });
        }
        Some(toml::Value::Integer(n)) if n > 0 => cfg.train.epochs = n as usize,
        Some(other) => {
            return Err(format!(
                "assets/rm_presets.toml [{name}]: epochs must be a positive number or \"auto\", found {other}"
            ))
        }
    }
    let t = &mut cfg.train;
    t.patience = p.patience.unwrap_or(t.patience);
    t.lr = p.lr.unwrap_or(t.lr);
    t.batch_pairs = p.batch.unwrap_or(t.batch_pairs);
    t.warmup_frac = p.warmup.unwrap_or(t.warmup_frac);
    t.eval_every = p.eval_every.unwrap_or(t.eval_every);
    t.micro_batch = p.micro_batch.unwrap_or(t.micro_batch);
    cfg.lora = p.lora_rank.map(|rank| LoraConfig {
        rank,
        alpha: 2.0 * rank as f64,
    });
    Ok(cfg)
}

impl Default for RmJobConfig {
    fn default() -> Self {
        RmJobConfig {
            backbone: None,
            freeze_backbone: false,
            vocab_size: 8192,
            max_len: 128,
            eval_fraction: 0.1,
            train: TrainConfig::default(),
            annotator: None,
            auto_epochs: None,
            criterion: None,
            criteria: Vec::new(),
            lora: None,
        }
    }
}

/// Epochs from the data size: enough to see about `target_pairs` pairs, between 1 and
/// `max_epochs`. Pretrained backbones need few passes (one over a few thousand pairs matches
/// TRL's default run); a model trained from scratch needs many.
pub fn auto_epochs(train_pairs: usize, target_pairs: usize, max_epochs: usize) -> usize {
    target_pairs
        .div_ceil(train_pairs.max(1))
        .clamp(1, max_epochs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_epochs_follow_the_data_size() {
        // minilm's rule: one pass from 2000 pairs on, more below, at most 5.
        assert_eq!(auto_epochs(2300, 2000, 5), 1);
        assert_eq!(auto_epochs(2000, 2000, 5), 1);
        assert_eq!(auto_epochs(900, 2000, 5), 3);
        assert_eq!(auto_epochs(10, 2000, 5), 5);
        assert_eq!(auto_epochs(0, 2000, 5), 5);
        // tiny's: 4 epochs at 3000 pairs.
        assert_eq!(auto_epochs(3000, 12000, 10), 4);
    }

    #[test]
    fn presets_parse_with_auto_epochs() {
        let m = preset("minilm").unwrap();
        assert_eq!(
            m.backbone.as_deref(),
            Some(std::path::Path::new("models/minilm"))
        );
        assert_eq!(
            m.auto_epochs,
            Some(AutoEpochs {
                target_pairs: 2000,
                max_epochs: 5
            })
        );
        assert_eq!(
            (m.train.lr, m.train.batch_pairs, m.train.patience),
            (5e-5, 16, 3)
        );
        let s = preset("smollm2").unwrap();
        assert!(s.backbone.unwrap().extension().is_some_and(|e| e == "gguf"));
        assert_eq!(s.lora.map(|l| l.rank), Some(16));
        assert_eq!(s.train.eval_every, 50);
        let t = preset("tiny").unwrap();
        assert!(t.backbone.is_none() && t.auto_epochs.is_some());
        assert!(preset("huge")
            .unwrap_err()
            .contains("presets: minilm, smollm2, tiny"));
    }
}
