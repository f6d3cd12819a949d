//! Policy jobs: the supervised warm-start (`train-policy --sft`), sampling candidates into the
//! labelling queue (`sample`), and improvement rounds (`improve --method bon|dpo|rloo`). Each
//! is a run in the DB with metrics, atomic checkpoints and a cancel token, like the RM job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::domain::{is_eval_prompt, PromptId, Verdict, MAX_CANDIDATES};
use crate::jobs::score::{CheckpointRef, Scorer};
use crate::jobs::train_rm::{runs_dir, CancelToken};
use crate::ml::chat::PromptFormat;
use crate::ml::checkpoint::{
    file_err, read_json, read_weights, write_folder_atomically, write_json, CheckpointError,
};
use crate::ml::decode::{Decoder, GenConfig, Sample};
use crate::ml::llama::LoraConfig;
use crate::ml::optim::AdamW;
use crate::ml::policy::{Policy, PolicyConfig, SeqBatch};
use crate::ml::policy_train::{PolicyStep, PolicyTrainConfig, PolicyTrainer};
use crate::ml::pretrained::{self, Pretrained};
use crate::ml::tokenizer::{self, PAD};
use crate::store::{RankingFilter, RunStatus, Store};

pub const POLICY_KIND: &str = "kibble-policy";
/// Run kinds that hold policy checkpoints.
pub const POLICY_RUN_KINDS: [&str; 4] = ["sft", "bon", "dpo", "rloo"];

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

/// Text <-> tokens for a policy: `before prompt after response end` as the prompt format
/// says (kibble's own: `prompt <sep> response <eos>`); prompts lose their beginning when
/// too long.
#[derive(Clone)]
pub struct PolicyCodec {
    pub tokenizer: Tokenizer,
    pub format: PromptFormat,
    /// Filler for padded batches (`<pad>`, or the end token when the vocabulary has none).
    pub pad: u32,
    /// Ends a response: the stop token when sampling.
    pub eos: u32,
    pub before: Vec<u32>,
    pub after: Vec<u32>,
    pub ctx: usize,
}

impl PolicyCodec {
    pub fn new(
        tokenizer: Tokenizer,
        ctx: usize,
        format: PromptFormat,
    ) -> Result<PolicyCodec, tokenizer::TokenizerError> {
        let eos = tokenizer.token_to_id(&format.end).ok_or_else(|| {
            tokenizer::TokenizerError::Other(format!(
                "tokenizer has no {:?} token, which ends responses in the {} prompt format",
                format.end, format.name
            ))
        })?;
        let ids = |text: &str| -> Result<Vec<u32>, tokenizer::TokenizerError> {
            Ok(tokenizer
                .encode(text, false)
                .map_err(|e| tokenizer::TokenizerError::Other(e.to_string()))?
                .get_ids()
                .to_vec())
        };
        let (before, after) = (ids(&format.before)?, ids(&format.after)?);
        Ok(PolicyCodec {
            pad: tokenizer.token_to_id(PAD).unwrap_or(eos),
            eos,
            before,
            after,
            tokenizer,
            format,
            ctx,
        })
    }

