//! Round 0: supervised fine-tuning of the tiny policy on the best-ranked answers.

use super::*;
use crate::domain::metric;

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

/// A prompt and whether it is held out, cached per prompt.
pub(super) struct PromptTexts<'a> {
    store: &'a Store,
    eval_fraction: f64,
    seed: u64,
    cache: HashMap<PromptId, (PromptBody, bool)>,
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

    fn get(&mut self, id: PromptId) -> anyhow::Result<(PromptBody, bool)> {
        if let Some(v) = self.cache.get(&id) {
            return Ok(v.clone());
        }
        let p = self
            .store
            .prompt(id)?
            .ok_or_else(|| anyhow::anyhow!("missing prompt {id}"))?;
        let eval = is_eval_prompt(&self.store.prompt_hash(id)?, self.seed, self.eval_fraction);
        let v = (p.body, eval);
        self.cache.insert(id, v.clone());
        Ok(v)
    }
}

/// (prompt, response text) pairs for SFT on train-split prompts: the best-ranked
/// candidate of each live ranking, or every candidate.
pub(super) fn sft_examples(
    store: &Store,
    cfg: &SftConfig,
) -> anyhow::Result<Vec<(PromptBody, String)>> {
    let mut texts = PromptTexts::new(store, cfg.eval_fraction, 0);
    let mut out = Vec::new();
    if cfg.all_candidates {
        store.for_each_prompt(|p, cands| {
            if !is_eval_prompt(&p.body.content_hash(), 0, cfg.eval_fraction) {
                out.extend(cands.iter().map(|c| (p.body.clone(), c.text.clone())));
            }
            Ok(())
        })?;
        return Ok(out);
    }
    // Best answers on one criterion (the first ranked one), not a mix.
    for r in store.live_rankings(&store.first_rank_filter()?)? {
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
        store.add_metrics(run_id, &[(0, metric::TOTAL_STEPS, total as f64)])?;
        emit(PolicyEvent::Started {
            run_id,
            kind: "sft".into(),
            round: 0,
            total_steps: total,
        });
        let ctx = RunCtx {
            store: &mut *store,
            db_path,
            run_id,
            emit: &mut *emit,
            cancel,
        };
        let status = train_epochs(
            ctx,
            &mut trainer,
            &seqs,
            cfg.batch,
            cfg.epochs,
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
        let checkpoint = checkpoint_policy(store, db_path, &trainer, &codec, &meta)?;
        Ok(PolicySummary::checkpointed(
            run_id,
            status,
            checkpoint,
            trainer.step,
            None,
        ))
    })();
    finish(store, run_id, started, result, emit)
}

pub(super) fn checkpoint_policy(
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
pub(super) enum Step {
    Sft,
    /// Rows: chosen sequences of a batch, then its rejected ones.
    Dpo,
}

/// Epochs over `seqs` in shuffled batches (seeded), storing every step's metrics.
/// For DPO, `seqs` holds pairs as consecutive (chosen, rejected) entries.
pub(super) fn train_epochs(
    ctx: RunCtx<'_, PolicyEvent>,
    trainer: &mut PolicyTrainer,
    seqs: &[(Vec<u32>, usize)],
    batch: usize,
    epochs: usize,
    kind: Step,
    on_step: &mut OnStep,
) -> anyhow::Result<RunStatus> {
    let RunCtx {
        store,
        run_id,
        emit,
        cancel,
        ..
    } = ctx;
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
pub(super) type OnStep<'a> = dyn FnMut(&mut Store, &PolicyTrainer) -> anyhow::Result<()> + 'a;

// ---------------------------------------------------------------------------------------------
// Sampling into the labelling queue
// ---------------------------------------------------------------------------------------------
