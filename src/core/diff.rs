//! Change detection: from the model's records and the last snapshot, what to add, change, retry and remove.
//!
//! The [`Differ`] is incremental: records are pushed one at a time and only the snapshot index (key, hash, status,
//! Shopify id) plus the pending changes are kept, so memory does not grow with unchanged rows. Changes go to a
//! [`ChangeSink`]: [`plan`] keeps them in memory as a [`Plan`]; large syncs can spill them to disk. A change can be
//! retracted later, when a second row with the same primary key shows up (every row of a duplicated key is
//! rejected), which is why nothing may be applied before [`Differ::finish`].
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::record::{Record, RejectionCode, RowRejection, Value};
use crate::state::{
    LedgerEntry, LedgerStatus, Outcome, Ownership, RowHash, SnapshotChange, SnapshotEntry,
};

mod index;

use index::{Arena, KeyMap, Span};

/// What kind of destination the sync writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Objects (customers, products, ...): keys are added, changed and removed against the snapshot.
    Objects,
    /// Events and actions: each key is sent once, never changed or removed.
    InsertOnly,
}

pub use crate::config::DeleteGuard;

/// How to diff one sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffSettings {
    /// Objects or insert-only events/actions.
    pub target: TargetKind,
    /// A digest of the field mapping (and anything else that changes what is sent): part of every row hash.
    pub fingerprint: String,
    /// The delete guard.
    pub delete_guard: DeleteGuard,
    /// Fail the whole run on a duplicated primary key instead of rejecting its rows.
    pub fail_on_duplicate_keys: bool,
    /// Whether the state has no baseline (missing or reset): everything is upserted, nothing removed.
    pub rebaseline: bool,
    /// Insert mode: a key the snapshot knows is never written again (insert creates, it never updates).
    #[serde(default)]
    pub insert_mode: bool,
    /// Whether keys that leave the model delete their record (rather than only being forgotten).
    #[serde(default)]
    pub deletes: bool,
    /// With `deletes`: records the sync matched are deleted too, not only those it created (`deleteMatched`).
    #[serde(default)]
    pub delete_matched: bool,
}

impl DiffSettings {
    /// Settings for an object sync with no delete guard.
    pub fn objects(fingerprint: impl Into<String>) -> Self {
        Self {
            target: TargetKind::Objects,
            fingerprint: fingerprint.into(),
            delete_guard: DeleteGuard::default(),
            fail_on_duplicate_keys: false,
            rebaseline: false,
            insert_mode: false,
            deletes: false,
            delete_matched: false,
        }
    }

    /// Settings for an event or action sync.
    pub fn insert_only(fingerprint: impl Into<String>) -> Self {
        Self {
            target: TargetKind::InsertOnly,
            ..Self::objects(fingerprint)
        }
    }
}

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

    /// The snapshot entry to commit when Shopify rejected this change (it is retried next run).
    pub fn rejected(&self, error: impl Into<String>) -> SnapshotChange {
        self.unsettled(Outcome::Rejected, error.into())
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

/// Where a [`Differ`] puts changes until the diff is finished.
pub trait ChangeSink {
    /// The sink's failure (e.g. a spill file error).
    type Error;
    /// Stores the next change; changes are numbered from 0 in push order.
    fn push(&mut self, change: Change) -> Result<(), Self::Error>;
    /// Drops the change with this number (its key turned out to be duplicated).
    fn retract(&mut self, number: u32) -> Result<(), Self::Error>;
}

/// The in-memory sink behind [`plan`].
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

/// A diff failure.
#[derive(Debug, Error)]
pub enum DiffError<E> {
    /// The sync asked to fail on duplicated keys and some were found.
    #[error(
        "{count} primary keys appear in more than one row (first: `{first}`); the sync fails on duplicate keys"
    )]
    DuplicateKeys {
        /// How many keys were duplicated.
        count: usize,
        /// One of them, for the message.
        first: String,
    },
    /// Too many changes to number them (more than 4 billion).
    #[error("more than {} changes in one plan", u32::MAX)]
    TooManyChanges,
    /// The change sink failed.
    #[error("change sink: {0}")]
    Sink(E),
}

