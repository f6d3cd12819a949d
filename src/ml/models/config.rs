//! Model shapes as read from config files: the reward model's (`ModelConfig`) and the policy's
//! (`PolicyConfig`), each with `validate`, which checks every size the kernels rely on before
//! any weight is read.

use serde::{Deserialize, Serialize};

use crate::ml::models::llama::LoraConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    Tiny,
    Bert,
    /// A Llama-family decoder (`decoder` holds its shape) read at the last real token: the
    /// reward model TRL trains by default (`*ForSequenceClassification`).
    Llama,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub max_len: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    pub ln_eps: f64,
    /// BERT only: segment embeddings (prompt 0, response 1).
    #[serde(default)]
    pub type_vocab_size: usize,
    /// Train the head only; the backbone stays as loaded.
    #[serde(default)]
    pub freeze_backbone: bool,
    /// Scalar outputs of the head: one per criterion learnt (`train-rm --criteria`), else 1.
    #[serde(default = "one_output")]
    pub n_outputs: usize,
    /// Llama only: the decoder's own shape (`max_len` above is the window kibble uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<PolicyConfig>,
    /// Llama only: LoRA adapters train on every projection; the decoder's weights stay frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraConfig>,
}

fn one_output() -> usize {
    1
}

impl ModelConfig {
    /// The `tiny` preset: exactly the peer benchmark's shape.
    pub fn tiny(vocab_size: usize) -> ModelConfig {
        ModelConfig {
            arch: Arch::Tiny,
            vocab_size,
            max_len: 128,
            d_model: 256,
            n_layers: 4,
            n_heads: 4,
            d_ff: 1024,
            ln_eps: 1e-5,
            type_vocab_size: 0,
            freeze_backbone: false,
            n_outputs: 1,
            decoder: None,
            lora: None,
        }
    }
}

impl ModelConfig {
    /// A reward model on a Llama-family decoder: its window is `max_len` (at most the decoder's
    /// context), one scalar per head read at the last real token.
    pub fn decoder(
        d: &PolicyConfig,
        max_len: usize,
        n_outputs: usize,
        freeze_backbone: bool,
    ) -> ModelConfig {
        ModelConfig {
            arch: Arch::Llama,
            vocab_size: d.vocab_size,
            max_len: max_len.min(d.ctx),
            d_model: d.d_model,
            n_layers: d.n_layers,
            n_heads: d.n_heads,
            d_ff: d.d_ff,
            ln_eps: d.ln_eps,
            type_vocab_size: 0,
            freeze_backbone,
            n_outputs,
            decoder: Some(d.clone()),
            lora: None,
        }
    }

