//! Long work: imports, exports, benchmarks, training and policy rounds that load from the
//! store, run the pure parts in `data`/`ml`, and write results back.

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

use std::path::Path;

use crate::jobs::train_rm::CancelToken;
use crate::store::Store;

/// What every phase of a run needs: the store, the DB's path (checkpoints live beside it),
/// the run's id, where its events go, and its cancel token. Passed by value; a phase that
/// calls another hands on `ctx.reborrow()`.
pub struct RunCtx<'a, E> {
    pub store: &'a mut Store,
    pub db_path: &'a Path,
    pub run_id: i64,
    pub emit: &'a mut dyn FnMut(E),
    pub cancel: &'a CancelToken,
}

impl<E> RunCtx<'_, E> {
    /// The same context for a callee, while this one stays usable after it returns.
    pub fn reborrow(&mut self) -> RunCtx<'_, E> {
        RunCtx {
            store: &mut *self.store,
            db_path: self.db_path,
            run_id: self.run_id,
            emit: &mut *self.emit,
            cancel: self.cancel,
        }
    }
}