/// How the last attempt at a key ended, as the diff sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Succeeded,
    Failed,
    Unknown,
}

const NO_CHANGE: u32 = u32::MAX;

/// What the first row of a key led to, so that a duplicate can undo it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Nothing,
    Unchanged,
    Kept,
    Change(ChangeKind),
    UnknownOutcome,
}

#[derive(Debug, Clone, Copy)]
struct Known {
    hash: RowHash,
    source: Option<RowHash>,
    status: Status,
    ownership: Ownership,
    shopify_id: Span,
    idempotency_key: Span,
    seen: bool,
    verdict: Verdict,
    change: u32,
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
    known: KeyMap<Known>,
    extra: Arena,
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

    /// The Shopify ids of the records the sync created (see [`PlanSummary::inherited_created`]).
    pub fn created_ids(&self) -> Vec<String> {
        self.known
            .iter()
            .filter(|(_, k)| k.ownership == Ownership::Created)
            .filter_map(|(_, k)| self.extra.get(k.shopify_id))
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Debug, Clone, Copy)]
struct Fresh {
    change: u32,
}

/// The incremental diff. Push every record (or rejection), then [`finish`](Differ::finish).
#[derive(Debug)]
pub struct Differ<S> {
    settings: DiffSettings,
    index: SnapshotIndex,
    fresh: KeyMap<Fresh>,
    duplicates: HashMap<String, u64>,
    sink: S,
    next_change: u32,
    summary: PlanSummary,
}

impl<S: ChangeSink> Differ<S> {
    /// Starts a diff against `index` (ignored when the settings re-baseline an object sync).
    pub fn new(settings: DiffSettings, index: SnapshotIndex, sink: S) -> Self {
        let index = if settings.rebaseline && settings.target == TargetKind::Objects {
            SnapshotIndex::new()
        } else {
            index
        };
        let summary = PlanSummary {
            rebaseline: settings.rebaseline,
            ..PlanSummary::default()
        };
        Self {
            settings,
            index,
            fresh: KeyMap::default(),
            duplicates: HashMap::new(),
            sink,
            next_change: 0,
            summary,
        }
    }

    /// Takes one mapped row: a record, or the mapping's rejection of it.
    pub fn push(&mut self, row: Result<Record, RowRejection>) -> Result<(), DiffError<S::Error>> {
        self.push_with_source(row, None)
    }

    /// Takes one row before mapping it, when its key and its digest as read are known: `true` when the row is
    /// certainly unchanged (the key's last attempt succeeded with this very digest, or, for events and actions,
    /// the key was sent), which counts it exactly as [`push`](Differ::push) would. On `false` nothing is
    /// recorded: map the row and push it with [`push_with_source`](Differ::push_with_source).
    pub fn skip_unchanged(&mut self, key: &str, source: Option<RowHash>) -> bool {
        let insert_only = self.settings.target == TargetKind::InsertOnly;
        if self.duplicates.contains_key(key) {
            return false;
        }
        let Some(known) = self.index.known.get_mut(key) else {
            return false;
        };
        let unchanged = !known.seen
            && known.status == Status::Succeeded
            && (insert_only || (source.is_some() && known.source == source));
        if unchanged {
            known.seen = true;
            known.verdict = Verdict::Unchanged;
            self.summary.stats.rows += 1;
            self.summary.stats.unchanged += 1;
        }
        unchanged
    }

    /// [`push`](Differ::push), with the digest of the row as read, which the snapshot keeps for the next plan.
    pub fn push_with_source(
        &mut self,
        row: Result<Record, RowRejection>,
        source: Option<RowHash>,
    ) -> Result<(), DiffError<S::Error>> {
        self.summary.stats.rows += 1;
        match row {
            Ok(record) => self.push_record(record, source),
            Err(rejection) => {
                // A rejected row still claims its key: its Shopify record must not be removed for it.
                if let Some(known) = rejection
                    .key
                    .as_deref()
                    .and_then(|k| self.index.known.get_mut(k))
                {
                    known.seen = true;
                }
                self.summary.stats.rejected += 1;
                self.summary.rejections.push(rejection);
                Ok(())
            }
        }
    }

