//! Machine learning with candle: tokenizers, reward models, losses, optimiser and the
//! training loop. Knows nothing of SQLite or the TUI: data comes in as token ids and pairs.

pub mod block;
pub mod chat;
pub mod checkpoint;
pub mod cpu;
pub mod decode;
pub mod encoder;
pub mod gemm;
pub mod limits;
pub mod llama;
pub mod loss;
pub mod model;
pub mod ops;
pub mod optim;
pub mod panels;
pub mod policy;
pub mod policy_train;
pub mod pretrained;
pub mod tokenizer;
pub mod train;