    /// Checks every size the kernels rely on. `names` maps our field names to the file's
    /// (`("n_heads", "num_attention_heads")`), so the error names what the user can fix.
    pub fn validate(&self, names: &[(&str, &str)]) -> std::result::Result<(), String> {
        use crate::ml::models::limits::{dim, divides, finite_positive};
        let n = |f: &'static str| crate::ml::models::limits::field_name(names, f);
        dim(&n("vocab_size"), self.vocab_size, 1 << 22)?;
        dim(&n("max_len"), self.max_len, 1 << 16)?;
        dim(&n("d_model"), self.d_model, 1 << 14)?;
        dim(&n("n_layers"), self.n_layers, 256)?;
        dim(&n("n_heads"), self.n_heads, 1024)?;
        dim(&n("d_ff"), self.d_ff, 1 << 17)?;
        dim(&n("n_outputs"), self.n_outputs, 64)?;
        divides(&n("n_heads"), self.n_heads, &n("d_model"), self.d_model)?;
        if self.arch == Arch::Bert {
            dim(&n("type_vocab_size"), self.type_vocab_size, 1024)?;
        }
        if self.arch == Arch::Llama {
            let d = self
                .decoder
                .as_ref()
                .ok_or("a Llama reward model needs its decoder shape (field \"decoder\")")?;
            d.validate(names)?;
            if (d.vocab_size, d.d_model, d.n_layers)
                != (self.vocab_size, self.d_model, self.n_layers)
                || d.arch != PolicyArch::Llama
            {
                return Err("field \"decoder\" does not match the model's own sizes".into());
            }
        } else if self.lora.is_some() {
            return Err(
                "LoRA adapters are for Llama-family backbones (GGUF files, HF Llama/Qwen2 folders)"
                    .into(),
            );
        }
        if let Some(l) = &self.lora {
            dim(&n("lora.rank"), l.rank, 1 << 12)?;
            finite_positive(&n("lora.alpha"), l.alpha)?;
        }
        finite_positive(&n("ln_eps"), self.ln_eps)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyArch {
    /// GPT-2 style: learned positions, LayerNorm, GELU MLP, biases (the `tiny` preset).
    #[default]
    Gpt,
    /// Llama family: RoPE, RMSNorm, SwiGLU, grouped-query attention.
    Llama,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    #[serde(default)]
    pub arch: PolicyArch,
    pub vocab_size: usize,
    /// Context window (learned positions for GPT; the longest sequence used for Llama).
    pub ctx: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    /// LayerNorm (GPT) or RMSNorm (Llama) epsilon.
    pub ln_eps: f64,
    /// Llama: key/value heads (grouped-query attention); 0 means as many as query heads.
    #[serde(default)]
    pub n_kv_heads: usize,
    #[serde(default)]
    pub rope_theta: f64,
    /// Qwen2 has biases on the q/k/v projections.
    #[serde(default)]
    pub qkv_bias: bool,
    /// LM head shares the token embedding.
    #[serde(default = "yes")]
    pub tied: bool,
}

fn yes() -> bool {
    true
}

impl PolicyConfig {
    /// Checks every size the kernels rely on; `names` maps our field names to the file's.
    pub fn validate(&self, names: &[(&str, &str)]) -> std::result::Result<(), String> {
        use crate::ml::models::limits::{dim, divides, field_name, finite_positive};
        let n = |f: &'static str| field_name(names, f);
        dim(&n("vocab_size"), self.vocab_size, 1 << 22)?;
        dim(&n("ctx"), self.ctx, 1 << 20)?;
        dim(&n("d_model"), self.d_model, 1 << 15)?;
        dim(&n("n_layers"), self.n_layers, 512)?;
        dim(&n("n_heads"), self.n_heads, 1024)?;
        dim(&n("d_ff"), self.d_ff, 1 << 18)?;
        divides(&n("n_heads"), self.n_heads, &n("d_model"), self.d_model)?;
        finite_positive(&n("ln_eps"), self.ln_eps)?;
        if self.arch == PolicyArch::Llama {
            dim(&n("n_kv_heads"), self.kv_heads(), self.n_heads)?;
            divides(
                &n("n_kv_heads"),
                self.kv_heads(),
                &n("n_heads"),
                self.n_heads,
            )?;
            // RoPE rotates pairs of a head's dimensions.
            if !(self.d_model / self.n_heads).is_multiple_of(2) {
                return Err(format!(
                    "\"{}\" / \"{}\" = {} is odd; RoPE needs an even head dimension",
                    n("d_model"),
                    n("n_heads"),
                    self.d_model / self.n_heads
                ));
            }
            finite_positive(&n("rope_theta"), self.rope_theta)?;
        }
        Ok(())
    }

    /// The `tiny` preset: the peer benchmark's shape.
    pub fn tiny(vocab_size: usize) -> PolicyConfig {
        PolicyConfig {
            arch: PolicyArch::Gpt,
            vocab_size,
            ctx: 256,
            d_model: 256,
            n_layers: 4,
            n_heads: 4,
            d_ff: 1024,
            ln_eps: 1e-5,
            n_kv_heads: 0,
            rope_theta: 0.0,
            qkv_bias: false,
            tied: true,
        }
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    pub fn kv_heads(&self) -> usize {
        if self.n_kv_heads == 0 {
            self.n_heads
        } else {
            self.n_kv_heads
        }
    }
}

#[cfg(test)]
impl PolicyConfig {
    /// A small GPT for tests.
    pub(crate) fn small_gpt() -> PolicyConfig {
        PolicyConfig {
            vocab_size: 64,
            ctx: 32,
            d_model: 32,
            n_layers: 2,
            n_heads: 4,
            d_ff: 64,
            ln_eps: 1e-5,
            ..PolicyConfig::tiny(64)
        }
    }

    /// A Llama with grouped-query attention (4 query heads, 2 kv heads), q/k/v biases and an
    /// untied head: every branch of the Llama path.
    pub(crate) fn small_llama() -> PolicyConfig {
        PolicyConfig {
            arch: PolicyArch::Llama,
            n_kv_heads: 2,
            rope_theta: 10_000.0,
            qkv_bias: true,
            tied: false,
            ln_eps: 1e-6,
            ..PolicyConfig::small_gpt()
        }
    }
}
