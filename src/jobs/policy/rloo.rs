//! RLOO's online phase: sample k answers per prompt, score them, and step on the
//! leave-one-out advantages, checkpointing as it goes.

use super::*;

/// Returns how the phase ended and the rewards of every sample it drew.
pub(super) fn rloo(
    ctx: RunCtx<'_, PolicyEvent>,
    trainer: &mut PolicyTrainer,
    codec: &PolicyCodec,
    scorer: &Reward,
    texts: &[PromptBody],
    cfg: &ImproveConfig,
    on_step: &mut OnStep,
) -> anyhow::Result<(RunStatus, Vec<f64>)> {
    let RunCtx {
        store,
        run_id,
        emit,
        cancel,
        ..
    } = ctx;
    let mut rewards = Vec::new();
    let device = Device::Cpu;
    let k = cfg.n.max(2);
    let prompts_per_step = (cfg.batch / k).max(1);
    let mut order: Vec<usize> = (0..texts.len()).collect();
    crate::domain::shuffle(&mut order, cfg.train.seed);
    // Each step samples with a seed of its own: a resumed run starts at its step.
    for step in trainer.step as usize..cfg.rloo_steps {
        if cancel.is_cancelled() {
            return Ok((RunStatus::Cancelled, rewards));
        }
        let picked: Vec<PromptBody> = (0..prompts_per_step)
            .map(|j| texts[order[(step * prompts_per_step + j) % order.len()]].clone())
            .collect();
        let decoder = Decoder::for_sampling(&trainer.policy)?;
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
    Ok((RunStatus::Done, rewards))
}