    fn ids(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// Prompt tokens in the prompt format (ending where the response begins), at most `max`
    /// of them: the prompt text loses its beginning first.
    pub fn prompt(&self, text: &str, max: usize) -> anyhow::Result<Vec<u32>> {
        let frame = self.before.len() + self.after.len();
        if frame >= max {
            anyhow::bail!(
                "the {} prompt format takes {frame} tokens, no room for a prompt within {max}: raise the context or shorten --max-new-tokens",
                self.format.name
            );
        }
        let mut p = self.ids(text)?;
        let keep = max - frame;
        p.drain(..p.len().saturating_sub(keep));
        let mut out = self.before.clone();
        out.extend(p);
        out.extend(&self.after);
        Ok(out)
    }

    /// `prompt <sep> response <eos>` within the context, and the prompt's length.
    pub fn sequence(
        &self,
        prompt: &str,
        response: &str,
        max_response: usize,
    ) -> anyhow::Result<(Vec<u32>, usize)> {
        self.sequence_ending(prompt, response, max_response, true)
    }

    /// As `sequence`; `ended` says whether the response really ended. A sample cut at the token
    /// cap did not, and gets no end marker: training on one would teach the policy to stop there.
    pub fn sequence_ending(
        &self,
        prompt: &str,
        response: &str,
        max_response: usize,
        ended: bool,
    ) -> anyhow::Result<(Vec<u32>, usize)> {
        let mut r = self.ids(response)?;
        if ended {
            r.truncate(max_response.saturating_sub(1));
            r.push(self.eos);
        } else {
            r.truncate(max_response);
        }
        let mut s = self.prompt(prompt, self.ctx - r.len())?;
        let prompt_len = s.len();
        s.extend(r);
        Ok((s, prompt_len))
    }

    /// Text of generated tokens, without the end marker.
    pub fn text(&self, tokens: &[u32]) -> String {
        let end = tokens
            .iter()
            .position(|&t| t == self.eos)
            .unwrap_or(tokens.len());
        self.tokenizer
            .decode(&tokens[..end], true)
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

/// A round's training sequences from its scored samples (`samples[k]` is (prompt index, sample),
/// `answers[k]` its text, `scores[k]` its reward): best-of-n takes each prompt's best sample,
/// DPO its best and worst (chosen then rejected) when they differ in score and text. Prompts
/// come in index order; a sample that hit the token cap keeps no end marker.
pub fn round_sequences(
    method: Method,
    codec: &PolicyCodec,
    texts: &[String],
    samples: &[(usize, Sample)],
    answers: &[String],
    scores: &[f64],
    max_response: usize,
) -> anyhow::Result<Vec<(Vec<u32>, usize)>> {
    let mut by_prompt: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, (i, _)) in samples.iter().enumerate() {
        by_prompt.entry(*i).or_default().push(k);
    }
    let mut prompt_order: Vec<usize> = by_prompt.keys().copied().collect();
    prompt_order.sort_unstable();
    let seq = |i: usize, k: usize| {
        codec.sequence_ending(&texts[i], &answers[k], max_response, samples[k].1.stopped)
    };
    let mut seqs = Vec::new();
    for i in prompt_order {
        // Stable: equal scores keep sampling order.
        let mut ks = by_prompt[&i].clone();
        ks.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        let (best, worst) = (ks[0], ks[ks.len() - 1]);
        match method {
            Method::Bon => seqs.push(seq(i, best)?),
            Method::Dpo => {
                if scores[best] > scores[worst] && answers[best] != answers[worst] {
                    seqs.push(seq(i, best)?);
                    seqs.push(seq(i, worst)?);
                }
            }
            Method::Rloo => {}
        }
    }
    Ok(seqs)
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
    if dir
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return from_pretrained(pretrained::load_gguf(dir, device)?, dir, device);
    }
    if pretrained::is_hf_llama(dir) {
        return from_pretrained(pretrained::load_hf(dir, device)?, dir, device);
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
fn from_pretrained(
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

/// A policy named on the command line: the newest, a run id, or a folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PolicyRef {
    Latest,
    Run(i64),
    Dir(PathBuf),
}

impl PolicyRef {
    pub fn parse(s: Option<&str>) -> PolicyRef {
        match s {
            None | Some("latest") => PolicyRef::Latest,
            Some(s) => match s.parse::<i64>() {
                Ok(id) if !Path::new(s).exists() => PolicyRef::Run(id),
                _ => PolicyRef::Dir(PathBuf::from(s)),
            },
        }
    }
}

/// The checkpoint folder of a policy and the run it belongs to.
pub fn resolve_policy(store: &Store, r: &PolicyRef) -> anyhow::Result<(PathBuf, Option<i64>)> {
    match r {
        PolicyRef::Dir(d) => Ok((d.clone(), None)),
        PolicyRef::Run(id) => {
            let c = store
                .checkpoints(Some(*id))?
                .into_iter()
                .last()
                .ok_or_else(|| {
                    anyhow::anyhow!("policy run {id} has no checkpoint (see `kibble runs`)")
                })?;
            Ok((PathBuf::from(c.path), Some(*id)))
        }
        PolicyRef::Latest => {
            let c = store.latest_checkpoint(&POLICY_RUN_KINDS)?.ok_or_else(|| {
                anyhow::anyhow!("no policy yet; run `kibble train-policy --sft` first")
            })?;
            Ok((PathBuf::from(c.path), Some(c.run_id)))
        }
    }
}

/// How a model asks to be sampled when the user sets nothing: its `generation_config.json`
/// (temperature, top-k, top-p, when `do_sample` is not false), else defaults that give
/// labelable answers: a pretrained model at temperature 0.7 with top-p 0.9 (at 1.0 a small
/// instruct model such as SmolLM2-135M writes invented words), kibble's tiny policy at 1.0
/// (it has no better-calibrated head to sharpen).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSampling {
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    /// Where the values come from, for the user.
    pub source: String,
}

pub const PRETRAINED_SAMPLING: (f64, f64) = (0.7, 0.9);

/// The sampling defaults of the policy `r` names, read from its files (no weights loaded).
pub fn model_sampling(store: &Store, r: &PolicyRef) -> anyhow::Result<ModelSampling> {
    let (dir, _) = resolve_policy(store, r)?;
    let folder = if dir.is_dir() {
        dir.clone()
    } else {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let gc = folder.join("generation_config.json");
    if let Ok(text) = std::fs::read_to_string(&gc) {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: malformed JSON: {e}", gc.display()))?;
        if v.get("do_sample").and_then(|d| d.as_bool()) != Some(false) {
            let num = |k: &str| v.get(k).and_then(|x| x.as_f64());
            let t = num("temperature").filter(|t| *t > 0.0 && t.is_finite());
            let p = num("top_p").filter(|p| *p > 0.0 && *p <= 1.0);
            if t.is_some() || p.is_some() {
                return Ok(ModelSampling {
                    temperature: t.unwrap_or(1.0),
                    top_k: num("top_k").map_or(0, |k| k.max(0.0) as usize),
                    top_p: p.unwrap_or(1.0),
                    source: format!("from {}", gc.display()),
                });
            }
        }
    }
    // A kibble checkpoint says which architecture it holds; a GGUF or HF folder is pretrained.
    let tiny = read_json::<PolicyMeta>(&dir.join("config.json"))
        .is_ok_and(|m| m.config.arch == crate::ml::policy::PolicyArch::Gpt);
    Ok(if tiny {
        ModelSampling {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            source: "kibble's default for the tiny policy".into(),
        }
    } else {
        ModelSampling {
            temperature: PRETRAINED_SAMPLING.0,
            top_k: 0,
            top_p: PRETRAINED_SAMPLING.1,
            source: "kibble's default for pretrained models (no generation_config.json)".into(),
        }
    })
}

/// What a running policy job reports, in order.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PolicyEvent {
    Started {
        run_id: i64,
        kind: String,
        round: i64,
        total_steps: u64,
    },
    Phase {
        phase: String,
    },
    Sampled {
        done: usize,
        total: usize,
        tokens_per_s: f64,
    },
    Step(PolicyStep),
    Round(RoundReport),
    Done(PolicySummary),
}

/// Held-out prompts sampled before and after a round, scored by the reward model.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoundReport {
    pub before: Vec<f64>,
    pub after: Vec<f64>,
    pub before_mean: f64,
    pub after_mean: f64,
    /// Mean over held-out samples of log pi(y) - log ref(y): a KL(pi || ref) estimate.
    pub kl: f64,
    pub length_before: f64,
    pub length_after: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicySummary {
    pub run_id: i64,
    pub status: RunStatus,
    pub checkpoint_id: Option<i64>,
    pub checkpoint_path: Option<String>,
    pub steps: u64,
    pub seconds: f64,
    pub message: Option<String>,
    pub round: Option<RoundReport>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn store_step(store: &mut Store, run_id: i64, m: &PolicyStep) -> anyhow::Result<()> {
    let s = m.step as i64;
    let mut points = vec![
        (s, "loss", m.loss),
        (s, "kl", m.kl),
        (s, "grad_norm", m.grad_norm),
        (s, "lr", m.lr),
        (s, "tokens_per_s", m.tokens_per_s),
    ];
    // Only the methods that produce them (DPO: margin and accuracy; RLOO: reward).
    if m.margin != 0.0 || m.accuracy != 0.0 {
        points.extend([(s, "margin", m.margin), (s, "accuracy", m.accuracy)]);
    }
    if m.reward != 0.0 {
        points.push((s, "reward", m.reward));
    }
    store.add_metrics(run_id, &points)?;
    Ok(())
}

/// Ends run `run_id` with the outcome of its work: the summary, or a failed status naming the error.
fn finish(
    store: &mut Store,
    run_id: i64,
    started: Instant,
    result: anyhow::Result<PolicySummary>,
    emit: &mut dyn FnMut(PolicyEvent),
) -> anyhow::Result<PolicySummary> {
    let summary = match result {
        Ok(mut s) => {
            s.seconds = started.elapsed().as_secs_f64();
            store.finish_run(run_id, s.status, s.message.as_deref())?;
            s
        }
        Err(e) => {
            let msg = format!("{e:#}");
            store.finish_run(run_id, RunStatus::Failed, Some(&msg))?;
            let last = store.checkpoints(Some(run_id))?.into_iter().last();
            PolicySummary {
                run_id,
                status: RunStatus::Failed,
                checkpoint_id: last.as_ref().map(|c| c.id),
                checkpoint_path: last.map(|c| c.path),
                steps: 0,
                seconds: started.elapsed().as_secs_f64(),
                message: Some(msg),
                round: None,
            }
        }
    };
    emit(PolicyEvent::Done(summary.clone()));
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// SFT warm-start
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    pub vocab_size: usize,
    pub epochs: usize,
    pub batch: usize,
    pub max_response_tokens: usize,
    /// Train on every candidate, not only the best-ranked ones (a DB with no rankings yet).
    pub all_candidates: bool,
    pub eval_fraction: f64,
    pub train: PolicyTrainConfig,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig {
            vocab_size: 8192,
            epochs: 3,
            batch: 8,
            max_response_tokens: 128,
            all_candidates: false,
            eval_fraction: 0.1,
            train: PolicyTrainConfig {
                lr: 1e-3,
                ..PolicyTrainConfig::default()
            },
        }
    }
}

/// Prompt text and whether the prompt is held out, cached per prompt.
struct PromptTexts<'a> {
    store: &'a Store,
    eval_fraction: f64,
    seed: u64,
    cache: HashMap<PromptId, (String, bool)>,
}

impl<'a> PromptTexts<'a> {
    fn new(store: &'a Store, eval_fraction: f64, seed: u64) -> Self {
        PromptTexts {
            store,
            eval_fraction,
            seed,
            cache: HashMap::new(),
        }
    }

