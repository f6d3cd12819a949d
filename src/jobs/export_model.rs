//! Exports a policy checkpoint as an HF transformers folder. The tiny GPT becomes a GPT-2
//! (`GPT2LMHeadModel`): same blocks, pre-LN, exact GELU, tied head; GPT-2's Conv1D layers
//! store weights (in, out), so every projection is transposed.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::jobs::policy::load_policy;
use crate::ml::checkpoint::{CheckpointMeta, Loaded};
use crate::ml::model_files::{
    file_err, read_json, read_weights, write_folder_atomically, write_json, CheckpointError,
};
use crate::ml::models::config::{Arch, PolicyArch, PolicyConfig};
use crate::ml::models::policy::Policy;
use crate::ml::text::codec::PolicyCodec;

/// (our name, GPT-2 name, transposed) for one block.
fn block_names(i: usize) -> Vec<(String, String, bool)> {
    let pairs = [
        ("ln1.weight", "ln_1.weight", false),
        ("ln1.bias", "ln_1.bias", false),
        ("qkv.weight", "attn.c_attn.weight", true),
        ("qkv.bias", "attn.c_attn.bias", false),
        ("proj.weight", "attn.c_proj.weight", true),
        ("proj.bias", "attn.c_proj.bias", false),
        ("ln2.weight", "ln_2.weight", false),
        ("ln2.bias", "ln_2.bias", false),
        ("fc1.weight", "mlp.c_fc.weight", true),
        ("fc1.bias", "mlp.c_fc.bias", false),
        ("fc2.weight", "mlp.c_proj.weight", true),
        ("fc2.bias", "mlp.c_proj.bias", false),
    ];
    pairs
        .iter()
        .map(|(a, b, t)| {
            (
                format!("blocks.{i}.{a}"),
                format!("transformer.h.{i}.{b}"),
                *t,
            )
        })
        .collect()
}

fn all_names(n_layers: usize) -> Vec<(String, String, bool)> {
    let mut v = vec![
        (
            "wte.weight".to_string(),
            "transformer.wte.weight".to_string(),
            false,
        ),
        (
            "wpe.weight".to_string(),
            "transformer.wpe.weight".to_string(),
            false,
        ),
        (
            "ln_f.weight".to_string(),
            "transformer.ln_f.weight".to_string(),
            false,
        ),
        (
            "ln_f.bias".to_string(),
            "transformer.ln_f.bias".to_string(),
            false,
        ),
    ];
    for i in 0..n_layers {
        v.extend(block_names(i));
    }
    v
}

fn hf_config(c: &PolicyConfig, codec: &PolicyCodec) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.ctx,
        "n_ctx": c.ctx,
        "n_embd": c.d_model,
        "n_layer": c.n_layers,
        "n_head": c.n_heads,
        "n_inner": c.d_ff,
        "activation_function": "gelu",
        "layer_norm_epsilon": c.ln_eps,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "scale_attn_weights": true,
        "tie_word_embeddings": true,
        "bos_token_id": codec.after.last().copied().unwrap_or(codec.eos),
        "eos_token_id": codec.eos,
        "pad_token_id": codec.pad,
        "torch_dtype": "float32",
    })
}

/// Writes `out` atomically: config.json, model.safetensors, tokenizer.json,
/// tokenizer_config.json (with the chat template), generation_config.json. The tiny GPT
/// becomes a `GPT2LMHeadModel`, Llama-family policies a `LlamaForCausalLM` (or
/// `Qwen2ForCausalLM` when q/k/v have biases); LoRA adapters are already merged.
pub fn export_policy(checkpoint: &Path, out: &Path) -> Result<(), CheckpointError> {
    let loaded = load_policy(checkpoint, &Device::Cpu)?;
    let c = &loaded.policy.config;
    let weights = loaded
        .policy
        .merged_weights()
        .map_err(|e| file_err(checkpoint, e))?;
    let codec = &loaded.codec;
    let (hf, config) = match c.arch {
        PolicyArch::Gpt => (gpt2_weights(&weights, c, checkpoint)?, hf_config(c, codec)),
        PolicyArch::Llama => (
            weights.into_iter().collect(),
            llama_config(c, codec, "ForCausalLM"),
        ),
    };
    let bos = codec.before.first().or(codec.after.last()).copied();
    write_folder_atomically(out, |tmp| {
        let w = tmp.join("model.safetensors");
        candle_core::safetensors::save(&hf, &w).map_err(|e| file_err(&w, e))?;
        write_json(&tmp.join("config.json"), &config)?;
        write_json(
            &tmp.join("generation_config.json"),
            &serde_json::json!({
                "bos_token_id": bos,
                "eos_token_id": codec.eos,
                "pad_token_id": codec.pad,
                "do_sample": true,
                "temperature": 1.0,
                "max_new_tokens": 128,
            }),
        )?;
        write_json(
            &tmp.join("tokenizer_config.json"),
            &tokenizer_config(codec, c.ctx),
        )?;
        let t = tmp.join("tokenizer.json");
        codec.tokenizer.save(&t, false).map_err(|e| file_err(&t, e))
    })
}

