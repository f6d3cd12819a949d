//! The reward-model training job: loads live rankings from the store, splits them by prompt,
//! tokenises, trains on its own thread, writes every metric to the DB, checkpoints atomically,
//! and obeys a cancel token within one step. Headless from the CLI, or driven by the TUI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{is_eval_prompt, Candidate, PromptId, RankingMode, Verdict};
use crate::ml::checkpoint::{self, CheckpointMeta};
use crate::ml::models::config::ModelConfig;
use crate::ml::models::reward::RewardModel;
use crate::ml::text::tokenizer::{self, PairEncoder};
use crate::ml::training::reward::{
    score_heads, Comparison, EvalMetrics, StepMetrics, TrainConfig, TrainData, Trainer,
};
use crate::store::{RankingFilter, RunStatus, Store};

/// Cancels a job from another thread; checked once per step.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

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

const RM_PRESETS: &str = include_str!("../../assets/rm_presets.toml");

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
        }
    }
}

/// What a running job reports, in order.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RmEvent {
    Started {
        run_id: i64,
        total_steps: u64,
        train_pairs: usize,
        eval_pairs: usize,
        train_rankings: usize,
        eval_rankings: usize,
    },
    Step(StepMetrics),
    Eval(EvalMetrics),
    Checkpoint {
        checkpoint_id: i64,
        step: u64,
        path: String,
        /// The best so far by held-out accuracy (ties: lower held-out loss).
        best: bool,
    },
    Done(RmSummary),
}

#[derive(Debug, Clone, Serialize)]
pub struct RmSummary {
    pub run_id: i64,
    pub status: RunStatus,
    /// The newest checkpoint (with the optimizer state `--resume` continues from).
    pub checkpoint_id: Option<i64>,
    pub checkpoint_path: Option<String>,
    /// The best checkpoint by held-out accuracy: what `score`, `improve` and the app use.
    pub best: Option<BestCheckpoint>,
    pub eval_accuracy: Option<f64>,
    pub eval_loss: Option<f64>,
    pub steps: u64,
    pub seconds: f64,
    pub message: Option<String>,
}

/// The checkpoint a run keeps as its model, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BestCheckpoint {
    pub checkpoint_id: i64,
    pub path: String,
    pub step: u64,
    pub eval_accuracy: f64,
    pub eval_loss: f64,
}

