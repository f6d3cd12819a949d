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
/// `n=8 lr=2e-4 lora=16 epochs=1 tokens=96 beta=0.2 steps=100 kl=0.05`, any of them, spaces
/// or commas between. What is not set stays the method's default, as on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoundSettings {
    /// Samples per prompt (best-of-n's n, RLOO's k, DPO's candidates).
    pub n: Option<usize>,
    pub lr: Option<f64>,
    /// LoRA adapters of this rank (alpha 2 x rank); 0 or `off` trains every weight.
    pub lora_rank: Option<usize>,
    pub epochs: Option<usize>,
    /// New tokens per sampled answer (`improve --max-new-tokens`).
    pub tokens: Option<usize>,
    /// DPO's temperature, RLOO's KL coefficient (`--beta`).
    pub beta: Option<f64>,
    /// RLOO's optimisation steps (`--steps`).
    pub steps: Option<usize>,
    /// Best-of-n's KL weight (`--kl-coef`); 0 is off.
    pub kl: Option<f64>,
}

/// The names `RoundSettings::parse` takes, for its messages.
const SETTING_NAMES: &str = "n, lr, lora, epochs, tokens, beta, steps, kl";

impl RoundSettings {
    pub fn parse(text: &str) -> Result<RoundSettings, String> {
        let mut s = RoundSettings::default();
        for part in text.split([' ', ',']).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("{part:?}: write name=value (n=8 lr=2e-4 lora=16 epochs=1 tokens=96)")
            })?;
            let count = |max: usize| {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|v| (1..=max).contains(v))
                    .ok_or_else(|| format!("{key}={value}: a whole number from 1 to {max}"))
            };
            let number = |lo: f64, hi: f64, e_g: &str| {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= lo && *v <= hi)
                    .ok_or_else(|| format!("{key}={value}: a number from {lo} to {hi}, e.g. {e_g}"))
            };
            match key {
                "n" => s.n = Some(count(64)?),
                "epochs" => s.epochs = Some(count(100)?),
                "tokens" => s.tokens = Some(count(2048)?),
                "steps" => s.steps = Some(count(100_000)?),
                "beta" => s.beta = Some(number(1e-4, 100.0, "0.1")?),
                "kl" => s.kl = Some(number(0.0, 100.0, "0.05")?),
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
                _ => return Err(format!("{key}: not a round setting ({SETTING_NAMES})")),
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
        if let Some(t) = self.tokens {
            (cfg.gen.max_new_tokens, cfg.max_response_tokens) = (t, t);
        }
        if let Some(b) = self.beta {
            cfg.train.beta = b;
        }
        if let Some(st) = self.steps {
            cfg.rloo_steps = st;
        }
        if let Some(k) = self.kl {
            cfg.train.kl_coef = k;
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
        let lora = cfg
            .lora
            .map_or("off".into(), |l| format!("rank {}", l.rank));
        // Only what the method uses: epochs and KL for best-of-n, beta for DPO and RLOO.
        let extra = match method {
            Method::Bon if cfg.train.kl_coef > 0.0 => {
                format!(" · epochs {} · kl {}", cfg.epochs, cfg.train.kl_coef)
            }
            Method::Bon => format!(" · epochs {}", cfg.epochs),
            Method::Dpo => format!(" · epochs {} · beta {}", cfg.epochs, cfg.train.beta),
            Method::Rloo => format!(" · steps {} · beta {}", cfg.rloo_steps, cfg.train.beta),
        };
        format!(
            "n {} · lr {:.0e} · LoRA {lora} · tokens {}{extra}",
            cfg.n, cfg.train.lr, cfg.gen.max_new_tokens
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
            "n 4 · lr 2e-3 · LoRA rank 8 · tokens 64 · epochs 2"
        );
        assert_eq!(
            RoundSettings::parse("").unwrap().describe(Method::Dpo),
            "n 4 · lr 1e-5 · LoRA off · tokens 64 · epochs 2 · beta 0.1"
        );
        // The rest of improve's main flags.
        let s = RoundSettings::parse("tokens=96 beta=0.2 steps=120 kl=0.05").unwrap();
        let mut cfg = ImproveConfig {
            method: Method::Rloo,
            ..ImproveConfig::default()
        };
        s.apply(&mut cfg);
        assert_eq!(
            (
                cfg.gen.max_new_tokens,
                cfg.max_response_tokens,
                cfg.rloo_steps
            ),
            (96, 96, 120)
        );
        assert_eq!((cfg.train.beta, cfg.train.kl_coef), (0.2, 0.05));
        assert_eq!(
            s.describe(Method::Rloo),
            "n 4 · lr 1e-5 · LoRA off · tokens 96 · steps 120 · beta 0.2"
        );
        assert!(s.describe(Method::Bon).ends_with("epochs 2 · kl 0.05"));
        assert_eq!(RoundSettings::parse("lora=off").unwrap().lora_rank, Some(0));
        for (bad, says) in [
            ("n=0", "from 1 to 64"),
            ("lr=-1", "positive number"),
            ("lr=abc", "positive number"),
            ("temperature=2", "not a round setting"),
            ("beta=0", "a number from"),
            ("tokens=5000", "from 1 to 2048"),
            ("kl=-1", "a number from 0"),
            ("n8", "name=value"),
        ] {
            let e = RoundSettings::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
