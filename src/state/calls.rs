//! The debugger log over either database: its statements, the sync-name rule and the size caps, written once.
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::dialect::{Conn, Dialect};
use super::store::{Args, DbRow, SqlStore, col, run_record, sql, when};
use super::{corrupt, db_error};
use crate::core::calls::{ApiCall, CallLimits, CallStore, RunCalls, StoredCall};
use crate::core::state::{StateError, StateResult};

const CALL_COLUMNS: &str = "id, run_id, sync, started_at, duration_us, method, url, operation, document, \
     variables, status, response, error, cost_requested, cost_actual, CAST(keys AS TEXT), attempt";

/// A sync named by id or by name alone (the part after `namespace/`).
const SYNC_MATCHES: &str = "(sync = $1 OR sync LIKE '%/' || $1)";

/// Columns of a call row, timestamps already converted.
pub(super) struct CallRow {
    pub id: i64,
    pub run_id: Option<i64>,
    pub sync: String,
    pub started_at: DateTime<Utc>,
    pub duration_us: i64,
    pub method: String,
    pub url: String,
    pub operation: Option<String>,
    pub document: Option<String>,
    pub variables: Option<String>,
    pub status: Option<i32>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub cost_requested: Option<f64>,
    pub cost_actual: Option<f64>,
    pub keys: String,
    pub attempt: i32,
}

impl CallRow {
    pub fn into_call(self) -> Result<StoredCall, StateError> {
        let what = format!("call {}", self.id);
        let keys: Vec<String> = serde_json::from_str(&self.keys)
            .map_err(|e| corrupt(&self.sync, &what, format!("keys: {e}")))?;
        Ok(StoredCall {
            id: self.id,
            call: ApiCall {
                run_id: self.run_id,
                sync: self.sync,
                started_at: self.started_at,
                duration_us: u64::try_from(self.duration_us).unwrap_or(0),
                method: self.method,
                url: self.url,
                operation: self.operation,
                document: self.document,
                variables: self.variables,
                status: self.status.and_then(|s| u16::try_from(s).ok()),
                response: self.response,
                error: self.error,
                cost_requested: self.cost_requested,
                cost_actual: self.cost_actual,
                keys,
                attempt: u32::try_from(self.attempt).unwrap_or(0),
            },
        })
    }
}

/// The keys of a call as stored (a JSON array).
pub(super) fn keys_json(call: &ApiCall) -> String {
    // A list of strings always serialises.
    serde_json::to_string(&call.keys).unwrap_or_else(|_| "[]".to_owned())
}

/// The size a call counts for, as stored.
pub(super) fn size_of(call: &ApiCall) -> i64 {
    i64::try_from(call.size()).unwrap_or(i64::MAX)
}

/// A count or byte limit as a bind value.
pub(super) fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A call as read by `SELECT {CALL_COLUMNS}`.
fn call_row<D, R>(row: &R) -> StateResult<StoredCall>
where
    D: Dialect,
    R: Row<Database = D::Db>,
    usize: ColumnIndex<R>,
    i64: for<'r> Decode<'r, D::Db> + Type<D::Db>,
    i32: for<'r> Decode<'r, D::Db> + Type<D::Db>,
    f64: for<'r> Decode<'r, D::Db> + Type<D::Db>,
    String: for<'r> Decode<'r, D::Db> + Type<D::Db>,
{
    let id: i64 = col(row, 0)?;
    let sync: String = col(row, 2)?;
    CallRow {
        id,
        run_id: col(row, 1)?,
        started_at: when::<D>(&sync, &format!("call {id}"), col(row, 3)?)?,
        sync,
        duration_us: col(row, 4)?,
        method: col(row, 5)?,
        url: col(row, 6)?,
        operation: col(row, 7)?,
        document: col(row, 8)?,
        variables: col(row, 9)?,
        status: col(row, 10)?,
        response: col(row, 11)?,
        error: col(row, 12)?,
        cost_requested: col(row, 13)?,
        cost_actual: col(row, 14)?,
        keys: col(row, 15)?,
        attempt: col(row, 16)?,
    }
    .into_call()
}

/// Deletes the calls matching `condition` (its parameters bound by `bind`) and their key rows, in one
/// transaction; the number of calls deleted.
async fn delete_calls_where<D>(
    pool: &Pool<D::Db>,
    condition: &str,
    bind: impl Fn(
        sqlx::query::Query<'static, D::Db, Args<D>>,
    ) -> sqlx::query::Query<'static, D::Db, Args<D>>
    + Send,
) -> StateResult<u64>
where
    D: Dialect,
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    Args<D>: IntoArguments<D::Db>,
{
    let mut tx = pool.begin().await.map_err(db_error)?;
    let keys = format!(
        "DELETE FROM shopsync_call_keys WHERE call_id IN (SELECT id FROM shopsync_calls WHERE {condition})"
    );
    let calls = format!("DELETE FROM shopsync_calls WHERE {condition}");
    let mut deleted = 0;
    for (i, statement) in [keys, calls].into_iter().enumerate() {
        let done = bind(sqlx::query(sqlx::AssertSqlSafe(statement)))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if i == 1 {
            deleted = D::rows_affected(&done);
        }
    }
    tx.commit().await.map_err(db_error)?;
    Ok(deleted)
}

