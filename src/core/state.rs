//! The state port: what was synced, the event/action ledger, run history and the per-sync lock.
//!
//! Adapters (src/state) implement [`StateStore`] on SQLite and PostgreSQL. Everything here is plain data so the
//! diff and the engine can be tested against an in-memory store.
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::AlertRecord;
use crate::source::FailureClass;

pub(crate) mod index;

pub use index::{ObjectEntry, SnapshotIndex};
// Defined where a cycle does not form (`record`, `report`); named here too, where stores and adapters look.
pub use crate::record::RowHash;
pub use crate::report::{RunRecord, RunStats, RunStatus};

/// How the last attempt to sync a key ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Shopify accepted it: the snapshot holds what Shopify has.
    Succeeded,
    /// Shopify rejected it: retried on every run until it succeeds.
    Rejected,
    /// It was sent but the result was never recorded (a crash in between).
    Unknown,
}

impl Outcome {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Rejected => "rejected",
            Outcome::Unknown => "unknown",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Succeeded, Outcome::Rejected, Outcome::Unknown]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// How a sync came to know the Shopify record of a key: what it may do to that record.
///
/// Ownership only ever narrows what a sync may do: a record the sync did not create is never deleted without the
/// sync's explicit `deleteMatched` opt-in, and a record insert mode found existing is never written at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    /// This sync created the record.
    Created,
    /// The record existed and the sync matched it (upsert or update mode). Entries stored before ownership was
    /// recorded read as matched: the safe reading, since nothing says the sync created them.
    #[default]
    Matched,
    /// Insert mode found the record existing and left it alone: the sync neither changes nor deletes it, ever.
    Skipped,
}

impl Ownership {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::Created => "created",
            Ownership::Matched => "matched",
            Ownership::Skipped => "skipped",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Ownership> {
        [Ownership::Created, Ownership::Matched, Ownership::Skipped]
            .into_iter()
            .find(|o| o.as_str() == s)
    }

    /// Whether a removal of the key may delete the record: only what the sync created, unless the sync opted in
    /// to deleting what it matched too. A skipped record is never deleted.
    pub fn deletable(self, delete_matched: bool) -> bool {
        match self {
            Ownership::Created => true,
            Ownership::Matched => delete_matched,
            Ownership::Skipped => false,
        }
    }
}

impl fmt::Display for Ownership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What identifies a sync's records and what it sends, as of its last committed run: a change of `identity`
/// (primary key column, target, match key or column) makes the old keys meaningless, so the next run re-baselines
/// instead of removing every old key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Baseline {
    /// The identity fingerprint (see `mapping::identity`); `None` for baselines stored before it was kept.
    pub identity: Option<String>,
    /// The mapping fingerprint of the last run: a row re-sent with unchanged values was re-sent because this
    /// changed.
    pub fingerprint: Option<String>,
}

/// What the snapshot remembers about one primary key of an object sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    /// The primary key.
    pub key: String,
    /// The hash of what was last sent (or attempted).
    pub hash: RowHash,
    /// The Shopify record it maps to, once known.
    pub shopify_id: Option<String>,
    /// How the last attempt ended.
    pub outcome: Outcome,
    /// Shopify's error when it was rejected.
    pub error: Option<String>,
    /// The digest of the warehouse row as read when it was last sent (see
    /// [`SourceRow`](crate::source::SourceRow)): a row with the same digest is unchanged without decoding
    /// it. `None` when the warehouse adapter gives no digests.
    #[serde(default)]
    pub source: Option<RowHash>,
    /// How the sync came to know the record.
    #[serde(default)]
    pub ownership: Ownership,
}

pub use super::record::FieldValues;

