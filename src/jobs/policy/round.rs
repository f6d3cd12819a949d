//! One improvement round as phases: held-out samples before, the training set (sample and
//! score, then `round_sequences`), training, held-out samples after with the KL to the start,
//! the report's metrics, and the final checkpoint. `improve_round` runs them in order.

use serde_json::json;

use super::*;

/// What every phase of one round reads: its settings, number, codec and reward.
struct Round<'a> {
    cfg: &'a ImproveConfig,
    number: i64,
    codec: &'a PolicyCodec,
    scorer: &'a Reward,
}

/// Held-out prompts sampled by one policy and scored: the whole reward, each criterion's
/// (for a combination), and the mean answer length.
struct HeldOut {
    sampled: Sampled,
    rewards: Vec<f64>,
    by_criterion: Vec<(String, Vec<f64>)>,
    mean_length: f64,
}

impl HeldOut {
    /// Samples the held-out prompts (2 answers each, a fixed seed) and scores them.
    fn measure(
        decoder: &Decoder,
        codec: &PolicyCodec,
        scorer: &Reward,
        prompts: &[PromptBody],
        cfg: &ImproveConfig,
        cancel: &CancelToken,
    ) -> anyhow::Result<HeldOut> {
        let gen = GenConfig {
            seed: cfg.gen.seed ^ 0x5EED,
            ..cfg.gen.clone()
        };
        let sampled = sample_prompts(decoder, codec, prompts, 2, &gen, &mut |_| {}, cancel)?;
        let (_, rewards) = sampled.score(codec, scorer, prompts)?;
        let by_criterion = sampled.score_each(codec, scorer, prompts)?;
        Ok(HeldOut {
            mean_length: sampled.mean_length(),
            sampled,
            rewards,
            by_criterion,
        })
    }
}

/// What a round trains on: `prompt ++ answer` sequences (best-of-n: one per prompt; DPO:
/// chosen then rejected) and the rewards of the samples they were picked from.
struct TrainingSet {
    texts: Vec<PromptBody>,
    seqs: Vec<(Vec<u32>, usize)>,
    sample_rewards: Vec<f64>,
}

/// Samples the round's prompts, scores the samples and picks the training sequences. RLOO
/// samples as it trains, so it gets only the prompts here.
fn training_set(
    ctx: &mut RunCtx<'_, PolicyEvent>,
    r: &Round,
    decoder: &Decoder,
    train_prompts: &[(PromptId, PromptBody)],
) -> anyhow::Result<TrainingSet> {
    let (cfg, codec, scorer) = (r.cfg, r.codec, r.scorer);
    let texts: Vec<PromptBody> = train_prompts.iter().map(|p| p.1.clone()).collect();
    let mut set = TrainingSet {
        texts,
        seqs: Vec::new(),
        sample_rewards: Vec::new(),
    };
    ctx.phase("sampling")?;
    if cfg.method == Method::Rloo {
        return Ok(set);
    }
    let sampled = sample_prompts(
        decoder,
        codec,
        &set.texts,
        cfg.n.max(2),
        &cfg.gen,
        ctx.emit,
        ctx.cancel,
    )?;
    ctx.phase("scoring")?;
    let (answers, scores) = sampled.score(codec, scorer, &set.texts)?;
    set.seqs = round_sequences(
        cfg.method,
        codec,
        &set.texts,
        &sampled.samples,
        &answers,
        &scores,
        cfg.max_response_tokens,
    )?;
    if cfg.method == Method::Dpo && cfg.use_human_pairs {
        set.seqs.extend(human_pairs(
            ctx.store,
            codec,
            train_prompts,
            cfg.max_response_tokens,
        )?);
    }
    ctx.store.add_metrics(
        ctx.run_id,
        &[
            (0, "sample_reward", mean(&scores)),
            (0, "sample_entropy", sampled.mean_entropy()),
            (0, "response_len", sampled.mean_length()),
        ],
    )?;
    set.sample_rewards = scores;
    Ok(set)
}

