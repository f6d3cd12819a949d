//! Policy jobs: the supervised warm-start (`train-policy --sft`), sampling candidates into the
//! labelling queue (`sample`), and improvement rounds (`improve --method bon|dpo|rloo`). Each
//! is a run in the DB with metrics, atomic checkpoints and a cancel token, like the RM job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::domain::{is_eval_prompt, PromptBody, PromptId, Verdict, MAX_CANDIDATES};
use crate::jobs::reward::{Reward, RewardGate, RewardPart};
use crate::jobs::score::{CheckpointRef, Scorer};
use crate::jobs::train_rm::{runs_dir, CancelToken};
use crate::jobs::RunCtx;
use crate::ml::infer::decode::{Decoder, GenConfig, Sample};
use crate::ml::infer::weights::Named;
use crate::ml::model_files::{
    file_err, read_json, read_weights, write_folder_atomically, write_json, CheckpointError,
};
use crate::ml::models::config::PolicyConfig;
use crate::ml::models::llama::LoraConfig;
use crate::ml::models::policy::{Policy, SeqBatch};
use crate::ml::text::chat::PromptFormat;
use crate::ml::text::codec::PolicyCodec;
use crate::ml::text::pretrained::{self, Pretrained};
use crate::ml::text::tokenizer;
use crate::ml::training::optim::AdamW;
use crate::ml::training::policy::{PolicyStep, PolicyTrainConfig, PolicyTrainer};
use crate::store::{RankingFilter, RunStatus, Store};

mod checkpoint;
mod improve;
mod rloo;
mod round;
mod round_config;
mod sample;
mod sft;

use crate::domain::metric;
pub use checkpoint::*;
pub use improve::*;
use rloo::rloo;
pub use round_config::*;
pub use sample::*;
pub use sft::*;

pub const POLICY_KIND: &str = "kibble-policy";
/// Run kinds that hold policy checkpoints.
pub const POLICY_RUN_KINDS: [&str; 4] = ["sft", "bon", "dpo", "rloo"];

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
    /// With a combination of criteria: each one's held-out mean before and after.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<CriterionShift>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CriterionShift {
    pub criterion: String,
    pub before_mean: f64,
    pub after_mean: f64,
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

impl PolicySummary {
    /// A run that ended with checkpoint `id` at `path` after `steps` steps.
    pub(super) fn checkpointed(
        run_id: i64,
        status: RunStatus,
        (id, path): (i64, String),
        steps: u64,
        round: Option<RoundReport>,
    ) -> PolicySummary {
        PolicySummary {
            run_id,
            status,
            checkpoint_id: Some(id),
            checkpoint_path: Some(path),
            steps,
            seconds: 0.0,
            message: (status == RunStatus::Cancelled).then(|| "cancelled".to_string()),
            round,
        }
    }
}

pub(super) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

pub(super) fn store_step(store: &mut Store, run_id: i64, m: &PolicyStep) -> anyhow::Result<()> {
    let s = m.step as i64;
    let mut points = vec![
        (s, metric::LOSS, m.loss),
        (s, metric::KL, m.kl),
        (s, metric::GRAD_NORM, m.grad_norm),
        (s, metric::LR, m.lr),
        (s, metric::TOKENS_PER_S, m.tokens_per_s),
    ];
    // Only the methods that produce them (DPO: margin and accuracy; RLOO: reward).
    if m.margin != 0.0 || m.accuracy != 0.0 {
        points.extend([
            (s, metric::MARGIN, m.margin),
            (s, metric::ACCURACY, m.accuracy),
        ]);
    }
    if m.reward != 0.0 {
        points.push((s, metric::REWARD, m.reward));
    }
    store.add_metrics(run_id, &points)?;
    Ok(())
}

/// Ends run `run_id` with the outcome of its work: the summary, or a failed status naming the error.
pub(super) fn finish(
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

impl RunCtx<'_, PolicyEvent> {
    /// Names the phase a round is in: the run's message in the store and an event.
    pub(super) fn phase(&mut self, name: &str) -> anyhow::Result<()> {
        self.store.set_run_message(self.run_id, name)?;
        (self.emit)(PolicyEvent::Phase { phase: name.into() });
        Ok(())
    }
}
