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
    if let Some(name) = chat_template {
        let old = &loaded.codec.format;
        let bos = (old.name == "completion" && !old.before.is_empty()).then(|| old.before.clone());
        let format = PromptFormat::by_name(name, bos.as_deref(), &old.end)
            .map_err(|e| anyhow::anyhow!("--chat-template: {e}"))?;
        loaded.codec = PolicyCodec::new(
            loaded.codec.tokenizer.clone(),
            loaded.codec.ctx,
            format.clone(),
        )?;
        loaded.meta.format = format;
    }
    Ok(loaded)
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
    let meta = PolicyMeta {
        kind: POLICY_KIND.into(),
        config: p.config,
        method: "pretrained".into(),
        run_id: 0,
        round: 0,
        step: 0,
        train: PolicyTrainConfig::default(),
        metrics: serde_json::json!({ "source": path.display().to_string() }),
        format: p.format,
    };
    Ok(LoadedPolicy {
        policy,
        codec,
        meta,
        dir: path.to_path_buf(),
    })
}
