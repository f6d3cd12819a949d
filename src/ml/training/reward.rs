//! The reward-model training loop: batches of pairs (or whole rankings for Plackett-Luce),
//! AdamW with warm-up and decay, gradient clipping, evaluation. Deterministic on CPU for a
//! seed: the data order of an epoch is a function of (seed, epoch), so a run resumed at step
//! N continues exactly as the uninterrupted run would.

use std::time::Instant;

use candle_core::{Device, Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::ml::kernels::on_pool;
use crate::ml::models::reward::{Batch, RewardModel};
use crate::ml::text::tokenizer::Encoded;
use crate::ml::training::loss;
use crate::ml::training::optim::{learning_rate, AdamW, AdamWConfig, Gradients, Schedule};
use crate::ml::training::TrainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Bradley-Terry on every ordered pair a ranking implies.
    Bt,
    /// Plackett-Luce on full rankings (listwise); best/worst rankings fall back to pairs.
    Pl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieMode {
    Drop,
    /// Davidson's tie-aware Bradley-Terry.
    Model,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub lr: f64,
    pub batch_pairs: usize,
    pub warmup_frac: f64,
    pub schedule: Schedule,
    pub weight_decay: f64,
    pub clip_norm: f64,
    pub seed: u64,
    pub loss: LossKind,
    pub ties: TieMode,
    /// Use the stored strength of preference as a margin in BT.
    pub use_margin: bool,
    /// Weight of the reward-centring term (0 = off).
    pub center_lambda: f64,
    /// Evaluate (and checkpoint) every this many steps (0: twice per epoch, so the best
    /// checkpoint of a one-epoch run can be its middle).
    pub eval_every: usize,
    /// Stop when held-out accuracy has not improved for this many evaluations (0: never).
    #[serde(default)]
    pub patience: usize,
    /// Pairs per forward and backward pass, their gradients added up to the step's (0: the
    /// whole batch in one pass). Memory holds one micro-batch's activations; the step is the
    /// same. Bradley-Terry only: a listwise step is one pass.
    #[serde(default)]
    pub micro_batch: usize,
}

impl Default for TrainConfig {
    /// Defaults for a few thousand pairs: a handful of epochs, lr 3e-4 with 10 % warm-up.
    fn default() -> Self {
        TrainConfig {
            epochs: 3,
            lr: 3e-4,
            batch_pairs: 8,
            warmup_frac: 0.1,
            schedule: Schedule::Cosine,
            weight_decay: 0.01,
            clip_norm: 1.0,
            seed: 0,
            loss: LossKind::Bt,
            ties: TieMode::Drop,
            use_margin: true,
            center_lambda: 0.0,
            eval_every: 0,
            patience: 3,
            micro_batch: 0,
        }
    }
}

/// One ranking, in indices of `TrainData::seqs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub pairs: Vec<(usize, usize)>,
    pub ties: Vec<(usize, usize)>,
    /// Tie groups, best first, for full rankings (Plackett-Luce); `None` for best/worst.
    pub groups: Option<Vec<Vec<usize>>>,
    pub margin: f32,
    /// One margin per pair where they differ (ratings: the difference in points); else `margin`.
    pub pair_margins: Option<Vec<f32>>,
    /// The head (criterion) this ranking trains; 0 for a one-head model.
    pub head: usize,
}

#[derive(Debug, Clone, Default)]
pub struct TrainData {
    pub seqs: Vec<Encoded>,
    pub train: Vec<Comparison>,
    pub eval: Vec<Comparison>,
}

/// A pair as trained on: `a` preferred to `b`, or tied with it.
#[derive(Debug, Clone, Copy)]
struct PairItem {
    a: usize,
    b: usize,
    tie: bool,
    margin: f32,
    weight: f32,
    head: usize,
}