impl<D> CallStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    Args<D>: IntoArguments<D::Db>,
    usize: ColumnIndex<DbRow<D>>,
    for<'t> &'t str: Encode<'t, D::Db> + Type<D::Db>,
    for<'t> Option<&'t str>: Encode<'t, D::Db>,
    i64: for<'t> Encode<'t, D::Db> + for<'r> Decode<'r, D::Db> + Type<D::Db>,
    i32: for<'r> Decode<'r, D::Db> + Type<D::Db>,
    f64: for<'r> Decode<'r, D::Db> + Type<D::Db>,
    String: for<'r> Decode<'r, D::Db> + Type<D::Db>,
{
    fn append_calls<'a>(&'a self, calls: &'a [ApiCall]) -> BoxFuture<'a, StateResult<()>> {
        if calls.is_empty() {
            return Box::pin(async { Ok(()) });
        }
        D::append_calls(&self.pool, calls)
    }

    fn prune_calls<'a>(
        &'a self,
        limits: &'a CallLimits,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<u64>> {
        Box::pin(async move {
            let cutoff = chrono::Duration::from_std(limits.retention)
                .ok()
                .and_then(|d| now.checked_sub_signed(d));
            let mut deleted = 0;
            if let Some(cutoff) = cutoff.map(D::time) {
                deleted += delete_calls_where::<D>(&self.pool, "started_at < $1", |q| {
                    q.bind(cutoff.clone())
                })
                .await?;
            }
            let syncs = sql::<D>("SELECT DISTINCT sync FROM shopsync_calls")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            for row in &syncs {
                let sync: String = col(row, 0)?;
                let by_count = sql::<D>(
                    "SELECT id FROM shopsync_calls WHERE sync = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
                )
                .bind(sync.as_str())
                .bind(limit(limits.max_calls_per_sync))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                let by_size = sql::<D>(
                    "SELECT id FROM (SELECT id, SUM(size) OVER (ORDER BY id DESC) AS total \
                     FROM shopsync_calls WHERE sync = $1) t WHERE total > $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(sync.as_str())
                .bind(limit(limits.max_bytes_per_sync))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                let by_count: Option<i64> = by_count.map(|r| col(&r, 0)).transpose()?;
                let by_size: Option<i64> = by_size.map(|r| col(&r, 0)).transpose()?;
                if let Some(cut) = by_count.max(by_size) {
                    deleted += delete_calls_where::<D>(&self.pool, "sync = $1 AND id <= $2", |q| {
                        q.bind(sync.as_str()).bind(cut)
                    })
                    .await?;
                }
            }
            Ok(deleted)
        })
    }

    fn run_calls_summary<'a>(
        &'a self,
        sync: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, StateResult<Vec<RunCalls>>> {
        Box::pin(async move {
            let filter = if sync.is_some() {
                SYNC_MATCHES
            } else {
                "CAST($1 AS TEXT) IS NULL"
            };
            // Casts make both databases answer in the same types: PostgreSQL sums bigints as numeric.
            let statement = format!(
                "SELECT r.id, r.sync, r.started_at, r.finished_at, r.status, CAST(r.stats AS TEXT), r.error, \
                 COUNT(c.id), \
                 CAST(COALESCE(SUM(CASE WHEN c.id IS NOT NULL AND (c.error IS NOT NULL OR c.status IS NULL \
                     OR c.status >= 400) THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN c.attempt > 1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(c.cost_actual), 0) AS DOUBLE PRECISION), \
                 CAST(COALESCE(SUM(c.duration_us), 0) AS BIGINT) \
                 FROM (SELECT * FROM shopsync_runs WHERE {filter} ORDER BY id DESC LIMIT $2) r \
                 LEFT JOIN shopsync_calls c ON c.run_id = r.id \
                 GROUP BY r.id, r.sync, r.started_at, r.finished_at, r.status, CAST(r.stats AS TEXT), r.error \
                 ORDER BY r.id DESC"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(sync)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|row| {
                    let count = |i: usize| -> StateResult<u64> {
                        let v: i64 = col(row, i)?;
                        Ok(u64::try_from(v).unwrap_or(0))
                    };
                    Ok(RunCalls {
                        run: run_record::<D, _>(row)?,
                        calls: count(7)?,
                        failed: count(8)?,
                        retries: count(9)?,
                        cost: col(row, 10)?,
                        call_time_us: count(11)?,
                    })
                })
                .collect()
        })
    }

    fn calls_of_run<'a>(&'a self, run_id: i64) -> BoxFuture<'a, StateResult<Vec<StoredCall>>> {
        Box::pin(async move {
            let statement =
                format!("SELECT {CALL_COLUMNS} FROM shopsync_calls WHERE run_id = $1 ORDER BY id");
            let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(run_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(call_row::<D, _>).collect()
        })
    }

    fn calls_for_key<'a>(
        &'a self,
        sync: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StateResult<Vec<StoredCall>>> {
        Box::pin(async move {
            let statement = format!(
                "SELECT {CALL_COLUMNS} FROM shopsync_calls WHERE id IN \
                 (SELECT call_id FROM shopsync_call_keys WHERE {SYNC_MATCHES} AND key = $2) ORDER BY id"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(sync)
                .bind(key)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(call_row::<D, _>).collect()
        })
    }
}