/// A change to a sync's snapshot, written after a run for the keys it attempted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotChange {
    /// Insert or replace the entry for its key.
    Upsert(SnapshotEntry),
    /// Remember the mapped values Shopify accepted for a key: `plan` shows them as the "before" of an update.
    /// Kept apart from the entry so that diffing never loads them.
    Values {
        /// The primary key.
        key: String,
        /// The mapped fields as sent.
        fields: FieldValues,
    },
    /// Forget a key (its Shopify record was deleted, or it left the model with `doNothing`), values included.
    Remove(String),
    /// Record a new source digest for a key whose row was unchanged although its digest was not (an unmapped
    /// column changed, or shopsync was upgraded), so the next plan recognises it without decoding it. A key no
    /// longer in the snapshot is left alone.
    Source {
        /// The primary key.
        key: String,
        /// The row's digest as read.
        source: RowHash,
    },
    /// Record what identifies the sync's records and its mapping fingerprint (see [`Baseline`]).
    Baseline(Baseline),
}

impl SnapshotChange {
    /// The entry, when this change upserts one.
    pub fn as_upsert(&self) -> Option<&SnapshotEntry> {
        match self {
            SnapshotChange::Upsert(e) => Some(e),
            _ => None,
        }
    }

    /// The key and values, when this change remembers values.
    pub fn as_values(&self) -> Option<(&str, &FieldValues)> {
        match self {
            SnapshotChange::Values { key, fields } => Some((key, fields)),
            _ => None,
        }
    }

    /// The key, when this change forgets one.
    pub fn as_remove(&self) -> Option<&str> {
        match self {
            SnapshotChange::Remove(k) => Some(k),
            _ => None,
        }
    }

    /// The baseline, when this change records one.
    pub fn as_baseline(&self) -> Option<&Baseline> {
        match self {
            SnapshotChange::Baseline(b) => Some(b),
            _ => None,
        }
    }

    /// The key and digest, when this change refreshes a source digest.
    pub fn as_source(&self) -> Option<(&str, RowHash)> {
        match self {
            SnapshotChange::Source { key, source } => Some((key, *source)),
            _ => None,
        }
    }
}

/// Where an event or action key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerStatus {
    /// Recorded before sending; if a run finds it still pending, the outcome is unknown.
    Pending,
    /// Shopify answered with success.
    Sent,
    /// A later read confirmed it exists in Shopify.
    Confirmed,
    /// Shopify rejected it: retried on later runs.
    Rejected,
}

impl LedgerStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerStatus::Pending => "pending",
            LedgerStatus::Sent => "sent",
            LedgerStatus::Confirmed => "confirmed",
            LedgerStatus::Rejected => "rejected",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<LedgerStatus> {
        [
            LedgerStatus::Pending,
            LedgerStatus::Sent,
            LedgerStatus::Confirmed,
            LedgerStatus::Rejected,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One event or action key in the insert-only ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The primary key.
    pub key: String,
    /// The hash of the payload sent.
    pub hash: RowHash,
    /// Where it stands.
    pub status: LedgerStatus,
    /// The idempotency key sent with it, when the Shopify operation takes one: resending with the same key is
    /// safe.
    pub idempotency_key: Option<String>,
    /// The Shopify id of what it created, once known.
    pub shopify_id: Option<String>,
    /// Shopify's error when it was rejected.
    pub error: Option<String>,
}

/// A bulk operation a sync submitted and whose results it has not recorded yet, kept so that a run that died
/// (or lost Shopify's answer) while the operation ran takes its results up instead of starting another one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BulkJournal {
    /// The inner mutation the operation runs.
    pub mutation: String,
    /// Each line of the variables file, in file order: the row's key and a digest of its variables.
    pub lines: Vec<BulkLine>,
    /// Keys whose record did not exist before the operation: their writes are creations.
    pub created: Vec<String>,
    /// The id `currentBulkOperation(type: MUTATION)` named just before submitting (none when there was none):
    /// a later current operation running the same mutation is this one.
    pub before: Option<String>,
    /// The operation's id, once Shopify accepted it.
    pub operation: Option<String>,
}

/// One line of a journaled bulk operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BulkLine {
    /// The row's primary key.
    pub key: String,
    /// A digest of the line's variables: a row is taken from the operation only when it sends the same.
    pub digest: String,
}

/// A held lock on a sync: valid until `expires_at` unless renewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The sync it locks.
    pub sync: String,
    /// Who holds it (a process or pod identity).
    pub holder: String,
    /// When it lapses if not renewed.
    pub expires_at: DateTime<Utc>,
}