    fn get(&mut self, id: PromptId) -> anyhow::Result<(String, bool)> {
        if let Some(v) = self.cache.get(&id) {
            return Ok(v.clone());
        }
        let p = self
            .store
            .prompt(id)?
            .ok_or_else(|| anyhow::anyhow!("missing prompt {id}"))?;
        let eval = is_eval_prompt(&self.store.prompt_hash(id)?, self.seed, self.eval_fraction);
        let v = (p.body.as_plain_text(), eval);
        self.cache.insert(id, v.clone());
        Ok(v)
    }
}

/// (prompt text, response text) pairs for SFT on train-split prompts: the best-ranked
/// candidate of each live ranking, or every candidate.
fn sft_examples(store: &Store, cfg: &SftConfig) -> anyhow::Result<Vec<(String, String)>> {
    let mut texts = PromptTexts::new(store, cfg.eval_fraction, 0);
    let mut out = Vec::new();
    if cfg.all_candidates {
        store.for_each_prompt(|p, cands| {
            if !is_eval_prompt(&p.body.content_hash(), 0, cfg.eval_fraction) {
                let t = p.body.as_plain_text();
                out.extend(cands.iter().map(|c| (t.clone(), c.text.clone())));
            }
            Ok(())
        })?;
        return Ok(out);
    }
    for r in store.live_rankings(&RankingFilter::default())? {
        if r.verdict != Verdict::Rank {
            continue;
        }
        let Some(best) = r.groups.first() else {
            continue;
        };
        let (prompt, eval) = texts.get(r.prompt_id)?;
        if eval {
            continue;
        }
        for cid in best {
            if let Some(c) = store.candidate(*cid)? {
                out.push((prompt.clone(), c.text));
            }
        }
    }
    Ok(out)
}

/// Trains the `tiny` policy from scratch on the DB's best-ranked answers.
pub fn train_sft(
    store: &mut Store,
    db_path: &Path,
    cfg: &SftConfig,
    created_by: &str,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
) -> anyhow::Result<PolicySummary> {
    let started = Instant::now();
    let examples = sft_examples(store, cfg)?;
    if examples.is_empty() {
        anyhow::bail!(
            "no best-ranked answers to learn from: rank some prompts (or `kibble simulate`), or pass --all-candidates"
        );
    }
    let run_id = store.create_run("sft", &serde_json::to_value(cfg)?, created_by)?;
    store.set_run_lineage(run_id, None, 0)?;
    let result = (|| {
        let mut corpus = Vec::new();
        store.for_each_prompt(|p, cands| {
            corpus.push(p.body.as_plain_text());
            corpus.extend(cands.iter().map(|c| c.text.clone()));
            Ok(())
        })?;
        let tok = tokenizer::train_bpe(corpus.into_iter(), cfg.vocab_size)?;
        let pc = PolicyConfig::tiny(tok.get_vocab_size(true));
        let codec = PolicyCodec::new(tok, pc.ctx, PromptFormat::default())?;
        let seqs: Vec<(Vec<u32>, usize)> = examples
            .iter()
            .map(|(p, r)| codec.sequence(p, r, cfg.max_response_tokens))
            .collect::<anyhow::Result<_>>()?;
        let policy = Policy::new(&pc, cfg.train.seed, &Device::Cpu)?;
        let steps_per_epoch = seqs.len().div_ceil(cfg.batch.max(1)) as u64;
        let total = steps_per_epoch * cfg.epochs as u64;
        let mut trainer = PolicyTrainer::new(policy, cfg.train.clone(), total)?;
        store.add_metrics(run_id, &[(0, "total_steps", total as f64)])?;
        emit(PolicyEvent::Started {
            run_id,
            kind: "sft".into(),
            round: 0,
            total_steps: total,
        });
        let status = train_epochs(
            store,
            run_id,
            &mut trainer,
            &seqs,
            cfg.batch,
            cfg.epochs,
            emit,
            cancel,
            Step::Sft,
            &mut |_, _| Ok(()),
        )?;
        let meta = PolicyMeta {
            kind: POLICY_KIND.into(),
            config: pc,
            method: "sft".into(),
            run_id,
            round: 0,
            step: trainer.step,
            train: cfg.train.clone(),
            metrics: serde_json::json!({ "examples": seqs.len() }),
            format: codec.format.clone(),
        };
        let (id, path) = checkpoint_policy(store, db_path, &trainer, &codec, &meta)?;
        Ok(PolicySummary {
            run_id,
            status,
            checkpoint_id: Some(id),
            checkpoint_path: Some(path),
            steps: trainer.step,
            seconds: 0.0,
            message: (status == RunStatus::Cancelled).then(|| "cancelled".to_string()),
            round: None,
        })
    })();
    finish(store, run_id, started, result, emit)
}

fn checkpoint_policy(
    store: &mut Store,
    db_path: &Path,
    trainer: &PolicyTrainer,
    codec: &PolicyCodec,
    meta: &PolicyMeta,
) -> anyhow::Result<(i64, String)> {
    let dir = runs_dir(db_path)
        .join(format!("run-{}", meta.run_id))
        .join(format!("step-{}", trainer.step));
    save_policy(&dir, &trainer.policy, codec, meta, Some(&trainer.opt))?;
    let path = dir.display().to_string();
    let id = store.add_checkpoint(meta.run_id, trainer.step as i64, &path, &meta.metrics)?;
    Ok((id, path))
}

#[derive(Clone, Copy)]
enum Step {
    Sft,
    /// Rows: chosen sequences of a batch, then its rejected ones.
    Dpo,
}

/// Epochs over `seqs` in shuffled batches (seeded), storing every step's metrics.
/// For DPO, `seqs` holds pairs as consecutive (chosen, rejected) entries.
#[allow(clippy::too_many_arguments)]
fn train_epochs(
    store: &mut Store,
    run_id: i64,
    trainer: &mut PolicyTrainer,
    seqs: &[(Vec<u32>, usize)],
    batch: usize,
    epochs: usize,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
    kind: Step,
    on_step: &mut OnStep,
) -> anyhow::Result<RunStatus> {
    let device = Device::Cpu;
    let unit = if matches!(kind, Step::Dpo) { 2 } else { 1 };
    let n_units = seqs.len() / unit;
    // A resumed trainer starts at its checkpoint's step: the same batches in the same order
    // are walked and the ones already trained on are skipped.
    let done = trainer.step;
    let mut seen = 0u64;
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..n_units).collect();
        crate::domain::shuffle(&mut order, trainer.config.seed ^ epoch as u64);
        for chunk in order.chunks(batch.max(1)) {
            seen += 1;
            if seen <= done {
                continue;
            }
            if cancel.is_cancelled() {
                return Ok(RunStatus::Cancelled);
            }
            let rows: Vec<(&[u32], usize)> = match kind {
                Step::Sft => chunk
                    .iter()
                    .map(|&i| (seqs[i].0.as_slice(), seqs[i].1))
                    .collect(),
                Step::Dpo => chunk
                    .iter()
                    .map(|&i| &seqs[2 * i])
                    .chain(chunk.iter().map(|&i| &seqs[2 * i + 1]))
                    .map(|s| (s.0.as_slice(), s.1))
                    .collect(),
            };
            let b = SeqBatch::new(&rows, 0, &device)?;
            let m = match kind {
                Step::Sft => trainer.sft_step(&b)?,
                Step::Dpo => trainer.dpo_step(&b)?,
            };
            store_step(store, run_id, &m)?;
            emit(PolicyEvent::Step(m));
            on_step(store, trainer)?;
        }
    }
    Ok(RunStatus::Done)
}

