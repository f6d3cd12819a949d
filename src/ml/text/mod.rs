//! Text in and out of models: tokenizers and pair encoding, chat prompt formats, and loading
//! pretrained policies from GGUF files and HF folders.

pub mod chat;
pub mod codec;
pub mod pretrained;
pub mod template;
pub mod tokenizer;
