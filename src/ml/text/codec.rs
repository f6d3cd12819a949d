//! Text <-> tokens for a policy, in its prompt format. Pure: no store, no files.

use tokenizers::Tokenizer;

use crate::ml::text::chat::PromptFormat;
use crate::ml::text::tokenizer::{self, PAD};

/// Text <-> tokens for a policy: `before prompt after response end` as the prompt format
/// says (kibble's own: `prompt <sep> response <eos>`); prompts lose their beginning when
/// too long.
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
        Ok(PolicyCodec {
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
    /// of them: the prompt text loses its beginning first.
    pub fn prompt(&self, text: &str, max: usize) -> anyhow::Result<Vec<u32>> {
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

    /// `prompt <sep> response <eos>` within the context, and the prompt's length.
    pub fn sequence(
        &self,
        prompt: &str,
        response: &str,
        max_response: usize,
    ) -> anyhow::Result<(Vec<u32>, usize)> {
        self.sequence_ending(prompt, response, max_response, true)
    }

    /// As `sequence`; `ended` says whether the response really ended. A sample cut at the token
    /// cap did not, and gets no end marker: training on one would teach the policy to stop there.
    pub fn sequence_ending(
        &self,
        prompt: &str,
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
