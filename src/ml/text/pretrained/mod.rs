//! Pretrained Llama-family policies from local files: an HF folder (`config.json`,
//! `model.safetensors` or its shards, `tokenizer.json`, `tokenizer_config.json`) or a GGUF file
//! (weights dequantised to f32; the tokenizer rebuilt from the GGUF metadata unless a
//! `tokenizer.json` sits next to the file). Weights come out under their HF names.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer, TokenizerBuilder};

use crate::ml::kernels::quant::{QKind, QMatrix, Weight};
use crate::ml::model_files::{file_err, read_json, read_weights, CheckpointError};
use crate::ml::models::config::{PolicyArch, PolicyConfig};
use crate::ml::text::chat::PromptFormat;
use crate::ml::text::tokenizer;

mod gguf;

#[cfg(test)]
pub(crate) use gguf::write_gguf;
#[cfg(test)]
use gguf::*;
pub use gguf::{load_gguf, load_gguf_quantised};

/// Longest sequence kibble trains or samples with, whatever the model's own window.
pub const MAX_CTX: usize = 2048;

/// A pretrained policy; its weights are f32 tensors (for training) or, for sampling from a
/// GGUF file, `Weight`s that keep quantised blocks.
pub struct Pretrained<W = Tensor> {
    pub config: PolicyConfig,
    pub weights: BTreeMap<String, W>,
    pub tokenizer: Tokenizer,
    pub format: PromptFormat,
}

/// Architectures whose weights follow Llama's layout.
const LLAMA_LIKE: [&str; 3] = ["llama", "mistral", "qwen2"];

#[derive(serde::Deserialize)]
struct HfConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    #[serde(default = "default_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_ctx")]
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
    #[serde(default)]
    attention_bias: bool,
    head_dim: Option<usize>,
    rope_scaling: Option<serde_json::Value>,
    sliding_window: Option<serde_json::Value>,
    use_sliding_window: Option<bool>,
}

fn default_theta() -> f64 {
    10_000.0
}
fn default_eps() -> f64 {
    1e-6
}
fn default_ctx() -> usize {
    2048
}

/// Is `path` a GGUF file (by its extension)?
pub fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// Is `path` a pretrained Llama-family model: a GGUF file or an HF folder?
pub fn is_pretrained(path: &Path) -> bool {
    is_gguf(path) || is_hf_llama(path)
}

/// A pretrained Llama-family model from a GGUF file or an HF folder.
pub fn load(path: &Path, device: &Device) -> Result<Pretrained, CheckpointError> {
    if is_gguf(path) {
        load_gguf(path, device)
    } else {
        load_hf(path, device)
    }
}

/// Is this folder an HF Llama-family model?
pub fn is_hf_llama(dir: &Path) -> bool {
    read_json::<serde_json::Value>(&dir.join("config.json"))
        .ok()
        .and_then(|v| v.get("model_type")?.as_str().map(str::to_string))
        .is_some_and(|t| LLAMA_LIKE.contains(&t.as_str()))
}