impl BestCheckpoint {
    /// Higher held-out accuracy wins; at equal accuracy, lower held-out loss.
    pub fn beaten_by(&self, e: &EvalMetrics) -> bool {
        e.accuracy > self.eval_accuracy
            || (e.accuracy == self.eval_accuracy && e.loss < self.eval_loss)
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

/// Where a DB's checkpoints live: `kibble.db` -> `kibble.runs/`.
pub fn runs_dir(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kibble".into());
    db.with_file_name(format!("{stem}.runs"))
}

/// The criterion a run learns: the one it names, else the task's first.
pub fn criterion_of(store: &Store, cfg: &RmJobConfig) -> anyhow::Result<String> {
    let (_, task) = store.task()?;
    let picked = task
        .pick(cfg.criterion.as_deref())
        .map_err(anyhow::Error::msg)?;
    Ok(picked.name.clone())
}

/// The criteria a run learns, one per head: `criteria` (with `all` as every criterion of the
/// task), else the one `criterion_of` picks.
pub fn heads_of(store: &Store, cfg: &RmJobConfig) -> anyhow::Result<Vec<String>> {
    if cfg.criteria.is_empty() {
        return Ok(vec![criterion_of(store, cfg)?]);
    }
    if cfg.criterion.is_some() {
        anyhow::bail!("use either --criterion NAME (one head) or --criteria (one head each)");
    }
    let (_, task) = store.task()?;
    if cfg.criteria.iter().any(|c| c == "all") {
        return Ok(task.criteria.iter().map(|c| c.name.clone()).collect());
    }
    let mut out: Vec<String> = Vec::new();
    for name in &cfg.criteria {
        let c = task.pick(Some(name)).map_err(anyhow::Error::msg)?;
        if out.contains(&c.name) {
            anyhow::bail!("--criteria names {name:?} twice");
        }
        out.push(c.name.clone());
    }
    Ok(out)
}

/// Training data built from the store, with its provenance.
pub struct LoadedData {
    pub data: TrainData,
    pub texts: Vec<String>,
    pub ranking_ids: Vec<(i64, bool)>,
    pub data_hash: String,
}

/// Turns live rankings into sequences and comparisons; prompts go wholly to train or eval.
/// With `only`, exactly those rankings are used (resume), whatever else the DB now holds.
pub fn load_data(
    store: &Store,
    encoder: Option<&PairEncoder>,
    cfg: &RmJobConfig,
    only: Option<&[(i64, bool)]>,
) -> anyhow::Result<LoadedData> {
    let heads = heads_of(store, cfg)?;
    let mut rankings = Vec::new();
    for (head, criterion) in heads.iter().enumerate() {
        let filter = RankingFilter {
            annotator: cfg.annotator.clone(),
            prompt_id: None,
            criterion: Some(criterion.clone()),
        };
        rankings.extend(
            store
                .live_rankings(&filter)?
                .into_iter()
                .filter(|r| r.verdict == Verdict::Rank)
                .map(|r| (head, r)),
        );
    }
    let forced: Option<HashMap<i64, bool>> = only.map(|o| o.iter().copied().collect());
    if let Some(f) = &forced {
        rankings.retain(|(_, r)| f.contains_key(&r.id));
    }
    let mut prompts: HashMap<PromptId, (String, Vec<Candidate>, bool)> = HashMap::new();
    let mut seq_index: HashMap<(PromptId, i64), usize> = HashMap::new();
    let mut data = TrainData::default();
    let mut texts = Vec::new();
    let mut ids = Vec::new();
    let mut hasher = Sha256::new();
    for (head, r) in &rankings {
        if !prompts.contains_key(&r.prompt_id) {
            let p = store
                .prompt(r.prompt_id)?
                .ok_or_else(|| anyhow::anyhow!("ranking {} names a missing prompt", r.id))?;
            let eval = is_eval_prompt(&store.prompt_hash(p.id)?, cfg.train.seed, cfg.eval_fraction);
            prompts.insert(
                p.id,
                (p.body.as_plain_text(), store.candidates(p.id)?, eval),
            );
        }
        let (prompt_text, cands, prompt_eval) = &prompts[&r.prompt_id];
        let eval = forced.as_ref().map_or(*prompt_eval, |f| f[&r.id]);
        let mut seq_of = |cid: i64| -> anyhow::Result<usize> {
            if let Some(&i) = seq_index.get(&(r.prompt_id, cid)) {
                return Ok(i);
            }
            let text = &cands
                .iter()
                .find(|c| c.id == cid)
                .ok_or_else(|| anyhow::anyhow!("ranking {} names a missing candidate {cid}", r.id))?
                .text;
            texts.push(text.clone());
            let enc = match encoder {
                Some(e) => e.encode(prompt_text, text)?,
                None => Default::default(),
            };
            data.seqs.push(enc);
            seq_index.insert((r.prompt_id, cid), data.seqs.len() - 1);
            Ok(data.seqs.len() - 1)
        };
        let (pairs, ties) = r.pairs();
        let comparison = Comparison {
            pairs: pairs
                .iter()
                .map(|p| Ok((seq_of(p.chosen)?, seq_of(p.rejected)?)))
                .collect::<anyhow::Result<_>>()?,
            ties: ties
                .iter()
                .map(|t| Ok((seq_of(t.a)?, seq_of(t.b)?)))
                .collect::<anyhow::Result<_>>()?,
            groups: if r.mode == RankingMode::Full {
                Some(
                    r.groups
                        .iter()
                        .map(|g| g.iter().map(|&c| seq_of(c)).collect::<anyhow::Result<_>>())
                        .collect::<anyhow::Result<_>>()?,
                )
            } else {
                None
            },
            margin: r.strength.unwrap_or(0.0) as f32,
            pair_margins: (!r.points.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|p| p.margin.unwrap_or(0.0) as f32)
                    .collect()
            }),
            head: *head,
        };
        if heads.len() > 1 {
            hasher.update(heads[*head].as_bytes());
        }
        hasher.update(r.id.to_le_bytes());
        hasher.update(serde_json::to_vec(&r.groups)?);
        ids.push((r.id, eval));
        if eval {
            data.eval.push(comparison);
        } else {
            data.train.push(comparison);
        }
    }
    for (text, _, _) in prompts.values() {
        texts.push(text.clone());
    }
    // A decision judged on several criteria is one ranking of the run.
    let mut seen = std::collections::HashSet::new();
    ids.retain(|(id, _)| seen.insert(*id));
    let digest = hasher.finalize();
    Ok(LoadedData {
        data,
        texts,
        ranking_ids: ids,
        data_hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

/// Model and encoder for a new run: pretrained backbone, or `tiny` with a BPE trained on the DB.
fn new_model(
    store: &Store,
    cfg: &RmJobConfig,
    device: &Device,
) -> anyhow::Result<(RewardModel, PairEncoder)> {
    let heads = cfg.criteria.len().max(1);
    if let Some(dir) = &cfg.backbone {
        return Ok(checkpoint::load_backbone(
            dir,
            cfg.freeze_backbone,
            cfg.max_len,
            heads,
            cfg.train.seed,
            device,
        )?);
    }
    let mut corpus = Vec::new();
    store.for_each_prompt(|p, cands| {
        corpus.push(p.body.as_plain_text());
        corpus.extend(cands.iter().map(|c| c.text.clone()));
        Ok(())
    })?;
    let tok = tokenizer::train_bpe(corpus.into_iter(), cfg.vocab_size)?;
    let vocab = tok.get_vocab_size(true);
    let encoder = PairEncoder::for_bpe(tok, cfg.max_len)?;
    let mut mc = ModelConfig::tiny(vocab);
    mc.max_len = cfg.max_len;
    mc.n_outputs = heads;
    Ok((RewardModel::new(&mc, cfg.train.seed, device)?, encoder))
}

/// Mean and std of each head's rewards over (a sample of) the train split's sequences.
fn reward_stats(
    trainer: &Trainer,
    data_seqs: &[crate::ml::text::tokenizer::Encoded],
    pad: u32,
    device: &Device,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let heads = trainer.model.config.n_outputs;
    let step = (data_seqs.len() / 512).max(1);
    let sample: Vec<_> = data_seqs.iter().step_by(step).collect();
    if sample.is_empty() {
        return Ok(vec![(0.0, 1.0); heads]);
    }
    let rows = score_heads(&trainer.model, &sample, pad, 64, device)?;
    let n = rows.len() as f64;
    Ok((0..heads)
        .map(|h| {
            let mean = rows.iter().map(|r| r[h] as f64).sum::<f64>() / n;
            let var = rows
                .iter()
                .map(|r| (r[h] as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean, var.sqrt().max(1e-6))
        })
        .collect())
}

/// Runs a whole training job in this thread. `resume` continues a run from its last checkpoint.
pub fn run(
    store: &mut Store,
    db_path: &Path,
    cfg: &RmJobConfig,
    resume: Option<i64>,
    created_by: &str,
    emit: &mut dyn FnMut(RmEvent),
    cancel: &CancelToken,
) -> anyhow::Result<RmSummary> {
    let device = Device::Cpu;
    let started = Instant::now();
    let (model, encoder, cfg, run_id, only, start_step, opt_state) = match resume {
        None => {
            let mut cfg = cfg.clone();
            if !cfg.criteria.is_empty() {
                // The run records the criteria its heads learnt, by name, in head order.
                cfg.criteria = heads_of(store, &cfg)?;
            }
            let (model, encoder) = new_model(store, &cfg, &device)?;
            let run_id = store.create_run("rm", &serde_json::to_value(&cfg)?, created_by)?;
            (model, encoder, cfg, run_id, None, 0, None)
        }
        Some(run_id) => {
            let ck = store
                .checkpoints(Some(run_id))?
                .into_iter()
                .last()
                .ok_or_else(|| anyhow::anyhow!("run {run_id} has no checkpoint to resume from"))?;
            let loaded = checkpoint::load(Path::new(&ck.path), &device)?;
            let run = store
                .run(run_id)?
                .ok_or_else(|| anyhow::anyhow!("no run {run_id}"))?;
            let cfg: RmJobConfig = serde_json::from_value(run.config)?;
            let only = store.run_rankings(run_id)?;
            store.reopen_run(run_id)?;
            let opt = Path::new(&ck.path).join("optimizer.safetensors");
            (
                loaded.model,
                loaded.encoder,
                cfg,
                run_id,
                Some(only),
                loaded.meta.step,
                Some(opt),
            )
        }
    };
    let result = train_loop(
        store, db_path, &cfg, &device, model, encoder, run_id, only, start_step, opt_state, emit,
        cancel,
    );
    let summary = match result {
        Ok(mut s) => {
            s.seconds = started.elapsed().as_secs_f64();
            store.finish_run(run_id, s.status, s.message.as_deref())?;
            s
        }
        Err(e) => {
            let msg = format!("{e:#}");
            store.finish_run(run_id, RunStatus::Failed, Some(&msg))?;
            RmSummary {
                run_id,
                status: RunStatus::Failed,
                checkpoint_id: store.checkpoints(Some(run_id))?.last().map(|c| c.id),
                checkpoint_path: store
                    .checkpoints(Some(run_id))?
                    .last()
                    .map(|c| c.path.clone()),
                best: None,
                eval_accuracy: None,
                eval_loss: None,
                steps: 0,
                seconds: started.elapsed().as_secs_f64(),
                message: Some(msg),
            }
        }
    };
    emit(RmEvent::Done(summary.clone()));
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn train_loop(
    store: &mut Store,
    db_path: &Path,
    cfg: &RmJobConfig,
    device: &Device,
    model: RewardModel,
    encoder: PairEncoder,
    run_id: i64,
    only: Option<Vec<(i64, bool)>>,
    start_step: u64,
    opt_state: Option<PathBuf>,
    emit: &mut dyn FnMut(RmEvent),
    cancel: &CancelToken,
) -> anyhow::Result<RmSummary> {
    let loaded = load_data(store, Some(&encoder), cfg, only.as_deref())?;
    if loaded.data.train.is_empty() {
        anyhow::bail!(
            "no rankings to train on ({} live rankings found); rank some prompts or import preference pairs first",
            loaded.ranking_ids.len()
        );
    }
    if only.is_none() {
        store.add_run_rankings(run_id, &loaded.ranking_ids)?;
    }
    let seqs = loaded.data.seqs.clone();
    let train_rankings = loaded.data.train.len();
    let eval_rankings = loaded.data.eval.len();
    let mut train_cfg = cfg.train.clone();
    if let Some(auto) = cfg.auto_epochs {
        let pairs: usize = loaded.data.train.iter().map(|c| c.pairs.len()).sum();
        train_cfg.epochs = auto_epochs(pairs, auto.target_pairs, auto.max_epochs);
    }
    let mut trainer = Trainer::new(
        model,
        train_cfg.clone(),
        loaded.data,
        encoder.pad_id,
        device,
    )?;
    store.add_metrics(run_id, &[(0, "epochs", train_cfg.epochs as f64)])?;
    if let Some(path) = opt_state {
        trainer.opt.load(&path, start_step)?;
        trainer.step = start_step;
    }
    store.add_metrics(run_id, &[(0, "total_steps", trainer.total_steps() as f64)])?;
    emit(RmEvent::Started {
        run_id,
        total_steps: trainer.total_steps(),
        train_pairs: trainer.train_pair_count(),
        eval_pairs: trainer.eval_pair_count(),
        train_rankings,
        eval_rankings,
    });
    let run_dir = runs_dir(db_path).join(format!("run-{run_id}"));
    let mut last_eval: Option<EvalMetrics> = None;
    let mut last_ckpt: Option<(i64, String)> = store
        .checkpoints(Some(run_id))?
        .last()
        .map(|c| (c.id, c.path.clone()));
    let mut best: Option<BestCheckpoint> = store.best_checkpoint(run_id)?.and_then(|c| {
        Some(BestCheckpoint {
            checkpoint_id: c.id,
            step: c.step as u64,
            eval_accuracy: c.metrics.get("eval_accuracy")?.as_f64()?,
            eval_loss: c.metrics.get("eval_loss")?.as_f64()?,
            path: c.path,
        })
    });
    // Evaluations since the best one (a resumed run counts from its own checkpoints).
    let mut since_best = 0usize;
    let mut status = RunStatus::Done;
    let mut message = None;
    while !trainer.done() {
        if cancel.is_cancelled() {
            status = RunStatus::Cancelled;
            message = Some("cancelled".to_string());
            break;
        }
        let m = match trainer.train_step() {
            Ok(m) => m,
            Err(e) => {
                // Keep the last good checkpoint; the run is marked failed with the reason.
                anyhow::bail!("{e}");
            }
        };
        store.add_metrics(
            run_id,
            &[
                (m.step as i64, "loss", m.loss),
                (m.step as i64, "accuracy", m.accuracy),
                (m.step as i64, "chosen_reward", m.chosen_reward),
                (m.step as i64, "rejected_reward", m.rejected_reward),
                (m.step as i64, "margin", m.margin),
                (m.step as i64, "grad_norm", m.grad_norm),
                (m.step as i64, "lr", m.lr),
                (m.step as i64, "pairs_per_s", m.pairs_per_s),
                (m.step as i64, "epoch", m.epoch as f64),
            ],
        )?;
        emit(RmEvent::Step(m));
        if trainer.eval_due() || trainer.done() {
            let e = trainer.evaluate()?;
            if e.pairs > 0 {
                let mut rows = vec![
                    (e.step as i64, "eval_loss".to_string(), e.loss),
                    (e.step as i64, "eval_accuracy".to_string(), e.accuracy),
                ];
                if cfg.criteria.len() > 1 {
                    for (name, acc) in cfg.criteria.iter().zip(&e.head_accuracy) {
                        if acc.is_finite() {
                            rows.push((e.step as i64, format!("eval_accuracy.{name}"), *acc));
                        }
                    }
                }
                let rows: Vec<(i64, &str, f64)> =
                    rows.iter().map(|(s, n, v)| (*s, n.as_str(), *v)).collect();
                store.add_metrics(run_id, &rows)?;
                emit(RmEvent::Eval(e.clone()));
                last_eval = Some(e);
            }
            let improved = match (&best, &last_eval) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(b), Some(e)) => e.step == trainer.step && b.beaten_by(e),
            };
            let stats = reward_stats(&trainer, &seqs, encoder.pad_id, device)?;
            let (mean, std) = stats[0];
            let by_criterion: serde_json::Map<String, serde_json::Value> = match &last_eval {
                Some(e) if cfg.criteria.len() > 1 => cfg
                    .criteria
                    .iter()
                    .zip(&e.head_accuracy)
                    .filter(|(_, a)| a.is_finite())
                    .map(|(n, a)| (n.clone(), (*a).into()))
                    .collect(),
                _ => Default::default(),
            };
            let mut meta = CheckpointMeta {
                kind: checkpoint::KIND.into(),
                model: trainer.model.config.clone(),
                train: train_cfg.clone(),
                step: trainer.step,
                max_len: cfg.max_len,
                reward_mean: mean,
                reward_std: std,
                heads: if cfg.criteria.is_empty() {
                    Vec::new()
                } else {
                    cfg.criteria.clone()
                },
                head_stats: if cfg.criteria.is_empty() {
                    Vec::new()
                } else {
                    stats
                },
                ranking_ids: loaded.ranking_ids.iter().map(|r| r.0).collect(),
                data_hash: loaded.data_hash.clone(),
                metrics: serde_json::json!({
                    "eval_accuracy": last_eval.as_ref().map(|e| e.accuracy),
                    "eval_loss": last_eval.as_ref().map(|e| e.loss),
                    "train_loss": m.loss,
                }),
            };
            if !by_criterion.is_empty() {
                meta.metrics["eval_accuracy_by_criterion"] = by_criterion.into();
            }
            let dir = run_dir.join(format!("step-{}", trainer.step));
            checkpoint::save(&dir, &trainer.model, &encoder, &meta, Some(&trainer.opt))?;
            let path = dir.display().to_string();
            let id = store.add_checkpoint(run_id, trainer.step as i64, &path, &meta.metrics)?;
            if improved {
                let e = last_eval.as_ref().expect("improved means evaluated");
                store.set_best_checkpoint(run_id, id)?;
                let old = best.replace(BestCheckpoint {
                    checkpoint_id: id,
                    path: path.clone(),
                    step: trainer.step,
                    eval_accuracy: e.accuracy,
                    eval_loss: e.loss,
                });
                since_best = 0;
                // The previous best goes unless it is also the newest (handled below).
                if let Some(old) =
                    old.filter(|o| last_ckpt.as_ref().is_none_or(|l| l.0 != o.checkpoint_id))
                {
                    let _ = std::fs::remove_dir_all(&old.path);
                    store.mark_checkpoint_deleted(old.checkpoint_id)?;
                }
            } else if last_eval.is_some() {
                since_best += 1;
            }
            // The newest and the best keep their files; an older newest goes once this is safe.
            if let Some((old_id, old_path)) = last_ckpt.replace((id, path.clone())) {
                let is_best = best.as_ref().is_some_and(|b| b.checkpoint_id == old_id);
                if old_path != path && !is_best {
                    let _ = std::fs::remove_dir_all(&old_path);
                    store.mark_checkpoint_deleted(old_id)?;
                }
            }
            emit(RmEvent::Checkpoint {
                checkpoint_id: id,
                step: trainer.step,
                path,
                best: improved,
            });
            let patience = train_cfg.patience;
            if patience > 0 && since_best >= patience && !trainer.done() {
                message = Some(format!(
                    "stopped early at step {}: held-out accuracy has not improved for {patience} evaluations (best at step {})",
                    trainer.step,
                    best.as_ref().map_or(0, |b| b.step)
                ));
                break;
            }
        }
    }
    Ok(RmSummary {
        run_id,
        status,
        checkpoint_id: last_ckpt.as_ref().map(|c| c.0),
        checkpoint_path: last_ckpt.map(|c| c.1),
        best,
        eval_accuracy: last_eval.as_ref().map(|e| e.accuracy),
        eval_loss: last_eval.as_ref().map(|e| e.loss),
        steps: trainer.step,
        seconds: 0.0,
        message,
    })
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
    fn best_is_higher_accuracy_then_lower_loss() {
        let b = BestCheckpoint {
            checkpoint_id: 1,
            path: String::new(),
            step: 10,
            eval_accuracy: 0.8,
            eval_loss: 0.5,
        };
        let e = |accuracy, loss| EvalMetrics {
            step: 20,
            loss,
            accuracy,
            pairs: 10,
            head_accuracy: vec![],
        };
        assert!(b.beaten_by(&e(0.85, 0.9)));
        assert!(b.beaten_by(&e(0.8, 0.4)));
        assert!(!b.beaten_by(&e(0.8, 0.5)));
        assert!(!b.beaten_by(&e(0.75, 0.1)));
    }

    #[test]
    fn presets_parse_with_auto_epochs() {
        let m = preset("minilm").unwrap();
        assert_eq!(m.backbone.as_deref(), Some(Path::new("models/minilm")));
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
        let t = preset("tiny").unwrap();
        assert!(t.backbone.is_none() && t.auto_epochs.is_some());
        assert!(preset("huge")
            .unwrap_err()
            .contains("presets: minilm, tiny"));
    }
}