fn pair_items(comps: &[Comparison], cfg: &TrainConfig) -> Vec<PairItem> {
    let mut out = Vec::new();
    for c in comps {
        let with_ties = cfg.ties == TieMode::Model;
        let n = c.pairs.len() + if with_ties { c.ties.len() } else { 0 };
        if n == 0 {
            continue;
        }
        let w = 1.0 / n as f32;
        let margin = if cfg.use_margin { c.margin } else { 0.0 };
        out.extend(c.pairs.iter().enumerate().map(|(i, &(a, b))| PairItem {
            a,
            b,
            tie: false,
            margin: match &c.pair_margins {
                Some(m) if cfg.use_margin => m[i],
                _ => margin,
            },
            weight: w,
            head: c.head,
        }));
        if with_ties {
            out.extend(c.ties.iter().map(|&(a, b)| PairItem {
                a,
                b,
                tie: true,
                margin: 0.0,
                weight: w,
                head: c.head,
            }));
        }
    }
    out
}

/// The same permutation for the same (seed, epoch) everywhere.
fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    crate::domain::shuffle(
        &mut idx,
        seed ^ epoch.wrapping_mul(crate::domain::SplitMix64::GOLDEN),
    );
    idx
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub chosen_reward: f64,
    pub rejected_reward: f64,
    pub margin: f64,
    pub grad_norm: f64,
    pub lr: f64,
    pub pairs_per_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub step: u64,
    pub loss: f64,
    pub accuracy: f64,
    pub pairs: usize,
    /// Accuracy of each head on its own held-out pairs (NaN where it has none).
    #[serde(default)]
    pub head_accuracy: Vec<f64>,
}

pub struct Trainer {
    pub model: RewardModel,
    pub opt: AdamW,
    pub config: TrainConfig,
    data: TrainData,
    train_pairs: Vec<PairItem>,
    eval_pairs: Vec<PairItem>,
    /// Comparisons with full groups, for Plackett-Luce batches.
    pl_units: Vec<usize>,
    pad: u32,
    pub step: u64,
    device: Device,
}

impl Trainer {
    pub fn new(
        model: RewardModel,
        config: TrainConfig,
        data: TrainData,
        pad: u32,
        device: &Device,
    ) -> Result<Trainer> {
        let heads = model.config.n_outputs;
        if let Some(c) = data
            .train
            .iter()
            .chain(&data.eval)
            .find(|c| c.head >= heads)
        {
            candle_core::bail!("a ranking trains head {} of a model with {heads}", c.head);
        }
        let opt = AdamW::new(
            model.trainable(),
            AdamWConfig {
                lr: config.lr,
                weight_decay: config.weight_decay,
                ..AdamWConfig::default()
            },
        )?;
        let train_pairs = pair_items(&data.train, &config);
        // Evaluation is always plain pairwise accuracy and BT loss, without margins.
        let eval_cfg = TrainConfig {
            ties: TieMode::Drop,
            use_margin: false,
            ..config.clone()
        };
        let eval_pairs = pair_items(&data.eval, &eval_cfg);
        let pl_units = (0..data.train.len())
            .filter(|&i| !data.train[i].pairs.is_empty())
            .collect();
        Ok(Trainer {
            model,
            opt,
            config,
            data,
            train_pairs,
            eval_pairs,
            pl_units,
            pad,
            step: 0,
            device: device.clone(),
        })
    }

    pub fn train_pair_count(&self) -> usize {
        self.train_pairs.iter().filter(|p| !p.tie).count()
    }

    pub fn eval_pair_count(&self) -> usize {
        self.eval_pairs.len()
    }

    fn units(&self) -> usize {
        match self.config.loss {
            LossKind::Bt => self.train_pairs.len(),
            LossKind::Pl => self.pl_units.len(),
        }
    }

    /// Items per batch: pairs for BT; rankings for PL (about the same number of sequences).
    fn batch_units(&self) -> usize {
        match self.config.loss {
            LossKind::Bt => self.config.batch_pairs.max(1),
            LossKind::Pl => (self.config.batch_pairs / 2).max(1),
        }
    }

    pub fn steps_per_epoch(&self) -> u64 {
        self.units().div_ceil(self.batch_units()) as u64
    }

    pub fn total_steps(&self) -> u64 {
        self.steps_per_epoch() * self.config.epochs as u64
    }

    pub fn done(&self) -> bool {
        self.step >= self.total_steps()
    }

