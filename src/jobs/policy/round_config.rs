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

/// A round's main settings as a person sets them on the Improve screen (`o`):
/// `n=8 lr=2e-4 lora=16 epochs=1`, any of them, spaces or commas between. What is not set
/// stays the method's default, as on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoundSettings {
    /// Samples per prompt (best-of-n's n, RLOO's k, DPO's candidates).
    pub n: Option<usize>,
    pub lr: Option<f64>,
    /// LoRA adapters of this rank (alpha 2 x rank); 0 or `off` trains every weight.
    pub lora_rank: Option<usize>,
    pub epochs: Option<usize>,
}

impl RoundSettings {
    pub fn parse(text: &str) -> Result<RoundSettings, String> {
        let mut s = RoundSettings::default();
        for part in text.split([' ', ',']).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("{part:?}: write name=value (n=8 lr=2e-4 lora=16 epochs=1)")
            })?;
            let count = |max: usize| {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|v| (1..=max).contains(v))
                    .ok_or_else(|| format!("{key}={value}: a whole number from 1 to {max}"))
            };
            match key {
                "n" => s.n = Some(count(64)?),
                "epochs" => s.epochs = Some(count(100)?),
                "lora" if value == "off" || value == "0" => s.lora_rank = Some(0),
                "lora" => s.lora_rank = Some(count(256)?),
                "lr" => {
                    s.lr = Some(
                        value
                            .parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite() && *v > 0.0 && *v < 1.0)
                            .ok_or_else(|| {
                                format!("lr={value}: a positive number below 1, e.g. 2e-4")
                            })?,
                    )
                }
                _ => return Err(format!("{key}: not a round setting (n, lr, lora, epochs)")),
            }
        }
        Ok(s)
    }

    /// Sets what was given on `cfg`, whose method is already chosen. LoRA without its own lr
    /// learns at ten times the method's (as `improve --lora-rank` does).
    pub fn apply(&self, cfg: &mut ImproveConfig) {
        if let Some(n) = self.n {
            cfg.n = n;
        }
        if let Some(e) = self.epochs {
            cfg.epochs = e;
        }
        cfg.lora = self.lora_rank.filter(|r| *r > 0).map(|rank| LoraConfig {
            rank,
            alpha: 2.0 * rank as f64,
        });
        cfg.train.lr = self
            .lr
            .unwrap_or(default_lr(cfg.method) * if cfg.lora.is_some() { 10.0 } else { 1.0 });
    }

    /// The settings a round with `method` will use, for the screen.
    pub fn describe(&self, method: Method) -> String {
        let mut cfg = ImproveConfig {
            method,
            ..ImproveConfig::default()
        };
        self.apply(&mut cfg);
        format!(
            "n {} · lr {:.0e} · LoRA {} · epochs {}",
            cfg.n,
            cfg.train.lr,
            cfg.lora
                .map_or("off".into(), |l| format!("rank {}", l.rank)),
            cfg.epochs
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_settings_parse_apply_and_say_what_is_wrong() {
        let s = RoundSettings::parse("n=8, lr=3e-4 lora=16").unwrap();
        let mut cfg = ImproveConfig {
            method: Method::Dpo,
            ..ImproveConfig::default()
        };
        s.apply(&mut cfg);
        assert_eq!(
            (cfg.n, cfg.train.lr, cfg.lora.map(|l| l.rank)),
            (8, 3e-4, Some(16))
        );
        assert_eq!(cfg.lora.unwrap().alpha, 32.0);
        // LoRA without an lr: ten times the method's.
        let s = RoundSettings::parse("lora=8").unwrap();
        s.apply(&mut cfg);
        assert_eq!(cfg.train.lr, default_lr(Method::Dpo) * 10.0);
        assert_eq!(
            s.describe(Method::Bon),
            "n 4 · lr 2e-3 · LoRA rank 8 · epochs 2"
        );
        assert_eq!(
            RoundSettings::parse("").unwrap().describe(Method::Dpo),
            "n 4 · lr 1e-5 · LoRA off · epochs 2"
        );
        assert_eq!(RoundSettings::parse("lora=off").unwrap().lora_rank, Some(0));
        for (bad, says) in [
            ("n=0", "from 1 to 64"),
            ("lr=-1", "positive number"),
            ("lr=abc", "positive number"),
            ("temperature=2", "not a round setting"),
            ("n8", "name=value"),
        ] {
            let e = RoundSettings::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
