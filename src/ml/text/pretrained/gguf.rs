//! GGUF files (llama.cpp): metadata to `PolicyConfig`, tensors dequantised to f32 under their
//! HF names (q/k rows un-permuted), and the byte-level BPE tokenizer rebuilt from metadata.

use super::*;

pub(super) fn number(v: &Value) -> Option<f64> {
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
pub(super) fn hf_name(gguf: &str) -> Option<String> {
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
pub(super) fn unpermute(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (out, d_in) = w.dims2()?;
    let dh = out / heads;
    w.reshape((heads, dh / 2, 2, d_in))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, d_in))
}

#[cfg(test)]
pub(super) fn permute(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (out, d_in) = w.dims2()?;
    let dh = out / heads;
    w.reshape((heads, 2, dh / 2, d_in))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, d_in))
}

/// A GGUF policy with every tensor dequantised to f32 (for training).
pub fn load_gguf(path: &Path, device: &Device) -> Result<Pretrained, CheckpointError> {
    read_gguf(
        path,
        |content, file, name| {
            content
                .tensor(file, name, device)
                .and_then(|q| q.dequantize(device))
                .map_err(|e| e.to_string())
        },
        |t, heads, _| unpermute(&t, heads).map_err(|e| e.to_string()),
    )
}

/// A GGUF policy for sampling: Q4_1 and Q8_0 tensors stay quantised (their rows un-permuted
/// as blocks), any other type is dequantised to f32.
pub fn load_gguf_quantised(path: &Path) -> Result<Pretrained<Weight>, CheckpointError> {
    read_gguf(path, read_quantised, |w, heads, rows| {
        let order = unpermuted_rows(rows, heads)?;
        Ok(match w {
            Weight::Quant(q) => Weight::Quant(q.select_rows(&order)),
            Weight::F32(v) => {
                let cols = v.len() / rows;
                Weight::F32(
                    order
                        .iter()
                        .flat_map(|&o| v[o * cols..(o + 1) * cols].iter().copied())
                        .collect(),
                )
            }
        })
    })
}

/// The row order `unpermute` gives: HF row (h, j, i) is file row h dh + 2i + j.
fn unpermuted_rows(rows: usize, heads: usize) -> Result<Vec<usize>, String> {
    let dh = rows.checked_div(heads).unwrap_or(0);
    if dh == 0 || !rows.is_multiple_of(heads) || !dh.is_multiple_of(2) {
        return Err(format!(
            "{rows} rows do not split into {heads} heads of even size"
        ));
    }
    Ok((0..heads)
        .flat_map(|h| (0..2).flat_map(move |j| (0..dh / 2).map(move |i| h * dh + 2 * i + j)))
        .collect())
}

/// One tensor: Q4_1/Q8_0 bytes read as they are, after checking they lie inside the file.
fn read_quantised(
    content: &Content,
    file: &mut std::fs::File,
    name: &str,
) -> Result<Weight, String> {
    use candle_core::quantized::GgmlDType;
    use std::io::{Read, Seek, SeekFrom};
    let info = &content.tensor_infos[name];
    let kind = match info.ggml_dtype {
        GgmlDType::Q4_1 => Some(QKind::Q4_1),
        GgmlDType::Q8_0 => Some(QKind::Q8_0),
        _ => None,
    };
    let (Some(kind), &[rows, cols]) = (kind, info.shape.dims()) else {
        let t = content
            .tensor(file, name, &Device::Cpu)
            .and_then(|q| q.dequantize(&Device::Cpu))
            .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
            .map_err(|e| e.to_string())?;
        return Ok(Weight::F32(t));
    };
    let size = (rows as u64)
        .checked_mul(cols as u64 / crate::ml::kernels::quant::BLOCK as u64)
        .and_then(|b| b.checked_mul(kind.ggml_block_bytes() as u64))
        .ok_or("shape too large")?;
    let start = content
        .tensor_data_offset
        .checked_add(info.offset)
        .ok_or("offset too large")?;
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    if start.checked_add(size).is_none_or(|end| end > file_len) {
        return Err(format!(
            "{rows} x {cols} {kind:?} runs past the end of the file"
        ));
    }
    let mut bytes = vec![0u8; size as usize];
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| e.to_string())?;
    QMatrix::from_ggml(kind, rows, cols, &bytes).map(Weight::Quant)
}

/// The metadata, tokenizer and tensors of a GGUF policy; `read` makes each tensor what the
/// caller keeps, `unpermute(tensor, heads, rows)` undoes llama.cpp's q/k row order for RoPE.
fn read_gguf<W>(
    path: &Path,
    mut read: impl FnMut(&Content, &mut std::fs::File, &str) -> Result<W, String>,
    unpermute: impl Fn(W, usize, usize) -> Result<W, String>,
) -> Result<Pretrained<W>, CheckpointError> {
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
        let t = read(&content, &mut file, name).map_err(|e| err(format!("tensor {name}: {e}")))?;
        let rows = content.tensor_infos[name]
            .shape
            .dims()
            .first()
            .copied()
            .unwrap_or(0);
        let t = match (
            arch.as_str(),
            name.ends_with("attn_q.weight"),
            name.ends_with("attn_k.weight"),
        ) {
            ("llama" | "mistral", true, _) => unpermute(t, heads, rows),
            ("llama" | "mistral", _, true) => unpermute(t, kv_heads, rows),
            _ => Ok(t),
        }
        .map_err(|e| err(format!("tensor {name}: {e}")))?;
        weights.insert(hf, t);
    }
    let (vocab_size, d_model) = content
        .tensor_infos
        .get("token_embd.weight")
        .and_then(|t| t.shape.dims2().ok())
        .ok_or_else(|| err("token_embd.weight is not a matrix".into()))?;
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
pub(super) fn gguf_tokenizer(
    md: &std::collections::HashMap<String, Value>,
) -> Result<Tokenizer, String> {
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

/// A Llama policy as a GGUF file the way llama.cpp writes one (q/k permuted, byte-level BPE
/// in the metadata). Matrices are stored as `matrices` (the embeddings as Q8_0 unless that is
/// F32, as llama.cpp's Q4 files do), vectors as f32. Tests use it to check loaders end to end.
#[cfg(test)]
pub(crate) fn write_gguf(
    path: &Path,
    config: &PolicyConfig,
    weights: &BTreeMap<String, Tensor>,
    tok: &Tokenizer,
    chat_template: &str,
    matrices: candle_core::quantized::GgmlDType,
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
        let dtype = match t.dims() {
            [_, cols] if cols % 32 == 0 && matrices != GgmlDType::F32 => {
                if gguf == "token_embd.weight" {
                    GgmlDType::Q8_0
                } else {
                    matrices
                }
            }
            _ => GgmlDType::F32,
        };
        tensors.push((gguf, QTensor::quantize(&t, dtype)?));
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
