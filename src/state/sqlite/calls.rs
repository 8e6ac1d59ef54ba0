//! The debugger log in the SQLite state file.
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::super::calls::{CallRow, keys_json, limit, size_of};
use super::super::{RunRow, db_error};
use super::{SqliteStateStore, from_millis, millis};
use crate::core::calls::{ApiCall, CallLimits, CallStore, RunCalls, StoredCall};
use crate::core::state::StateResult;

/// Calls per multi-row insert: 17 parameters each stays under SQLite's 32766-parameter limit.
const CALL_CHUNK: usize = 500;

const CALL_COLUMNS: &str = "id, run_id, sync, started_at, duration_us, method, url, operation, document, \
     variables, status, response, error, cost_requested, cost_actual, keys, attempt";

/// A sync named by id or by name alone (the part after `namespace/`).
const SYNC_MATCHES: &str = "(sync = ?1 OR sync LIKE '%/' || ?1)";

fn call_row(row: &SqliteRow) -> StateResult<StoredCall> {
    let id: i64 = row.try_get(0).map_err(db_error)?;
    let sync: String = row.try_get(2).map_err(db_error)?;
    let started: i64 = row.try_get(3).map_err(db_error)?;
    CallRow {
        id,
        run_id: row.try_get(1).map_err(db_error)?,
        started_at: from_millis(&sync, &format!("call {id}"), started)?,
        sync,
        duration_us: row.try_get(4).map_err(db_error)?,
        method: row.try_get(5).map_err(db_error)?,
        url: row.try_get(6).map_err(db_error)?,
        operation: row.try_get(7).map_err(db_error)?,
        document: row.try_get(8).map_err(db_error)?,
        variables: row.try_get(9).map_err(db_error)?,
        status: row.try_get(10).map_err(db_error)?,
        response: row.try_get(11).map_err(db_error)?,
        error: row.try_get(12).map_err(db_error)?,
        cost_requested: row.try_get(13).map_err(db_error)?,
        cost_actual: row.try_get(14).map_err(db_error)?,
        keys: row.try_get(15).map_err(db_error)?,
        attempt: row.try_get(16).map_err(db_error)?,
    }
    .into_call()
}