/// The Python class that reproduces kibble's reward model in transformers (mean pooling).
const MODELING_PY: &str = include_str!("../../assets/modeling_kibble.py");

/// Writes a BERT-family reward-model checkpoint as an HF sequence-classification folder
/// (num_labels = 1, or one per criterion): `bert.*` encoder weights and a `classifier` head, with
/// `modeling_kibble.py` for `trust_remote_code` (kibble mean-pools; BERT's own class would
/// pool [CLS]). The train-split reward mean/std go into config.json.
pub fn export_reward_model(checkpoint: &Path, out: &Path) -> Result<(), CheckpointError> {
    let loaded = crate::ml::checkpoint::load(checkpoint, &Device::Cpu)?;
    let c = &loaded.meta.model;
    if c.arch == Arch::Llama {
        return export_decoder_reward_model(&loaded, checkpoint, out);
    }
    if c.arch != Arch::Bert {
        return Err(file_err(
            checkpoint,
            "only reward models on a BERT-family backbone (--preset minilm, --backbone DIR) export to HF: the tiny preset's pre-LN encoder has no transformers class",
        ));
    }
    let hf: HashMap<String, Tensor> = loaded
        .model
        .params
        .all()
        .into_iter()
        .map(|(k, v)| {
            let name = match k.as_str() {
                "head.weight" => "classifier.weight".to_string(),
                "head.bias" => "classifier.bias".to_string(),
                _ => format!("bert.{k}"),
            };
            (name, v)
        })
        .collect();
    let tok = &loaded.encoder.tokenizer;
    let token = |id: u32| tok.id_to_token(id);
    let (labels, id2label, label2id) = label_maps(&loaded.meta);
    let mut config = serde_json::json!({
        "architectures": ["KibbleBertForSequenceClassification"],
        "auto_map": {
            "AutoModelForSequenceClassification": "modeling_kibble.KibbleBertForSequenceClassification"
        },
        "model_type": "bert",
        "vocab_size": c.vocab_size,
        "hidden_size": c.d_model,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "intermediate_size": c.d_ff,
        "hidden_act": "gelu",
        "max_position_embeddings": c.max_len,
        "type_vocab_size": c.type_vocab_size.max(1),
        "layer_norm_eps": c.ln_eps,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "pad_token_id": loaded.encoder.pad_id,
        "num_labels": labels.len(),
        "problem_type": "regression",
        "id2label": id2label,
        "label2id": label2id,
        "torch_dtype": "float32",
        "kibble_pooling": "mean",
        "kibble_reward_mean": loaded.meta.reward_mean,
        "kibble_reward_std": loaded.meta.reward_std,
        "kibble_max_len": loaded.meta.max_len,
    });
    if !loaded.meta.head_stats.is_empty() {
        config["kibble_head_stats"] = serde_json::json!(loaded.meta.head_stats);
    }
    write_folder_atomically(out, |tmp| {
        let w = tmp.join("model.safetensors");
        candle_core::safetensors::save(&hf, &w).map_err(|e| file_err(&w, e))?;
        write_json(&tmp.join("config.json"), &config)?;
        let py = tmp.join("modeling_kibble.py");
        std::fs::write(&py, MODELING_PY).map_err(|e| file_err(&py, e))?;
        write_json(
            &tmp.join("tokenizer_config.json"),
            &serde_json::json!({
                "model_max_length": loaded.meta.max_len,
                "pad_token": token(loaded.encoder.pad_id),
                "sep_token": token(loaded.encoder.sep_id),
                "cls_token": loaded.encoder.cls_id.and_then(token),
            }),
        )?;
        let t = tmp.join("tokenizer.json");
        tok.save(&t, false).map_err(|e| file_err(&t, e))
    })
}

type LabelMap = serde_json::Map<String, serde_json::Value>;

