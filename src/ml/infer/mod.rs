//! Decoding from a policy: KV-cached batched sampling over packed weights.

pub mod decode;
mod rows;
mod sampling;
pub mod weights;
