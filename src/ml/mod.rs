//! Machine learning with candle: tokenizers, reward models, losses, optimiser and the
//! training loop. Knows nothing of SQLite or the TUI: data comes in as token ids and pairs.

pub mod checkpoint;
pub mod loss;
pub mod model;
pub mod ops;
pub mod optim;
pub mod tokenizer;
pub mod train;
