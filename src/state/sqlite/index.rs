//! Loading a snapshot into a diff index straight from the SQLite file, row by row on one blocking thread.
//!
//! sqlx hands SQLite rows from its worker thread to the caller one at a time; at a million entries that hand-over
//! (and the owned strings of each entry) cost more than reading them. Here the rows are read in place and go into
//! the index without a single allocation of their own.
use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::super::{corrupt, hash_from, parse_ownership};
use crate::core::state::{ObjectEntry, SnapshotIndex};
use crate::core::state::{Outcome, RowHash, StateError, StateResult};

/// Reads `sync`'s snapshot from the database at `path` (opened read-only; one statement, so one consistent read).
pub(super) fn load(path: &Path, sync: &str) -> StateResult<SnapshotIndex> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(error)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(error)?;
    let mut index = SnapshotIndex::new();
    let mut statement = conn
        .prepare(
            "SELECT key, hash, shopify_id, outcome, source, ownership FROM shopsync_snapshot WHERE sync = ?1",
        )
        .map_err(error)?;
    let mut rows = statement.query([sync]).map_err(error)?;
    while let Some(row) = rows.next().map_err(error)? {
        let cell = |i: usize| row.get_ref(i).map_err(error);
        let key = text(sync, "", cell(0)?, "key")?.unwrap_or_default();
        let hash = digest(sync, key, cell(1)?, "hash")?
            .ok_or_else(|| corrupt(sync, key, "the stored hash is NULL"))?;
        let shopify_id = text(sync, key, cell(2)?, "shopify_id")?;
        let outcome = text(sync, key, cell(3)?, "outcome")?.unwrap_or_default();
        let outcome = Outcome::parse(outcome)
            .ok_or_else(|| corrupt(sync, key, format!("unknown outcome `{outcome}`")))?;
        let source = digest(sync, key, cell(4)?, "source")?;
        let ownership = text(sync, key, cell(5)?, "ownership")?.unwrap_or_default();
        let ownership = parse_ownership(sync, key, ownership)?;
        // (sync, key) is the table's primary key: no key comes twice.
        index.insert_unique_object(ObjectEntry {
            key,
            hash,
            outcome,
            shopify_id,
            source,
            ownership,
        });
    }
    Ok(index)
}

fn text<'r>(
    sync: &str,
    key: &str,
    value: ValueRef<'r>,
    column: &str,
) -> StateResult<Option<&'r str>> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| corrupt(sync, key, format!("`{column}` is not UTF-8"))),
        _ => Err(corrupt(sync, key, format!("`{column}` is not text"))),
    }
}

fn digest(
    sync: &str,
    key: &str,
    value: ValueRef<'_>,
    column: &str,
) -> StateResult<Option<RowHash>> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(bytes) => hash_from(sync, key, bytes).map(Some),
        _ => Err(corrupt(
            sync,
            key,
            format!("the stored `{column}` is not a blob"),
        )),
    }
}

fn error(e: rusqlite::Error) -> StateError {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    StateError::Database {
        message: format!("reading the snapshot: {e}"),
        retryable,
    }
}
