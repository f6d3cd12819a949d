//! Text <-> tokens for a policy, in its prompt format. Pure: no store, no files.

use std::sync::Arc;

use tokenizers::Tokenizer;

use crate::domain::{Message, PromptBody};
use crate::ml::text::chat::PromptFormat;
use crate::ml::text::template::ChatTemplate;
use crate::ml::text::tokenizer::{self, PAD};

/// Text <-> tokens for a policy. A prompt is rendered with the model's chat template as a
/// message list (a text prompt is one user message) ending where the answer begins; without a
/// template, `before prompt after` (kibble's own: `prompt <sep>`). The answer follows, then the
/// end token. Too long a prompt loses its oldest turns, then the beginning of what is left.
#[derive(Clone)]
pub struct PolicyCodec {
    pub tokenizer: Tokenizer,
    pub format: PromptFormat,
    /// Filler for padded batches (`<pad>`, or the end token when the vocabulary has none).
    pub pad: u32,
    /// Ends a response: the stop token when sampling.
    pub eos: u32,
    pub before: Vec<u32>,
    pub after: Vec<u32>,
    pub ctx: usize,
    /// The model's compiled chat template, when it has one.
    template: Option<Arc<ChatTemplate>>,
    /// Why the model's template is not used (it did not compile), if so.
    pub template_problem: Option<String>,
}

impl PolicyCodec {
    pub fn new(
        tokenizer: Tokenizer,
        ctx: usize,
        format: PromptFormat,
    ) -> Result<PolicyCodec, tokenizer::TokenizerError> {
        let eos = tokenizer.token_to_id(&format.end).ok_or_else(|| {
            tokenizer::TokenizerError::Other(format!(
                "tokenizer has no {:?} token, which ends responses in the {} prompt format",
                format.end, format.name
            ))
        })?;
        let ids = |text: &str| -> Result<Vec<u32>, tokenizer::TokenizerError> {
            Ok(tokenizer
                .encode(text, false)
                .map_err(|e| tokenizer::TokenizerError::Other(e.to_string()))?
                .get_ids()
                .to_vec())
        };
        let (before, after) = (ids(&format.before)?, ids(&format.after)?);
        // Checkpoints written before the template was rendered kept no BOS name: the
        // tokenizer's own, by the names models use.
        let bos = format.bos_token.clone().or_else(|| {
            ["<|begin_of_text|>", "<s>", "<bos>", "<|endoftext|>"]
                .into_iter()
                .find(|t| tokenizer.token_to_id(t).is_some())
                .map(str::to_string)
        });
        // A template minijinja cannot compile leaves the built-in format the family detection
        // chose; the problem is kept for the caller to say.
        let (template, template_problem) = match &format.template {
            Some(source) => match ChatTemplate::new(
                source,
                bos.as_deref().unwrap_or_default(),
                format.eos_token.as_deref().unwrap_or(&format.end),
            ) {
                Ok(t) => (Some(Arc::new(t)), None),
                Err(e) => (
                    None,
                    Some(format!("{e}; using the built-in {} format", format.name)),
                ),
            },
            None => (None, None),
        };
        Ok(PolicyCodec {
            template,
            template_problem,
            pad: tokenizer.token_to_id(PAD).unwrap_or(eos),
            eos,
            before,
            after,
            tokenizer,
            format,
            ctx,
        })
    }