    fn push_record(
        &mut self,
        record: Record,
        source: Option<RowHash>,
    ) -> Result<(), DiffError<S::Error>> {
        if let Some(count) = self.duplicates.get_mut(&record.key) {
            *count += 1;
            return Ok(());
        }
        let hash = RowHash::of(&self.settings.fingerprint, &record);
        let insert_only = self.settings.target == TargetKind::InsertOnly;
        let number = self.next_change;
        if let Some(known) = self.index.known.get_mut(&record.key) {
            if known.seen {
                let retract = std::mem::replace(&mut known.change, NO_CHANGE);
                let first = known.verdict;
                return self.duplicate(record.key, first, retract);
            }
            known.seen = true;
            if self.settings.insert_mode && known.status == Status::Succeeded && known.hash != hash
            {
                // Insert creates and never updates: neither a record it created nor one it found existing.
                known.verdict = Verdict::Kept;
                self.summary.stats.kept += 1;
                return Ok(());
            }
            let kind = match known.status {
                Status::Succeeded if insert_only || known.hash == hash => None,
                Status::Succeeded => Some(ChangeKind::Changed),
                Status::Failed | Status::Unknown if known.hash != hash && !insert_only => {
                    Some(ChangeKind::Changed)
                }
                Status::Failed => Some(ChangeKind::Retried),
                // Objects are upserted or updated by identifier, so resending is safe; an insert-only key is
                // resent only under the idempotency key of its first attempt.
                Status::Unknown if !insert_only || !known.idempotency_key.is_none() => {
                    Some(ChangeKind::Retried)
                }
                Status::Unknown => {
                    known.verdict = Verdict::UnknownOutcome;
                    self.summary.unknown_outcome.push(record.key);
                    return Ok(());
                }
            };
            let Some(kind) = kind else {
                known.verdict = Verdict::Unchanged;
                self.summary.stats.unchanged += 1;
                if let Some(source) = source
                    && !insert_only
                    && known.source != Some(source)
                {
                    self.summary.source_refreshes.push(SnapshotChange::Source {
                        key: record.key,
                        source,
                    });
                }
                return Ok(());
            };
            known.verdict = Verdict::Change(kind);
            known.change = number;
            let known = *known;
            return self.emit(kind, record, hash, source, Some(known));
        }
        if let Some(fresh) = self.fresh.get_mut(&record.key) {
            let retract = std::mem::replace(&mut fresh.change, NO_CHANGE);
            return self.duplicate(record.key, Verdict::Change(ChangeKind::Added), retract);
        }
        self.fresh.insert(&record.key, Fresh { change: number });
        self.emit(ChangeKind::Added, record, hash, source, None)
    }

    fn emit(
        &mut self,
        kind: ChangeKind,
        record: Record,
        hash: RowHash,
        source: Option<RowHash>,
        known: Option<Known>,
    ) -> Result<(), DiffError<S::Error>> {
        let extra = &self.index.extra;
        let change = Change {
            kind,
            key: record.key,
            hash,
            previous_hash: known.map(|k| k.hash),
            shopify_id: known
                .and_then(|k| extra.get(k.shopify_id))
                .map(str::to_owned),
            idempotency_key: known
                .and_then(|k| extra.get(k.idempotency_key))
                .map(str::to_owned),
            fields: record.fields,
            source,
            ownership: known
                .filter(|_| self.settings.target == TargetKind::Objects)
                .map(|k| k.ownership),
        };
        self.next_change = self
            .next_change
            .checked_add(1)
            .ok_or(DiffError::TooManyChanges)?;
        let stats = &mut self.summary.stats;
        match kind {
            ChangeKind::Added => stats.added += 1,
            ChangeKind::Changed => stats.changed += 1,
            ChangeKind::Retried => stats.retried += 1,
        }
        self.sink.push(change).map_err(DiffError::Sink)
    }

