//! Tokenisation for reward models: train a byte-level BPE on the DB's text for from-scratch
//! models, or load a pretrained model's `tokenizer.json`. Sequences are
//! `[prompt] [SEP] [response]`, truncated from the prompt's left; padding is per batch.

use std::path::Path;
use std::str::FromStr;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

use crate::domain::PromptBody;
use crate::ml::text::codec::PolicyCodec;

pub const PAD: &str = "<pad>";
pub const SEP: &str = "<sep>";
/// Ends a policy's response.
pub const EOS: &str = "<eos>";

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("tokenizer: {0}")]
    Other(String),
}

impl From<TokenizerError> for crate::ml::model_files::CheckpointError {
    fn from(e: TokenizerError) -> Self {
        crate::ml::model_files::CheckpointError::Tokenizer(e.to_string())
    }
}

fn other(e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Other(e.to_string())
}

/// Trains a byte-level BPE with `vocab_size` entries on `texts`. `<pad>` is id 0, `<sep>` id 1,
/// `<eos>` id 2.
pub fn train_bpe(
    texts: impl Iterator<Item = String> + Send,
    vocab_size: usize,
) -> Result<Tokenizer, TokenizerError> {
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab_size)
        .min_frequency(2)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .special_tokens(vec![
            AddedToken::from(PAD, true),
            AddedToken::from(SEP, true),
            AddedToken::from(EOS, true),
        ])
        .build();
    let mut tok = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
        .with_post_processor(Some(ByteLevel::new(false, true, true)))
        .with_decoder(Some(ByteLevel::new(false, true, true)))
        .build()
        .map_err(other)?;
    tok.train(&mut trainer, texts).map_err(other)?;
    // Re-read through the generic type so the rest of kibble deals with one `Tokenizer`.
    let json = serde_json::to_string(&tok).map_err(other)?;
    Tokenizer::from_str(&json).map_err(other)
}

/// Loads `tokenizer.json`, dropping any fixed padding or truncation it carries (we pad per batch).
pub fn load(path: &Path) -> Result<Tokenizer, TokenizerError> {
    let mut tok = Tokenizer::from_file(path).map_err(|e| TokenizerError::File {
        path: path.display().to_string(),
        message: format!("cannot load tokenizer: {e}"),
    })?;
    tok.with_padding(None);
    tok.with_truncation(None).map_err(other)?;
    Ok(tok)
}

/// How prompt and response become one sequence of token ids.
#[derive(Clone)]
pub struct PairEncoder {
    pub tokenizer: Tokenizer,
    pub max_len: usize,
    pub pad_id: u32,
    /// Placed between prompt and response (and at the end, BERT style, when `cls_id` is set).
    pub sep_id: u32,
    /// BERT-family models start with [CLS] and use segment ids.
    pub cls_id: Option<u32>,
    /// A decoder reward model frames the pair as its policy would see it: the prompt in the
    /// model's chat format, then the answer.
    pub decoder: Option<PolicyCodec>,
}

/// One encoded sequence: ids, and segment ids (0 prompt, 1 response).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