/// Called after every optimisation step (periodic checkpoints).
type OnStep<'a> = dyn FnMut(&mut Store, &PolicyTrainer) -> anyhow::Result<()> + 'a;

// ---------------------------------------------------------------------------------------------
// Sampling into the labelling queue
// ---------------------------------------------------------------------------------------------

/// Which prompts to sample for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PromptSelection {
    All,
    /// Prompts nobody has ranked yet.
    Unlabelled,
    /// Prompts listed in a file: one per line by id or exact text, or a prompts JSONL in the
    /// import format (`{"prompt": str | [messages], "id"?}`), imported first.
    File(PathBuf),
}

impl PromptSelection {
    pub fn parse(s: &str) -> PromptSelection {
        match s {
            "all" => PromptSelection::All,
            "unlabelled" | "unlabeled" => PromptSelection::Unlabelled,
            f => PromptSelection::File(PathBuf::from(f)),
        }
    }
}

/// A prompts JSONL (the import format) named by `sample --prompts FILE`: its prompts are added
/// to the DB (found when there already) in file order; a bad line names file, line and field.
fn prompts_from_jsonl(store: &mut Store, path: &Path) -> anyhow::Result<Vec<(PromptId, String)>> {
    use crate::data::formats::{parse_item, parse_object};
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let mut bodies = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let item = parse_object(line)
            .and_then(|o| parse_item(crate::data::Format::Prompts, o))
            .map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), i + 1, e.0))?;
        bodies.push((item.prompt, item.ext_id, item.meta));
    }
    let mut w = store.begin_import()?;
    let mut out = Vec::with_capacity(bodies.len());
    for (body, ext_id, meta) in &bodies {
        out.push((
            w.add_prompt(body, ext_id.as_deref(), meta)?,
            body.as_plain_text(),
        ));
    }
    w.finish(&path.display().to_string(), "prompts")?;
    Ok(out)
}

/// Whether a `--prompts` file is JSONL (its first non-empty line is a JSON object).
fn is_jsonl(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.lines()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim_start().starts_with('{'))
    })
}