    /// The second row of a key: drop the first row's change (if any) and count both rows as rejected.
    fn duplicate(
        &mut self,
        key: String,
        first: Verdict,
        retract: u32,
    ) -> Result<(), DiffError<S::Error>> {
        if retract != NO_CHANGE {
            self.sink.retract(retract).map_err(DiffError::Sink)?;
        }
        let stats = &mut self.summary.stats;
        match first {
            Verdict::Nothing => {}
            Verdict::Unchanged => stats.unchanged -= 1,
            Verdict::Kept => stats.kept -= 1,
            Verdict::Change(ChangeKind::Added) => stats.added -= 1,
            Verdict::Change(ChangeKind::Changed) => stats.changed -= 1,
            Verdict::Change(ChangeKind::Retried) => stats.retried -= 1,
            Verdict::UnknownOutcome => self.summary.unknown_outcome.retain(|k| *k != key),
        }
        self.duplicates.insert(key, 2);
        Ok(())
    }

    /// Ends the diff: removals (subject to the delete guard), duplicate-key rejections, counters. Returns the sink
    /// holding the surviving changes.
    pub fn finish(mut self) -> Result<(PlanSummary, S), DiffError<S::Error>> {
        if self.settings.fail_on_duplicate_keys
            && let Some(first) = self.duplicates.keys().min()
        {
            return Err(DiffError::DuplicateKeys {
                count: self.duplicates.len(),
                first: first.clone(),
            });
        }
        self.settle_duplicates();
        if self.settings.target == TargetKind::Objects && !self.settings.rebaseline {
            self.settle_removals();
        }
        Ok((self.summary, self.sink))
    }

    fn settle_duplicates(&mut self) {
        let mut duplicates: Vec<_> = std::mem::take(&mut self.duplicates).into_iter().collect();
        duplicates.sort();
        let stats = &mut self.summary.stats;
        for (key, count) in duplicates {
            stats.rejected += count;
            self.summary.rejections.push(RowRejection::new(
                Some(key),
                RejectionCode::DuplicatePrimaryKey,
                format!("{count} rows share this primary key; all of them are rejected"),
            ));
        }
    }

    /// Keys the model no longer has: each record the sync may delete (it created it, or matched it under
    /// `deleteMatched`) is deleted, unless the delete guard refuses the run's deletes; every other key is only
    /// forgotten and its record stays in Shopify.
    fn settle_removals(&mut self) {
        let extra = &self.index.extra;
        let (deletes, delete_matched) = (self.settings.deletes, self.settings.delete_matched);
        let mut removed: Vec<Removal> = self
            .index
            .known
            .iter()
            .filter(|(_, known)| !known.seen)
            .map(|(key, known)| {
                let shopify_id = extra.get(known.shopify_id).map(str::to_owned);
                Removal {
                    key: key.to_owned(),
                    delete: deletes
                        && shopify_id.is_some()
                        && known.ownership.deletable(delete_matched),
                    shopify_id,
                    ownership: known.ownership,
                }
            })
            .collect();
        let count = removed.iter().filter(|r| r.delete).count() as u64;
        let known = self.index.len() as u64;
        if let Some(reason) = self.settings.delete_guard.check(count, known) {
            // Refused deletes keep their keys: the next run decides again. Forgetting the rest is harmless.
            removed.retain(|r| !r.delete);
            self.summary.refused_deletes = Some(RefusedDeletes {
                count,
                known,
                reason,
            });
        }
        self.summary.stats.removed = removed.len() as u64;
        self.summary.removed = removed;
    }
}

/// Diffs `rows` against `index` and keeps the whole plan in memory.
pub fn plan<I>(
    settings: DiffSettings,
    index: SnapshotIndex,
    rows: I,
) -> Result<Plan, DiffError<std::convert::Infallible>>
where
    I: IntoIterator<Item = Result<Record, RowRejection>>,
{
    let mut differ = Differ::new(settings, index, MemorySink::default());
    for row in rows {
        differ.push(row)?;
    }
    let (summary, sink) = differ.finish()?;
    Ok(Plan {
        changes: sink.into_changes(),
        summary,
    })
}
