//! Machine learning with candle, by role. Knows nothing of SQLite or the TUI: data comes in as
//! token ids and pairs. Arrows point one way: `kernels` (CPU code, the only `unsafe`) <- `models`
//! <- `training` / `infer`; `text` (tokenizers, chat templates, pretrained loading) stands apart;
//! `checkpoint` saves and loads what `training` produces (`decoder_reward`: Llama-family
//! reward models and HF classification folders).

pub mod checkpoint;
pub mod decoder_reward;
pub mod infer;
pub mod kernels;
pub mod model_files;
pub mod models;
pub mod text;
pub mod training;
