//! The plan: what a sync run will send and remove, as plain data. The differ ([`crate::diff`]) computes it;
//! `shopsync plan` prints it and the engine applies it.
use serde::{Deserialize, Serialize};

use crate::record::{RowRejection, Value};
use crate::state::{Outcome, Ownership, RowHash, SnapshotChange, SnapshotEntry};

/// Why a record is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The key is not in the snapshot (or the state re-baselines).
    Added,
    /// The values or the mapping changed since the last attempt.
    Changed,
    /// Unchanged, but the last attempt did not succeed.
    Retried,
}

/// A record to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Why it is sent.
    pub kind: ChangeKind,
    /// The primary key.
    pub key: String,
    /// The hash of what is sent now.
    pub hash: RowHash,
    /// The hash the snapshot had.
    pub previous_hash: Option<RowHash>,
    /// The Shopify record the key maps to, if known.
    pub shopify_id: Option<String>,
    /// For a resent event or action: the idempotency key of the first attempt, which makes the resend safe.
    pub idempotency_key: Option<String>,
    /// The mapped fields to send.
    pub fields: serde_json::Map<String, Value>,
    /// The digest of the warehouse row as read, stored with the entry so the next plan can skip it undecoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RowHash>,
    /// How the sync came to know the key's record, when the snapshot knows the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Ownership>,
}

impl Change {
    /// The snapshot entry to commit once Shopify accepted this change, with the ownership the write established.
    pub fn succeeded(&self, shopify_id: Option<String>, ownership: Ownership) -> SnapshotChange {
        SnapshotChange::Upsert(SnapshotEntry {
            key: self.key.clone(),
            hash: self.hash,
            shopify_id: shopify_id.or_else(|| self.shopify_id.clone()),
            outcome: Outcome::Succeeded,
            error: None,
            source: self.source,
            ownership,
        })
    }

    /// The ownership of the key's record after Shopify accepted this change: `created` when the write created it,
    /// else what the snapshot knew of the same record (a record the sync created stays its own), else `matched`.
    pub fn ownership_after(&self, created: bool, shopify_id: Option<&str>) -> Ownership {
        if created {
            return Ownership::Created;
        }
        let same_record = shopify_id.is_none() || shopify_id == self.shopify_id.as_deref();
        match self.ownership {
            Some(known) if same_record && known != Ownership::Skipped => known,
            _ => Ownership::Matched,
        }
    }

    /// The values to remember once Shopify accepted this change: the "before" of the next update's plan.
    pub fn accepted_values(&self) -> SnapshotChange {
        SnapshotChange::Values {
            key: self.key.clone(),
            fields: self.fields.clone(),
        }
    }

    /// The snapshot entry to commit when Shopify rejected this change (it is retried next run). A create an
    /// earlier run sent without recording its answer is settled: refused now, it created nothing then.
    pub fn rejected(&self, error: impl Into<String>) -> SnapshotChange {
        let entry = self.unsettled(Outcome::Rejected, error.into());
        match entry {
            SnapshotChange::Upsert(mut e) if self.create_intended() => {
                e.ownership = Ownership::Matched;
                SnapshotChange::Upsert(e)
            }
            other => other,
        }
    }

    /// The snapshot entry committed just before a write that may create the key's record (the snapshot does
    /// not know the key): outcome unknown, no id, and ownership `created`. The write's outcome replaces it; if
    /// the run dies first, the next run resends the row and counts the record it then finds as the one this
    /// sync created ([`Change::create_intended`]).
    pub fn intent(&self) -> SnapshotChange {
        SnapshotChange::Upsert(SnapshotEntry {
            key: self.key.clone(),
            hash: self.hash,
            shopify_id: None,
            outcome: Outcome::Unknown,
            error: Some("sent; the run ended before Shopify's answer was recorded".into()),
            source: self.source,
            ownership: Ownership::Created,
        })
    }

    /// Whether an earlier run sent a create for this key and ended before recording what came of it (see
    /// [`Change::intent`]): a record found for the key now is taken as the one it created. Someone else
    /// creating the same record in between would be taken for it too; the window is from that run to this one.
    pub fn create_intended(&self) -> bool {
        self.shopify_id.is_none() && self.ownership == Some(Ownership::Created)
    }

    /// The snapshot entry to commit when the write's answer was lost: whether Shopify applied it is unknown.
    pub fn unknown(&self, error: impl Into<String>) -> SnapshotChange {
        self.unsettled(Outcome::Unknown, error.into())
    }

    fn unsettled(&self, outcome: Outcome, error: String) -> SnapshotChange {
        SnapshotChange::Upsert(SnapshotEntry {
            key: self.key.clone(),
            hash: self.hash,
            shopify_id: self.shopify_id.clone(),
            outcome,
            error: Some(error),
            source: self.source,
            // Nothing was established: what the snapshot knew stands, and a new key owns nothing.
            ownership: self.ownership.unwrap_or(Ownership::Matched),
        })
    }
}

