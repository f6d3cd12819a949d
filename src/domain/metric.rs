//! Names of the metrics jobs write to the store (`runs.metrics`) and the screens, report and
//! stats read back: one spelling, shared by writer and readers. Per-criterion variants append
//! `.<criterion>` (see [`per_criterion`]).

// Reward-model training, per step.
pub const LOSS: &str = "loss";
pub const ACCURACY: &str = "accuracy";
pub const CHOSEN_REWARD: &str = "chosen_reward";
pub const REJECTED_REWARD: &str = "rejected_reward";
pub const MARGIN: &str = "margin";
pub const GRAD_NORM: &str = "grad_norm";
pub const LR: &str = "lr";
pub const PAIRS_PER_S: &str = "pairs_per_s";
pub const EPOCH: &str = "epoch";
// Reward-model training, per evaluation.
pub const EVAL_LOSS: &str = "eval_loss";
pub const EVAL_ACCURACY: &str = "eval_accuracy";
// Once per run.
pub const EPOCHS: &str = "epochs";
pub const TOTAL_STEPS: &str = "total_steps";
// Policy training, per step.
pub const KL: &str = "kl";
pub const REWARD: &str = "reward";
pub const TOKENS_PER_S: &str = "tokens_per_s";
// A policy round's held-out samples, before and after.
pub const HELDOUT_KL: &str = "heldout_kl";
pub const HELDOUT_REWARD_BEFORE: &str = "heldout_reward_before";
pub const HELDOUT_REWARD_AFTER: &str = "heldout_reward_after";
pub const HELDOUT_REWARD_BEFORE_MEAN: &str = "heldout_reward_before_mean";
pub const HELDOUT_REWARD_AFTER_MEAN: &str = "heldout_reward_after_mean";
pub const HELDOUT_LEN_BEFORE: &str = "heldout_len_before";
pub const HELDOUT_LEN_AFTER: &str = "heldout_len_after";

/// `metric` of one criterion: `eval_accuracy.helpful`.
pub fn per_criterion(metric: &str, criterion: &str) -> String {
    format!("{metric}.{criterion}")
}