    pub fn epoch(&self) -> usize {
        (self.step / self.steps_per_epoch().max(1)) as usize
    }

    /// The unit indices of the current step.
    fn current_units(&self) -> Vec<usize> {
        let spe = self.steps_per_epoch().max(1);
        let epoch = self.step / spe;
        let within = (self.step % spe) as usize;
        let order = permutation(self.units(), self.config.seed, epoch);
        let bu = self.batch_units();
        order[within * bu..((within + 1) * bu).min(order.len())].to_vec()
    }

    fn batch_of(&self, seq_ids: &[usize]) -> Result<Batch> {
        let seqs: Vec<&[u32]> = seq_ids
            .iter()
            .map(|&i| self.data.seqs[i].ids.as_slice())
            .collect();
        let types: Vec<&[u32]> = seq_ids
            .iter()
            .map(|&i| self.data.seqs[i].type_ids.as_slice())
            .collect();
        Batch::new(&seqs, Some(&types), self.pad, &self.device)
    }

    /// Loss and per-pair rewards for a list of pairs (chosen/first in `a`).
    fn pair_loss(
        &self,
        model: &RewardModel,
        items: &[PairItem],
    ) -> Result<(Tensor, Vec<f32>, Vec<f32>)> {
        let n = items.len();
        let mut ids: Vec<usize> = items.iter().map(|p| p.a).collect();
        ids.extend(items.iter().map(|p| p.b));
        let heads: Vec<usize> = items.iter().chain(items).map(|p| p.head).collect();
        let r = self.rewards_of(model, &ids, &heads)?;
        let (ra, rb) = (r.narrow(0, 0, n)?, r.narrow(0, n, n)?);
        let f = |v: Vec<f32>| Tensor::from_vec(v, n, &self.device);
        let w = f(items.iter().map(|p| p.weight).collect())?;
        let margins = f(items.iter().map(|p| p.margin).collect())?;
        let loss = if items.iter().any(|p| p.tie) {
            loss::bt_with_ties(
                &ra,
                &rb,
                &margins,
                &f(items.iter().map(|p| p.tie as u8 as f32).collect())?,
                &w,
            )?
        } else {
            loss::bradley_terry(&ra, &rb, &margins, &w)?
        };
        let loss = if self.config.center_lambda > 0.0 {
            (loss + loss::centring(&ra, &rb, &w, self.config.center_lambda)?)?
        } else {
            loss
        };
        Ok((loss, ra.to_vec1()?, rb.to_vec1()?))
    }

    /// Rewards of sequences `ids`, each from its head: (ids.len(),).
    fn rewards_of(&self, model: &RewardModel, ids: &[usize], heads: &[usize]) -> Result<Tensor> {
        let all = model.forward_heads(&self.batch_of(ids)?)?;
        let h = all.dim(1)?;
        if h == 1 {
            return all.squeeze(1);
        }
        // Row i's reward sits at i * h + head in the flattened (batch, heads) matrix.
        let at: Vec<u32> = heads
            .iter()
            .enumerate()
            .map(|(i, &k)| (i * h + k) as u32)
            .collect();
        all.flatten_all()?
            .index_select(&Tensor::from_vec(at, ids.len(), &self.device)?, 0)
    }