/// People's preference pairs on the round's prompts, chosen then rejected, for DPO.
fn human_pairs(
    store: &Store,
    codec: &PolicyCodec,
    train_prompts: &[(PromptId, PromptBody)],
    max_response: usize,
) -> anyhow::Result<Vec<(Vec<u32>, usize)>> {
    let text_of: HashMap<PromptId, &PromptBody> =
        train_prompts.iter().map(|(id, t)| (*id, t)).collect();
    let (pairs, _) = store.preference_pairs(&store.first_rank_filter()?)?;
    let mut seqs = Vec::new();
    for p in pairs {
        let Some(text) = text_of.get(&p.prompt_id) else {
            continue;
        };
        let (Some(c), Some(r)) = (store.candidate(p.chosen)?, store.candidate(p.rejected)?) else {
            continue;
        };
        seqs.push(codec.sequence(text, &c.text, max_response)?);
        seqs.push(codec.sequence(text, &r.text, max_response)?);
    }
    Ok(seqs)
}

/// The trainer after the training phase, how it ended, and its last periodic checkpoint.
struct Trained {
    trainer: PolicyTrainer,
    status: RunStatus,
    last_checkpoint: Option<(i64, String)>,
}

/// Trains the starting policy (fully, or a LoRA on its frozen weights) with the round's
/// method, checkpointing every `checkpoint_every` steps.
fn train(
    mut ctx: RunCtx<'_, PolicyEvent>,
    r: &Round,
    start: Policy,
    set: &mut TrainingSet,
    resume: Option<&Path>,
) -> anyhow::Result<Trained> {
    let (cfg, codec, scorer) = (r.cfg, r.codec, r.scorer);
    let batch = cfg.batch.max(1);
    let total = match cfg.method {
        Method::Bon => (set.seqs.len().div_ceil(batch) * cfg.epochs) as u64,
        Method::Dpo => ((set.seqs.len() / 2).div_ceil(batch) * cfg.epochs) as u64,
        Method::Rloo => cfg.rloo_steps as u64,
    };
    let policy = match cfg.lora {
        // The frozen base shares the starting weights' storage: no copy.
        Some(lora) => Policy::with_lora(
            &start.config,
            start.merged_weights()?,
            lora,
            cfg.train.seed,
            &Device::Cpu,
        )?,
        None => start,
    };
    let mut trainer = PolicyTrainer::new(policy, cfg.train.clone(), total)?;
    if let Some(dir) = resume {
        restore_trainer(&mut trainer, dir)?;
    }
    let (db_path, run_id) = (ctx.db_path, ctx.run_id);
    ctx.store
        .add_metrics(run_id, &[(0, metric::TOTAL_STEPS, total as f64)])?;
    // Periodic checkpoints; each replaces the previous one once it is safely written.
    let mut last_checkpoint: Option<(i64, String)> = None;
    let mut on_step = |store: &mut Store, t: &PolicyTrainer| -> anyhow::Result<()> {
        let every = cfg.checkpoint_every;
        if every == 0 || !t.step.is_multiple_of(every) || t.step >= total {
            return Ok(());
        }
        let meta = round_meta(r, run_id, t, json!({ "partial": true }));
        let (id, path) = checkpoint_policy(store, db_path, t, codec, &meta)?;
        replace_checkpoint(store, &mut last_checkpoint, id, path)
    };
    (ctx.emit)(PolicyEvent::Started {
        run_id,
        kind: cfg.method.as_str().into(),
        round: r.number,
        total_steps: total,
    });
    // As before the split: the run has its step count and Started before this is refused.
    if cfg.method == Method::Dpo && set.seqs.is_empty() {
        anyhow::bail!(
            "no preference pairs: the reward model scored every sample of every prompt the same"
        );
    }
    let status = match cfg.method {
        Method::Bon | Method::Dpo => {
            let step = if cfg.method == Method::Bon {
                Step::Sft
            } else {
                Step::Dpo
            };
            let (seqs, epochs) = (&set.seqs, cfg.epochs);
            train_epochs(
                ctx.reborrow(),
                &mut trainer,
                seqs,
                batch,
                epochs,
                step,
                &mut on_step,
            )?
        }
        Method::Rloo => {
            let (status, rewards) = rloo(
                ctx.reborrow(),
                &mut trainer,
                codec,
                scorer,
                &set.texts,
                cfg,
                &mut on_step,
            )?;
            set.sample_rewards.extend(rewards);
            status
        }
    };
    // A cancel during sampling leaves no data to train on: the round is cancelled, not done.
    let status = if ctx.cancel.is_cancelled() {
        RunStatus::Cancelled
    } else {
        status
    };
    Ok(Trained {
        trainer,
        status,
        last_checkpoint,
    })
}

