//! Policy-improvement rounds (best-of-n, DPO/IPO, RLOO) against a reward model: starting one,
//! resuming one, the prompts' split, and the training set's rule (`round_sequences`). The
//! round's phases are in `round.rs`.

use super::round::improve_round;
use super::*;
use crate::ml::models::config::PolicyArch;

/// A round's training sequences from its scored samples (`samples[k]` is (prompt index, sample),
/// `answers[k]` its text, `scores[k]` its reward): best-of-n takes each prompt's best sample,
/// DPO its best and worst (chosen then rejected) when they differ in score and text. Prompts
/// come in index order; a sample that hit the token cap keeps no end marker.
pub fn round_sequences(
    method: Method,
    codec: &PolicyCodec,
    texts: &[PromptBody],
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
    let scorer = open_reward(store, cfg, &CheckpointRef::Dir(rm_dir.clone()))?;
    let round = loaded.meta.round + 1;
    let kind = cfg.method.as_str();
    // The run's config names the exact policy and reward model it started from, so
    // `--resume` rebuilds the same round whatever has been trained since.
    let mut train = cfg.train.clone();
    if train.micro_batch == 0 && loaded.meta.config.arch == PolicyArch::Llama {
        // A pretrained model's activations dominate a round's memory: one sequence per pass.
        train.micro_batch = 1;
    }
    let cfg = ImproveConfig {
        policy: PolicyRef::Dir(dir),
        reward_model: Some(rm_dir.display().to_string()),
        train,
        ..cfg.clone()
    };
    let run_id = store.create_run(kind, &serde_json::to_value(&cfg)?, created_by)?;
    store.set_run_lineage(run_id, parent, round)?;
    let ctx = RunCtx {
        store: &mut *store,
        db_path,
        run_id,
        emit: &mut *emit,
        cancel,
    };
    let result = improve_round(ctx, &cfg, round, loaded, &scorer, None);
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
    let scorer = open_reward(
        store,
        &cfg,
        &CheckpointRef::parse(cfg.reward_model.as_deref()),
    )?;
    let round = run.round.unwrap_or(loaded.meta.round + 1);
    store.reopen_run(run_id)?;
    let started = Instant::now();
    let ctx = RunCtx {
        store: &mut *store,
        db_path,
        run_id,
        emit: &mut *emit,
        cancel,
    };
    let result = improve_round(ctx, &cfg, round, loaded, &scorer, Some(Path::new(&ck.path)));
    finish(store, run_id, started, result, emit)
}

/// The round's reward: the combination it names, or the one reward model.
fn open_reward(
    store: &Store,
    cfg: &ImproveConfig,
    single: &CheckpointRef,
) -> anyhow::Result<Reward> {
    if cfg.reward.is_empty() {
        if cfg.gate.is_some() {
            anyhow::bail!("--gate needs --reward (the criteria it gates)");
        }
        return Ok(Reward::single(Scorer::open(Some(store), single)?));
    }
    Reward::open(&cfg.reward, cfg.gate.as_ref())
}

/// Train prompts (id, text) and held-out prompt texts.
type SplitPrompts = (Vec<(PromptId, PromptBody)>, Vec<PromptBody>);

/// Train and held-out prompt texts (held-out ones never trained on).
pub(super) fn split_prompts(store: &Store, cfg: &ImproveConfig) -> anyhow::Result<SplitPrompts> {
    let mut train = Vec::new();
    let mut eval = Vec::new();
    store.for_each_prompt(|p, _| {
        if p.gold.is_some() {
            return Ok(());
        }
        if is_eval_prompt(&p.body.content_hash(), 0, cfg.eval_fraction) {
            eval.push(p.body.clone());
        } else {
            train.push((p.id, p.body.clone()));
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

/// Loads a round's checkpoint into a trainer built on the round's starting policy (which
/// stays the frozen reference): weights, optimizer moments and the step count.
pub(super) fn restore_trainer(trainer: &mut PolicyTrainer, dir: &Path) -> anyhow::Result<()> {
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
        let texts: Vec<PromptBody> = vec!["the cat".into(), "the dog".into()];
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
        let texts: Vec<PromptBody> = vec!["the cat".into(), "the dog".into()];
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
