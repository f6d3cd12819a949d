//! Training: losses, the AdamW optimiser, the reward-model trainer (`reward`) and the policy
//! steps (`policy`: SFT, DPO, RLOO).

pub mod loss;
pub mod optim;
pub mod policy;
pub mod reward;

/// Why a training step failed: a loss or gradient stopped being finite, or a kernel failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training diverged at step {step}: {what} is {value}; lower the learning rate (--lr) or keep gradient clipping on")]
    NotFinite {
        step: u64,
        what: &'static str,
        value: f64,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