/// Records the newest checkpoint, deleting the one it replaces (its files and its row).
fn replace_checkpoint(
    store: &mut Store,
    last: &mut Option<(i64, String)>,
    id: i64,
    path: String,
) -> anyhow::Result<()> {
    if let Some((old_id, old_path)) = last.replace((id, path.clone())) {
        if old_path != path {
            let _ = std::fs::remove_dir_all(&old_path);
            store.mark_checkpoint_deleted(old_id)?;
        }
    }
    Ok(())
}

fn round_meta(
    r: &Round,
    run_id: i64,
    trainer: &PolicyTrainer,
    metrics: serde_json::Value,
) -> PolicyMeta {
    PolicyMeta {
        kind: POLICY_KIND.into(),
        config: trainer.policy.config.clone(),
        method: r.cfg.method.as_str().into(),
        run_id,
        round: r.number,
        step: trainer.step,
        train: r.cfg.train.clone(),
        metrics,
        format: r.codec.format.clone(),
    }
}

/// KL(policy || reference), estimated on the policy's own held-out samples.
fn heldout_kl(
    trainer: &PolicyTrainer,
    codec: &PolicyCodec,
    sampled: &Sampled,
) -> anyhow::Result<f64> {
    let seqs = sampled.sequences();
    let mut kl_sum = 0f64;
    // As many sequences at a time as training takes: the policy's forward pass keeps its
    // activations for a backward pass that never comes (16 SmolLM2 answers held 4 GB).
    let chunk = match trainer.config.micro_batch {
        0 => 16,
        m => m,
    };
    for chunk in seqs.chunks(chunk) {
        let rows: Vec<(&[u32], usize)> = chunk.iter().map(|s| (s.0.as_slice(), s.1)).collect();
        let b = SeqBatch::new(&rows, codec.pad, &Device::Cpu)?;
        let p: Vec<f32> = trainer.policy.sequence_logps(&b)?.detach().to_vec1()?;
        let r: Vec<f32> = trainer.reference.sequence_logps(&b)?.to_vec1()?;
        kl_sum += p.iter().zip(&r).map(|(a, b)| (a - b) as f64).sum::<f64>();
    }
    Ok(kl_sum / seqs.len().max(1) as f64)
}

fn round_report(before: HeldOut, after: HeldOut, kl: f64) -> RoundReport {
    RoundReport {
        before_mean: mean(&before.rewards),
        after_mean: mean(&after.rewards),
        kl,
        length_before: before.mean_length,
        length_after: after.mean_length,
        criteria: before
            .by_criterion
            .iter()
            .zip(&after.by_criterion)
            .map(|((c, b), (_, a))| CriterionShift {
                criterion: c.clone(),
                before_mean: mean(b),
                after_mean: mean(a),
            })
            .collect(),
        before: before.rewards,
        after: after.rewards,
    }
}

/// The metrics a round's report is stored as: KL, means and lengths at step 0, each held-out
/// reward at its index, and each criterion of a combination before and after.
pub(super) fn report_metrics(report: &RoundReport) -> Vec<(i64, String, f64)> {
    let mut points: Vec<(i64, String, f64)> = [
        (metric::HELDOUT_KL, report.kl),
        (metric::HELDOUT_REWARD_BEFORE_MEAN, report.before_mean),
        (metric::HELDOUT_REWARD_AFTER_MEAN, report.after_mean),
        (metric::HELDOUT_LEN_BEFORE, report.length_before),
        (metric::HELDOUT_LEN_AFTER, report.length_after),
    ]
    .into_iter()
    .map(|(n, v)| (0, n.to_string(), v))
    .collect();
    for (name, values) in [
        (metric::HELDOUT_REWARD_BEFORE, &report.before),
        (metric::HELDOUT_REWARD_AFTER, &report.after),
    ] {
        points.extend(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as i64, name.to_string(), *v)),
        );
    }
    for c in &report.criteria {
        points.push((
            0,
            metric::per_criterion(metric::HELDOUT_REWARD_BEFORE_MEAN, &c.criterion),
            c.before_mean,
        ));
        points.push((
            0,
            metric::per_criterion(metric::HELDOUT_REWARD_AFTER_MEAN, &c.criterion),
            c.after_mean,
        ));
    }
    points
}