/// A key that left the result set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// The primary key.
    pub key: String,
    /// The key's Shopify record, if one is known.
    pub shopify_id: Option<String>,
    /// How the sync came to know the record.
    #[serde(default)]
    pub ownership: Ownership,
    /// Whether the record is deleted; otherwise the key is only forgotten and its record stays in Shopify.
    #[serde(default)]
    pub delete: bool,
}

impl Removal {
    /// The snapshot change once the removal was carried out.
    pub fn forget(&self) -> SnapshotChange {
        SnapshotChange::Remove(self.key.clone())
    }
}

/// Deletes the guard refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedDeletes {
    /// How many records would have been deleted.
    pub count: u64,
    /// How many records the sync knew before the run (the guard's percentage is of these).
    #[serde(default)]
    pub known: u64,
    /// The guard's reason.
    pub reason: String,
}

/// Why a plan re-baselines: every row is matched again and nothing is removed or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Rebaseline {
    /// The state has no baseline for the sync (a first run, or state that was lost or reset).
    NoState,
    /// What identifies records changed (primary key column, target, match key or column): the old keys mean
    /// nothing now, so none of them counts as removed.
    IdentityChanged,
}

/// Counters of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanStats {
    /// Rows seen (records and rejections).
    pub rows: u64,
    /// Changes of kind added.
    pub added: u64,
    /// Changes of kind changed.
    pub changed: u64,
    /// Changes of kind retried.
    pub retried: u64,
    /// Keys planned for removal.
    pub removed: u64,
    /// Keys with nothing to do.
    pub unchanged: u64,
    /// Known keys whose row changed but whose record the sync does not write: insert mode never updates.
    #[serde(default)]
    pub kept: u64,
    /// Rows rejected (mapping, NULL or duplicated keys).
    pub rejected: u64,
}

/// Everything a diff decides except the changes themselves (those went to the sink).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlanSummary {
    /// The state had no baseline: every row is upsert-matched by its identifier, nothing is removed.
    pub rebaseline: bool,
    /// Why the plan re-baselines, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebaseline_reason: Option<Rebaseline>,
    /// On an identity re-baseline: the Shopify ids of records the sync created under its old keys, so that
    /// matching them again under the new keys keeps them the sync's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherited_created: Vec<String>,
    /// Keys to remove: deleted or only forgotten, as each says (empty on a re-baseline; without the deletes when
    /// the guard refused them).
    pub removed: Vec<Removal>,
    /// Set when the delete guard tripped.
    pub refused_deletes: Option<RefusedDeletes>,
    /// Insert-only keys that were sent but never recorded, with no idempotency key to make a resend safe: they
    /// are reported, not resent.
    pub unknown_outcome: Vec<String>,
    /// Rows that are not synced, and why.
    pub rejections: Vec<RowRejection>,
    /// The counters.
    pub stats: PlanStats,
    /// Unchanged keys whose stored source digest is missing or stale: committing these lets the next plan skip
    /// them undecoded. Nothing is sent for them.
    #[serde(skip)]
    pub source_refreshes: Vec<SnapshotChange>,
}

/// A complete plan held in memory: what `shopsync plan` prints and what small syncs apply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Records to send, in row order.
    pub changes: Vec<Change>,
    /// Removals, rejections and counters.
    #[serde(flatten)]
    pub summary: PlanSummary,
}

impl Plan {
    /// Whether a run would do nothing at all.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.summary.removed.is_empty()
            && self.summary.refused_deletes.is_none()
            && self.summary.unknown_outcome.is_empty()
            && self.summary.rejections.is_empty()
    }

    /// The changes of one kind.
    pub fn of_kind(&self, kind: ChangeKind) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.kind == kind)
    }
}

/// Where a [`Differ`](crate::diff::Differ) puts changes until the diff is finished.
pub trait ChangeSink {
    /// The sink's failure (e.g. a spill file error).
    type Error;
    /// Stores the next change; changes are numbered from 0 in push order.
    fn push(&mut self, change: Change) -> Result<(), Self::Error>;
    /// Drops the change with this number (its key turned out to be duplicated).
    fn retract(&mut self, number: u32) -> Result<(), Self::Error>;
}

/// The in-memory sink behind [`diff::plan`](crate::diff::plan).
#[derive(Debug, Default)]
pub struct MemorySink {
    changes: Vec<Option<Change>>,
}

impl MemorySink {
    /// The surviving changes, in push order.
    pub fn into_changes(self) -> Vec<Change> {
        self.changes.into_iter().flatten().collect()
    }
}

impl ChangeSink for MemorySink {
    type Error = std::convert::Infallible;
    fn push(&mut self, change: Change) -> Result<(), Self::Error> {
        self.changes.push(Some(change));
        Ok(())
    }
    fn retract(&mut self, number: u32) -> Result<(), Self::Error> {
        if let Some(slot) = self.changes.get_mut(number as usize) {
            *slot = None;
        }
        Ok(())
    }
}
