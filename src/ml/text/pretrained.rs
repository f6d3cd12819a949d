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

use crate::ml::model_files::{file_err, read_json, read_weights, CheckpointError};
use crate::ml::models::config::{PolicyArch, PolicyConfig};
use crate::ml::text::chat::PromptFormat;
use crate::ml::text::tokenizer;

/// Longest sequence kibble trains or samples with, whatever the model's own window.
pub const MAX_CTX: usize = 2048;

pub struct Pretrained {
    pub config: PolicyConfig,
    pub weights: BTreeMap<String, Tensor>,
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

fn number(v: &Value) -> Option<f64> {
    Some(match v {
        Value::U8(x) => *x as f64,
        Value::I8(x) => *x as f64,
        Value::U16(x) => *x as f64,
        Value::I16(x) => *x as f64,
        Value::U32(x) => *x as f64,
        Value::I32(x) => *x as f64,
        Value::U64(x) => *x as f64,
        Value::I64(x) => *x as f64,
        Value::F32(x) => *x as f64,
        Value::F64(x) => *x,
        _ => return None,
    })
}

/// GGUF (llama.cpp) tensor names -> HF names, for one layer or the whole model.
fn hf_name(gguf: &str) -> Option<String> {
    let fixed = [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ];
    if let Some((_, hf)) = fixed.iter().find(|(g, _)| *g == gguf) {
        return Some(hf.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, name) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let map = [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_q.bias", "self_attn.q_proj.bias"),
        ("attn_k.bias", "self_attn.k_proj.bias"),
        ("attn_v.bias", "self_attn.v_proj.bias"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"),
        ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
    ];
    let (_, hf) = map.iter().find(|(g, _)| *g == name)?;
    Some(format!("model.layers.{layer}.{hf}"))
}

/// llama.cpp stores Llama's q and k rows interleaved for its RoPE: per head, row `2i + j` of
/// the file is HF row `j * dh/2 + i`. This undoes it (`permute` below does it, for tests).
fn unpermute(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (out, d_in) = w.dims2()?;
    let dh = out / heads;
    w.reshape((heads, dh / 2, 2, d_in))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, d_in))
}

#[cfg(test)]
fn permute(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (out, d_in) = w.dims2()?;
    let dh = out / heads;
    w.reshape((heads, 2, dh / 2, d_in))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, d_in))
}