pub fn load_hf(dir: &Path, device: &Device) -> Result<Pretrained, CheckpointError> {
    let config_path = dir.join("config.json");
    let hf: HfConfig = read_json(&config_path)?;
    let bad = |m: String| Err(file_err(&config_path, m));
    if !LLAMA_LIKE.contains(&hf.model_type.as_str()) {
        return bad(format!(
            "model_type {:?} is not supported for policies (use one of {})",
            hf.model_type,
            LLAMA_LIKE.join(", ")
        ));
    }
    if hf.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
        return bad("rope_scaling is not supported yet (plain RoPE only)".into());
    }
    if hf
        .head_dim
        .is_some_and(|h| h.checked_mul(hf.num_attention_heads) != Some(hf.hidden_size))
    {
        return bad("head_dim x num_attention_heads must equal hidden_size".into());
    }
    let _ = (&hf.sliding_window, hf.use_sliding_window);
    crate::ml::models::limits::dim("num_attention_heads", hf.num_attention_heads, 1024)
        .map_err(|m| file_err(&config_path, m))?;
    let config = PolicyConfig {
        arch: PolicyArch::Llama,
        vocab_size: hf.vocab_size,
        ctx: hf.max_position_embeddings.min(MAX_CTX),
        d_model: hf.hidden_size,
        n_layers: hf.num_hidden_layers,
        n_heads: hf.num_attention_heads,
        d_ff: hf.intermediate_size,
        ln_eps: hf.rms_norm_eps,
        n_kv_heads: hf.num_key_value_heads.unwrap_or(hf.num_attention_heads),
        rope_theta: hf.rope_theta,
        qkv_bias: hf.model_type == "qwen2" || hf.attention_bias,
        tied: hf.tie_word_embeddings,
    };
    config
        .validate(HF_LLAMA_NAMES)
        .map_err(|m| file_err(&config_path, m))?;
    let mut weights = BTreeMap::new();
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let idx: serde_json::Value = read_json(&index)?;
        let mut shards: Vec<String> = idx
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| file_err(&index, "no weight_map"))?
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        shards.sort();
        shards.dedup();
        for s in shards {
            weights.extend(read_weights(&dir.join(s), device)?);
        }
    } else {
        weights = read_weights(&dir.join("model.safetensors"), device)?;
    }
    weights.retain(|k, _| !k.ends_with("rotary_emb.inv_freq"));
    crate::ml::models::limits::layer_count(
        weights.keys(),
        "model.layers.",
        "num_hidden_layers",
        config.n_layers,
    )
    .map_err(|m| file_err(&config_path, m))?;
    if config.tied {
        weights.remove("lm_head.weight");
    }
    let tokenizer = tokenizer::load(&dir.join("tokenizer.json"))?;
    let tc: serde_json::Value =
        read_json(&dir.join("tokenizer_config.json")).unwrap_or(serde_json::Value::Null);
    let token = |k: &str| -> Option<String> {
        let v = tc.get(k)?;
        v.as_str()
            .or_else(|| v.get("content")?.as_str())
            .map(str::to_string)
    };
    let template = tc.get("chat_template").and_then(|v| v.as_str());
    let format = PromptFormat::detect(
        template,
        token("bos_token").as_deref(),
        token("eos_token").as_deref(),
    );
    Ok(Pretrained {
        config,
        weights,
        tokenizer,
        format,
    })
}

