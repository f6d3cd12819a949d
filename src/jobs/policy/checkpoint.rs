//! Policy checkpoints: save, load (kibble folders, HF folders, GGUF files), and the prompt
//! format a chat template gives. The text <-> tokens codec they carry is `ml::text::codec`.

use super::*;

/// What `config.json` of a policy checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyMeta {
    pub kind: String,
    pub config: PolicyConfig,
    pub method: String,
    pub run_id: i64,
    pub round: i64,
    pub step: u64,
    pub train: PolicyTrainConfig,
    pub metrics: serde_json::Value,
    /// How prompt and response are laid out (the model's chat template).
    #[serde(default)]
    pub format: PromptFormat,
}

pub struct LoadedPolicy {
    pub policy: Policy,
    pub codec: PolicyCodec,
    pub meta: PolicyMeta,
    pub dir: PathBuf,
}

pub fn save_policy(
    dir: &Path,
    policy: &Policy,
    codec: &PolicyCodec,
    meta: &PolicyMeta,
    optimizer: Option<&AdamW>,
) -> Result<(), CheckpointError> {
    write_folder_atomically(dir, |tmp| {
        let w = tmp.join("model.safetensors");
        policy.save_weights(&w).map_err(|e| file_err(&w, e))?;
        if let Some(opt) = optimizer {
            let o = tmp.join("optimizer.safetensors");
            opt.save(&o).map_err(|e| file_err(&o, e))?;
        }
        let t = tmp.join("tokenizer.json");
        codec
            .tokenizer
            .save(&t, false)
            .map_err(|e| file_err(&t, e))?;
        write_json(&tmp.join("config.json"), meta)
    })
}

/// Loads a policy: a kibble checkpoint folder, an HF Llama-family folder, or a `.gguf` file.
pub fn load_policy(dir: &Path, device: &Device) -> Result<LoadedPolicy, CheckpointError> {
    if pretrained::is_pretrained(dir) {
        return from_pretrained(pretrained::load(dir, device)?, dir, device);
    }
    let config_path = dir.join("config.json");
    let meta: PolicyMeta = read_json(&config_path)?;
    if meta.kind != POLICY_KIND {
        return Err(file_err(
            &config_path,
            format!("not a kibble policy checkpoint (kind {:?})", meta.kind),
        ));
    }
    let codec = PolicyCodec::new(
        tokenizer::load(&dir.join("tokenizer.json"))?,
        meta.config.ctx,
        meta.format.clone(),
    )?;
    let weights_path = dir.join("model.safetensors");
    let weights = read_weights(&weights_path, device)?;
    let policy = Policy::from_weights(&meta.config, weights, false, device)
        .map_err(|e| file_err(&weights_path, e))?;
    Ok(LoadedPolicy {
        policy,
        codec,
        meta,
        dir: dir.to_path_buf(),
    })
}

/// `load_policy`, with the prompt format replaced when `chat_template` names one.
pub fn load_with_format(
    dir: &Path,
    device: &Device,
    chat_template: Option<&str>,
) -> anyhow::Result<LoadedPolicy> {
    let mut loaded = load_policy(dir, device)?;
    (loaded.codec, loaded.meta) = with_template(loaded.codec, loaded.meta, chat_template)?;
    Ok(loaded)
}

/// The codec and metadata with the prompt format `chat_template` names, if it names one.
fn with_template(
    codec: PolicyCodec,
    mut meta: PolicyMeta,
    chat_template: Option<&str>,
) -> anyhow::Result<(PolicyCodec, PolicyMeta)> {
    let Some(name) = chat_template else {
        return Ok((codec, meta));
    };
    let old = &codec.format;
    let bos = (old.name == "completion" && !old.before.is_empty()).then(|| old.before.clone());
    let format = PromptFormat::by_name(name, bos.as_deref(), &old.end)
        .map_err(|e| anyhow::anyhow!("--chat-template: {e}"))?;
    let codec = PolicyCodec::new(codec.tokenizer, codec.ctx, format.clone())?;
    meta.format = format;
    Ok((codec, meta))
}

/// What sampling needs: the decoding engine, the text codec and the policy's metadata.
pub struct Sampler {
    pub decoder: Decoder,
    pub codec: PolicyCodec,
    pub meta: PolicyMeta,
}