    fn ids(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// Prompt tokens in the prompt format (ending where the response begins), at most `max`
    /// of them.
    pub fn prompt(&self, prompt: &PromptBody, max: usize) -> anyhow::Result<Vec<u32>> {
        match &self.template {
            Some(t) => self.templated(t, prompt, max),
            None => self.framed(&framed_text(prompt), max),
        }
    }

    /// The built-in families: `before text after`; the text loses its beginning first.
    fn framed(&self, text: &str, max: usize) -> anyhow::Result<Vec<u32>> {
        let frame = self.before.len() + self.after.len();
        if frame >= max {
            anyhow::bail!(
                "the {} prompt format takes {frame} tokens, no room for a prompt within {max}: raise the context or shorten --max-new-tokens",
                self.format.name
            );
        }
        let mut p = self.ids(text)?;
        let keep = max - frame;
        p.drain(..p.len().saturating_sub(keep));
        let mut out = self.before.clone();
        out.extend(p);
        out.extend(&self.after);
        Ok(out)
    }

    /// The model's own template over the conversation. When it is too long, the oldest turns
    /// go first (a system message stays, and a user turn is always left), then the longest
    /// message loses its beginning. A conversation the template refuses (`raise_exception`:
    /// roles it does not take, turns that do not alternate) falls back to the built-in format.
    fn templated(
        &self,
        t: &ChatTemplate,
        prompt: &PromptBody,
        max: usize,
    ) -> anyhow::Result<Vec<u32>> {
        let mut messages = match prompt {
            PromptBody::Text(text) => vec![Message {
                role: "user".into(),
                content: text.clone(),
            }],
            PromptBody::Chat(m) => m.clone(),
        };
        loop {
            let rendered = match t.render(&messages, true) {
                Ok(r) => r,
                Err(_) => return self.framed(&framed_text(prompt), max),
            };
            let ids = self.ids(&rendered)?;
            if ids.len() <= max {
                return Ok(ids);
            }
            // The oldest turn goes while a user turn comes after it.
            let first = messages.iter().position(|m| m.role != "system");
            if let Some(first) = first {
                if messages[first + 1..].iter().any(|m| m.role == "user") {
                    messages.remove(first);
                    while messages[first..].iter().skip(1).any(|m| m.role == "user")
                        && messages[first].role != "user"
                    {
                        messages.remove(first);
                    }
                    continue;
                }
            }
            // The longest message loses its beginning, in proportion to what is over (at least
            // one character each pass, so this ends).
            let longest = messages
                .iter_mut()
                .max_by_key(|m| m.content.chars().count())
                .filter(|m| !m.content.is_empty());
            let Some(m) = longest else {
                anyhow::bail!(
                    "the {} chat template takes {} tokens without the prompt, no room within {max}: raise the context or shorten --max-new-tokens",
                    self.format.name,
                    ids.len()
                );
            };
            let chars = m.content.chars().count();
            let over = ids.len() - max;
            // About three characters a token: a little more may go than needed, never less
            // than one character.
            let cut = (over * 3).clamp(1, chars);
            m.content = m.content.chars().skip(cut).collect();
        }
    }

    /// `prompt <sep> response <eos>` within the context, and the prompt's length.
    pub fn sequence(
        &self,
        prompt: &PromptBody,
        response: &str,
        max_response: usize,
    ) -> anyhow::Result<(Vec<u32>, usize)> {
        self.sequence_ending(prompt, response, max_response, true)
    }

    /// As `sequence`; `ended` says whether the response really ended. A sample cut at the token
    /// cap did not, and gets no end marker: training on one would teach the policy to stop there.
    pub fn sequence_ending(
        &self,
        prompt: &PromptBody,
        response: &str,
        max_response: usize,
        ended: bool,
    ) -> anyhow::Result<(Vec<u32>, usize)> {
        let mut r = self.ids(response)?;
        if ended {
            r.truncate(max_response.saturating_sub(1));
            r.push(self.eos);
        } else {
            r.truncate(max_response);
        }
        let mut s = self.prompt(prompt, self.ctx - r.len())?;
        let prompt_len = s.len();
        s.extend(r);
        Ok((s, prompt_len))
    }

    /// Text of generated tokens, without the end marker.
    pub fn text(&self, tokens: &[u32]) -> String {
        let end = tokens
            .iter()
            .position(|&t| t == self.eos)
            .unwrap_or(tokens.len());
        self.tokenizer
            .decode(&tokens[..end], true)
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

/// What a built-in format frames: a text prompt, or a one-message chat, as it is; a longer
/// chat as its turns, "role: content" each (what the exported template writes too).
pub fn framed_text(prompt: &PromptBody) -> String {
    match prompt {
        PromptBody::Chat(m) if m.len() == 1 => m[0].content.clone(),
        p => p.as_plain_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::AddedToken;

    /// A small BPE with ChatML's special tokens, and a codec that renders SmolLM2's template.
    fn chatml_codec(ctx: usize) -> PolicyCodec {
        let texts = (0..50).map(|i| format!("what is {i} plus {i} and the cat sat on the mat"));
        let mut tok = tokenizer::train_bpe(texts, 300).unwrap();
        tok.add_special_tokens(&[
            AddedToken::from("<|im_start|>", true),
            AddedToken::from("<|im_end|>", true),
        ]);
        let template = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nBe kind.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        let format = PromptFormat::detect(Some(template), None, Some("<|im_end|>"));
        PolicyCodec::new(tok, ctx, format).unwrap()
    }

    fn chat(turns: &[(&str, &str)]) -> PromptBody {
        PromptBody::Chat(
            turns
                .iter()
                .map(|(role, content)| Message {
                    role: role.to_string(),
                    content: content.to_string(),
                })
                .collect(),
        )
    }

    fn text_of(c: &PolicyCodec, ids: &[u32]) -> String {
        c.tokenizer.decode(ids, false).unwrap()
    }

    #[test]
    fn a_chat_prompt_is_rendered_by_the_models_template_as_turns() {
        let c = chatml_codec(512);
        let p = chat(&[
            ("user", "what is 1 plus 1"),
            ("assistant", "2"),
            ("user", "and 3 plus 3"),
        ]);
        let ids = c.prompt(&p, 512).unwrap();
        let want = c
            .tokenizer
            .encode(
                "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nwhat is 1 plus 1<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n<|im_start|>user\nand 3 plus 3<|im_end|>\n<|im_start|>assistant\n",
                false,
            )
            .unwrap();
        assert_eq!(ids, want.get_ids());
        // A text prompt is one user turn; the answer ends with the template's end token.
        let (seq, plen) = c.sequence(&"the cat".into(), "sat", 16).unwrap();
        assert_eq!(*seq.last().unwrap(), c.eos);
        assert!(text_of(&c, &seq[..plen]).ends_with("assistant\n"));
    }

    #[test]
    fn a_long_chat_loses_its_oldest_turns_then_the_start_of_the_last() {
        let c = chatml_codec(512);
        let long = "the cat sat on the mat ".repeat(6);
        let p = chat(&[
            ("system", "Be kind."),
            ("user", &long),
            ("assistant", &long),
            ("user", "what is 7 plus 7"),
        ]);
        let full = c.prompt(&p, 512).unwrap().len();
        let ids = c.prompt(&p, full - 5).unwrap();
        assert!(ids.len() <= full - 5);
        let text = text_of(&c, &ids);
        assert!(
            text.contains("Be kind.") && text.contains("what is 7 plus 7"),
            "{text}"
        );
        assert!(!text.contains("<|im_start|>assistant\nthe cat"), "{text}");
        // Only one turn left and still too long: its beginning goes.
        let one = chat(&[("user", &long)]);
        let n = c.prompt(&one, 512).unwrap().len();
        let cut = text_of(&c, &c.prompt(&one, n - 4).unwrap());
        assert!(cut.starts_with("<|im_start|>system\nBe kind."), "{cut}");
        assert!(cut.ends_with("<|im_start|>assistant\n"), "{cut}");
        assert!(
            c.prompt(&one, 8).is_err(),
            "no room for the template itself"
        );
    }

    #[test]
    fn a_conversation_the_template_refuses_falls_back_and_a_broken_template_is_named() {
        let texts = (0..50).map(|i| format!("what is {i} plus {i}"));
        let mut tok = tokenizer::train_bpe(texts, 300).unwrap();
        tok.add_special_tokens(&[AddedToken::from("<|im_end|>", true)]);
        let strict = "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system role') }}{% endif %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n";
        let format = PromptFormat::detect(Some(strict), None, Some("<|im_end|>"));
        let c = PolicyCodec::new(tok.clone(), 256, format).unwrap();
        assert!(c.template_problem.is_none());
        let p = chat(&[("system", "be brief"), ("user", "what is 1 plus 1")]);
        // Refused by the template: the built-in ChatML frame of the flattened text.
        let framed = c.framed(&framed_text(&p), 256).unwrap();
        assert_eq!(c.prompt(&p, 256).unwrap(), framed);
        let broken = PromptFormat::detect(
            Some("{% for m in messages %}<|im_start|>"),
            None,
            Some("<|im_end|>"),
        );
        let c = PolicyCodec::new(tok, 256, broken).unwrap();
        assert!(c
            .template_problem
            .as_deref()
            .unwrap()
            .contains("built-in chatml"));
    }

    /// The exported template of a built-in format writes what kibble writes.
    #[test]
    fn the_exported_template_of_a_built_in_format_writes_what_kibble_frames() {
        let f = PromptFormat::chatml(Some("Be kind."));
        let t = ChatTemplate::new(&f.jinja(), "", "").unwrap();
        let prompts = [
            PromptBody::Text("what is 1 plus 1".into()),
            chat(&[("user", "what is 1 plus 1")]),
            chat(&[
                ("system", "be brief"),
                ("user", "hi"),
                ("assistant", "hello"),
                ("user", "and?"),
            ]),
        ];
        for p in &prompts {
            let messages = match p {
                PromptBody::Text(text) => vec![Message {
                    role: "user".into(),
                    content: text.clone(),
                }],
                PromptBody::Chat(m) => m.clone(),
            };
            let want = format!("{}{}{}", f.before, framed_text(p), f.after);
            assert_eq!(t.render(&messages, true).unwrap(), want);
            let mut with_answer = messages.clone();
            with_answer.push(Message {
                role: "assistant".into(),
                content: "2".into(),
            });
            assert_eq!(
                t.render(&with_answer, false).unwrap(),
                format!("{want}2{}", f.end)
            );
        }
    }
}