fn select_prompts(
    store: &mut Store,
    sel: &PromptSelection,
) -> anyhow::Result<Vec<(PromptId, String)>> {
    if let PromptSelection::File(f) = sel {
        if is_jsonl(f) {
            return prompts_from_jsonl(store, f);
        }
    }
    let ranked: std::collections::HashSet<PromptId> = match sel {
        PromptSelection::Unlabelled => store
            .live_rankings(&RankingFilter::default())?
            .into_iter()
            .map(|r| r.prompt_id)
            .collect(),
        _ => Default::default(),
    };
    let wanted: Option<Vec<String>> = match sel {
        PromptSelection::File(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", f.display()))?
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect(),
        ),
        _ => None,
    };
    let mut out = Vec::new();
    store.for_each_prompt(|p, _| {
        let text = p.body.as_plain_text();
        let keep = match &wanted {
            Some(w) => w.iter().any(|l| *l == p.id.to_string() || *l == text),
            None => !ranked.contains(&p.id) && p.gold.is_none(),
        };
        if keep {
            out.push((p.id, text));
        }
        Ok(())
    })?;
    if let (Some(w), PromptSelection::File(f)) = (&wanted, sel) {
        if out.len() < w.len() {
            anyhow::bail!(
                "{}: {} of {} lines match no prompt id or prompt text in the database",
                f.display(),
                w.len() - out.len(),
                w.len()
            );
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleConfig {
    pub policy: PolicyRef,
    pub prompts: PromptSelection,
    pub n: usize,
    pub gen: GenConfig,
    /// Overrides the prompt format the policy carries (see `ml::chat::FORMAT_NAMES`).
    #[serde(default)]
    pub chat_template: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleSummary {
    pub run_id: i64,
    pub source: String,
    pub prompts: usize,
    pub candidates_added: u64,
    /// Samples not stored because their prompt already had `MAX_CANDIDATES` answers.
    pub not_stored_full: u64,
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
}

/// Answers sampled for some prompts: the prompts as encoded, and (prompt index, sample) in order.
struct Sampled {
    prompts: Vec<Vec<u32>>,
    samples: Vec<(usize, Sample)>,
}

impl Sampled {
    fn texts(&self, codec: &PolicyCodec) -> Vec<String> {
        self.samples
            .iter()
            .map(|(_, s)| codec.text(&s.tokens))
            .collect()
    }

    /// The answers' texts and their normalised RM rewards for `prompts` (the texts sampled for).
    fn score(
        &self,
        codec: &PolicyCodec,
        scorer: &Scorer,
        prompts: &[String],
    ) -> anyhow::Result<(Vec<String>, Vec<f64>)> {
        let answers = self.texts(codec);
        let pairs: Vec<(&str, &str)> = self
            .samples
            .iter()
            .zip(&answers)
            .map(|((i, _), t)| (prompts[*i].as_str(), t.as_str()))
            .collect();
        let scores = scorer.score(&pairs)?;
        Ok((answers, scores))
    }

    /// `prompt ++ sampled tokens` and the prompt's length, for log-probabilities.
    fn sequences(&self) -> Vec<(Vec<u32>, usize)> {
        self.samples
            .iter()
            .map(|(i, s)| {
                let mut seq = self.prompts[*i].clone();
                seq.extend(&s.tokens);
                (seq, self.prompts[*i].len())
            })
            .collect()
    }

    fn mean_entropy(&self) -> f64 {
        mean(
            &self
                .samples
                .iter()
                .map(|s| s.1.mean_entropy)
                .collect::<Vec<_>>(),
        )
    }

    /// Mean response length in tokens.
    fn mean_length(&self) -> f64 {
        mean(
            &self
                .samples
                .iter()
                .map(|s| s.1.tokens.len() as f64)
                .collect::<Vec<_>>(),
        )
    }
}

/// Samples `n` answers per prompt from `decoder`.
fn sample_prompts(
    decoder: &Decoder,
    codec: &PolicyCodec,
    prompts: &[String],
    n: usize,
    gen: &GenConfig,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
) -> anyhow::Result<Sampled> {
    let room = codec.ctx.saturating_sub(gen.max_new_tokens).max(1);
    let encoded: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| codec.prompt(p, room))
        .collect::<anyhow::Result<_>>()?;
    let jobs: Vec<(usize, Vec<u32>)> = encoded
        .iter()
        .enumerate()
        .flat_map(|(i, p)| (0..n).map(move |_| (i, p.clone())))
        .collect();
    let mut gen = gen.clone();
    gen.stop_tokens = vec![codec.eos];
    let started = Instant::now();
    let mut out = Vec::with_capacity(jobs.len());
    let mut tokens = 0usize;
    let chunk = gen.batch.max(1) * 4;
    for (ci, part) in jobs.chunks(chunk).enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let ids: Vec<Vec<u32>> = part.iter().map(|j| j.1.clone()).collect();
        // A distinct seed per chunk keeps samples of the same prompt different.
        let g = GenConfig {
            seed: gen.seed ^ (ci as u64).wrapping_mul(0xA076_1D64_78BD_642F),
            ..gen.clone()
        };
        let generated = decoder.generate_until(&ids, &g, &|| cancel.is_cancelled());
        if cancel.is_cancelled() {
            break; // this chunk was cut short
        }
        for (j, s) in part.iter().zip(generated) {
            tokens += s.tokens.len();
            out.push((j.0, s));
        }
        emit(PolicyEvent::Sampled {
            done: out.len(),
            total: jobs.len(),
            tokens_per_s: tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
        });
    }
    Ok(Sampled {
        prompts: encoded,
        samples: out,
    })
}

/// Samples candidates into the DB: they enter the labelling queue with source
/// `policy:<run>/round<k>`.
pub fn sample(
    store: &mut Store,
    cfg: &SampleConfig,
    created_by: &str,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
) -> anyhow::Result<SampleSummary> {
    let started = Instant::now();
    anyhow::ensure!(
        cfg.n <= MAX_CANDIDATES,
        "--n {}: a prompt can have at most {MAX_CANDIDATES} answers (one key each on the label screen)",
        cfg.n
    );
    let (dir, policy_run) = resolve_policy(store, &cfg.policy)?;
    let loaded = load_with_format(&dir, &Device::Cpu, cfg.chat_template.as_deref())?;
    let prompts = select_prompts(store, &cfg.prompts)?;
    if prompts.is_empty() {
        match &cfg.prompts {
            PromptSelection::Unlabelled => anyhow::bail!(
                "every prompt has been ranked already: import new prompts, or sample all of them (kibble sample --prompts all)"
            ),
            other => anyhow::bail!("no prompts selected ({other:?}); import prompts first"),
        }
    }
    let run_id = store.create_run("sample", &serde_json::to_value(cfg)?, created_by)?;
    store.set_run_lineage(run_id, policy_run, loaded.meta.round)?;
    // A pretrained model named by path has no run of ours: its file or folder name stands in.
    let who = match (policy_run, loaded.meta.run_id) {
        (Some(run), _) => run.to_string(),
        (None, 0) => dir
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pretrained".into()),
        (None, run) => run.to_string(),
    };
    let source = format!("policy:{who}/round{}", loaded.meta.round);
    let decoder = Decoder::from_policy(&loaded.policy)?;
    let texts: Vec<String> = prompts.iter().map(|p| p.1.clone()).collect();
    let result = sample_prompts(
        &decoder,
        &loaded.codec,
        &texts,
        cfg.n,
        &cfg.gen,
        emit,
        cancel,
    );
    let sampled = match result {
        Ok(s) => s,
        Err(e) => {
            store.finish_run(run_id, RunStatus::Failed, Some(&format!("{e:#}")))?;
            return Err(e);
        }
    };
    let tokens: usize = sampled.samples.iter().map(|s| s.1.tokens.len()).sum();
    let mut w = store.begin_import()?;
    // A prompt that already holds answers keeps at most MAX_CANDIDATES: samples beyond that
    // are not stored (they could not be ranked) and are counted instead.
    let mut full = 0u64;
    for ((i, _), text) in sampled.samples.iter().zip(sampled.texts(&loaded.codec)) {
        let prompt = prompts[*i].0;
        if text.is_empty() || w.has_candidate(prompt, &text)? {
            continue;
        }
        if w.candidate_count(prompt)? >= MAX_CANDIDATES {
            full += 1;
            continue;
        }
        w.add_candidate(prompt, &text, &source)?;
    }
    let counts = w.finish(&source, "sample")?;
    let seconds = started.elapsed().as_secs_f64();
    store.add_metrics(
        run_id,
        &[
            (0, "candidates", counts.candidates_added as f64),
            (0, "tokens_per_s", tokens as f64 / seconds.max(1e-9)),
        ],
    )?;
    let cancelled = cancel.is_cancelled();
    store.finish_run(
        run_id,
        if cancelled {
            RunStatus::Cancelled
        } else {
            RunStatus::Done
        },
        None,
    )?;
    Ok(SampleSummary {
        run_id,
        source,
        prompts: prompts.len(),
        candidates_added: counts.candidates_added,
        not_stored_full: full,
        tokens,
        seconds,
        tokens_per_s: tokens as f64 / seconds.max(1e-9),
    })
}

// ---------------------------------------------------------------------------------------------
// Improvement rounds
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Best-of-n rejection-sampling fine-tuning.
    Bon,
    /// Direct preference optimisation on human rankings plus RM-ranked samples.
    Dpo,
    /// REINFORCE leave-one-out with a KL penalty, the RM as reward.
    Rloo,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Bon => "bon",
            Method::Dpo => "dpo",
            Method::Rloo => "rloo",
        }
    }
}

