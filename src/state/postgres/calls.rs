//! The debugger log in the PostgreSQL state store.
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::super::calls::{CallRow, keys_json, limit, size_of};
use super::super::{RunRow, db_error};
use super::PostgresStateStore;
use crate::core::calls::{ApiCall, CallLimits, CallStore, RunCalls, StoredCall};
use crate::core::state::StateResult;

const CALL_COLUMNS: &str = "id, run_id, sync, started_at, duration_us, method, url, operation, document, \
     variables, status, response, error, cost_requested, cost_actual, keys::text, attempt";

/// A sync named by id or by name alone (the part after `namespace/`).
const SYNC_MATCHES: &str = "(sync = $1 OR sync LIKE '%/' || $1)";

fn call_row(row: &PgRow) -> StateResult<StoredCall> {
    CallRow {
        id: row.try_get(0).map_err(db_error)?,
        run_id: row.try_get(1).map_err(db_error)?,
        sync: row.try_get(2).map_err(db_error)?,
        started_at: row.try_get(3).map_err(db_error)?,
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

/// PostgreSQL rejects NUL in text; Shopify answers never carry one, but a warehouse value might.
fn pg_text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn pg_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(pg_text)
}

impl PostgresStateStore {
    async fn delete_calls_where(
        &self,
        condition: &str,
        sync: Option<&str>,
        bound: i64,
    ) -> StateResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let keys = format!(
            "DELETE FROM shopsync_call_keys WHERE call_id IN (SELECT id FROM shopsync_calls WHERE {condition})"
        );
        let calls = format!("DELETE FROM shopsync_calls WHERE {condition}");
        let mut deleted = 0;
        for (i, sql) in [keys, calls].iter().enumerate() {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            if let Some(s) = sync {
                q = q.bind(s);
            }
            let done = q.bind(bound).execute(&mut *tx).await.map_err(db_error)?;
            if i == 1 {
                deleted = done.rows_affected();
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(deleted)
    }
}

impl CallStore for PostgresStateStore {
    fn append_calls<'a>(&'a self, calls: &'a [ApiCall]) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            if calls.is_empty() {
                return Ok(());
            }
            let mut run_id = Vec::with_capacity(calls.len());
            let mut sync = Vec::with_capacity(calls.len());
            let mut started_at = Vec::with_capacity(calls.len());
            let mut duration_us = Vec::with_capacity(calls.len());
            let mut method = Vec::with_capacity(calls.len());
            let mut url = Vec::with_capacity(calls.len());
            let mut operation = Vec::with_capacity(calls.len());
            let mut document = Vec::with_capacity(calls.len());
            let mut variables = Vec::with_capacity(calls.len());
            let mut status = Vec::with_capacity(calls.len());
            let mut response = Vec::with_capacity(calls.len());
            let mut error = Vec::with_capacity(calls.len());
            let mut cost_requested = Vec::with_capacity(calls.len());
            let mut cost_actual = Vec::with_capacity(calls.len());
            let mut keys = Vec::with_capacity(calls.len());
            let mut attempt = Vec::with_capacity(calls.len());
            let mut size = Vec::with_capacity(calls.len());
            for c in calls {
                run_id.push(c.run_id);
                sync.push(pg_text(&c.sync));
                started_at.push(c.started_at);
                duration_us.push(limit(c.duration_us));
                method.push(c.method.clone());
                url.push(pg_text(&c.url));
                operation.push(pg_opt(&c.operation));
                document.push(pg_opt(&c.document));
                variables.push(pg_opt(&c.variables));
                status.push(c.status.map(i32::from));
                response.push(pg_opt(&c.response));
                error.push(pg_opt(&c.error));
                cost_requested.push(c.cost_requested);
                cost_actual.push(c.cost_actual);
                keys.push(pg_text(&keys_json(c)));
                attempt.push(i32::try_from(c.attempt).unwrap_or(i32::MAX));
                size.push(size_of(c));
            }
            // One statement: the calls, then a key row per primary key of each, from what the insert returned.
            sqlx::query(
                "WITH inserted AS (\
                   INSERT INTO shopsync_calls (run_id, sync, started_at, duration_us, method, url, operation, \
                     document, variables, status, response, error, cost_requested, cost_actual, keys, attempt, size) \
                   SELECT run_id, sync, started_at, duration_us, method, url, operation, document, variables, \
                     status, response, error, cost_requested, cost_actual, keys::jsonb, attempt, size \
                   FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[], $4::bigint[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], $13::float8[], \
                     $14::float8[], $15::text[], $16::int[], $17::bigint[]) \
                     AS t(run_id, sync, started_at, duration_us, method, url, operation, document, variables, \
                     status, response, error, cost_requested, cost_actual, keys, attempt, size) \
                   RETURNING id, sync, keys) \
                 INSERT INTO shopsync_call_keys (sync, key, call_id) \
                 SELECT DISTINCT i.sync, k, i.id FROM inserted i, jsonb_array_elements_text(i.keys) k \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&run_id)
            .bind(&sync)
            .bind(&started_at)
            .bind(&duration_us)
            .bind(&method)
            .bind(&url)
            .bind(&operation)
            .bind(&document)
            .bind(&variables)
            .bind(&status)
            .bind(&response)
            .bind(&error)
            .bind(&cost_requested)
            .bind(&cost_actual)
            .bind(&keys)
            .bind(&attempt)
            .bind(&size)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
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
                .and_then(|d| now.checked_sub_signed(d));
            let mut deleted = 0;
            if let Some(cutoff) = cutoff {
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                sqlx::query(
                    "DELETE FROM shopsync_call_keys WHERE call_id IN \
                     (SELECT id FROM shopsync_calls WHERE started_at < $1)",
                )
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                deleted += sqlx::query("DELETE FROM shopsync_calls WHERE started_at < $1")
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                tx.commit().await.map_err(db_error)?;
            }
            let syncs: Vec<String> = sqlx::query_scalar("SELECT DISTINCT sync FROM shopsync_calls")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            for sync in &syncs {
                let by_count: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM shopsync_calls WHERE sync = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
                )
                .bind(sync)
                .bind(limit(limits.max_calls_per_sync))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                let by_size: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM (SELECT id, SUM(size) OVER (ORDER BY id DESC) AS total \
                     FROM shopsync_calls WHERE sync = $1) t WHERE total > $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(sync)
                .bind(limit(limits.max_bytes_per_sync))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                if let Some(cut) = by_count.max(by_size) {
                    deleted += self
                        .delete_calls_where("sync = $1 AND id <= $2", Some(sync), cut)
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
                "$1::text IS NULL"
            };
            let sql = format!(
                "SELECT r.id, r.sync, r.started_at, r.finished_at, r.status, r.stats::text, r.error, \
                 COUNT(c.id), \
                 COALESCE(SUM(CASE WHEN c.id IS NOT NULL AND (c.error IS NOT NULL OR c.status IS NULL OR c.status >= 400) THEN 1 ELSE 0 END), 0)::bigint, \
                 COALESCE(SUM(CASE WHEN c.attempt > 1 THEN 1 ELSE 0 END), 0)::bigint, \
                 COALESCE(SUM(c.cost_actual), 0)::float8, COALESCE(SUM(c.duration_us), 0)::bigint \
                 FROM (SELECT * FROM shopsync_runs WHERE {filter} ORDER BY id DESC LIMIT $2) r \
                 LEFT JOIN shopsync_calls c ON c.run_id = r.id \
                 GROUP BY r.id, r.sync, r.started_at, r.finished_at, r.status, r.stats::text, r.error \
                 ORDER BY r.id DESC"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(sync)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|row| {
                    let run = RunRow {
                        id: row.try_get(0).map_err(db_error)?,
                        sync: row.try_get(1).map_err(db_error)?,
                        started_at: row.try_get(2).map_err(db_error)?,
                        finished_at: row.try_get(3).map_err(db_error)?,
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
                format!("SELECT {CALL_COLUMNS} FROM shopsync_calls WHERE run_id = $1 ORDER BY id");
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
                 (SELECT call_id FROM shopsync_call_keys WHERE {SYNC_MATCHES} AND key = $2) ORDER BY id"
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
