//! Policy optimisation steps: supervised fine-tuning (SFT, and best-of-n which is SFT on the
//! reward model's favourite samples), DPO / IPO against a frozen reference, and RLOO
//! (REINFORCE with a leave-one-out baseline). Token ids in, metrics out; no SQLite here.

use std::time::Instant;

use candle_core::{DType, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::ml::kernels::on_pool;
use crate::ml::models::policy::{Policy, SeqBatch};
use crate::ml::training::optim::{learning_rate, AdamW, AdamWConfig, Gradients, Schedule};
use crate::ml::training::TrainError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyTrainConfig {
    pub lr: f64,
    pub warmup_frac: f64,
    pub schedule: Schedule,
    pub weight_decay: f64,
    pub clip_norm: f64,
    /// DPO temperature, and the KL coefficient of RLOO.
    pub beta: f64,
    /// IPO's squared loss instead of DPO's sigmoid.
    pub ipo: bool,
    /// Supervised steps (best-of-n): weight of the mean token-level KL(policy || reference)
    /// over response tokens, added to the loss; 0 = off.
    #[serde(default)]
    pub kl_coef: f64,
    pub seed: u64,
    /// Sequences (DPO: pairs) per forward/backward pass; a step adds up the passes' gradients,
    /// so only one micro-batch's activations are in memory at a time. 0: the whole batch.
    #[serde(default)]
    pub micro_batch: usize,
}

impl Default for PolicyTrainConfig {
    fn default() -> Self {
        PolicyTrainConfig {
            lr: 3e-4,
            warmup_frac: 0.1,
            schedule: Schedule::Cosine,
            weight_decay: 0.0,
            clip_norm: 1.0,
            beta: 0.1,
            ipo: false,
            kl_coef: 0.0,
            seed: 0,
            micro_batch: 0,
        }
    }
}

/// What one step reports. Fields that a method does not produce are 0.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PolicyStep {
    pub step: u64,
    pub loss: f64,
    pub grad_norm: f64,
    pub lr: f64,
    /// Mean over sequences of log pi(y) - log ref(y) on this step's data (a KL estimate when the
    /// data are the policy's own samples).
    pub kl: f64,
    /// DPO: mean implicit reward margin beta * ((pi_c - ref_c) - (pi_r - ref_r)), and how often > 0.
    pub margin: f64,
    pub accuracy: f64,
    /// RLOO: mean reward of the samples.
    pub reward: f64,
    pub tokens_per_s: f64,
}

pub struct PolicyTrainer {
    pub policy: Policy,
    /// Frozen copy of the starting weights (DPO, RLOO and the KL figures).
    pub reference: Policy,
    pub opt: AdamW,
    pub config: PolicyTrainConfig,
    pub step: u64,
    pub total_steps: u64,
}

fn scalar(t: &Tensor) -> Result<f64> {
    t.to_dtype(DType::F64)?.to_scalar::<f64>()
}

/// `log(1 + e^x)`, stable for large |x|.
fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

impl PolicyTrainer {
    pub fn new(
        policy: Policy,
        config: PolicyTrainConfig,
        total_steps: u64,
    ) -> Result<PolicyTrainer> {
        let reference = policy.frozen_copy()?;
        let opt = AdamW::new(
            policy.trainable(),
            AdamWConfig {
                lr: config.lr,
                weight_decay: config.weight_decay,
                ..AdamWConfig::default()
            },
        )?;
        Ok(PolicyTrainer {
            policy,
            reference,
            opt,
            config,
            step: 0,
            total_steps: total_steps.max(1),
        })
    }

    /// Schedule, backward, clip, update; returns (loss, gradient norm, learning rate).
    fn apply(&mut self, loss: &Tensor) -> std::result::Result<(f64, f64, f64), TrainError> {
        let vars = self.policy.trainable();
        let mut grads = Gradients::default();
        let loss_v = grads.add(loss, &vars, &self.policy.params.side, self.step)?;
        let (grad_norm, lr) = self.update(grads, &vars)?;
        Ok((loss_v, grad_norm, lr))
    }