/// One output per criterion for a model trained with `--criteria`, else one "reward": the
/// names, and transformers' `id2label` and `label2id`.
fn label_maps(meta: &CheckpointMeta) -> (Vec<String>, LabelMap, LabelMap) {
    let labels: Vec<String> = if meta.heads.is_empty() {
        vec!["reward".into()]
    } else {
        meta.heads.clone()
    };
    let id2label = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), l.clone().into()))
        .collect();
    let label2id = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i.into()))
        .collect();
    (labels, id2label, label2id)
}

/// A decoder reward model as transformers' own `LlamaForSequenceClassification` (or Qwen2's):
/// the backbone under `model.*`, the head as `score` (no bias), and the pad token the class
/// uses to find each sequence's last real token. No remote code is needed. HF's `score` has no
/// bias, so ours is folded into the reward statistics: normalised scores are unchanged, and raw
/// scores in transformers differ from kibble's raw ones by exactly that bias.
fn export_decoder_reward_model(
    loaded: &Loaded,
    checkpoint: &Path,
    out: &Path,
) -> Result<(), CheckpointError> {
    let codec =
        loaded.encoder.decoder.as_ref().ok_or_else(|| {
            file_err(checkpoint, "a decoder reward model without its chat format")
        })?;
    let decoder = loaded.meta.model.decoder.as_ref().ok_or_else(|| {
        file_err(
            checkpoint,
            "a decoder reward model without its decoder shape",
        )
    })?;
    let mut weights = loaded
        .model
        .merged_weights()
        .map_err(|e| file_err(checkpoint, e))?;
    let bias: Vec<f64> = match weights.remove("head.bias") {
        Some(b) => b
            .to_vec1::<f32>()
            .map_err(|e| file_err(checkpoint, e))?
            .into_iter()
            .map(f64::from)
            .collect(),
        None => vec![0.0; loaded.meta.model.n_outputs],
    };
    let hf: HashMap<String, Tensor> = weights
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "head.weight" => ("score.weight".to_string(), v),
            _ => (k, v),
        })
        .collect();
    let meta = &loaded.meta;
    let (labels, id2label, label2id) = label_maps(meta);
    let mut config = llama_config(decoder, codec, "ForSequenceClassification");
    config["num_labels"] = labels.len().into();
    config["id2label"] = id2label.into();
    config["label2id"] = label2id.into();
    config["kibble_reward_mean"] = (meta.reward_mean - bias[0]).into();
    config["kibble_reward_std"] = meta.reward_std.into();
    config["kibble_max_len"] = meta.max_len.into();
    if !meta.head_stats.is_empty() {
        let stats: Vec<(f64, f64)> = meta
            .head_stats
            .iter()
            .zip(&bias)
            .map(|((m, s), b)| (m - b, *s))
            .collect();
        config["kibble_head_stats"] = serde_json::json!(stats);
    }
    let tc = tokenizer_config(codec, meta.max_len);
    write_folder_atomically(out, |tmp| {
        let w = tmp.join("model.safetensors");
        candle_core::safetensors::save(&hf, &w).map_err(|e| file_err(&w, e))?;
        write_json(&tmp.join("config.json"), &config)?;
        write_json(&tmp.join("tokenizer_config.json"), &tc)?;
        let t = tmp.join("tokenizer.json");
        codec.tokenizer.save(&t, false).map_err(|e| file_err(&t, e))
    })
}

/// `tokenizer_config.json` for a Llama-family export: the chat template and special tokens.
fn tokenizer_config(codec: &PolicyCodec, max_len: usize) -> serde_json::Value {
    serde_json::json!({
        "eos_token": codec.format.end,
        "pad_token": codec.tokenizer.id_to_token(codec.pad),
        "chat_template": codec.format.jinja(),
        "clean_up_tokenization_spaces": false,
        "model_max_length": max_len,
    })
}

fn gpt2_weights(
    weights: &std::collections::BTreeMap<String, Tensor>,
    c: &PolicyConfig,
    checkpoint: &Path,
) -> Result<HashMap<String, Tensor>, CheckpointError> {
    let mut hf: HashMap<String, Tensor> = HashMap::new();
    for (ours, theirs, transpose) in all_names(c.n_layers) {
        let t = weights
            .get(&ours)
            .ok_or_else(|| file_err(checkpoint, format!("policy has no weight {ours}")))?;
        let t = if transpose {
            t.t().and_then(|t| t.contiguous())
        } else {
            Ok(t.clone())
        }
        .map_err(|e| file_err(checkpoint, e))?;
        hf.insert(theirs, t);
    }
    Ok(hf)
}

