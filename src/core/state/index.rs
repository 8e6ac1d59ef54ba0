//! The snapshot (or ledger) of a sync as the differ reads it: [`SnapshotIndex`], loaded by a [`StateStore`]
//! and consumed by `diff::Differ`.
//!
//! Each entry keeps, next to what the state stored, the few working marks the differ sets while a plan is made
//! (seen, what the first row of the key led to, its change's number), so one lookup per row serves both.
//!
//! [`StateStore`]: super::StateStore
use crate::table::{Arena, KeyMap, Span};

use super::{LedgerEntry, LedgerStatus, Outcome, Ownership, RowHash, SnapshotEntry};

/// How the last attempt at a key ended, as the diff sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Succeeded,
    Failed,
    Unknown,
}

pub(crate) const NO_CHANGE: u32 = u32::MAX;

/// What the first row of a key led to, so that a duplicate can undo it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Nothing,
    Unchanged,
    Kept,
    Added,
    Changed,
    Retried,
    UnknownOutcome,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    pub(crate) hash: RowHash,
    pub(crate) source: Option<RowHash>,
    pub(crate) status: Status,
    pub(crate) ownership: Ownership,
    pub(crate) shopify_id: Span,
    pub(crate) idempotency_key: Span,
    pub(crate) seen: bool,
    pub(crate) verdict: Verdict,
    pub(crate) change: u32,
}

/// A snapshot entry as a store reads it, borrowed (see [`SnapshotEntry`] for the fields).
#[derive(Debug, Clone, Copy)]
pub struct ObjectEntry<'a> {
    /// The primary key.
    pub key: &'a str,
    /// The hash of what was last sent.
    pub hash: RowHash,
    /// How the last attempt ended.
    pub outcome: Outcome,
    /// The Shopify record, once known.
    pub shopify_id: Option<&'a str>,
    /// The digest of the row as read when it was last sent.
    pub source: Option<RowHash>,
    /// How the sync came to know the record.
    pub ownership: Ownership,
}

/// The snapshot (or ledger) of a sync, indexed by key in compact form.
#[derive(Debug, Default)]
pub struct SnapshotIndex {
    pub(crate) known: KeyMap<Known>,
    pub(crate) extra: Arena,
}

impl SnapshotIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an object sync's snapshot entry.
    pub fn insert_snapshot(&mut self, entry: &SnapshotEntry) {
        self.insert_object(ObjectEntry {
            key: &entry.key,
            hash: entry.hash,
            outcome: entry.outcome,
            shopify_id: entry.shopify_id.as_deref(),
            source: entry.source,
            ownership: entry.ownership,
        });
    }

    /// Adds an object sync's snapshot entry from borrowed parts, for stores that read entries in place.
    pub fn insert_object(&mut self, entry: ObjectEntry<'_>) {
        let known = self.known_object(&entry);
        self.known.insert(entry.key, known);
    }

    /// [`insert_object`](SnapshotIndex::insert_object) for a key the index cannot hold yet: a store reading its
    /// own primary key, which skips the lookup (a cache miss per key on a large index). A key added twice would
    /// be diffed twice, so only use it where the keys are unique by construction.
    pub fn insert_unique_object(&mut self, entry: ObjectEntry<'_>) {
        let known = self.known_object(&entry);
        self.known.insert_new(entry.key, known);
    }

    fn known_object(&mut self, entry: &ObjectEntry<'_>) -> Known {
        let status = match entry.outcome {
            Outcome::Succeeded => Status::Succeeded,
            Outcome::Rejected => Status::Failed,
            Outcome::Unknown => Status::Unknown,
        };
        let mut known = self.known(entry.hash, entry.source, status, entry.shopify_id, None);
        known.ownership = entry.ownership;
        known
    }

    /// Adds an event/action ledger entry.
    pub fn insert_ledger(&mut self, entry: &LedgerEntry) {
        let status = match entry.status {
            LedgerStatus::Sent | LedgerStatus::Confirmed => Status::Succeeded,
            LedgerStatus::Rejected => Status::Failed,
            LedgerStatus::Pending => Status::Unknown,
        };
        let known = self.known(
            entry.hash,
            None,
            status,
            entry.shopify_id.as_deref(),
            entry.idempotency_key.as_deref(),
        );
        self.known.insert(&entry.key, known);
    }

    fn known(
        &mut self,
        hash: RowHash,
        source: Option<RowHash>,
        status: Status,
        id: Option<&str>,
        idem: Option<&str>,
    ) -> Known {
        let shopify_id = self.extra.push_opt(id);
        let idempotency_key = self.extra.push_opt(idem);
        Known {
            hash,
            source,
            status,
            ownership: Ownership::Matched,
            shopify_id,
            idempotency_key,
            seen: false,
            verdict: Verdict::Nothing,
            change: NO_CHANGE,
        }
    }

    /// How many keys the index holds.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.known.len() == 0
    }

    /// Approximate heap use in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.known.heap_bytes() + self.extra.bytes()
    }

    /// The Shopify ids of the records the sync created (see `plan::PlanSummary::inherited_created`).
    pub fn created_ids(&self) -> Vec<String> {
        self.known
            .iter()
            .filter(|(_, k)| k.ownership == Ownership::Created)
            .filter_map(|(_, k)| self.extra.get(k.shopify_id))
            .map(str::to_owned)
            .collect()
    }
}