/// Learning rates that work for the tiny policy: DPO and RLOO move the policy much further
/// per step than supervised best-of-n (DPO at 1e-4 drifts to KL > 5 in one round).
pub fn default_lr(method: Method) -> f64 {
    match method {
        Method::Bon => 2e-4,
        Method::Dpo | Method::Rloo => 1e-5,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImproveConfig {
    pub method: Method,
    pub policy: PolicyRef,
    /// The reward model: a checkpoint id or folder; `None` = the newest RM checkpoint.
    pub reward_model: Option<String>,
    /// Samples per prompt (best-of-n's n, RLOO's k, DPO's candidates to rank).
    pub n: usize,
    pub epochs: usize,
    /// RLOO: optimisation steps (each samples afresh).
    pub rloo_steps: usize,
    /// Sequences (SFT) or pairs (DPO) or prompts (RLOO) per step.
    pub batch: usize,
    /// Use at most this many train prompts per round (0 = all).
    pub max_prompts: usize,
    /// Held-out prompts sampled before and after the round.
    pub eval_prompts: usize,
    pub eval_fraction: f64,
    pub max_response_tokens: usize,
    /// DPO: also learn from human rankings in the DB.
    pub use_human_pairs: bool,
    pub gen: GenConfig,
    pub train: PolicyTrainConfig,
    /// Train LoRA adapters instead of every weight (Llama-family policies).
    #[serde(default)]
    pub lora: Option<LoraConfig>,
    /// Overrides the prompt format the starting policy carries (see `ml::chat::FORMAT_NAMES`).
    #[serde(default)]
    pub chat_template: Option<String>,
    /// Write a checkpoint (weights and optimizer state) every this many steps, so a killed
    /// round can be resumed; 0 = only at the end. Only the newest is kept.
    #[serde(default)]
    pub checkpoint_every: u64,
}

impl Default for ImproveConfig {
    fn default() -> Self {
        ImproveConfig {
            method: Method::Bon,
            policy: PolicyRef::Latest,
            reward_model: None,
            n: 4,
            epochs: 2,
            rloo_steps: 50,
            batch: 8,
            max_prompts: 0,
            eval_prompts: 32,
            eval_fraction: 0.1,
            max_response_tokens: 64,
            use_human_pairs: true,
            gen: GenConfig {
                max_new_tokens: 64,
                ..GenConfig::default()
            },
            train: PolicyTrainConfig {
                lr: default_lr(Method::Bon),
                warmup_frac: 0.1,
                ..PolicyTrainConfig::default()
            },
            lora: None,
            chat_template: None,
            checkpoint_every: 50,
        }
    }
}

/// One improvement round: held-out samples before, the method, held-out samples after, a
/// checkpoint. The new run is round `parent round + 1`.
/// RLOO's gradient and KL use log-probabilities of the policy itself (temperature 1, no
/// truncation); samples drawn from a reshaped distribution would make them off-policy.
pub fn rloo_sampling_problem(cfg: &ImproveConfig) -> Option<String> {
    let g = &cfg.gen;
    (cfg.method == Method::Rloo && (g.temperature != 1.0 || g.top_k != 0 || g.top_p < 1.0)).then(|| {
        format!(
            "--method rloo samples from the policy as it is (temperature 1, top-k 0, top-p 1), so that its \
             log-probabilities and KL are on-policy; got temperature {}, top-k {}, top-p {}: drop those flags",
            g.temperature, g.top_k, g.top_p
        )
    })
}

pub fn improve(
    store: &mut Store,
    db_path: &Path,
    cfg: &ImproveConfig,
    created_by: &str,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
) -> anyhow::Result<PolicySummary> {
    let started = Instant::now();
    let device = Device::Cpu;
    if let Some(problem) = rloo_sampling_problem(cfg) {
        anyhow::bail!(problem);
    }
    let (dir, parent) = resolve_policy(store, &cfg.policy)?;
    let loaded = load_with_format(&dir, &device, cfg.chat_template.as_deref())?;
    let rm_ref = CheckpointRef::parse(cfg.reward_model.as_deref());
    let (rm_dir, _) = crate::jobs::score::resolve(Some(store), &rm_ref)?;
    let scorer = Scorer::open(Some(store), &CheckpointRef::Dir(rm_dir.clone()))?;
    let round = loaded.meta.round + 1;
    let kind = cfg.method.as_str();
    // The run's config names the exact policy and reward model it started from, so
    // `--resume` rebuilds the same round whatever has been trained since.
    let cfg = ImproveConfig {
        policy: PolicyRef::Dir(dir),
        reward_model: Some(rm_dir.display().to_string()),
        ..cfg.clone()
    };
    let run_id = store.create_run(kind, &serde_json::to_value(&cfg)?, created_by)?;
    store.set_run_lineage(run_id, parent, round)?;
    let result = improve_round(
        store, db_path, &cfg, run_id, round, loaded, &scorer, emit, cancel, None,
    );
    finish(store, run_id, started, result, emit)
}

/// Continues an improvement round from its newest checkpoint (after a cancel, a crash or a
/// kill): the round's data are rebuilt from the same policy, reward model and seeds, the
/// steps already taken are skipped, and weights and optimizer state come from the
/// checkpoint, so the result equals an uninterrupted round.
pub fn resume_improve(
    store: &mut Store,
    db_path: &Path,
    run_id: i64,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
) -> anyhow::Result<PolicySummary> {
    let run = store
        .run(run_id)?
        .ok_or_else(|| anyhow::anyhow!("no run {run_id} (see `kibble runs`)"))?;
    if !["bon", "dpo", "rloo"].contains(&run.kind.as_str()) {
        anyhow::bail!(
            "run {run_id} is a {} run, not an improvement round",
            run.kind
        );
    }
    if run.status == RunStatus::Done {
        anyhow::bail!("run {run_id} has finished; there is nothing to resume");
    }
    let cfg: ImproveConfig = serde_json::from_value(run.config.clone())
        .map_err(|e| anyhow::anyhow!("run {run_id}: its stored config cannot be read: {e}"))?;
    if cfg.lora.is_some() {
        anyhow::bail!(
            "run {run_id} trained LoRA adapters, which checkpoints hold merged: start the round again"
        );
    }
    let ck = store.checkpoints(Some(run_id))?.into_iter().last().ok_or_else(|| {
        anyhow::anyhow!("run {run_id} has no checkpoint to resume from (rounds write one every --checkpoint-every steps)")
    })?;
    let device = Device::Cpu;
    let (dir, _) = resolve_policy(store, &cfg.policy)?;
    let loaded = load_with_format(&dir, &device, cfg.chat_template.as_deref())?;
    let scorer = Scorer::open(
        Some(store),
        &CheckpointRef::parse(cfg.reward_model.as_deref()),
    )?;
    let round = run.round.unwrap_or(loaded.meta.round + 1);
    store.reopen_run(run_id)?;
    let started = Instant::now();
    let result = improve_round(
        store,
        db_path,
        &cfg,
        run_id,
        round,
        loaded,
        &scorer,
        emit,
        cancel,
        Some(Path::new(&ck.path)),
    );
    finish(store, run_id, started, result, emit)
}

/// Train prompts (id, text) and held-out prompt texts.
type SplitPrompts = (Vec<(PromptId, String)>, Vec<String>);

/// Train and held-out prompt texts (held-out ones never trained on).
fn split_prompts(store: &Store, cfg: &ImproveConfig) -> anyhow::Result<SplitPrompts> {
    let mut train = Vec::new();
    let mut eval = Vec::new();
    store.for_each_prompt(|p, _| {
        if p.gold.is_some() {
            return Ok(());
        }
        let text = p.body.as_plain_text();
        if is_eval_prompt(&p.body.content_hash(), 0, cfg.eval_fraction) {
            eval.push(text);
        } else {
            train.push((p.id, text));
        }
        Ok(())
    })?;
    if cfg.max_prompts > 0 && train.len() > cfg.max_prompts {
        crate::domain::shuffle(&mut train, cfg.train.seed);
        train.truncate(cfg.max_prompts);
    }
    eval.truncate(cfg.eval_prompts);
    Ok((train, eval))
}

/// Samples held-out prompts (2 answers each, a fixed seed) and scores them with the RM.
fn heldout(
    decoder: &Decoder,
    codec: &PolicyCodec,
    scorer: &Scorer,
    prompts: &[String],
    cfg: &ImproveConfig,
    cancel: &CancelToken,
) -> anyhow::Result<(Sampled, Vec<f64>)> {
    let gen = GenConfig {
        seed: cfg.gen.seed ^ 0x5EED,
        ..cfg.gen.clone()
    };
    let sampled = sample_prompts(decoder, codec, prompts, 2, &gen, &mut |_| {}, cancel)?;
    let (_, scores) = sampled.score(codec, scorer, prompts)?;
    Ok((sampled, scores))
}

#[allow(clippy::too_many_arguments)]
fn improve_round(
    store: &mut Store,
    db_path: &Path,
    cfg: &ImproveConfig,
    run_id: i64,
    round: i64,
    loaded: LoadedPolicy,
    scorer: &Scorer,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
    resume: Option<&Path>,
) -> anyhow::Result<PolicySummary> {
    let device = Device::Cpu;
    let codec = loaded.codec.clone();
    let (train_prompts, eval_prompts) = split_prompts(store, cfg)?;
    if train_prompts.is_empty() {
        anyhow::bail!("no prompts to train on; import prompts first");
    }
    let phase =
        |store: &mut Store, name: &str, emit: &mut dyn FnMut(PolicyEvent)| -> anyhow::Result<()> {
            store.set_run_message(run_id, name)?;
            emit(PolicyEvent::Phase { phase: name.into() });
            Ok(())
        };
    phase(store, "sampling held-out prompts (before)", emit)?;
    let decoder = Decoder::from_policy(&loaded.policy)?;
    let (sampled_before, before) = heldout(&decoder, &codec, scorer, &eval_prompts, cfg, cancel)?;
    let len_before = sampled_before.mean_length();

    // The round's training data.
    phase(store, "sampling", emit)?;
    let texts: Vec<String> = train_prompts.iter().map(|p| p.1.clone()).collect();
    let mut seqs: Vec<(Vec<u32>, usize)> = Vec::new();
    let mut sample_rewards = Vec::new();
    if cfg.method != Method::Rloo {
        let sampled = sample_prompts(
            &decoder,
            &codec,
            &texts,
            cfg.n.max(2),
            &cfg.gen,
            emit,
            cancel,
        )?;
        phase(store, "scoring", emit)?;
        let (answers, scores) = sampled.score(&codec, scorer, &texts)?;
        sample_rewards = scores.clone();
        seqs = round_sequences(
            cfg.method,
            &codec,
            &texts,
            &sampled.samples,
            &answers,
            &scores,
            cfg.max_response_tokens,
        )?;
        if cfg.method == Method::Dpo && cfg.use_human_pairs {
            let prompt_ids: HashMap<PromptId, usize> = train_prompts
                .iter()
                .enumerate()
                .map(|(k, p)| (p.0, k))
                .collect();
            let (pairs, _) = store.preference_pairs(&RankingFilter::default())?;
            for p in pairs {
                let Some(&k) = prompt_ids.get(&p.prompt_id) else {
                    continue;
                };
                let (Some(c), Some(r)) = (store.candidate(p.chosen)?, store.candidate(p.rejected)?)
                else {
                    continue;
                };
                seqs.push(codec.sequence(&texts[k], &c.text, cfg.max_response_tokens)?);
                seqs.push(codec.sequence(&texts[k], &r.text, cfg.max_response_tokens)?);
            }
        }
        store.add_metrics(
            run_id,
            &[
                (0, "sample_reward", mean(&scores)),
                (0, "sample_entropy", sampled.mean_entropy()),
                (0, "response_len", sampled.mean_length()),
            ],
        )?;
    }

    // The starting policy's sampling copy is not needed while training (a 135M model is
    // about 0.6 GB per copy).
    drop(decoder);
    phase(store, "training", emit)?;
    let batch = cfg.batch.max(1);
    let total = match cfg.method {
        Method::Bon => (seqs.len().div_ceil(batch) * cfg.epochs) as u64,
        Method::Dpo => ((seqs.len() / 2).div_ceil(batch) * cfg.epochs) as u64,
        Method::Rloo => cfg.rloo_steps as u64,
    };
    let start = loaded.policy;
    let policy = match cfg.lora {
        // The frozen base shares the starting weights' storage: no copy.
        Some(lora) => Policy::with_lora(
            &start.config,
            start.merged_weights()?,
            lora,
            cfg.train.seed,
            &device,
        )?,
        None => start,
    };
    let mut trainer = PolicyTrainer::new(policy, cfg.train.clone(), total)?;
    if let Some(dir) = resume {
        restore_trainer(&mut trainer, dir)?;
    }
    store.add_metrics(run_id, &[(0, "total_steps", total as f64)])?;
    let meta_at = |trainer: &PolicyTrainer, metrics: serde_json::Value| PolicyMeta {
        kind: POLICY_KIND.into(),
        config: trainer.policy.config.clone(),
        method: cfg.method.as_str().into(),
        run_id,
        round,
        step: trainer.step,
        train: cfg.train.clone(),
        metrics,
        format: codec.format.clone(),
    };
    // Periodic checkpoints; each replaces the previous one once it is safely written.
    let mut last_ckpt: Option<(i64, String)> = None;
    let mut on_step = |store: &mut Store, t: &PolicyTrainer| -> anyhow::Result<()> {
        let every = cfg.checkpoint_every;
        if every == 0 || !t.step.is_multiple_of(every) || t.step >= total {
            return Ok(());
        }
        let meta = meta_at(t, serde_json::json!({ "partial": true }));
        let (id, path) = checkpoint_policy(store, db_path, t, &codec, &meta)?;
        if let Some((old_id, old_path)) = last_ckpt.replace((id, path.clone())) {
            if old_path != path {
                let _ = std::fs::remove_dir_all(&old_path);
                store.mark_checkpoint_deleted(old_id)?;
            }
        }
        Ok(())
    };
    emit(PolicyEvent::Started {
        run_id,
        kind: cfg.method.as_str().into(),
        round,
        total_steps: total,
    });
    let status = match cfg.method {
        Method::Bon => train_epochs(
            store,
            run_id,
            &mut trainer,
            &seqs,
            batch,
            cfg.epochs,
            emit,
            cancel,
            Step::Sft,
            &mut on_step,
        )?,
        Method::Dpo => {
            if seqs.is_empty() {
                anyhow::bail!("no preference pairs: the reward model scored every sample of every prompt the same");
            }
            train_epochs(
                store,
                run_id,
                &mut trainer,
                &seqs,
                batch,
                cfg.epochs,
                emit,
                cancel,
                Step::Dpo,
                &mut on_step,
            )?
        }
        Method::Rloo => rloo(
            store,
            run_id,
            &mut trainer,
            &codec,
            scorer,
            &texts,
            cfg,
            emit,
            cancel,
            &mut sample_rewards,
            &mut on_step,
        )?,
    };

    // A cancel during sampling leaves no data to train on: the round is cancelled, not done.
    let status = if cancel.is_cancelled() {
        RunStatus::Cancelled
    } else {
        status
    };
    phase(store, "sampling held-out prompts (after)", emit)?;
    let decoder = Decoder::from_policy(&trainer.policy)?;
    let (sampled_after, after) = heldout(&decoder, &codec, scorer, &eval_prompts, cfg, cancel)?;
    let len_after = sampled_after.mean_length();
    // KL(pi || ref) estimated on the new policy's own held-out samples.
    let seqs_after = sampled_after.sequences();
    let mut kl_sum = 0f64;
    for chunk in seqs_after.chunks(16) {
        let rows: Vec<(&[u32], usize)> = chunk.iter().map(|s| (s.0.as_slice(), s.1)).collect();
        let b = SeqBatch::new(&rows, codec.pad, &device)?;
        let p: Vec<f32> = trainer.policy.sequence_logps(&b)?.detach().to_vec1()?;
        let r: Vec<f32> = trainer.reference.sequence_logps(&b)?.to_vec1()?;
        kl_sum += p.iter().zip(&r).map(|(a, b)| (a - b) as f64).sum::<f64>();
    }
    let report = RoundReport {
        before_mean: mean(&before),
        after_mean: mean(&after),
        kl: kl_sum / seqs_after.len().max(1) as f64,
        length_before: len_before,
        length_after: len_after,
        before,
        after,
    };
    let mut points: Vec<(i64, &str, f64)> = vec![
        (0, "heldout_kl", report.kl),
        (0, "heldout_reward_before_mean", report.before_mean),
        (0, "heldout_reward_after_mean", report.after_mean),
        (0, "heldout_len_before", report.length_before),
        (0, "heldout_len_after", report.length_after),
    ];
    points.extend(
        report
            .before
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, "heldout_reward_before", *v)),
    );
    points.extend(
        report
            .after
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, "heldout_reward_after", *v)),
    );
    store.add_metrics(run_id, &points)?;
    emit(PolicyEvent::Round(report.clone()));
    let meta = meta_at(
        &trainer,
        serde_json::json!({
            "heldout_reward_before": report.before_mean,
            "heldout_reward_after": report.after_mean,
            "heldout_kl": report.kl,
            "sample_reward": mean(&sample_rewards),
        }),
    );
    let (id, path) = checkpoint_policy(store, db_path, &trainer, &codec, &meta)?;
    if let Some((old_id, old_path)) = last_ckpt {
        if old_path != path {
            let _ = std::fs::remove_dir_all(&old_path);
            store.mark_checkpoint_deleted(old_id)?;
        }
    }
    Ok(PolicySummary {
        run_id,
        status,
        checkpoint_id: Some(id),
        checkpoint_path: Some(path),
        steps: trainer.step,
        seconds: 0.0,
        message: (status == RunStatus::Cancelled).then(|| "cancelled".to_string()),
        round: Some(report),
    })
}