pub(super) fn improve_round(
    mut ctx: RunCtx<'_, PolicyEvent>,
    cfg: &ImproveConfig,
    round: i64,
    loaded: LoadedPolicy,
    scorer: &Reward,
    resume: Option<&Path>,
) -> anyhow::Result<PolicySummary> {
    let codec = loaded.codec.clone();
    let (train_prompts, eval_prompts) = split_prompts(ctx.store, cfg)?;
    if train_prompts.is_empty() {
        anyhow::bail!("no prompts to train on; import prompts first");
    }
    ctx.phase("sampling held-out prompts (before)")?;
    let decoder = Decoder::for_sampling(&loaded.policy)?;
    let before = HeldOut::measure(&decoder, &codec, scorer, &eval_prompts, cfg, ctx.cancel)?;
    let r = Round {
        cfg,
        number: round,
        codec: &codec,
        scorer,
    };
    let mut set = training_set(&mut ctx, &r, &decoder, &train_prompts)?;
    // The starting policy's sampling copy is not needed while training (a 135M model is
    // about 0.6 GB per copy).
    drop(decoder);

    ctx.phase("training")?;
    let Trained {
        trainer,
        status,
        mut last_checkpoint,
    } = train(ctx.reborrow(), &r, loaded.policy, &mut set, resume)?;

    ctx.phase("sampling held-out prompts (after)")?;
    let decoder = Decoder::for_sampling(&trainer.policy)?;
    let after = HeldOut::measure(&decoder, &codec, scorer, &eval_prompts, cfg, ctx.cancel)?;
    let kl = heldout_kl(&trainer, &codec, &after.sampled)?;
    let report = round_report(before, after, kl);
    let points = report_metrics(&report);
    let points: Vec<(i64, &str, f64)> = points
        .iter()
        .map(|(s, n, v)| (*s, n.as_str(), *v))
        .collect();
    ctx.store.add_metrics(ctx.run_id, &points)?;
    (ctx.emit)(PolicyEvent::Round(report.clone()));

    let metrics = json!({
        "heldout_reward_before": report.before_mean,
        "heldout_reward_after": report.after_mean,
        "heldout_kl": report.kl,
        "sample_reward": mean(&set.sample_rewards),
    });
    let meta = round_meta(&r, ctx.run_id, &trainer, metrics);
    let (id, path) = checkpoint_policy(ctx.store, ctx.db_path, &trainer, &codec, &meta)?;
    replace_checkpoint(ctx.store, &mut last_checkpoint, id, path.clone())?;
    Ok(PolicySummary::checkpointed(
        ctx.run_id,
        status,
        (id, path),
        trainer.step,
        Some(report),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_stored_as_means_each_reward_and_each_criterion() {
        let report = RoundReport {
            before: vec![0.5, -0.5],
            after: vec![1.0, 2.0],
            before_mean: 0.0,
            after_mean: 1.5,
            kl: 0.25,
            length_before: 10.0,
            length_after: 12.0,
            criteria: vec![CriterionShift {
                criterion: "funny".into(),
                before_mean: -1.0,
                after_mean: 1.0,
            }],
        };
        let points = report_metrics(&report);
        let get = |name: &str, step: i64| {
            points
                .iter()
                .find(|(s, n, _)| n == name && *s == step)
                .map(|p| p.2)
        };
        assert_eq!(get(metric::HELDOUT_KL, 0), Some(0.25));
        assert_eq!(get(metric::HELDOUT_REWARD_AFTER_MEAN, 0), Some(1.5));
        assert_eq!(get(metric::HELDOUT_LEN_AFTER, 0), Some(12.0));
        assert_eq!(get(metric::HELDOUT_REWARD_BEFORE, 1), Some(-0.5));
        assert_eq!(get(metric::HELDOUT_REWARD_AFTER, 1), Some(2.0));
        let funny_after = metric::per_criterion(metric::HELDOUT_REWARD_AFTER_MEAN, "funny");
        assert_eq!(get(&funny_after, 0), Some(1.0));
        assert_eq!(points.len(), 5 + 2 + 2 + 2);
    }
}