pub fn load_gguf(path: &Path, device: &Device) -> Result<Pretrained, CheckpointError> {
    let err = |m: String| file_err(path, m);
    let mut file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let content = Content::read(&mut file).map_err(|e| err(format!("not a GGUF file: {e}")))?;
    let md = &content.metadata;
    let text = |k: &str| md.get(k).and_then(|v| v.to_string().ok()).cloned();
    let arch = text("general.architecture")
        .ok_or_else(|| err("metadata has no general.architecture".into()))?;
    if !LLAMA_LIKE.contains(&arch.as_str()) {
        return Err(err(format!(
            "architecture {arch:?} is not supported for policies (use one of {})",
            LLAMA_LIKE.join(", ")
        )));
    }
    let num = |k: &str| md.get(&format!("{arch}.{k}")).and_then(number);
    let need = |k: &str| {
        num(k)
            .map(|v| v as usize)
            .ok_or_else(|| err(format!("metadata has no {arch}.{k}")))
    };
    let heads = need("attention.head_count")?;
    let kv_heads = num("attention.head_count_kv").map_or(heads, |v| v as usize);
    // Checked before any tensor is un-permuted by head.
    let head_field = format!("{arch}.attention.head_count");
    let kv_field = format!("{arch}.attention.head_count_kv");
    // The width, from the embedding's shape (vocab, d), before any tensor is read.
    let width = content
        .tensor_infos
        .get("token_embd.weight")
        .and_then(|t| t.shape.dims().last().copied())
        .ok_or_else(|| err("no token_embd.weight tensor".into()))?;
    crate::ml::models::limits::dim(&head_field, heads, 1024)
        .and_then(|_| crate::ml::models::limits::divides(&kv_field, kv_heads, &head_field, heads))
        .and_then(|_| {
            crate::ml::models::limits::divides(
                &head_field,
                heads,
                "token_embd.weight columns",
                width,
            )
        })
        .map_err(err)?;
    let mut weights = BTreeMap::new();
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    for name in names {
        let Some(hf) = hf_name(name) else {
            continue; // rope_freqs and the like: recomputed, not stored
        };
        let t = content
            .tensor(&mut file, name, device)
            .and_then(|q| q.dequantize(device))
            .map_err(|e| err(format!("tensor {name}: {e}")))?;
        let t = match (
            arch.as_str(),
            name.ends_with("attn_q.weight"),
            name.ends_with("attn_k.weight"),
        ) {
            ("llama" | "mistral", true, _) => unpermute(&t, heads),
            ("llama" | "mistral", _, true) => unpermute(&t, kv_heads),
            _ => Ok(t),
        }
        .map_err(|e| err(format!("tensor {name}: {e}")))?;
        weights.insert(hf, t);
    }
    let embed = weights
        .get("model.embed_tokens.weight")
        .ok_or_else(|| err("no token_embd.weight tensor".into()))?;
    let (vocab_size, d_model) = embed.dims2().map_err(|e| err(e.to_string()))?;
    let tied = !weights.contains_key("lm_head.weight");
    let config = PolicyConfig {
        arch: PolicyArch::Llama,
        vocab_size,
        ctx: num("context_length").map_or(MAX_CTX, |v| (v as usize).min(MAX_CTX)),
        d_model,
        n_layers: need("block_count")?,
        n_heads: heads,
        d_ff: need("feed_forward_length")?,
        ln_eps: num("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
        n_kv_heads: kv_heads,
        rope_theta: num("rope.freq_base").unwrap_or(10_000.0),
        qkv_bias: weights.contains_key("model.layers.0.self_attn.q_proj.bias"),
        tied,
    };
    let gguf_names: Vec<(&str, String)> = [
        ("vocab_size", "token_embd.weight rows".to_string()),
        ("ctx", format!("{arch}.context_length")),
        ("d_model", "token_embd.weight columns".to_string()),
        ("n_layers", format!("{arch}.block_count")),
        ("n_heads", head_field.clone()),
        ("n_kv_heads", kv_field.clone()),
        ("d_ff", format!("{arch}.feed_forward_length")),
        ("ln_eps", format!("{arch}.attention.layer_norm_rms_epsilon")),
        ("rope_theta", format!("{arch}.rope.freq_base")),
    ]
    .into();
    let names: Vec<(&str, &str)> = gguf_names.iter().map(|(a, b)| (*a, b.as_str())).collect();
    config.validate(&names).map_err(err)?;
    crate::ml::models::limits::layer_count(
        weights.keys(),
        "model.layers.",
        &format!("{arch}.block_count"),
        config.n_layers,
    )
    .map_err(err)?;
    let beside = path.with_file_name("tokenizer.json");
    let tokenizer = if beside.exists() {
        tokenizer::load(&beside)?
    } else {
        gguf_tokenizer(md).map_err(err)?
    };
    let token_text = |k: &str| {
        let id = md.get(k).and_then(number)? as u32;
        tokenizer.id_to_token(id)
    };
    let format = PromptFormat::detect(
        text("tokenizer.chat_template").as_deref(),
        token_text("tokenizer.ggml.bos_token_id").as_deref(),
        token_text("tokenizer.ggml.eos_token_id").as_deref(),
    );
    Ok(Pretrained {
        config,
        weights,
        tokenizer,
        format,
    })
}

/// A byte-level BPE (`tokenizer.ggml.model = "gpt2"`) rebuilt from GGUF metadata: the vocab,
/// merges and control tokens are stored there.
fn gguf_tokenizer(md: &std::collections::HashMap<String, Value>) -> Result<Tokenizer, String> {
    let model = md
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .ok_or("metadata has no tokenizer.ggml.model: put the model's tokenizer.json next to the .gguf file")?;
    if model != "gpt2" {
        return Err(format!(
            "tokenizer model {model:?} cannot be rebuilt from GGUF metadata (only byte-level BPE, \"gpt2\"): put the model's tokenizer.json next to the .gguf file"
        ));
    }
    let strings = |k: &str| -> Result<Vec<String>, String> {
        md.get(k)
            .and_then(|v| v.to_vec().ok())
            .ok_or(format!("metadata has no {k}"))?
            .iter()
            .map(|v| v.to_string().cloned().map_err(|e| format!("{k}: {e}")))
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
        .into_iter()
        .filter_map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let types: Vec<i64> = md
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|v| v.iter().filter_map(number).map(|x| x as i64).collect())
        .unwrap_or_default();
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| format!("tokenizer: {e}"))?;
    let byte_level = ByteLevel::new(false, true, true);
    let pre = match md
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
    {
        // SmolLM's tokenizer splits digits one by one before the byte-level step.
        Some(p) if p == "smollm" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(byte_level),
        ])),
        // GPT-2's own split rules: what byte-level BPE does by itself.
        None => PreTokenizerWrapper::ByteLevel(byte_level),
        Some(p) if p == "gpt2" || p == "gpt-2" || p == "default" => {
            PreTokenizerWrapper::ByteLevel(byte_level)
        }
        // Any other split rules (llama-bpe, qwen2, ...) differ from GPT-2's: guessing would
        // tokenize differently from the model's training, silently.
        Some(p) => {
            return Err(format!(
            "tokenizer.ggml.pre {p:?}: kibble cannot rebuild these split rules from GGUF metadata \
                 (it knows gpt2 and smollm); put the model's tokenizer.json next to the .gguf file"
        ))
        }
    };
    let mut tok = TokenizerBuilder::new()
        .with_model(bpe)
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(pre))
        .with_post_processor(None::<tokenizers::PostProcessorWrapper>)
        .with_decoder(Some(byte_level))
        .build()
        .map_err(|e| format!("tokenizer: {e}"))?;
    // Control (3) and user-defined (4) tokens are matched whole, never split by BPE.
    let specials: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(_, t)| **t == 3 || **t == 4)
        .map(|(s, t)| AddedToken::from(s.clone(), *t == 3))
        .collect();
    tok.add_special_tokens(&specials);
    let json = serde_json::to_string(&tok).map_err(|e| format!("tokenizer: {e}"))?;
    Tokenizer::from_str(&json).map_err(|e| format!("tokenizer: {e}"))
}

