//! Long work: imports, exports, benchmarks (and, later, training) that load from the store,
//! run the pure parts in `data`/`ml`, and write results back.

pub mod bench;
pub mod export;
pub mod export_model;
pub mod import;
pub mod policy;
pub mod report;
pub mod reward;
pub mod score;
pub mod simulate;
pub mod train_rm;