    /// Schedule, clip, one AdamW step with gradients summed over micro-batches; returns
    /// (gradient norm, learning rate).
    fn update(
        &mut self,
        grads: Gradients,
        vars: &[(String, Var)],
    ) -> std::result::Result<(f64, f64), TrainError> {
        let warmup = (self.total_steps as f64 * self.config.warmup_frac).round() as u64;
        let lr = learning_rate(
            self.config.schedule,
            self.config.lr,
            self.step,
            warmup,
            self.total_steps,
        );
        let grad_norm = grads.descend(vars, &mut self.opt, self.config.clip_norm, lr, self.step)?;
        self.step += 1;
        Ok((grad_norm, lr))
    }

    /// The rows of each micro-batch of a batch of `units` sequences (DPO, `paired`: pairs,
    /// unit i being rows i and i + units).
    fn micro_batches(&self, units: usize, paired: bool) -> Vec<Vec<usize>> {
        let size = match self.config.micro_batch {
            0 => units.max(1),
            m => m,
        };
        (0..units)
            .collect::<Vec<_>>()
            .chunks(size)
            .map(|c| {
                let mut rows = c.to_vec();
                if paired {
                    rows.extend(c.iter().map(|i| i + units));
                }
                rows
            })
            .collect()
    }

    /// `batch` itself when `rows` is all of it, else those rows as a batch of their own.
    fn part<'a>(
        batch: &'a SeqBatch,
        rows: &[usize],
        own: &'a mut Option<SeqBatch>,
    ) -> Result<&'a SeqBatch> {
        if rows.len() == batch.batch {
            return Ok(batch);
        }
        Ok(own.insert(batch.select(rows)?))
    }

    /// Sum over the batch's sequences of log pi - log ref.
    fn kl_sum(&self, pol: &Tensor, batch: &SeqBatch) -> Result<f64> {
        let r = self.reference.sequence_logps(batch)?;
        scalar(&(pol.detach() - r)?.sum_all()?)
    }

    /// Supervised step: mean negative log-likelihood per response token, plus `kl_coef` times
    /// the mean token-level KL(policy || reference) over the full vocabulary when set (the
    /// sequence-level log-ratio of the data would only rescale the gradient).
    pub fn sft_step(&mut self, batch: &SeqBatch) -> std::result::Result<PolicyStep, TrainError> {
        on_pool(|| self.sft_step_here(batch))
    }

    fn sft_step_here(&mut self, batch: &SeqBatch) -> std::result::Result<PolicyStep, TrainError> {
        let started = Instant::now();
        let tokens: usize = batch.response_tokens.iter().sum();
        let per_token = 1.0 / tokens.max(1) as f64;
        let vars = self.policy.trainable();
        let mut grads = Gradients::default();
        let (mut loss_v, mut kl_sum) = (0.0, 0.0);
        for rows in self.micro_batches(batch.batch, false) {
            let mut own = None;
            let b = Self::part(batch, &rows, &mut own)?;
            let logits = self.policy.logits(&b.ids, &b.mask)?;
            let lp = self.policy.sequence_logps_from(&logits, b)?;
            let mut loss = (lp.sum_all()?.neg()? * per_token)?;
            if self.config.kl_coef > 0.0 {
                let reference = self.reference.logits(&b.ids, &b.mask)?;
                let pol = candle_nn::ops::log_softmax(&logits, 1)?;
                let refr = candle_nn::ops::log_softmax(&reference, 1)?;
                let per_position = (pol.exp()? * (&pol - refr)?)?.sum(1)?;
                let token_kl = (per_position * &b.weights)?.sum_all()?;
                loss = (loss + (token_kl * (self.config.kl_coef * per_token))?)?;
            }
            kl_sum += self.kl_sum(&lp, b)?;
            loss_v += grads.add(&loss, &vars, &self.policy.params.side, self.step)?;
        }
        let (grad_norm, lr) = self.update(grads, &vars)?;
        Ok(PolicyStep {
            step: self.step,
            loss: loss_v,
            grad_norm,
            lr,
            kl: kl_sum / batch.batch.max(1) as f64,
            tokens_per_s: tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
            ..PolicyStep::default()
        })
    }

    /// DPO (or IPO) step. `batch` holds the chosen sequences then the rejected ones, pair i
    /// being rows i and i + n.
    pub fn dpo_step(&mut self, batch: &SeqBatch) -> std::result::Result<PolicyStep, TrainError> {
        on_pool(|| self.dpo_step_here(batch))
    }

    fn dpo_step_here(&mut self, batch: &SeqBatch) -> std::result::Result<PolicyStep, TrainError> {
        let started = Instant::now();
        let n = batch.batch / 2;
        let beta = self.config.beta;
        let vars = self.policy.trainable();
        let mut grads = Gradients::default();
        let (mut loss_v, mut kl_sum) = (0.0, 0.0);
        let mut margins: Vec<f32> = Vec::with_capacity(n);
        for rows in self.micro_batches(n, true) {
            let mut own = None;
            let b = Self::part(batch, &rows, &mut own)?;
            let m = b.batch / 2;
            let pol = self.policy.sequence_logps(b)?;
            let refr = self.reference.sequence_logps(b)?;
            let diff = (&pol - &refr)?;
            // Each pair's loss over all n pairs: the micro-batches' sum is the batch's mean.
            let (loss, h) = if self.config.ipo {
                // IPO as TRL computes it: log-ratios averaged over each completion's tokens,
                // then (h - 1/(2 beta))^2. Summed log-ratios would make beta mean something else.
                let per_token: Vec<f32> = b
                    .response_tokens
                    .iter()
                    .map(|&t| 1.0 / t.max(1) as f32)
                    .collect();
                let scale = Tensor::from_vec(per_token, b.batch, diff.device())?;
                let mean_diff = (&diff * scale)?;
                let h = (mean_diff.narrow(0, 0, m)? - mean_diff.narrow(0, m, m)?)?; // (m,)
                ((h.clone() - 1.0 / (2.0 * beta))?.sqr()?.sum_all()?, h)
            } else {
                let h = (diff.narrow(0, 0, m)? - diff.narrow(0, m, m)?)?; // (m,)
                (softplus(&(h.clone() * -beta)?)?.sum_all()?, h)
            };
            let loss = (loss / n.max(1) as f64)?;
            margins.extend((h.detach() * beta)?.to_vec1::<f32>()?);
            kl_sum += scalar(&diff.detach().sum_all()?)?;
            loss_v += grads.add(&loss, &vars, &self.policy.params.side, self.step)?;
        }
        let tokens: usize = batch.response_tokens.iter().sum();
        let (grad_norm, lr) = self.update(grads, &vars)?;
        Ok(PolicyStep {
            step: self.step,
            loss: loss_v,
            grad_norm,
            lr,
            kl: kl_sum / batch.batch.max(1) as f64,
            margin: margins.iter().map(|&m| m as f64).sum::<f64>() / n.max(1) as f64,
            accuracy: margins.iter().filter(|&&m| m > 0.0).count() as f64 / n.max(1) as f64,
            tokens_per_s: tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
            ..PolicyStep::default()
        })
    }

    /// RLOO step on `k` samples per prompt (rows grouped by prompt, k consecutive rows each)
    /// with reward-model scores: reward = score - beta * (log pi - log ref), advantage = reward
    /// minus the mean reward of the prompt's other samples.
    pub fn rloo_step(
        &mut self,
        batch: &SeqBatch,
        k: usize,
        scores: &[f64],
    ) -> std::result::Result<PolicyStep, TrainError> {
        on_pool(|| self.rloo_step_here(batch, k, scores))
    }

    fn rloo_step_here(
        &mut self,
        batch: &SeqBatch,
        k: usize,
        scores: &[f64],
    ) -> std::result::Result<PolicyStep, TrainError> {
        let started = Instant::now();
        let pol = self.policy.sequence_logps(batch)?;
        let refr: Vec<f32> = self.reference.sequence_logps(batch)?.to_vec1()?;
        let pol_v: Vec<f32> = pol.detach().to_vec1()?;
        let beta = self.config.beta;
        let rewards: Vec<f64> = scores
            .iter()
            .zip(pol_v.iter().zip(&refr))
            .map(|(s, (p, r))| s - beta * (*p as f64 - *r as f64))
            .collect();
        let adv = rloo_advantages(&rewards, k);
        let adv_t = Tensor::from_vec(adv, rewards.len(), pol.device())?;
        let loss = (pol * adv_t)?.mean_all()?.neg()?;
        let kl = pol_v
            .iter()
            .zip(&refr)
            .map(|(p, r)| (p - r) as f64)
            .sum::<f64>()
            / pol_v.len().max(1) as f64;
        let tokens: usize = batch.response_tokens.iter().sum();
        let (loss, grad_norm, lr) = self.apply(&loss)?;
        Ok(PolicyStep {
            step: self.step,
            loss,
            grad_norm,
            lr,
            kl,
            reward: scores.iter().sum::<f64>() / scores.len().max(1) as f64,
            tokens_per_s: tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
            ..PolicyStep::default()
        })
    }
}