impl PairEncoder {
    /// For our own BPE: `<pad>`, `<sep>`, no [CLS].
    pub fn for_bpe(tokenizer: Tokenizer, max_len: usize) -> Result<PairEncoder, TokenizerError> {
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| other(format!("tokenizer has no {t} token")))
        };
        Ok(PairEncoder {
            pad_id: id(PAD)?,
            sep_id: id(SEP)?,
            cls_id: None,
            decoder: None,
            tokenizer,
            max_len,
        })
    }

    /// For a BERT-family tokenizer: [CLS] prompt [SEP] response [SEP], [PAD] padding.
    pub fn for_bert(tokenizer: Tokenizer, max_len: usize) -> Result<PairEncoder, TokenizerError> {
        let id = |t: &str| {
            tokenizer.token_to_id(t).ok_or_else(|| {
                other(format!(
                    "tokenizer.json has no {t} token; is this a BERT tokenizer?"
                ))
            })
        };
        Ok(PairEncoder {
            pad_id: id("[PAD]")?,
            sep_id: id("[SEP]")?,
            cls_id: Some(id("[CLS]")?),
            decoder: None,
            tokenizer,
            max_len,
        })
    }

    /// For a Llama-family decoder: `codec`'s prompt (chat template, generation prompt), then
    /// the answer's tokens, no end marker; the reward is read at the last of them. Padding is
    /// the codec's, which an answer never ends with.
    pub fn for_decoder(codec: PolicyCodec, max_len: usize) -> PairEncoder {
        PairEncoder {
            tokenizer: codec.tokenizer.clone(),
            max_len,
            pad_id: codec.pad,
            sep_id: codec.eos,
            cls_id: None,
            decoder: Some(codec),
        }
    }

    fn ids(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(other)?
            .get_ids()
            .to_vec())
    }

    /// Encodes prompt and response together. When too long, the prompt loses its beginning
    /// (the end of a conversation matters most); a response longer than the window keeps its start.
    pub fn encode(&self, prompt: &str, response: &str) -> Result<Encoded, TokenizerError> {
        let r = self.ids(response)?;
        if let Some(codec) = &self.decoder {
            // When both are long, the prompt keeps half the window and the answer its start.
            let room = self.max_len - r.len().min(self.max_len / 2);
            let mut ids = codec
                .prompt(&PromptBody::from(prompt), room)
                .map_err(other)?;
            let r_len = r.len().min(self.max_len.saturating_sub(ids.len()));
            ids.extend_from_slice(&r[..r_len]);
            let type_ids = vec![0; ids.len()];
            return Ok(Encoded { ids, type_ids });
        }
        let p = self.ids(prompt)?;
        let specials = 1 + usize::from(self.cls_id.is_some()) * 2;
        let room = self.max_len.saturating_sub(specials);
        let r_len = r.len().min(room);
        let p_len = p.len().min(room - r_len);
        let mut ids = Vec::with_capacity(self.max_len);
        let mut type_ids = Vec::with_capacity(self.max_len);
        if let Some(cls) = self.cls_id {
            ids.push(cls);
            type_ids.push(0);
        }
        ids.extend_from_slice(&p[p.len() - p_len..]);
        ids.push(self.sep_id);
        type_ids.resize(ids.len(), 0);
        ids.extend_from_slice(&r[..r_len]);
        if self.cls_id.is_some() {
            ids.push(self.sep_id);
        }
        type_ids.resize(ids.len(), 1);
        Ok(Encoded { ids, type_ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        (0..300)
            .map(|i| {
                format!(
                    "The answer number {i} is good because it explains the reward model clearly."
                )
            })
            .collect()
    }

    #[test]
    fn trains_a_bpe_and_round_trips_through_json() {
        let tok = train_bpe(corpus().into_iter(), 400).unwrap();
        assert_eq!(tok.token_to_id(PAD), Some(0));
        assert_eq!(tok.token_to_id(SEP), Some(1));
        let enc = tok.encode("The answer is good", false).unwrap();
        assert!(enc.get_ids().len() < "The answer is good".len());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        tok.save(&path, false).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(
            back.encode("The answer is good", false).unwrap().get_ids(),
            enc.get_ids()
        );
    }

    #[test]
    fn long_prompts_lose_their_beginning() {
        let tok = train_bpe(corpus().into_iter(), 400).unwrap();
        let enc = PairEncoder::for_bpe(tok, 16).unwrap();
        let long_prompt = "one two three four five six seven eight nine ten eleven twelve thirteen";
        let e = enc.encode(long_prompt, "good").unwrap();
        assert_eq!(e.ids.len(), 16);
        let sep = e.ids.iter().position(|&t| t == enc.sep_id).unwrap();
        let text = enc.tokenizer.decode(&e.ids[..sep], false).unwrap();
        assert!(text.trim_end().ends_with("thirteen"), "{text}");
        assert!(!text.contains("one two"), "{text}");
        let short = enc.encode("hi", "good").unwrap();
        assert!(short.ids.len() < 16);
        assert_eq!(short.type_ids.len(), short.ids.len());
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = load(Path::new("/nonexistent/tokenizer.json")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/tokenizer.json"));
    }
}