impl SqliteStateStore {
    async fn delete_calls_where(&self, condition: &str, binds: &[Bind<'_>]) -> StateResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let keys = format!(
            "DELETE FROM shopsync_call_keys WHERE call_id IN (SELECT id FROM shopsync_calls WHERE {condition})"
        );
        let calls = format!("DELETE FROM shopsync_calls WHERE {condition}");
        let mut deleted = 0;
        for (i, sql) in [keys, calls].iter().enumerate() {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for b in binds {
                q = match b {
                    Bind::Int(v) => q.bind(*v),
                    Bind::Text(v) => q.bind(*v),
                };
            }
            let done = q.execute(&mut *tx).await.map_err(db_error)?;
            if i == 1 {
                deleted = done.rows_affected();
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(deleted)
    }
}

enum Bind<'a> {
    Int(i64),
    Text(&'a str),
}

impl CallStore for SqliteStateStore {
    fn append_calls<'a>(&'a self, calls: &'a [ApiCall]) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            if calls.is_empty() {
                return Ok(());
            }
            let mut tx = self.pool.begin().await.map_err(db_error)?;
            for chunk in calls.chunks(CALL_CHUNK) {
                let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO shopsync_calls (run_id, sync, started_at, duration_us, method, url, operation, \
                     document, variables, status, response, error, cost_requested, cost_actual, keys, attempt, size) ",
                );
                q.push_values(chunk, |mut b, c| {
                    b.push_bind(c.run_id)
                        .push_bind(&c.sync)
                        .push_bind(millis(c.started_at))
                        .push_bind(limit(c.duration_us))
                        .push_bind(&c.method)
                        .push_bind(&c.url)
                        .push_bind(&c.operation)
                        .push_bind(&c.document)
                        .push_bind(&c.variables)
                        .push_bind(c.status.map(i64::from))
                        .push_bind(&c.response)
                        .push_bind(&c.error)
                        .push_bind(c.cost_requested)
                        .push_bind(c.cost_actual)
                        .push_bind(keys_json(c))
                        .push_bind(i64::from(c.attempt))
                        .push_bind(size_of(c));
                });
                q.push(" RETURNING id");
                let ids = q.build().fetch_all(&mut *tx).await.map_err(db_error)?;
                let first = ids
                    .iter()
                    .filter_map(|r| r.try_get::<i64, _>(0).ok())
                    .min()
                    .unwrap_or(i64::MAX);
                // The transaction holds the write lock since the insert: every call from `first` on is ours.
                sqlx::query(
                    "INSERT OR IGNORE INTO shopsync_call_keys (sync, key, call_id) \
                     SELECT c.sync, k.value, c.id FROM shopsync_calls c, json_each(c.keys) k WHERE c.id >= ?",
                )
                .bind(first)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)?;
            Ok(())
        })
    }

    fn prune_calls<'a>(
        &'a self,
        limits: &'a CallLimits,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<u64>> {
        Box::pin(async move {
            let cutoff = chrono::Duration::from_std(limits.retention)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .map_or(i64::MIN, millis);
            let mut deleted = self
                .delete_calls_where("started_at < ?", &[Bind::Int(cutoff)])
                .await?;
            let syncs: Vec<String> = sqlx::query_scalar("SELECT DISTINCT sync FROM shopsync_calls")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            for sync in &syncs {
                let by_count: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM shopsync_calls WHERE sync = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                )
                .bind(sync)
                .bind(limit(limits.max_calls_per_sync))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                let by_size: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM (SELECT id, SUM(size) OVER (ORDER BY id DESC) AS total \
                     FROM shopsync_calls WHERE sync = ?) WHERE total > ? ORDER BY id DESC LIMIT 1",
                )
                .bind(sync)
                .bind(limit(limits.max_bytes_per_sync))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                if let Some(cut) = by_count.max(by_size) {
                    deleted += self
                        .delete_calls_where(
                            "sync = ? AND id <= ?",
                            &[Bind::Text(sync), Bind::Int(cut)],
                        )
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
                "?1 IS NULL"
            };
            let sql = format!(
                "SELECT r.id, r.sync, r.started_at, r.finished_at, r.status, r.stats, r.error, \
                 COUNT(c.id), \
                 COALESCE(SUM(CASE WHEN c.id IS NOT NULL AND (c.error IS NOT NULL OR c.status IS NULL OR c.status >= 400) THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN c.attempt > 1 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(c.cost_actual), 0.0), COALESCE(SUM(c.duration_us), 0) \
                 FROM (SELECT * FROM shopsync_runs WHERE {filter} ORDER BY id DESC LIMIT ?2) r \
                 LEFT JOIN shopsync_calls c ON c.run_id = r.id \
                 GROUP BY r.id ORDER BY r.id DESC"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(sync)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.try_get(0).map_err(db_error)?;
                    let sync: String = row.try_get(1).map_err(db_error)?;
                    let what = format!("run {id}");
                    let finished: Option<i64> = row.try_get(3).map_err(db_error)?;
                    let run = RunRow {
                        id,
                        started_at: from_millis(&sync, &what, row.try_get(2).map_err(db_error)?)?,
                        finished_at: finished
                            .map(|ms| from_millis(&sync, &what, ms))
                            .transpose()?,
                        sync,
                        status: row.try_get(4).map_err(db_error)?,
                        stats: row.try_get(5).map_err(db_error)?,
                        error: row.try_get(6).map_err(db_error)?,
                    }
                    .into_record()?;
                    let count = |i: usize| -> StateResult<u64> {
                        let v: i64 = row.try_get(i).map_err(db_error)?;
                        Ok(u64::try_from(v).unwrap_or(0))
                    };
                    Ok(RunCalls {
                        run,
                        calls: count(7)?,
                        failed: count(8)?,
                        retries: count(9)?,
                        cost: row.try_get(10).map_err(db_error)?,
                        call_time_us: count(11)?,
                    })
                })
                .collect()
        })
    }

    fn calls_of_run<'a>(&'a self, run_id: i64) -> BoxFuture<'a, StateResult<Vec<StoredCall>>> {
        Box::pin(async move {
            let sql =
                format!("SELECT {CALL_COLUMNS} FROM shopsync_calls WHERE run_id = ? ORDER BY id");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(run_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(call_row).collect()
        })
    }

    fn calls_for_key<'a>(
        &'a self,
        sync: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StateResult<Vec<StoredCall>>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {CALL_COLUMNS} FROM shopsync_calls WHERE id IN \
                 (SELECT call_id FROM shopsync_call_keys WHERE {SYNC_MATCHES} AND key = ?2) ORDER BY id"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(sync)
                .bind(key)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(call_row).collect()
        })
    }
}
