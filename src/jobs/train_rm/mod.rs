//! The reward-model training job: loads live rankings from the store, splits them by prompt,
//! tokenises, trains on its own thread, writes every metric to the DB, checkpoints atomically,
//! and obeys a cancel token within one step. Headless from the CLI, or driven by the TUI.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use serde::Serialize;

use crate::domain::metric;
use crate::jobs::RunCtx;
use crate::ml::checkpoint::{self, CheckpointMeta};
use crate::ml::models::config::ModelConfig;
use crate::ml::models::reward::RewardModel;
use crate::ml::text::tokenizer::{self, PairEncoder};
use crate::ml::training::reward::{score_heads, EvalMetrics, StepMetrics, Trainer};
use crate::store::{RunStatus, Store};

mod config;
mod data;

pub use config::{auto_epochs, preset, preset_names, AutoEpochs, RmJobConfig};
pub use data::{criterion_of, heads_of, load_data, LoadedData};

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

/// Where a DB's checkpoints live: `kibble.db` -> `kibble.runs/`.
pub fn runs_dir(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kibble".into());
    db.with_file_name(format!("{stem}.runs"))
}

/// Model and encoder for a new run: pretrained backbone, or `tiny` with a BPE trained on the DB.
fn new_model(
    store: &Store,
    cfg: &RmJobConfig,
    device: &Device,
) -> anyhow::Result<(RewardModel, PairEncoder)> {
    let heads = cfg.criteria.len().max(1);
    if let Some(dir) = &cfg.backbone {
        let opts = checkpoint::BackboneOptions {
            freeze: cfg.freeze_backbone,
            max_len: cfg.max_len,
            heads,
            seed: cfg.train.seed,
            lora: cfg.lora,
        };
        return Ok(checkpoint::load_backbone(dir, &opts, device)?);
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
    let ctx = RunCtx {
        store: &mut *store,
        db_path,
        run_id,
        emit: &mut *emit,
        cancel,
    };
    let resumed = Resumed {
        only,
        start_step,
        opt_state,
    };
    let result = train_loop(ctx, &cfg, &device, model, encoder, resumed);
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

/// Where a resumed run picks up: its rankings, its step and its optimizer state.
struct Resumed {
    only: Option<Vec<(i64, bool)>>,
    start_step: u64,
    opt_state: Option<PathBuf>,
}

fn train_loop(
    ctx: RunCtx<'_, RmEvent>,
    cfg: &RmJobConfig,
    device: &Device,
    model: RewardModel,
    encoder: PairEncoder,
    resumed: Resumed,
) -> anyhow::Result<RmSummary> {
    let RunCtx {
        store,
        db_path,
        run_id,
        emit,
        cancel,
    } = ctx;
    let Resumed {
        only,
        start_step,
        opt_state,
    } = resumed;
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
    store.add_metrics(run_id, &[(0, metric::EPOCHS, train_cfg.epochs as f64)])?;
    if let Some(path) = opt_state {
        trainer.opt.load(&path, start_step)?;
        trainer.step = start_step;
    }
    store.add_metrics(
        run_id,
        &[(0, metric::TOTAL_STEPS, trainer.total_steps() as f64)],
    )?;
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
            eval_accuracy: c.metrics.get(metric::EVAL_ACCURACY)?.as_f64()?,
            eval_loss: c.metrics.get(metric::EVAL_LOSS)?.as_f64()?,
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
                (m.step as i64, metric::LOSS, m.loss),
                (m.step as i64, metric::ACCURACY, m.accuracy),
                (m.step as i64, metric::CHOSEN_REWARD, m.chosen_reward),
                (m.step as i64, metric::REJECTED_REWARD, m.rejected_reward),
                (m.step as i64, metric::MARGIN, m.margin),
                (m.step as i64, metric::GRAD_NORM, m.grad_norm),
                (m.step as i64, metric::LR, m.lr),
                (m.step as i64, metric::PAIRS_PER_S, m.pairs_per_s),
                (m.step as i64, metric::EPOCH, m.epoch as f64),
            ],
        )?;
        emit(RmEvent::Step(m));
        if trainer.eval_due() || trainer.done() {
            let e = trainer.evaluate()?;
            if e.pairs > 0 {
                let mut rows = vec![
                    (e.step as i64, metric::EVAL_LOSS.to_string(), e.loss),
                    (e.step as i64, metric::EVAL_ACCURACY.to_string(), e.accuracy),
                ];
                if cfg.criteria.len() > 1 {
                    for (name, acc) in cfg.criteria.iter().zip(&e.head_accuracy) {
                        if acc.is_finite() {
                            rows.push((
                                e.step as i64,
                                metric::per_criterion(metric::EVAL_ACCURACY, name),
                                *acc,
                            ));
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
                format: encoder.decoder.as_ref().map(|c| c.format.clone()),
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
}