#[allow(clippy::too_many_arguments)]
fn rloo(
    store: &mut Store,
    run_id: i64,
    trainer: &mut PolicyTrainer,
    codec: &PolicyCodec,
    scorer: &Scorer,
    texts: &[String],
    cfg: &ImproveConfig,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
    rewards: &mut Vec<f64>,
    on_step: &mut OnStep,
) -> anyhow::Result<RunStatus> {
    let device = Device::Cpu;
    let k = cfg.n.max(2);
    let prompts_per_step = (cfg.batch / k).max(1);
    let mut order: Vec<usize> = (0..texts.len()).collect();
    crate::domain::shuffle(&mut order, cfg.train.seed);
    // Each step samples with a seed of its own: a resumed run starts at its step.
    for step in trainer.step as usize..cfg.rloo_steps {
        if cancel.is_cancelled() {
            return Ok(RunStatus::Cancelled);
        }
        let picked: Vec<String> = (0..prompts_per_step)
            .map(|j| texts[order[(step * prompts_per_step + j) % order.len()]].clone())
            .collect();
        let decoder = Decoder::from_policy(&trainer.policy)?;
        let gen = GenConfig {
            seed: cfg.gen.seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9),
            ..cfg.gen.clone()
        };
        let sampled = sample_prompts(&decoder, codec, &picked, k, &gen, &mut |_| {}, cancel)?;
        let (_, scores) = sampled.score(codec, scorer, &picked)?;
        rewards.extend(&scores);
        let seqs = sampled.sequences();
        let rows: Vec<(&[u32], usize)> = seqs.iter().map(|s| (s.0.as_slice(), s.1)).collect();
        let b = SeqBatch::new(&rows, codec.pad, &device)?;
        let m = trainer.rloo_step(&b, k, &scores)?;
        store_step(store, run_id, &m)?;
        store.add_metrics(
            run_id,
            &[
                (m.step as i64, "entropy", sampled.mean_entropy()),
                (m.step as i64, "response_len", sampled.mean_length()),
            ],
        )?;
        emit(PolicyEvent::Step(m));
        on_step(store, trainer)?;
    }
    Ok(RunStatus::Done)
}