/// A state store failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateError {
    /// The database could not be reached or a statement failed.
    #[error("state store: {message}")]
    Database {
        /// The driver's message.
        message: String,
        /// Whether a retry may help.
        retryable: bool,
    },
    /// The schema migrations could not be applied.
    #[error("state store migration failed: {0}")]
    Migration(String),
    /// A stored value is unreadable.
    #[error("state store: sync `{sync}`: corrupt entry for key `{key}`: {message}")]
    Corrupt {
        /// The sync.
        sync: String,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Another holder owns an unexpired lock on the sync.
    #[error("sync `{sync}` is already running (lock held by `{holder}` until {expires_at})")]
    LockHeld {
        /// The sync.
        sync: String,
        /// The current holder.
        holder: String,
        /// When its lease lapses.
        expires_at: DateTime<Utc>,
    },
    /// The lease expired and someone else took the lock.
    #[error("sync `{sync}`: lock lost by `{holder}` (it expired and was taken over)")]
    LockLost {
        /// The sync.
        sync: String,
        /// The holder that lost it.
        holder: String,
    },
}

impl StateError {
    /// Whether a later attempt may succeed.
    pub fn class(&self) -> FailureClass {
        match self {
            StateError::Database {
                retryable: true, ..
            }
            | StateError::LockHeld { .. } => FailureClass::Retryable,
            StateError::Database {
                retryable: false, ..
            }
            | StateError::Migration(_)
            | StateError::Corrupt { .. }
            | StateError::LockLost { .. } => FailureClass::Permanent,
        }
    }
}

/// Result of state store calls.
pub type StateResult<T> = Result<T, StateError>;

/// Builds a diff index entry by entry from [`StateStore::snapshot`] or [`StateStore::ledger`]: what
/// [`StateStore::load_index`] does unless a store knows a faster way.
pub async fn read_index<S: StateStore + ?Sized>(
    store: &S,
    sync: &str,
    insert_only: bool,
) -> StateResult<SnapshotIndex> {
    let mut index = SnapshotIndex::new();
    if insert_only {
        let mut ledger = store.ledger(sync);
        while let Some(entry) = ledger.next().await {
            index.insert_ledger(&entry?);
        }
    } else {
        let mut snapshot = store.snapshot(sync);
        while let Some(entry) = snapshot.next().await {
            index.insert_snapshot(&entry?);
        }
    }
    Ok(index)
}

