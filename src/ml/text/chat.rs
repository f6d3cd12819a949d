//! How a prompt and a response become one text for a policy. A model that carries a Jinja chat
//! template (HF folders, GGUF files) has its prompts rendered with it (`template.rs`); the
//! family it belongs to is still detected, for the token that ends a response. Without a
//! template, or with `--chat-template NAME`, one of the built-in families is the fallback:
//! text before the prompt, text between prompt and response, the end token.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::ml::text::tokenizer::{EOS, SEP};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptFormat {
    pub name: String,
    /// Text before the prompt (special tokens allowed).
    pub before: String,
    /// Text between the prompt and the response.
    pub after: String,
    /// The token that ends a response (a stop token when sampling).
    pub end: String,
    /// The model's own Jinja template: prompts are rendered with it (as message lists), and
    /// it is kept for export. Without one, `before prompt after` is the fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The special tokens the template may name (`bos_token`, `eos_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token: Option<String>,
}

impl Default for PromptFormat {
    /// kibble's own from-scratch policies: `prompt <sep> response <eos>`.
    fn default() -> Self {
        PromptFormat {
            name: "kibble".into(),
            before: String::new(),
            after: SEP.into(),
            end: EOS.into(),
            template: None,
            bos_token: None,
            eos_token: None,
        }
    }
}

/// Names accepted by `--chat-template`.
pub const FORMAT_NAMES: [&str; 5] = ["kibble", "chatml", "llama3", "zephyr", "completion"];

impl PromptFormat {
    /// ChatML (SmolLM2, Qwen2.5), with the template's default system message if it has one.
    pub fn chatml(system: Option<&str>) -> PromptFormat {
        let sys = system
            .map(|s| format!("<|im_start|>system\n{s}<|im_end|>\n"))
            .unwrap_or_default();
        PromptFormat {
            name: "chatml".into(),
            before: format!("{sys}<|im_start|>user\n"),
            after: "<|im_end|>\n<|im_start|>assistant\n".into(),
            end: "<|im_end|>".into(),
            template: None,
            bos_token: None,
            eos_token: None,
        }
    }

    pub fn llama3() -> PromptFormat {
        PromptFormat {
            name: "llama3".into(),
            before: "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n".into(),
            after: "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n".into(),
            end: "<|eot_id|>".into(),
            template: None,
            bos_token: None,
            eos_token: None,
        }
    }

    /// Zephyr (TinyLlama-Chat): turns end with the tokenizer's end-of-sequence token.
    pub fn zephyr(eos: &str) -> PromptFormat {
        PromptFormat {
            name: "zephyr".into(),
            before: "<|user|>\n".into(),
            after: format!("{eos}\n<|assistant|>\n"),
            end: eos.into(),
            template: None,
            bos_token: None,
            eos_token: None,
        }
    }

    /// Base (non-chat) models: the prompt, a newline, the response, end of sequence.
    pub fn completion(bos: Option<&str>, eos: &str) -> PromptFormat {
        PromptFormat {
            name: "completion".into(),
            before: bos.unwrap_or_default().into(),
            after: "\n".into(),
            end: eos.into(),
            template: None,
            bos_token: None,
            eos_token: None,
        }
    }

    /// The format a Jinja chat template describes; a model without one is a base model.
    pub fn detect(template: Option<&str>, bos: Option<&str>, eos: Option<&str>) -> PromptFormat {
        let eos = eos.unwrap_or("</s>");
        let Some(t) = template else {
            return PromptFormat::completion(bos, eos);
        };
        let mut f = Self::detect_kind(t, bos, eos);
        f.template = Some(t.to_string());
        f.bos_token = bos.map(str::to_string);
        f.eos_token = Some(eos.to_string());
        f
    }

    fn detect_kind(t: &str, bos: Option<&str>, eos: &str) -> PromptFormat {
        if t.contains("<|im_start|>") {
            PromptFormat::chatml(default_system(t).as_deref())
        } else if t.contains("<|start_header_id|>") {
            PromptFormat::llama3()
        } else if t.contains("<|user|>") {
            PromptFormat::zephyr(eos)
        } else {
            PromptFormat::completion(bos, eos)
        }
    }

    /// A Jinja chat template for export: the model's own, or one that writes what kibble
    /// writes in this format (`framed_text` between `before` and `after`; a final assistant
    /// message is the answer, followed by `end`).
    pub fn jinja(&self) -> String {
        if let Some(t) = &self.template {
            return t.clone();
        }
        let lit = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let (b, a, e) = (lit(&self.before), lit(&self.after), lit(&self.end));
        format!(
            "{{% if messages|length > 1 and messages[-1]['role'] == 'assistant' %}}{{% set prompt = messages[:-1] %}}{{% else %}}{{% set prompt = messages %}}{{% endif %}}\
{{% if prompt|length == 1 %}}{{{{ {b} + prompt[0]['content'] + {a} }}}}\
{{% else %}}{{{{ {b} }}}}{{% for m in prompt %}}{{% if not loop.first %}}{{{{ '\\n\\n' }}}}{{% endif %}}{{{{ m['role'] + ': ' + m['content'] }}}}{{% endfor %}}{{{{ {a} }}}}{{% endif %}}\
{{% if prompt|length < messages|length %}}{{{{ messages[-1]['content'] + {e} }}}}{{% endif %}}"
        )
    }

    /// `--chat-template NAME` for a model whose tokens are `bos`/`eos`.
    pub fn by_name(name: &str, bos: Option<&str>, eos: &str) -> Result<PromptFormat, String> {
        Ok(match name {
            "kibble" => PromptFormat::default(),
            "chatml" => PromptFormat::chatml(None),
            "llama3" => PromptFormat::llama3(),
            "zephyr" => PromptFormat::zephyr(eos),
            "completion" => PromptFormat::completion(bos, eos),
            other => {
                return Err(format!(
                    "unknown chat template {other:?}: use one of {}",
                    FORMAT_NAMES.join(", ")
                ))
            }
        })
    }
}

/// The system message a ChatML template inserts when the conversation has none
/// (SmolLM2: "You are a helpful AI assistant named SmolLM, ...").
fn default_system(template: &str) -> Option<String> {
    let re = Regex::new(r#"<\|im_start\|>system(?:\\n|\n)([^'"{}<]+)<\|im_end\|>"#).ok()?;
    let c = re.captures(template)?;
    Some(c[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_chatml_with_its_default_system_message() {
        let smol = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
        let f = PromptFormat::detect(Some(smol), None, Some("<|im_end|>"));
        assert_eq!(f.name, "chatml");
        assert_eq!(
            f.before,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n"
        );
        assert_eq!(f.end, "<|im_end|>");
        let plain = PromptFormat::detect(None, Some("<s>"), Some("</s>"));
        assert_eq!((plain.before.as_str(), plain.end.as_str()), ("<s>", "</s>"));
        assert!(PromptFormat::by_name("nope", None, "</s>").is_err());
    }
}
