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

use crate::plan::{
    Change, ChangeKind, ChangeSink, MemorySink, Plan, PlanSummary, RefusedDeletes, Removal,
};
use crate::record::{Record, RejectionCode, RowRejection};
use crate::state::index::{Known, NO_CHANGE, Status, Verdict};
use crate::state::{RowHash, SnapshotChange, SnapshotIndex};
use crate::table::KeyMap;

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

/// What a key's row led to when it became a change of `kind` (kept in the index to undo it for a duplicate).
fn verdict_of(kind: ChangeKind) -> Verdict {
    match kind {
        ChangeKind::Added => Verdict::Added,
        ChangeKind::Changed => Verdict::Changed,
        ChangeKind::Retried => Verdict::Retried,
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
            known.verdict = verdict_of(kind);
            known.change = number;
            let known = *known;
            return self.emit(kind, record, hash, source, Some(known));
        }
        if let Some(fresh) = self.fresh.get_mut(&record.key) {
            let retract = std::mem::replace(&mut fresh.change, NO_CHANGE);
            return self.duplicate(record.key, Verdict::Added, retract);
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
            Verdict::Added => stats.added -= 1,
            Verdict::Changed => stats.changed -= 1,
            Verdict::Retried => stats.retried -= 1,
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
