//! Model definitions: parameters and the reward model (`reward`), the fused transformer block
//! and encoder, the policies (`policy`: tiny, and `llama` for Llama/Qwen2-family weights, whose
//! projections are `projection` ops), and
//! the limits every size read from a file is checked against.

pub mod bert_layer;
pub mod block;
pub mod config;
pub mod encoder;
pub mod limits;
pub mod llama;
pub mod policy;
mod projection;
pub mod reward;
