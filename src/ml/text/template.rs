//! A model's own Jinja chat template (`tokenizer_config.json` `chat_template`, GGUF
//! `tokenizer.chat_template`), rendered with minijinja the way transformers'
//! `apply_chat_template` renders it: `trim_blocks` and `lstrip_blocks` on, `messages`,
//! `add_generation_prompt`, `bos_token`, `eos_token`, `raise_exception`, `strftime_now`, and
//! Python's string methods (`.strip()`, `.startswith()`, ...). The template comes from a model
//! file, so it is untrusted: minijinja runs it sandboxed (no I/O) and with bounded fuel.

use minijinja::{context, Environment, ErrorKind};

use crate::domain::Message;

/// Enough for any real chat template over a long conversation; a template that loops past it
/// is stopped with an error instead of hanging the job.
const FUEL: u64 = 5_000_000;
/// Output a template may write (fuel bounds steps, not the size of a string it builds).
const MAX_OUTPUT: usize = 8 << 20;

/// A writer that refuses to grow past `MAX_OUTPUT`.
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT {
            return Err(std::io::Error::other(
                "the chat template writes more than 8 MiB",
            ));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("chat template: {0}")]
pub struct TemplateError(String);

impl From<minijinja::Error> for TemplateError {
    fn from(e: minijinja::Error) -> Self {
        // The detail names the template's line; `{:#}` includes it.
        TemplateError(format!("{e:#}"))
    }
}

/// A compiled chat template and the special tokens it may name.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source`; a syntax error is reported here, naming the line.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<ChatTemplate, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, _> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned("chat", source.to_string())?;
        Ok(ChatTemplate {
            env,
            bos: bos.into(),
            eos: eos.into(),
        })
    }

    /// The conversation as the model reads it; with `add_generation_prompt`, ending where the
    /// assistant's answer begins.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        let messages: Vec<_> = messages
            .iter()
            .map(|m| context! { role => m.role, content => m.content })
            .collect();
        let t = self.env.get_template("chat")?;
        let mut out = Capped(Vec::new());
        t.render_captured_to(
            context! {
                messages,
                add_generation_prompt,
                bos_token => self.bos,
                eos_token => self.eos,
            },
            &mut out,
        )?;
        String::from_utf8(out.0).map_err(|e| TemplateError(e.to_string()))
    }
}

/// Today's date in the few `strftime` formats chat templates use (Llama 3.1 writes "Today
/// Date: 26 Jul 2024" with `%d %b %Y`); other directives are left as written.
fn strftime_now(format: String) -> String {
    let days = crate::domain::now_ms().div_euclid(86_400_000);
    let (y, m, d) = crate::domain::civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const FULL: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = (m - 1) as usize;
    format
        .replace("%d", &format!("{d:02}"))
        .replace("%m", &format!("{m:02}"))
        .replace("%Y", &y.to_string())
        .replace("%b", MONTHS[month])
        .replace("%B", FULL[month])
}

#[cfg(test)]
mod tests {
    use super::*;

    // The templates as their models ship them (tokenizer_config.json `chat_template`).
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
    const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
    const QWEN2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn msg(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    /// System prompt, two user turns and an assistant turn between them.
    fn multi() -> Vec<Message> {
        vec![
            msg("system", "Answer briefly."),
            msg("user", "  What is 2+2? "),
            msg("assistant", "4."),
            msg("user", "And 3+3?"),
        ]
    }

    /// Expected outputs are transformers' (jinja2, trim_blocks and lstrip_blocks on), byte for
    /// byte.
    #[test]
    fn smollm2_llama3_and_qwen2_render_as_transformers_does() {
        let cases: [(&str, &str, bool, &str); 12] = [
            (SMOLLM2, "multi", true, "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n  What is 2+2? <|im_end|>\n<|im_start|>assistant\n4.<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n"),
            (SMOLLM2, "multi", false, "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n  What is 2+2? <|im_end|>\n<|im_start|>assistant\n4.<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n"),
            (SMOLLM2, "single", true, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"),
            (SMOLLM2, "single", false, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"),
            (LLAMA3, "multi", true, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
            (LLAMA3, "multi", false, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"),
            (LLAMA3, "single", true, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
            (LLAMA3, "single", false, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"),
            (QWEN2, "multi", true, "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n  What is 2+2? <|im_end|>\n<|im_start|>assistant\n4.<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n"),
            (QWEN2, "multi", false, "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n  What is 2+2? <|im_end|>\n<|im_start|>assistant\n4.<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n"),
            (QWEN2, "single", true, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"),
            (QWEN2, "single", false, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"),
        ];
        for (source, conv, generation, want) in cases {
            let t = ChatTemplate::new(source, "<|begin_of_text|>", "<|eot_id|>").unwrap();
            let messages = match conv {
                "multi" => multi(),
                _ => vec![msg("user", "Hello")],
            };
            assert_eq!(
                t.render(&messages, generation).unwrap(),
                want,
                "{conv} {generation}"
            );
        }
    }

    #[test]
    fn python_string_methods_exceptions_and_dates_work_and_hostile_templates_fail_cleanly() {
        let t = ChatTemplate::new(
            "{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('roles must be user or assistant') }}{% endif %}[{{ m.content.strip() }}]{% endfor %}{{ strftime_now('%Y') }}",
            "",
            "",
        )
        .unwrap();
        let out = t.render(&[msg("user", "  hi  ")], true).unwrap();
        assert!(out.starts_with("[hi]20"), "{out}");
        let e = t.render(&[msg("tool", "x")], true).unwrap_err();
        assert!(
            e.to_string().contains("roles must be user or assistant"),
            "{e}"
        );
        // A syntax error names itself when the model is loaded, not on the first prompt.
        assert!(ChatTemplate::new("{% for m in messages %}", "", "").is_err());
        // A template that would run forever is stopped.
        let spin = ChatTemplate::new(
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        assert!(spin.render(&[], true).is_err());
        // So is one that builds a huge string in few steps.
        let big = ChatTemplate::new(
            "{% for i in range(1000) %}{{ 'x' * 100000000 }}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        assert!(big.render(&[], true).is_err());
    }
}