    /// Plackett-Luce over whole rankings; rankings without full groups use their pairs (BT).
    fn listwise_loss(&self, comps: &[usize]) -> Result<(Tensor, Vec<(f32, f32)>)> {
        let mut seq_ids = Vec::new();
        let mut rankings = Vec::new();
        let mut weights = Vec::new();
        let mut pair_pos = Vec::new();
        let mut heads = Vec::new();
        for &ci in comps {
            let c = &self.data.train[ci];
            let base = seq_ids.len();
            let mut members: Vec<usize> = c.pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
            members.sort_unstable();
            members.dedup();
            let local = |s: usize| base + members.iter().position(|&m| m == s).unwrap_or(0);
            if let Some(groups) = &c.groups {
                rankings.push(
                    groups
                        .iter()
                        .map(|g| g.iter().map(|&s| local(s)).collect())
                        .collect(),
                );
                weights.push(1.0f32);
            } else {
                for &(a, b) in &c.pairs {
                    pair_pos.push((local(a), local(b), 1.0 / c.pairs.len() as f32));
                }
            }
            for &(a, b) in &c.pairs {
                pair_pos.push((local(a), local(b), 0.0));
            }
            heads.extend(members.iter().map(|_| c.head));
            seq_ids.extend(members);
        }
        let r = self.rewards_of(&self.model, &seq_ids, &heads)?;
        let mut loss = loss::plackett_luce(&r, &rankings, &weights)?;
        let bt: Vec<&(usize, usize, f32)> = pair_pos.iter().filter(|p| p.2 > 0.0).collect();
        if !bt.is_empty() {
            let idx = |f: fn(&(usize, usize, f32)) -> usize| {
                Tensor::from_vec(
                    bt.iter().map(|p| f(p) as u32).collect::<Vec<_>>(),
                    bt.len(),
                    &self.device,
                )
            };
            let ra = r.index_select(&idx(|p| p.0)?, 0)?;
            let rb = r.index_select(&idx(|p| p.1)?, 0)?;
            let w = Tensor::from_vec(
                bt.iter().map(|p| p.2).collect::<Vec<_>>(),
                bt.len(),
                &self.device,
            )?;
            let bt_loss = loss::bradley_terry(&ra, &rb, &ra.zeros_like()?, &w)?;
            // Mix by how many rankings each part covers.
            let n_pl = rankings.len() as f64;
            let n_bt = comps.len() as f64 - n_pl;
            loss = (((loss * n_pl)? + (bt_loss * n_bt)?)? / comps.len() as f64)?;
        }
        let rv: Vec<f32> = r.to_vec1()?;
        let pairs = pair_pos
            .iter()
            .filter(|p| p.2 == 0.0)
            .map(|&(a, b, _)| (rv[a], rv[b]))
            .collect();
        Ok((loss, pairs))
    }

    /// One optimisation step. Errors if the loss or gradients stop being finite.
    pub fn train_step(&mut self) -> std::result::Result<StepMetrics, TrainError> {
        on_pool(|| self.train_step_here())
    }

    fn train_step_here(&mut self) -> std::result::Result<StepMetrics, TrainError> {
        let started = Instant::now();
        let units = self.current_units();
        let vars = self.model.trainable();
        let side = &self.model.params.side;
        let mut grads = Gradients::default();
        let mut loss_v = 0.0;
        let mut pairs: Vec<(f32, f32)> = Vec::new();
        match self.config.loss {
            LossKind::Bt => {
                let items: Vec<PairItem> = units.iter().map(|&i| self.train_pairs[i]).collect();
                let per_pass = match self.config.micro_batch {
                    0 => items.len().max(1),
                    m => m,
                };
                // Each part's loss is a weighted mean over its pairs: scaled by its share of
                // the weight, the parts add up to the whole batch's mean.
                let weight: f64 = items.iter().map(|p| p.weight as f64).sum();
                for part in items.chunks(per_pass) {
                    let (loss, ra, rb) = self.pair_loss(&self.model, part)?;
                    let share = match items.len() == part.len() {
                        true => 1.0,
                        false => {
                            part.iter().map(|p| p.weight as f64).sum::<f64>() / weight.max(1e-12)
                        }
                    };
                    loss_v += grads.add(&(loss * share)?, &vars, side, self.step)?;
                    pairs.extend(
                        part.iter()
                            .zip(ra.iter().zip(&rb))
                            .filter(|(p, _)| !p.tie)
                            .map(|(_, (a, b))| (*a, *b)),
                    );
                }
            }
            LossKind::Pl => {
                let comps: Vec<usize> = units.iter().map(|&i| self.pl_units[i]).collect();
                let (loss, p) = self.listwise_loss(&comps)?;
                loss_v = grads.add(&loss, &vars, side, self.step)?;
                pairs = p;
            }
        }
        let total = self.total_steps();
        let warmup = ((total as f64) * self.config.warmup_frac).round() as u64;
        let lr = learning_rate(
            self.config.schedule,
            self.config.lr,
            self.step,
            warmup,
            total,
        );
        let grad_norm =
            grads.descend(&vars, &mut self.opt, self.config.clip_norm, lr, self.step)?;
        let n = pairs.len().max(1) as f64;
        let metrics = StepMetrics {
            step: self.step,
            epoch: self.epoch(),
            loss: loss_v,
            accuracy: pairs.iter().filter(|(a, b)| a > b).count() as f64 / n,
            chosen_reward: pairs.iter().map(|p| p.0 as f64).sum::<f64>() / n,
            rejected_reward: pairs.iter().map(|p| p.1 as f64).sum::<f64>() / n,
            margin: pairs.iter().map(|p| (p.0 - p.1) as f64).sum::<f64>() / n,
            grad_norm,
            lr,
            pairs_per_s: pairs.len() as f64 / started.elapsed().as_secs_f64().max(1e-9),
        };
        self.step += 1;
        Ok(metrics)
    }