/// Persistent sync state. Every method is scoped to one sync by name.
pub trait StateStore: Send + Sync {
    /// The sync's baseline; `None` means missing or reset state, so the next plan re-baselines.
    fn baseline<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<Option<Baseline>>>;
    /// Whether the sync has a baseline.
    fn has_snapshot<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<bool>> {
        Box::pin(async move { Ok(self.baseline(sync).await?.is_some()) })
    }
    /// Streams the sync's snapshot, in no particular order.
    fn snapshot<'a>(&'a self, sync: &'a str) -> BoxStream<'a, StateResult<SnapshotEntry>>;
    /// The sync's snapshot (objects) or ledger (`insert_only`) as a diff index. The default reads
    /// [`snapshot`](StateStore::snapshot) or [`ledger`](StateStore::ledger); stores override it when they can
    /// build the index faster than entry by entry.
    fn load_index<'a>(
        &'a self,
        sync: &'a str,
        insert_only: bool,
    ) -> BoxFuture<'a, StateResult<SnapshotIndex>> {
        Box::pin(read_index(self, sync, insert_only))
    }
    /// Applies changes in one transaction and marks the sync as baselined (recording a
    /// [`SnapshotChange::Baseline`] when one is among the changes). Callers chunk very large commits.
    fn commit_snapshot<'a>(
        &'a self,
        sync: &'a str,
        changes: &'a [SnapshotChange],
    ) -> BoxFuture<'a, StateResult<()>>;
    /// The values last accepted for `keys` (see [`SnapshotChange::Values`]); keys with none are left out.
    fn values<'a>(
        &'a self,
        sync: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, StateResult<Vec<(String, FieldValues)>>>;
    /// Forgets the sync's snapshot, values and baseline (the next plan re-baselines).
    fn reset_snapshot<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<()>>;
    /// Streams the sync's event/action ledger.
    fn ledger<'a>(&'a self, sync: &'a str) -> BoxStream<'a, StateResult<LedgerEntry>>;
    /// Inserts or replaces ledger entries in one transaction (pending before sending, then the result).
    fn record_ledger<'a>(
        &'a self,
        sync: &'a str,
        entries: &'a [LedgerEntry],
    ) -> BoxFuture<'a, StateResult<()>>;
    /// Records the start of a run and returns its id.
    fn start_run<'a>(
        &'a self,
        sync: &'a str,
        started_at: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<i64>>;
    /// Records how a run ended (its id, status, stats, end time and error).
    fn finish_run<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, StateResult<()>>;
    /// The sync's most recent runs, newest first.
    fn runs<'a>(&'a self, sync: &'a str, limit: u32) -> BoxFuture<'a, StateResult<Vec<RunRecord>>>;
    /// Deletes the sync's runs beyond the newest `keep` (the run history), except its last successful run (the
    /// late rule measures from it) and runs whose calls the debugger log still holds (its own retention removes
    /// those first). Returns how many runs went.
    fn prune_runs<'a>(&'a self, sync: &'a str, keep: u32) -> BoxFuture<'a, StateResult<u64>>;
    /// When the sync's most recent run that did not fail (succeeded, or partially) started.
    fn last_success<'a>(
        &'a self,
        sync: &'a str,
    ) -> BoxFuture<'a, StateResult<Option<DateTime<Utc>>>>;
    /// The stored alert states of the sync's rules, in no particular order.
    fn alert_states<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<Vec<AlertRecord>>>;
    /// Inserts or replaces alert states (one per rule) in one transaction.
    fn save_alert_states<'a>(
        &'a self,
        sync: &'a str,
        records: &'a [AlertRecord],
    ) -> BoxFuture<'a, StateResult<()>>;
    /// The sync's journaled bulk operation, if one was submitted and not yet recorded.
    fn bulk_journal<'a>(&'a self, sync: &'a str)
    -> BoxFuture<'a, StateResult<Option<BulkJournal>>>;
    /// Inserts or replaces the sync's journaled bulk operation.
    fn save_bulk_journal<'a>(
        &'a self,
        sync: &'a str,
        journal: &'a BulkJournal,
    ) -> BoxFuture<'a, StateResult<()>>;
    /// Forgets the sync's journaled bulk operation (its outcomes are recorded).
    fn clear_bulk_journal<'a>(&'a self, sync: &'a str) -> BoxFuture<'a, StateResult<()>>;
    /// Claims the sync's drift check at `now` unless one was made after `due_from` (`spec.drift.every` before
    /// `now`): records `now` as its last check and returns true when the check is due, returns false and
    /// records nothing otherwise. One atomic statement, so two processes never both claim one interval.
    fn claim_drift_check<'a>(
        &'a self,
        sync: &'a str,
        now: DateTime<Utc>,
        due_from: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<bool>>;
    /// When the sync's drift was last checked, if ever.
    fn last_drift_check<'a>(
        &'a self,
        sync: &'a str,
    ) -> BoxFuture<'a, StateResult<Option<DateTime<Utc>>>>;
    /// Takes the sync's lock for `ttl` from `now`, or fails with [`StateError::LockHeld`] while another holder's
    /// lease is unexpired. The same holder may re-acquire.
    fn acquire_lock<'a>(
        &'a self,
        sync: &'a str,
        holder: &'a str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<Lease>>;
    /// Extends a held lease, or fails with [`StateError::LockLost`] if another holder took it.
    fn renew_lock<'a>(
        &'a self,
        lease: &'a Lease,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<Lease>>;
    /// Releases a held lease (no effect if it was already taken over).
    fn release_lock<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, StateResult<()>>;
}

/// The expiry of a lease taken at `now` for `ttl`, saturating far in the future.
pub fn lease_expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
