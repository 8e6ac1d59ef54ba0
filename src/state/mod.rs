//! The state store on SQLite (embedded default, one file) and PostgreSQL (for the controller in a cluster).
//!
//! One store, `store::SqlStore`, implements [`crate::core::state::StateStore`] and
//! [`crate::core::calls::CallStore`] with one set of statements over either database; a `dialect::Dialect`
//! supplies what differs (the driver, how times are stored, bulk writes, snapshot reads). Each applies its
//! embedded migrations on open. Snapshot commits are written in multi-row statements inside one transaction, so a
//! million entries take seconds.
use crate::core::alerts::{AlertRecord, AlertRule, AlertState};
use crate::core::state::{
    LedgerEntry, LedgerStatus, Outcome, Ownership, RowHash, RunRecord, RunStats, RunStatus,
    SnapshotEntry, StateError,
};

mod calls;
mod dialect;
mod postgres;
pub mod recorder;
mod spill;
mod sqlite;
mod store;

pub use postgres::PostgresStateStore;
pub use recorder::CallRecorder;
pub use spill::{SpillDir, SpillSink, SpilledChanges, sweep_spill_files};
pub use sqlite::SqliteStateStore;

fn db_error(error: sqlx::Error) -> StateError {
    let retryable = matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
    ) || matches!(&error, sqlx::Error::Database(db) if db.message().contains("locked") || db.message().contains("busy") || unreachable(db.as_ref()));
    StateError::Database {
        message: error.to_string(),
        retryable,
    }
}

/// Whether PostgreSQL refused or dropped the connection rather than the statement: a state store that went away
/// (restarted, failed over, terminated our backends, closed to connections) may be back on a later attempt.
fn unreachable(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code().unwrap_or_default();
    // SQLSTATE class 08 (connection exception), 57P01-57P03 (shut down, crashed, starting), 53300 (too many
    // connections); 55000 is what a database closed to connections (`ALLOW_CONNECTIONS false`) answers.
    code.starts_with("08")
        || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        || (code == "55000" && db.message().contains("accepting connections"))
}

fn corrupt(sync: &str, key: &str, message: impl Into<String>) -> StateError {
    StateError::Corrupt {
        sync: sync.to_owned(),
        key: key.to_owned(),
        message: message.into(),
    }
}

use crate::core::state::FieldValues as FieldMap;

/// Parses stored values: a JSON object, or the entry is corrupt.
fn parse_values(sync: &str, key: &str, text: &str) -> Result<FieldMap, StateError> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(corrupt(
            sync,
            key,
            "the stored values are not a JSON object",
        )),
        Err(e) => Err(corrupt(
            sync,
            key,
            format!("the stored values are not JSON: {e}"),
        )),
    }
}

/// Parses a stored ownership, naming the key when it is unreadable.
fn parse_ownership(sync: &str, key: &str, stored: &str) -> Result<Ownership, StateError> {
    Ownership::parse(stored)
        .ok_or_else(|| corrupt(sync, key, format!("unknown ownership `{stored}`")))
}

fn hash_from(sync: &str, key: &str, bytes: &[u8]) -> Result<RowHash, StateError> {
    <[u8; 16]>::try_from(bytes)
        .map(RowHash)
        .map_err(|_| corrupt(sync, key, "the stored hash is not 16 bytes"))
}

/// Columns of a snapshot row, as PostgreSQL reads them.
struct SnapshotRow {
    key: String,
    hash: Vec<u8>,
    shopify_id: Option<String>,
    outcome: String,
    error: Option<String>,
    source: Option<Vec<u8>>,
    ownership: String,
}

impl SnapshotRow {
    fn into_entry(self, sync: &str) -> Result<SnapshotEntry, StateError> {
        let hash = hash_from(sync, &self.key, &self.hash)?;
        let outcome = Outcome::parse(&self.outcome).ok_or_else(|| {
            corrupt(
                sync,
                &self.key,
                format!("unknown outcome `{}`", self.outcome),
            )
        })?;
        let source = self
            .source
            .as_deref()
            .map(|bytes| hash_from(sync, &self.key, bytes))
            .transpose()?;
        let ownership = parse_ownership(sync, &self.key, &self.ownership)?;
        Ok(SnapshotEntry {
            key: self.key,
            hash,
            shopify_id: self.shopify_id,
            outcome,
            error: self.error,
            source,
            ownership,
        })
    }
}

/// Columns of a ledger row.
struct LedgerRow {
    key: String,
    hash: Vec<u8>,
    status: String,
    idempotency_key: Option<String>,
    shopify_id: Option<String>,
    error: Option<String>,
}

impl LedgerRow {
    fn into_entry(self, sync: &str) -> Result<LedgerEntry, StateError> {
        let hash = hash_from(sync, &self.key, &self.hash)?;
        let status = LedgerStatus::parse(&self.status).ok_or_else(|| {
            corrupt(
                sync,
                &self.key,
                format!("unknown ledger status `{}`", self.status),
            )
        })?;
        Ok(LedgerEntry {
            key: self.key,
            hash,
            status,
            idempotency_key: self.idempotency_key,
            shopify_id: self.shopify_id,
            error: self.error,
        })
    }
}

/// Columns of a run row (timestamps already converted).
struct RunRow {
    id: i64,
    sync: String,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
    status: String,
    stats: String,
    error: Option<String>,
}

impl RunRow {
    fn into_record(self) -> Result<RunRecord, StateError> {
        let key = format!("run {}", self.id);
        let status = RunStatus::parse(&self.status).ok_or_else(|| {
            corrupt(
                &self.sync,
                &key,
                format!("unknown run status `{}`", self.status),
            )
        })?;
        let stats: RunStats = serde_json::from_str(&self.stats)
            .map_err(|e| corrupt(&self.sync, &key, format!("run stats: {e}")))?;
        Ok(RunRecord {
            id: self.id,
            sync: self.sync,
            started_at: self.started_at,
            finished_at: self.finished_at,
            status,
            stats,
            error: self.error,
        })
    }
}

/// An alert state as read from the database.
fn alert_record(
    sync: &str,
    rule: &str,
    state: &str,
    since: chrono::DateTime<chrono::Utc>,
    message: String,
) -> Result<AlertRecord, StateError> {
    let what = format!("alert {rule}");
    Ok(AlertRecord {
        rule: AlertRule::parse(rule)
            .ok_or_else(|| corrupt(sync, &what, format!("unknown alert rule `{rule}`")))?,
        state: AlertState::parse(state)
            .ok_or_else(|| corrupt(sync, &what, format!("unknown alert state `{state}`")))?,
        since,
        message,
    })
}
