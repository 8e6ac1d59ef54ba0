//! How far a run has got: the engine reports the records it is about to write and each batch it applied, so a
//! terminal can draw a bar and a log can say where a long run stands.

/// Hears about a run's progress. Calls come from the task running the sync; implementations must be cheap.
pub trait Progress: Send + Sync {
    /// The run of `sync` will apply `total` records (writes, then deletes).
    fn planned(&self, sync: &str, total: u64);
    /// `done` more records of `sync` were applied (accepted, rejected or skipped).
    fn advanced(&self, sync: &str, done: u64);
    /// The run of `sync` ended, whatever its outcome.
    fn finished(&self, sync: &str);
}