/// A Llama policy as a GGUF file the way llama.cpp writes one (q/k permuted, f32 tensors,
/// byte-level BPE in the metadata). Tests use it to check the loader end to end.
#[cfg(test)]
pub(crate) fn write_gguf(
    path: &Path,
    config: &PolicyConfig,
    weights: &BTreeMap<String, Tensor>,
    tok: &Tokenizer,
    chat_template: &str,
) -> anyhow::Result<()> {
    use candle_core::quantized::{GgmlDType, QTensor};
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for (hf, t) in weights {
        let gguf = (0..config.n_layers)
            .flat_map(|i| {
                [
                    "attn_norm.weight",
                    "ffn_norm.weight",
                    "attn_q.weight",
                    "attn_k.weight",
                    "attn_v.weight",
                    "attn_q.bias",
                    "attn_k.bias",
                    "attn_v.bias",
                    "attn_output.weight",
                    "ffn_gate.weight",
                    "ffn_up.weight",
                    "ffn_down.weight",
                ]
                .map(move |n| format!("blk.{i}.{n}"))
            })
            .chain(["token_embd.weight", "output_norm.weight", "output.weight"].map(String::from))
            .find(|g| hf_name(g).as_deref() == Some(hf.as_str()))
            .ok_or_else(|| anyhow::anyhow!("no GGUF name for {hf}"))?;
        let t = if gguf.ends_with("attn_q.weight") {
            permute(t, config.n_heads)?
        } else if gguf.ends_with("attn_k.weight") {
            permute(t, config.kv_heads())?
        } else {
            t.clone()
        };
        tensors.push((gguf, QTensor::quantize(&t, GgmlDType::F32)?));
    }
    let json: serde_json::Value =
        serde_json::from_str(&tok.to_string(false).map_err(anyhow::Error::msg)?)?;
    let vocab = tok.get_vocab(true);
    let mut tokens = vec![String::new(); vocab.len()];
    for (t, id) in vocab {
        tokens[id as usize] = t;
    }
    let merges: Vec<Value> = json["model"]["merges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|m| match m {
            serde_json::Value::Array(p) => Value::String(format!(
                "{} {}",
                p[0].as_str().unwrap_or_default(),
                p[1].as_str().unwrap_or_default()
            )),
            other => Value::String(other.as_str().unwrap_or_default().to_string()),
        })
        .collect();
    let types: Vec<Value> = tokens
        .iter()
        .map(|t| {
            Value::I32(if t.starts_with('<') && t.ends_with('>') {
                3
            } else {
                1
            })
        })
        .collect();
    let arch = "llama";
    let u = |v: usize| Value::U32(v as u32);
    let md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (format!("{arch}.context_length"), u(config.ctx)),
        (format!("{arch}.block_count"), u(config.n_layers)),
        (format!("{arch}.feed_forward_length"), u(config.d_ff)),
        (format!("{arch}.attention.head_count"), u(config.n_heads)),
        (
            format!("{arch}.attention.head_count_kv"),
            u(config.kv_heads()),
        ),
        (
            format!("{arch}.rope.freq_base"),
            Value::F32(config.rope_theta as f32),
        ),
        (
            format!("{arch}.attention.layer_norm_rms_epsilon"),
            Value::F32(config.ln_eps as f32),
        ),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        ),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), Value::Array(merges)),
        (
            "tokenizer.chat_template".into(),
            Value::String(chat_template.into()),
        ),
    ];
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path)?;
    candle_core::quantized::gguf_file::write(&mut f, &md_refs, &t_refs)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::models::policy::{Policy, SeqBatch};

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
        write_gguf(&good, &config, &weights, &tok, "").unwrap();
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
        let out = Decoder::from_policy(&policy)
            .unwrap()
            .generate(&[ids], &greedy);
        println!(
            "{:?} {:?}",
            out[0].tokens,
            p.tokenizer.decode(&out[0].tokens, false)
        );
        assert_eq!(out[0].tokens, [504, 3575, 282, 4649, 314, 7042, 30, 2]);
    }
}
