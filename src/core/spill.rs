//! The spill port: where a run keeps its planned changes between planning and applying them.
//!
//! A first sync of a million rows plans a million changes; held in memory with their field maps they outgrow a
//! 512 MiB pod. The engine therefore plans into a [`ChangeSpill`] and applies from it in bounded chunks, so
//! what it holds at once is one chunk, never the plan. Adapters implement the port on disk (src/state/spill.rs);
//! [`MemorySpill`] keeps everything in memory, for tests and small embeddings.
use std::sync::Mutex;

use crate::plan::{Change, ChangeSink};

/// A spill failed: a file could not be written or read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpillError(pub String);

/// Makes stores for a run's planned changes.
pub trait ChangeSpill: Send + Sync {
    /// A new, empty store; what it holds goes away with the [`SpillReader`] it finishes into.
    fn create(&self) -> Result<Box<dyn SpillWriter>, SpillError>;
}

/// Takes a plan's changes as the differ produces them (see [`ChangeSink`]).
pub trait SpillWriter: Send {
    /// Stores the next change; changes are numbered from 0 in push order.
    fn push(&mut self, change: Change) -> Result<(), SpillError>;
    /// Drops the change with this number (its key turned out to be duplicated).
    fn retract(&mut self, number: u32) -> Result<(), SpillError>;
    /// Ends the writing; the surviving changes can then be read back.
    fn finish(self: Box<Self>) -> Result<Box<dyn SpillReader>, SpillError>;
}

/// A finished plan's surviving changes, read back in plan order, a chunk at a time.
pub trait SpillReader: Send + Sync {
    /// How many changes survive.
    fn len(&self) -> u64;
    /// Whether no change survives.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Up to `max` changes from the `from`-th surviving one (counting from 0) on; fewer only at the end.
    /// Reading on from where the last read stopped is the cheap case.
    fn read(&self, from: u64, max: usize) -> Result<Vec<Change>, SpillError>;
}

impl ChangeSink for Box<dyn SpillWriter> {
    type Error = SpillError;
    fn push(&mut self, change: Change) -> Result<(), SpillError> {
        self.as_mut().push(change)
    }
    fn retract(&mut self, number: u32) -> Result<(), SpillError> {
        self.as_mut().retract(number)
    }
}

/// A [`ChangeSpill`] that keeps the changes in memory.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemorySpill;

impl ChangeSpill for MemorySpill {
    fn create(&self) -> Result<Box<dyn SpillWriter>, SpillError> {
        Ok(Box::new(MemoryWriter::default()))
    }
}

#[derive(Debug, Default)]
struct MemoryWriter {
    changes: Vec<Option<Change>>,
}

impl SpillWriter for MemoryWriter {
    fn push(&mut self, change: Change) -> Result<(), SpillError> {
        self.changes.push(Some(change));
        Ok(())
    }
    fn retract(&mut self, number: u32) -> Result<(), SpillError> {
        if let Some(slot) = self.changes.get_mut(number as usize) {
            *slot = None;
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Box<dyn SpillReader>, SpillError> {
        Ok(Box::new(MemoryChanges {
            changes: Mutex::new(self.changes.into_iter().flatten().collect()),
        }))
    }
}

/// Changes held in memory (behind a lock only so the read-back is `Sync`).
#[derive(Debug)]
struct MemoryChanges {
    changes: Mutex<Vec<Change>>,
}

impl SpillReader for MemoryChanges {
    fn len(&self) -> u64 {
        self.changes.lock().map_or(0, |c| c.len() as u64)
    }
    fn read(&self, from: u64, max: usize) -> Result<Vec<Change>, SpillError> {
        let changes = self
            .changes
            .lock()
            .map_err(|_| SpillError("the in-memory plan was poisoned".into()))?;
        let from = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(changes.len());
        let to = from.saturating_add(max).min(changes.len());
        Ok(changes[from..to].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ChangeKind;
    use crate::state::RowHash;

    fn change(key: &str) -> Change {
        Change {
            kind: ChangeKind::Added,
            key: key.into(),
            hash: RowHash([0; 16]),
            previous_hash: None,
            shopify_id: None,
            idempotency_key: None,
            fields: serde_json::Map::new(),
            source: None,
            ownership: None,
        }
    }

    #[test]
    fn memory_spill_reads_back_chunks_without_retracted_changes() {
        let mut writer = MemorySpill.create().unwrap();
        for k in ["a", "b", "c", "d", "e"] {
            writer.push(change(k)).unwrap();
        }
        writer.retract(1).unwrap();
        let spilled = writer.finish().unwrap();
        assert_eq!(spilled.len(), 4);
        let keys = |v: Vec<Change>| v.into_iter().map(|c| c.key).collect::<Vec<_>>();
        assert_eq!(keys(spilled.read(0, 3).unwrap()), ["a", "c", "d"]);
        assert_eq!(keys(spilled.read(3, 3).unwrap()), ["e"]);
        assert!(spilled.read(9, 3).unwrap().is_empty());
    }
}