/// REINFORCE leave-one-out: each sample's reward minus the mean reward of the other samples
/// of its prompt (`k` consecutive rows per prompt).
pub fn rloo_advantages(rewards: &[f64], k: usize) -> Vec<f32> {
    let k = k.max(2);
    let mut adv = vec![0f32; rewards.len()];
    for (g, chunk) in rewards.chunks(k).enumerate() {
        let sum: f64 = chunk.iter().sum();
        for (i, r) in chunk.iter().enumerate() {
            adv[g * k + i] = (r - (sum - r) / (chunk.len() - 1).max(1) as f64) as f32;
        }
    }
    adv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::models::config::PolicyConfig;
    use candle_core::Device;

    fn small() -> PolicyConfig {
        PolicyConfig {
            vocab_size: 32,
            ctx: 16,
            d_model: 16,
            n_layers: 1,
            n_heads: 2,
            d_ff: 32,
            ln_eps: 1e-5,
            ..PolicyConfig::tiny(50)
        }
    }

    #[test]
    fn dpo_starts_at_log_two_and_learns_to_prefer_the_chosen_response() {
        let dev = Device::Cpu;
        let policy = Policy::new(&small(), 1, &dev).unwrap();
        let cfg = PolicyTrainConfig {
            lr: 1e-2,
            warmup_frac: 0.0,
            ..PolicyTrainConfig::default()
        };
        let mut t = PolicyTrainer::new(policy, cfg, 40).unwrap();
        let chosen: &[u32] = &[3, 4, 5, 6, 7];
        let rejected: &[u32] = &[3, 4, 9, 9, 9];
        let batch = SeqBatch::new(&[(chosen, 2), (rejected, 2)], 0, &dev).unwrap();
        let first = t.dpo_step(&batch).unwrap();
        assert!(
            (first.loss - std::f64::consts::LN_2).abs() < 1e-5,
            "{}",
            first.loss
        );
        let mut last = first;
        for _ in 0..30 {
            last = t.dpo_step(&batch).unwrap();
        }
        assert!(last.loss < 0.3, "{}", last.loss);
        assert!(last.margin > 0.0 && last.accuracy == 1.0);
    }

    #[test]
    fn sft_lowers_the_loss_and_rloo_raises_the_probability_of_rewarded_samples() {
        let dev = Device::Cpu;
        let cfg = PolicyTrainConfig {
            lr: 1e-2,
            warmup_frac: 0.0,
            ..PolicyTrainConfig::default()
        };
        let mut t =
            PolicyTrainer::new(Policy::new(&small(), 2, &dev).unwrap(), cfg.clone(), 30).unwrap();
        let seq: &[u32] = &[1, 2, 3, 4, 5, 6];
        let b = SeqBatch::new(&[(seq, 2)], 0, &dev).unwrap();
        let first = t.sft_step(&b).unwrap().loss;
        for _ in 0..20 {
            t.sft_step(&b).unwrap();
        }
        assert!(t.sft_step(&b).unwrap().loss < first * 0.5);

        let mut t = PolicyTrainer::new(Policy::new(&small(), 2, &dev).unwrap(), cfg, 30).unwrap();
        let good: &[u32] = &[1, 2, 7, 7];
        let bad: &[u32] = &[1, 2, 8, 8];
        let b = SeqBatch::new(&[(good, 2), (bad, 2)], 0, &dev).unwrap();
        let before: Vec<f32> = t.policy.sequence_logps(&b).unwrap().to_vec1().unwrap();
        for _ in 0..10 {
            t.rloo_step(&b, 2, &[1.0, -1.0]).unwrap();
        }
        let after: Vec<f32> = t.policy.sequence_logps(&b).unwrap().to_vec1().unwrap();
        assert!(
            after[0] > before[0] && after[1] < before[1],
            "{before:?} {after:?}"
        );
    }

    #[test]
    fn the_kl_penalty_keeps_supervised_training_near_the_reference() {
        let dev = Device::Cpu;
        let seq: &[u32] = &[1, 2, 3, 4, 5, 6, 7];
        let b = SeqBatch::new(&[(seq, 2)], 0, &dev).unwrap();
        let run = |kl_coef: f64| {
            let cfg = PolicyTrainConfig {
                lr: 1e-2,
                warmup_frac: 0.0,
                kl_coef,
                ..PolicyTrainConfig::default()
            };
            let mut t =
                PolicyTrainer::new(Policy::new(&small(), 3, &dev).unwrap(), cfg, 30).unwrap();
            let first = t.sft_step(&b).unwrap();
            for _ in 0..15 {
                t.sft_step(&b).unwrap();
            }
            (first.loss, t.sft_step(&b).unwrap().kl)
        };
        let (free_first, free_kl) = run(0.0);
        let (held_first, held_kl) = run(5.0);
        // At step 0 policy = reference: the penalty is zero.
        assert!((free_first - held_first).abs() < 1e-6);
        assert!(free_kl > 0.5, "{free_kl}");
        assert!(held_kl < 0.75 * free_kl, "{held_kl} vs {free_kl}");
    }

    #[test]
    fn lora_trains_only_the_adapters() {
        let dev = Device::Cpu;
        let config = crate::ml::models::config::PolicyConfig::small_llama();
        let base = Policy::new(&config, 5, &dev).unwrap();
        let weights = base.merged_weights().unwrap();
        let lora = crate::ml::models::llama::LoraConfig {
            rank: 4,
            alpha: 8.0,
        };
        let policy = Policy::with_lora(&config, weights.clone(), lora, 1, &dev).unwrap();
        let cfg = PolicyTrainConfig {
            lr: 1e-2,
            warmup_frac: 0.0,
            ..PolicyTrainConfig::default()
        };
        let mut t = PolicyTrainer::new(policy, cfg, 30).unwrap();
        let seq: &[u32] = &[1, 2, 3, 4, 5, 6];
        let b = SeqBatch::new(&[(seq, 2)], 0, &dev).unwrap();
        let first = t.sft_step(&b).unwrap().loss;
        for _ in 0..20 {
            t.sft_step(&b).unwrap();
        }
        let last = t.sft_step(&b).unwrap().loss;
        assert!(last < first * 0.9, "{first} -> {last}");
        // The frozen base is untouched; the merged weights moved.
        let frozen = &t.policy.params.frozen;
        let name = "model.layers.0.self_attn.q_proj.weight";
        let diff = |a: &Tensor, b: &Tensor| crate::ml::kernels::max_abs_diff(a, b).unwrap();
        assert_eq!(diff(&frozen[name], &weights[name]), 0.0);
        let merged = t.policy.merged_weights().unwrap();
        assert!(diff(&merged[name], &weights[name]) > 1e-4);
    }

    #[test]
    fn rloos_kl_term_lowers_the_sample_that_moved_further_from_the_reference() {
        // Equal scores, policy away from the reference: the reward is -beta (log pi - log ref),
        // so the sample with the larger log-ratio gets the lower reward and is pushed down
        // relative to the other (the leave-one-out baseline removes any shift they share).
        let (mut t, b) = off_reference(0.5, false);
        let spread = |t: &PolicyTrainer| -> f64 {
            let (d, _) = log_ratios(t, &b);
            d[0] - d[1]
        };
        let before = spread(&t);
        assert!(before.abs() > 1e-3, "the two samples must differ: {before}");
        // One small step (AdamW's first step moves every weight by about lr: small enough not
        // to overshoot).
        t.config.lr = 1e-5;
        t.rloo_step(&b, 2, &[0.0, 0.0]).unwrap();
        let after = spread(&t);
        assert!(
            after.abs() < before.abs() && (after - before) * before < 0.0,
            "(log pi - log ref) spread {before} -> {after}: the KL term has the wrong sign"
        );
    }

    #[test]
    fn rloo_baselines_leave_one_out() {
        // k = 4: sample 0's baseline is the mean of samples 1..3, and so on, per prompt.
        let r = [1.0, 2.0, 3.0, 6.0, 0.0, 0.0, 4.0, 4.0];
        let adv = rloo_advantages(&r, 4);
        let want = [
            1.0 - 11.0 / 3.0,
            2.0 - 10.0 / 3.0,
            3.0 - 9.0 / 3.0,
            6.0 - 6.0 / 3.0,
            0.0 - 8.0 / 3.0,
            0.0 - 8.0 / 3.0,
            4.0 - 4.0 / 3.0,
            4.0 - 4.0 / 3.0,
        ];
        for (a, w) in adv.iter().zip(want) {
            assert!((*a as f64 - w).abs() < 1e-6, "{adv:?}");
        }
    }

    /// A trainer whose reference differs from the policy, so log-ratios are not zero, and the
    /// (chosen, rejected) batch with responses of different lengths.
    fn off_reference(beta: f64, ipo: bool) -> (PolicyTrainer, SeqBatch) {
        let dev = Device::Cpu;
        let cfg = PolicyTrainConfig {
            beta,
            ipo,
            warmup_frac: 0.0,
            ..PolicyTrainConfig::default()
        };
        let mut t = PolicyTrainer::new(Policy::new(&small(), 1, &dev).unwrap(), cfg, 10).unwrap();
        t.reference = Policy::new(&small(), 2, &dev).unwrap();
        let chosen: &[u32] = &[3, 4, 5, 6, 7];
        let rejected: &[u32] = &[3, 4, 9, 9, 9, 10, 11];
        let batch = SeqBatch::new(&[(chosen, 2), (rejected, 2)], 0, &dev).unwrap();
        (t, batch)
    }

    /// Micro-batches add up to the whole batch: the same loss, gradient norm, KL and margins,
    /// and the same weights after the step (the next step's loss is equal), for SFT, DPO and
    /// IPO, with micro-batches that divide the batch and one that does not.
    #[test]
    fn micro_batches_add_up_to_the_whole_batch() {
        let dev = Device::Cpu;
        let seqs: Vec<Vec<u32>> = (0..6u32)
            .map(|i| (0..5 + i).map(|j| (i * 7 + j * 3) % 30).collect())
            .collect();
        let rows: Vec<(&[u32], usize)> = seqs.iter().map(|s| (s.as_slice(), 2)).collect();
        let batch = SeqBatch::new(&rows, 0, &dev).unwrap();
        let close = |a: f64, b: f64, what: &str| {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                "{what}: {a} vs {b}"
            )
        };
        for micro in [1, 2, 3] {
            for ipo in [false, true] {
                let (mut whole, _) = off_reference(0.3, ipo);
                let (mut parts, _) = off_reference(0.3, ipo);
                whole.config.kl_coef = 0.1;
                parts.config.kl_coef = 0.1;
                parts.config.micro_batch = micro;
                let (x, y) = (
                    whole.dpo_step(&batch).unwrap(),
                    parts.dpo_step(&batch).unwrap(),
                );
                for (a, b, what) in [
                    (x.loss, y.loss, "dpo loss"),
                    (x.grad_norm, y.grad_norm, "dpo grad norm"),
                    (x.kl, y.kl, "dpo kl"),
                    (x.margin, y.margin, "margin"),
                    (x.accuracy, y.accuracy, "accuracy"),
                ] {
                    close(a, b, what);
                }
                let (x, y) = (
                    whole.sft_step(&batch).unwrap(),
                    parts.sft_step(&batch).unwrap(),
                );
                close(x.loss, y.loss, "sft loss after a dpo step");
                close(x.grad_norm, y.grad_norm, "sft grad norm");
                close(x.kl, y.kl, "sft kl");
                let (x, y) = (
                    whole.sft_step(&batch).unwrap(),
                    parts.sft_step(&batch).unwrap(),
                );
                close(x.loss, y.loss, "sft loss after an sft step");
            }
        }
    }

    /// (pi_c - ref_c, pi_r - ref_r) and the response lengths, computed independently.
    fn log_ratios(t: &PolicyTrainer, b: &SeqBatch) -> ([f64; 2], [f64; 2]) {
        let p: Vec<f32> = t.policy.sequence_logps(b).unwrap().to_vec1().unwrap();
        let r: Vec<f32> = t.reference.sequence_logps(b).unwrap().to_vec1().unwrap();
        let d = [(p[0] - r[0]) as f64, (p[1] - r[1]) as f64];
        let n = [b.response_tokens[0] as f64, b.response_tokens[1] as f64];
        (d, n)
    }

    #[test]
    fn dpo_matches_its_formula_off_the_reference_and_beta_matters() {
        let mut losses = Vec::new();
        for beta in [0.1, 0.5] {
            let (mut t, b) = off_reference(beta, false);
            let (d, _) = log_ratios(&t, &b);
            let h = d[0] - d[1];
            assert!(h.abs() > 1e-3, "the reference must differ: {h}");
            let want = (1.0 + (-beta * h).exp()).ln();
            let step = t.dpo_step(&b).unwrap();
            assert!(
                (step.loss - want).abs() < 1e-5,
                "beta {beta}: {} vs {want}",
                step.loss
            );
            assert!((step.margin - beta * h).abs() < 1e-5);
            losses.push(step.loss);
        }
        assert!(
            (losses[0] - losses[1]).abs() > 1e-4,
            "beta changes the loss"
        );
    }

    #[test]
    fn ipo_averages_log_ratios_over_the_completion_as_trl_does() {
        let beta = 0.1;
        let (mut t, b) = off_reference(beta, true);
        let (d, n) = log_ratios(&t, &b);
        assert_ne!(n[0], n[1]);
        // TRL: logits = chosen_logratios - rejected_logratios on mean per-token log-probs,
        // loss = (logits - 1 / (2 beta))^2.
        let h = d[0] / n[0] - d[1] / n[1];
        let want = (h - 1.0 / (2.0 * beta)).powi(2);
        let step = t.dpo_step(&b).unwrap();
        assert!(
            (step.loss - want).abs() < 1e-4 * want.max(1.0),
            "{} vs {want}",
            step.loss
        );
        let summed = (d[0] - d[1] - 1.0 / (2.0 * beta)).powi(2);
        assert!((step.loss - summed).abs() > 1e-3, "not the summed form");
    }

    #[test]
    fn prompt_positions_carry_no_weight() {
        let dev = Device::Cpu;
        let seq: &[u32] = &[3, 4, 5, 6, 7];
        let b = SeqBatch::new(&[(seq, 3), (&seq[..4], 1)], 0, &dev).unwrap();
        let w: Vec<f32> = b.weights.to_vec1().unwrap();
        // A position is weighted when the token it predicts is a response token: row 0 (prompt
        // of 3) at positions 2 and 3, row 1 (prompt of 1) at 0, 1 and 2; never a prompt token.
        let (s, t) = (b.seq, b.batch);
        assert_eq!(t, 2);
        let row = |i: usize| w[i * s..(i + 1) * s].to_vec();
        assert_eq!(row(0), vec![0.0, 0.0, 1.0, 1.0, 0.0]);
        assert_eq!(row(1), vec![1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(b.response_tokens, vec![2, 3]);
    }
}