/// Loads a round's checkpoint into a trainer built on the round's starting policy (which
/// stays the frozen reference): weights, optimizer moments and the step count.
fn restore_trainer(trainer: &mut PolicyTrainer, dir: &Path) -> anyhow::Result<()> {
    let meta: PolicyMeta = read_json(&dir.join("config.json"))?;
    let weights_path = dir.join("model.safetensors");
    let weights = read_weights(&weights_path, &Device::Cpu)?;
    for (name, var) in trainer.policy.trainable() {
        let t = weights
            .get(&name)
            .ok_or_else(|| file_err(&weights_path, format!("missing weight {name}")))?;
        var.set(t).map_err(|e| file_err(&weights_path, e))?;
    }
    let opt = dir.join("optimizer.safetensors");
    trainer
        .opt
        .load(&opt, meta.step)
        .map_err(|e| file_err(&opt, e))?;
    trainer.step = meta.step;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> PolicyCodec {
        let texts = (0..50).map(|i| format!("the cat sat on mat {i} and the dog ran far"));
        let tok = tokenizer::train_bpe(texts, 300).unwrap();
        PolicyCodec::new(tok, 64, PromptFormat::default()).unwrap()
    }

    fn sample(stopped: bool) -> Sample {
        Sample {
            tokens: vec![],
            stopped,
            mean_entropy: 0.0,
        }
    }

    #[test]
    fn best_of_n_takes_the_best_sample_and_no_end_marker_the_model_did_not_write() {
        let c = codec();
        let texts = vec!["the cat".to_string(), "the dog".to_string()];
        // Prompt 0: the best sample was cut at the cap; prompt 1: the best one stopped.
        let samples = vec![
            (0, sample(true)),
            (0, sample(false)),
            (1, sample(true)),
            (1, sample(false)),
        ];
        let answers: Vec<String> = ["sat", "ran far", "sat on mat", "ran"]
            .map(String::from)
            .to_vec();
        let scores = [0.1, 0.9, 0.8, 0.2];
        let seqs =
            round_sequences(Method::Bon, &c, &texts, &samples, &answers, &scores, 32).unwrap();
        assert_eq!(seqs.len(), 2);
        let (cut, cut_prompt) = &seqs[0];
        assert_ne!(
            *cut.last().unwrap(),
            c.eos,
            "a cut sample must not end with EOS"
        );
        assert_eq!(c.text(&cut[*cut_prompt..]), "ran far");
        let (done, done_prompt) = &seqs[1];
        assert_eq!(*done.last().unwrap(), c.eos);
        assert_eq!(c.text(&done[*done_prompt..]), "sat on mat");
    }

    #[test]
    fn dpo_pairs_best_with_worst_and_skips_prompts_without_a_preference() {
        let c = codec();
        let texts = vec!["the cat".to_string(), "the dog".to_string()];
        let samples = vec![
            (0, sample(true)),
            (0, sample(true)),
            (0, sample(true)),
            (1, sample(true)),
            (1, sample(true)),
        ];
        let answers: Vec<String> = ["sat", "ran", "mat", "far", "far"]
            .map(String::from)
            .to_vec();
        let scores = [0.5, -1.0, 2.0, 0.3, 0.1];
        let seqs =
            round_sequences(Method::Dpo, &c, &texts, &samples, &answers, &scores, 32).unwrap();
        // Prompt 1's two samples are the same text: no pair.
        assert_eq!(seqs.len(), 2);
        assert_eq!(c.text(&seqs[0].0[seqs[0].1..]), "mat");
        assert_eq!(c.text(&seqs[1].0[seqs[1].1..]), "ran");
    }
}