    /// Pairwise accuracy and BT loss on the eval split (no gradients).
    pub fn evaluate(&self) -> Result<EvalMetrics> {
        on_pool(|| self.evaluate_here())
    }

    fn evaluate_here(&self) -> Result<EvalMetrics> {
        let (mut loss_sum, mut w_sum, mut correct) = (0f64, 0f64, 0usize);
        let mut per_head = vec![(0usize, 0usize); self.model.config.n_outputs];
        let frozen = self.model.frozen_copy()?;
        for chunk in self.eval_pairs.chunks(32) {
            let (loss, ra, rb) = self.pair_loss(&frozen, chunk)?;
            let w: f64 = chunk.iter().map(|p| p.weight as f64).sum();
            loss_sum += loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()? * w;
            w_sum += w;
            for (p, (a, b)) in chunk.iter().zip(ra.iter().zip(&rb)) {
                let h = &mut per_head[p.head];
                h.0 += 1;
                h.1 += (a > b) as usize;
                correct += (a > b) as usize;
            }
        }
        let n = self.eval_pairs.len();
        Ok(EvalMetrics {
            step: self.step,
            loss: if w_sum > 0.0 {
                loss_sum / w_sum
            } else {
                f64::NAN
            },
            accuracy: if n > 0 {
                correct as f64 / n as f64
            } else {
                f64::NAN
            },
            pairs: n,
            head_accuracy: per_head
                .iter()
                .map(|&(n, c)| if n > 0 { c as f64 / n as f64 } else { f64::NAN })
                .collect(),
        })
    }

    /// Whether an evaluation is due after the step just taken.
    pub fn eval_due(&self) -> bool {
        if self.eval_pairs.is_empty() {
            return false;
        }
        let every = if self.config.eval_every > 0 {
            self.config.eval_every as u64
        } else {
            self.steps_per_epoch().div_ceil(2).max(1)
        };
        self.step.is_multiple_of(every) || self.done()
    }
}

/// Rewards of many sequences (the first head), in batches, without building a gradient graph.
pub fn score(
    model: &RewardModel,
    seqs: &[&Encoded],
    pad: u32,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    Ok(score_heads(model, seqs, pad, batch, device)?
        .into_iter()
        .map(|r| r[0])
        .collect())
}

/// Rewards of every head for many sequences: one row of `n_outputs` per sequence.
pub fn score_heads(
    model: &RewardModel,
    seqs: &[&Encoded],
    pad: u32,
    batch: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    // Plain-tensor weights: no gradient graph, so each layer's activations are freed at once.
    let model = model.frozen_copy()?;
    on_pool(|| {
        let mut out = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(batch.max(1)) {
            let ids: Vec<&[u32]> = chunk.iter().map(|e| e.ids.as_slice()).collect();
            let types: Vec<&[u32]> = chunk.iter().map(|e| e.type_ids.as_slice()).collect();
            let r = model.forward_heads(&Batch::new(&ids, Some(&types), pad, device)?)?;
            out.extend(r.to_vec2::<f32>()?);
        }
        Ok(out)
    })
}