/// Our `PolicyConfig` field names as a HF Llama-family `config.json` spells them.
const HF_LLAMA_NAMES: &[(&str, &str)] = &[
    ("vocab_size", "vocab_size"),
    ("ctx", "max_position_embeddings"),
    ("d_model", "hidden_size"),
    ("n_layers", "num_hidden_layers"),
    ("n_heads", "num_attention_heads"),
    ("n_kv_heads", "num_key_value_heads"),
    ("d_ff", "intermediate_size"),
    ("ln_eps", "rms_norm_eps"),
    ("rope_theta", "rope_theta"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::models::policy::{Policy, SeqBatch};
    use candle_core::quantized::GgmlDType;

    #[test]
    fn permute_and_unpermute_are_inverse() {
        let w = Tensor::arange(0f32, 48.0, &Device::Cpu)
            .unwrap()
            .reshape((12, 4))
            .unwrap();
        let p = permute(&w, 3).unwrap();
        assert_ne!(p.to_vec2::<f32>().unwrap(), w.to_vec2::<f32>().unwrap());
        let back = unpermute(&p, 3).unwrap();
        assert_eq!(back.to_vec2::<f32>().unwrap(), w.to_vec2::<f32>().unwrap());
        // Head 0, file row 1 = (i 0, j 1) holds HF row j * dh/2 + i = 2.
        assert_eq!(
            p.to_vec2::<f32>().unwrap()[1],
            w.to_vec2::<f32>().unwrap()[2]
        );
    }

    #[test]
    fn hostile_gguf_metadata_is_a_clear_error_never_a_panic() {
        use candle_core::quantized::gguf_file::Content;
        let dev = Device::Cpu;
        let texts = (0..200).map(|i| format!("the kiwi number {i} likes green apples {}", i * 7));
        let tok = tokenizer::train_bpe(texts, 300).unwrap();
        let mut config = crate::ml::models::config::PolicyConfig::small_llama();
        config.vocab_size = tok.get_vocab_size(true);
        config.qkv_bias = false;
        let policy = Policy::new(&config, 7, &dev).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.gguf");
        let weights = policy.merged_weights().unwrap();
        write_gguf(&good, &config, &weights, &tok, "", GgmlDType::F32).unwrap();
        let mut file = std::fs::File::open(&good).unwrap();
        let content = Content::read(&mut file).unwrap();
        let tensors: Vec<(String, candle_core::quantized::QTensor)> = content
            .tensor_infos
            .keys()
            .map(|n| (n.clone(), content.tensor(&mut file, n, &dev).unwrap()))
            .collect();
        let bad = dir.path().join("bad.gguf");
        // Loads the file with one metadata value replaced; a loaded model also runs once.
        let load_with = |key: &str, value: Value| -> Result<(), String> {
            let mut md: Vec<(String, Value)> = content
                .metadata
                .iter()
                .filter(|(k, _)| k.as_str() != key)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            md.push((key.to_string(), value));
            let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let t_refs: Vec<(&str, &candle_core::quantized::QTensor)> =
                tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let mut f = std::fs::File::create(&bad).unwrap();
            candle_core::quantized::gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
            let p = load_gguf(&bad, &dev).map_err(|e| e.to_string())?;
            let model = Policy::from_weights(&p.config, p.weights, true, &dev)
                .map_err(|e| e.to_string())?;
            let b = SeqBatch::new(&[(&[1u32, 2, 3][..], 1)], 0, &dev).unwrap();
            model.sequence_logps(&b).map_err(|e| e.to_string())?;
            Ok(())
        };
        let u = Value::U32;
        for (key, value, says) in [
            ("llama.attention.head_count", u(0), "head_count\" is 0"),
            ("llama.attention.head_count", u(3), "must divide"),
            ("llama.attention.head_count", u(1000), "must divide"),
            (
                "llama.attention.head_count_kv",
                u(0),
                "head_count_kv\" (0) must divide",
            ),
            ("llama.attention.head_count_kv", u(3), "must divide"),
            (
                "llama.block_count",
                u(9),
                "block_count\" is 9, but the weights hold",
            ),
            ("llama.block_count", u(0), "block_count\" is 0"),
            ("llama.feed_forward_length", u(7), "shape"),
            ("llama.context_length", u(0), "context_length\" is 0"),
            ("llama.rope.freq_base", Value::F32(-1.0), "freq_base"),
            (
                "llama.attention.layer_norm_rms_epsilon",
                Value::F32(f32::NAN),
                "epsilon",
            ),
            (
                "tokenizer.ggml.pre",
                Value::String("llama-bpe".into()),
                "tokenizer.json",
            ),
        ] {
            let e = load_with(key, value).expect_err(key);
            assert!(e.contains(says), "{key}: {e}");
            assert!(!e.is_empty());
        }
        // The untouched metadata still loads and runs.
        load_with("general.architecture", Value::String("llama".into())).unwrap();
    }

    #[test]
    fn a_gguf_written_here_round_trips() {
        let dev = Device::Cpu;
        let texts =
            (0..200).map(|i| format!("the kiwi number {i} likes <sep> green apples {}", i * 7));
        let tok = tokenizer::train_bpe(texts, 300).unwrap();
        let mut config = crate::ml::models::config::PolicyConfig::small_llama();
        config.vocab_size = tok.get_vocab_size(true);
        config.qkv_bias = false;
        config.ln_eps = 1e-6f32 as f64; // GGUF stores it as f32
        let policy = Policy::new(&config, 7, &dev).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        let template = "{{ '<|im_start|>' + message['role'] }}";
        write_gguf(
            &path,
            &config,
            &policy.merged_weights().unwrap(),
            &tok,
            template,
            GgmlDType::F32,
        )
        .unwrap();

        let loaded = load_gguf(&path, &dev).unwrap();
        assert_eq!(loaded.config, config);
        assert_eq!(loaded.format.name, "chatml");
        let text = "the kiwi number 12 likes green apples<eos>";
        let ids = |t: &Tokenizer| t.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(ids(&loaded.tokenizer), ids(&tok));
        assert_eq!(
            loaded.tokenizer.decode(&ids(&tok), false).unwrap(),
            tok.decode(&ids(&tok), false).unwrap()
        );
        let again = Policy::from_weights(&loaded.config, loaded.weights, true, &dev).unwrap();
        let seq = ids(&tok);
        let b = SeqBatch::new(&[(&seq, 2)], 0, &dev).unwrap();
        let x: Vec<f32> = policy.sequence_logps(&b).unwrap().to_vec1().unwrap();
        let y: Vec<f32> = again.sequence_logps(&b).unwrap().to_vec1().unwrap();
        assert!((x[0] - y[0]).abs() < 1e-4, "{} vs {}", x[0], y[0]);

        std::fs::write(&path, b"GGUF\x03\x00\x00\x00truncated").unwrap();
        let e = load_gguf(&path, &dev).err().unwrap().to_string();
        assert!(e.contains("m.gguf") && e.contains("not a GGUF file"), "{e}");
    }

    /// Checks the real SmolLM2 GGUF against HF transformers (figures from transformers
    /// 5.24 loading the same file, greedy): `scripts/fetch-models.sh smollm2`, then
    /// `cargo test --release --lib -- --ignored smollm2_matches_transformers --nocapture`.
    #[test]
    #[ignore]
    fn smollm2_matches_transformers() {
        use crate::ml::infer::decode::{Decoder, GenConfig};
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
        let dev = Device::Cpu;
        let p = load_gguf(&path, &dev).expect("run scripts/fetch-models.sh smollm2 first");
        assert_eq!(p.format.name, "chatml");
        let text =
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
        let ids = p.tokenizer.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(
            ids,
            [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
        );
        let policy = Policy::from_weights(&p.config, p.weights, true, &dev).unwrap();
        let n = ids.len();
        let logits = policy
            .logits(
                &Tensor::from_vec(ids.clone(), (1, n), &dev).unwrap(),
                &Tensor::ones((1, n), candle_core::DType::F32, &dev).unwrap(),
            )
            .unwrap();
        let last: Vec<f32> = logits.get(n - 1).unwrap().to_vec1().unwrap();
        let want = [9.8717f32, 4.4221, 5.0689, 5.1656, 4.3566];
        for (a, b) in last.iter().zip(want) {
            assert!((a - b).abs() < 2e-3, "logit {a} vs transformers {b}");
        }
        let greedy = GenConfig {
            max_new_tokens: 20,
            top_k: 1,
            stop_tokens: vec![2],
            ..GenConfig::default()
        };
        let f32s = Decoder::from_policy(&policy).unwrap();
        let out = f32s.generate(std::slice::from_ref(&ids), &greedy);
        println!(
            "{:?} {:?}",
            out[0].tokens,
            p.tokenizer.decode(&out[0].tokens, false)
        );
        assert_eq!(out[0].tokens, [504, 3575, 282, 4649, 314, 7042, 30, 2]);

        // The same file sampled from its Q4_1/Q8_0 blocks: the same greedy answer, and how
        // far greedy decoding of longer answers agrees with f32 (8-bit activations differ).
        let q = load_gguf_quantised(&path).unwrap();
        let quant =
            Decoder::from_weights(&q.config, crate::ml::infer::weights::Named(q.weights)).unwrap();
        assert_eq!(quant.generate(&[ids], &greedy)[0].tokens, out[0].tokens);
        let questions = [
            "Write a haiku about the sea.",
            "Explain what a hash map is.",
            "Give three tips for sleeping well.",
            "What is 17 times 3?",
            "Write a Python function that reverses a string.",
            "Why is the sky blue?",
        ];
        let prompts: Vec<Vec<u32>> = questions
            .iter()
            .map(|q| {
                let t = format!("<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n");
                p.tokenizer.encode(t, false).unwrap().get_ids().to_vec()
            })
            .collect();
        let long = GenConfig {
            max_new_tokens: 64,
            ..greedy
        };
        let (a, b) = (
            f32s.generate(&prompts, &long),
            quant.generate(&prompts, &long),
        );
        for (x, y) in a.iter().zip(&b) {
            let same = x
                .tokens
                .iter()
                .zip(&y.tokens)
                .take_while(|(i, j)| i == j)
                .count();
            println!(
                "agree for {same} of {} tokens",
                x.tokens.len().max(y.tokens.len())
            );
        }
    }
}
