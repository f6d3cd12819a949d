//! What a policy round is asked to do: the method, its settings and their defaults.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Best-of-n rejection-sampling fine-tuning.
    Bon,
    /// Direct preference optimisation on human rankings plus RM-ranked samples.
    Dpo,
    /// REINFORCE leave-one-out with a KL penalty, the RM as reward.
    Rloo,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Bon => "bon",
            Method::Dpo => "dpo",
            Method::Rloo => "rloo",
        }
    }
}

/// Learning rates that work for the tiny policy: DPO and RLOO move the policy much further
/// per step than supervised best-of-n (DPO at 1e-4 drifts to KL > 5 in one round).
pub fn default_lr(method: Method) -> f64 {
    match method {
        Method::Bon => 2e-4,
        Method::Dpo | Method::Rloo => 1e-5,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImproveConfig {
    pub method: Method,
    pub policy: PolicyRef,
    /// The reward model: a checkpoint id or folder; `None` = the newest RM checkpoint.
    pub reward_model: Option<String>,
    /// Samples per prompt (best-of-n's n, RLOO's k, DPO's candidates to rank).
    pub n: usize,
    pub epochs: usize,
    /// RLOO: optimisation steps (each samples afresh).
    pub rloo_steps: usize,
    /// Sequences (SFT) or pairs (DPO) or prompts (RLOO) per step.
    pub batch: usize,
    /// Use at most this many train prompts per round (0 = all).
    pub max_prompts: usize,
    /// Held-out prompts sampled before and after the round.
    pub eval_prompts: usize,
    pub eval_fraction: f64,
    pub max_response_tokens: usize,
    /// DPO: also learn from human rankings in the DB.
    pub use_human_pairs: bool,
    pub gen: GenConfig,
    pub train: PolicyTrainConfig,
    /// Train LoRA adapters instead of every weight (Llama-family policies).
    #[serde(default)]
    pub lora: Option<LoraConfig>,
    /// Overrides the prompt format the starting policy carries (see `ml::chat::FORMAT_NAMES`).
    #[serde(default)]
    pub chat_template: Option<String>,
    /// Write a checkpoint (weights and optimizer state) every this many steps, so a killed
    /// round can be resumed; 0 = only at the end. Only the newest is kept.
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Several criteria's reward models combined (`--reward`), each resolved to a checkpoint
    /// when the round is set up; empty: the one `reward_model`.
    #[serde(default)]
    pub reward: Vec<RewardPart>,
    /// Where this criterion's score is below the threshold, it replaces the combination.
    #[serde(default)]
    pub gate: Option<RewardGate>,
}

impl Default for ImproveConfig {
    fn default() -> Self {
        ImproveConfig {
            method: Method::Bon,
            policy: PolicyRef::Latest,
            reward_model: None,
            n: 4,
            epochs: 2,
            rloo_steps: 50,
            batch: 8,
            max_prompts: 0,
            eval_prompts: 32,
            eval_fraction: 0.1,
            max_response_tokens: 64,
            use_human_pairs: true,
            gen: GenConfig {
                max_new_tokens: 64,
                ..GenConfig::default()
            },
            train: PolicyTrainConfig {
                lr: default_lr(Method::Bon),
                warmup_frac: 0.1,
                ..PolicyTrainConfig::default()
            },
            lora: None,
            chat_template: None,
            checkpoint_every: 50,
            reward: Vec::new(),
            gate: None,
        }
    }
}

/// One improvement round: held-out samples before, the method, held-out samples after, a
/// checkpoint. The new run is round `parent round + 1`.
/// RLOO's gradient and KL use log-probabilities of the policy itself (temperature 1, no
/// truncation); samples drawn from a reshaped distribution would make them off-policy.
pub fn rloo_sampling_problem(cfg: &ImproveConfig) -> Option<String> {
    let g = &cfg.gen;
    (cfg.method == Method::Rloo && (g.temperature != 1.0 || g.top_k != 0 || g.top_p < 1.0)).then(|| {
        format!(
            "--method rloo samples from the policy as it is (temperature 1, top-k 0, top-p 1), so that its \
             log-probabilities and KL are on-policy; got temperature {}, top-k {}, top-p {}: drop those flags",
            g.temperature, g.top_k, g.top_p
        )
    })
}