/// A policy for sampling only. A GGUF file's Q4_1 and Q8_0 weights stay quantised (about a
/// fifth of f32's memory, and faster to decode); a Llama-family HF folder or checkpoint is
/// quantised to Q8_0 as it loads (`Decoder::for_sampling`); the small GPT stays f32.
pub fn load_sampler(dir: &Path, chat_template: Option<&str>) -> anyhow::Result<Sampler> {
    if pretrained::is_gguf(dir) {
        let p = pretrained::load_gguf_quantised(dir)?;
        let decoder =
            Decoder::from_weights(&p.config, Named(p.weights)).map_err(|e| file_err(dir, e))?;
        let codec = PolicyCodec::new(p.tokenizer, p.config.ctx, p.format.clone())?;
        let meta = pretrained_meta(p.config, p.format, dir);
        let (codec, meta) = with_template(codec, meta, chat_template)?;
        return Ok(Sampler {
            decoder,
            codec,
            meta,
        });
    }
    let loaded = load_with_format(dir, &Device::Cpu, chat_template)?;
    Ok(Sampler {
        decoder: Decoder::for_sampling(&loaded.policy)?,
        codec: loaded.codec,
        meta: loaded.meta,
    })
}

/// A pretrained model as a round-0 policy (no run of ours made it).
pub(super) fn from_pretrained(
    p: Pretrained,
    path: &Path,
    device: &Device,
) -> Result<LoadedPolicy, CheckpointError> {
    let codec = PolicyCodec::new(p.tokenizer, p.config.ctx, p.format.clone())?;
    let policy =
        Policy::from_weights(&p.config, p.weights, false, device).map_err(|e| file_err(path, e))?;
    Ok(LoadedPolicy {
        policy,
        codec,
        meta: pretrained_meta(p.config, p.format, path),
        dir: path.to_path_buf(),
    })
}

/// The metadata of a pretrained model: round 0, no run of ours.
fn pretrained_meta(config: PolicyConfig, format: PromptFormat, path: &Path) -> PolicyMeta {
    PolicyMeta {
        kind: POLICY_KIND.into(),
        config,
        method: "pretrained".into(),
        run_id: 0,
        round: 0,
        step: 0,
        train: PolicyTrainConfig::default(),
        metrics: serde_json::json!({ "source": path.display().to_string() }),
        format,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::infer::decode::GenConfig;
    use candle_core::quantized::GgmlDType;

    /// A GGUF file with Q4_1 matrices and Q8_0 embeddings (as llama.cpp's Q4_1 files are)
    /// samples from its blocks as they are, and greedily says what the same weights
    /// dequantised to f32 say: the only difference is the 8-bit rounding of activations.
    #[test]
    fn quantised_decode_matches_f32_greedy() {
        let texts =
            (0..200).map(|i| format!("the kiwi number {i} likes <sep> green apples {}", i * 7));
        let mut tok = tokenizer::train_bpe(texts, 300).unwrap();
        tok.add_special_tokens(
            &["<|im_start|>", "<|im_end|>"].map(|t| tokenizers::AddedToken::from(t, true)),
        );
        let mut config = PolicyConfig::small_llama();
        config.vocab_size = tok.get_vocab_size(true);
        config.ln_eps = 1e-6f32 as f64;
        let dev = Device::Cpu;
        let policy = Policy::new(&config, 21, &dev).unwrap();
        // Random weights give nearly flat logits; a larger head spreads them as a trained
        // model's are, so greedy picks are not coin flips.
        let mut weights = policy.merged_weights().unwrap();
        let head = (weights["lm_head.weight"].clone() * 40.0).unwrap();
        weights.insert("lm_head.weight".into(), head);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.gguf");
        let template = "{{ '<|im_start|>' + message['role'] }}";
        pretrained::write_gguf(&path, &config, &weights, &tok, template, GgmlDType::Q4_1).unwrap();

        let quant = load_sampler(&path, None).unwrap();
        let f32s = load_policy(&path, &dev).unwrap();
        let plain = Decoder::from_policy(&f32s.policy).unwrap();
        assert!(
            quant.decoder.weight_bytes() * 3 < plain.weight_bytes(),
            "{} vs {} bytes",
            quant.decoder.weight_bytes(),
            plain.weight_bytes()
        );
        let prompts: Vec<Vec<u32>> = ["the kiwi", "number 12 likes", "green apples 7", "the"]
            .iter()
            .map(|t| tok.encode(*t, false).unwrap().get_ids().to_vec())
            .collect();
        let gen = GenConfig {
            max_new_tokens: 20,
            top_k: 1,
            batch: 3,
            ..GenConfig::default()
        };
        let (a, b) = (
            quant.decoder.generate(&prompts, &gen),
            plain.generate(&prompts, &gen),
        );
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.tokens, y.tokens);
            assert_eq!(x.tokens.len(), 20);
        }
        // The sampled text differs from prompt to prompt (the model is not stuck on a token).
        assert_ne!(a[0].tokens, a[1].tokens);
    }
}