/// `config.json` of a Llama-family export; `class` is the transformers head after the family
/// (`ForCausalLM`, `ForSequenceClassification`).
fn llama_config(c: &PolicyConfig, codec: &PolicyCodec, class: &str) -> serde_json::Value {
    let (family, model_type) = if c.qkv_bias {
        ("Qwen2", "qwen2")
    } else {
        ("Llama", "llama")
    };
    let arch = format!("{family}{class}");
    serde_json::json!({
        "architectures": [arch],
        "model_type": model_type,
        "vocab_size": c.vocab_size,
        "hidden_size": c.d_model,
        "intermediate_size": c.d_ff,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "num_key_value_heads": c.kv_heads(),
        "head_dim": c.head_dim(),
        "hidden_act": "silu",
        "rms_norm_eps": c.ln_eps,
        "rope_theta": c.rope_theta,
        "max_position_embeddings": c.ctx,
        "tie_word_embeddings": c.tied,
        "attention_bias": false,
        "bos_token_id": codec.before.first().copied(),
        "eos_token_id": codec.eos,
        "pad_token_id": codec.pad,
        "torch_dtype": "float32",
    })
}

/// Loads an HF GPT-2 folder (as exported above, or any GPT-2 with our tokenizer tokens) as a policy.
pub fn load_gpt2(dir: &Path, device: &Device) -> Result<(Policy, PolicyCodec), CheckpointError> {
    #[derive(serde::Deserialize)]
    struct Gpt2 {
        vocab_size: usize,
        n_positions: usize,
        n_embd: usize,
        n_layer: usize,
        n_head: usize,
        n_inner: Option<usize>,
        #[serde(default = "eps")]
        layer_norm_epsilon: f64,
    }
    fn eps() -> f64 {
        1e-5
    }
    let g: Gpt2 = read_json(&dir.join("config.json"))?;
    let config = PolicyConfig {
        vocab_size: g.vocab_size,
        ctx: g.n_positions,
        d_model: g.n_embd,
        n_layers: g.n_layer,
        n_heads: g.n_head,
        d_ff: g.n_inner.unwrap_or(4 * g.n_embd),
        ln_eps: g.layer_norm_epsilon,
        ..PolicyConfig::tiny(g.vocab_size)
    };
    let path = dir.join("model.safetensors");
    let mut hf = read_weights(&path, device)?;
    let mut ours = std::collections::BTreeMap::new();
    for (name, theirs, transpose) in all_names(config.n_layers) {
        let t = hf
            .remove(&theirs)
            .or_else(|| hf.remove(theirs.trim_start_matches("transformer.")))
            .ok_or_else(|| file_err(&path, format!("missing weight {theirs}")))?;
        let t = if transpose {
            t.t().and_then(|t| t.contiguous())
        } else {
            Ok(t)
        }
        .map_err(|e| file_err(&path, e))?;
        ours.insert(name, t);
    }
    let policy =
        Policy::from_weights(&config, ours, false, device).map_err(|e| file_err(&path, e))?;
    let codec = PolicyCodec::new(
        crate::ml::text::tokenizer::load(&dir.join("tokenizer.json"))?,
        config.ctx,
        crate::ml::text::chat::PromptFormat::default(),
    )?;
    Ok((policy, codec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::policy::{save_policy, PolicyMeta, POLICY_KIND};
    use crate::ml::models::policy::SeqBatch;
    use crate::ml::text::chat::PromptFormat;
    use crate::ml::training::policy::PolicyTrainConfig;

    #[test]
    fn a_llama_policy_exports_as_an_hf_folder_and_loads_back_with_the_same_logits() {
        let dev = Device::Cpu;
        let texts =
            (0..100).map(|i| format!("<|im_start|>user question {i} <|im_end|> answer {}", i * 3));
        let mut tok = crate::ml::text::tokenizer::train_bpe(texts, 300).unwrap();
        tok.add_special_tokens(&[
            tokenizers::AddedToken::from("<|im_start|>", true),
            tokenizers::AddedToken::from("<|im_end|>", true),
        ]);
        let mut config = crate::ml::models::config::PolicyConfig::small_llama();
        config.vocab_size = tok.get_vocab_size(true);
        config.ctx = 64;
        let policy = Policy::new(&config, 9, &dev).unwrap();
        let format = PromptFormat::chatml(Some("Be brief."));
        let codec = PolicyCodec::new(tok, config.ctx, format.clone()).unwrap();
        let meta = PolicyMeta {
            kind: POLICY_KIND.into(),
            config: config.clone(),
            method: "sft".into(),
            run_id: 1,
            round: 0,
            step: 0,
            train: PolicyTrainConfig::default(),
            metrics: serde_json::Value::Null,
            format,
        };
        let dir = tempfile::tempdir().unwrap();
        let ckpt = dir.path().join("ckpt");
        save_policy(&ckpt, &policy, &codec, &meta, None).unwrap();
        let out = dir.path().join("hf");
        export_policy(&ckpt, &out).unwrap();
        let cfg: serde_json::Value = read_json(&out.join("config.json")).unwrap();
        assert_eq!(cfg["model_type"], "qwen2"); // q/k/v biases
        let back = load_policy(&out, &dev).unwrap();
        assert_eq!(back.policy.config, config);
        assert_eq!(back.codec.format.name, "chatml");
        let (seq, plen) = codec
            .sequence(&"question 7".into(), "answer 21", 8)
            .unwrap();
        assert_eq!(
            back.codec
                .sequence(&"question 7".into(), "answer 21", 8)
                .unwrap(),
            (seq.clone(), plen)
        );
        let b = SeqBatch::new(&[(&seq, plen)], codec.pad, &dev).unwrap();
        let x: Vec<f32> = policy.sequence_logps(&b).unwrap().to_vec1().unwrap();
        let y: Vec<f32> = back.policy.sequence_logps(&b).unwrap().to_vec1().unwrap();
        assert!((x[0] - y[0]).abs() < 1e-5, "{} vs {}", x[0], y[0]);
    }

    #[test]
    fn a_bert_reward_model_exports_for_sequence_classification_and_the_tiny_one_says_why_not() {
        use crate::ml::checkpoint::{self, CheckpointMeta};
        use crate::ml::models::config::{Arch, ModelConfig};
        use crate::ml::models::reward::RewardModel;
        use crate::ml::text::tokenizer::PairEncoder;
        let dev = Device::Cpu;
        let texts = (0..50).map(|i| format!("a prompt {i} and an answer {}", i * 2));
        let mut tok = crate::ml::text::tokenizer::train_bpe(texts, 200).unwrap();
        tok.add_special_tokens(
            &["[PAD]", "[CLS]", "[SEP]"].map(|t| tokenizers::AddedToken::from(t, true)),
        );
        let dir = tempfile::tempdir().unwrap();
        let save = |arch: Arch, name: &str| {
            let config = ModelConfig {
                arch,
                vocab_size: tok.get_vocab_size(true),
                max_len: 16,
                d_model: 16,
                n_layers: 1,
                n_heads: 2,
                d_ff: 32,
                ln_eps: 1e-12,
                type_vocab_size: 2,
                freeze_backbone: false,
                n_outputs: 1,
                decoder: None,
                lora: None,
            };
            let model = RewardModel::new(&config, 1, &dev).unwrap();
            let encoder = PairEncoder::for_bert(tok.clone(), 16).unwrap();
            let meta = CheckpointMeta {
                kind: checkpoint::KIND.into(),
                model: config,
                train: Default::default(),
                step: 1,
                max_len: 16,
                reward_mean: 0.5,
                reward_std: 2.0,
                heads: vec![],
                head_stats: vec![],
                ranking_ids: vec![],
                data_hash: String::new(),
                metrics: serde_json::Value::Null,
                format: None,
            };
            let path = dir.path().join(name);
            checkpoint::save(&path, &model, &encoder, &meta, None).unwrap();
            path
        };
        let bert = save(Arch::Bert, "bert");
        let out = dir.path().join("hf-rm");
        export_reward_model(&bert, &out).unwrap();
        let cfg: serde_json::Value = read_json(&out.join("config.json")).unwrap();
        assert_eq!(cfg["num_labels"], 1);
        assert_eq!(cfg["kibble_reward_std"], 2.0);
        assert!(out.join("modeling_kibble.py").exists() && out.join("tokenizer.json").exists());
        let w = read_weights(&out.join("model.safetensors"), &dev).unwrap();
        assert_eq!(w["classifier.weight"].dims(), &[1, 16]);
        assert!(w.contains_key("bert.embeddings.word_embeddings.weight"));
        assert!(w
            .keys()
            .all(|k| k.starts_with("bert.") || k.starts_with("classifier.")));

        let tiny = save(Arch::Tiny, "tiny");
        let e = export_reward_model(&tiny, &dir.path().join("no"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("BERT-family") && e.contains("tiny"), "{e}");
        assert!(!dir.path().join("no").exists());
    }
}
